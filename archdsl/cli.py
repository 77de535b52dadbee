"""The `archdsl` command line: arguments in, a command run, an exit code out.

Exit codes: 0 success; 1 the spec or a weights file is invalid (diagnostics or one
`archdsl: error:` line printed); 2 a usage error, or an output refused or not
writable (nothing written); 128+N ended by signal N while writing (130 for Ctrl-C,
143 for SIGTERM; no temporary file left); 141 standard output closed early (a pipe
into `head`), quietly. The commands themselves are in archdsl.commands (the only
code that writes files, through archdsl.outputs).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys

from archdsl import commands
from archdsl.commands import EXIT_INVALID, EXIT_USAGE, UsageError
from archdsl.diagnostics import SpecError, WeightsError
from archdsl.optional import MissingDependency
from archdsl.outputs import Interrupted, OutputError
from archdsl.summary import CONVENTIONS
from archdsl.version import __version__


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        code = _run(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE


def _run(args: argparse.Namespace) -> int:
    """The command's exit code, its errors printed."""
    try:
        return args.run(args)
    except (UsageError, MissingDependency) as exc:
        print(f"archdsl: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OutputError as exc:
        print(f"archdsl: error: {exc}", file=sys.stderr)
        if exc.help:
            print(f"  help: {exc.help}", file=sys.stderr)
        return EXIT_USAGE
    except SpecError as exc:
        commands.print_diagnostics(exc.diagnostics, getattr(args, "format", "text"))
        return EXIT_INVALID
    except WeightsError as exc:
        print(f"archdsl: error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except Interrupted as exc:
        print(f"archdsl: {exc} while writing; no temporary file left", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130


EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer cut off


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so that flushing it at exit raises nothing
    more (what Python's documentation of SIGPIPE recommends)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (tests)
        pass


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="archdsl", description="Check, cost and compile architecture specs.")
    parser.add_argument("--version", action="version", version=f"archdsl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("compile", help="generate PyTorch source (and TorchScript) from a spec")
    p.add_argument("spec", help="the spec file, or a zoo name (archdsl list)")
    p.add_argument("-o", "--output", help="write the source here (- for standard output); "
                   "without -o the source goes to codegen/<spec file name>.py, but only "
                   "when no --weights, --torchscript or --onnx is asked for")
    p.add_argument("--torchscript", metavar="FILE.pt",
                   help="save torch.jit.script of the module")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--init-from", metavar="FILE.pt",
                       help="a state_dict: load every tensor that fits (reported); saved "
                            "with --weights and in --torchscript")
    start.add_argument("--weights-from", metavar="torchvision:NAME", type=_torchvision,
                       help="torchvision's published weights, for a spec that is a "
                            "torchvision network (torchvision:IMAGENET1K_V2, "
                            "torchvision:DEFAULT; downloaded once to torch's hub cache); "
                            "saved with --weights and in --torchscript")
    p.add_argument("--weights", metavar="FILE.pt", help="save the module's state_dict")
    p.add_argument("--inference", action="store_true",
                   help="the inference form: batch norm folded into convs, dropout, "
                        "drop-path and auxiliary heads removed")
    p.add_argument("--onnx", metavar="FILE.onnx", help="export to ONNX (the onnx extra)")
    _add_set(p)
    p.set_defaults(run=commands.compile_)

    p = sub.add_parser("diff", help="what changes from one variant to another")
    p.add_argument("a", metavar="SPEC_A")
    p.add_argument("b", metavar="SPEC_B", nargs="?",
                   help="the other spec (default: SPEC_A with the --set overrides)")
    p.add_argument("--depth", type=_positive, default=1, metavar="N",
                   help="compare modules N levels down (default 1)")
    p.add_argument("--json", action="store_true", help="print JSON")
    _add_set(p)
    p.set_defaults(run=commands.diff)

    p = sub.add_parser("sweep", help="every combination of param values, checked statically")
    p.add_argument("spec")
    p.add_argument("--grid", action="append", required=True, metavar="NAME=V1,V2,…",
                   help="values of one param (repeatable); combinations of all grids")
    p.add_argument("--csv", metavar="FILE", help="also write the table as CSV")
    p.add_argument("--plot", metavar="FILE.png", help="bubble chart (needs matplotlib)")
    _add_input(p)
    p.set_defaults(run=commands.sweep)

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
    p.set_defaults(run=commands.check)

    p = sub.add_parser("summary", help="cost, shapes and receptive fields, per layer",
                       description=CONVENTIONS, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("spec", help="the spec file, or a zoo name (archdsl list)")
    _add_input(p)
    p.add_argument("--batch", type=_positive, default=1, metavar="N",
                   help="batch size for memory and MACs (default 1)")
    p.add_argument("--depth", type=_positive, metavar="N",
                   help="one row per module N levels down (e.g. 1: the stages)")
    p.add_argument("--json", action="store_true", help="print JSON")
    _add_set(p)
    p.set_defaults(run=commands.summary)

    p = sub.add_parser("graph", help="draw the graph (dot, mermaid or svg)")
    p.add_argument("spec", help="the spec file, or a zoo name (archdsl list)")
    p.add_argument("--format", choices=["dot", "mermaid", "svg"], default="dot")
    p.add_argument("-o", "--output", help="write to this file (default, or -: stdout)")
    p.add_argument("--depth", type=_positive, metavar="N",
                   help="draw modules deeper than N levels as one node")
    _add_input(p)
    _add_set(p)
    p.set_defaults(run=commands.graph)

    p = sub.add_parser("compare", help="params, MACs and memory of several specs")
    p.add_argument("specs", nargs="+", metavar="SPEC|DIR")
    _add_input(p)
    p.add_argument("--plot", metavar="FILE.png",
                   help="also draw the bubble chart (needs matplotlib: archdsl[plot])")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=commands.compare)

    p = sub.add_parser("report", help="one self-contained HTML page: the graph, the spec, "
                       "the costs (two specs: a diff)")
    p.add_argument("specs", nargs="+", metavar="SPEC",
                   help="a spec; two for a diff (A -> B); several with --compare")
    p.add_argument("-o", "--output", metavar="FILE.html",
                   help="where to write the page (default: <last spec's name>.report.html)")
    p.add_argument("--compare", action="store_true",
                   help="every spec's report and the complexity chart of them all")
    _add_input(p)
    _add_set(p)
    p.set_defaults(run=commands.report)

    p = sub.add_parser("schema", help="print the JSON Schema of the spec format")
    p.set_defaults(run=commands.schema)

    p = sub.add_parser("list", help="the specs of the zoo: name, params, MACs, reference")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=commands.list_)
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


def _torchvision(text: str) -> str:
    """`torchvision:IMAGENET1K_V2` -> `IMAGENET1K_V2`."""
    source, _, name = text.partition(":")
    if source != "torchvision" or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not torchvision:NAME, e.g. "
                                         "torchvision:IMAGENET1K_V2")
    return name


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
    amount = float(match.group(1)) * _SUFFIXES[match.group(2).upper()]
    if not math.isfinite(amount):
        raise argparse.ArgumentTypeError(f"{text!r} is too large for an amount")
    return int(amount)


def _add_set(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   dest="overrides",
                   help="override a param: k=2, depths=[3,4,23,3], depths[2]=23 (repeatable)")


if __name__ == "__main__":
    sys.exit(main())
