"""LineCNNLSTM: LineCNN features -> bidirectional LSTM -> per-position logits for CTC."""
import argparse

import torch

from text_recognizer.metadata.shared import MAPPING
from text_recognizer.models.line_cnn import LineCNN
from text_recognizer.models.line_cnn_lstm import LineCNNLSTM

CONFIG = {"input_dims": (1, 56, 256), "output_dims": (89, 1), "mapping": MAPPING}
ARGS = argparse.Namespace(conv_dim=8, fc_dim=16, window_width=16, window_stride=8, lstm_dim=12, lstm_layers=1)


def test_one_score_vector_per_line_cnn_position():
    torch.manual_seed(0)
    model = LineCNNLSTM(CONFIG, ARGS).eval()
    x = torch.rand(2, 1, 56, 256)
    positions = LineCNN(CONFIG, ARGS).eval()(x).shape[-1]
    assert model(x).shape == (2, len(MAPPING), positions)


def test_every_position_sees_the_whole_line():
    torch.manual_seed(0)
    model = LineCNNLSTM(CONFIG, ARGS).eval()
    features = torch.randn(1, len(MAPPING), 4)  # what LineCNN would give: (B, C, S)
    changed = features.clone()
    changed[..., -1] += 5  # only the last position
    model.line_cnn = torch.nn.Identity()  # feed the features straight to the LSTM
    with torch.no_grad():
        difference = (model(features) - model(changed)).abs().amax(dim=1)[0]
    assert difference[0] > 1e-5  # the first position changed too: the backward LSTM carried it


def test_flags_and_stacked_layers():
    parser = argparse.ArgumentParser()
    LineCNNLSTM.add_to_argparse(parser)
    args = parser.parse_args(["--lstm_dim=8", "--lstm_layers=2", "--conv_dim=8", "--fc_dim=16"])
    model = LineCNNLSTM(CONFIG, args)
    assert model.lstm.num_layers == 2 and model.lstm.dropout == args.lstm_dropout
    assert model(torch.rand(1, 1, 56, 256)).shape[:2] == (1, len(MAPPING))
