"""A tiny made-up EMNIST archive, in NIST's format, for trying the EMNIST family of data modules offline.

    python -m text_recognizer.data.synthetic.fake_emnist data/downloaded/emnist_fake/matlab.zip
    python training/run_experiment.py --data_class=EMNISTLines2 --emnist_archive=data/downloaded/emnist_fake/matlab.zip ...

The archive holds `matlab/emnist-byclass.mat` with the same variables as the real one
(`dataset.train.images/labels/writers`, `dataset.test.*`, `dataset.mapping`), so the whole real
path runs on it: unzip, parse, balance, cache. The characters are drawn with the handwriting fonts
of the fontpkg packages (PIL's own font if those are missing), jittered, white on black, centred
in 28x28 like EMNIST; they are made up, not handwriting, and good only for checking the code.
"""
from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image, ImageDraw, ImageFont

from text_recognizer.metadata import emnist as metadata
from text_recognizer.util import atomic_path

TRAIN_PER_CLASS = 4
TEST_PER_CLASS = 2
FONT_FAMILIES = ("kalam", "indie-flower", "caveat", "delius", "shadows-into-light")
FONT_SIZE = 22
SEED = 0
# A TrueType font, or Pillow's bitmap default when no TrueType family is installed.
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
# savemat writes the creation time into the 116-byte text of the file header; a fixed text keeps the
# archive's bytes (hence the EMNIST cache, keyed by its hash) the same for the same arguments.
MAT_HEADER_TEXT = b"MATLAB 5.0 MAT-file, made-up EMNIST characters written by text_recognizer.data.synthetic.fake_emnist"


def _fonts() -> list[Font]:
    fonts: list[Font] = []
    try:
        import fontpkg

        for family in FONT_FAMILIES:
            try:
                fonts.append(ImageFont.truetype(str(fontpkg.path(family)), FONT_SIZE))
            except Exception:  # a missing family: use the others
                continue
    except ImportError:
        pass
    return fonts or [ImageFont.load_default(size=FONT_SIZE)]


def render_character(char: str, font: Font, rng: np.random.Generator) -> np.ndarray:
    """(28, 28) uint8, white on black: the glyph fitted into 20x20, centred, slightly rotated and shifted."""
    canvas = Image.new("L", (56, 56))
    ImageDraw.Draw(canvas).text((28, 28), char, fill=255, font=font, anchor="mm")
    canvas = canvas.rotate(float(rng.uniform(-12, 12)), resample=Image.Resampling.BILINEAR)
    box = canvas.getbbox()
    if box is None:
        return np.zeros((28, 28), dtype=np.uint8)
    glyph = canvas.crop(box)
    scale = 20 / max(glyph.size) * float(rng.uniform(0.8, 1.0))  # EMNIST glyphs fill about 20x20
    size = (max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale)))
    glyph = glyph.resize(size, resample=Image.Resampling.BILINEAR)
    out = Image.new("L", (28, 28))
    x = (28 - size[0]) // 2 + int(rng.integers(-2, 3))
    y = (28 - size[1]) // 2 + int(rng.integers(-2, 3))
    out.paste(glyph, (min(max(x, 0), 28 - size[0]), min(max(y, 0), 28 - size[1])))
    return np.asarray(out, dtype=np.uint8)


def _split(per_class: int, fonts: list, rng: np.random.Generator) -> dict[str, np.ndarray]:
    images, labels = [], []
    for label, char in enumerate(metadata.BYCLASS_CHARACTERS):
        for _ in range(per_class):
            image = render_character(char, fonts[int(rng.integers(len(fonts)))], rng)
            # EMNIST stores each image transposed: row-major reshaping to 28x28 gives it on its side.
            images.append(image.T.reshape(-1))
            labels.append(label)
    order = rng.permutation(len(labels))
    return {
        "images": np.stack(images)[order],  # (N, 784) uint8
        "labels": np.asarray(labels, dtype=np.float64)[order].reshape(-1, 1),  # (N, 1)
        "writers": rng.integers(0, 10, size=(len(labels), 1)).astype(np.float64),
    }


def write_fake_emnist_archive(
    filename: str | Path, train_per_class: int = TRAIN_PER_CLASS, test_per_class: int = TEST_PER_CLASS, seed: int = SEED
) -> Path:
    """Write a zip like NIST's matlab.zip holding a small byclass set; returns its path (written atomically)."""
    rng = np.random.default_rng(seed)
    fonts = _fonts()
    mapping = np.array([[label, ord(char)] for label, char in enumerate(metadata.BYCLASS_CHARACTERS)], dtype=np.float64)
    dataset = {"train": _split(train_per_class, fonts, rng), "test": _split(test_per_class, fonts, rng), "mapping": mapping}
    mat = io.BytesIO()
    scipy.io.savemat(mat, {"dataset": dataset}, format="5", do_compression=True)  # dicts become MATLAB structs
    mat_bytes = MAT_HEADER_TEXT.ljust(116) + mat.getvalue()[116:]
    filename = Path(filename)
    with atomic_path(filename) as temp, zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        # A fixed timestamp: the same arguments give the same bytes, hence the same EMNIST cache (keyed by hash).
        member = zipfile.ZipInfo(metadata.MAT_MEMBER, date_time=(2021, 1, 1, 0, 0, 0))
        archive.writestr(member, mat_bytes, compress_type=zipfile.ZIP_DEFLATED)
    return filename


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write a tiny made-up EMNIST-format archive (matlab.zip).")
    parser.add_argument("filename", type=Path, help="where to write the zip, e.g. data/downloaded/emnist_fake/matlab.zip")
    parser.add_argument("--train_per_class", type=int, default=TRAIN_PER_CLASS)
    parser.add_argument("--test_per_class", type=int, default=TEST_PER_CLASS)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    path = write_fake_emnist_archive(args.filename, args.train_per_class, args.test_per_class, args.seed)
    print(f"wrote {path} ({62 * args.train_per_class} train, {62 * args.test_per_class} test characters)")


if __name__ == "__main__":
    main()
