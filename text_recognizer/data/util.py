"""BaseDataset, label encoding and decoding, and the seeded train/val split."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.utils.data import Dataset, Subset

from text_recognizer.metadata.shared import END_TOKEN, PADDING_TOKEN, START_TOKEN
from text_recognizer.vocabulary import convert_labels_to_strings  # noqa: F401  (defined without torch, for inference)

SequenceOrTensor = Sequence | torch.Tensor


class BaseDataset(Dataset):
    """Pairs of (datum, target) with optional transforms applied on access.

    >>> ds = BaseDataset([1, 2, 3], [4, 5, 6], transform=lambda x: x * 10)
    >>> len(ds), ds[1]
    (3, (20, 5))
    """

    def __init__(
        self,
        data: SequenceOrTensor,
        targets: SequenceOrTensor,
        transform: Callable | None = None,
        target_transform: Callable | None = None,
    ) -> None:
        if len(data) != len(targets):
            raise ValueError(f"data and targets differ in length: {len(data)} vs {len(targets)}")
        self.data = data
        self.targets = targets
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        datum, target = self.data[index], self.targets[index]
        if self.transform is not None:
            datum = self.transform(datum)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return datum, target


def inverse_mapping(mapping: Sequence[str]) -> dict[str, int]:
    return {token: index for index, token in enumerate(mapping)}


def convert_strings_to_labels(strings: Sequence[str], mapping: Sequence[str], length: int) -> torch.Tensor:
    """Encode each string as <S> chars <E>, padded with <P> to `length` tokens.

    >>> convert_strings_to_labels(["ab"], ["<B>", "<S>", "<E>", "<P>", "a", "b"], 6).tolist()
    [[1, 4, 5, 2, 3, 3]]
    """
    index = inverse_mapping(mapping)
    labels = torch.full((len(strings), length), index[PADDING_TOKEN], dtype=torch.long)
    for row, string in enumerate(strings):
        if len(string) + 2 > length:
            raise ValueError(
                f"label of {len(string) + 2} tokens (with <S>, <E>) exceeds the maximum {length}: {string[:60]!r}..."
            )
        unknown = sorted(set(string) - index.keys())
        if unknown:
            raise ValueError(f"characters {unknown} are not in the mapping, in {string[:60]!r}")
        tokens = [index[START_TOKEN], *(index[char] for char in string), index[END_TOKEN]]
        labels[row, : len(tokens)] = torch.tensor(tokens)
    return labels


def trim_padding(labels: torch.Tensor, padding_index: int) -> torch.Tensor:
    """(B, L) padded labels -> (B, L') without the trailing columns that are <P> in every row.

    Labels are padded to the longest possible text (682 tokens for paragraphs), a batch's texts are
    usually much shorter, and under a causal mask the trailing <P> positions change no loss term."""
    used = (labels != padding_index).any(dim=0).nonzero()
    return labels[:, : int(used.max()) + 1] if used.numel() else labels


def split_dataset(dataset: Dataset, fraction: float, seed: int) -> tuple[Subset, Subset]:
    """Split into two random subsets, the first holding `fraction` of the samples; same seed, same split."""
    first = int(fraction * len(dataset))  # type: ignore[arg-type]
    generator = torch.Generator().manual_seed(seed)
    kept, rest = torch.utils.data.random_split(dataset, [first, len(dataset) - first], generator=generator)  # type: ignore[arg-type]
    return kept, rest
