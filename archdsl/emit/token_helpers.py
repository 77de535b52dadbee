"""Helper modules for the ops that move dims, for ConvNeXt's layer norm and for frozen
batch norm.

torch.nn has no module for a permute, a reshape of one sample or a select, so
where such an op is a layer of an nn.Sequential (ConvNeXt's block permutes the
channels last and back between its layers, as torchvision's Permute does), the
generated file brings a small module for it. Inside a generated class the same
ops are written as expressions (`torch.permute(x, [0, 2, 3, 1])`).
"""

PERMUTE_SOURCE = '''
class Permute(nn.Module):
    """The dims of the input in a new order, the batch first: x.permute(dims)."""

    def __init__(self, dims: list[int]) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: Tensor) -> Tensor:
        return torch.permute(x, self.dims)

    def extra_repr(self) -> str:
        return f"dims={self.dims}"
'''.strip("\n")

RESHAPE_SOURCE = '''
class Reshape(nn.Module):
    """Each sample in a new shape (the batch stays): x.reshape(N, *shape)."""

    def __init__(self, shape: list[int]) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: Tensor) -> Tensor:
        return torch.unflatten(torch.flatten(x, 1), 1, self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"
'''.strip("\n")

SELECT_SOURCE = '''
class Select(nn.Module):
    """One position along a dim, that dim removed: torch.select(x, dim, index)."""

    def __init__(self, dim: int, index: int) -> None:
        super().__init__()
        self.dim = dim
        self.index = index

    def forward(self, x: Tensor) -> Tensor:
        return torch.select(x, self.dim, self.index)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, index={self.index}"
'''.strip("\n")

LAYER_NORM_2D_SOURCE = '''
class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels at each position of a (N, C, H, W) map, as
    torchvision's ConvNeXt normalises: the channels moved last and back."""

    def forward(self, x: Tensor) -> Tensor:
        x = torch.permute(x, [0, 2, 3, 1])
        x = nn.functional.layer_norm(x, self.normalized_shape, self.weight, self.bias,
                                     self.eps)
        return torch.permute(x, [0, 3, 1, 2])
'''.strip("\n")

FROZEN_BATCH_NORM_SOURCE = '''
class FrozenBatchNorm2d(nn.Module):
    """Batch norm whose statistics and affine are fixed buffers, never trained (as
    torchvision.ops.FrozenBatchNorm2d): x * scale + shift, per channel."""

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: Tensor) -> Tensor:
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        shift = self.bias - self.running_mean * scale
        shape = [1, -1] + [1] * (x.dim() - 2)
        return x * scale.reshape(shape) + shift.reshape(shape)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, eps={self.eps}"
'''.strip("\n")
