"""Content-sized batches and the curriculum: which samples go together, and in which epoch.

Images keep their own size (see stems/paragraph.py), so a batch costs what its largest image costs.
`BucketSampler` therefore makes batches of images of similar height (and width), and yields whole
batches; `BatchedDataset` reads one such batch and pads it with `pad_batch`. The sampler is a
DistributedSampler, so Lightning keeps it under DDP and calls its `set_epoch` before each epoch.

Per epoch (seeded by seed and epoch, so every DDP rank and DataLoader worker agrees):
1. the curriculum chooses the pool: the samples whose line count is in `line_range(epoch)`;
2. `samples_per_epoch` indices are drawn from the pool (shuffled, repeating the pool if needed): the
   epoch length never changes, whatever the pool's size;
3. windows of BUCKET_BATCHES batches are sorted by height and width and cut into batches, and the
   batches are shuffled;
4. batches are dealt to the ranks in turn, topped up so that every rank gets the same number.
Evaluation (shuffle=False) uses every sample once, sorted by size over the whole set, in a fixed
shuffled batch order (so that --limit_val_batches takes a fair subset, not the smallest images).
"""
from __future__ import annotations

import argparse
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset, DistributedSampler, Subset

from text_recognizer.stems.paragraph import READ_BY_LINES, READ_BY_PAGE, TARGET_LINE_PITCH, pad_batch
from text_recognizer.util import non_negative_int, str2bool

BUCKET_BATCHES = 32  # batches sorted together: similar sizes without a fixed order of sizes
ALL_LINES = "all"
# Lines for six epochs, then paragraphs: the schedule of the best page run (docs/training.md). Moving on after
# four epochs of lines (with a decaying lr) had not left the "the the the" phase (docs/training.md's curves).
CURRICULUM = "0:1,6:2,7:4,8:all"
SAMPLES_PER_EPOCH = 3200  # an epoch is this many samples from the curriculum's pool (0: the training set's size)
SAMPLER_SEED = 0


class Curriculum:
    """Lines per sample by epoch, from "epoch:lines,...": lines is a cap ("4", "all") or a range
    ("3-all", "2-6") whose floor keeps shorter samples out, e.g. to train on whole pages late.

    >>> curriculum = Curriculum.parse("0:1,2:3,5:all,7:3-all")
    >>> [curriculum.line_range(epoch) for epoch in (0, 2, 5, 7)]
    [(1, 1), (1, 3), (1, None), (3, None)]
    >>> Curriculum.parse("").line_range(0)  # no curriculum: everything from the start
    (1, None)
    """

    def __init__(self, steps: Sequence[tuple[int, int, int | None]]) -> None:
        self.steps = sorted(steps, key=lambda step: step[0])

    @classmethod
    def parse(cls, text: str) -> Curriculum:
        steps: list[tuple[int, int, int | None]] = []
        for item in filter(None, (part.strip() for part in text.split(","))):
            epoch, _, lines = item.partition(":")
            floor, dash, cap = lines.rpartition("-")
            try:
                steps.append((int(epoch), int(floor) if dash else 1, None if cap.strip() == ALL_LINES else int(cap)))
            except ValueError:
                raise ValueError(
                    f"--curriculum={text!r}: each item is epoch:lines or epoch:min-max (lines a number or "
                    f"{ALL_LINES!r}), got {item!r}"
                ) from None
        if any(epoch < 0 or floor < 1 or (cap is not None and cap < floor) for epoch, floor, cap in steps):
            raise ValueError(f"--curriculum={text!r}: epochs must be >= 0 and lines >= 1, a range's max >= its min")
        return cls(steps)

    def line_range(self, epoch: int) -> tuple[int, int | None]:
        """(fewest, most) lines per sample in this epoch; most None: no cap."""
        lines: tuple[int, int | None] = (1, None)
        for start, floor, cap in self.steps:
            if start <= epoch:
                lines = (floor, cap)
        return lines

    @property
    def read_by(self) -> str:
        """"lines" when no epoch allows a sample of more than one line: a model trained so has never seen a
        page, and the recognizer and validation read pages to it one line at a time; otherwise "page"."""
        return READ_BY_LINES if self.steps and all(cap == 1 for _, _, cap in self.steps) else READ_BY_PAGE

    def __repr__(self) -> str:
        def lines(floor: int, cap: int | None) -> str:
            return ("" if floor == 1 else f"{floor}-") + (ALL_LINES if cap is None else str(cap))
        return ",".join(f"{e}:{lines(f, c)}" for e, f, c in self.steps) or "none"


def dataset_shapes(dataset: Dataset) -> np.ndarray | None:
    """(N, 3) int array of each sample's (height, width, lines) this epoch, or None when unknown.

    Datasets that know (crops, synthetic paragraphs) define `sample_shapes()`; ConcatDataset and
    Subset are looked through."""
    if isinstance(dataset, ConcatDataset):
        parts = [dataset_shapes(part) for part in dataset.datasets]
        if any(part is None for part in parts):
            return None
        return np.concatenate([part for part in parts if part is not None])
    if isinstance(dataset, Subset):
        shapes = dataset_shapes(dataset.dataset)
        return None if shapes is None else shapes[np.asarray(dataset.indices)]
    method = getattr(dataset, "sample_shapes", None)
    return np.asarray(method()) if callable(method) else None


def set_dataset_epoch(dataset: Dataset, epoch: int) -> None:
    """Call set_epoch on the dataset, or on every dataset inside a ConcatDataset or Subset."""
    if isinstance(dataset, ConcatDataset):
        for part in dataset.datasets:
            set_dataset_epoch(part, epoch)
    elif isinstance(dataset, Subset):
        set_dataset_epoch(dataset.dataset, epoch)
    else:
        set_epoch = getattr(dataset, "set_epoch", None)  # SyntheticParagraphs has one; other datasets need none
        if callable(set_epoch):
            set_epoch(epoch)


class BucketSampler(DistributedSampler):
    """Yields lists of dataset indices, one list per batch (see the module docstring)."""

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
        curriculum: Curriculum | None = None,
        samples_per_epoch: int | None = None,
    ) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed)
        if batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {batch_size}")
        self.batch_size = batch_size
        self.curriculum = curriculum if shuffle else None  # evaluation always sees everything
        size = len(dataset)  # type: ignore[arg-type]
        self.epoch_size = (samples_per_epoch or size) if shuffle else size

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        set_dataset_epoch(self.dataset, epoch)  # synthetic paragraphs regroup before we read their sizes

    def _pool(self, shapes: np.ndarray | None) -> np.ndarray:
        everything = np.arange(len(self.dataset))  # type: ignore[arg-type]
        floor, cap = self.curriculum.line_range(self.epoch) if self.curriculum is not None else (1, None)
        if (floor, cap) == (1, None) or shapes is None:
            return everything
        lines = shapes[:, 2]
        pool = np.flatnonzero((lines >= floor) & (lines <= (cap or lines.max())))
        if not pool.size:  # e.g. IAMParagraphs alone in a lines-only epoch: it holds no single lines
            allowed = f"{floor} to {ALL_LINES if cap is None else cap}"
            warnings.warn(f"--curriculum allows {allowed} lines in epoch {self.epoch}, but no sample has that "
                          "many: this epoch uses every sample", stacklevel=2)
            return everything
        return pool

    def _num_batches(self) -> int:
        window = self.batch_size * BUCKET_BATCHES if self.shuffle else max(self.epoch_size, 1)
        full, rest = divmod(self.epoch_size, window)
        return full * math.ceil(window / self.batch_size) + math.ceil(rest / self.batch_size)

    def batches(self) -> list[list[int]]:
        """Every rank's batches of this epoch, in order."""
        shapes = dataset_shapes(self.dataset)
        rng = np.random.default_rng([self.seed, self.epoch if self.shuffle else 0])
        pool = self._pool(shapes)
        if not len(pool):
            return []
        if self.shuffle:
            repeats = math.ceil(self.epoch_size / len(pool))
            order = np.concatenate([rng.permutation(pool) for _ in range(repeats)])[: self.epoch_size]
            window = self.batch_size * BUCKET_BATCHES
        else:
            order, window = pool, max(len(pool), 1)
        batches = []
        for start in range(0, len(order), window):
            chunk = order[start : start + window]
            if shapes is not None:
                chunk = chunk[np.lexsort((shapes[chunk, 1], shapes[chunk, 0]))]  # by height, then width
            batches += [chunk[i : i + self.batch_size].tolist() for i in range(0, len(chunk), self.batch_size)]
        batches = [batches[i] for i in rng.permutation(len(batches))]
        total = math.ceil(len(batches) / self.num_replicas) * self.num_replicas
        return batches + batches[: total - len(batches)]

    def __iter__(self):
        return iter(self.batches()[self.rank :: self.num_replicas])

    def __len__(self) -> int:
        return math.ceil(self._num_batches() / self.num_replicas)


def collate_padded(samples: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(image, label) pairs -> (B, 1, H, W) images padded to the batch's largest, (B, L) labels."""
    images, labels = zip(*samples)
    return pad_batch(images), torch.stack(labels)


def collate_stacked(samples: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(image, label) pairs of images of one size (a fixed canvas, as IAMLineStem's) -> (B, 1, H, W), (B, L)."""
    images, labels = zip(*samples)
    return torch.stack(images), torch.stack(labels)


class BatchedDataset(Dataset):
    """dataset[list of indices] -> one padded batch (what a BucketSampler's DataLoader reads)."""

    def __init__(self, dataset: Dataset, collate: Callable[[Sequence[Any]], Any] = collate_padded) -> None:
        self.dataset, self.collate = dataset, collate

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, indices: list[int]) -> Any:
        return self.collate([self.dataset[index] for index in indices])


@dataclass
class BatchingOptions:
    """The flags of content-sized batching, shared by the paragraph data modules."""

    fixed_canvas: bool = False
    curriculum: Curriculum = field(default_factory=lambda: Curriculum.parse(CURRICULUM))
    samples_per_epoch: int = SAMPLES_PER_EPOCH
    seed: int = SAMPLER_SEED

    @staticmethod
    def add_to_argparse(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument(
            "--fixed_canvas", type=str2bool, default=False,
            help="paste every image on the full 576x640 canvas, as the reference did (default: each batch is "
            "padded to its own largest image)",
        )
        parser.add_argument(
            "--curriculum", type=str, default=CURRICULUM,
            help="epoch:max_lines,... or epoch:min-max,...: training samples of at most max_lines lines (or "
            f"min to max) from that epoch on ('{ALL_LINES}': no cap; '': no curriculum; '0:3-all': pages of 3 "
            "lines or more)",
        )
        parser.add_argument(
            "--samples_per_epoch", type=non_negative_int, default=SAMPLES_PER_EPOCH,
            help="training samples per epoch, drawn from the curriculum's pool (0: the training set's size)",
        )
        parser.add_argument("--sampler_seed", type=int, default=SAMPLER_SEED, help="seed of the batches' order")
        return parser

    @classmethod
    def from_args(cls, args: dict[str, Any]) -> BatchingOptions:
        samples = args.get("samples_per_epoch", SAMPLES_PER_EPOCH)
        if samples < 0:
            raise ValueError(f"--samples_per_epoch must be 0 (the training set's size) or more, got {samples}")
        return cls(
            fixed_canvas=args.get("fixed_canvas", False),
            curriculum=Curriculum.parse(args.get("curriculum", CURRICULUM)),
            samples_per_epoch=samples,
            seed=args.get("sampler_seed", SAMPLER_SEED),
        )


class ContentSizedLoaders:
    """train/val/test loaders of BucketSampler batches, for a BaseDataModule with `self.batching` set."""

    batching: BatchingOptions
    batch_size: int
    trainer: Any
    make_loader: Callable[..., DataLoader]  # BaseDataModule's
    data_train: Any
    data_val: Any
    data_test: Any
    # How a batch's images are put together: padded to the largest (content-sized stems), or stacked
    # (stems with a fixed canvas, whose models expect exactly that size).
    collate: Callable[[Sequence[Any]], Any] = staticmethod(collate_padded)

    def config(self) -> dict[str, Any]:
        """The data config, plus how images were batched (the recognizer preprocesses the same way)."""
        return {**super().config(), "fixed_canvas": self.batching.fixed_canvas,  # type: ignore[misc]
                "line_pitch": self.line_pitch, "read_by": self.batching.curriculum.read_by}

    @property
    def line_pitch(self) -> float:
        """The pitch the stems rescale handwriting to (--line_pitch; the recognizer reads at it too)."""
        return float(self.args.get("line_pitch", TARGET_LINE_PITCH))  # type: ignore[attr-defined]

    def _bucket_loader(self, dataset: Dataset, shuffle: bool) -> DataLoader:
        trainer = self.trainer  # set by Lightning when fitting; None in plain PyTorch loops
        replicas = (trainer.distributed_sampler_kwargs if trainer is not None else None) or {"num_replicas": 1, "rank": 0}
        sampler = BucketSampler(
            dataset,
            self.batch_size,
            shuffle=shuffle,
            seed=self.batching.seed,
            num_replicas=replicas["num_replicas"],
            rank=replicas["rank"],
            curriculum=self.batching.curriculum,
            samples_per_epoch=self.batching.samples_per_epoch or None,
        )
        return self.make_loader(BatchedDataset(dataset, self.collate), sampler=sampler, batch_size=None)  # whole batches

    def train_dataloader(self) -> DataLoader:
        if self.trainer is not None and self.trainer.overfit_batches:
            # Lightning overfits on the first batches in index order (it would swap in a sequential
            # sampler of single indices): give it that, padded like every other batch.
            return self.make_loader(self.data_train, batch_size=self.batch_size, shuffle=False, collate_fn=self.collate)
        return self._bucket_loader(self.data_train, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._bucket_loader(self.data_val, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._bucket_loader(self.data_test, shuffle=False)
