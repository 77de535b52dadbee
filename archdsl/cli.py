"""The `archdsl` command line. The only part of archdsl that writes files.

Exit codes: 0 success, 1 the spec is invalid (diagnostics printed), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

from archdsl.diagnostics import (
    Diagnostic,
    SpecError,
    error,
    render_github,
    render_json,
    render_text,
)
from archdsl.summary import CONVENTIONS

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """The command line itself is wrong (exit 2)."""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.run(args)
    except UsageError as exc:
        print(f"archdsl: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SpecError as exc:
        _print_diagnostics(exc.diagnostics, getattr(args, "format", "text"))
        return EXIT_INVALID


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="archdsl", description="Check, cost and compile architecture specs.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("compile", help="generate PyTorch source (and TorchScript) from a spec")
    p.add_argument("spec", help="the spec file")
    p.add_argument("-o", "--output", help="where to write the source "
                   "(default: codegen/<spec file name>.py)")
    p.add_argument("--torchscript", metavar="FILE.pt",
                   help="also save torch.jit.script of the module")
    p.add_argument("--init-from", metavar="FILE.pt",
                   help="a state_dict: load every tensor that fits (reported); saved "
                        "with --weights and in --torchscript")
    p.add_argument("--weights", metavar="FILE.pt", help="save the module's state_dict")
    p.add_argument("--inference", action="store_true",
                   help="the inference form: batch norm folded into convs, dropout, "
                        "drop-path and auxiliary heads removed")
    p.add_argument("--onnx", metavar="FILE.onnx", help="also export to ONNX (the onnx extra)")
    _add_set(p)
    p.set_defaults(run=_compile)

    p = sub.add_parser("diff", help="what changes from one variant to another")
    p.add_argument("a", metavar="SPEC_A")
    p.add_argument("b", metavar="SPEC_B", nargs="?",
                   help="the other spec (default: SPEC_A with the --set overrides)")
    p.add_argument("--depth", type=_positive, default=1, metavar="N",
                   help="compare modules N levels down (default 1)")
    p.add_argument("--json", action="store_true", help="print JSON")
    _add_set(p)
    p.set_defaults(run=_diff)

    p = sub.add_parser("sweep", help="every combination of param values, checked statically")
    p.add_argument("spec")
    p.add_argument("--grid", action="append", required=True, metavar="NAME=V1,V2,…",
                   help="values of one param (repeatable); combinations of all grids")
    p.add_argument("--csv", metavar="FILE", help="also write the table as CSV")
    p.add_argument("--plot", metavar="FILE.png", help="bubble chart (needs matplotlib)")
    _add_input(p)
    p.set_defaults(run=_sweep)

    p = sub.add_parser("check", help="check specs; exit 1 if any is invalid")
    p.add_argument("paths", nargs="+", metavar="SPEC|DIR",
                   help="spec files, or directories searched for *.yaml")
    p.add_argument("--format", choices=["text", "json", "github"], default="text",
                   help="how to print diagnostics (github: Actions annotations)")
    p.add_argument("--max-params", type=_amount, metavar="N",
                   help="fail a spec with more parameters (e.g. 30M)")
    p.add_argument("--max-macs", type=_amount, metavar="N",
                   help="fail a spec with more multiply-accumulates per sample (e.g. 5G)")
    _add_set(p)
    p.set_defaults(run=_check)

    p = sub.add_parser("summary", help="cost, shapes and receptive fields, per layer",
                       description=CONVENTIONS, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("spec", help="the spec file")
    _add_input(p)
    p.add_argument("--batch", type=_positive, default=1, metavar="N",
                   help="batch size for memory and MACs (default 1)")
    p.add_argument("--depth", type=_positive, metavar="N",
                   help="one row per module N levels down (e.g. 1: the stages)")
    p.add_argument("--json", action="store_true", help="print JSON")
    _add_set(p)
    p.set_defaults(run=_summary)

    p = sub.add_parser("graph", help="draw the graph (dot, mermaid or svg)")
    p.add_argument("spec", help="the spec file")
    p.add_argument("--format", choices=["dot", "mermaid", "svg"], default="dot")
    p.add_argument("-o", "--output", help="write to this file (default: stdout)")
    p.add_argument("--depth", type=_positive, metavar="N",
                   help="draw modules deeper than N levels as one node")
    _add_input(p)
    _add_set(p)
    p.set_defaults(run=_graph)

    p = sub.add_parser("compare", help="params, MACs and memory of several specs")
    p.add_argument("specs", nargs="+", metavar="SPEC|DIR")
    _add_input(p)
    p.add_argument("--plot", metavar="FILE.png",
                   help="also draw the bubble chart (needs matplotlib: archdsl[plot])")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_compare)

    p = sub.add_parser("schema", help="print the JSON Schema of the spec format")
    p.set_defaults(run=_schema)
    return parser


def _add_input(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", type=_shape, metavar="C,H,W",
                   help="another input shape than the spec's (batch excluded)")


def _shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a shape like 3,224,224") from None
    if not 1 <= len(dims) <= 3 or min(dims) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a shape like 3,224,224")
    return dims


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return int(text)


_SUFFIXES = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def _amount(text: str) -> int:
    """`30M` -> 30_000_000; `5G`, `1.5e9`, `25000000` too."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][0-9]+)?)\s*([kKmMgGtT]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount like 30M or 5G")
    return int(float(match.group(1)) * _SUFFIXES[match.group(2).upper()])


def _add_set(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   dest="overrides",
                   help="override a param: k=2, depths=[3,4,23,3], depths[2]=23 (repeatable)")


# ---------------------------------------------------------------------- commands


def _compile(args) -> int:
    import archdsl

    spec = _existing_file(args.spec)
    trained = archdsl.load(spec, overrides=args.overrides)
    arch = trained.inference() if args.inference else trained
    output = Path(args.output) if args.output else Path("codegen") / f"{Path(spec).stem}.py"
    source = arch.source
    module = script = None
    if args.init_from and not (args.weights or args.torchscript or args.onnx):
        raise UsageError("--init-from needs --weights, --torchscript or --onnx to save the "
                         "result in")
    if args.torchscript or args.weights or args.onnx:
        import torch

        module = archdsl.build(trained)
        if args.init_from:
            state = torch.load(_existing_file(args.init_from), map_location="cpu",
                               weights_only=True)
            print(archdsl.transfer(state, module).render())
        if args.inference:  # the trained weights, folded into the inference form
            state = arch.fold_weights(module.state_dict())
            module = archdsl.build(arch)
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
    _write_atomic(output, lambda f: f.write(source.encode()))
    print(f"wrote {output} ({arch.name}: {arch.param_count:,} parameters)")
    if args.weights:
        _write_atomic(Path(args.weights), lambda f: torch.save(module.state_dict(), f))
        print(f"wrote {args.weights} (state_dict)")
    if script is not None:
        _write_atomic(Path(args.torchscript), lambda f: torch.jit.save(script, f))
        print(f"wrote {args.torchscript} (TorchScript)")
    return EXIT_OK


def _diff(args) -> int:
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


def _sweep(args) -> int:
    from archdsl.sweep import grid, render_csv, render_table, run

    rows = run(_existing_file(args.spec), grid(args.grid), args.input)
    print(render_table(rows))
    if args.csv:
        _write_atomic(Path(args.csv), lambda f: f.write(render_csv(rows).encode()))
    if args.plot:
        from archdsl.plot import bubble_chart

        valid = [dict(r, spec=r["label"]) for r in rows if r["error"] is None]
        try:
            image = bubble_chart(valid)
        except ImportError:
            raise UsageError("--plot needs matplotlib: pip install 'archdsl[plot]'") from None
        _write_atomic(Path(args.plot), lambda f: f.write(image))
    return EXIT_OK


def _check(args) -> int:
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
    _print_diagnostics(diagnostics, args.format)
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


def _summary(args) -> int:
    from archdsl.api import load
    from archdsl.summary import render

    arch = load(_existing_file(args.spec), overrides=args.overrides, input=args.input)
    summary = arch.summary(batch=args.batch, depth=args.depth)
    print(json.dumps(summary, indent=2) if args.json else render(summary))
    return EXIT_OK


def _graph(args) -> int:
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
        _write_atomic(Path(args.output), lambda f: f.write(text))
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


def _compare(args) -> int:
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
        _write_atomic(Path(args.plot), lambda f: f.write(image))
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


def _schema(args) -> int:
    from archdsl.spec.schema import json_schema

    print(json.dumps(json_schema(), indent=2))
    return EXIT_OK


# ---------------------------------------------------------------------- helpers


def _print_diagnostics(diagnostics: list[Diagnostic], fmt: str) -> None:
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
        raise UsageError(f"no such spec file: {path}")
    return path


def _spec_files(paths: list[str]) -> Iterator[str]:
    for path in paths:
        if os.path.isdir(path):
            for found in sorted(Path(path).rglob("*")):
                if found.suffix in (".yaml", ".yml") and found.is_file():
                    yield str(found)
        elif os.path.isfile(path):
            yield path
        else:
            raise UsageError(f"no such file or directory: {path}")


def _write_atomic(path: Path, write: Callable) -> None:
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


if __name__ == "__main__":
    sys.exit(main())
