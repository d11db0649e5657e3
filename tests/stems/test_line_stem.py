"""IAMLineStem: a line crop -> (1, 56, IMAGE_WIDTH), height 56 keeping aspect ratio, left-aligned."""
import numpy as np
import pytest
import torch
from PIL import Image

from text_recognizer.metadata import iam_lines as metadata
from text_recognizer.stems import IAMLineStem

HEIGHT, WIDTH = metadata.IMAGE_HEIGHT, metadata.IMAGE_WIDTH


def ink_columns(tensor: torch.Tensor) -> int:
    return int((tensor[0] > 0.5).any(dim=0).sum())


@pytest.mark.parametrize("augment", [False, True])
@pytest.mark.parametrize("size", [(5, 5), (400, 100), (3000, 112), (100, 400)])
def test_output_shape_dtype_and_range(augment, size):
    tensor = IAMLineStem(augment=augment)(Image.new("L", size, 255))
    assert tuple(tensor.shape) == (1, HEIGHT, WIDTH) and tensor.dtype == torch.float32
    assert 0.0 <= float(tensor.min()) and float(tensor.max()) <= 1.0


def test_resized_to_height_56_keeping_aspect_ratio_at_the_left():
    tensor = IAMLineStem(augment=False)(Image.new("L", (400, 112), 255))
    assert ink_columns(tensor) == 200
    assert bool((tensor[0, :, :200] > 0.5).all()) and float(tensor[0, :, 200:].max()) == 0.0


def test_too_long_line_is_squeezed_not_cropped():
    tensor = IAMLineStem(augment=False)(Image.new("L", (5000, 56), 255))
    assert ink_columns(tensor) == WIDTH


def test_not_augmented_is_deterministic():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (80, 600), dtype=np.uint8))
    stem = IAMLineStem(augment=False)
    assert torch.equal(stem(image), stem(image))


def test_augmentation_stretches_width_by_0_9_to_1_1():
    torch.manual_seed(0)
    stem = IAMLineStem(augment=True)
    widths = [ink_columns(stem(Image.new("L", (400, 56), 255))) for _ in range(12)]
    assert len(set(widths)) > 1
    assert all(0.85 * 400 <= w <= 1.15 * 400 for w in widths)  # plus a few columns of rotation and shear
