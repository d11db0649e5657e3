"""HandwritingFolder: train on your own transcribed handwriting, in the layouts other tools use.

    python -m text_recognizer.data.handwriting_folder --data_dir=DIR [--unit=line]

DIR (or each of its train/ val/ test/ subfolders, when it has them) may hold, mixed:
- images (.png .jpg .jpeg .tif .tiff) each with a sibling .txt: its transcription, lines separated by
  newlines;
- a manifest labels.jsonl ({"image": path relative to the manifest, "text": ...} per line) or labels.csv
  (columns image,text);
- PAGE XML (2013, 2019) or ALTO (v4) files, one per page, beside their page images: each TextRegion /
  TextBlock is a paragraph sample (the box around its lines, their texts joined by "\n" in reading
  order), or with --unit=line each TextLine a sample.
Samples are cut once into a cache like the IAM crops (atomic, reused while the folder's files are
unchanged, versioned), then go through the same stems and content-sized batches as IAM.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import unicodedata
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from text_recognizer.data.base_data_module import BaseDataModule, load_and_print_info
from text_recognizer.data.batching import BatchingOptions, ContentSizedLoaders, collate_stacked
from text_recognizer.data.iam_lines import warn_if_wider_than_canvas
from text_recognizer.data.sources import iam_crops
from text_recognizer.data.sources.layout_xml import read_layout
from text_recognizer.data.synthetic.photo_effects import add_photo_augment_flag, photo_augment
from text_recognizer.data.vocabulary_check import apply_unknown_chars
from text_recognizer.metadata import handwriting_folder as metadata
from text_recognizer.metadata import iam_lines, iam_paragraphs
from text_recognizer.metadata.shared import shown_path
from text_recognizer.stems.line import IAMLineStem
from text_recognizer.stems.page_normalize import normalize_page
from text_recognizer.stems.paragraph import (
    ELASTIC_DISPLACEMENT,
    TARGET_LINE_PITCH,
    MatchTrainingScale,
    ParagraphStem,
    add_augmentation_flags,
    rescale,
)
from text_recognizer.stems.paragraph_core import white_ink_on_black
from text_recognizer.util import DataUnavailableError, str2bool, to_grayscale
from text_recognizer.vocabulary import convert_labels_to_strings, convert_strings_to_labels

Box = tuple[int, int, int, int]
AUTO_SCALE = "auto"
# A user's folder is usually small and has no single-line samples to start a curriculum with: by
# default an epoch is the training set once, with no curriculum (the IAM classes' defaults differ).
BATCHING_DEFAULTS = {"curriculum": "", "samples_per_epoch": 0}


@dataclass
class SampleSource:
    """Where one sample comes from: a whole image, or a box of a page image, and its text."""

    id: str
    document: str  # samples of one document (image or page) always land in the same split
    image: Path
    box: Box | None
    text: str


def safe_id(path: Path) -> str:
    """A file name for a sample cut from `path` (relative, without suffix).

    >>> safe_id(Path("scans/page 1.jpg"))
    'scans__page_1'
    """
    return re.sub(r"[^A-Za-z0-9._-]", "_", "__".join(path.with_suffix("").parts))


def _clean_text(text: str) -> str:
    return "\n".join(line.strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").strip().split("\n"))


def manifest_rows(filename: Path) -> Iterator[tuple[str, str]]:
    """(image path, text) of each entry of labels.jsonl or labels.csv."""
    if filename.suffix == ".jsonl":
        for number, line in enumerate(filename.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                yield str(entry["image"]), str(entry["text"])
            except (ValueError, KeyError, TypeError) as error:
                raise DataUnavailableError(f"{filename}:{number}: not a {{\"image\": ..., \"text\": ...}} object ({error})") from None
    else:
        with open(filename, newline="", encoding="utf-8") as file:
            reader = csv.DictReader(file)
            if not {"image", "text"} <= set(reader.fieldnames or []):
                raise DataUnavailableError(f"{filename}: the first row must name the columns image,text (got {reader.fieldnames})")
            for row in reader:
                yield row["image"], row["text"]


def inside(path: Path, root: Path, allow_outside: bool, what: str) -> Path:
    """`path` resolved (links followed), when it lies inside `root` or `allow_outside`; else a one-line error.
    A folder of training data is what it holds: a transcription, manifest entry or link that reaches
    elsewhere on the disk is refused unless asked for (--allow_outside_files)."""
    resolved = path.resolve()
    if not allow_outside and not resolved.is_relative_to(root.resolve()):
        raise DataUnavailableError(f"{what} is {resolved}, outside {root}: keep the data inside the folder, or pass "
                                   "--allow_outside_files to use files elsewhere")
    return resolved


def read_transcription(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DataUnavailableError(f"{path} is not UTF-8 text (byte {error.start}: {error.reason}): save it as UTF-8") from None
    except OSError as error:
        raise DataUnavailableError(f"{path} cannot be read ({error.strerror or error})") from None


def find_samples(root: Path, unit: str, allow_outside: bool = False) -> list[SampleSource]:
    """Every sample under `root`: manifests, PAGE/ALTO pages, then images with a sibling .txt. Every file
    must lie inside `root` (links followed) unless `allow_outside`; sample ids must be unique."""
    samples: list[SampleSource] = []
    used: set[Path] = set()
    for name in metadata.MANIFEST_FILENAMES:
        manifest = root / name
        if manifest.is_file():
            for image, text in manifest_rows(manifest):
                path = inside(manifest.parent / image, root, allow_outside, f"{manifest}'s entry {image!r}")
                if not path.is_file():
                    raise DataUnavailableError(f"{manifest} names {image}, but there is no {path}")
                used.add(path)
                samples += _whole_image(path, root, text, unit)
    for xml in sorted(root.rglob("*.xml")):
        try:
            layout = read_layout(xml, within=None if allow_outside else root)
        except ValueError as error:  # hostile, broken, or a page without its image: say which file
            raise DataUnavailableError(str(error)) from None
        if layout is None:
            continue
        used.add(layout.image_filename.resolve())
        document = safe_id(xml.relative_to(root))
        for r, region in enumerate(layout.regions):
            if unit == "paragraph":
                boxes = [line.box for line in region.lines]
                box = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
                text = "\n".join(line.text for line in region.lines)
                samples.append(SampleSource(f"{document}-r{r:02d}", document, layout.image_filename, box, text))
            else:
                samples += [SampleSource(f"{document}-r{r:02d}-l{n:02d}", document, layout.image_filename, line.box, line.text)
                            for n, line in enumerate(region.lines)]
    unlabelled = []
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in metadata.IMAGE_SUFFIXES):
        if path.resolve() in used:
            continue
        if not path.exists():
            raise DataUnavailableError(f"{path} is a link to {path.resolve()}, which does not exist: remove the link or "
                                       "restore its target")
        transcription = path.with_suffix(".txt")
        if transcription.is_file():
            inside(path, root, allow_outside, str(path))
            inside(transcription, root, allow_outside, str(transcription))
            samples += _whole_image(path, root, read_transcription(transcription), unit)
        else:
            unlabelled.append(path)
    if unlabelled:
        warnings.warn(f"{len(unlabelled)} images under {root} have no .txt, manifest entry or layout XML and are not used: "
                      f"{', '.join(str(p) for p in unlabelled[:3])}{', ...' if len(unlabelled) > 3 else ''}", stacklevel=2)
    check_unique_ids(samples)
    return samples


def check_unique_ids(samples: list[SampleSource]) -> None:
    """Sample ids name the cache's files: two samples of one id ("a b.png" and "a_b.png" are both a_b) would
    leave one image under two labels. Refused, naming both files."""
    seen: dict[str, SampleSource] = {}
    for sample in samples:
        other = seen.setdefault(sample.id, sample)
        if other is not sample:
            raise DataUnavailableError(f"{other.image} and {sample.image} both become sample {sample.id!r} (names are "
                                       "reduced to letters, digits, '.', '_' and '-'): rename one of them")


def _whole_image(path: Path, root: Path, text: str, unit: str) -> list[SampleSource]:
    text = _clean_text(text)
    if not text:
        warnings.warn(f"{path}: its transcription is empty; image skipped", stacklevel=3)
        return []
    if unit == "line" and "\n" in text:
        warnings.warn(f"{path}: --unit=line, but its transcription has {text.count(chr(10)) + 1} lines and no line "
                      "coordinates; image skipped (give it line by line, or as PAGE/ALTO)", stacklevel=3)
        return []
    try:
        document = safe_id(path.resolve().relative_to(root.resolve()))
    except ValueError:  # a manifest may point outside its folder
        document = safe_id(Path(path.name))
    return [SampleSource(document, document, path, None, text)]


def split_documents(samples: list[SampleSource], val_fraction: float, test_fraction: float, seed: int) -> dict[str, list[SampleSource]]:
    """Whole documents to val and test at random (seeded), the rest to train; a split asked for gets at
    least one document when there are enough to leave some for training."""
    documents = sorted({sample.document for sample in samples})
    order = [documents[i] for i in np.random.default_rng(seed).permutation(len(documents))]
    n_val, n_test = (round(fraction * len(documents)) for fraction in (val_fraction, test_fraction))
    if len(documents) >= 3:
        n_val, n_test = max(n_val, val_fraction > 0), max(n_test, test_fraction > 0)
    split_of = {doc: "val" for doc in order[:n_val]} | {doc: "test" for doc in order[n_val : n_val + n_test]}
    return {split: [s for s in samples if split_of.get(s.document, "train") == split] for split in metadata.SPLIT_FOLDERS}


def extra_characters(chars: str, mapping: Sequence[str]) -> list[str]:
    """--extra_chars as the tokens to append to `mapping`: each new character once, in the order given.

    >>> extra_characters("äöäa", ["a", "b"])
    ['ä', 'ö']
    """
    control = sorted({c for c in chars if unicodedata.category(c).startswith("C")})
    if control:
        raise ValueError(f"--extra_chars holds control or format characters {control}: only printable ones can be written")
    return [c for c in dict.fromkeys(chars) if c not in mapping]


class HandwritingFolder(ContentSizedLoaders, BaseDataModule):
    """Your own transcribed images (see the module docstring), for the same models as IAM.

    `--stem=paragraph` (the default, for ResnetTransformer and fine-tuning the shipped model): IAMParagraphs'
    vocabulary (79 characters and "\\n"), images at most 576x640, labels of at most 682 tokens, scaled
    (`--image_scale=auto`) to the line pitch the recognizer rescales pages to (what the model reads best).
    `--stem=line` (for LineCNNTransformer and the other line models): IAMLines' 56x1024 canvas, 89 tokens.
    """

    def __init__(self, args: argparse.Namespace | None = None) -> None:
        super().__init__(args)
        self.batching = BatchingOptions.from_args({**BATCHING_DEFAULTS, **self.args})
        get = self.args.get
        self.data_dir = Path(get("data_dir") or "")
        self.unit: str = get("unit", "paragraph")
        self.stem_kind: str = get("stem", "paragraph")
        self.image_scale: str = str(get("image_scale", AUTO_SCALE))
        self.val_fraction: float = get("val_fraction", metadata.VAL_FRACTION)
        self.test_fraction: float = get("test_fraction", metadata.TEST_FRACTION)
        self.split_seed: int = get("split_seed", metadata.SPLIT_SEED)
        self.unknown_chars: str = get("unknown_chars", "error")
        self.augment: bool = get("augment_data", True)
        self.allow_outside: bool = bool(get("allow_outside_files", False))
        for name, value, choices in (("unit", self.unit, metadata.UNITS), ("stem", self.stem_kind, metadata.STEMS),
                                     ("unknown_chars", self.unknown_chars, metadata.UNKNOWN_CHARS)):
            if value not in choices:
                raise ValueError(f"--{name}={value!r}: choose one of {', '.join(choices)}")
        if self.image_scale != AUTO_SCALE and not float(self.image_scale) > 0:
            raise ValueError(f"--image_scale={self.image_scale}: a positive number or {AUTO_SCALE}")
        if self.unit == "paragraph" and self.stem_kind == "line":
            raise ValueError("--stem=line reads single lines: use it with --unit=line")
        if self.stem_kind == "line" and self.line_pitch != TARGET_LINE_PITCH:
            raise ValueError("--line_pitch is the paragraph stem's: --stem=line resizes every line to height 56")
        self.shape_metadata = iam_paragraphs if self.stem_kind == "paragraph" else iam_lines
        # A new model may write more than IAM's characters: --extra_chars appends them to the vocabulary
        # (after IAM's tokens, so that the indices of those stay); model.pt keeps the mapping it trained on.
        self.extra_chars = extra_characters(str(get("extra_chars") or ""), self.shape_metadata.MAPPING)
        self.mapping = list(self.shape_metadata.MAPPING) + self.extra_chars
        self.input_dims = self.shape_metadata.DIMS
        self.output_dims = self.shape_metadata.OUTPUT_DIMS
        if self.stem_kind == "line":
            self.collate = collate_stacked  # every line is on the 56x1024 canvas: no padding to 64 rows
        self.summary = ""

    @staticmethod
    def add_to_argparse(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        BaseDataModule.add_to_argparse(parser)
        BatchingOptions.add_to_argparse(parser)
        add_augmentation_flags(parser)
        add_photo_augment_flag(parser)
        parser.set_defaults(**BATCHING_DEFAULTS)
        add = parser.add_argument
        add("--data_dir", type=str, default=None, help="folder of images+txt, labels.jsonl/csv, PAGE or ALTO XML "
            "(with train/ val/ test/ subfolders, those are the splits)")
        add("--unit", choices=metadata.UNITS, default="paragraph", help="a sample is a text region or a text line")
        add("--stem", choices=metadata.STEMS, default="paragraph",
            help="preprocessing: paragraph (content-sized, ResnetTransformer) or line (56x1024 canvas, line models)")
        add("--image_scale", type=str, default=AUTO_SCALE,
            help=f"resize factor of the crops, or {AUTO_SCALE}: to the line pitch the recognizer reads at (paragraph stem)")
        add("--val_fraction", type=float, default=metadata.VAL_FRACTION, help="documents for validation (no val/ folder)")
        add("--test_fraction", type=float, default=metadata.TEST_FRACTION, help="documents for testing (no test/ folder)")
        add("--split_seed", type=int, default=metadata.SPLIT_SEED, help="seed of the random split into documents")
        add("--unknown_chars", choices=metadata.UNKNOWN_CHARS, default="error",
            help="characters outside the vocabulary: stop and list them, drop their samples, or replace look-alikes")
        add("--extra_chars", type=str, default="",
            help="characters to add to the vocabulary of a new model (e.g. 'äöüß'): recorded in model.pt's mapping; "
            "a model trained without them cannot be fine-tuned with them")
        add("--augment_data", type=str2bool, default=True, help="augment the training set (never val/test)")
        add("--allow_outside_files", type=str2bool, nargs="?", const=True, default=False,
            help="use images and transcriptions that manifests, layout XML or links place outside --data_dir")
        return parser

    # ------------------------------------------------------------------ finding and caching
    def sources_by_split(self) -> dict[str, list[SampleSource]]:
        if not self.data_dir.is_dir():
            raise DataUnavailableError(f"--data_dir={self.data_dir or '(not given)'} is not a folder: pass the folder "
                                       "holding your images and transcriptions (see docs/own_data.md)")
        if (self.data_dir / "train").is_dir():
            found = {split: find_samples(self.data_dir / split, self.unit, self.allow_outside) if (self.data_dir / split).is_dir() else []
                     for split in metadata.SPLIT_FOLDERS}
            if not found["val"] or not found["test"]:  # split off what the folder does not hold
                fractions = (self.val_fraction if not found["val"] else 0, self.test_fraction if not found["test"] else 0)
                extra = split_documents(found["train"], *fractions, self.split_seed)
                found = {split: found[split] + extra[split] for split in metadata.SPLIT_FOLDERS} | {"train": extra["train"]}
        else:
            found = split_documents(find_samples(self.data_dir, self.unit, self.allow_outside), self.val_fraction,
                                    self.test_fraction, self.split_seed)
        # Each transcription must fit the decoder (<S> and <E> with it): said here, where the file is known.
        longest = self.shape_metadata.MAX_LABEL_LENGTH - 2
        for source in (source for sources in found.values() for source in sources):
            if len(source.text) > longest:
                raise DataUnavailableError(f"{source.image}: the transcription of sample {source.id!r} has {len(source.text)} "
                                           f"characters, more than the {longest} a {self.unit} can hold: give long pages "
                                           "as PAGE/ALTO regions or lines (--unit=line), or leave that sample out")
        if not found["train"]:
            raise DataUnavailableError(f"{self.data_dir} holds no training samples (unit {self.unit}): see docs/own_data.md "
                                       "for the layouts it reads")
        return found

    @property
    def cache_dirname(self) -> Path:
        """Named by the folder, the settings and every file's path, size and time: edits make a new cache."""
        root = self.data_dir.resolve()
        listing = sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns)
                         for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
        settings = [metadata.CACHE_VERSION, self.unit, self.stem_kind, self.image_scale, self.val_fraction,
                    self.test_fraction, self.split_seed, listing]
        key = hashlib.sha256(json.dumps(settings).encode()).hexdigest()[:12]
        return metadata.processed_dirname() / f"{safe_id(Path(root.name))}_{self.unit}_{key}"

    def _scaled(self, crop: Image.Image) -> Image.Image:
        if self.stem_kind == "line":
            return crop  # IAMLineStem resizes every line to height 56
        if self.image_scale == AUTO_SCALE:
            return MatchTrainingScale()(crop)
        return rescale(crop, float(self.image_scale))

    def _crops(self, sources: list[SampleSource]) -> Iterator[iam_crops.Sample]:
        page: tuple[Path, Image.Image] | None = None
        for source in sources:
            if page is None or page[0] != source.image:
                try:
                    with Image.open(source.image) as image:  # the page's polarity is decided once, on the whole page
                        # A whole page (image+txt) is normalized as the recognizer reads it (a photo's sheet, light,
                        # skew, rulings); a page whose regions are boxed (PAGE, ALTO) keeps its geometry for the boxes.
                        page = (source.image, normalize_page(image).image if source.box is None
                                else white_ink_on_black(to_grayscale(image)).copy())
                except (OSError, ValueError, Image.DecompressionBombError) as error:  # not an image, truncated, huge
                    raise DataUnavailableError(f"{source.image} cannot be read as an image ({error}): fix or remove "
                                               "it") from None
            crop = page[1] if source.box is None else page[1].crop(source.box)
            yield source.id, self._scaled(crop), source.text

    def prepare_data(self, *args: Any, **kwargs: Any) -> None:
        cache = self.cache_dirname
        if iam_crops.cache_exists(cache):
            return
        sources = self.sources_by_split()
        print(f"HandwritingFolder: cutting {sum(map(len, sources.values()))} {self.unit} samples of {shown_path(self.data_dir)} "
              f"into {shown_path(cache)} ...")
        iam_crops.write_cache(cache, {split: self._crops(items) for split, items in sources.items()})

    def setup(self, stage: str | None = None) -> None:
        records = iam_crops.read_cache(self.cache_dirname)
        every = [record for split in metadata.SPLIT_FOLDERS for record in records[split]]
        apply_unknown_chars(every, self.mapping, self.unknown_chars, where=str(self.data_dir), can_extend=True)  # all, up front
        summaries, datasets = [], {}
        for split in metadata.SPLIT_FOLDERS:
            kept, summary = apply_unknown_chars(records[split], self.mapping, self.unknown_chars)
            if summary:
                summaries.append(f"{split}: {summary}")
            iam_crops.check_label_lengths(kept, self.shape_metadata.MAX_LABEL_LENGTH, f"{split} {self.unit}")
            if self.stem_kind == "paragraph":
                iam_crops.warn_if_bigger_than(kept, *iam_paragraphs.IMAGE_SHAPE, f"{split} {self.unit}")
                stem: Any = ParagraphStem(augment=self.augment and split == "train", fixed_canvas=self.batching.fixed_canvas,
                                          elastic_displacement=self.args.get("elastic_displacement", ELASTIC_DISPLACEMENT),
                                          line_pitch=self.line_pitch, photo=photo_augment(self.args))
            else:
                warn_if_wider_than_canvas(kept, f"{split} line")
                stem = IAMLineStem(augment=self.augment and split == "train")
            labels = convert_strings_to_labels([r["label"] for r in kept], self.mapping, self.output_dims[0])
            datasets[split] = iam_crops.CropDataset(self.cache_dirname / split, kept, labels, stem)
        self.summary = "; ".join(summaries)
        if self.summary:
            print(f"HandwritingFolder --unknown_chars={self.unknown_chars}: {self.summary}")
        self.data_train, self.data_val, self.data_test = (datasets[split] for split in metadata.SPLIT_FOLDERS)

    def __repr__(self) -> str:
        text = super().__repr__() + f"\n  folder: {shown_path(self.data_dir)}, unit: {self.unit}, stem: {self.stem_kind}"
        dataset = getattr(self, "data_train", None)
        if dataset is not None and len(dataset):
            text += f"\n  first train label: {convert_labels_to_strings(dataset[0][1][None], self.mapping)[0]!r}"
        return text


if __name__ == "__main__":
    load_and_print_info(HandwritingFolder)
