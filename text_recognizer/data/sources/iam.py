"""The IAM handwriting database as forms: fetch or render, verify, extract, parse the XML, split.

Two tree sources share all the parsing (iam_xml.py), the caching and the splits (`--iam_source`):
- "iam", ArchiveTree: the real archive (iamdb.zip: forms/*.jpg at half the scan resolution, xml/*.xml);
- "rendered", RenderedTree (synthetic/iam_rendered.py): an offline tree in exactly that format.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import random
import shutil
import tempfile
import zipfile
from pathlib import Path

import toml

from text_recognizer.data.sources.iam_xml import Region, parse_form_xml, union_of_regions
from text_recognizer.data.synthetic import iam_rendered
from text_recognizer.data.synthetic.iam_rendered import RenderedTree
from text_recognizer.metadata import iam as metadata
from text_recognizer.util import (
    DataUnavailableError,
    DownloadError,
    atomic_path,
    compute_sha256,
    download_url,
    extract_zip,
)

TRAIN_FRACTION = 0.8  # of the non-test forms; the rest is validation
SPLIT_SEED = 42
PARSE_CACHE_FILENAME = "parsed.json"  # written inside the dataset tree, beside xml/
PARSE_CACHE_VERSION = 1


class ArchiveTree:
    """The real archive as a tree source: iamdb.zip downloaded (or placed by hand), checked and extracted.

    The other source, the offline renderer's tree, is RenderedTree (synthetic/iam_rendered.py). A
    tree source names where its tree lives (`root`, `test_list_filename`), the caches made from it
    (`cache_name`) and how to write it (`build`); IAM does the rest the same way for both.
    """

    name = "iam"  # --iam_source

    def __init__(self, data_dirname: Path | None = None, url: str | None = None, sha256: str | None = None) -> None:
        info = toml.load(metadata.METADATA_FILENAME)
        self.url, self.sha256 = url or info["url"], sha256 if sha256 is not None else info["sha256"]
        self.dl_dirname = Path(data_dirname or metadata.dl_dirname())
        self.archive_filename = self.dl_dirname / info["filename"]
        self.root = self.dl_dirname / metadata.EXTRACTED_DATASET_NAME
        self.test_list_filename = metadata.METADATA_FILENAME
        self.cache_name = "iam"

    def build(self, staging: Path) -> Path:
        """Extract the archive (downloading it if needed) under `staging`; returns the folder holding forms/ and xml/."""
        self._fetch_archive()
        print(f"Extracting {self.archive_filename}...")
        try:
            extract_zip(self.archive_filename, staging)  # capped: a checksum may have been skipped (sha256="")
        except zipfile.BadZipFile as error:
            raise DataUnavailableError(f"{self.archive_filename} is not a zip file ({error}): delete it and run again") from error
        # The archive holds iamdb/{forms,xml}; accept forms/ and xml/ at its top level too.
        candidates = [staging, *sorted(path for path in staging.iterdir() if path.is_dir())]
        tree = next((c for c in candidates if (c / "xml").is_dir() and (c / "forms").is_dir()), None)
        if tree is None:
            raise DataUnavailableError(f"{self.archive_filename} has no forms/ and xml/ folders: not the IAM archive")
        return tree

    def _fetch_archive(self) -> None:
        if self.archive_filename.is_file():
            actual = compute_sha256(self.archive_filename)
            if self.sha256 and actual != self.sha256:
                raise DataUnavailableError(
                    f"{self.archive_filename} does not match its checksum (expected sha256 {self.sha256}, "
                    f"got {actual}): delete it and run again, or replace it with the real iamdb.zip"
                )
            return
        try:
            download_url(self.url, self.archive_filename, self.sha256 or None)  # sha256="" skips the check
        except DownloadError as error:
            raise DataUnavailableError(
                f"The IAM archive could not be fetched: {error}. "
                f"Place iamdb.zip at {self.dl_dirname}/ (sha256 {self.sha256}) and run again, "
                "or train on the offline handwriting source with --iam_source=rendered."
            ) from error


TreeSource = ArchiveTree | RenderedTree


class IAM:
    """Forms of IAM (or of the offline renderer), keyed by form id such as "a01-000u".

    `IAM(ArchiveTree(...))` reads the real archive, `IAM(RenderedTree(...))` the offline tree;
    `IAM.from_args` picks by --iam_source. Regions are in the stored image's pixels (the XML's
    coordinates // DOWNSAMPLE_FACTOR), padded by LINE_REGION_PADDING. Splits: test = the LWITLRT test
    forms (the renderer writes its own list); the other forms, minus those written by a test writer,
    are shuffled (seed 42) and split 80/20. `cache_name` ("iam", or "iam_rendered_<options>_v<renderer
    version>") names processed caches: it is the one thing downstream code uses to tell sources apart.
    """

    def __init__(self, tree: TreeSource | None = None) -> None:
        self.tree = tree if tree is not None else ArchiveTree()
        self.source, self.root, self.cache_name = self.tree.name, self.tree.root, self.tree.cache_name
        self._forms: dict[str, dict] | None = None

    # ---------------------------------------------------------------- fetching
    def prepare_data(self) -> None:
        """Make the tree (forms/, xml/) exist: extract the archive (downloading it if needed) or render.

        Safe to call twice; call it from one process (DataModule.prepare_data), not from DDP ranks.
        """
        if (self.root / "xml").is_dir():
            return
        self.root.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self.root.parent, prefix=f".{self.root.name}."))
        try:
            tree = self.tree.build(staging)
            try:
                os.replace(tree, self.root)  # atomic: a half-written tree never appears under its name
            except OSError:
                if not (self.root / "xml").is_dir():  # not just a concurrent writer that finished first
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    # ---------------------------------------------------------------- parsing
    def load(self) -> IAM:
        """Parse every form's XML once (cached in the tree as parsed.json); returns self."""
        if self._forms is None:
            self.prepare_data()
            self._forms = self._load_or_parse()
        return self

    def _load_or_parse(self) -> dict[str, dict]:
        xml_filenames = sorted((self.root / "xml").glob("*.xml"))
        cache = self.root / PARSE_CACHE_FILENAME
        # Regions depend on the constants below: a cache made with other values is parsed anew.
        cache_key = [PARSE_CACHE_VERSION, len(xml_filenames), metadata.DOWNSAMPLE_FACTOR, metadata.LINE_REGION_PADDING]
        if cache.is_file():
            cached = json.loads(cache.read_text())
            if cached.get("key") == cache_key:
                return cached["forms"]
        forms = {}
        for filename in xml_filenames:
            form = parse_form_xml(filename, self.root / "forms")
            if form is not None:
                forms[form.pop("id")] = form
        with atomic_path(cache) as temp:
            temp.write_text(json.dumps({"key": cache_key, "forms": forms}))
        return forms

    @property
    def forms(self) -> dict[str, dict]:
        return self.load()._forms  # type: ignore[return-value]

    @property
    def all_ids(self) -> list[str]:
        return sorted(self.forms)

    @functools.cached_property
    def form_filenames_by_id(self) -> dict[str, Path]:
        return {id_: self.root / "forms" / f"{id_}.jpg" for id_ in self.forms}

    @functools.cached_property
    def writer_id_by_form_id(self) -> dict[str, str]:
        return {id_: form["writer_id"] for id_, form in self.forms.items()}

    @functools.cached_property
    def line_strings_by_id(self) -> dict[str, list[str]]:
        return {id_: form["line_strings"] for id_, form in self.forms.items()}

    @functools.cached_property
    def line_regions_by_id(self) -> dict[str, list[Region]]:
        return {id_: form["line_regions"] for id_, form in self.forms.items()}

    @functools.cached_property
    def paragraph_string_by_id(self) -> dict[str, str]:
        return {id_: "\n".join(form["line_strings"]) for id_, form in self.forms.items()}

    @functools.cached_property
    def paragraph_region_by_id(self) -> dict[str, Region]:
        return {id_: union_of_regions(form["line_regions"]) for id_, form in self.forms.items()}

    # ---------------------------------------------------------------- splits
    @property
    def test_ids(self) -> list[str]:
        return self._splits()[2]

    @property
    def train_ids(self) -> list[str]:
        return self._splits()[0]

    @property
    def val_ids(self) -> list[str]:
        return self._splits()[1]

    @property
    def test_subsets(self) -> dict[str, list[str]]:
        """Named parts of the test split (the offline source's "train_family" and "unseen_family" writers;
        none for the archive)."""
        self._splits()
        return self._test_subsets

    @property
    def val_has_own_writers(self) -> bool:
        """True where validation forms are written by writers of their own (the offline source), not a
        random slice of the training writers' forms (the archive's split)."""
        self._splits()
        return self._val_has_own_writers

    def _splits(self) -> tuple[list[str], list[str], list[str], list[str]]:
        if not hasattr(self, "_split_cache"):
            info = toml.load(self.tree.test_list_filename)
            test_list = info["test_ids"]
            # The offline source names its validation writers' forms; the archive does not (80/20 split).
            self._split_cache = split_ids(self.writer_id_by_form_id, test_list, val_list=info.get("val_ids"))
            self._val_has_own_writers = "val_ids" in info
            self.missing_test_ids = sorted(set(test_list) - set(self.forms))
            self._test_subsets = {name: [id_ for id_ in ids if id_ in self.forms]
                                  for name, ids in info.get("test_subsets", {}).items()}
        return self._split_cache

    def __repr__(self) -> str:
        train, val, test, excluded = self._splits()
        writers = {writer for writer in self.writer_id_by_form_id.values() if writer}
        lines = sum(len(form["line_strings"]) for form in self.forms.values())
        longest = max((len(text) for text in self.paragraph_string_by_id.values()), default=0)
        return (
            f"IAM dataset (source={self.source}, cache_name={self.cache_name}, root={self.root})\n"
            f"Forms: {len(self.forms)} by {len(writers)} writers, {lines} lines\n"
            f"Splits: train {len(train)}, val {len(val)}, test {len(test)}; "
            f"{len(excluded)} non-test forms excluded because their writer wrote a test form; "
            f"{len(self.missing_test_ids)} ids of the test list not found\n"
            + "".join(f"Test subset {name}: {len(ids)} forms by {len({self.writer_id_by_form_id[i] for i in ids})} writers\n"
                      for name, ids in self.test_subsets.items())
            + f"Max paragraph label length: {longest} characters (+2 for <S> and <E>)"
        )

    # ---------------------------------------------------------------- command line
    @staticmethod
    def add_to_argparse(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument("--iam_source", type=str, choices=metadata.SOURCES, default=metadata.DEFAULT_SOURCE,
                            help="'iam': the real archive (downloaded or placed in data/downloaded/iam/); "
                            "'rendered': offline synthetic handwriting in the same format")
        iam_rendered.RenderOptions.add_to_argparse(parser)
        return parser

    @classmethod
    def from_args(cls, args: argparse.Namespace | dict | None = None) -> IAM:
        """Build from parsed flags (missing flags take their defaults)."""
        args = vars(args) if isinstance(args, argparse.Namespace) else dict(args or {})
        source = args.get("iam_source", metadata.DEFAULT_SOURCE)
        if source not in metadata.SOURCES:
            raise ValueError(f"unknown IAM source {source!r}: choose one of {metadata.SOURCES}")
        if source == "iam":
            return cls(ArchiveTree())
        return cls(RenderedTree(options=iam_rendered.RenderOptions.from_args(args)))

def split_ids(writer_by_form: dict[str, str], test_list: list[str],
              train_fraction: float = TRAIN_FRACTION, seed: int = SPLIT_SEED, val_list: list[str] | None = None):
    """(train, val, test, excluded) form ids: test = test_list's forms; no test writer in train/val.

    With `val_list`, val = those forms and no validation writer writes a training form either;
    without, the other forms are shuffled (`seed`) and split `train_fraction` / the rest (the reference's way).
    """
    test = [id_ for id_ in dict.fromkeys(test_list) if id_ in writer_by_form]
    test_writers = {writer_by_form[id_] for id_ in test} - {""}
    rest = sorted(set(writer_by_form) - set(test))
    excluded = [id_ for id_ in rest if writer_by_form[id_] in test_writers]
    if val_list is not None:
        val = [id_ for id_ in dict.fromkeys(val_list) if id_ in writer_by_form and id_ not in set(test)]
        val_writers = {writer_by_form[id_] for id_ in val} - {""}
        excluded += [id_ for id_ in rest if writer_by_form[id_] in val_writers and id_ not in set(val)]
        return [id_ for id_ in rest if writer_by_form[id_] not in test_writers | val_writers], val, test, sorted(excluded)
    train_val = [id_ for id_ in rest if writer_by_form[id_] not in test_writers]
    random.Random(seed).shuffle(train_val)
    n_train = int(train_fraction * len(train_val))
    return train_val[:n_train], train_val[n_train:], test, excluded


def main() -> None:
    parser = IAM.add_to_argparse(argparse.ArgumentParser(description=__doc__))
    dataset = IAM.from_args(parser.parse_args())
    try:
        dataset.prepare_data()
    except RuntimeError as error:  # offline, bad archive: the message says what to do, no traceback needed
        raise SystemExit(f"error: {error}") from error
    print(dataset)


if __name__ == "__main__":
    main()
