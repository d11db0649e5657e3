"""EMNISTLines: synthetic handwriting lines made of EMNIST characters placed side by side.

    python -m text_recognizer.data.emnist_lines --num_train=100 [--emnist_archive=PATH]

Each line is a run of English words from the sentence generator (at most max_length - 2
characters, leaving room for <S> and <E>); every character is an EMNIST image of that character
(the same image for each occurrence within a line), and consecutive characters overlap by a
fraction of their width drawn once per line from [min_overlap, max_overlap). Characters without
EMNIST images (EMNIST has letters and digits only) are left out of the text, as the reference's
generator stripped punctuation; a space is an empty cell. The lines are generated once with fixed
seeds and cached as HDF5 (see `data_filename`); EMNIST's train+val characters make the train and val
lines, its test characters the test lines.
"""
from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import h5py
import numpy as np
import torch
from torchvision import transforms

from text_recognizer.data.base_data_module import BaseDataModule, load_and_print_info
from text_recognizer.data.emnist import EMNIST
from text_recognizer.data.synthetic.sentence_generator import SentenceGenerator
from text_recognizer.data.util import BaseDataset
from text_recognizer.metadata import emnist_lines as metadata
from text_recognizer.metadata.shared import END_TOKEN, PADDING_TOKEN
from text_recognizer.util import atomic_path, str2bool
from text_recognizer.vocabulary import convert_strings_to_labels

MAX_LENGTH = 32  # tokens per label (texts are at most MAX_LENGTH - 2 characters, leaving room for <S> and <E>)
# As in the reference: EMNISTLines labels are the characters then <P> padding, so that a model reading
# one 28-pixel cell per character (LineCNNSimple) lines up with them; the transformer needs <S>/<E>.
WITH_START_END_TOKENS = False
MIN_OVERLAP = 0.0
MAX_OVERLAP = 0.33
NUM_TRAIN = 10000
NUM_VAL = 2000
NUM_TEST = 2000
SEED = 42
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class LineDefaults:
    """The flags' defaults, one set per class (EMNISTLines2 has its own), typed so that mypy sees them."""

    max_length: int
    min_overlap: float
    max_overlap: float
    num_train: int
    num_val: int
    num_test: int
    with_start_end_tokens: bool


class EMNISTLines(BaseDataModule):
    """Lines of EMNIST characters: images (1, 28, 28 * max_length), labels (max_length,) tokens."""

    defaults: ClassVar[LineDefaults] = LineDefaults(
        max_length=MAX_LENGTH,
        min_overlap=MIN_OVERLAP,
        max_overlap=MAX_OVERLAP,
        num_train=NUM_TRAIN,
        num_val=NUM_VAL,
        num_test=NUM_TEST,
        with_start_end_tokens=WITH_START_END_TOKENS,
    )
    processed_dirname = staticmethod(metadata.processed_dirname)  # the subclass keeps its caches apart
    x_start = 0  # where the first character goes

    def __init__(self, args: argparse.Namespace | None = None) -> None:
        super().__init__(args)
        d = self.defaults
        self.max_length: int = self.args.get("max_length", d.max_length)
        self.min_overlap: float = self.args.get("min_overlap", d.min_overlap)
        self.max_overlap: float = self.args.get("max_overlap", d.max_overlap)
        self.num_train: int = self.args.get("num_train", d.num_train)
        self.num_val: int = self.args.get("num_val", d.num_val)
        self.num_test: int = self.args.get("num_test", d.num_test)
        self.with_start_end_tokens: bool = self.args.get("with_start_end_tokens", d.with_start_end_tokens)
        if not 0 <= self.min_overlap <= self.max_overlap < 1:
            raise ValueError(
                f"need 0 <= --min_overlap <= --max_overlap < 1, got {self.min_overlap} and {self.max_overlap}"
            )
        self.emnist = EMNIST(args)
        self.mapping = self.emnist.mapping
        self.input_dims, self.output_dims = self.dims()
        self.line_width = self.input_dims[2]

    def dims(self) -> tuple[tuple[int, int, int], tuple[int, int]]:
        return (1, metadata.CHAR_HEIGHT, metadata.CHAR_WIDTH * self.max_length), (self.max_length, 1)

    @classmethod
    def add_to_argparse(cls, parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        EMNIST.add_to_argparse(parser)
        d = cls.defaults
        add = parser.add_argument
        add("--max_length", type=int, default=d.max_length, help="max label length in tokens, with <S> and <E>")
        add("--min_overlap", type=float, default=d.min_overlap, help="min overlap of neighbouring characters, in [0, 1)")
        add("--max_overlap", type=float, default=d.max_overlap, help="max overlap of neighbouring characters, in [0, 1)")
        add("--num_train", type=int, default=d.num_train, help="lines generated for training")
        add("--num_val", type=int, default=d.num_val, help="lines generated for validation")
        add("--num_test", type=int, default=d.num_test, help="lines generated for testing")
        add(
            "--with_start_end_tokens",
            type=str2bool,
            nargs="?",
            const=True,
            default=d.with_start_end_tokens,
            help="labels are <S> chars <E> <P>... (true) or chars <P>... (false)",
        )
        return parser

    @property
    def data_filename(self) -> Path:
        """One cache per setting and per EMNIST source (the download or a given archive)."""
        return self.processed_dirname() / (
            f"ml{self.max_length}_o{self.min_overlap:f}_{self.max_overlap:f}_ntr{self.num_train}"
            f"_nva{self.num_val}_nte{self.num_test}_se{int(self.with_start_end_tokens)}"
            f"_{self.emnist.processed_filename.stem}.h5"
        )

    def prepare_data(self, *args, **kwargs) -> None:
        if self.data_filename.exists():
            return
        self.emnist.prepare_data()
        self.emnist.setup()
        counts = {"train": self.num_train, "val": self.num_val, "test": self.num_test}
        with atomic_path(self.data_filename) as temp, h5py.File(temp, "w") as file:
            for index, split in enumerate(SPLITS):
                print(f"{type(self).__name__}: generating {counts[split]} {split} lines...")
                test = split == "test"
                x = self.emnist.x_test if test else self.emnist.x_trainval
                y = self.emnist.y_test if test else self.emnist.y_trainval
                images, labels = self.generate_lines(counts[split], samples_by_char(x, y, self.mapping), SEED + index)
                file.create_dataset(f"x_{split}", data=images, dtype="u1", compression="lzf")
                file.create_dataset(f"y_{split}", data=labels.numpy(), dtype="u1", compression="lzf")

    def generate_lines(self, num: int, samples: dict[str, list[np.ndarray]], seed: int) -> tuple[np.ndarray, torch.Tensor]:
        """`num` line images (num, H, W) uint8 and their labels (num, output length), reproducibly from `seed`."""
        rng = np.random.default_rng(seed)
        sentences = SentenceGenerator(self.max_length - 2, seed=seed)
        _, height, width = self.input_dims
        images = np.zeros((num, height, width), dtype=np.uint8)
        top = (height - metadata.CHAR_HEIGHT) // 2  # characters are centred vertically
        texts = []
        for n in range(num):
            text = keep_available_characters(sentences.generate(), samples)
            overlap = rng.uniform(self.min_overlap, self.max_overlap)
            line = construct_image_from_string(text, samples, overlap, self.line_width, self.x_start, rng)
            images[n, top : top + metadata.CHAR_HEIGHT] = line
            texts.append(text)
        length = self.output_dims[0]
        if self.with_start_end_tokens:
            return images, convert_strings_to_labels(texts, self.mapping, length)
        return images, without_start_end(convert_strings_to_labels(texts, self.mapping, length + 1), self.mapping)

    def setup(self, stage: str | None = None) -> None:
        if not self.data_filename.exists():
            self.prepare_data()
        with h5py.File(self.data_filename, "r") as file:
            data = {name: file[name][:] for name in file}
        self.data_train = BaseDataset(data["x_train"], torch.from_numpy(data["y_train"]).long(), self.line_transform(True))
        # Validation and test are never augmented (the reference augmented validation, which blurred val_loss).
        self.data_val = BaseDataset(data["x_val"], torch.from_numpy(data["y_val"]).long(), self.line_transform(False))
        self.data_test = BaseDataset(data["x_test"], torch.from_numpy(data["y_test"]).long(), self.line_transform(False))

    def line_transform(self, augment: bool) -> transforms.Compose:
        """(H, W) uint8 array -> (1, H, W) float tensor in [0, 1]; EMNISTLines does not augment."""
        return transforms.Compose([transforms.ToTensor()])

    def __repr__(self) -> str:
        settings = (
            f"  max length {self.max_length}, overlap {self.min_overlap}-{self.max_overlap}, "
            f"lines {self.num_train}/{self.num_val}/{self.num_test}"
        )
        return f"{super().__repr__()}\n{settings}"


def without_start_end(labels: torch.Tensor, mapping: Sequence[str]) -> torch.Tensor:
    """<S> chars <E> <P>... rows -> chars <P>... rows, one token shorter.

    >>> without_start_end(torch.tensor([[1, 7, 8, 2, 3]]), ["<B>", "<S>", "<E>", "<P>"]).tolist()
    [[7, 8, 3, 3]]
    """
    labels = labels[:, 1:].clone()
    labels[labels == mapping.index(END_TOKEN)] = mapping.index(PADDING_TOKEN)
    return labels


def samples_by_char(images: np.ndarray, labels: np.ndarray, mapping: Sequence[str]) -> dict[str, list[np.ndarray]]:
    """Character -> its EMNIST images."""
    samples = defaultdict(list)
    for image, label in zip(images, labels):
        samples[mapping[label]].append(image)
    return dict(samples)


def keep_available_characters(text: str, samples: dict[str, list[np.ndarray]]) -> str:
    """The text without characters that have no images (spaces stay); doubled spaces collapsed.

    >>> keep_available_characters("Hi, you!", {"H": [0], "i": [0], "y": [0], "o": [0], "u": [0]})
    'Hi you'
    """
    kept = "".join(char for char in text if char == " " or samples.get(char))
    return " ".join(kept.split())


def construct_image_from_string(
    text: str, samples: dict[str, list[np.ndarray]], overlap: float, width: int, x_start: int, rng: np.random.Generator
) -> np.ndarray:
    """(28, width) uint8: the characters' images left to right, each `overlap` of a width over the previous.

    Overlapping pixels add up and saturate at 255 (the reference added in uint8, which wrapped around).
    """
    chosen: dict[str, np.ndarray | None] = {}  # None: no image for that character
    line = np.zeros((metadata.CHAR_HEIGHT, width), dtype=np.uint16)
    step = metadata.CHAR_WIDTH - int(overlap * metadata.CHAR_WIDTH)
    x = x_start
    for char in text:
        if char not in chosen:  # one image per character and line, as in the reference
            options = samples.get(char)
            chosen[char] = options[rng.integers(len(options))] if options else None
        image = chosen[char]
        if image is not None:
            right = min(x + metadata.CHAR_WIDTH, width)
            if right <= x:
                raise ValueError(f"line {text!r} does not fit in {width} pixels")
            line[:, x:right] += image[:, : right - x]
        x += step
    return np.minimum(line, 255).astype(np.uint8)


if __name__ == "__main__":
    load_and_print_info(EMNISTLines)
