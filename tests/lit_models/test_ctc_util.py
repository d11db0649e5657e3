"""CTC helpers: target extraction and greedy (best path) decoding, on hand-made examples."""
import doctest

import torch
import torch.nn.functional as F

from text_recognizer.lit_models import util
from text_recognizer.lit_models.util import ctc_greedy_decode, ctc_targets

BLANK, START, END, PAD = 0, 1, 2, 3


def scores(paths: list[list[int]], num_classes: int = 10) -> torch.Tensor:
    """(B, C, S) logits whose best path is `paths`."""
    return F.one_hot(torch.tensor(paths), num_classes).permute(0, 2, 1).float()


def test_doctests_pass():
    assert doctest.testmod(util).failed == 0


def test_repeats_are_merged_and_blanks_dropped():
    decoded = ctc_greedy_decode(scores([[5, 5, 5, 0, 0, 6, 0, 6, 6, 7]]), BLANK, max_length=6, padding=PAD)
    assert decoded.tolist() == [[5, 6, 6, 7, PAD, PAD]]  # a blank between two 6s keeps both


def test_all_blank_gives_only_padding_and_long_outputs_are_cut():
    decoded = ctc_greedy_decode(scores([[0, 0, 0, 0], [4, 5, 6, 7]]), BLANK, max_length=3, padding=PAD)
    assert decoded.tolist() == [[PAD, PAD, PAD], [4, 5, 6]]


def test_rows_of_a_batch_decode_independently():
    batch = ctc_greedy_decode(scores([[4, 0, 4], [5, 5, 0], [0, 6, 7]]), BLANK, max_length=4, padding=PAD)
    assert batch.tolist() == [[4, 4, PAD, PAD], [5, PAD, PAD, PAD], [6, 7, PAD, PAD]]


def test_targets_drop_start_end_and_padding():
    y = torch.tensor([[START, 7, 7, 8, END, PAD], [START, END, PAD, PAD, PAD, PAD], [START, 9, 9, 9, 9, END]])
    targets, lengths = ctc_targets(y, [START], [END, PAD])
    assert lengths.tolist() == [3, 0, 4]
    assert targets[0, :3].tolist() == [7, 7, 8] and targets[2, :4].tolist() == [9, 9, 9, 9]
