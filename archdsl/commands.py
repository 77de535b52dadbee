"""The `archdsl` commands: each takes the parsed arguments and returns an exit code.

The only code in archdsl that writes files, always through `write_atomic`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

from archdsl import zoo
from archdsl.diagnostics import (
    Diagnostic,
    SpecError,
    error,
    render_github,
    render_json,
    render_text,
)
from archdsl.optional import require_torch

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """The command line itself is wrong (exit 2)."""


def compile_(args) -> int:
    from archdsl.api import build, load
    from archdsl.weights import transfer

    spec = _existing_file(args.spec)
    trained = load(spec, overrides=args.overrides)
    arch = trained.inference() if args.inference else trained
    output = Path(args.output) if args.output else Path("codegen") / f"{Path(spec).stem}.py"
    source = arch.source
    module = script = None
    loads = "--init-from" if args.init_from else "--weights-from" if args.weights_from else ""
    if loads and not (args.weights or args.torchscript or args.onnx):
        raise UsageError(f"{loads} needs --weights, --torchscript or --onnx to save the "
                         "result in")
    if args.torchscript or args.weights or args.onnx:
        flag, extra = ("--torchscript", "torch") if args.torchscript else \
            ("--onnx", "onnx") if args.onnx else ("--weights", "torch")
        require_torch(flag, extra)
        import torch

        module = build(trained)
        if args.init_from:
            state = torch.load(_existing_file(args.init_from), map_location="cpu",
                               weights_only=True)
            print(transfer(state, module).render())
        if args.weights_from:
            print(_pretrained(module, trained, args.weights_from).render())
        if args.inference:  # the trained weights, folded into the inference form
            state = arch.fold_weights(module.state_dict())
            module = build(arch)
            module.load_state_dict(state)
        module.eval()
        if args.onnx:
            from archdsl.export import export_onnx

            export_onnx(module, args.onnx, input_shape=arch.spec.input)
            print(f"wrote {args.onnx} (ONNX)")
        if args.torchscript:
            with warnings.catch_warnings():  # asked for by name: no deprecation notice
                warnings.simplefilter("ignore", FutureWarning)
                script = torch.jit.script(module)
    write_atomic(output, lambda f: f.write(source.encode()))
    print(f"wrote {output} ({arch.name}: {arch.param_count:,} parameters)")
    if args.weights:
        write_atomic(Path(args.weights), lambda f: torch.save(module.state_dict(), f))
        print(f"wrote {args.weights} (state_dict)")
    if script is not None:
        write_atomic(Path(args.torchscript), lambda f: torch.jit.save(script, f))
        print(f"wrote {args.torchscript} (TorchScript)")
    return EXIT_OK


def _pretrained(module, arch, weights: str):
    """torchvision's published `weights` loaded into `module`; their errors are usage
    errors (exit 2)."""
    from archdsl.pretrained import PretrainedError, load_pretrained

    try:
        return load_pretrained(module, arch, weights)
    except PretrainedError as exc:
        raise UsageError(str(exc)) from None


def diff(args) -> int:
    from archdsl.api import load
    from archdsl.diff import diff, render
    from archdsl.weights import WeightReport

    if args.b is None and not args.overrides:
        raise UsageError("diff needs two specs, or one spec and --set overrides")
    a = load(_existing_file(args.a), overrides=[] if args.b is None else args.overrides)
    b = load(_existing_file(args.b or args.a), overrides=args.overrides)
    result = diff(a, b, args.depth)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        w = result["weights"]
        report = WeightReport(w["unchanged"], [(r["name"], r["from"], r["to"])
                                               for r in w["reshaped"]], w["new"], w["gone"])
        print(render(result, report.render()))
    return EXIT_OK


def sweep(args) -> int:
    from archdsl.sweep import grid, render_csv, render_table, run

    rows = run(_existing_file(args.spec), grid(args.grid), args.input)
    print(render_table(rows))
    if args.csv:
        write_atomic(Path(args.csv), lambda f: f.write(render_csv(rows).encode()))
    if args.plot:
        from archdsl.plot import bubble_chart

        valid = [dict(r, spec=r["label"]) for r in rows if r["error"] is None]
        try:
            image = bubble_chart(valid)
        except ImportError:
            raise UsageError("--plot needs matplotlib: pip install 'archdsl[plot]'") from None
        write_atomic(Path(args.plot), lambda f: f.write(image))
    return EXIT_OK


def check(args) -> int:
    from archdsl.api import load

    files = list(_spec_files(args.paths))
    if not files:
        raise UsageError(f"no spec files (*.yaml, *.yml) in {' '.join(args.paths)}")
    diagnostics: list[Diagnostic] = []
    failed = 0
    for path in files:
        try:
            arch = load(path, overrides=args.overrides)
            diagnostics += arch.warnings
            _check_budgets(arch, args)
            if args.format == "text":
                print(f"ok  {path}  ({arch.name}: {arch.param_count:,} parameters)")
        except SpecError as exc:
            failed += 1
            diagnostics += exc.diagnostics
    # A spec another one calls (`spec:` blocks) reports its error once, not per caller.
    print_diagnostics(list(dict.fromkeys(diagnostics)), args.format)
    if args.format == "text" and len(files) > 1:
        print(f"{len(files) - failed} of {len(files)} specs valid", file=sys.stderr)
    return EXIT_INVALID if failed else EXIT_OK


def _check_budgets(arch, args) -> None:
    totals = arch.summary()["totals"]
    span = arch.spec.table.value(("name",))
    for figure, limit, flag in (("params", args.max_params, "--max-params"),
                                ("macs", args.max_macs, "--max-macs")):
        if limit is not None and totals[figure] > limit:
            what = "parameters" if figure == "params" else "MACs per sample"
            raise error("E0502", f"`{arch.name}` has {totals[figure]:,} {what}, over the "
                        f"budget of {limit:,} ({flag})", span,
                        label=f"{totals[figure] / 1e6:,.1f}M {what}",
                        help=f"make the network smaller, or raise {flag}")


def summary(args) -> int:
    from archdsl.api import load
    from archdsl.summary import render

    arch = load(_existing_file(args.spec), overrides=args.overrides, input=args.input)
    summary = arch.summary(batch=args.batch, depth=args.depth)
    print(json.dumps(summary, indent=2) if args.json else render(summary))
    return EXIT_OK


def graph(args) -> int:
    from archdsl.api import load
    from archdsl.emit.picture import to_dot, to_mermaid

    arch = load(_existing_file(args.spec), overrides=args.overrides, input=args.input)
    if args.format == "mermaid":
        text = to_mermaid(arch.graph, args.depth).encode()
    else:
        text = to_dot(arch.graph, args.depth).encode()
        if args.format == "svg":
            text = _svg(text)
    if args.output:
        write_atomic(Path(args.output), lambda f: f.write(text))
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text.decode())
    return EXIT_OK


def _svg(dot_source: bytes) -> bytes:
    dot = shutil.which("dot")
    if dot is None:
        raise UsageError("SVG needs Graphviz's `dot`, which is not installed (Debian/Ubuntu: "
                         "apt install graphviz; macOS: brew install graphviz); or use "
                         "--format dot and render it elsewhere")
    result = subprocess.run([dot, "-Tsvg"], input=dot_source, capture_output=True,
                            timeout=120)
    if result.returncode != 0:
        raise UsageError(f"dot failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout


def compare(args) -> int:
    from archdsl.api import load

    rows = []
    for path in _spec_files(args.specs):
        totals = load(path, input=args.input).summary()["totals"]
        rows.append({"spec": Path(path).stem, "params": totals["params"],
                     "macs": totals["macs"], "activation_bytes": totals["activation_bytes"],
                     "forward_backward_mb": totals["forward_backward_mb"]})
    if args.plot:
        from archdsl.plot import bubble_chart

        try:
            image = bubble_chart(rows)
        except ImportError:
            raise UsageError("--plot needs matplotlib: pip install 'archdsl[plot]'") from None
        write_atomic(Path(args.plot), lambda f: f.write(image))
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(_compare_table(rows))
    if args.plot:
        print(f"wrote {args.plot}", file=sys.stderr)
    return EXIT_OK


def _compare_table(rows: list[dict]) -> str:
    header = ("spec", "params (M)", "MACs (G)", "activations (MB)", "fwd+bwd (MB)")
    lines = [header] + [(r["spec"], f"{r['params'] / 1e6:.2f}", f"{r['macs'] / 1e9:.3f}",
                         f"{r['activation_bytes'] / 2**20:.1f}",
                         f"{r['forward_backward_mb']:.1f}") for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(line, widths)))
                     for line in lines)


def schema(args) -> int:
    from archdsl.lang.schema import json_schema

    print(json.dumps(json_schema(), indent=2))
    return EXIT_OK


# ---------------------------------------------------------------------- helpers


def print_diagnostics(diagnostics: list[Diagnostic], fmt: str) -> None:
    if fmt == "json":
        print(render_json(diagnostics))
    elif fmt == "github":
        for d in diagnostics:
            print(render_github(d))
    else:
        for d in diagnostics:
            print(render_text(d) + "\n", file=sys.stderr)


def _existing_file(path: str) -> str:
    if not os.path.isfile(path):
        found = zoo.path(path) if zoo.is_reference(path) or not os.path.exists(path) else None
        if found is None:
            raise UsageError(f"no such spec file or zoo name: {path} ({zoo.unknown(path)})")
        return str(found)
    return path


def _spec_files(paths: list[str]) -> Iterator[str]:
    for path in paths:
        if os.path.isdir(path):
            for found in sorted(Path(path).rglob("*")):
                if found.suffix in (".yaml", ".yml") and found.is_file():
                    yield str(found)
        elif os.path.isfile(path):
            yield path
        elif zoo.path(path) is not None:  # a zoo name: `archdsl check resnet50`
            yield str(zoo.path(path))
        else:
            raise UsageError(f"no such file or directory: {path}")


def write_atomic(path: Path, write: Callable) -> None:
    """Write through a temporary file in the same directory, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def list_(args) -> int:
    """`archdsl list`: the specs of the zoo, with their size, cost and reference."""
    from archdsl.catalog import render, rows

    table = rows()
    print(json.dumps(table, indent=2) if args.json else render(table))
    return EXIT_OK
