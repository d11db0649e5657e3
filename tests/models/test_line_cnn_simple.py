"""LineCNNSimple: the character CNN applied to each window of a line."""
import argparse

import pytest
import torch

from text_recognizer.metadata.shared import MAPPING
from text_recognizer.models.line_cnn_simple import LineCNNSimple

CONFIG = {"input_dims": (1, 28, 28 * 32), "output_dims": (32, 1), "mapping": MAPPING}


def test_one_prediction_per_character_cell():
    model = LineCNNSimple(CONFIG).eval()
    assert model(torch.rand(2, 1, 28, 896)).shape == (2, 83, 32)


def test_windows_are_read_independently():
    model = LineCNNSimple(CONFIG).eval()
    x = torch.rand(1, 1, 28, 896)
    changed = x.clone()
    changed[..., 28 * 5 : 28 * 6] = 0  # only the sixth cell
    with torch.no_grad():
        difference = (model(x) - model(changed)).abs().amax(dim=1)[0]  # (S,)
    assert difference[5] > 0 and torch.count_nonzero(difference) == 1


def test_window_flags_and_output_limit():
    args = argparse.Namespace(window_width=28, window_stride=14, limit_output_length=False, conv_dim=8, fc_dim=16)
    assert LineCNNSimple(CONFIG, args)(torch.rand(1, 1, 28, 896)).shape == (1, 83, 63)  # (896 - 28) / 14 + 1
    args.limit_output_length = True
    assert LineCNNSimple(CONFIG, args)(torch.rand(1, 1, 28, 896)).shape == (1, 83, 32)


def test_flags_parse_and_a_too_narrow_image_is_an_error():
    parser = argparse.ArgumentParser()
    LineCNNSimple.add_to_argparse(parser)
    args = parser.parse_args(["--window_stride=7", "--limit_output_length"])
    assert args.window_width == 28 and args.window_stride == 7 and args.limit_output_length
    with pytest.raises(ValueError, match="window_width"):
        LineCNNSimple(CONFIG)(torch.rand(1, 1, 28, 20))
