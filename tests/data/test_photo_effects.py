"""Phone photos of clean pages (the photo test set) and the --photo_augment training augmentation."""
import argparse
import random

import numpy as np
import pytest
from PIL import Image
from stems.test_line_split import page_of_lines

from text_recognizer.data.synthetic.photo_effects import (
    PhotoAugment,
    PhotoOptions,
    add_photo_augment_flag,
    photograph,
    photograph_with_geometry,
)
from text_recognizer.stems.paragraph import ParagraphStem

SMALL = PhotoOptions(width=(900, 1000))


def page() -> Image.Image:
    return Image.fromarray(page_of_lines(40, [300, 280, 200], ink=220))


def test_a_photo_is_deterministic_colour_and_larger_than_its_page():
    first, second, other = photograph(page(), 3, SMALL), photograph(page(), 3, SMALL), photograph(page(), 4, SMALL)
    assert first.mode == "RGB" and 900 <= first.width <= 1000
    assert np.array_equal(np.asarray(first), np.asarray(second))
    assert not np.array_equal(np.asarray(first)[:50, :50], np.asarray(other)[:50, :50])


def test_the_geometry_maps_the_pages_ink_onto_the_photos_ink():
    photo, page_to_photo = photograph_with_geometry(page(), 5, SMALL)
    gray = np.asarray(photo.convert("L")).astype(float)
    ys, xs = np.nonzero(page_of_lines(40, [300, 280, 200], ink=220) > 0)
    mapped = np.stack([xs, ys, np.ones_like(xs)]).T @ page_to_photo.T
    px, py = (mapped[:, 0] / mapped[:, 2]).round().astype(int), (mapped[:, 1] / mapped[:, 2]).round().astype(int)
    # ink lands on dark pixels: darker than the photo's typical pixel near it
    assert gray[py, px].mean() < np.median(gray[py.min() : py.max(), px.min() : px.max()]) - 30


def test_photo_augment_keeps_the_crops_frame_and_scale():
    crop = page()
    random.seed(0)
    for _ in range(3):
        out = PhotoAugment(1.0)(crop)
        assert out.mode == "L"
        assert abs(out.width - crop.width) <= 0.12 * crop.width and abs(out.height - crop.height) <= 0.12 * crop.height
        assert np.asarray(out).max() > 150  # the ink is there, white on black
    assert PhotoAugment(0.0)(crop) is crop


def test_the_stem_photographs_training_crops_only_when_asked():
    stem = ParagraphStem(augment=True, photo=PhotoAugment(1.0))
    assert "PhotoAugment" in repr(stem.pil_transforms)
    assert stem(page()).shape[0] == 1
    assert "PhotoAugment" not in repr(ParagraphStem(augment=False).pil_transforms)


@pytest.mark.parametrize("value", ["1.5", "-0.1", "half"])
def test_a_bad_photo_augment_flag_is_refused_by_argparse(value, capsys):
    parser = add_photo_augment_flag(argparse.ArgumentParser())
    with pytest.raises(SystemExit):
        parser.parse_args([f"--photo_augment={value}"])
    assert "--photo_augment" in capsys.readouterr().err
