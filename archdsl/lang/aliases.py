"""What other frameworks call archdsl's ops, for the "did you mean" of an unknown name.

`batchnorm` is far from `bn` by edit distance, but a user coming from PyTorch
writes it first. The table is data: the front end knows op names only as the
strings its caller passes in, and suggests an alias's op only where that op is
one of them (tests/test_expressions.py checks every target is a registered op).
"""

from __future__ import annotations

from collections.abc import Collection

# op -> the names it goes by elsewhere (torch.nn's classes, functional names, Keras's)
ALIASES: dict[str, tuple[str, ...]] = {
    "bn": ("batchnorm", "batch_norm", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d",
           "BatchNormalization"),
    "conv": ("conv1d", "conv2d", "conv3d", "Conv1d", "Conv2d", "Conv3d", "convolution"),
    "relu": ("ReLU",),
    "linear": ("Linear", "fc", "dense", "Dense"),
    "maxpool": ("maxpool1d", "maxpool2d", "maxpool3d", "max_pool", "max_pool2d",
                "MaxPool1d", "MaxPool2d", "MaxPool3d", "MaxPooling2D"),
    "avgpool": ("avgpool1d", "avgpool2d", "avgpool3d", "avg_pool", "avg_pool2d",
                "AvgPool1d", "AvgPool2d", "AvgPool3d", "AveragePooling2D"),
    "adaptive_avgpool": ("adaptive_avg_pool2d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d",
                         "AdaptiveAvgPool3d"),
    "gap": ("global_avgpool", "global_avg_pool", "GlobalAvgPool", "GlobalAvgPool2d",
            "GlobalAveragePooling2D"),
    "dropout": ("Dropout",),
    "identity": ("Identity",),
    "concat": ("cat", "concatenate", "Concatenate"),
    "flatten": ("Flatten",),
    "tanh": ("Tanh",),
    "sigmoid": ("Sigmoid",),
    "lrn": ("LocalResponseNorm", "local_response_norm"),
}


def _key(name: str) -> str:
    """Case and underscores do not tell aliases apart: `BatchNorm2d`, `batch_norm2d`."""
    return name.lower().replace("_", "")


_OP_OF = {_key(alias): op for op, aliases in ALIASES.items() for alias in aliases}


def alias_of(name: str, ops: Collection[str]) -> str | None:
    """The op among `ops` that `name` is another framework's name for, or a different
    spelling of (`ReLU`, `Max_Pool`); None if there is none."""
    op = _OP_OF.get(_key(name))
    if op in ops:
        return op
    spelled = [op for op in ops if _key(op) == _key(name)]
    return spelled[0] if len(spelled) == 1 else None
