"""Helper modules for Swin Transformer networks (Liu et al., arXiv:2103.14030).

Swin's window attention and its patch merging have no module in torch.nn, so the
emitter writes their source into every file that uses them, as it does for the
helpers in `helpers.py`. The parameters and buffers carry torchvision's names
(`torchvision.models.swin_transformer.ShiftedWindowAttention`), so a generated Swin
loads torchvision's state_dict as it is and computes the same outputs.

The source expects `torch`, and `Tensor` and `nn` from torch, in its namespace.
"""

WINDOW_ATTENTION_SOURCE = '''
class ShiftedWindowAttention(nn.Module):
    """Multi-head self-attention within square windows, shifted by `shift` (Swin
    Transformer, Liu et al., arXiv:2103.14030): torchvision's ShiftedWindowAttention
    with square windows and a bias on both linear layers.

    Takes and returns (N, H, W, C). H and W are padded with zeros at the end to whole
    windows; a window that covers a whole axis leaves that axis unshifted.
    """

    def __init__(self, dim: int, window: int, shift: int, heads: int,
                 dropout: float = 0.0, attention_dropout: float = 0.0) -> None:
        super().__init__()
        self.dim = dim
        self.window = window
        self.shift = shift
        self.heads = heads
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        # A learned bias per head for each of the (2w - 1)^2 offsets between two
        # positions of a window, and for each pair of positions the row it reads.
        span = 2 * window - 1
        self.relative_position_bias_table = nn.Parameter(torch.zeros(span * span, heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        coords = torch.arange(window)
        rows = coords.repeat_interleave(window)  # the row of each position, row-major
        cols = coords.repeat(window)
        row_offsets = rows[:, None] - rows[None, :] + (window - 1)
        col_offsets = cols[:, None] - cols[None, :] + (window - 1)
        index = (row_offsets * span + col_offsets).flatten()  # (w^4,)
        self.register_buffer("relative_position_index", index)

    def forward(self, x: Tensor) -> Tensor:
        batch, height, width, channels = x.shape
        size = self.window
        x = nn.functional.pad(x, [0, 0, 0, (size - width % size) % size,
                                  0, (size - height % size) % size])
        padded_height, padded_width = x.shape[1], x.shape[2]
        shift_rows = self.shift if padded_height > size else 0
        shift_cols = self.shift if padded_width > size else 0
        shifted = shift_rows > 0 or shift_cols > 0
        if shifted:
            x = torch.roll(x, [-shift_rows, -shift_cols], [1, 2])
        windows = self._partition(x)  # (N * windows, w * w, C)
        tokens = windows.shape[1]
        qkv = self.qkv(windows).reshape(-1, tokens, 3, self.heads, channels // self.heads)
        # each (N * windows, heads, w * w, C / heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        q = q * (channels // self.heads) ** -0.5
        scores = q.matmul(k.transpose(-2, -1)) + self._position_bias()
        if shifted:
            mask = self._shift_mask(padded_height, padded_width, shift_rows, shift_cols, scores)
            scores = scores.view(batch, -1, self.heads, tokens, tokens) + mask[None, :, None]
            scores = scores.view(-1, self.heads, tokens, tokens)
        attention = scores.softmax(-1)
        attention = nn.functional.dropout(attention, self.attention_dropout, self.training)
        windows = attention.matmul(v).transpose(1, 2).reshape(-1, tokens, channels)
        windows = nn.functional.dropout(self.proj(windows), self.dropout, self.training)
        x = self._merge(windows, batch, padded_height, padded_width)  # (N, H', W', C)
        if shifted:
            x = torch.roll(x, [shift_rows, shift_cols], [1, 2])
        return x[:, :height, :width, :].contiguous()

    def _partition(self, x: Tensor) -> Tensor:
        """(N, H, W, C) -> (N * windows, w * w, C), the windows in row-major order."""
        batch, height, width, channels = x.shape
        size = self.window
        x = x.reshape(batch, height // size, size, width // size, size, channels)
        return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, size * size, channels)

    def _merge(self, windows: Tensor, batch: int, height: int, width: int) -> Tensor:
        """The inverse of _partition: (N * windows, w * w, C) -> (N, H, W, C)."""
        size = self.window
        channels = windows.shape[-1]
        x = windows.reshape(batch, height // size, width // size, size, size, channels)
        return x.permute(0, 1, 3, 2, 4, 5).reshape(batch, height, width, channels)

    def _position_bias(self) -> Tensor:
        """(1, heads, w * w, w * w): each head's bias for each pair of positions."""
        tokens = self.window * self.window
        bias = self.relative_position_bias_table[self.relative_position_index]
        return bias.view(tokens, tokens, -1).permute(2, 0, 1).contiguous().unsqueeze(0)

    def _shift_mask(self, height: int, width: int, shift_rows: int, shift_cols: int,
                    like: Tensor) -> Tensor:
        """(windows, w * w, w * w): -100 between two positions of a window that were
        not neighbours before the cyclic shift (one of them wrapped around), else 0.

        -100 rather than -inf, as the paper's code and torchvision do: its softmax
        weight underflows to zero all the same.
        """
        device = like.device
        wrapped_rows = (torch.arange(height, device=device) >= height - shift_rows).long()
        wrapped_cols = (torch.arange(width, device=device) >= width - shift_cols).long()
        region = 2 * wrapped_rows[:, None] + wrapped_cols[None, :]  # (H, W)
        region = self._partition(region[None, :, :, None]).squeeze(-1)  # (windows, w * w)
        apart = region[:, :, None] != region[:, None, :]
        return torch.zeros(apart.shape, dtype=like.dtype, device=device).masked_fill(apart, -100.0)

    def extra_repr(self) -> str:
        return (f"dim={self.dim}, window={self.window}, shift={self.shift}, heads={self.heads}, "
                f"dropout={self.dropout}, attention_dropout={self.attention_dropout}")
'''.strip("\n")

PATCH_MERGE_SOURCE = '''
class PatchMerge(nn.Module):
    """Swin's patch merging before its norm and linear layer (Liu et al.,
    arXiv:2103.14030): each 2x2 block of positions as one position with their four
    channel vectors concatenated; torchvision's `_patch_merging_pad`.

    (N, H, W, C) -> (N, ceil(H / 2), ceil(W / 2), 4C); an odd H or W is padded with
    zeros at the end.
    """

    def forward(self, x: Tensor) -> Tensor:
        height, width = x.shape[1], x.shape[2]
        x = nn.functional.pad(x, [0, 0, 0, width % 2, 0, height % 2])
        # torchvision's order: top left, bottom left, top right, bottom right.
        top_left = x[:, 0::2, 0::2, :]
        bottom_left = x[:, 1::2, 0::2, :]
        top_right = x[:, 0::2, 1::2, :]
        bottom_right = x[:, 1::2, 1::2, :]
        return torch.cat([top_left, bottom_left, top_right, bottom_right], -1)
'''.strip("\n")
