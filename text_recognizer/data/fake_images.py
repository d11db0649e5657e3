"""FakeImageData: small learnable random images, for testing the training system without downloads."""
from __future__ import annotations

import argparse

import torch

from text_recognizer.data.base_data_module import BaseDataModule, load_and_print_info
from text_recognizer.data.util import BaseDataset

NUM_SAMPLES = 512
NUM_CLASSES = 10
IMAGE_HEIGHT = 28
IMAGE_WIDTH = 28
NOISE = 0.25
SEED = 0


class FakeImageData(BaseDataModule):
    """Each class is a fixed random prototype image; samples are prototypes plus Gaussian noise.

    Unlike pure noise, a model can learn it (val loss falls), so a training run shows the
    system works end to end. Train/val/test get different samples of the same prototypes.
    """

    def __init__(self, args: argparse.Namespace | None = None) -> None:
        super().__init__(args)
        self.num_samples = self.args.get("num_samples", NUM_SAMPLES)
        self.num_classes = self.args.get("num_classes", NUM_CLASSES)
        height = self.args.get("image_height", IMAGE_HEIGHT)
        width = self.args.get("image_width", IMAGE_WIDTH)
        self.noise = self.args.get("noise", NOISE)
        self.seed = self.args.get("seed", SEED)
        self.input_dims = (1, height, width)
        self.output_dims = (1,)
        self.mapping = list(range(self.num_classes))

    @staticmethod
    def add_to_argparse(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        BaseDataModule.add_to_argparse(parser)
        parser.add_argument("--num_samples", type=int, default=NUM_SAMPLES, help="training samples (val/test get a quarter each)")
        parser.add_argument("--num_classes", type=int, default=NUM_CLASSES, help="number of classes")
        parser.add_argument("--image_height", type=int, default=IMAGE_HEIGHT, help="image height in pixels")
        parser.add_argument("--image_width", type=int, default=IMAGE_WIDTH, help="image width in pixels")
        parser.add_argument("--noise", type=float, default=NOISE, help="std of the noise added to the prototypes")
        return parser

    def setup(self, stage: str | None = None) -> None:
        generator = torch.Generator().manual_seed(self.seed)
        prototypes = torch.rand(self.num_classes, *self.input_dims, generator=generator)

        def make(count: int) -> BaseDataset:
            labels = torch.randint(self.num_classes, (count,), generator=generator)
            noise = self.noise * torch.randn(count, *self.input_dims, generator=generator)
            images = (prototypes[labels] + noise).clamp(0, 1)
            return BaseDataset(images, labels)

        self.data_train = make(self.num_samples)
        self.data_val = make(max(1, self.num_samples // 4))
        self.data_test = make(max(1, self.num_samples // 4))


if __name__ == "__main__":
    load_and_print_info(FakeImageData)
