"""Keep docs/errors.md true: run each code's example, write what archdsl prints under it.

docs/errors.md has a `## CODE title` section for every code in
`archdsl.diagnostics.CODES`. A section's example is its first ```yaml block (or
a ```sh block `printf '…' > example.yaml`, for bytes Markdown cannot hold),
checked as `example.yaml`; an HTML comment `<!-- archdsl check example.yaml ARGS -->`
before it gives command-line arguments. The ```text block after the example is
what `archdsl check` prints (warnings included).

    .venv/bin/python tools/errors_doc.py          # rewrite the ```text blocks
    .venv/bin/python tools/errors_doc.py --check  # exit 1 if one is stale
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import io
import os
import re
import shlex
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archdsl.cli import main as cli  # noqa: E402
from archdsl.diagnostics import SpecError, render_text  # noqa: E402

DOC = ROOT / "docs" / "errors.md"
_SECTION = re.compile(r"^## ([EW]\d{4}) ", re.M)
_BLOCK = re.compile(r"```(yaml|sh|text)\n(.*?)```", re.S)
_ARGS = re.compile(r"<!-- archdsl check example\.yaml(.*?)-->")


@dataclass
class Example:
    code: str
    spec: bytes
    args: list[str]
    output: str  # as written in the doc
    output_span: tuple[int, int] | None  # where the ```text block's body is in the doc


def examples(text: str) -> list[Example]:
    """The examples of docs/errors.md, in order."""
    out = []
    starts = [m.start() for m in _SECTION.finditer(text)] + [len(text)]
    for start, end in zip(starts, starts[1:]):
        section = text[start:end]
        code = _SECTION.match(section).group(1)
        blocks = list(_BLOCK.finditer(section))
        spec = next((b for b in blocks if b.group(1) in ("yaml", "sh")), None)
        if spec is None:
            continue
        body = spec.group(2)
        data = body.encode() if spec.group(1) == "yaml" else _printf(body)
        args = _ARGS.search(section[:spec.start()])
        result = next((b for b in blocks if b.group(1) == "text" and b.start() > spec.start()),
                      None)
        out.append(Example(code, data, shlex.split(args.group(1)) if args else [],
                           result.group(2) if result else "",
                           (start + result.start(2), start + result.end(2)) if result else None))
    return out


def _printf(command: str) -> bytes:
    match = re.fullmatch(r"printf '(.*)' > example\.yaml\n", command, re.S)
    if not match:
        raise ValueError(f"a ```sh example is `printf '…' > example.yaml`, not {command!r}")
    return codecs.escape_decode(match.group(1).encode())[0]


def render(example: Example) -> str:
    """What `archdsl check example.yaml ARGS` prints about the example (stderr), with the
    spec-level warnings (passes.lint) included."""
    with tempfile.TemporaryDirectory() as tmp, _cwd(tmp):
        Path("example.yaml").write_bytes(example.spec)
        if any(a.startswith("--max-") for a in example.args):  # budgets are the CLI's
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                cli(["check", "example.yaml", *example.args])
            return err.getvalue().strip("\n") + "\n"
        return "\n\n".join(render_text(d) for d in _diagnostics(example.args)) + "\n"


def _diagnostics(args: list[str]) -> list:
    import archdsl
    from archdsl.passes import validate

    sets = [a for flag, a in zip(args, args[1:]) if flag == "--set"]
    try:
        arch = archdsl.load("example.yaml", overrides=sets)
    except SpecError as exc:
        return exc.diagnostics
    return validate.run(arch.graph, arch.spec)


@contextlib.contextmanager
def _cwd(path: str):
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report stale examples")
    args = parser.parse_args(argv)
    text = DOC.read_text()
    stale = []
    for example in reversed(examples(text)):  # from the end: earlier offsets stay valid
        rendered = render(example)
        if rendered != example.output:
            stale.append(example.code)
            if example.output_span is None:
                raise SystemExit(f"{example.code}: add an empty ```text block after the example")
            start, end = example.output_span
            text = text[:start] + rendered + text[end:]
    if args.check:
        print("stale: " + ", ".join(reversed(stale)) if stale else "docs/errors.md is current")
        return 1 if stale else 0
    DOC.write_text(text)
    print(f"rewrote {len(stale)} examples" if stale else "docs/errors.md is current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
