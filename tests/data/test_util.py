"""Label encoding, decoding and the seeded split."""
import pytest
import torch

from text_recognizer.data.util import (
    BaseDataset,
    convert_labels_to_strings,
    convert_strings_to_labels,
    split_dataset,
)
from text_recognizer.metadata import iam_paragraphs, shared


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


def test_split_is_seeded_and_complete():
    dataset = BaseDataset(list(range(100)), list(range(100)))
    first_a, second_a = split_dataset(dataset, fraction=0.8, seed=42)
    first_b, _ = split_dataset(dataset, fraction=0.8, seed=42)
    first_c, _ = split_dataset(dataset, fraction=0.8, seed=7)
    assert (len(first_a), len(second_a)) == (80, 20)
    assert list(first_a.indices) == list(first_b.indices)
    assert list(first_a.indices) != list(first_c.indices)
    assert sorted([*first_a.indices, *second_a.indices]) == list(range(100))


def test_base_dataset_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="differ in length"):
        BaseDataset([1, 2], [1])
