"""EMNIST's source: NIST's matlab.zip (or any EMNIST-format zip) fetched, parsed, balanced and cached.

Where the characters come from, in order: `--emnist_archive=PATH` (or the environment variable
EMNIST_ARCHIVE), else `data/downloaded/emnist/matlab.zip`, downloaded from the URL in
`text_recognizer/metadata/raw/emnist/metadata.toml` when missing. Any EMNIST-format zip works; for offline runs,
`python -m text_recognizer.data.synthetic.fake_emnist PATH` writes a tiny made-up one.

Processing (once, cached in data/processed/emnist/): parse `matlab/emnist-byclass.mat`, shift its
labels by the 4 special tokens so that they index the shared mapping, keep at most the mean count of
samples per class (the reference did this to shrink the data and balance it), store everything in
an HDF5 file, and write the mapping to data/emnist_essentials.json. The data module is
modules/emnist.py.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import scipy.io
import toml

from text_recognizer.metadata import emnist as metadata
from text_recognizer.metadata import shared
from text_recognizer.util import (
    DataUnavailableError,
    DownloadError,
    atomic_path,
    compute_sha256,
    download_url,
    read_zip_member,
)

SAMPLE_TO_BALANCE = True  # keep at most the mean number of samples per class
BALANCE_SEED = 42


def archive_path(flag_value: str | None) -> Path | None:
    """The EMNIST-format zip to use instead of the download: the flag, else the environment variable, else None."""
    value = flag_value or os.environ.get(metadata.ARCHIVE_ENV_VAR)
    return Path(value).expanduser().resolve() if value else None


def download_emnist() -> Path:
    """NIST's matlab.zip in data/downloaded/emnist/: used as is when already there, downloaded otherwise."""
    info = toml.load(metadata.METADATA_FILENAME)
    filename = metadata.dl_dirname() / info["filename"]
    if filename.exists():
        actual = compute_sha256(filename)
        if actual != info["sha256"]:
            raise DataUnavailableError(
                f"{filename} does not match its checksum (sha256 {actual}, expected {info['sha256']}): "
                "remove it to download it again, or replace it with NIST's matlab.zip"
            )
        return filename
    print(f"Downloading EMNIST ({info['url']}, about 700 MB) to {shared.shown_path(filename)}...")
    try:
        return download_url(info["url"], filename, sha256=info["sha256"])
    except DownloadError as error:
        raise DataUnavailableError(
            f"EMNIST could not be downloaded from {info['url']}: {error}. Either place NIST's {info['filename']} "
            f"(sha256 {info['sha256']}) in {metadata.dl_dirname()}/, or point --emnist_archive (or "
            f"${metadata.ARCHIVE_ENV_VAR}) at an EMNIST-format zip; for an offline try-out, "
            "`python -m text_recognizer.data.synthetic.fake_emnist data/downloaded/emnist_fake/matlab.zip` writes a tiny one."
        ) from error


def parse_emnist_mat(mat_bytes: bytes) -> dict[str, Any]:
    """Arrays of an emnist-byclass.mat: x_* (N, 28, 28) uint8 upright, y_* (N,) indices into the shared mapping."""
    try:
        # A MATLAB struct loads as a (1, 1) record array: [0, 0] is the struct itself, its fields arrays.
        dataset = scipy.io.loadmat(io.BytesIO(mat_bytes))["dataset"][0, 0]
    except (ValueError, NotImplementedError, KeyError) as error:
        raise ValueError(f"{metadata.MAT_MEMBER} is not NIST's byclass MATLAB file (a struct `dataset`): {error}") from error
    mapping = dataset["mapping"].astype(np.int64)  # (62, 2): byclass label, character code
    characters = [chr(code) for _, code in sorted(mapping.tolist())]
    if characters != list(metadata.BYCLASS_CHARACTERS):
        raise ValueError(f"unexpected EMNIST byclass mapping {''.join(characters)!r}; expected 0-9, A-Z, a-z")
    # The reference's vocabulary: special tokens, the byclass characters, then IAM's punctuation.
    full_mapping = shared.SPECIAL_TOKENS + characters + shared.CHARACTERS[len(characters) :]
    assert full_mapping == metadata.MAPPING, "EMNIST characters no longer line up with the shared mapping"
    arrays = {}
    for split in ("train", "test"):
        images = dataset[split][0, 0]["images"]  # (N, 784) uint8, each image stored transposed
        arrays[f"x_{split}"] = np.ascontiguousarray(images.reshape(-1, 28, 28).swapaxes(1, 2))  # (N, 28, 28)
        labels = dataset[split][0, 0]["labels"]  # (N, 1)
        arrays[f"y_{split}"] = labels.reshape(-1).astype(np.int64) + metadata.NUM_SPECIAL_TOKENS
    return arrays


def sample_to_balance(x: np.ndarray, y: np.ndarray, seed: int = BALANCE_SEED) -> tuple[np.ndarray, np.ndarray]:
    """At most the mean per-class count of samples of each class, drawn without replacement, in label order.

    The reference drew that many indices *with* replacement and kept the unique ones, and its mean
    also counted the 4 empty special-token classes; this keeps its intent (balance and shrink).
    """
    rng = np.random.default_rng(seed)
    labels, counts = np.unique(y, return_counts=True)
    keep = int(counts.mean())
    chosen = [np.sort(rng.permutation(np.flatnonzero(y == label))[:keep]) for label in labels]
    indices = np.concatenate(chosen)
    return x[indices], y[indices]


def process_archive(archive: Path, processed_filename: Path) -> None:
    """Unzip, parse, balance and cache EMNIST as HDF5 (written under a temporary name, then renamed)."""
    print(f"Processing EMNIST from {archive}...")
    try:
        mat_bytes = read_zip_member(archive, metadata.MAT_MEMBER)  # capped, as every extraction
    except (zipfile.BadZipFile, KeyError) as error:
        raise ValueError(f"{archive} is not an EMNIST archive: a zip holding {metadata.MAT_MEMBER} ({error})") from error
    arrays = parse_emnist_mat(mat_bytes)
    del mat_bytes
    if SAMPLE_TO_BALANCE:
        for split in ("train", "test"):
            arrays[f"x_{split}"], arrays[f"y_{split}"] = sample_to_balance(arrays[f"x_{split}"], arrays[f"y_{split}"])
    with atomic_path(processed_filename) as temp, h5py.File(temp, "w") as file:
        for name, array in arrays.items():
            file.create_dataset(name, data=array, dtype="u1", compression="lzf")
    write_essentials()


def write_essentials() -> None:
    """data/emnist_essentials.json: what other modules need to know about EMNIST without its download."""
    essentials = {"characters": list(metadata.MAPPING), "input_shape": list(metadata.INPUT_SHAPE)}
    with atomic_path(metadata.essentials_filename()) as temp:
        temp.write_text(json.dumps(essentials) + "\n")

