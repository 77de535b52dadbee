"""The `archdsl` command line. The only part of archdsl that writes files.

Exit codes: 0 success, 1 the spec is invalid (diagnostics printed), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

from archdsl.diagnostics import Diagnostic, SpecError, render_github, render_json, render_text

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
    _add_set(p)
    p.set_defaults(run=_compile)

    p = sub.add_parser("check", help="check specs; exit 1 if any is invalid")
    p.add_argument("paths", nargs="+", metavar="SPEC|DIR",
                   help="spec files, or directories searched for *.yaml")
    p.add_argument("--format", choices=["text", "json", "github"], default="text",
                   help="how to print diagnostics (github: Actions annotations)")
    _add_set(p)
    p.set_defaults(run=_check)

    p = sub.add_parser("schema", help="print the JSON Schema of the spec format")
    p.set_defaults(run=_schema)
    return parser


def _add_set(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   dest="overrides",
                   help="override a param: k=2, depths=[3,4,23,3], depths[2]=23 (repeatable)")


# ---------------------------------------------------------------------- commands


def _compile(args) -> int:
    import archdsl

    spec = _existing_file(args.spec)
    arch = archdsl.load(spec, overrides=args.overrides)
    output = Path(args.output) if args.output else Path("codegen") / f"{Path(spec).stem}.py"
    source = arch.source
    script = None
    if args.torchscript:
        import torch

        module = archdsl.build(arch)
        with warnings.catch_warnings():  # asked for by name: no deprecation notice
            warnings.simplefilter("ignore", FutureWarning)
            script = torch.jit.script(module)
    _write_atomic(output, lambda f: f.write(source.encode()))
    print(f"wrote {output} ({arch.name}: {arch.param_count:,} parameters)")
    if script is not None:
        import torch

        _write_atomic(Path(args.torchscript), lambda f: torch.jit.save(script, f))
        print(f"wrote {args.torchscript} (TorchScript)")
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
            if args.format == "text":
                print(f"ok  {path}  ({arch.name}: {arch.param_count:,} parameters)")
        except SpecError as exc:
            failed += 1
            diagnostics += exc.diagnostics
    _print_diagnostics(diagnostics, args.format)
    if args.format == "text" and len(files) > 1:
        print(f"{len(files) - failed} of {len(files)} specs valid", file=sys.stderr)
    return EXIT_INVALID if failed else EXIT_OK


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
