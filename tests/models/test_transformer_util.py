"""Positional encodings and the causal mask: values, halves of the 2D encoding, growth, no checkpoint weight."""
import doctest
import math

import torch

from text_recognizer.models import transformer_util
from text_recognizer.models.transformer_util import (
    PositionalEncoding,
    PositionalEncodingImage,
    generate_square_subsequent_mask,
    sinusoid_table,
)


def test_doctests_pass():
    assert doctest.testmod(transformer_util).failed == 0


def test_sinusoid_follows_the_formula():
    table = sinusoid_table(50, 16)
    pos, i = 37, 3
    angle = pos / 10000 ** (2 * i / 16)
    assert math.isclose(table[pos, 2 * i].item(), math.sin(angle), abs_tol=1e-6)
    assert math.isclose(table[pos, 2 * i + 1].item(), math.cos(angle), abs_tol=1e-6)


def test_image_encoding_first_half_follows_rows_second_half_columns():
    dim, height, width = 8, 5, 7
    pe = PositionalEncodingImage(dim, height, width)(torch.zeros(1, dim, height, width))[0]  # (8, 5, 7)
    rows, columns = sinusoid_table(height, dim // 2), sinusoid_table(width, dim // 2)
    for r in range(height):
        for c in range(width):
            assert torch.allclose(pe[: dim // 2, r, c], rows[r])
            assert torch.allclose(pe[dim // 2 :, r, c], columns[c])
    # the first half does not change along a row, the second half does not change down a column
    assert torch.equal(pe[: dim // 2, :, :1].expand(-1, -1, width), pe[: dim // 2])
    assert torch.equal(pe[dim // 2 :, :1, :].expand(-1, height, -1), pe[dim // 2 :])


def test_encodings_grow_on_demand_and_are_not_saved():
    image = PositionalEncodingImage(8, 2, 2)
    out = image(torch.zeros(1, 8, 3, 4))
    assert image.pe.shape == (8, 3, 4) and torch.allclose(out[0], PositionalEncodingImage.make_table(8, 3, 4))
    sequence = PositionalEncoding(8, max_len=2, dropout=0.0)
    assert torch.allclose(sequence(torch.zeros(1, 5, 8))[0], sinusoid_table(5, 8))
    assert image.state_dict() == {} and "pe" not in sequence.state_dict()


def test_causal_mask_hides_only_later_positions():
    mask = generate_square_subsequent_mask(4)
    assert mask.dtype == torch.bool
    assert [row.nonzero().flatten().tolist() for row in mask] == [[1, 2, 3], [2, 3], [3], []]
