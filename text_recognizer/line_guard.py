"""How many characters a line of an image can hold: the bound that stops a decoder that loops.

A sequence decoder that has lost its place can write one line forever ("the the a a ave ...") until
the output length runs out, and the standard CER counts every extra character. Handwriting has a
width per character, so the ink's width bounds a line's length: on the offline source's training
paragraphs, 95% of the lines take at least 9.2 pixels per character at the stems' scale (IAM's
halved crops are alike), and no true line comes near MIN_CHAR_WIDTH. Decoding (both backends) ends
a text once its current line holds that many characters. Torch-free: the ONNX backend uses it too.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from text_recognizer.stems.paragraph_core import TARGET_LINE_PITCH

MIN_CHAR_WIDTH = 5.0  # pixels per character (at the native line pitch) below which a line cannot be true handwriting
INK_LEVEL = 0.5  # images are white ink on black in [0, 1]: brighter than this is ink


def min_char_width(data_config: dict[str, Any]) -> float:
    """MIN_CHAR_WIDTH at the line pitch the model reads at (--line_pitch, in its data config).

    >>> min_char_width({"line_pitch": 24.0})
    2.5
    """
    return MIN_CHAR_WIDTH * float(data_config.get("line_pitch", TARGET_LINE_PITCH)) / TARGET_LINE_PITCH


def line_length_limits(images: np.ndarray, min_char_width: float = MIN_CHAR_WIDTH) -> np.ndarray:
    """(B, 1, H, W) images in [0, 1] -> (B,) int64: the most characters one line of each may hold.

    The width is that of the columns from the left edge to the rightmost ink (a padded batch's black
    margin adds nothing); an image with no ink at all (a blank page or line) holds none: its text ends
    at once, empty, whatever the decoder would have made of the paper.

    >>> image = np.zeros((1, 1, 32, 64), dtype=np.float32)
    >>> image[0, 0, 10:20, 5:50] = 1.0
    >>> line_length_limits(image).tolist()
    [10]
    """
    if images.ndim != 4:
        raise ValueError(f"expected (B, 1, H, W) images, got shape {images.shape}")
    ink_columns: np.ndarray = np.any(images > INK_LEVEL, axis=(1, 2))  # (B, W)
    widths = np.where(ink_columns.any(axis=1), images.shape[-1] - np.argmax(ink_columns[:, ::-1], axis=1), 0)
    return np.where(widths > 0, np.maximum(1, np.ceil(widths / min_char_width)), 0).astype(np.int64)
