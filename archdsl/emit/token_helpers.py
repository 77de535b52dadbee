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

def layer_norm_class(spatial: int) -> str:
    """The helper class that layer-normalises a map of `spatial` dims (1 to 3)."""
    return f"LayerNorm{spatial}d"


def layer_norm_source(spatial: int) -> str:
    """Its source: LayerNorm2d is torchvision's (ConvNeXt); 1d and 3d move the channels
    of a (N, C, L) or (N, C, T, H, W) map the same way."""
    shape = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, T, H, W)"}[spatial]
    last = [0, *range(2, spatial + 2), 1]
    back = [0, spatial + 1, *range(1, spatial + 1)]
    return f'''
class {layer_norm_class(spatial)}(nn.LayerNorm):
    """Layer norm over the channels at each position of a {shape} map, as
    torchvision's ConvNeXt normalises: the channels moved last and back."""

    def forward(self, x: Tensor) -> Tensor:
        x = torch.permute(x, {last})
        x = nn.functional.layer_norm(x, self.normalized_shape, self.weight, self.bias,
                                     self.eps)
        return torch.permute(x, {back})
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
