"""ParagraphStem: any paragraph image -> (1, H, W) of at most 576x640 in [0, 1] (or the reference's fixed
canvas); scaled down to fit, never cropped; handwriting size estimated and matched at inference."""
import random

import numpy as np
import pytest
import torch
from PIL import Image

from text_recognizer.metadata import iam_paragraphs as metadata
from text_recognizer.stems import ParagraphStem
from text_recognizer.stems.paragraph import (
    TARGET_LINE_PITCH,
    ElasticDistortion,
    MatchTrainingScale,
    estimate_line_pitch,
    smooth_displacement,
)

CANVAS = metadata.DIMS  # (1, 576, 640)


def white_box(width: int, height: int) -> Image.Image:
    return Image.new("L", (width, height), 255)


def ink_bbox(tensor: torch.Tensor) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(tensor[0].numpy() > 0.5)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


@pytest.mark.parametrize("augment", [False, True])
@pytest.mark.parametrize("size", [(10, 10), (300, 200), (640, 576), (1600, 900), (500, 2000)])
def test_output_shape_dtype_and_range(augment, size):
    tensor = ParagraphStem(augment=augment)(white_box(*size))
    assert tensor.shape[0] == 1 and tensor.shape[1] <= 576 and tensor.shape[2] <= 640 and tensor.dtype == torch.float32
    assert 0.0 <= float(tensor.min()) and float(tensor.max()) <= 1.0
    if not augment and size[0] <= 640 and size[1] <= 576:
        assert tuple(tensor.shape[1:]) == (size[1], size[0])  # what fits keeps its size: no canvas
    assert tuple(ParagraphStem(augment=augment, fixed_canvas=True)(white_box(*size)).shape) == CANVAS


def test_small_image_is_centred_and_unchanged_on_the_fixed_canvas():
    tensor = ParagraphStem(augment=False, fixed_canvas=True)(white_box(100, 50))
    x1, y1, x2, y2 = ink_bbox(tensor)
    assert (x2 - x1, y2 - y1) == (100, 50)
    assert (x1, y1) == ((640 - 100) // 2, (576 - 50) // 2)


@pytest.mark.parametrize("size", [(1280, 300), (300, 1152), (2000, 2000)])
def test_big_image_is_scaled_down_to_fit_not_cropped(size):
    # A white frame around a black inside: if any border were cropped, a side of the frame would vanish.
    image = Image.new("L", size, 255)
    inside = Image.new("L", (size[0] - 40, size[1] - 40), 0)
    image.paste(inside, (20, 20))
    tensor = ParagraphStem(augment=False, fixed_canvas=True)(image)[0]
    x1, y1, x2, y2 = ink_bbox(tensor[None])
    scale = min(640 / size[0], 576 / size[1])
    assert abs((x2 - x1) - size[0] * scale) <= 2 and abs((y2 - y1) - size[1] * scale) <= 2
    # all four sides of the frame survive
    assert tensor[y1:y2, x1].mean() > 0.5 and tensor[y1:y2, x2 - 1].mean() > 0.5
    assert tensor[y1, x1:x2].mean() > 0.5 and tensor[y2 - 1, x1:x2].mean() > 0.5


def test_not_augmented_is_deterministic():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 400), dtype=np.uint8))
    stem = ParagraphStem(augment=False)
    assert torch.equal(stem(image), stem(image))


def test_augmentation_places_randomly_and_keeps_the_ink():
    torch.manual_seed(0)
    stem = ParagraphStem(augment=True, fixed_canvas=True)
    boxes = {ink_bbox(stem(white_box(200, 100)))[:2] for _ in range(8)}
    assert len(boxes) > 1  # random placement
    for _ in range(4):
        tensor = stem(white_box(200, 100))
        # rotation <= 1 degree and shear <= 10 degrees move ink a little, never off the canvas entirely
        assert 0.8 * 200 * 100 < float((tensor > 0.5).sum()) < 1.3 * 200 * 100


def test_content_sized_augmentation_varies_margins_and_scale_and_keeps_the_ink():
    torch.manual_seed(0)
    stem = ParagraphStem(augment=True)
    shapes, corners = set(), set()
    for _ in range(12):
        tensor = stem(white_box(200, 100))
        shapes.add(tuple(tensor.shape))
        corners.add(ink_bbox(tensor)[:2])
        # scale 0.85-1.15, pen and blur: the ink's area stays near the original's
        assert 0.5 * 200 * 100 < float((tensor > 0.5).sum()) < 1.8 * 200 * 100
        assert tensor.shape[1] < 150 and tensor.shape[2] < 260
    assert len(shapes) > 1 and len(corners) > 1


def test_elastic_distortion_bends_the_strokes_by_about_the_pixels_asked_and_is_off_by_default():
    page = lines_page(40)
    before = np.asarray(page, dtype=np.float32) / 255
    assert not any(isinstance(t, ElasticDistortion) for t in ParagraphStem(augment=True).pil_transforms.transforms)
    stem = ParagraphStem(augment=True, elastic_displacement=2.0)
    elastic = next(t for t in stem.pil_transforms.transforms if isinstance(t, ElasticDistortion))
    torch.manual_seed(0)
    bent = np.asarray(elastic(page), dtype=np.float32) / 255
    assert bent.shape == before.shape and 0.8 < bent.sum() / before.sum() < 1.2  # the ink moves, it stays
    assert np.abs(bent - before).mean() > 0.01
    field = torch.cat([smooth_displacement(300, 500, 2.0) for _ in range(8)])
    assert float((field[..., 0] * 500 / 2).std()) == pytest.approx(2.0, rel=0.1)  # pixels, as the flag says
    assert float((field[..., 1] * 300 / 2).std()) == pytest.approx(2.0, rel=0.1)
    # smooth over ELASTIC_SIGMA: torchvision's blurred noise correlates 0.77 at 10 px and 0.13 at 30 px
    across = field[..., 0]
    for lag, correlation in ((10, 0.77), (30, 0.13)):
        measured = (across[:, :, :-lag] * across[:, :, lag:]).mean() / (across * across).mean()
        assert float(measured) == pytest.approx(correlation, abs=0.08)
    with pytest.raises(ValueError, match="elastic_displacement"):
        ParagraphStem(augment=True, elastic_displacement=-1)


def test_elastic_distortion_takes_a_line_shorter_than_its_blur_kernel():
    """torchvision's blur reflect-pads by 4 sigma (40 px): a 36 px line failed the first training run.
    The field is now smoothed on a coarse grid of at least the kernel's size, so any image keeps its size."""
    torch.manual_seed(0)
    line = Image.fromarray(np.full((36, 415), 255, np.uint8))
    bent = np.asarray(ElasticDistortion(2.0)(line))
    assert bent.shape == (36, 415) and bent.mean() > 200  # the ink kept, a little black bent in at the edges
    assert np.asarray(ElasticDistortion(2.0)(Image.new("L", (5, 3), 255))).shape == (3, 5)
    assert ParagraphStem(augment=True, elastic_displacement=2.0)(line).shape[1] >= 36


def lines_page(pitch: int, lines: int = 5, width: int = 400) -> Image.Image:
    """White 'words' on black: `lines` rows of blobs, baseline to baseline `pitch` pixels."""
    image = Image.new("L", (width, pitch * lines + pitch), 0)
    array = np.asarray(image).copy()
    rng = np.random.default_rng(pitch)
    for line in range(lines):
        top = pitch // 2 + line * pitch
        x = 10
        while x < width - 40:
            word = int(rng.integers(20, 60))
            array[top : top + pitch * 2 // 5, x : x + word] = 255
            x += word + int(rng.integers(8, 16))
    return Image.fromarray(array)


@pytest.mark.parametrize("pitch", [20, 40, 90])
def test_line_pitch_is_measured_from_the_row_profile(pitch):
    assert estimate_line_pitch(lines_page(pitch)) == pytest.approx(pitch, rel=0.05)


def test_line_pitch_scales_with_the_image_and_blank_pages_have_none():
    page = lines_page(30)
    for scale in (0.75, 2.0, 3.0):
        resized = page.resize((round(page.width * scale), round(page.height * scale)), Image.Resampling.BILINEAR)
        assert estimate_line_pitch(resized) == pytest.approx(30 * scale, rel=0.06)
    single = lines_page(30, lines=1)
    doubled = single.resize((single.width * 2, single.height * 2))
    assert estimate_line_pitch(doubled) == pytest.approx(2 * estimate_line_pitch(single), rel=0.1)
    assert estimate_line_pitch(Image.new("L", (50, 50), 0)) is None


@pytest.mark.parametrize("pitch", [10, 30, 56, 120])
def test_inference_rescales_every_page_to_the_target_line_pitch(pitch):
    page = lines_page(pitch)
    rescaled = MatchTrainingScale()(page)
    assert estimate_line_pitch(rescaled) == pytest.approx(TARGET_LINE_PITCH, rel=0.06)
    assert rescaled.width == pytest.approx(page.width * TARGET_LINE_PITCH / estimate_line_pitch(page), abs=1)


def test_pages_without_ink_are_not_rescaled_and_the_stem_applies_the_match():
    blank = Image.new("L", (300, 200), 0)
    assert MatchTrainingScale()(blank) is blank
    stem = ParagraphStem(augment=False, match_scale=True)
    assert stem(lines_page(120)).shape[1] < lines_page(120).height * 0.6
    assert ParagraphStem(augment=False)(lines_page(90)).shape[1] == lines_page(90).height  # evaluation: as given


def test_a_smaller_line_pitch_shrinks_training_evaluation_and_inference_alike():
    """--line_pitch=24 reads everything at half size: native crops are halved (augmented first, at their
    own size, then shrunk), and the recognizer matches every page's pitch to 24 instead of 48."""
    page = lines_page(48, width=400)
    evaluated = ParagraphStem(augment=False, line_pitch=24)(page)
    assert evaluated.shape[1:] == (page.height // 2, page.width // 2)
    random.seed(0)
    augmented = [ParagraphStem(augment=True, elastic_displacement=2.0, line_pitch=24)(page) for _ in range(8)]
    native = [ParagraphStem(augment=True, elastic_displacement=2.0)(page) for _ in range(8)]
    ratio = np.mean([a.shape[2] for a in augmented]) / np.mean([n.shape[2] for n in native])
    assert ratio == pytest.approx(0.5, abs=0.06)  # margins and scale jitter shrink with the page
    for pitch in (20, 60, 120):
        matched = ParagraphStem(augment=False, match_scale=True, line_pitch=24).pil_transforms(lines_page(pitch))
        assert estimate_line_pitch(matched) == pytest.approx(24, rel=0.08)
    assert "rescale(0.5)" in repr(ParagraphStem(line_pitch=24).pil_transforms)
    for bad in (8, 60):
        with pytest.raises(ValueError, match="--line_pitch must be between 16 and 48"):
            ParagraphStem(augment=False, line_pitch=bad)


def test_a_bad_line_pitch_is_refused_at_the_command_line():
    import argparse

    from text_recognizer.stems.paragraph import add_augmentation_flags

    parser = add_augmentation_flags(argparse.ArgumentParser())
    assert parser.parse_args(["--line_pitch=24"]).line_pitch == 24.0
    for bad, message in (("8", "must be between 16 and 48 pixels, got 8"), ("abc", "'abc' is not a number")):
        with pytest.raises(SystemExit):
            parser.parse_args([f"--line_pitch={bad}"])
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            parser._option_string_actions["--line_pitch"].type(bad)
