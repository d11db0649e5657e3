"""MNIST digits, downloaded through torchvision."""
from __future__ import annotations

import argparse

from torchvision import datasets, transforms

from text_recognizer.data.base_data_module import BaseDataModule, load_and_print_info
from text_recognizer.data.util import split_dataset
from text_recognizer.metadata import mnist as metadata
from text_recognizer.util import DataUnavailableError

SPLIT_SEED = 42


class MNIST(BaseDataModule):
    """The 60k/10k MNIST digits; the training set is split 55k/5k into train and val with a fixed seed."""

    def __init__(self, args: argparse.Namespace | None = None) -> None:
        super().__init__(args)
        self.data_dir = metadata.dl_dirname()
        self.transform = transforms.ToTensor()
        self.input_dims = metadata.DIMS
        self.output_dims = metadata.OUTPUT_DIMS
        self.mapping = metadata.MAPPING

    def prepare_data(self, *args, **kwargs) -> None:
        for train in (True, False):
            try:
                datasets.MNIST(self.data_dir, train=train, download=True)
            except Exception as error:  # torchvision tries each mirror, then raises
                mirrors = ", ".join(datasets.MNIST.mirrors)
                raise DataUnavailableError(
                    f"MNIST could not be downloaded from {mirrors} ({error}). Without network, place the four "
                    f"files train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
                    f"t10k-labels-idx1-ubyte in {self.data_dir / 'MNIST' / 'raw'}, or train on "
                    "--data_class=FakeImageData to check the training system."
                ) from error

    def setup(self, stage: str | None = None) -> None:
        full_train = datasets.MNIST(self.data_dir, train=True, transform=self.transform)
        fraction = metadata.TRAIN_SIZE / (metadata.TRAIN_SIZE + metadata.VAL_SIZE)
        self.data_train, self.data_val = split_dataset(full_train, fraction=fraction, seed=SPLIT_SEED)
        self.data_test = datasets.MNIST(self.data_dir, train=False, transform=self.transform)


if __name__ == "__main__":
    load_and_print_info(MNIST)
