"""ImageStem: PIL in, float tensor in [0, 1] out; importable without the training stack."""
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from text_recognizer.stems import ImageStem


def test_pil_to_float_tensor_in_unit_range():
    array = np.array([[0, 128, 255]], dtype=np.uint8)
    tensor = ImageStem()(Image.fromarray(array, mode="L"))
    assert tensor.shape == (1, 1, 3) and tensor.dtype == torch.float32
    assert torch.allclose(tensor, torch.tensor([[[0.0, 128 / 255, 1.0]]]))


def test_rgb_input_becomes_one_channel():
    tensor = ImageStem()(Image.new("RGB", (4, 2), (255, 255, 255)))
    assert tensor.shape == (1, 2, 4) and float(tensor.min()) == 1.0


def test_rejects_non_images_clearly():
    with pytest.raises(TypeError, match="expects a PIL image"):
        ImageStem()(np.zeros((2, 2)))


def test_stems_import_without_lightning_or_data_modules():
    code = (
        "import sys, text_recognizer.stems; "
        "bad = [m for m in sys.modules if 'lightning' in m or m.startswith('text_recognizer.data')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
