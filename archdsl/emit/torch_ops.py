"""The emitter's op table: how each op is written in PyTorch.

Ops (archdsl/ops) know what they compute; this table knows how PyTorch spells
it, the way a renderer owns its op table. Each entry is one small class,
registered for one op class with `@renders`: the module constructor
(`nn.Conv2d(64, 128, 3, …)`), the forward expression of ops written inline
(`torch.cat([a, b], 1)`), and what the emitter needs to know to place them
(in place or not, a helper module to write into the file).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from archdsl.emit import code
from archdsl.emit.helpers import (
    CHANNEL_SHUFFLE_SOURCE,
    CHUNK_SOURCE,
    DROP_PATH_SOURCE,
    JOIN_SOURCE,
)
from archdsl.emit.swin_helpers import PATCH_MERGE_SOURCE, WINDOW_ATTENTION_SOURCE
from archdsl.emit.token_helpers import (
    FROZEN_BATCH_NORM_SOURCE,
    PERMUTE_SOURCE,
    RESHAPE_SOURCE,
    SELECT_SOURCE,
    layer_norm_class,
    layer_norm_source,
)
from archdsl.ops.activation import GELU, Hardsigmoid, Hardswish, ReLU, ReLU6, Sigmoid, SiLU, Tanh
from archdsl.ops.attention import Attention, WindowAttention
from archdsl.ops.base import Op, compact
from archdsl.ops.conv import Conv
from archdsl.ops.dense import ConvTranspose, Crop, FrozenBatchNorm, Resize
from archdsl.ops.layout import (
    ChannelShuffle,
    Chunk,
    PatchMerge,
    Permute,
    Reshape,
    Select,
    Transpose,
)
from archdsl.ops.learned import ClassToken, PositionEmbedding, Scale
from archdsl.ops.linear import Linear
from archdsl.ops.merge import Add, Concat, Mean, Mul
from archdsl.ops.norm import BatchNorm, GroupNorm, LayerNorm, LocalResponseNorm
from archdsl.ops.pool import AdaptiveAvgPool, AvgPool, MaxPool
from archdsl.ops.stochastic import DropPath, Join
from archdsl.ops.structure import Dropout, Flatten, Identity, PadChannels
from archdsl.tensor import TensorType

Types = Sequence[TensorType]


class Rendering:
    """How the ops of one class are written in PyTorch. Override `module`, `expression`
    or both."""

    # Outside nn.Sequential, written as an expression (torch.flatten(x, 1)), not a submodule.
    functional: ClassVar[bool] = False
    # May run in place on its input when nothing else reads that input (nn.ReLU(inplace=True)).
    can_run_inplace: ClassVar[bool] = False
    # Its backward reads its output, so nothing may overwrite that output in place.
    saves_output: ClassVar[bool] = False
    # Its output may be its input's memory (identity, a view): overwriting the output
    # overwrites the input, so whoever would run in place over it asks the input too.
    aliases_input: ClassVar[bool] = False
    # Its output may be a view of a tensor (a permute, a reshape, LayerNorm2d's last
    # permute). TorchScript's autodiff refuses to write in place into a view made inside
    # a differentiable graph ("a view of a leaf Variable that requires grad is being
    # used in an in-place operation"), so nothing runs in place over it.
    returns_view: ClassVar[bool] = False
    # Of two inputs, may accumulate into the first when it is dead: `out += identity`.
    accumulates: ClassVar[bool] = False
    # Python source of a helper nn.Module the generated file needs (written once per file),
    # and the name of the class it defines.
    support: ClassVar[str] = ""
    support_class: ClassVar[str] = ""

    def module(self, op: Op, inputs: Types, output: TensorType,
               inplace: bool = False) -> code.Call:
        """The constructor, e.g. Call('nn.ReLU', kwargs=(('inplace', True),))."""
        raise NotImplementedError(f"op `{op.name}` has no module form")

    def expression(self, op: Op, args: Sequence[object], inputs: Types,
                   output: TensorType) -> object:
        """The forward expression over the inputs' code nodes."""
        raise NotImplementedError(f"op `{op.name}` has no expression form")

    def apply(self, op: Op, member: code.Attr, args: Sequence[object], inputs: Types,
              output: TensorType) -> object:
        """The forward expression of the op as a member of a class: `self.conv1(x)`, or
        over a list of inputs for a module that merges several."""
        return code.Call(member, (code.ListOf(tuple(args)),) if op.max_inputs != 1
                         else tuple(args))

    def helper(self, op: Op, inputs: Types) -> tuple[str, str] | None:
        """The helper module this use of the op needs, as (class name, source), if any."""
        return (self.support_class, self.support) if self.support else None

    def helper_classes(self) -> tuple[str, ...]:
        """Every class name `helper` can give: the file's namespace keeps them."""
        return (self.support_class,) if self.support_class else ()

    def network_code(self, ops: list[Op]) -> tuple[list[str], list[str]] | None:
        """Code the whole network needs for these ops (all of one class): lines at the
        start of its forward, and methods of its class. None: nothing."""
        return None

    @property
    def has_module(self) -> bool:
        """Whether the op can be a submodule (every op but the pure merges)."""
        return type(self).module is not Rendering.module


RENDERINGS: dict[type[Op], Rendering] = {}


def renders(op_class: type[Op]):
    """Class decorator: the Rendering of `op_class`, registered once."""

    def register(cls: type[Rendering]) -> type[Rendering]:
        if op_class in RENDERINGS:
            raise ValueError(f"op `{op_class.name}` is rendered twice")
        RENDERINGS[op_class] = cls()
        return cls

    return register


def rendering(op: Op) -> Rendering:
    """The Rendering of `op`'s class (or of the nearest base class that has one)."""
    for cls in type(op).__mro__:
        if cls in RENDERINGS:
            return RENDERINGS[cls]
    raise LookupError(f"op `{op.name}` ({type(op).__qualname__}) has no PyTorch rendering")


# ---------------------------------------------------------------------- layers with weights

CONV2D_DEFAULTS = (("stride", 1), ("padding", 0), ("dilation", 1), ("groups", 1),
                   ("bias", True))


@renders(Conv)
class _Conv(Rendering):
    def module(self, op, inputs, output, inplace=False):
        rank = inputs[0].rank - 1
        padding = "same" if op.p.pad == "same" else compact(op.padding(rank))
        return code.Call(
            f"nn.Conv{rank}d", (inputs[0].channels, op.p.out, compact(op.kernel(rank))),
            (("stride", compact(op.stride(rank))), ("padding", padding),
             ("dilation", compact(op.dilation(rank))), ("groups", op.p.groups),
             ("bias", op.p.bias)),
            ("in_channels", "out_channels", "kernel_size"), CONV2D_DEFAULTS)


@renders(Linear)
class _Linear(Rendering):
    def module(self, op, inputs, output, inplace=False):
        return code.Call("nn.Linear", (inputs[0].channels, op.p.out), (("bias", op.p.bias),),
                         ("in_features", "out_features"), (("bias", True),))


@renders(BatchNorm)
class _BatchNorm(Rendering):
    def module(self, op, inputs, output, inplace=False):
        ctor = f"nn.BatchNorm{max(inputs[0].rank - 1, 1)}d"
        return code.Call(ctor, (inputs[0].channels,),
                         (("eps", op.p.eps), ("momentum", op.p.momentum)),
                         ("num_features",), (("eps", 1e-5), ("momentum", 0.1)))


@renders(LocalResponseNorm)
class _LocalResponseNorm(Rendering):
    def module(self, op, inputs, output, inplace=False):
        return code.Call("nn.LocalResponseNorm", (op.p.size,),
                         (("alpha", op.p.alpha), ("beta", op.p.beta), ("k", op.p.k)),
                         ("size",), (("alpha", 1e-4), ("beta", 0.75), ("k", 1.0)))


# ---------------------------------------------------------------------- activations


class _InplaceActivation(Rendering):
    """`ctor(inplace=…)`: an activation the emitter runs in place where nothing else
    reads its input."""

    can_run_inplace = True
    ctor: ClassVar[str]

    def module(self, op, inputs, output, inplace=False):
        return code.Call(self.ctor, (), (("inplace", inplace),), (), (("inplace", False),))


@renders(ReLU)
class _ReLU(_InplaceActivation):
    ctor = "nn.ReLU"
    saves_output = True


@renders(Tanh)
class _Tanh(Rendering):
    saves_output = True

    def module(self, op, inputs, output, inplace=False):
        return code.Call("nn.Tanh")


@renders(Sigmoid)
class _Sigmoid(Rendering):
    saves_output = True

    def module(self, op, inputs, output, inplace=False):
        return code.Call("nn.Sigmoid")


# ---------------------------------------------------------------------- pooling


def _pool(op, x: TensorType, kind: str, *extra: tuple[str, object]) -> code.Call:
    rank = x.rank - 1
    return code.Call(f"nn.{kind}{rank}d", (), (("kernel_size", compact(op.kernel(rank))),
                                               ("stride", compact(op.stride(rank))),
                                               ("padding", compact(op.padding(rank))),
                                               ("ceil_mode", op.p.ceil)) + extra,
                     (), (("padding", 0), ("ceil_mode", False), ("count_include_pad", True),
                          ("dilation", 1)))


@renders(MaxPool)
class _MaxPool(Rendering):
    def module(self, op, inputs, output, inplace=False):
        return _pool(op, inputs[0], "MaxPool",
                     ("dilation", compact(op.dilation(inputs[0].rank - 1))))


@renders(AvgPool)
class _AvgPool(Rendering):
    def module(self, op, inputs, output, inplace=False):
        return _pool(op, inputs[0], "AvgPool", ("count_include_pad", op.p.count_include_pad))


@renders(AdaptiveAvgPool)
class _AdaptiveAvgPool(Rendering):
    def module(self, op, inputs, output, inplace=False):
        rank = inputs[0].rank - 1
        size = op.size(rank)
        return code.Call(f"nn.AdaptiveAvgPool{rank}d", (size[0] if rank == 1 else size,),
                         (), ("output_size",))


# ---------------------------------------------------------------------- merges


@renders(Add)
class _Add(Rendering):
    functional = True
    accumulates = True

    def expression(self, op, args, inputs, output):
        return code.Sum(tuple(args))


@renders(Concat)
class _Concat(Rendering):
    functional = True

    def expression(self, op, args, inputs, output):
        return code.Call("torch.cat", (code.ListOf(tuple(args)), -1 if output.features_last
                                       else 1))


@renders(Mean)
class _Mean(Rendering):
    functional = True

    def expression(self, op, args, inputs, output):
        return code.Call("torch.mean", (code.Call("torch.stack", (code.ListOf(tuple(args)),)),
                                        0))


# ---------------------------------------------------------------------- structure


@renders(Flatten)
class _Flatten(Rendering):
    functional = True
    aliases_input = True  # a view
    returns_view = True

    def module(self, op, inputs, output, inplace=False):
        return code.Call("nn.Flatten", (op.p.start, op.p.end), (), ("start_dim", "end_dim"),
                         ()) if (op.p.start, op.p.end) != (1, -1) else code.Call("nn.Flatten")

    def expression(self, op, args, inputs, output):
        end = () if op.p.end == -1 else (op.p.end,)
        return code.Call("torch.flatten", (args[0], op.p.start) + end)


@renders(Identity)
class _Identity(Rendering):
    functional = True
    aliases_input = True

    def module(self, op, inputs, output, inplace=False):
        return code.Call("nn.Identity")

    def expression(self, op, args, inputs, output):
        return args[0]


@renders(Dropout)
class _Dropout(Rendering):
    aliases_input = True  # in eval mode it returns its input
    def module(self, op, inputs, output, inplace=False):
        return code.Call("nn.Dropout", (), (("p", op.p.p),))


@renders(PadChannels)
class _PadChannels(Rendering):
    def module(self, op, inputs, output, inplace=False):
        # On (N, C, H, W), a 3-D pad's front/back pair pads C.
        extra = op.p.out - inputs[0].channels
        return code.Call("nn.ConstantPad3d", ((0, 0, 0, 0, 0, extra), 0.0), (),
                         ("padding", "value"))


# ---------------------------------------------------------------------- random paths


@renders(DropPath)
class _DropPath(Rendering):
    aliases_input = True  # in eval mode with rescale='train' it returns its input
    support, support_class = DROP_PATH_SOURCE, "DropPath"

    def module(self, op, inputs, output, inplace=False):
        return code.Call("DropPath", (op.p.survival,),
                         (("mode", op.p.mode), ("rescale", op.p.rescale)), ("survival",),
                         (("mode", "batch"), ("rescale", "test")))


@renders(Join)
class _Join(Rendering):
    support, support_class = JOIN_SOURCE, "Join"

    def module(self, op, inputs, output, inplace=False):
        return code.Call("Join", (), (("drop", op.p.drop), ("column", op.p.column)), (),
                         (("drop", 0.0), ("column", 0)))

    def network_code(self, ops):
        """Lines for the network's forward, and its methods: the per-batch choice of
        one column that global drop-path makes (50% of batches in the paper), drawn as
        a tensor and written into every join, so that the step stays one graph."""
        scheme = {(op.p.columns, op.p.global_rate) for op in ops if op.p.column}
        if not scheme:
            return None
        if len(scheme) > 1:
            raise ValueError(f"joins disagree on (columns, global_rate): {sorted(scheme)}")
        (columns, rate), = scheme
        prologue = ["if self.training:",
                    "    self.choose_column(x.device)"]
        method = [
            "def choose_column(self, device: torch.device) -> None:",
            '    """Global drop-path (FractalNet): some batches run one column only; 0: none."""',
            f"    column = torch.randint(1, {int(columns) + 1}, (), device=device)",
            f"    column = column * (torch.rand((), device=device) < {float(rate)!r})",
            "    for module in self.modules():",
            "        if isinstance(module, Join):",
            "            module.chosen.copy_(column)",
        ]
        return prologue, method


# ---------------------------------------------------------------------- modern activations
#
# torchvision runs these in place (Conv2dNormActivation passes inplace=True); the emitter
# decides per use. None of them saves its output for backward: relu6 (hardtanh), silu,
# hardswish and hardsigmoid save their input, and their in-place forms save a copy of the
# input before overwriting it, so an op after them may overwrite their output
# (tests/test_ops.py reads what autograd saves).


@renders(ReLU6)
class _ReLU6(_InplaceActivation):
    ctor = "nn.ReLU6"


@renders(SiLU)
class _SiLU(_InplaceActivation):
    ctor = "nn.SiLU"


@renders(Hardswish)
class _Hardswish(_InplaceActivation):
    ctor = "nn.Hardswish"


@renders(Hardsigmoid)
class _Hardsigmoid(_InplaceActivation):
    ctor = "nn.Hardsigmoid"


@renders(GELU)
class _GELU(Rendering):
    def module(self, op, inputs, output, inplace=False):
        return code.Call("nn.GELU", (), (("approximate", op.p.approximate),), (),
                         (("approximate", "none"),))


# ---------------------------------------------------------------------- broadcasting product


@renders(Mul)
class _Mul(Rendering):
    # Never `out *= x`: the body's output is a (C, 1, 1) gate that cannot hold the
    # product, and mul's backward reads both inputs.
    functional = True

    def expression(self, op, args, inputs, output):
        product = args[0]
        for arg in args[1:]:
            product = code.Call("torch.mul", (product, arg))
        return product


# ---------------------------------------------------------------------- channel layout
#
# Modules, not forward expressions: their arguments then become constructor arguments
# that differ between the instances of one block class, as a conv's do (a class's forward
# is written from its first instance, so an argument in an expression would be that
# instance's for all). Their outputs may share memory with their inputs (a chunk is a
# view; a shuffle with one group, or one channel per group, returns its input).


@renders(Chunk)
class _Chunk(Rendering):
    support, support_class = CHUNK_SOURCE, "Chunk"
    aliases_input = True
    returns_view = True

    def module(self, op, inputs, output, inplace=False):
        return code.Call("Chunk", (op.p.chunks, op.p.index), (), ("chunks", "index"))


@renders(ChannelShuffle)
class _ChannelShuffle(Rendering):
    support, support_class = CHANNEL_SHUFFLE_SOURCE, "ChannelShuffle"
    aliases_input = True
    returns_view = True

    def module(self, op, inputs, output, inplace=False):
        return code.Call("ChannelShuffle", (op.p.groups,), (), ("groups",))


# ---------------------------------------------------------------------- dims
#
# Expressions inside a generated class; in an nn.Sequential, a helper module each.
# Every output is a view of its input where torch can make one.


@renders(Permute)
class _Permute(Rendering):
    functional = True
    aliases_input = True
    returns_view = True
    support, support_class = PERMUTE_SOURCE, "Permute"

    def dims(self, op, inputs) -> tuple[int, ...]:
        return op.p.dims

    def module(self, op, inputs, output, inplace=False):
        return code.Call("Permute", (code.ListOf(self.dims(op, inputs)),), (), ("dims",))

    def expression(self, op, args, inputs, output):
        return code.Call("torch.permute", (args[0], code.ListOf(self.dims(op, inputs))))


@renders(Transpose)
class _Transpose(_Permute):
    def dims(self, op, inputs):
        return op.order(inputs[0])

    def expression(self, op, args, inputs, output):
        return code.Call("torch.transpose", (args[0], op.p.dim0, op.p.dim1))


@renders(Reshape)
class _Reshape(Rendering):
    functional = True
    aliases_input = True
    returns_view = True
    support, support_class = RESHAPE_SOURCE, "Reshape"

    def module(self, op, inputs, output, inplace=False):
        return code.Call("Reshape", (code.ListOf(op.p.shape),), (), ("shape",))

    def expression(self, op, args, inputs, output):
        return code.Call("torch.unflatten", (code.Call("torch.flatten", (args[0], 1)), 1,
                                             code.ListOf(op.p.shape)))


@renders(Select)
class _Select(Rendering):
    functional = True
    aliases_input = True
    returns_view = True
    support, support_class = SELECT_SOURCE, "Select"

    def module(self, op, inputs, output, inplace=False):
        return code.Call("Select", (op.p.dim, op.p.index), (), ("dim", "index"))

    def expression(self, op, args, inputs, output):
        return code.Call("torch.select", (args[0], op.p.dim, op.p.index))


# ---------------------------------------------------------------------- normalisation


@renders(LayerNorm)
class _LayerNorm(Rendering):
    returns_view = True

    def module(self, op, inputs, output, inplace=False):
        x = inputs[0]
        ctor = layer_norm_class(x.rank - 1) if x.is_map else "nn.LayerNorm"
        return code.Call(ctor, (x.channels,), (("eps", op.p.eps),
                                               ("elementwise_affine", op.p.affine)),
                         ("normalized_shape",), (("eps", 1e-5), ("elementwise_affine", True)))

    def helper(self, op, inputs):
        x = inputs[0]
        return (layer_norm_class(x.rank - 1), layer_norm_source(x.rank - 1)) if x.is_map \
            else None

    def helper_classes(self):
        return tuple(layer_norm_class(spatial) for spatial in (1, 2, 3))


@renders(GroupNorm)
class _GroupNorm(Rendering):
    def module(self, op, inputs, output, inplace=False):
        return code.Call("nn.GroupNorm", (op.p.groups, inputs[0].channels),
                         (("eps", op.p.eps), ("affine", op.p.affine)),
                         ("num_groups", "num_channels"), (("eps", 1e-5), ("affine", True)))


# ---------------------------------------------------------------------- learnable tensors
#
# The member is the tensor itself (`self.layer_scale = nn.Parameter(...)`), started
# from the value the op states; the forward uses it where the op says.


@renders(Scale)
class _Scale(Rendering):
    def module(self, op, inputs, output, inplace=False):
        return code.Call("nn.Parameter", (code.Call("torch.full", (
            code.TupleOf(op.shape(inputs[0])), op.p.init)),))

    def apply(self, op, member, args, inputs, output):
        return code.Call("torch.mul", (member, args[0]))


@renders(ClassToken)
class _ClassToken(Rendering):
    def module(self, op, inputs, output, inplace=False):
        return code.Call("nn.Parameter", (code.Call("torch.zeros", (1, 1,
                                                                    inputs[0].channels)),))

    def apply(self, op, member, args, inputs, output):
        # One token per sample, before the sequence: torch.cat([token, x], 1).
        token = code.Method(member, "expand", (code.Method(args[0], "size", (0,)), -1, -1))
        return code.Call("torch.cat", (code.ListOf((token, args[0])), 1))


@renders(PositionEmbedding)
class _PositionEmbedding(Rendering):
    def module(self, op, inputs, output, inplace=False):
        tensor = code.Call("torch.empty", (1, *inputs[0].dims))
        return code.Call("nn.Parameter", (code.Method(tensor, "normal_", (),
                                                      (("std", op.p.std),)),))

    def apply(self, op, member, args, inputs, output):
        return code.Sum((args[0], member))


# ---------------------------------------------------------------------- attention


@renders(Attention)
class _Attention(Rendering):
    def module(self, op, inputs, output, inplace=False):
        return code.Call("nn.MultiheadAttention", (inputs[0].channels, op.p.heads),
                         (("dropout", op.p.dropout), ("batch_first", True)),
                         ("embed_dim", "num_heads"), (("dropout", 0.0),))

    def apply(self, op, member, args, inputs, output):
        # Self-attention: the sequence is query, key and value; the weights are not kept.
        x = args[0]
        return code.Index(code.Call(member, (x, x, x), (("need_weights", False),)), 0)


@renders(WindowAttention)
class _WindowAttention(Rendering):
    # Its forward ends in a crop to the unpadded size: where the crop cuts nothing, the
    # output is that view (`.contiguous()` of a contiguous view is the view).
    returns_view = True
    support, support_class = WINDOW_ATTENTION_SOURCE, "ShiftedWindowAttention"

    def module(self, op, inputs, output, inplace=False):
        return code.Call("ShiftedWindowAttention",
                         (inputs[0].channels, op.p.window, op.p.shift, op.p.heads),
                         (("dropout", op.p.dropout),
                          ("attention_dropout", op.p.attention_dropout)),
                         ("dim", "window", "shift", "heads"),
                         (("dropout", 0.0), ("attention_dropout", 0.0)))


@renders(PatchMerge)
class _PatchMerge(Rendering):
    support, support_class = PATCH_MERGE_SOURCE, "PatchMerge"
    # A copy in a new order: nothing of the input survives in its output.

    def module(self, op, inputs, output, inplace=False):
        return code.Call("PatchMerge")


# ---------------------------------------------------------------------- dense prediction


@renders(ConvTranspose)
class _ConvTranspose(Rendering):
    def module(self, op, inputs, output, inplace=False):
        rank = inputs[0].rank - 1
        kernel, stride, pad, output_pad = (compact(v) for v in op.sizes(rank))
        return code.Call(
            f"nn.ConvTranspose{rank}d", (inputs[0].channels, op.p.out, kernel),
            (("stride", stride), ("padding", pad), ("output_padding", output_pad),
             ("groups", op.p.groups), ("bias", op.p.bias)),
            ("in_channels", "out_channels", "kernel_size"),
            (("stride", 1), ("padding", 0), ("output_padding", 0), ("groups", 1),
             ("bias", True)))


@renders(Resize)
class _Resize(Rendering):
    functional = True  # a second input gives only its size: written as an expression

    def _options(self, op, output):
        size = output.spatial
        return (("size", size[0] if len(size) == 1 else size), ("mode", op.p.mode),
                ("align_corners", op.p.align_corners))

    def module(self, op, inputs, output, inplace=False):
        return code.Call("nn.Upsample", (), self._options(op, output), (),
                         (("mode", "nearest"), ("align_corners", None)))

    def expression(self, op, args, inputs, output):
        return code.Call("nn.functional.interpolate", (args[0],), self._options(op, output),
                         (), (("mode", "nearest"), ("align_corners", None)))


@renders(Crop)
class _Crop(Rendering):
    functional = True
    aliases_input = True  # a view of the first input
    returns_view = True

    def expression(self, op, args, inputs, output):
        starts = op.offsets(inputs)
        return code.Slices(args[0], tuple((a, a + n) for a, n in zip(starts, output.spatial)))


@renders(FrozenBatchNorm)
class _FrozenBatchNorm(Rendering):
    support, support_class = FROZEN_BATCH_NORM_SOURCE, "FrozenBatchNorm2d"

    def module(self, op, inputs, output, inplace=False):
        return code.Call("FrozenBatchNorm2d", (inputs[0].channels,), (("eps", op.p.eps),),
                         ("num_features",), (("eps", 1e-5),))
