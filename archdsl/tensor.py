"""The static type of a tensor: its shape for one sample (the batch is implicit)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class TensorType:
    """Shape without the batch dimension: (C, H, W) for a feature map, (F,) for a vector."""

    dims: tuple[int, ...]

    @property
    def rank(self) -> int:
        return len(self.dims)

    @property
    def channels(self) -> int:
        return self.dims[0]

    @property
    def spatial(self) -> tuple[int, ...]:
        return self.dims[1:]

    @property
    def numel(self) -> int:
        return math.prod(self.dims)

    def with_channels(self, channels: int) -> TensorType:
        return TensorType((channels,) + self.dims[1:])

    def __str__(self) -> str:
        return "(" + ", ".join(str(d) for d in self.dims) + ")"

    def batched(self, batch: str = "N") -> str:
        """`(N, C, H, W)`: how shape comments in generated code show it."""
        return "(" + ", ".join([batch] + [str(d) for d in self.dims]) + ")"
