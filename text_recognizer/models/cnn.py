"""CNN: a small convolutional classifier for single characters (MNIST, EMNIST, FakeImageData)."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from text_recognizer.models.config import ModelConfig, setting


@dataclass(frozen=True)
class CNNConfig(ModelConfig):
    conv_dim: int = setting(64, "channels of the conv blocks", bounds=(1, 1024))
    fc_dim: int = setting(128, "width of the hidden fully connected layer", bounds=(1, 16384))
    fc_dropout: float = setting(0.25, "dropout after pooling and fc", bounds=(0, 1))


class ConvBlock(nn.Module):
    """3x3 convolution (size-preserving) followed by ReLU."""

    def __init__(self, input_channels: int, output_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(input_channels, output_channels, kernel_size=3, stride=1, padding=1)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x))


class CNN(nn.Module):
    """Two conv blocks, a 2x2 max-pool, dropout, then two fully connected layers."""

    Config = CNNConfig
    add_to_argparse = CNNConfig.add_to_argparse

    def __init__(self, data_config: dict[str, Any], args: argparse.Namespace | None = None) -> None:
        super().__init__()
        self.data_config = data_config
        self.config = config = self.Config.from_args(args)
        channels, height, width = data_config["input_dims"]
        num_classes = len(data_config["mapping"])
        conv_dim, fc_dim, dropout = config.conv_dim, config.fc_dim, config.fc_dropout

        self.features = nn.Sequential(
            ConvBlock(channels, conv_dim),
            ConvBlock(conv_dim, conv_dim),
            nn.MaxPool2d(2),  # (B, 64, 14, 14) for 28x28
            nn.Dropout(dropout),
            nn.Flatten(),  # (B, 64 * 14 * 14)
        )
        flat_dim = conv_dim * (height // 2) * (width // 2)
        self.classifier = nn.Sequential(
            nn.Linear(flat_dim, fc_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(fc_dim, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))  # (B, C)
