"""MLP: the first lab's baseline classifier."""
from __future__ import annotations

import argparse
import math
from typing import Any

import torch
from torch import nn

FC1_DIM = 1024
FC2_DIM = 128
FC_DROPOUT = 0.5


class MLP(nn.Module):
    """Flatten -> two hidden ReLU layers with dropout -> class logits."""

    def __init__(self, data_config: dict[str, Any], args: argparse.Namespace | None = None) -> None:
        super().__init__()
        self.data_config = data_config
        config = vars(args) if args is not None else {}
        input_dim = math.prod(data_config["input_dims"])
        num_classes = len(data_config["mapping"])
        fc1_dim = config.get("fc1", FC1_DIM)
        fc2_dim = config.get("fc2", FC2_DIM)
        dropout = config.get("fc_dropout", FC_DROPOUT)
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

    @staticmethod
    def add_to_argparse(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument("--fc1", type=int, default=FC1_DIM, help="first hidden layer width")
        parser.add_argument("--fc2", type=int, default=FC2_DIM, help="second hidden layer width")
        parser.add_argument("--fc_dropout", type=float, default=FC_DROPOUT, help="dropout after each hidden layer")
        return parser
