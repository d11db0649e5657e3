"""The first labs' classifiers: shapes and flags."""
import argparse

import torch

from text_recognizer.models import CNN, MLP

DATA_CONFIG = {"input_dims": (1, 28, 28), "output_dims": (1,), "mapping": list(range(10))}


def test_mlp_gives_one_logit_per_class():
    model = MLP(DATA_CONFIG, argparse.Namespace(fc1=32, fc2=16, fc_dropout=0.0))
    assert model(torch.rand(5, 1, 28, 28)).shape == (5, 10)


def test_cnn_handles_non_square_inputs():
    config = {**DATA_CONFIG, "input_dims": (1, 12, 20)}
    model = CNN(config, argparse.Namespace(conv_dim=8, fc_dim=16))
    assert model(torch.rand(3, 1, 12, 20)).shape == (3, 10)


def test_defaults_apply_without_flags():
    assert CNN(DATA_CONFIG).features[0].conv.out_channels == 64
