"""Reading each image of a padded batch on its own region, so that an image reads alike in any batch (issue 34).

A batch is padded to its largest image (stems: pad_batch, pad_arrays), and the model used to read every image on
the whole padded canvas: the ResNet's receptive fields at the right and bottom edges reached into the padding
(zeros in, but not zeros after the first BatchNorm, whereas an image alone ends on the convolutions' own zero
padding), the decoder's cross-attention attended to the padding's memory cells, and the line CTC head read its
columns. A page then read differently alone and in a batch (9 of 9 lines on a real scan).

Now each image is read on its own region of the batch (a page: its own size padded, paragraph_core.own_sizes;
a page's lines: the page's lines padded together, paragraph_core.line_regions), and both backends encode the
images in groups of one region size (`groups_of_equal_size`), each group cropped to it: an image's memory and
CTC frames are then the ones it has when its page is read alone. The decoder reads all
of them at once, the memory padded and masked (decoding.py: the padding's attention weight is exactly zero), and
the CTC frames padded with frames certain of the blank (`pad_ctc_frames`). Numpy only: the ONNX backend uses it.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def groups_of_equal_size(sizes: Sequence[tuple[int, int]]) -> list[tuple[tuple[int, int], list[int]]]:
    """(H, W) of each image -> ((H, W), the rows of that size) per size, in order of first appearance.

    >>> groups_of_equal_size([(64, 96), (32, 96), (64, 96)])
    [((64, 96), [0, 2]), ((32, 96), [1])]
    """
    groups: dict[tuple[int, int], list[int]] = {}
    for row, (height, width) in enumerate(sizes):
        groups.setdefault((int(height), int(width)), []).append(row)
    return list(groups.items())


def pad_ctc_frames(parts: Sequence[tuple[list[int], np.ndarray]], batch: int, blank: int) -> np.ndarray:
    """Each group's (b, T_g, C) CTC log-probabilities, with its rows -> (B, T, C), every row padded after its own
    frames with frames certain of the blank (log-probability 0 for it, -inf for the rest). Such frames change
    neither the best path nor the probability of any text (every alignment of the text only gains blanks of
    probability 1), so a line's CTC reading does not depend on how far its batch is padded.

    >>> frames = pad_ctc_frames([([1], np.log(np.full((1, 1, 2), 0.5)))], batch=2, blank=0)
    >>> frames.shape, frames[1, 0].tolist(), frames[0, 0].tolist()
    ((2, 1, 2), [-0.6931471805599453, -0.6931471805599453], [0.0, -inf])
    """
    length = max(log_probs.shape[1] for _, log_probs in parts)
    classes, dtype = parts[0][1].shape[2], parts[0][1].dtype
    padded = np.full((batch, length, classes), -np.inf, dtype=dtype)
    padded[:, :, blank] = 0.0
    for rows, log_probs in parts:
        padded[rows, : log_probs.shape[1]] = log_probs
    return padded
