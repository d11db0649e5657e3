"""ParagraphStem: any paragraph image -> (1, 576, 640) in [0, 1]; scaled down to fit, never cropped."""
import numpy as np
import pytest
import torch
from PIL import Image

from text_recognizer.metadata import iam_paragraphs as metadata
from text_recognizer.stems import ParagraphStem

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
    assert tuple(tensor.shape) == CANVAS and tensor.dtype == torch.float32
    assert 0.0 <= float(tensor.min()) and float(tensor.max()) <= 1.0


def test_small_image_is_centred_and_unchanged():
    tensor = ParagraphStem(augment=False)(white_box(100, 50))
    x1, y1, x2, y2 = ink_bbox(tensor)
    assert (x2 - x1, y2 - y1) == (100, 50)
    assert (x1, y1) == ((640 - 100) // 2, (576 - 50) // 2)


@pytest.mark.parametrize("size", [(1280, 300), (300, 1152), (2000, 2000)])
def test_big_image_is_scaled_down_to_fit_not_cropped(size):
    # A white frame around a black inside: if any border were cropped, a side of the frame would vanish.
    image = Image.new("L", size, 255)
    inside = Image.new("L", (size[0] - 40, size[1] - 40), 0)
    image.paste(inside, (20, 20))
    tensor = ParagraphStem(augment=False)(image)[0]
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
    stem = ParagraphStem(augment=True)
    boxes = {ink_bbox(stem(white_box(200, 100)))[:2] for _ in range(8)}
    assert len(boxes) > 1  # random placement
    for _ in range(4):
        tensor = stem(white_box(200, 100))
        # rotation <= 1 degree and shear <= 10 degrees move ink a little, never off the canvas entirely
        assert 0.8 * 200 * 100 < float((tensor > 0.5).sum()) < 1.3 * 200 * 100
