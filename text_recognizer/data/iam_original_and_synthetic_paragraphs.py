"""IAMOriginalAndSyntheticParagraphs: train on real and synthetic paragraphs, validate and test on real ones.

    python -m text_recognizer.data.iam_original_and_synthetic_paragraphs --iam_source=rendered
"""
from __future__ import annotations

import argparse

from torch.utils.data import ConcatDataset

from text_recognizer.data.base_data_module import (
    BaseDataModule,
    as_torch_dataset,
    load_and_print_info,
)
from text_recognizer.data.batching import ContentSizedLoaders
from text_recognizer.data.iam_paragraphs import IAMParagraphs
from text_recognizer.data.iam_synthetic_paragraphs import IAMSyntheticParagraphs


class IAMOriginalAndSyntheticParagraphs(ContentSizedLoaders, BaseDataModule):
    """train = IAMParagraphs' train (augmented) + IAMSyntheticParagraphs; val, test = IAMParagraphs' (not augmented)."""

    def __init__(self, args: argparse.Namespace | None = None) -> None:
        super().__init__(args)
        self.original = IAMParagraphs(args)
        self.synthetic = IAMSyntheticParagraphs(args)
        self.batching = self.original.batching
        self.mapping = self.original.mapping
        self.input_dims = self.original.input_dims
        self.output_dims = self.original.output_dims

    @staticmethod
    def add_to_argparse(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        return IAMSyntheticParagraphs.add_to_argparse(parser)  # the flags of both parts

    def prepare_data(self, *args, **kwargs) -> None:
        self.original.prepare_data()
        self.synthetic.prepare_data()

    def setup(self, stage: str | None = None) -> None:
        self.original.setup(stage)
        self.synthetic.setup(stage)
        self.data_train = ConcatDataset([as_torch_dataset(self.original.data_train), as_torch_dataset(self.synthetic.data_train)])
        self.data_val, self.data_test = self.original.data_val, self.original.data_test

    def __repr__(self) -> str:
        text = super().__repr__()
        if hasattr(self, "data_train"):
            text += (
                f"\n  train = {len(self.original.data_train)} real + {len(self.synthetic.data_train)} synthetic "
                f"paragraphs (from {self.synthetic.n_lines} lines); source: {self.original.iam.cache_name}, "
                f"augment train: {self.original.augment}, curriculum: {self.batching.curriculum}"
            )
        return text


if __name__ == "__main__":
    load_and_print_info(IAMOriginalAndSyntheticParagraphs)
