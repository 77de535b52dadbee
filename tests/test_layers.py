"""archdsl's modules import one another in one direction only, and in no cycle.

The checker reads every module with `ast` (nothing is imported) and counts every
import statement wherever it stands: at the top, inside a function, under
`if TYPE_CHECKING:`. DESIGN.md, "Dependencies flow one way", says why.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import networkx as nx

PACKAGE = "archdsl"
PACKAGE_DIR = Path(__file__).resolve().parent.parent / PACKAGE

# The units of the package (its top-level modules and subpackages), lowest first.
# A module may import its own unit and the units above it, never one below.
LAYERS: tuple[str, ...] = (
    "version",      # the package's version
    "source",       # source text, spans, positions
    "limits",       # the bounds a spec must stay within
    "optional",     # the features that need torch, and the error without it
    "tensor",       # tensor types: shapes and kinds
    "names",        # identifier rules and the reserved names
    "diagnostics",  # the one Diagnostic type and its rendering
    "zoo",          # the packaged specs, by name and archdsl::NAME
    "lang",         # the spec front end: YAML, grammar, expressions, schema
    "ops",          # op classes: parameters, shape, cost, receptive field, traits
    "graph",        # the IR: nodes, scopes, typed metadata
    "passes",       # lower, analyse and transform the graph
    "construct",    # building the graph from a loaded spec
    "emit",         # op -> PyTorch text, the one namespace of generated names
    "weights",      # state_dict comparison and transfer
    "summary",      # cost and shape tables of a checked graph
    "diff",         # the difference between two architectures
    "runtime",      # executing emitted source into an nn.Module
    "pretrained",   # torchvision's published weights for the specs that are its networks
    "plot",         # charts (matplotlib)
    "api",          # the Python API: load, check, compile_source, build
    "export",       # TorchScript and ONNX files
    "sweep",        # grids of parameter values and their costs
    "report",       # the HTML report: graph views laid out by Graphviz, spec, costs
    "catalog",      # the zoo's table (archdsl list)
    "outputs",      # the files a command writes: refused or written all or nothing
    "commands",     # what each command line verb does
    "cli",          # argument parsing, exit codes
    "__main__",     # `python -m archdsl`
    PACKAGE,        # archdsl/__init__.py, the public names: no module imports it
)


@dataclass(frozen=True)
class Import:
    """One module importing another, at a line of the importer."""

    importer: str
    target: str
    line: int


def read_package(directory: Path = PACKAGE_DIR) -> dict[str, str]:
    """Every module of the package, by dotted name, with its source text."""
    sources = {}
    for path in sorted(directory.rglob("*.py")):
        parts = path.relative_to(directory.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        sources[".".join(parts)] = path.read_text()
    return sources


def is_package(name: str, sources: Mapping[str, str]) -> bool:
    """Whether `name` is a package: the root, or the parent of another module."""
    return name == PACKAGE or any(other.startswith(name + ".") for other in sources)


def is_module(name: str, sources: Mapping[str, str]) -> bool:
    """Whether `name` is a module or a package (namespace packages included)."""
    return name in sources or is_package(name, sources)


def file_of(name: str, sources: Mapping[str, str]) -> str:
    """The module's path as the failure messages give it."""
    path = name.replace(".", "/")
    return f"{path}/__init__.py" if is_package(name, sources) else f"{path}.py"


def unit_of(name: str) -> str:
    """`archdsl.ops.base` is in unit `ops`; the package's own __init__ in unit `archdsl`."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _from_base(name: str, node: ast.ImportFrom, sources: Mapping[str, str]) -> str:
    """The absolute module a `from X import ...` names, relative forms resolved."""
    if not node.level:
        return node.module or ""
    package = name if is_package(name, sources) else name.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _in_package(name: str) -> bool:
    return name == PACKAGE or name.startswith(PACKAGE + ".")


def imports_of(name: str, sources: Mapping[str, str]) -> Iterator[Import]:
    """Every import of a package module in `name`'s source, wherever it stands."""
    for node in ast.walk(ast.parse(sources[name], filename=file_of(name, sources))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _in_package(alias.name):
                    yield Import(name, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = _from_base(name, node, sources)
            if not _in_package(base):
                continue
            for alias in node.names:
                # `from archdsl.lang import expr` imports the module archdsl.lang.expr;
                # `from archdsl.ops import OPS` a name of archdsl/ops/__init__.py.
                submodule = f"{base}.{alias.name}"
                target = submodule if is_module(submodule, sources) else base
                yield Import(name, target, node.lineno)


def all_imports(sources: Mapping[str, str]) -> list[Import]:
    found = {i for name in sources for i in imports_of(name, sources)}
    return sorted(found, key=lambda i: (file_of(i.importer, sources), i.line, i.target))


def layer_violations(sources: Mapping[str, str]) -> list[str]:
    """Each import against LAYERS, and each module whose unit LAYERS does not place."""
    rank = {unit: i for i, unit in enumerate(LAYERS)}
    problems = []
    for name in sorted(sources, key=lambda n: file_of(n, sources)):
        if unit_of(name) not in rank:
            problems.append(f"{file_of(name, sources)}: unit {unit_of(name)} is not in "
                            "LAYERS (tests/test_layers.py); place it in the layer order")
    for imp in all_imports(sources):
        unit, target_unit = unit_of(imp.importer), unit_of(imp.target)
        if unit not in rank:
            continue
        if target_unit not in rank or rank[target_unit] > rank[unit]:
            problems.append(f"{file_of(imp.importer, sources)}:{imp.line}: {unit} imports "
                            f"{target_unit} ({imp.target}), against the layer order")
    return problems


def import_cycles(sources: Mapping[str, str]) -> list[str]:
    """One cycle of each strongly connected group of modules, arrow by arrow."""
    graph = nx.DiGraph()
    graph.add_nodes_from(sorted(sources))
    for imp in all_imports(sources):
        if imp.target in sources and imp.target != imp.importer:
            if not graph.has_edge(imp.importer, imp.target):  # keep the first line
                graph.add_edge(imp.importer, imp.target, line=imp.line)
    problems = []
    groups = [g for g in nx.strongly_connected_components(graph) if len(g) > 1]
    for group in sorted(groups, key=min):
        cycle = nx.find_cycle(graph.subgraph(group), source=min(group))
        chain = " -> ".join([a for a, _ in cycle] + [cycle[0][0]])
        arrows = "".join(f"\n    {file_of(a, sources)}:{graph.edges[a, b]['line']}: "
                         f"{a} imports {b}" for a, b in cycle)
        among = ""
        if len(group) > len(cycle):  # name the rest of the tangle too
            among = f" (one of those among {', '.join(sorted(group))})"
        problems.append(f"import cycle{among}: {chain}{arrows}")
    return problems


def test_imports_follow_the_layer_order_and_form_no_cycle():
    sources = read_package()
    assert f"{PACKAGE}.api" in sources  # the package was found
    problems = layer_violations(sources) + import_cycles(sources)
    assert not problems, "\n".join(problems)


def test_the_checker_reports_what_it_should():
    sources = {
        "archdsl": "from archdsl.api import load\n",
        "archdsl.api": "def load():\n    pass\n",
        "archdsl.ops": "from archdsl.ops.base import Op\n",
        "archdsl.ops.base": "import math\nfrom archdsl.emit import code\n",
        "archdsl.emit.code": "from archdsl.ops import base\nfrom archdsl.lang import expr\n",
        "archdsl.lang.expr": "from ..tensor import TensorType\nfrom .. import ops\n",
        "archdsl.tensor": "class TensorType:\n    pass\n",
        "archdsl.graph": ("from typing import TYPE_CHECKING\n"
                          "if TYPE_CHECKING:\n"
                          "    import archdsl.passes.a\n"),
        "archdsl.passes.a": "from archdsl.passes import b\n",
        "archdsl.passes.b": "def f():\n    from .a import g\n",
        "archdsl.cli": "from archdsl import commands\n\ndef main():\n    import archdsl\n",
        "archdsl.commands": "from archdsl import load\n",
        "archdsl.extra": "x = 1\n",
    }
    assert set(imports_of("archdsl.emit.code", sources)) == {
        Import("archdsl.emit.code", "archdsl.ops.base", 1),
        Import("archdsl.emit.code", "archdsl.lang.expr", 2),
    }
    assert [i.target for i in imports_of("archdsl.lang.expr", sources)] == [
        "archdsl.tensor", "archdsl.ops"]
    assert layer_violations(sources) == [
        "archdsl/extra.py: unit extra is not in LAYERS (tests/test_layers.py); "
        "place it in the layer order",
        "archdsl/cli.py:4: cli imports archdsl (archdsl), against the layer order",
        "archdsl/commands.py:1: commands imports archdsl (archdsl), against the layer order",
        "archdsl/graph.py:3: graph imports passes (archdsl.passes.a), against the layer order",
        "archdsl/lang/expr.py:2: lang imports ops (archdsl.ops), against the layer order",
        "archdsl/ops/base.py:2: ops imports emit (archdsl.emit.code), against the layer order",
    ]
    assert import_cycles(sources) == [
        "import cycle (one of those among archdsl.emit.code, archdsl.lang.expr, archdsl.ops, "
        "archdsl.ops.base): archdsl.emit.code -> archdsl.ops.base -> archdsl.emit.code"
        "\n    archdsl/emit/code.py:1: archdsl.emit.code imports archdsl.ops.base"
        "\n    archdsl/ops/base.py:2: archdsl.ops.base imports archdsl.emit.code",
        "import cycle: archdsl.passes.a -> archdsl.passes.b -> archdsl.passes.a"
        "\n    archdsl/passes/a.py:1: archdsl.passes.a imports archdsl.passes.b"
        "\n    archdsl/passes/b.py:2: archdsl.passes.b imports archdsl.passes.a",
    ]
