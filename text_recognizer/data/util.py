"""BaseDataset and the seeded train/val split (label encoding lives in text_recognizer/vocabulary.py)."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.utils.data import Dataset, Subset

SequenceOrTensor = Sequence | torch.Tensor


class BaseDataset(Dataset):
    """Pairs of (datum, target) with an optional transform of the datum applied on access.

    >>> ds = BaseDataset([1, 2, 3], [4, 5, 6], transform=lambda x: x * 10)
    >>> len(ds), ds[1]
    (3, (20, 5))
    """

    def __init__(
        self,
        data: SequenceOrTensor,
        targets: SequenceOrTensor,
        transform: Callable | None = None,
    ) -> None:
        if len(data) != len(targets):
            raise ValueError(f"data and targets differ in length: {len(data)} vs {len(targets)}")
        self.data = data
        self.targets = targets
        self.transform = transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        datum, target = self.data[index], self.targets[index]
        if self.transform is not None:
            datum = self.transform(datum)
        return datum, target


def split_dataset(dataset: Dataset, fraction: float, seed: int) -> tuple[Subset, Subset]:
    """Split into two random subsets, the first holding `fraction` of the samples; same seed, same split."""
    first = int(fraction * len(dataset))  # type: ignore[arg-type]
    generator = torch.Generator().manual_seed(seed)
    kept, rest = torch.utils.data.random_split(dataset, [first, len(dataset) - first], generator=generator)  # type: ignore[arg-type]
    return kept, rest
