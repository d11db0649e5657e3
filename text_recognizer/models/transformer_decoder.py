"""The text decoder shared by ResnetTransformer and LineCNNTransformer, and its --tf_* flags.

Tokens -> embedding * sqrt(dim) + 1D sinusoid -> nn.TransformerDecoder (post-norm, ReLU) attending
to the encoder's memory -> Linear to the classes. Teacher-forced logits come from `forward`;
`generate` decodes (cached greedy or beam search, see decoding.py).
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from text_recognizer.metadata.shared import END_TOKEN, PADDING_TOKEN, START_TOKEN
from text_recognizer.models import decoding
from text_recognizer.models.config import ModelConfig, setting
from text_recognizer.models.transformer_util import PositionalEncoding, generate_square_subsequent_mask
from text_recognizer.vocabulary import Vocabulary


@dataclass(frozen=True)
class TransformerDecoderConfig(ModelConfig):
    tf_dim: int = setting(256, "width of the transformer decoder", bounds=(1, 4096))
    # The trained value. The reference defined a 1024 constant for this, but its flag defaulted to
    # tf_dim and the published model was trained with 256: the 1024 was never used.
    tf_fc_dim: int = setting(256, "hidden width of its feed-forward blocks", bounds=(1, 16384))
    tf_dropout: float = setting(0.4, "dropout inside the decoder layers", bounds=(0, 1))
    tf_layers: int = setting(4, "number of decoder layers", bounds=(1, 64))
    tf_nhead: int = setting(4, "attention heads", bounds=(1, 64))

INIT_RANGE = 0.1  # embedding and output weights ~ U(-0.1, 0.1), as in the reference


class TransformerTextDecoder(nn.Module):
    """(B, M, dim) memory and (B, Sy) tokens -> (B, C, Sy) next-token logits; decoding by `generate`."""

    Config = TransformerDecoderConfig
    add_to_argparse = TransformerDecoderConfig.add_to_argparse

    def __init__(self, data_config: dict[str, Any], args: argparse.Namespace | None = None) -> None:
        super().__init__()
        self.config = config = self.Config.from_args(args)
        needed = (START_TOKEN, END_TOKEN, PADDING_TOKEN)
        vocabulary = Vocabulary(data_config["mapping"], needed, needed_by="a transformer decoder")
        index = vocabulary.index
        self.start_token, self.end_token, self.padding_token = (index[token] for token in needed)
        self.newline_token = vocabulary.newline  # the line guard counts characters per line
        self.num_classes = len(index)
        self.max_output_length = data_config["output_dims"][0]  # 682 for paragraphs, <S> and <E> included

        self.dim, self.nhead = config.tf_dim, config.tf_nhead
        if self.dim % self.nhead:
            raise ValueError(f"--tf_dim={self.dim} must be divisible by --tf_nhead={self.nhead}")
        self.embedding = nn.Embedding(self.num_classes, self.dim)
        self.pos_encoder = PositionalEncoding(self.dim, max_len=self.max_output_length)
        layer = nn.TransformerDecoderLayer(
            d_model=self.dim,
            nhead=self.nhead,
            dim_feedforward=config.tf_fc_dim,
            dropout=config.tf_dropout,
            batch_first=True,
        )
        self.transformer = nn.TransformerDecoder(layer, num_layers=config.tf_layers)
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

    def output_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The last layer's (..., dim) output -> (..., C) logits: the stack's final norm (if any), then fc."""
        if self.transformer.norm is not None:
            x = self.transformer.norm(x)
        return self.fc(x)

    def sequence_logits(self, memory: torch.Tensor, y: torch.Tensor, memory_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher-forced (B, Sy, C) logits: position i predicts token i + 1 from tokens <= i; `memory_mask` (B, M)
        True at the memory cells that are padding, never attended to (decoding.py)."""
        length = y.shape[1]
        causal_mask = generate_square_subsequent_mask(length, device=y.device)  # (Sy, Sy)
        output = self.transformer(
            self.embed(y),
            memory,
            tgt_mask=causal_mask,
            tgt_key_padding_mask=y == self.padding_token,  # (B, Sy): <P> is never attended to
            memory_key_padding_mask=memory_mask,
        )  # (B, Sy, dim)
        return self.fc(output)  # (B, Sy, C); nn.TransformerDecoder applied its own final norm

    def sequence_log_likelihood(
        self, memory: torch.Tensor, tokens: torch.Tensor, memory_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B, L) texts laid out as `generate` writes them (<S>, text, <E>, <P>...) -> (B,) the log-probability
        of each, <E> included: the figure `generate` returns for its own texts, for any text."""
        with torch.inference_mode():
            log_probs = torch.log_softmax(self.sequence_logits(memory, tokens[:, :-1], memory_mask).float(), dim=-1)
        targets = tokens[:, 1:]
        chosen = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        return (chosen * (targets != self.padding_token)).sum(dim=1)

    def forward(self, memory: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(B, M, dim) memory, (B, Sy) tokens -> (B, C, Sy) logits, the layout F.cross_entropy wants."""
        return self.sequence_logits(memory, y).permute(0, 2, 1)

    def generate(
        self,
        memory: torch.Tensor,
        max_length: int | None = None,
        beam_width: int = 1,
        return_log_probs: bool = False,
        line_limits: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """(B, max_length) tokens (<S> first, <P> after <E>), and with return_log_probs each text's
        total log-probability (B,) (its <E> included). beam_width=1 is greedy decoding; `line_limits`
        (B,) caps the characters per line, `memory_mask` (B, M) hides the memory's padding (decoding.py)."""
        max_length = max_length or self.max_output_length
        if beam_width == 1:
            tokens, log_probs = decoding.greedy_decode(self, memory, max_length, line_limits=line_limits,
                                                       memory_mask=memory_mask)
        else:
            tokens, log_probs = decoding.beam_search_decode(self, memory, max_length, beam_width, line_limits=line_limits,
                                                            memory_mask=memory_mask)
        return (tokens, log_probs) if return_log_probs else tokens
