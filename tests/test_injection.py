"""Nothing in a spec gets into the generated code except what the emitter writes.

Each case is a spec whose names, docs or strings try to put code into the
generated module: quotes, newlines, triple quotes, backslashes, Unicode line
separators, `__import__`, names like `os`, `self` or `torch`. The payload would
create a canary file. Either the spec is rejected with a located diagnostic, or
it compiles to code that (1) calls and names only what the emitter writes
(tools/fuzz.py's `source_problem`: parsed with `ast`), (2) holds the payload
only inside string literals and comments, and (3) builds, runs forward in eval
and training mode, and scripts, and the canary never appears.
"""

from __future__ import annotations

import io
import json
import tokenize

import pytest
import torch

import archdsl
from archdsl.diagnostics import SpecError
from conftest import tool

fuzz = tool("fuzz")

HEAD = "archdsl: 1\nname: net\ninput: [3, 8, 8]\n"
NET = "network:\n  - conv1: conv(4, 3)\n  - relu\n"
OPEN = "open('CANARY', 'w')"  # CANARY becomes a path in the test's tmp_path
IMPORT = "__import__('os').system('touch CANARY')"
TQ, BS, SQ, DQ = '"""', "\\", "'", '"'

def q(text: str) -> str:
    """`text` as a YAML scalar (JSON's double-quoted strings are YAML's)."""
    return json.dumps(text)


# name -> (spec text, the code it is rejected with, or None where it must compile)
CASES: dict[str, tuple[str, str | None]] = {
    # docs become docstrings: they must not break out of the literal
    "triple quotes in doc": (HEAD + f"doc: {q(f'x{TQ} ; {OPEN} ; {TQ}y')}\n" + NET, None),
    "newlines and triple quotes in a block doc": (
        HEAD + f"doc: |\n  first line\n  {TQ}\n  {IMPORT}\n  {TQ}\n" + NET, None),
    "triple single quotes in a block's doc": (
        HEAD + f"blocks:\n  unit:\n    doc: {q(chr(39) * 3 + chr(10) + OPEN + chr(10))}\n"
        "    body: [conv(4, 3)]\nnetwork: [unit, unit]\n", None),
    "a doc ending in a backslash": (HEAD + f"doc: {q('a doc ' + BS)}\n" + NET, None),
    "backslash escapes in doc": (HEAD + f"doc: {q(BS + TQ + BS + ' + ' + OPEN + ' #' + BS)}\n"
                                 + NET, None),
    "Unicode line separators in doc": (
        HEAD + f"doc: {q(f'x{chr(0x2028)}{OPEN}{chr(0x2029)}y{chr(0x85)}{IMPORT}')}\n" + NET,
        None),
    "NUL and escape characters in doc": (HEAD + f"doc: {q(chr(0) + chr(27) + chr(7) + OPEN)}\n"
                                         + NET, None),
    "a --set doc": (HEAD + NET, None),  # the payload comes through --set below
    # names become identifiers: anything else is refused where it is written
    "quote in a layer name": (HEAD + f"network:\n  - {q(f'x{chr(39)}); {OPEN}; (')}: conv(4, 3)\n",
                              "E0210"),
    "newline in a layer name": (HEAD + f"network:\n  - {q('a' + chr(10) + OPEN)}: conv(4, 3)\n",
                                "E0210"),
    "__import__ as a layer name": (HEAD + "network:\n  - __import__: conv(4, 3)\n", "E0210"),
    "code in the network's name": (
        f"archdsl: 1\nname: {q('Net(nn.Module): pass' + chr(10) + OPEN)}\n"
        "input: [3, 8, 8]\n" + NET, "E0210"),
    "code in a param's name": (HEAD + f"params:\n  {q('x=' + OPEN)}: 1\n" + NET, "E0210"),
    "code in a block argument's name": (
        HEAD + f"blocks:\n  unit:\n    args: {{{q('c=' + OPEN)}: int}}\n"
        "    body: [conv(4, 3)]\nnetwork: ['unit(c=1)']\n", "E0210"),
    "code in a hyphenated name": (
        HEAD + f"network:\n  - {q('a-b' + chr(39) + '); ' + OPEN)}: relu\n", "E0210"),
    "code in the outputs' name": (
        HEAD + "network:\n  - aux: {auxiliary: [gap, flatten, linear(2)]}\n  - gap\n"
        "  - flatten\n  - fc: linear(2)\noutputs:\n"
        f"  name: {q('T(NamedTuple): pass' + chr(10) + OPEN)}\n"
        "  fields: {logits: network, aux: aux}\n", "E0210"),
    "code in an outputs field": (
        HEAD + "network:\n  - aux: {auxiliary: [gap, flatten, linear(2)]}\n  - gap\n"
        "  - flatten\n  - fc: linear(2)\noutputs:\n  name: Out\n"
        f"  fields: {{logits: network, {q('a=' + OPEN)}: aux}}\n", "E0210"),
    "code from a name template": (
        HEAD + f"params:\n  s: {q(repr(chr(39) + '); ' + OPEN + '; ('))}\n"
        "network:\n  - repeat: 2\n    name: \"l{s}{i}\"\n    body: conv(4, 3)\n", "E0210"),
    "a Cyrillic letter in `self`": (HEAD + "network:\n  - \u0455elf: conv(4, 3)\n", "E0210"),
    # strings become literals, and only where an op accepts that string
    "code in an op's string argument": (
        HEAD + "network:\n"
        f"  - {q('conv(4, 3, pad=' + DQ + SQ + '); ' + OPEN + '; (' + SQ + DQ + ')')}\n",
        "E0202"),
    "code in an init function's string": (
        HEAD + NET + "init:\n  - op: conv\n"
        f"    weight: {q('kaiming_normal(mode=' + DQ + SQ + '); ' + OPEN + '#' + DQ + ')')}\n",
        "E0203"),
    "code in an init rule's glob": (
        HEAD + NET + f"init:\n  - name: {q('x' + chr(34) + '); ' + OPEN + '; (' + chr(10))}\n"
        "    weight: 0\n", None),
    # valid names that are also names in Python: attributes, parameters, locals
    "layers named like modules and builtins": (
        HEAD + "network:\n  - os: conv(4, 3)\n  - open: relu\n  - exec: conv(4, 3)\n"
        "  - torch: bn\n  - nn: relu\n  - Tensor: identity\n", None),
    "branches named x, self and torch": (
        HEAD + "network:\n  - b:\n      branches:\n        x: conv(4, 1)\n        self: conv(4, 1)"
        "\n        torch: [conv(4, 1), relu]\n      merge: concat\n", None),
    "block arguments named like builtins": (
        HEAD + "blocks:\n  unit:\n    args: {exec: int, print: 1}\n"
        "    body: [conv(exec, 3, stride=print), relu]\n"
        "network: ['unit(exec=4)', 'unit(exec=8, print=2)']\n", None),
    "blocks named like the generated code's names": (
        HEAD + "blocks:\n  tensor: {args: {c: int}, body: [conv(c, 3)]}\n"
        "  ordered_dict: {args: {c: int}, body: [conv(c, 3), relu]}\n"
        "network: ['tensor(c=4)', 'tensor(c=8)', 'ordered_dict(c=4)', 'ordered_dict(c=2)']\n",
        None),
}

PAYLOAD_WORDS = ("open", "__import__", "system", "CANARY")


def _code_outside_literals(source: str) -> str:
    """The source without its string literals and comments."""
    skip = {tokenize.STRING, tokenize.COMMENT}
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return " ".join(t.string for t in tokens if t.type not in skip)


@pytest.mark.parametrize("name", list(CASES))
def test_nothing_from_the_spec_runs(name, tmp_path):
    text, code = CASES[name]
    canary = tmp_path / "canary"
    path = tmp_path / "spec.yaml"
    path.write_text(text.replace("CANARY", str(canary)))
    payload = f"{TQ}; {OPEN}; {TQ}".replace("CANARY", str(canary))
    overrides = [f"doc={json.dumps(payload)}"] if name == "a --set doc" else []
    if code is not None:
        with pytest.raises(SpecError) as info:
            archdsl.load(path, overrides=overrides)
        diagnostic = info.value.diagnostics[0]
        assert diagnostic.code == code, diagnostic.render()
        assert diagnostic.span is not None and diagnostic.span.file == str(path)
        return
    arch = archdsl.load(path, overrides=overrides)
    source = arch.source
    assert fuzz.source_problem(source) == "", fuzz.source_problem(source)
    if "named like" not in name and "named x" not in name:
        code_text = _code_outside_literals(source)
        assert not [w for w in PAYLOAD_WORDS if w in code_text], code_text
    model = archdsl.build(arch)
    x = torch.randn(2, 3, 8, 8)
    model.eval()(x)
    model.train()(x)
    torch.jit.script(model)
    assert not canary.exists()


def test_a_file_name_does_not_reach_the_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / f"x{TQ}\n{OPEN.replace('CANARY', 'canary')}\n.yaml"
    path.write_text(HEAD + NET)
    source = archdsl.compile_source(path)
    assert "open(" not in source and fuzz.source_problem(source) == ""
    archdsl.build(path)(torch.randn(1, 3, 8, 8))
    assert not (tmp_path / "canary").exists()


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 15
    assert sum(code is None for _, code in CASES.values()) >= 8  # and most kinds compile
