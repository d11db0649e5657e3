"""Synthetic paragraphs: real line crops stacked into new paragraphs, built lazily in __getitem__.

Groupings. Every line alone, plus one random partition of all lines per size range in
GROUP_SIZE_RANGES; a group is dropped when its label or its image would not fit the model. The
partitions come from `numpy.random.default_rng([seed, epoch])`, so every DDP rank (and every
DataLoader worker) that knows the seed and the epoch holds exactly the same dataset: the reference
drew them unseeded, and ranks could disagree even on the dataset's length.

Regeneration across epochs (`regenerate=True`), and why it works with workers and DDP:
- `set_epoch(epoch)` writes the epoch into a one-element tensor in shared memory; each worker's
  copy of the dataset sees the new value (persistent workers included) and re-partitions on its
  next item. Nothing else is shared, so there is nothing to lock.
- `set_epoch` is called through the sampler: `batching.BucketSampler` is a DistributedSampler (one
  replica when not distributed) whose `set_epoch` forwards to the datasets. Lightning calls
  `sampler.set_epoch(epoch)` before it iterates the training loader each epoch, and keeps a
  sampler that is already a DistributedSampler instead of replacing it under DDP; a plain PyTorch
  loop does the same by the usual DistributedSampler contract.
- The length never changes (DistributedSampler and ConcatDataset fix it up front): the first
  grouping's count is kept, and later groupings are trimmed, or topped up with repeats of their
  own groups, to that count (a difference of a few groups in ~19k).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from text_recognizer.data.sources.iam_crops import Record
from text_recognizer.metadata import iam_synthetic_paragraphs as metadata
from text_recognizer.vocabulary import convert_strings_to_labels

NEW_LINE = "\n"


def can_split(n: int, low: int, high: int) -> bool:
    """Whether n items can be cut into groups of low..high items.

    >>> can_split(0, 2, 4), can_split(1, 2, 4), can_split(5, 2, 4), can_split(11, 5, 9)
    (True, False, True, True)
    """
    return n == 0 or -(-n // high) <= n // low


def random_partition(n: int, low: int, high: int, rng: np.random.Generator) -> list[list[int]]:
    """range(n) shuffled and cut into groups of low..high items each (no group when n < low)."""
    if not can_split(n, low, high):
        return []
    order = rng.permutation(n).tolist()
    groups, start = [], 0
    while start < n:
        rest = n - start
        # only sizes that leave a remainder which can still be cut within the range
        sizes = [size for size in range(low, min(high, rest) + 1) if can_split(rest - size, low, high)]
        size = sizes[int(rng.integers(len(sizes)))]
        groups.append(order[start : start + size])
        start += size
    return groups


def stack_lines(images: Sequence[Image.Image]) -> Image.Image:
    """Lines top to bottom, left-aligned, no gap, on a black canvas as wide as the widest line."""
    canvas = Image.new("L", (max(image.width for image in images), sum(image.height for image in images)), 0)
    top = 0
    for image in images:
        canvas.paste(image, (0, top))
        top += image.height
    return canvas


class SyntheticParagraphs(Dataset):
    """Paragraphs made of line crops (PNG files with their records); (image tensor, label tensor) items."""

    def __init__(
        self,
        dirname: Path,
        records: Sequence[Record],
        stem: Callable,
        seed: int = 0,
        regenerate: bool = False,
        mapping: Sequence[str] = metadata.MAPPING,
        max_label_length: int = metadata.MAX_LABEL_LENGTH,
        image_shape: tuple[int, int] = metadata.DIMS[1:],
    ) -> None:
        self.filenames = [str(Path(dirname) / f"{record['id']}.png") for record in records]
        self.texts = [record["label"] for record in records]
        self.heights = np.array([record["height"] for record in records])
        self.widths = np.array([record["width"] for record in records])
        self.stem, self.seed, self.regenerate = stem, seed, regenerate
        self.mapping, self.max_label_length, self.image_shape = mapping, max_label_length, image_shape
        self._text_lengths = np.array([len(text) for text in self.texts])
        self._epoch = torch.zeros((), dtype=torch.long).share_memory_()  # written by set_epoch, read by workers
        self._groups = self.draw_groups(epoch=0)
        self._groups_epoch = 0
        self.length = len(self._groups)

    def fits(self, group: Sequence[int]) -> bool:
        """The label (with newlines, <S> and <E>) and the stacked image fit the model."""
        label_length = int(self._text_lengths[group].sum()) + len(group) - 1 + 2
        height, width = int(self.heights[group].sum()), int(self.widths[group].max())
        return label_length <= self.max_label_length and height <= self.image_shape[0] and width <= self.image_shape[1]

    def draw_groups(self, epoch: int) -> list[list[int]]:
        """Every line alone, then a random partition per size range; what does not fit is dropped."""
        rng = np.random.default_rng([self.seed, epoch])
        n = len(self.texts)
        singles = [[index] for index in range(n) if self.fits([index])]
        partitions = [
            group
            for low, high in metadata.GROUP_SIZE_RANGES
            for group in random_partition(n, low, high, rng)
            if self.fits(group)
        ]
        if epoch > 0:  # keep the first grouping's length (see the module docstring)
            wanted = self.length - len(singles)
            if wanted and not partitions:  # nothing fits this time: reuse the first grouping
                return self.draw_groups(epoch=0)
            partitions = [partitions[i] for i in rng.permutation(len(partitions))[:wanted]]
            if len(partitions) < wanted:
                partitions += [partitions[i] for i in rng.integers(len(partitions), size=wanted - len(partitions))]
        return singles + partitions

    def set_epoch(self, epoch: int) -> None:
        """Use the grouping of this epoch (only with regenerate=True); visible to DataLoader workers."""
        self._epoch.fill_(epoch)

    def groups(self) -> list[list[int]]:
        """The current epoch's groups of line indices."""
        epoch = int(self._epoch) if self.regenerate else 0
        if epoch != self._groups_epoch:
            self._groups, self._groups_epoch = self.draw_groups(epoch), epoch
        return self._groups

    def __len__(self) -> int:
        return self.length

    def sample_shapes(self) -> np.ndarray:
        """(N, 3): each paragraph's height, width and number of lines, this epoch (before the stem)."""
        groups = self.groups()
        return np.array(
            [(int(self.heights[g].sum()), int(self.widths[g].max()), len(g)) for g in groups], dtype=np.int64
        ).reshape(-1, 3)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        group = self.groups()[index]
        images = []
        for line in group:
            with Image.open(self.filenames[line]) as image:
                images.append(image.convert("L"))
        text = NEW_LINE.join(self.texts[line] for line in group)
        label = convert_strings_to_labels([text], self.mapping, self.max_label_length)[0]
        return self.stem(stack_lines(images)), label
