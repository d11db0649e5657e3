"""BaseDataModule: the flags, config() and loaders every data class shares."""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, Protocol

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from text_recognizer.util import DataUnavailableError, non_negative_int, positive_int

BATCH_SIZE = 128
NUM_WORKERS = 0


class SizedDataset(Protocol):
    """A map-style dataset: indexable and with a length. torch's Dataset declares no __len__, so
    `len(data_train)` would not type-check; every dataset here (BaseDataset, Subset, ConcatDataset,
    the crop and synthetic datasets) has one."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Any: ...


def as_torch_dataset(dataset: SizedDataset) -> Dataset:
    """The same dataset, checked to be a torch Dataset, which is what DataLoader, ConcatDataset and the
    samplers are typed to take (every dataset here subclasses it)."""
    if not isinstance(dataset, Dataset):
        raise TypeError(f"expected a torch.utils.data.Dataset, got {type(dataset).__name__}")
    return dataset


class BaseDataModule(pl.LightningDataModule):
    """Subclasses set `input_dims`, `output_dims`, `mapping` in __init__ and the datasets in setup()."""

    def __init__(self, args: argparse.Namespace | None = None) -> None:
        super().__init__()
        self.args = vars(args) if args is not None else {}
        self.batch_size: int = self.args.get("batch_size", BATCH_SIZE)
        self.num_workers: int = self.args.get("num_workers", NUM_WORKERS)
        self.on_gpu = isinstance(self.args.get("gpus"), (str, int)) or self.args.get("accelerator") in ("gpu", "cuda")
        self.input_dims: Sequence[int]
        self.output_dims: Sequence[int]
        self.mapping: Sequence[Any]
        self.data_train: SizedDataset
        self.data_val: SizedDataset
        self.data_test: SizedDataset

    @staticmethod
    def add_to_argparse(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument("--batch_size", type=positive_int, default=BATCH_SIZE, help="examples per step, per process")
        parser.add_argument("--num_workers", type=non_negative_int, default=NUM_WORKERS, help="data loading processes")
        return parser

    def config(self) -> dict[str, Any]:
        """What a model needs to know about the data."""
        return {"input_dims": self.input_dims, "output_dims": self.output_dims, "mapping": self.mapping}

    def prepare_data(self, *args, **kwargs) -> None:
        """Download and cache; Lightning runs this on one process per node."""

    def setup(self, stage: str | None = None) -> None:
        """Build data_train, data_val, data_test; runs on every process."""

    def _loader(self, dataset: SizedDataset, shuffle: bool) -> DataLoader:
        return self.make_loader(as_torch_dataset(dataset), shuffle=shuffle, batch_size=self.batch_size)

    def make_loader(self, dataset: Dataset, **kwargs: Any) -> DataLoader:
        """A DataLoader with this module's workers and memory pinning; `kwargs` say how to batch."""
        return DataLoader(
            dataset,
            num_workers=self.num_workers,
            pin_memory=self.on_gpu and torch.cuda.is_available(),
            persistent_workers=self.num_workers > 0,
            **kwargs,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.data_train, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.data_val, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.data_test, shuffle=False)

    def __repr__(self) -> str:
        lines = [
            f"{type(self).__name__}",
            f"  input dims: {tuple(self.input_dims)}, output dims: {tuple(self.output_dims)}",
            f"  mapping: {len(self.mapping)} classes",
        ]
        for name in ("train", "val", "test"):
            dataset = getattr(self, f"data_{name}", None)
            lines.append(f"  {name}: {len(dataset) if dataset is not None else 'not set up'}")
        dataset = getattr(self, "data_train", None) or getattr(self, "data_test", None)
        if dataset is not None and len(dataset):
            x, y = dataset[0]
            lines.append(f"  first sample: x {_describe(x)}, y {_describe(y)}")
        return "\n".join(lines)

    def __str__(self) -> str:  # LightningDataModule's own __str__ lists loader sizes only
        return repr(self)


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        if value.is_floating_point():
            return f"{tuple(value.shape)} {value.dtype} in [{value.min():.3f}, {value.max():.3f}]"
        return f"{tuple(value.shape)} {value.dtype}"
    return repr(value)


def load_and_print_info(data_module_class: type[BaseDataModule], argv: Sequence[str] | None = None) -> BaseDataModule:
    """Build a data module from command-line flags, prepare it and print what it holds (for `__main__`)."""
    parser = argparse.ArgumentParser(description=f"Build {data_module_class.__name__} and print what it holds.")
    data_module_class.add_to_argparse(parser)
    args = parser.parse_args(argv)
    data_module = data_module_class(args)
    try:
        data_module.prepare_data()
        data_module.setup()
    except DataUnavailableError as error:  # the message says what to do: no traceback
        raise SystemExit(f"error: {error}") from error
    print(data_module)
    return data_module
