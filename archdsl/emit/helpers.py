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
    keeping at least one. For global drop-path the network writes one column per
    batch into `chosen` (0: none this batch): a join whose last input is that column
    (`column`) keeps only it; any other keeps only its first input, the deeper path.
    The draws stay tensors and the kept inputs are 0/1 weights, never a branch on a
    random value, so that a training step traces into one graph (torch.compile).
    """

    def __init__(self, drop: float = 0.0, column: int = 0) -> None:
        super().__init__()
        self.drop = drop
        self.column = column  # the column of the last input; 0: no global drop-path
        # Written by the network before each training batch; not part of the state_dict.
        self.register_buffer("chosen", torch.zeros((), dtype=torch.long), persistent=False)

    def forward(self, inputs: list[Tensor]) -> Tensor:
        if not self.training or (self.drop == 0.0 and self.column == 0):
            return torch.stack(inputs).mean(0)
        keep = self.kept(len(inputs), inputs[0].device).to(inputs[0].dtype)
        out = inputs[0] * keep[0]
        for i in range(1, len(inputs)):
            out = out + inputs[i] * keep[i]
        return out / keep.sum()

    def kept(self, n: int, device: torch.device) -> Tensor:
        """Which of the n inputs this batch keeps (booleans)."""
        index = torch.arange(n, device=device)
        keep = torch.rand(n, device=device) >= self.drop
        # None kept: one input at random instead.
        fallback = index == torch.randint(n, (), device=device)
        keep = keep | (fallback & ~keep.any())
        if self.column > 0:
            alone = index == torch.where(self.chosen == self.column, n - 1, 0)
            keep = torch.where(self.chosen > 0, alone, keep)
        return keep

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
