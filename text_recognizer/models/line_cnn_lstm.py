"""LineCNNLSTM: LineCNN's feature sequence read by a bidirectional LSTM, one score vector per position (for CTC).

The LineCNN looks at each window of the line on its own; the LSTM lets every position see the whole
line, which helps with characters cut across windows. Train it with `--loss=ctc` (CTCLitModel).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from text_recognizer.models.config import setting
from text_recognizer.models.line_cnn import LineCNN, LineCNNConfig


@dataclass(frozen=True)
class LineCNNLSTMConfig(LineCNNConfig):
    lstm_dim: int = setting(512, "hidden size of each LSTM direction", bounds=(1, 4096))
    lstm_layers: int = setting(1, "stacked LSTM layers", bounds=(1, 16))
    lstm_dropout: float = setting(0.2, "dropout between LSTM layers (so only with --lstm_layers > 1)", bounds=(0, 1))


class LineCNNLSTM(nn.Module):
    """(B, 1, H, W) line image -> (B, C, S) logits over the mapping's C tokens at LineCNN's S positions."""

    Config = LineCNNLSTMConfig
    add_to_argparse = LineCNNLSTMConfig.add_to_argparse

    def __init__(self, data_config: dict[str, Any], args: argparse.Namespace | None = None) -> None:
        super().__init__()
        self.data_config = data_config
        self.config = config = self.Config.from_args(args)
        num_classes = len(data_config["mapping"])
        lstm_dim, lstm_layers, lstm_dropout = config.lstm_dim, config.lstm_layers, config.lstm_dropout

        # As in the reference, LineCNN gives class scores per window (C = num_classes) and the LSTM reads those.
        self.line_cnn = LineCNN(data_config=data_config, args=args)
        self.lstm = nn.LSTM(
            input_size=num_classes,
            hidden_size=lstm_dim,
            num_layers=lstm_layers,
            dropout=lstm_dropout if lstm_layers > 1 else 0.0,  # nn.LSTM drops only between layers
            bidirectional=True,
        )
        self.fc = nn.Linear(lstm_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.line_cnn(x)  # (B, C, S): (B, 83, 127) for 56x1024 with window 16, stride 8
        sequence = features.permute(2, 0, 1)  # (S, B, C): nn.LSTM is sequence-first
        outputs, _ = self.lstm(sequence)  # (S, B, 2 * lstm_dim)
        length, batch, _ = outputs.shape
        outputs = outputs.view(length, batch, 2, -1).sum(dim=2)  # (S, B, lstm_dim): both directions summed
        logits = self.fc(outputs)  # (S, B, C)
        return logits.permute(1, 2, 0)  # (B, C, S)
