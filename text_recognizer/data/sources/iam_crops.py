"""Processed caches of IAM crops (lines, paragraphs): cut once from the forms, saved as PNGs, read lazily.

A cache is a folder `<the module's processed_dirname()>/<IAM.cache_name>/` holding `<split>/<sample id>.png`
and `labels.json` ({"version", "splits": {split: [{"id", "label", "width", "height"}, ...]}}).
It is written into a temporary sibling folder and renamed into place only when complete, so an
interrupted build never leaves a half cache, and a present cache is simply reused.
Datasets open the PNGs in `__getitem__`: memory stays small with many DataLoader workers, and a
PNG decode (about a millisecond) is cheap next to augmentation.
"""
from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset

from text_recognizer.util import DataUnavailableError, atomic_path, read_image_pil

CACHE_VERSION = 1
LABELS_FILENAME = "labels.json"
Record = dict[str, Any]  # {"id", "label", "width", "height"}
Sample = tuple[str, Image.Image, str]  # (sample id, image, label)


def read_form_image(filename: str | Path) -> Image.Image:
    """A form as 8-bit grayscale with white ink on black (the models' convention: background = 0)."""
    return ImageOps.invert(read_image_pil(filename, grayscale=True))


def crop_region(image: Image.Image, region: dict[str, int]) -> Image.Image:
    return image.crop((region["x1"], region["y1"], region["x2"], region["y2"]))


def downscale(image: Image.Image, factor: int) -> Image.Image:
    """Divide both sides by `factor` (at least one pixel each)."""
    size = (max(1, image.width // factor), max(1, image.height // factor))
    return image.resize(size, resample=Image.Resampling.BILINEAR)


def cache_exists(dirname: Path) -> bool:
    return (Path(dirname) / LABELS_FILENAME).is_file()


def write_cache(dirname: Path, samples_by_split: dict[str, Iterable[Sample]]) -> None:
    """Save every split's samples as PNGs plus labels.json, atomically (temp folder, then rename)."""
    with atomic_path(dirname, is_dir=True) as staging:
        splits: dict[str, list[Record]] = {}
        for split, samples in samples_by_split.items():
            (staging / split).mkdir()
            records = splits[split] = []
            for sample_id, image, label in samples:
                image.save(staging / split / f"{sample_id}.png")
                records.append({"id": sample_id, "label": label, "width": image.width, "height": image.height})
        manifest = {"version": CACHE_VERSION, "splits": splits}
        (staging / LABELS_FILENAME).write_text(json.dumps(manifest, indent=1))


def read_cache(dirname: Path) -> dict[str, list[Record]]:
    """The records of every split; raises with what to do when the cache is missing or stale."""
    filename = Path(dirname) / LABELS_FILENAME
    if not filename.is_file():
        raise FileNotFoundError(f"no processed data at {dirname}: call prepare_data() before setup()")
    manifest = json.loads(filename.read_text())
    if manifest.get("version") != CACHE_VERSION:
        raise DataUnavailableError(f"{dirname} was written by another version of this code: delete it and run again")
    return manifest["splits"]


def check_label_lengths(records: Sequence[Record], max_length: int, what: str) -> None:
    """Every label must fit the decoder: `max_length` tokens including <S> and <E>."""
    too_long = [record for record in records if len(record["label"]) + 2 > max_length]
    if too_long:
        worst = max(too_long, key=lambda record: len(record["label"]))
        raise ValueError(
            f"{len(too_long)} {what} labels exceed the maximum of {max_length} tokens (with <S> and <E>); the "
            f"longest is {worst['id']} with {len(worst['label']) + 2}: {worst['label'][:80]!r}... "
            "Raise MAX_LABEL_LENGTH in text_recognizer/metadata (and retrain), or drop those samples."
        )


def warn_naming(records: Sequence[Record], problem: str) -> None:
    """When there are any, warn "<count> <problem>: " and the first few crops' ids and sizes."""
    if records:
        names = ", ".join(f"{r['id']} ({r['width']}x{r['height']})" for r in records[:5])
        warnings.warn(f"{len(records)} {problem}: {names}{', ...' if len(records) > 5 else ''}", stacklevel=3)


def warn_if_bigger_than(records: Sequence[Record], height: int, width: int, what: str) -> None:
    """Crops bigger than the canvas are scaled down by the stem (never cropped): say which ones."""
    big = [record for record in records if record["height"] > height or record["width"] > width]
    warn_naming(big, f"{what} images are bigger than the {width}x{height} (WxH) canvas and will be scaled "
                     "down to fit, which shrinks their handwriting")


class CropDataset(Dataset):
    """(image tensor, label tensor) pairs read from a cache split; `stem` turns the PIL image into a tensor."""

    def __init__(self, dirname: Path, records: Sequence[Record], labels: torch.Tensor, stem: Callable) -> None:
        if len(records) != len(labels):
            raise ValueError(f"{len(records)} records but {len(labels)} labels")
        self.filenames = [str(Path(dirname) / f"{record['id']}.png") for record in records]
        self.labels = labels
        self.stem = stem
        self.shapes = np.array(
            [(r["height"], r["width"], r["label"].count("\n") + 1) for r in records], dtype=np.int64
        ).reshape(-1, 3)

    def sample_shapes(self) -> np.ndarray:
        """(N, 3): each crop's height, width and number of lines (for batching by size and the curriculum)."""
        return self.shapes

    def __len__(self) -> int:
        return len(self.filenames)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        with Image.open(self.filenames[index]) as image:
            return self.stem(image.convert("L")), self.labels[index]
