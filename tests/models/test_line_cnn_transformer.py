"""LineCNN and LineCNNTransformer: output shapes for IAM and EMNIST lines, decoding through the model."""
import argparse

import pytest
import torch

from text_recognizer.metadata import iam_lines
from text_recognizer.models import LineCNN, LineCNNTransformer
from text_recognizer.models.decoding import naive_greedy_decode

IAM_LINES_CONFIG = {"input_dims": iam_lines.DIMS, "output_dims": iam_lines.OUTPUT_DIMS, "mapping": iam_lines.MAPPING}
EMNIST_LINES_CONFIG = {"input_dims": (1, 28, 448), "output_dims": (18, 1), "mapping": iam_lines.MAPPING}
SMALL_ARGS = argparse.Namespace(conv_dim=8, fc_dim=32, tf_dim=32, tf_fc_dim=64, tf_layers=2, tf_nhead=4)


@pytest.mark.parametrize(
    ("config", "windows"),
    [(IAM_LINES_CONFIG, 127), (EMNIST_LINES_CONFIG, 55)],  # (W/8 - 2) // 1 + 1 windows with 16/8-pixel windows
)
def test_line_cnn_outputs_one_column_of_class_scores_per_window(config, windows):
    model = LineCNN(config, SMALL_ARGS)
    _, height, width = config["input_dims"]
    assert model.sequence_length(width) == windows
    assert model(torch.rand(2, 1, height, width)).shape == (2, 83, windows)  # (B, C, S)
    assert LineCNN(config, SMALL_ARGS, num_outputs=32)(torch.rand(1, 1, height, width)).shape == (1, 32, windows)


def test_line_cnn_window_flags_change_the_sequence_length():
    args = argparse.Namespace(conv_dim=8, fc_dim=16, window_width=32, window_stride=16, limit_output_length=True)
    model = LineCNN(IAM_LINES_CONFIG, args)
    assert model.sequence_length(1024) == (128 - 4) // 2 + 1
    assert model(torch.rand(1, 1, 56, 1024)).shape == (1, 83, 63)
    with pytest.raises(ValueError, match="multiple of 8"):
        LineCNN(IAM_LINES_CONFIG, argparse.Namespace(window_width=12))


@pytest.mark.parametrize("config", [IAM_LINES_CONFIG, EMNIST_LINES_CONFIG])
def test_line_cnn_transformer_encodes_decodes_and_predicts(config):
    torch.manual_seed(0)
    model = LineCNNTransformer(config, SMALL_ARGS).eval()
    _, height, width = config["input_dims"]
    x = torch.rand(2, 1, height, width)
    y = torch.randint(4, 83, (2, 9))
    with torch.no_grad():
        memory = model.encode(x)
        assert memory.shape == (2, model.line_cnn.sequence_length(width), 32)
        assert model(x, y).shape == (2, 83, 9)  # (B, C, Sy)
        naive_tokens, _ = naive_greedy_decode(model.decoder, memory, 12)
    tokens = model.predict(x, max_length=12)
    assert torch.equal(tokens, naive_tokens)
    assert model.predict(x).shape == (2, config["output_dims"][0])
    assert not [name for name in model.state_dict() if name.endswith("pe")]
