"""Positional encodings (1D for token sequences, 2D for feature maps) and the causal mask.

The tables are non-persistent buffers: they are a pure function of their size, so they are not
saved in checkpoints (the reference saved a 576x640-position image table, 377 MB, of which only
the 18x20 positions its encoder produces were ever read). They are sized for what the model
really sees and grow on demand when a longer sequence or a larger image comes in.
"""
from __future__ import annotations

import math

import torch
from torch import nn

DROPOUT = 0.1


def sinusoid_table(num_positions: int, dim: int) -> torch.Tensor:
    """(num_positions, dim) table: [pos, 2i] = sin(pos / 10000^(2i/dim)), [pos, 2i+1] = cos(same).

    >>> sinusoid_table(2, 4)
    tensor([[0.0000, 1.0000, 0.0000, 1.0000],
            [0.8415, 0.5403, 0.0100, 0.9999]])
    """
    if dim % 2:
        raise ValueError(f"a sinusoidal encoding needs an even dimension, got {dim}")
    position = torch.arange(num_positions, dtype=torch.float64).unsqueeze(1)  # (P, 1)
    inverse_frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float64) * (-math.log(10000.0) / dim))
    angles = position * inverse_frequency  # (P, dim / 2)
    table = torch.empty(num_positions, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles)
    return table.float()  # computed in float64 so that large positions are not rounded first


def generate_square_subsequent_mask(size: int, device: torch.device | str | None = None) -> torch.Tensor:
    """(size, size) causal mask for nn.Transformer*: True where attention is forbidden (a later position).

    >>> generate_square_subsequent_mask(3).int()
    tensor([[0, 1, 1],
            [0, 0, 1],
            [0, 0, 0]], dtype=torch.int32)
    """
    return torch.ones(size, size, dtype=torch.bool, device=device).triu(diagonal=1)


class PositionalEncoding(nn.Module):
    """Adds the 1D sinusoid to (B, S, dim) inputs, then dropout. `offset` shifts the positions.

    >>> encoding = PositionalEncoding(dim=4, max_len=2, dropout=0.0)
    >>> encoding(torch.zeros(1, 3, 4))[0, 2]  # grows past max_len on demand
    tensor([ 0.9093, -0.4161,  0.0200,  0.9998])
    >>> encoding(torch.zeros(1, 1, 4), offset=2)[0, 0]  # the same position, fed alone
    tensor([ 0.9093, -0.4161,  0.0200,  0.9998])
    """

    pe: torch.Tensor  # (max_len, dim), a non-persistent buffer

    def __init__(self, dim: int, max_len: int = 1, dropout: float = DROPOUT) -> None:
        super().__init__()
        self.dim = dim
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("pe", sinusoid_table(max(1, max_len), dim), persistent=False)

    def _grow(self, length: int) -> None:
        if length > self.pe.shape[0]:
            with torch.inference_mode(False):  # a table made while decoding must still serve training
                self.pe = sinusoid_table(length, self.dim).to(self.pe.device)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        length = x.shape[1]
        self._grow(offset + length)
        return self.dropout(x + self.pe[offset : offset + length].to(x.dtype))


class PositionalEncodingImage(nn.Module):
    """Adds a 2D sinusoid to (B, dim, H, W) feature maps.

    Channels [0, dim/2) hold the 1D sinusoid (of dimension dim/2) of the row index, channels
    [dim/2, dim) the same sinusoid of the column index.

    >>> encoding = PositionalEncodingImage(dim=4, max_h=1, max_w=1)
    >>> encoding(torch.zeros(1, 4, 2, 3))[0, :, 1, 2]  # row 1: sin(1), cos(1); column 2: sin(2), cos(2)
    tensor([ 0.8415,  0.5403,  0.9093, -0.4161])
    """

    pe: torch.Tensor  # (dim, max_h, max_w), a non-persistent buffer

    def __init__(self, dim: int, max_h: int = 1, max_w: int = 1) -> None:
        super().__init__()
        if dim % 4:
            raise ValueError(f"the 2D positional encoding needs a dimension divisible by 4, got {dim}")
        self.dim = dim
        self.register_buffer("pe", self.make_table(dim, max(1, max_h), max(1, max_w)), persistent=False)

    @staticmethod
    def make_table(dim: int, height: int, width: int) -> torch.Tensor:
        half = dim // 2
        rows = sinusoid_table(height, half).T.unsqueeze(2).expand(half, height, width)  # (dim/2, H, W)
        columns = sinusoid_table(width, half).T.unsqueeze(1).expand(half, height, width)  # (dim/2, H, W)
        return torch.cat([rows, columns], dim=0)  # (dim, H, W): (256, 18, 20) for 576x640 inputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[2], x.shape[3]
        if height > self.pe.shape[1] or width > self.pe.shape[2]:
            size = (max(height, self.pe.shape[1]), max(width, self.pe.shape[2]))
            with torch.inference_mode(False):  # a table made while decoding must still serve training
                self.pe = self.make_table(self.dim, *size).to(self.pe.device)
        return x + self.pe[:, :height, :width].to(x.dtype)
