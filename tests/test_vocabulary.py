"""Vocabulary: special-token indices, label encoding and decoding, padding trimmed, without torch at import."""
import subprocess
import sys

import numpy as np
import pytest
import torch

from text_recognizer.metadata import iam_paragraphs, shared
from text_recognizer.vocabulary import (
    Vocabulary,
    convert_labels_to_strings,
    convert_strings_to_labels,
    trim_padding,
)


def test_vocabulary_matches_the_reference():
    assert len(shared.MAPPING) == 83
    assert shared.MAPPING[:4] == ["<B>", "<S>", "<E>", "<P>"]
    assert shared.MAPPING.index(" ") == 66
    assert len(shared.CHARACTERS) == 79
    assert iam_paragraphs.MAPPING[83] == "\n" and len(iam_paragraphs.MAPPING) == 84


def test_labels_are_start_chars_end_then_padding():
    labels = convert_strings_to_labels(["Hi", ""], shared.MAPPING, length=5)
    index = {token: i for i, token in enumerate(shared.MAPPING)}
    assert labels.dtype == torch.long
    assert labels.tolist() == [
        [index["<S>"], index["H"], index["i"], index["<E>"], index["<P>"]],
        [index["<S>"], index["<E>"], index["<P>"], index["<P>"], index["<P>"]],
    ]


def test_round_trip_through_labels():
    texts = ["A quick fox.", 'He said "no"', ""]
    labels = convert_strings_to_labels(texts, iam_paragraphs.MAPPING, length=20)
    assert convert_labels_to_strings(labels, iam_paragraphs.MAPPING) == texts


def test_too_long_or_unknown_characters_are_clear_errors():
    with pytest.raises(ValueError, match="exceeds the maximum 4"):
        convert_strings_to_labels(["abc"], shared.MAPPING, length=4)
    with pytest.raises(ValueError, match="not in the mapping"):
        convert_strings_to_labels(["café"], shared.MAPPING, length=10)


def test_special_token_indices_and_the_one_check():
    vocabulary = Vocabulary(iam_paragraphs.MAPPING)
    assert (vocabulary.blank, vocabulary.start, vocabulary.end, vocabulary.padding, vocabulary.newline) == (0, 1, 2, 3, 83)
    assert vocabulary.markers == [1, 2, 3]
    assert Vocabulary(shared.MAPPING).newline is None
    with pytest.raises(ValueError, match=r"a decoder needs \['<S>', '<E>'\] in the data's mapping"):
        Vocabulary(["<B>", "a"], needed=["<B>", "<S>", "<E>"], needed_by="a decoder")


def test_trim_padding_drops_columns_padded_in_every_row_for_tensors_and_arrays():
    labels = [[1, 7, 2, 3, 3, 3], [1, 7, 7, 2, 3, 3]]
    assert trim_padding(torch.tensor(labels), 3).tolist() == [[1, 7, 2, 3], [1, 7, 7, 2]]
    assert trim_padding(np.array(labels), 3).tolist() == [[1, 7, 2, 3], [1, 7, 7, 2]]
    all_padding = torch.full((2, 4), 3)
    assert trim_padding(all_padding, 3).shape == (2, 4)


def test_importing_the_vocabulary_imports_no_torch():
    code = "import sys, text_recognizer.vocabulary; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
