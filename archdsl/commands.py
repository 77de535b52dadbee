"""The `archdsl` commands: each takes the parsed arguments and returns an exit code.

The only code in archdsl that writes files, always through archdsl.outputs: every
output is checked before the work and written all or nothing.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterator
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
from archdsl.outputs import STDOUT, Outputs

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """The command line itself is wrong (exit 2)."""


def compile_(args) -> int:
    from archdsl.api import load

    spec = _existing_file(args.spec)
    trained = load(spec, overrides=args.overrides)
    arch = trained.inference() if args.inference else trained
    loads = "--init-from" if args.init_from else "--weights-from" if args.weights_from else ""
    if loads and not (args.weights or args.torchscript or args.onnx):
        raise UsageError(f"{loads} needs --weights, --torchscript or --onnx to save the "
                         "result in")
    if args.torchscript or args.weights or args.onnx:
        flag, extra = ("--torchscript", "torch") if args.torchscript else \
            ("--onnx", "onnx") if args.onnx else ("--weights", "torch")
        require_torch(flag, extra)
    if args.onnx:  # before anything is built: the example input is allocated in full
        from archdsl.export import check_example

        check_example(arch.spec.input, span=arch.spec.table.value(("input",)))
    outputs, source = _compile_outputs(args, trained)
    outputs.check()  # before the work: a refused output costs nothing
    say = functools.partial(print, file=sys.stderr if outputs.to_stdout else sys.stdout)
    writers = {"-o": lambda f: f.write(arch.source.encode())} if source else {}
    if args.torchscript or args.weights or args.onnx:
        writers.update(_model_writers(_module(args, trained, arch, say), arch, args))
    try:
        outputs.write(writers)
    except ModuleNotFoundError as exc:  # the ONNX exporter is an extra
        raise UsageError(str(exc)) from None
    if source and not outputs.to_stdout:
        say(f"wrote {source} ({arch.name}: {arch.param_count:,} parameters)")
    for path, what in ((args.weights, "state_dict"), (args.torchscript, "TorchScript"),
                       (args.onnx, "ONNX")):
        if path:
            say(f"wrote {path} ({what})")
    return EXIT_OK


def _compile_outputs(args, trained) -> tuple[Outputs, str | None]:
    """compile's inputs and outputs, and where the source goes (None: nowhere).

    The source only when asked for (-o) or when nothing else is: `--torchscript X.pt`
    writes X.pt alone."""
    outputs = _reading(trained)
    if args.init_from:
        outputs.read(args.init_from, f"the --init-from file {args.init_from}")
    source = None
    if args.output or not (args.weights or args.torchscript or args.onnx):
        source = args.output or str(Path("codegen") / f"{Path(zoo.resolve(args.spec)).stem}.py")
        outputs.add("-o", source, stdout=True, make_parent=not args.output)
    for flag, path in (("--weights", args.weights), ("--torchscript", args.torchscript),
                       ("--onnx", args.onnx)):
        if path:
            outputs.add(flag, path, to_path=flag == "--onnx")
    return outputs, source


def _module(args, trained, arch, say):
    """The eval-mode module of `arch`, with the weights --init-from or --weights-from
    name (reported through `say`), folded when `arch` is the inference form."""
    from archdsl.api import build
    from archdsl.weights import read_state_dict, transfer

    if args.init_from:  # read first: a bad file costs no build
        state, notes = read_state_dict(args.init_from)
    module = build(trained)
    if args.init_from:
        report = transfer(state, module)
        report.notes[:0] = notes
        say(report.render())
    if args.weights_from:
        say(_pretrained(module, trained, args.weights_from).render())
    if args.inference:  # the trained weights, folded into the inference form
        state = arch.fold_weights(module.state_dict())
        module = build(arch)
        module.load_state_dict(state)
    return module.eval()


def _model_writers(module, arch, args) -> dict:
    """The writers of compile's --weights, --torchscript and --onnx files."""
    import torch

    writers = {}
    if args.weights:
        writers["--weights"] = lambda f: torch.save(module.state_dict(), f)
    if args.torchscript:
        with warnings.catch_warnings():  # asked for by name: no deprecation notice
            warnings.simplefilter("ignore", FutureWarning)
            script = torch.jit.script(module)

        def save(f):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                torch.jit.save(script, f)

        writers["--torchscript"] = save
    if args.onnx:
        from archdsl.export import export_onnx

        writers["--onnx"] = lambda path: export_onnx(module, path,
                                                     input_shape=arch.spec.input)
    return writers


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

    spec = _existing_file(args.spec)
    outputs = _reading(_loaded_or_none(spec), spec) if args.csv or args.plot else Outputs()
    for flag, path in (("--csv", args.csv), ("--plot", args.plot)):
        if path:
            outputs.add(flag, path)
    outputs.check()
    rows = run(spec, grid(args.grid), args.input)
    print(render_table(rows))
    writers = {}
    if args.csv:
        writers["--csv"] = lambda f: f.write(render_csv(rows).encode())
    if args.plot:
        from archdsl.plot import bubble_chart

        valid = [dict(r, spec=r["label"]) for r in rows if r["error"] is None]
        try:
            image = bubble_chart(valid)
        except ImportError:
            raise UsageError("--plot needs matplotlib: pip install 'archdsl[plot]'") from None
        writers["--plot"] = lambda f: f.write(image)
    outputs.write(writers)
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
    outputs = _reading(arch)
    outputs.add("-o", args.output or STDOUT, stdout=True)
    outputs.write({"-o": lambda f: f.write(text)})
    if not outputs.to_stdout:
        print(f"wrote {args.output}")
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
    outputs = Outputs()
    for path in _spec_files(args.specs):
        arch = load(path, input=args.input)
        _reading(arch, into=outputs)
        totals = arch.summary()["totals"]
        rows.append({"spec": Path(path).stem, "params": totals["params"],
                     "macs": totals["macs"], "activation_bytes": totals["activation_bytes"],
                     "forward_backward_mb": totals["forward_backward_mb"]})
    if args.plot:
        from archdsl.plot import bubble_chart

        outputs.add("--plot", args.plot)
        outputs.check()
        try:
            image = bubble_chart(rows)
        except ImportError:
            raise UsageError("--plot needs matplotlib: pip install 'archdsl[plot]'") from None
        outputs.write({"--plot": lambda f: f.write(image)})
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


def report(args) -> int:
    from archdsl.api import load
    from archdsl.report import LayoutError, render_report

    if len(args.specs) > 2 and not args.compare:
        raise UsageError("report takes one spec, or two (a diff); more need --compare")
    archs = [load(_existing_file(s), overrides=args.overrides, input=args.input)
             for s in args.specs]
    output = args.output or f"{Path(zoo.resolve(args.specs[-1])).stem}.report.html"
    outputs = Outputs()
    for arch in archs:
        _reading(arch, into=outputs)
    outputs.add("-o", output)
    outputs.check()  # before the layout: a refused output costs nothing
    try:
        page = render_report(archs, compare=args.compare)
    except LayoutError as exc:
        raise UsageError(str(exc)) from None
    outputs.write({"-o": lambda f: f.write(page.encode())})
    print(f"wrote {output}")
    return EXIT_OK


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
    """`path`, or the zoo's spec of that name. A path that is there but not a regular
    file (a FIFO, a device, a directory) goes on to `load`, which refuses it (E0001)."""
    if os.path.isfile(path) or os.path.exists(path) and not zoo.is_reference(path):
        return path
    found = zoo.path(path)
    if found is None:
        raise UsageError(f"no such spec file or zoo name: {path} ({zoo.unknown(path)})")
    return str(found)


def _spec_files(paths: list[str]) -> Iterator[str]:
    for path in paths:
        if os.path.isdir(path):
            root = os.path.realpath(path)
            for found in sorted(Path(path).rglob("*")):
                if found.suffix not in (".yaml", ".yml") or not found.is_file():
                    continue
                # A link out of the directory asked for is not part of it (rglob
                # already keeps out of linked directories).
                if os.path.commonpath([root, os.path.realpath(found)]) != root:
                    print(f"note: skipped {found}: a symbolic link out of {path}",
                          file=sys.stderr)
                    continue
                yield str(found)
        elif os.path.exists(path):  # a file, or a FIFO or device that load refuses
            yield path
        elif zoo.path(path) is not None:  # a zoo name: `archdsl check resnet50`
            yield str(zoo.path(path))
        else:
            raise UsageError(f"no such file or directory: {path}")


def _reading(arch, path: str | None = None, into: Outputs | None = None) -> Outputs:
    """`into` (a new Outputs by default) told of every file `arch` was read from, or of
    the spec at `path` alone when it could not be loaded."""
    outputs = into or Outputs()
    files = arch.spec.files if arch is not None else (os.path.realpath(path),)
    shown = path or arch.spec.path
    for i, file in enumerate(files):
        outputs.read(file, f"the spec {shown}" if i == 0 else
                     f"{file}, a file the spec {shown} reads (extends: or spec:)")
    return outputs


def _loaded_or_none(path: str):
    """The spec at `path` with its default params, or None when that is invalid."""
    from archdsl.api import load

    try:
        return load(path)
    except SpecError:
        return None


def list_(args) -> int:
    """`archdsl list`: the specs of the zoo, with their size, cost and reference."""
    from archdsl.catalog import render, rows

    table = rows()
    print(json.dumps(table, indent=2) if args.json else render(table))
    return EXIT_OK
