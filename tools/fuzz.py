"""Fuzz archdsl with mutated specs: nothing may crash, hang, or point nowhere.

Every case is a mutation of a spec in specs/ (a key dropped, duplicated or
retyped, a value replaced by a hostile one, a name replaced by one crafted to
break out of the generated code, the text truncated or edited, random bytes, or
random YAML) and runs the whole front end on it:

    archdsl.load (check) -> arch.summary() -> arch.source (compile_source)

and, with --build, every case that check accepts is built on the meta device,
run in eval and training mode, and scripted with TorchScript
(fuzz_build.build_problem): check ⇒ build. A tenth of the cases rename a block,
a layer or an outputs field to a name the generated file uses, or duplicate or
drop an outputs field (fuzz_build.rename_mutation); another tenth add an init rule,
swap a norm or an activation for another, put a view inside a residual, or empty a
block or an auxiliary head (fuzz_build.structure_mutation).

An outcome is `ok`, `SpecError <code>` (the first diagnostic's code: the
expected way to fail), or a failure: an uncaught exception, a case that takes
longer than --timeout seconds, a diagnostic without a span or with one outside
the file, an internal error (E0900), or generated source that does not parse or
calls what the emitter does not write, and with --build a valid case that does not
build, run or script. Each failing input is saved under --out, and the first few
are printed with the seed and index that make them again (--index).

    .venv/bin/python tools/fuzz.py --cases 100000 --jobs 2 --build
    .venv/bin/python tools/fuzz.py --cases 2000             # the front end alone: faster
    .venv/bin/python tools/fuzz.py --replay fuzz-failures/case-0-123-vgg11.yaml --build
    .venv/bin/python tools/fuzz.py --seed 0 --index 123 --build    # case 123, made again
    .venv/bin/python tools/fuzz.py --start 40000 --cases 20000 --build  # a run in parts
    .venv/bin/python tools/fuzz.py --cases 100000 --spec swin_t --build  # one spec's cases

Case i of a seed is the same whatever --start, --cases and --jobs: a long run can be
made in parts (cases 0-39999, then 40000-99999), whose counts add up. Case i mutates
the specs in turn (the i-th modulo their number, sorted by name), so after a fix that
can change the outcome of one spec's cases alone, --spec runs those cases of a range
again. A line on standard error after every 200 cases tells how far a run is.
"""

from __future__ import annotations

import argparse
import ast
import collections
import contextlib
import math
import multiprocessing
import os
import random
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from fuzz_build import (  # noqa: E402
    Seen,
    build_problem,
    fast_meta_batch_norm,
    rename_mutation,
    structure_mutation,
)

import archdsl  # noqa: E402
from archdsl.diagnostics import Severity, SpecError, render_github, render_json, render_text  # noqa: E402
from archdsl.lang.evaluate import BUILTINS  # noqa: E402
from archdsl.lang.yamlload import load_yaml  # noqa: E402
from archdsl.ops import OPS  # noqa: E402

# ---------------------------------------------------------------- hostile values

NAMES = [
    "os", "sys", "self", "torch", "nn", "x", "out", "Tensor", "super", "range", "OrderedDict",
    "NamedTuple", "Optional", "forward", "training", "__init__", "__import__", "_private",
    "class", "lambda", "None", "True", "match", "print", "eval", "exec", "open", "globals",
    "a" * 65, "ñ", "变量", "x y", "x-y", "a.b", "1abc", "0", "01", "", " ", "a\nb", "a'b", 'a"b',
    'a"""b', "a\\b", "a\u2028b", "a\x85b", "a\ufeffb", "\u202eabc", "x#y", "x:y", "{i}", "{",
    "layer{i+1}", "l{__import__('os')}", "${HOME}", "%s", "\t", "conv", "relu", "stage",
    "in_channels",
]
EXPRESSIONS = [
    "conv(64, 3)", "conv(0, 3)", "conv(-1, 3)", "conv(64, 0)", "conv(64, 3, stride=0)",
    "conv(64, 3, groups=7)", "conv(64, [1, 2, 3])", "conv(64, 3, pad='same', stride=2)",
    "conv(64, 3, dilation=1000)", "conv(10**6, 3)", "conv(2**40, 1)", "linear(10**12)",
    "maxpool(3, stride=2, pad=2)", "maxpool(1000)", "avgpool(3, ceil=true)", "bn(eps=-1)",
    "dropout(2)", "dropout(-0.5)", "dropout('x')", "lrn(0)", "pad_channels(1)", "gap", "flatten",
    "identity", "relu(1)", "add", "concat", "mean", "join(drop=2)", "drop_path(0)",
    "stage(relu, depth=3)", "stage(depth=3)", "adaptive_avgpool(0)", "adaptive_avgpool([1, 2])",
    "__import__('os').system('touch /tmp/x')", "exec('1')", "eval", "open('/etc/passwd')",
    "x.__class__", "(lambda: 1)()", "'a' * 10**9", "[0] * 10**9", "2 ** 2 ** 2 ** 2 ** 2",
    "10 ** 400", "1e309", "1 / 0", "1 // 0", "1 % 0", "0 ** -1", "-(2 ** 62) - 2 ** 62",
    "int(1e300)", "round(1e308, -400)", "len(1)", "max()", "min([])", "sum([[1]])",
    "abs('x')", "ceil(float(10**30))", "float('nan')", "'\\n'", "'\"\"\"'", "\"'''\"",
    "((((((((((1))))))))))", "[" * 70 + "]" * 70, "+".join(["1"] * 100), "a[10**9]",
    "[1, 2][-3]", "true + 1", "none < 1", "1 if 2 else 3", "not 5", "1 < 'a'",
    "depths[0]", "cardinality", "num_classes", "in_channels", "in_shape", "i", "stride",
    "conv(64, 3, bias=true, bias=false)", "conv(out=1, 2)", "conv(", ")", "", " ", "'", '"',
    "conv(64, 3)  # comment", "relu\n- relu", "\x00", "\u2028", "conv(６４, 3)",
]
# Operations whose cost would grow with their operands' values, were it not bounded first;
# calls written in PyTorch's order (in_channels first); typos in a branch not taken.
EXPRESSIONS += [
    "round(4, -10**8)", "round(2**62, -10**18)", "round(4.5, 10**18)", "2 ** 10**8",
    "(-3) ** 10**18", "10**18 * 10**18", "float(10**18) ** 10**18", "0.5 ** -10**18",
    ":".join(["30"] * 2000), "1:30:00", "bn(16)", "bn(16, 0.1)", "frozen_bn(64)",
    "conv(3, 16, 3)", "conv(3, 16, 3, 1, 1)", "conv_transpose(128, 64, 2)",
    "linear(512, 10)", "group_norm(32, 256)", "layer_norm(768)", "attention(768, 12)",
    "maxpool(3, 2, 1, 2)", "relu if true else rlu", "rlu if false else relu",
    "conv(8, 3) if false else conv(8, 3, groups=grups)",
]
NUMBERS = [0, 1, -1, 2, 3, 7, 1000, 2**31, 2**62, 2**63, 10**12, 10**30, -(10**30), 0.5, -0.0,
           1e-300, 1e308, math.inf, -math.inf, math.nan, True, False, None]
TEXT_INSERTS = ["[", "]", "{", "}", "(", ")", ",", ":", "- ", "&a ", "*a",
                "!!python/name:os.system ", "!!binary ", "<<: ", "? ", "|", ">", "'", '"', "#",
                "\t", "\x00", "\x1b", "\ufeff",
                "\u2028", "\u202e", "é", "\n", "\r", "\\", "%", "@", "`", "---\n", "...\n",
                "0x1F", "1e9", "~", "null", "yes", "2020-01-01", "=", "**", "{{", "}}"]
TEXT_INSERTS += ["input: [224, 224, 3]\n", "input: [16, 112, 112, 3]\n",
                 "- if: false\n  then: [rlu, conv(8, 3, groups=grups)]\n",
                 "- if: true\n  then: relu\n  else: {repeat: 2, body: 'conv(i + widht, 3)'}\n"]


def _vocabulary(data: object) -> list[str]:
    """Names a spec uses (its params, blocks, layer names): mutations reuse them."""
    words: set[str] = set()
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            words.update(k for k in value if isinstance(k, str))
            stack += value.values()
        elif isinstance(value, list):
            stack += value
    return sorted(words)


# ------------------------------------------------------------------ mutations


def _paths(data: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, prefix + (i,))
    return out


def _get(data, path):
    for p in path:
        data = data[p]
    return data


def _set(data, path, value):
    if not path:
        return value
    _get(data, path[:-1])[path[-1]] = value
    return data


def _random_value(rng: random.Random, vocab: list[str]) -> object:
    kind = rng.random()
    if kind < 0.35:
        return rng.choice(EXPRESSIONS)
    if kind < 0.55:
        return rng.choice(NUMBERS)
    if kind < 0.7:
        words = vocab + list(OPS) + list(BUILTINS) + NAMES
        return rng.choice(words)
    if kind < 0.8:
        return [_random_value(rng, vocab) for _ in range(rng.randint(0, 4))]
    if kind < 0.9:
        return {rng.choice(vocab + NAMES) or "k": _random_value(rng, vocab)
                for _ in range(rng.randint(0, 3))}
    return rng.choice(["conv", "relu", "bn"]) + f"({rng.randint(-5, 300)}, {rng.randint(-1, 9)})"


def _retyped(value: object, rng: random.Random, vocab: list[str]) -> object:
    choices = [str(value), [value], {"k": value}, None, True, 3, 2.5, "x"]
    if isinstance(value, (list, dict)):
        choices.append(next(iter(value), None) if isinstance(value, dict) else
                       (value[0] if value else None))
    if isinstance(value, str):
        choices += [value + "(", value + "(1)", value.upper(), value[::-1], value * 2]
    return rng.choice(choices)


def mutate_data(data: object, rng: random.Random) -> object:
    """One structural change to the loaded spec: drop, duplicate, retype, replace, rename."""
    vocab = _vocabulary(data)
    paths = _paths(data)
    path = rng.choice(paths)
    target = _get(data, path)
    op = rng.randrange(6)
    if op == 0 and path:  # drop a key or element
        parent = _get(data, path[:-1])
        del parent[path[-1]]
    elif op == 1 and path and isinstance(_get(data, path[:-1]), list):  # duplicate an element
        parent = _get(data, path[:-1])
        parent.insert(path[-1], parent[path[-1]])
    elif op == 2:  # retype
        data = _set(data, path, _retyped(target, rng, vocab))
    elif op == 3:  # a hostile value
        data = _set(data, path, _random_value(rng, vocab))
    elif op == 4 and isinstance(target, dict) and target:  # rename a key
        old = rng.choice(list(target))
        new = rng.choice(NAMES + vocab)
        items = [(new if k == old else k, v) for k, v in target.items()]
        data = _set(data, path, dict(items))
    elif op == 5 and isinstance(target, list) and target:  # shuffle or truncate a list
        if rng.random() < 0.5:
            rng.shuffle(target)
        else:
            del target[rng.randrange(len(target)):]
    else:
        data = _set(data, path, _random_value(rng, vocab))
    return data


def _dump(data: object) -> str:
    try:
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    except yaml.YAMLError:
        return repr(data)


def mutate_text(text: str, rng: random.Random) -> str:
    """One textual change: truncate, insert, delete, duplicate or swap lines, indent."""
    op = rng.randrange(7)
    if op == 0:
        return text[:rng.randrange(len(text) + 1)]
    if op == 1:
        at = rng.randrange(len(text) + 1)
        return text[:at] + rng.choice(TEXT_INSERTS) + text[at:]
    if op == 2 and text:
        at = rng.randrange(len(text))
        return text[:at] + text[at + rng.randint(1, 20):]
    lines = text.splitlines(keepends=True)
    if not lines:
        return rng.choice(TEXT_INSERTS)
    i = rng.randrange(len(lines))
    if op == 3:  # duplicate a line: often a duplicate key
        lines.insert(i, lines[i])
    elif op == 4:
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif op == 5:  # re-indent
        lines[i] = rng.choice(["", " ", "  ", "\t", "      "]) + lines[i].lstrip(" ")
    else:  # replace a token of the line by a hostile expression or name
        words = lines[i].split()
        if words:
            k = rng.randrange(len(words))
            words[k] = rng.choice(EXPRESSIONS + NAMES)
            lines[i] = " ".join(words) + "\n"
    return "".join(lines)


def random_yaml(rng: random.Random, vocab: list[str], depth: int = 0) -> object:
    """A random document built from spec words: mostly mappings, as a spec is."""
    if depth > 4 or rng.random() < 0.3:
        return _random_value(rng, vocab)
    if rng.random() < 0.6:
        keys = vocab + ["archdsl", "name", "input", "network", "blocks", "params", "residual",
                        "branches", "merge", "repeat", "body", "if", "then", "else", "auxiliary",
                        "outputs", "init", "extends", "patch"]
        return {rng.choice(keys): random_yaml(rng, vocab, depth + 1)
                for _ in range(rng.randint(1, 5))}
    return [random_yaml(rng, vocab, depth + 1) for _ in range(rng.randint(0, 5))]


def make_case(base: str, rng: random.Random) -> bytes:
    """A mutated spec (bytes: a few cases are not UTF-8 at all)."""
    kind = rng.random()
    if kind < 0.2:  # mostly valid specs, for --build: names the generated file uses,
        data, _ = load_yaml(base, "<base>")  # init rules, layers swapped, views, empty heads
        mutation = rename_mutation if kind < 0.1 else structure_mutation
        for _ in range(rng.choice((1, 1, 2))):
            data = mutation(data, rng)
        text = _dump(data)
    elif kind < 0.5:
        data, _ = load_yaml(base, "<base>")
        for _ in range(rng.choice((1, 1, 2, 3))):
            data = mutate_data(data, rng)
        text = _dump(data)
    elif kind < 0.85:
        text = base
        for _ in range(rng.choice((1, 1, 2, 4))):
            text = mutate_text(text, rng)
    elif kind < 0.95:
        data, _ = load_yaml(base, "<base>")
        text = _dump(random_yaml(rng, _vocabulary(data)))
    else:
        raw = bytearray(base.encode())
        for _ in range(rng.randint(1, 8)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        return bytes(raw)
    return text.encode("utf-8", errors="surrogatepass")


# ---------------------------------------------------------------------- checks


class Hang(Exception):
    """A case ran past the time limit."""


def _on_alarm(signum, frame):
    raise Hang()


def span_problem(diagnostic) -> str:
    """Why a diagnostic's span does not locate it in its file ('' if it does). A note
    may be about the whole file (`note: 4 more errors not shown`)."""
    spans = [diagnostic.span] + [label.span for label in diagnostic.labels]
    if spans[0] is None:
        return "" if diagnostic.severity is Severity.NOTE and not diagnostic.code else \
            "no span"
    for span in spans:
        lines = span.source.lines
        if not 1 <= span.line <= max(len(lines), 1):
            return f"line {span.line} of {len(lines)}"
        if not 1 <= span.col <= len(span.source.line(span.line)) + 1:
            return f"column {span.col} on a line of {len(span.source.line(span.line))}"
        if (span.end_line, span.end_col) < (span.line, span.col):
            return "ends before it starts"
        if span.end_line > max(len(lines), 1):
            return f"ends on line {span.end_line} of {len(lines)}"
    return ""


# The builtins generated code may name, what it may call by a bare name, and the roots
# of the attributes it calls.
BUILTIN_NAMES = {"super", "range", "len", "isinstance", "bool", "float", "int", "str", "tuple",
                 "list", "zip", "enumerate", "object"}
CALLABLE_NAMES = BUILTIN_NAMES - {"object"} | {"OrderedDict", "NamedTuple", "Optional",
                                               "fnmatchcase"}
CALLABLE_ROOTS = {"torch", "nn", "F", "self", "module", "super", "x", "keep", "kept"}
IMPORTS = {"import torch", "from torch import Tensor, nn", "from collections import OrderedDict",
           "from fnmatch import fnmatchcase"}


def _root(node: ast.expr) -> ast.expr:
    while isinstance(node, (ast.Attribute, ast.Call, ast.Subscript)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node


def source_problem(source: str) -> str:
    """Why generated source is not only what the emitter writes ('' if it is): it must
    parse; import only torch and a few standard names; name nothing it does not define
    but a few builtins; call only those names, the classes it defines, and methods of
    torch, nn, self and its modules; and touch no dunder attribute. Spec names reach
    it only as identifiers; spec values only as literals, which this does not restrict."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return f"the generated source does not parse: {exc}"
    classes = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    defined = set(classes)
    values = set()  # arguments and locals: the code's own values, whose methods it may call
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            defined |= {a.asname or a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.FunctionDef):
            defined.add(node.name)
        elif isinstance(node, ast.arg):
            values.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            values.add(node.id)
    defined |= values
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in defined | BUILTIN_NAMES:
            return f"the name `{node.id}` is neither defined nor a builtin the emitter uses"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            text = ast.unparse(node)
            if text not in IMPORTS and not text.startswith("from typing import "):
                return f"unexpected import `{text}`"
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id not in CALLABLE_NAMES | classes:
                return f"unexpected call of `{func.id}`"
            root = _root(func)
            if isinstance(func, ast.Attribute) and isinstance(root, ast.Name) and \
                    root.id not in CALLABLE_ROOTS | classes | values:
                return f"unexpected call `{ast.unparse(func)}`"
        elif isinstance(node, ast.Attribute) and node.attr.startswith("__") and \
                node.attr != "__init__":  # super().__init__()
            return f"unexpected attribute `{node.attr}`"
        elif isinstance(node, ast.Global | ast.Nonlocal | ast.Lambda | ast.Delete | ast.Await):
            return f"unexpected `{type(node).__name__}`"
    return ""


# CPU seconds a case may take: check, summary and compile of the largest spec
# (preact_resnet1001, 3,339 layers) take about 2.5 s, most of it emission, whose
# constructor-argument trials check the spec again (emit/arguments.py); a runaway
# case takes minutes.
TIMEOUT = 5.0


def run_case(path: str, timeout: float = TIMEOUT, build: bool = False,
             seen: Seen | None = None) -> tuple[str, str]:
    """(outcome, detail): outcome is `ok`, `SpecError <code>` or `FAIL <kind>`.

    The time limit is on the CPU time the case uses (so that other work on the
    machine does not make a case look hung), with a wall-clock limit ten times as long.
    With `build`, a valid case is also built, run and scripted, without a time limit
    (`ok (built, scripted)`); given `seen`, only if no case before had its source, and
    scripted only if none had its structure."""
    signal.signal(signal.SIGPROF, _on_alarm)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_PROF, timeout)
    signal.setitimer(signal.ITIMER_REAL, 10 * timeout)
    diagnostics, outcome, detail = [], "ok", ""
    try:
        try:
            arch = archdsl.load(path)
            diagnostics = list(arch.warnings)
            if hasattr(arch, "summary"):
                arch.summary()
            problem = source_problem(arch.source)
            if problem:
                outcome, detail = "FAIL bad source", problem
        except SpecError as exc:
            diagnostics = exc.diagnostics
            outcome = f"SpecError {exc.diagnostics[0].code}"
        for d in diagnostics:
            render_text(d), render_github(d)
        render_json(diagnostics)
    except Hang:
        return "FAIL hang", f"more than {timeout} s of CPU time"
    except RecursionError as exc:
        return "FAIL uncaught RecursionError", "".join(traceback.format_exception(exc)[-6:])
    except Exception as exc:
        return f"FAIL uncaught {type(exc).__name__}", "".join(traceback.format_exception(exc))
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
    for d in diagnostics:
        if d.code == "E0900":
            return "FAIL internal error", d.render()
        problem = span_problem(d)
        if problem:
            return f"FAIL bad span {d.code}", f"{problem}\n{d.render()}"
    if build and outcome == "ok":
        if seen is not None and \
                not seen.first_build(arch.source, arch.graph.shape("<input>").dims):
            return "ok (its source built before)", detail
        script = seen is None or seen.first(arch.source)
        problem = build_problem(arch, script)
        if problem:
            return f"FAIL {problem.split(':')[0]}", problem
        outcome = "ok (built, scripted)" if script else "ok (built; structure scripted before)"
    return outcome, detail


# ------------------------------------------------------------------------ driver


def _bases() -> list[tuple[str, str]]:
    return [(p.stem, p.read_text()) for p in sorted((ROOT / "specs").glob("*.yaml"))]


def _base_of(index: int, bases: list) -> int:
    """Which of `bases` case `index` mutates: every spec in turn."""
    return index % len(bases)


def _case(seed: int, index: int, bases: list[tuple[str, str]]) -> tuple[str, bytes]:
    """Case `index` of `seed`: the name of the spec it mutates, and its text."""
    name, base = bases[_base_of(index, bases)]
    return name, make_case(base, random.Random(f"{seed}-{index}"))


def _worker(args) -> tuple[collections.Counter, list, float]:
    seed, indices, timeout, out_dir, build, seen = args
    bases = _bases()
    seen = Seen(seen)
    outcomes: collections.Counter = collections.Counter()
    failures = []
    slowest = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for other, text in bases:  # beside the case, for `extends:`
            Path(tmp, f"{other}.yaml").write_text(text)
        path = os.path.join(tmp, "fuzz-case.yaml")
        for index in indices:
            name, case = _case(seed, index, bases)
            with open(path, "wb") as f:
                f.write(case)
            began = time.process_time()
            outcome, detail = run_case(path, timeout, build, seen)
            slowest = max(slowest, time.process_time() - began)
            outcomes[outcome] += 1
            if outcome.startswith("FAIL"):
                saved = Path(out_dir) / f"case-{seed}-{index}-{name}.yaml"
                saved.parent.mkdir(parents=True, exist_ok=True)
                saved.write_bytes(case)
                saved.with_suffix(".txt").write_text(f"{outcome}\n{detail}\n")
                failures.append((index, str(saved), outcome))
    return outcomes, failures, slowest


def _show(seed: int, index: int, path: str, outcome: str, build: bool) -> None:
    """A failing case, as text that makes it again."""
    again = f"tools/fuzz.py --seed {seed} --index {index}" + (" --build" if build else "")
    print(f"--- {outcome}: seed {seed}, case {index} (`{again}`), saved as {path}:")
    print(Path(path).read_bytes().decode("utf-8", errors="backslashreplace").rstrip())
    print(Path(path).with_suffix(".txt").read_text().rstrip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--start", type=int, default=0, help="the index of the first case")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--timeout", type=float, default=TIMEOUT,
                        help="CPU seconds a case may take before it counts as a hang")
    parser.add_argument("--out", default="fuzz-failures", help="where failing inputs go")
    parser.add_argument("--build", action="store_true",
                        help="also build each valid case on the meta device, run it and "
                             "script it (imports torch)")
    parser.add_argument("--replay", metavar="FILE", help="run one saved case and show it")
    parser.add_argument("--index", type=int, help="make case INDEX of --seed, show and run it")
    parser.add_argument("--spec", metavar="NAME",
                        help="only the cases of the range that mutate specs/NAME.yaml")
    args = parser.parse_args(argv)
    with fast_meta_batch_norm() if args.build else contextlib.nullcontext():
        return _fuzz(args)


def _fuzz(args: argparse.Namespace) -> int:
    if args.replay or args.index is not None:
        with tempfile.TemporaryDirectory() as folder:
            if args.replay:
                path = args.replay
            else:
                path = os.path.join(folder, "fuzz-case.yaml")
                for other, text in _bases():
                    Path(path).with_name(f"{other}.yaml").write_text(text)
                name, case = _case(args.seed, args.index, _bases())
                Path(path).write_bytes(case)
                print(f"--- case {args.index} of seed {args.seed}, from {name}.yaml:")
                print(case.decode("utf-8", errors="backslashreplace").rstrip(), "---",
                      sep="\n")
            outcome, detail = run_case(path, args.timeout, args.build)
        print(outcome, detail, sep="\n")
        return 1 if outcome.startswith("FAIL") else 0

    names = [name for name, _ in _bases()]
    if args.spec is not None and args.spec not in names:
        print(f"fuzz.py: no spec specs/{args.spec}.yaml", file=sys.stderr)
        return 2
    began = time.perf_counter()
    chunk = 200
    # With --build, fast_meta_batch_norm imported torch once, before the workers fork.
    context = multiprocessing.get_context("fork")
    manager = context.Manager() if args.build else None
    seen = manager.dict() if manager else None  # sources built, structures scripted
    end = args.start + args.cases
    indices = [i for i in range(args.start, end)
               if args.spec is None or names[_base_of(i, names)] == args.spec]
    tasks = [(args.seed, indices[at:at + chunk], args.timeout, args.out, args.build, seen)
             for at in range(0, len(indices), chunk)]
    totals: collections.Counter = collections.Counter()
    failures, slowest = [], 0.0
    # With --build a worker lasts one task: what TorchScript compiles stays in memory.
    with context.Pool(args.jobs, maxtasksperchild=1 if args.build else None) as pool:
        for outcomes, failed, slow in pool.imap_unordered(_worker, tasks):
            totals.update(outcomes)
            failures += failed
            slowest = max(slowest, slow)
            done = sum(totals.values())
            print(f"{done} of {len(indices)} cases, {len(failures)} failures, "
                  f"{time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)
    if manager:
        manager.shutdown()
    wall = time.perf_counter() - began
    failed = sum(n for k, n in totals.items() if k.startswith("FAIL"))
    count = sum(totals.values())
    spec = f"of {args.spec}" if args.spec else f"from {len(names)} specs"
    print(f"{count} cases ({args.start} to {end - 1}) of seed {args.seed} {spec}, "
          f"{args.jobs} jobs, {wall:.0f} s ({count / wall:.0f} cases/s), "
          f"slowest case {slowest:.2f} s of CPU time")
    for outcome, n in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"{n:8d}  {outcome}")
    print(f"{failed} failures" + (f", inputs saved under {args.out}/" if failed else ""))
    failures.sort()
    for index, path, outcome in failures[:3]:
        _show(args.seed, index, path, outcome, args.build)
    for index, path, outcome in failures[3:20]:
        print(f"  {outcome}: seed {args.seed}, case {index}: {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
