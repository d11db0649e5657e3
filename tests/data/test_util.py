"""BaseDataset and the seeded split."""
import pytest

from text_recognizer.data.util import BaseDataset, split_dataset


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
