"""The text decoder shared by ResnetTransformer and LineCNNTransformer, and its --tf_* flags.

Tokens -> embedding * sqrt(dim) + 1D sinusoid -> nn.TransformerDecoder (post-norm, ReLU) attending
to the encoder's memory -> Linear to the classes. Teacher-forced logits come from `forward`;
`generate` decodes (cached greedy or beam search, see decoding.py).
"""
from __future__ import annotations

import argparse
import math
from typing import Any

import torch
from torch import nn

from text_recognizer.metadata.shared import END_TOKEN, PADDING_TOKEN, START_TOKEN
from text_recognizer.models import decoding
from text_recognizer.models.transformer_util import PositionalEncoding, generate_square_subsequent_mask

TF_DIM = 256
# The trained value. The reference defined a 1024 constant for this, but its flag defaulted to
# tf_dim and the published model was trained with 256: the 1024 was never used.
TF_FC_DIM = 256
TF_DROPOUT = 0.4
TF_LAYERS = 4
TF_NHEAD = 4
INIT_RANGE = 0.1  # embedding and output weights ~ U(-0.1, 0.1), as in the reference


class TransformerTextDecoder(nn.Module):
    """(B, M, dim) memory and (B, Sy) tokens -> (B, C, Sy) next-token logits; decoding by `generate`."""

    def __init__(self, data_config: dict[str, Any], args: argparse.Namespace | None = None) -> None:
        super().__init__()
        config = vars(args) if args is not None else {}
        mapping = list(data_config["mapping"])
        missing = [t for t in (START_TOKEN, END_TOKEN, PADDING_TOKEN) if t not in mapping]
        if missing:
            raise ValueError(f"a transformer decoder needs {missing} in the data's mapping (use an EMNIST/IAM data class)")
        self.start_token, self.end_token = mapping.index(START_TOKEN), mapping.index(END_TOKEN)
        self.padding_token = mapping.index(PADDING_TOKEN)
        self.num_classes = len(mapping)
        self.max_output_length = data_config["output_dims"][0]  # 682 for paragraphs, <S> and <E> included

        self.dim = config.get("tf_dim", TF_DIM)
        self.nhead = config.get("tf_nhead", TF_NHEAD)
        if self.dim % self.nhead:
            raise ValueError(f"--tf_dim={self.dim} must be divisible by --tf_nhead={self.nhead}")
        self.embedding = nn.Embedding(self.num_classes, self.dim)
        self.pos_encoder = PositionalEncoding(self.dim, max_len=self.max_output_length)
        layer = nn.TransformerDecoderLayer(
            d_model=self.dim,
            nhead=self.nhead,
            dim_feedforward=config.get("tf_fc_dim", TF_FC_DIM),
            dropout=config.get("tf_dropout", TF_DROPOUT),
            batch_first=True,
        )
        self.transformer = nn.TransformerDecoder(layer, num_layers=config.get("tf_layers", TF_LAYERS))
        self.fc = nn.Linear(self.dim, self.num_classes)
        self.init_weights()

    def init_weights(self) -> None:
        nn.init.uniform_(self.embedding.weight, -INIT_RANGE, INIT_RANGE)
        nn.init.uniform_(self.fc.weight, -INIT_RANGE, INIT_RANGE)
        nn.init.zeros_(self.fc.bias)

    @property
    def layers(self) -> nn.ModuleList:
        return self.transformer.layers

    def embed(self, y: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """(B, Sy) tokens at positions offset.. -> (B, Sy, dim) decoder inputs."""
        return self.pos_encoder(self.embedding(y) * math.sqrt(self.dim), offset=offset)

    def sequence_logits(self, memory: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Teacher-forced (B, Sy, C) logits: position i predicts token i + 1 from tokens <= i."""
        length = y.shape[1]
        causal_mask = generate_square_subsequent_mask(length, device=y.device)  # (Sy, Sy)
        output = self.transformer(
            self.embed(y),
            memory,
            tgt_mask=causal_mask,
            tgt_key_padding_mask=y == self.padding_token,  # (B, Sy): <P> is never attended to
        )  # (B, Sy, dim)
        return self.fc(output)  # (B, Sy, C)

    def forward(self, memory: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(B, M, dim) memory, (B, Sy) tokens -> (B, C, Sy) logits, the layout F.cross_entropy wants."""
        return self.sequence_logits(memory, y).permute(0, 2, 1)

    def generate(
        self,
        memory: torch.Tensor,
        max_length: int | None = None,
        beam_width: int = 1,
        return_log_probs: bool = False,
        min_length: int = 0,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """(B, max_length) tokens (<S> first, <P> after <E>), and with return_log_probs each text's
        total log-probability (B,) (its <E> included). beam_width=1 is greedy decoding.
        `min_length` forbids <E>/<P> before that many tokens (benchmarks only)."""
        max_length = max_length or self.max_output_length
        if beam_width == 1:
            tokens, log_probs = decoding.greedy_decode(self, memory, max_length, min_length=min_length)
        else:
            tokens, log_probs = decoding.beam_search_decode(self, memory, max_length, beam_width, min_length=min_length)
        return (tokens, log_probs) if return_log_probs else tokens

    @staticmethod
    def add_to_argparse(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument("--tf_dim", type=int, default=TF_DIM, help="width of the transformer decoder")
        parser.add_argument("--tf_fc_dim", type=int, default=TF_FC_DIM, help="hidden width of its feed-forward blocks")
        parser.add_argument("--tf_dropout", type=float, default=TF_DROPOUT, help="dropout inside the decoder layers")
        parser.add_argument("--tf_layers", type=int, default=TF_LAYERS, help="number of decoder layers")
        parser.add_argument("--tf_nhead", type=int, default=TF_NHEAD, help="attention heads")
        return parser


class ImageToTextTransformer(nn.Module):
    """The API shared by the encoder-decoder models: subclasses define `encode` and set `self.decoder`."""

    decoder: TransformerTextDecoder

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) images -> (B, M, tf_dim) memory."""
        raise NotImplementedError

    def decode(self, memory: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (B, C, Sy): position i scores the token that follows y[:, :i + 1]."""
        return self.decoder(memory, y)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) images and (B, Sy) input tokens -> (B, C, Sy) logits."""
        return self.decode(self.encode(x), y)

    def predict(
        self,
        x: torch.Tensor,
        max_length: int | None = None,
        beam_width: int = 1,
        return_log_probs: bool = False,
        min_length: int = 0,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """(B, max_length) tokens: <S> first, <P> after <E> (greedy, or beam search when beam_width > 1).

        With return_log_probs, also each text's total log-probability (B,), a confidence."""
        with torch.inference_mode():
            memory = self.encode(x)
        return self.decoder.generate(memory, max_length, beam_width, return_log_probs, min_length)
