"""Helper modules the generated files bring with them.

Stochastic depth, FractalNet's join and ShuffleNet's channel split and shuffle
have no module in torch.nn, so the emitter writes the source of a small module
for each into every file that uses it; the file stays self-contained.
"""

DROP_PATH_SOURCE = '''
class DropPath(nn.Module):
    """Stochastic depth (Huang et al., arXiv:1603.09382): keep the input with
    probability `survival` in training, else zero it.

    mode "batch" decides once for the whole mini-batch (the paper), "sample" per
    sample. rescale "test" scales by `survival` in eval mode (the paper); "train"
    divides by it in training instead, and is the identity in eval mode.
    """

    def __init__(self, survival: float, mode: str = "batch", rescale: str = "test") -> None:
        super().__init__()
        self.survival = survival
        self.mode = mode
        self.rescale = rescale

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return x * self.survival if self.rescale == "test" else x
        if self.mode == "batch":
            shape = [1] * x.dim()
        else:
            shape = [x.shape[0]] + [1] * (x.dim() - 1)
        keep = (torch.rand(shape, device=x.device) < self.survival).to(x.dtype)
        if self.rescale == "train":
            keep = keep / self.survival
        return x * keep

    def extra_repr(self) -> str:
        return f"survival={self.survival}, mode={self.mode!r}, rescale={self.rescale!r}"
'''.strip("\n")

JOIN_SOURCE = '''
class Join(nn.Module):
    """FractalNet's join (Larsson et al., arXiv:1605.07648): the mean of its inputs.

    In training each input is dropped with probability `drop` (local drop-path),
    keeping at least one. For global drop-path the network picks one column per
    batch (`chosen`): a join whose last input is that column (`column`) keeps only
    it; a join below a shallower chosen column keeps only its first input.
    """

    def __init__(self, drop: float = 0.0, column: int = 0) -> None:
        super().__init__()
        self.drop = drop
        self.column = column  # the column of the last input; 0: no global drop-path
        self.chosen = 0  # the column the network picked for this batch; 0: none

    def forward(self, inputs: list[Tensor]) -> Tensor:
        if self.training and self.chosen > 0 and self.column > 0:
            return inputs[-1] if self.chosen == self.column else inputs[0]
        if not self.training or self.drop == 0.0:
            return torch.stack(inputs).mean(0)
        keep = torch.rand(len(inputs)) >= self.drop
        if not bool(keep.any()):
            keep[int(torch.randint(len(inputs), (1,)))] = True
        kept: list[Tensor] = []
        for i, x in enumerate(inputs):
            if bool(keep[i]):
                kept.append(x)
        return torch.stack(kept).mean(0)

    def extra_repr(self) -> str:
        return f"drop={self.drop}, column={self.column}"
'''.strip("\n")

CHUNK_SOURCE = '''
class Chunk(nn.Module):
    """The `index`-th of `chunks` equal slices of the channels (ShuffleNetV2's
    channel split, Ma et al., arXiv:1807.11164): a view of the input."""

    def __init__(self, chunks: int, index: int) -> None:
        super().__init__()
        self.chunks = chunks
        self.index = index

    def forward(self, x: Tensor) -> Tensor:
        return x.chunk(self.chunks, 1)[self.index]

    def extra_repr(self) -> str:
        return f"chunks={self.chunks}, index={self.index}"
'''.strip("\n")

CHANNEL_SHUFFLE_SOURCE = '''
class ChannelShuffle(nn.Module):
    """ShuffleNet's channel shuffle (Zhang et al., arXiv:1707.01083): the channels
    as a (groups, C / groups) grid, transposed; torchvision's `channel_shuffle`."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape
        x = x.unflatten(1, [self.groups, shape[1] // self.groups])
        return x.transpose(1, 2).reshape(shape)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"
'''.strip("\n")
