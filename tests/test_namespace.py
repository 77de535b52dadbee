"""One namespace for generated names: a spec name never breaks the generated file.

Each case gives one name of a small network (a block, a layer, the outputs type
or an outputs field) a value that collides with something the generated file
uses: a helper class, a generated method, an import, a builtin, the network's
own class. Either `archdsl.load` refuses it with a located E0210/E0306, or the
generated module builds, runs in training and eval mode, and scripts.
"""

from __future__ import annotations

import pytest
import torch

import archdsl
from archdsl.diagnostics import SpecError
from archdsl.emit.torch_ops import RENDERINGS
from archdsl.emit.torch_source import IMPORTED, file_names
from archdsl.graph import Graph
from archdsl.names import NETWORK_METHODS, RESERVED, Namespace
from archdsl.tensor import TensorType

SPEC = """\
archdsl: 1
name: tiny
input: [3, 16, 16]
blocks:
  head:
    body: [gap, flatten, {{fc: linear(4)}}]
  {block}:
    body: [conv(8, 3), relu]
network:
  - c1: conv(8, 3)
  - {block}
  - aux1: {{auxiliary: head}}
  - {layer}: conv(8, 3)
  - drop: {{residual: {{body: [conv(8, 3)], drop_path: 0.8}}}}
  - gap
  - flatten
  - fc: linear(10)
outputs:
  name: {outputs}
  fields: {{{field}: network, aux: aux1}}
"""
DEFAULTS = {"block": "blk", "layer": "l1", "outputs": "NetOutputs", "field": "logits"}

# (which name, its value, None if it builds or the diagnostic's code)
CASES = [
    ("block", "tiny", None),  # the block's class would be the network's: it is `Tiny2`
    ("block", "train", None),  # an nn.Module method, as an unnamed member: `train_1`
    ("block", "eager_outputs", None),  # a generated method, as an unnamed member
    ("block", "init_weights", None),
    ("block", "tensor", None),  # class `Tensor`, the imported type: `Tensor2`
    ("block", "net_outputs", None),  # class `NetOutputs`, the outputs type: renamed
    ("block", "drop_path", "E0210"),  # an op's name
    ("layer", "eager_outputs", "E0210"),  # a method of the network's class
    ("layer", "init_weights", "E0210"),
    ("layer", "choose_column", "E0210"),
    ("layer", "torch", None),  # an attribute `self.torch` shadows nothing
    ("layer", "Tensor", None),
    ("layer", "x", None),
    ("layer", "len", None),
    ("outputs", "Tensor", "E0210"),
    ("outputs", "super", "E0210"),
    ("outputs", "Tiny", "E0210"),  # the network's class
    ("outputs", "DropPath", None),  # a helper class of the file: the type is `DropPath2`
    ("outputs", "NamedTuple", None),
    ("outputs", "Head", None),  # a block's class: the block's class is renamed
    ("field", "torch", None),
    ("field", "Tensor", None),
    ("field", "super", None),
    ("field", "count", None),
    ("field", "_x", "E0210"),
]


def _spec(tmp_path, which: str, value: str):
    names = dict(DEFAULTS, **{which: value})
    path = tmp_path / "tiny.yaml"
    path.write_text(SPEC.format(**names))
    return path


@pytest.mark.parametrize("which,value,code", CASES, ids=[f"{w}={v}" for w, v, _ in CASES])
def test_a_colliding_name_is_refused_or_builds(tmp_path, which, value, code):
    path = _spec(tmp_path, which, value)
    if code is not None:
        with pytest.raises(SpecError) as caught:
            archdsl.load(path)
        (diagnostic,) = caught.value.diagnostics
        assert diagnostic.code == code
        assert diagnostic.span is not None and diagnostic.span.line > 1
        return
    model = archdsl.build(path)
    x = torch.randn(2, 3, 16, 16)
    out = model.train()(x)
    assert tuple(out.logits.shape if which != "field" else out[0].shape) == (2, 10)
    assert tuple(model.eval()(x).shape) == (2, 10)
    scripted = torch.jit.script(model)
    assert tuple(scripted(x)[0].shape) == (2, 10)


def test_generated_names_step_around_what_the_file_uses(tmp_path):
    source = archdsl.compile_source(_spec(tmp_path, "block", "tensor"))
    assert "class Tensor2(nn.Sequential):" in source and "class Tensor(" not in source
    source = archdsl.compile_source(_spec(tmp_path, "block", "tiny"))
    assert "class Tiny(nn.Module):" in source and "class Tiny2(nn.Sequential):" in source
    assert source.index("class Tiny2(") < source.index("class Tiny(")  # blocks first
    source = archdsl.compile_source(_spec(tmp_path, "outputs", "DropPath"))
    assert "class DropPath2(NamedTuple):" in source
    source = archdsl.compile_source(_spec(tmp_path, "block", "init_weights"))
    assert "self.init_weights_1 = InitWeights()" in source


def test_the_file_namespace_holds_imports_helpers_and_python():
    graph = Graph("net", TensorType((3, 8, 8)))
    module = file_names(graph).module
    for name in ["torch", "nn", "Tensor", "len", "class", "self", "x", *IMPORTED,
                 *(n for r in RENDERINGS.values() for n in r.helper_classes())]:
        assert name in module, name
    assert "Net" not in module  # free for the network's class, named first


def test_namespace_creates_fresh_names_and_respects_its_parent():
    module = Namespace(RESERVED)
    assert module.create("Block", "", 2) == "Block"
    assert module.create("Block", "", 2) == "Block2"
    assert module.claim("Block3") and module.create("Block", "", 2) == "Block4"
    params = Namespace(RESERVED, parent=module)
    assert "Block" in params and "len" in params and "width" not in params
    assert params.create("len") == "len_2"
    assert params.create("w", avoid={"w"}) == "w_2"
    params.release("len_2")
    assert params.claim("len_2")
    assert NETWORK_METHODS >= {"init_weights", "eager_outputs", "choose_column"}
