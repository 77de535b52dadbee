"""The static type of a tensor: its shape for one sample (the batch is implicit).

Two kinds of tensor flow through a network, and ops say which they take:

- a feature map, channels first: (C, *spatial) — (C, H, W) after a 2-d conv,
  (C, L) after flattening the spatial dims; a (F,) vector is a map with no
  spatial dims;
- a features-last tensor: (*positions, D) — a (L, D) token sequence, or a
  (H, W, C) channels-last map after `permute(0, 2, 3, 1)`.

`linear` and `layer_norm` act on the last dimension of a features-last tensor (as
nn.Linear does); conv and pooling act on the spatial dims of a feature map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class TensorType:
    """Shape without the batch dimension, and where its features (channels) are."""

    dims: tuple[int, ...]
    features_last: bool = False  # (…, D) rather than (C, …); a vector is either

    @property
    def rank(self) -> int:
        return len(self.dims)

    @property
    def channel_axis(self) -> int:
        """Where the features are, counting from 0 without the batch."""
        return self.rank - 1 if self.features_last else 0

    @property
    def channels(self) -> int:
        return self.dims[self.channel_axis]

    @property
    def spatial(self) -> tuple[int, ...]:
        """The dims that are not the features: a map's H, W; a sequence's length."""
        return self.dims[:-1] if self.features_last else self.dims[1:]

    @property
    def numel(self) -> int:
        return math.prod(self.dims)

    @property
    def is_map(self) -> bool:
        """Channels first with at least one spatial dim: what conv and pooling take."""
        return not self.features_last and self.rank >= 2

    def with_channels(self, channels: int) -> TensorType:
        dims = list(self.dims)
        dims[self.channel_axis] = channels
        return TensorType(tuple(dims), self.features_last)

    def kind(self) -> str:
        """What the tensor is, in words a diagnostic can use."""
        if self.rank == 1:
            return f"a (features,) vector {self}"
        if not self.features_last:
            axes = {2: "(C, L)", 3: "(C, H, W)", 4: "(C, T, H, W)"}.get(self.rank, "(C, ...)")
            return f"a {axes} feature map {self}"
        axes = {2: "(L, D) token sequence", 3: "(H, W, C) channels-last map"}.get(
            self.rank, "features-last tensor")
        return f"a {axes} {self}"

    def __str__(self) -> str:
        return "(" + ", ".join(str(d) for d in self.dims) + ")"

    def batched(self, batch: str = "N") -> str:
        """`(N, C, H, W)`: how shape comments in generated code show it."""
        return "(" + ", ".join([batch] + [str(d) for d in self.dims]) + ")"
