"""The generated `init_weights` method: the spec's `init` rules as PyTorch code."""

from __future__ import annotations

from archdsl.emit import code
from archdsl.emit.torch_ops import rendering
from archdsl.graph import Graph
from archdsl.lang.init import InitCall
from archdsl.passes.init_rules import matches, parameters, selects

INDENT = "    "


def _modules_of(graph: Graph, nodes: list) -> list[str]:
    classes = []
    for node in nodes:
        inputs = [graph.shape(s) for s in graph.inputs(node.name)]
        func = rendering(node.op).module(node.op, inputs, node.shape).func
        if func not in classes:
            classes.append(func)
    return classes


def _init_line(call: InitCall, tensor: str) -> code.Call:
    return code.Call(f"nn.init.{call.function}", (code.Var(tensor),), call.arguments, (),
                     call.defaults)


def init_method(graph: Graph) -> list[str]:
    """The lines of `init_weights`, or [] when the spec has no init rules that apply.

    Each rule tests the module's class (the classes of the layers it selects) as well
    as its name, so that a name glob never meets a module without the tensor (a ReLU).
    The class test also meets the projections inside attention modules (nn.Linear, with
    biases), as torchvision's initialisation loops do."""
    blocks: list[list[str]] = []
    uses_names = False
    for rule in graph.init_rules:
        nodes = matches(graph, rule)
        if not nodes:
            continue
        classes = _modules_of(graph, nodes)
        kinds = classes[0] if len(classes) == 1 else f"({', '.join(classes)})"
        tests = [f"isinstance(module, {kinds})"]
        if rule.name is not None:
            uses_names = True
            tests.append(f"fnmatchcase(name, {code.literal(rule.name)})")
        # Every layer of those ops that the test meets, a batch norm without affine too.
        ops = {node.op.name for node in nodes}
        met = [node for node in selects(graph, rule) if node.op.name in ops]
        body = []
        for attribute, call in rule.calls():
            line = code.render(_init_line(call, f"module.{attribute}"))
            if not all(attribute in parameters(graph, n) for n in met):
                body += [f"if module.{attribute} is not None:", f"{INDENT}{line}"]
            else:
                body.append(line)
        if body:
            test = f"if {' and '.join(tests)}:"
            comment = f"# {code.origin(rule.span)}"
            # At three indents: the comment ends the line where it fits, else goes above,
            # and a test too long for a line is one line per condition.
            if len(INDENT * 3 + test + comment) + 2 <= code.MAX_LINE:
                head = [f"{test}  {comment}"]
            elif len(INDENT * 3 + test) <= code.MAX_LINE or len(tests) == 1:
                head = [comment, test]
            else:
                head = [comment, f"if ({tests[0]}"] + \
                    [f"{INDENT * 2}and {t}" for t in tests[1:-1]] + \
                    [f"{INDENT * 2}and {tests[-1]}):"]
            blocks.append(head + [INDENT + line for line in body])
    if not blocks:
        return []
    loop = "for name, module in self.named_modules():" if uses_names else \
        "for module in self.modules():"
    lines = ["", f"{INDENT}def init_weights(self) -> None:",
             f'{INDENT * 2}"""Initialise the weights by the spec\'s `init` rules, in order."""',
             f"{INDENT * 2}{loop}"]
    for block in blocks:
        lines += [INDENT * 3 + line for line in block]
    return lines
