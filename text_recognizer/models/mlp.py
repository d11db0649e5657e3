"""MLP: the first lab's baseline classifier."""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from text_recognizer.models.config import ModelConfig, setting


@dataclass(frozen=True)
class MLPConfig(ModelConfig):
    fc1: int = setting(1024, "first hidden layer width", bounds=(1, 65536))
    fc2: int = setting(128, "second hidden layer width", bounds=(1, 65536))
    fc_dropout: float = setting(0.5, "dropout after each hidden layer", bounds=(0, 1))


class MLP(nn.Module):
    """Flatten -> two hidden ReLU layers with dropout -> class logits."""

    Config = MLPConfig
    add_to_argparse = MLPConfig.add_to_argparse

    def __init__(self, data_config: dict[str, Any], args: argparse.Namespace | None = None) -> None:
        super().__init__()
        self.data_config = data_config
        self.config = config = self.Config.from_args(args)
        input_dim = math.prod(data_config["input_dims"])
        num_classes = len(data_config["mapping"])
        fc1_dim, fc2_dim, dropout = config.fc1, config.fc2, config.fc_dropout
        self.layers = nn.Sequential(
            nn.Flatten(),
            nn.Linear(input_dim, fc1_dim),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(fc1_dim, fc2_dim),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(fc2_dim, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)  # (B, C)
