"""TransformerLitModel: teacher-forced cross-entropy, CER by decoding as in production.

The model is an ImageToTextTransformer: `encode(x)`, `decode(memory, y)` -> (B, C, Sy) teacher-forced logits and
`decoder.generate(memory, max_length)` (the cached greedy decoder that inference uses).
--ctc_weight adds an auxiliary CTC loss (joint CTC-attention training): a linear head reads each
column of the encoder's features (max over the rows) and is trained with CTC on the batch's
single-line samples, so the encoder learns letters before the decoder has learnt where to look.
The head is the model's (ResnetTransformer.add_ctc_head), so the model file keeps it. It needs a
ResnetTransformer with --horizontal_stride=8 (a column or more per character).
A model trained on single lines only (its data config's read_by is "lines") is validated and tested
as the recognizer reads it: each page one line at a time (`read_by_lines`), by the CTC head where the
model has one (`line_decoding`); its val_loss stays the teacher-forced loss of the whole page.
Logged: train_loss (with --ctc_weight: train_ctc_loss too); val_loss, val_cer, val_cer_standard; test_loss,
test_cer, test_cer_standard (the two CERs: image_to_text.py). With a W&B logger, a few validation images are logged with predicted and true
text once per validation epoch.
"""
from __future__ import annotations

import argparse
from typing import Any

import torch
from pytorch_lightning.loggers import WandbLogger
from pytorch_lightning.utilities import rank_zero_only
from torch import nn

from text_recognizer.lit_models.base import BaseLitModel
from text_recognizer.lit_models.image_to_text import ImageToTextLitModel
from text_recognizer.lit_models.util import ctc_targets
from text_recognizer.metadata.shared import END_TOKEN, PADDING_TOKEN, START_TOKEN
from text_recognizer.model_file import upgrade_lightning_state_dict
from text_recognizer.models.image_to_text_transformer import (
    LINE_DECODING_CTC,
    ImageToTextTransformer,
    line_decoding,
)
from text_recognizer.stems.paragraph import READ_BY_LINES, line_boxes, pad_batch
from text_recognizer.stems.paragraph_core import line_regions
from text_recognizer.util import positive_int
from text_recognizer.vocabulary import trim_padding

NUM_LOGGED_SAMPLES = 4
TOKEN_NOISE = 0.0  # the reference's teacher forcing: no noise
DROPOUT_RAMP_STEPS = 0
CTC_WEIGHT = 0.0  # the reference's: cross-entropy alone
CTC_FRAMES_PER_COLUMN = 1


class TransformerLitModel(ImageToTextLitModel):
    """ImageToTextLitModel for encoder-decoder models that emit <S> text <E> token sequences."""

    model: ImageToTextTransformer
    noise_tokens: torch.Tensor  # (characters,) the token ids --token_noise draws from: a non-persistent buffer

    def __init__(self, model: nn.Module, args: argparse.Namespace | dict | None = None) -> None:
        if not isinstance(model, ImageToTextTransformer):
            raise ValueError(
                f"--loss=transformer needs an encoder-decoder model (ResnetTransformer, LineCNNTransformer), "
                f"not {type(model).__name__}"
            )
        super().__init__(model, args, needed_tokens=(START_TOKEN, END_TOKEN, PADDING_TOKEN), needed_by="--loss=transformer")
        index = self.vocabulary.index  # <S>, <E>, <P> are there: checked above
        self.start_index, self.end_index, self.padding_index = index[START_TOKEN], index[END_TOKEN], index[PADDING_TOKEN]
        self.loss_fn = nn.CrossEntropyLoss(ignore_index=self.padding_index)  # <P> targets cost nothing
        self.token_noise = self.args.get("token_noise", TOKEN_NOISE)
        if not 0 <= self.token_noise < 1:
            raise ValueError(f"--token_noise is a fraction of tokens in [0, 1), got {self.token_noise}")
        # Characters only: noise never writes <S>, <E>, <P> or <B> into the decoder's input.
        specials = {*self.vocabulary.markers, self.vocabulary.blank}  # and the CTC blank
        self.register_buffer(
            "noise_tokens", torch.tensor([i for i in range(len(self.mapping)) if i not in specials]), persistent=False
        )
        self.dropout_ramp_steps = self.args.get("dropout_ramp_steps", DROPOUT_RAMP_STEPS)
        self._dropout_targets = {name: rate for name, rate in _dropout_rates(self.model)}
        self.ctc_weight = self.args.get("ctc_weight", CTC_WEIGHT)
        if self.ctc_weight < 0:
            raise ValueError(f"--ctc_weight must be 0 or more, got {self.ctc_weight}")
        if self.ctc_weight:
            if not (hasattr(self.model, "feature_map") and hasattr(self.model, "memory")):
                raise ValueError(f"--ctc_weight needs a ResnetTransformer, not {type(self.model).__name__}")
            self.ctc_frames = self.args.get("ctc_frames_per_column", CTC_FRAMES_PER_COLUMN)
            if self.ctc_frames < 1:
                raise ValueError(f"--ctc_frames_per_column must be 1 or more, got {self.ctc_frames}")
            self.model.add_ctc_head(self.ctc_frames)  # type: ignore[operator]
            if self.vocabulary.blank is None:
                raise ValueError("--ctc_weight needs <B> (the CTC blank) in the data's mapping")
            self.ctc_loss_fn = nn.CTCLoss(blank=self.vocabulary.blank, zero_infinity=True)

    @staticmethod
    def add_to_argparse(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        BaseLitModel.add_to_argparse(parser)
        parser.add_argument(
            "--token_noise", type=float, default=TOKEN_NOISE,
            help="fraction of the teacher-forced input characters replaced by random ones in training: the decoder "
            "must read the image rather than guess from its own prefix",
        )
        parser.add_argument(
            "--dropout_ramp_steps", type=int, default=DROPOUT_RAMP_STEPS,
            help="dropout grows linearly from 0 to the model's rates over this many steps (0: full from the start)",
        )
        parser.add_argument(
            "--ctc_weight", type=float, default=CTC_WEIGHT,
            help="weight of an auxiliary CTC loss on the encoder's columns, for single-line samples (0: none; "
            "needs --horizontal_stride=8)",
        )
        parser.add_argument(
            "--ctc_frames_per_column", type=positive_int, default=CTC_FRAMES_PER_COLUMN,
            help="CTC outputs per column of the encoder (the head predicts them side by side): 2 gives lines "
            "read at a small --line_pitch, with fewer columns than characters, an alignment",
        )
        return parser

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        if self.dropout_ramp_steps:
            self.set_dropout_fraction(min(1.0, self.global_step / self.dropout_ramp_steps))

    def set_dropout_fraction(self, fraction: float) -> None:
        """Every dropout of the model at `fraction` of its configured rate."""
        for name, module in self.model.named_modules():
            if name in self._dropout_targets:
                if isinstance(module, nn.Dropout):
                    module.p = self._dropout_targets[name] * fraction
                elif isinstance(module, nn.MultiheadAttention):
                    module.dropout = self._dropout_targets[name] * fraction

    def noisy(self, tokens: torch.Tensor) -> torch.Tensor:
        """Teacher-forced input with a --token_noise fraction of its characters (never <S> or <P>) replaced."""
        replace = (torch.rand(tokens.shape, device=tokens.device) < self.token_noise) & (tokens != self.padding_index)
        replace[:, 0] = False  # <S>
        random_tokens = self.noise_tokens[torch.randint(len(self.noise_tokens), tokens.shape, device=tokens.device)]
        return torch.where(replace, random_tokens, tokens)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images -> decoded tokens (B, max_length), as in production."""
        tokens = self.model.predict(x)
        assert isinstance(tokens, torch.Tensor)  # without return_log_probs, predict returns the tokens alone
        return tokens

    def _shared_step(self, stage: str, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        full_length = y.shape[1]
        y = trim_padding(y, self.padding_index)  # a shorter teacher-forced pass, the same loss
        auxiliary_ctc = stage == "train" and self.ctc_weight > 0
        if auxiliary_ctc:
            features = self.model.feature_map(x)  # type: ignore[operator]
            memory = self.model.memory(features)  # type: ignore[operator]
        else:
            memory = self.model.encode(x)
        # Teacher forcing: from tokens 0..i the decoder predicts token i + 1.
        inputs = self.noisy(y[:, :-1]) if stage == "train" and self.token_noise else y[:, :-1]
        logits = self.model.decode(memory, inputs)  # (B, C, Sy - 1)
        loss = self.loss_fn(logits, y[:, 1:])
        self.log(f"{stage}_loss", loss, prog_bar=stage == "train", sync_dist=stage != "train")
        if auxiliary_ctc:
            ctc_loss = self.line_ctc_loss(features, y)
            if ctc_loss is not None:
                self.log("train_ctc_loss", ctc_loss)
                loss = loss + self.ctc_weight * ctc_loss
        if stage == "train":
            return loss

        # Decoding may run as long as an untrimmed label: the true lengths must not cap the predictions.
        if self.data_config.get("read_by") == READ_BY_LINES:
            decoded = self.read_by_lines(x, full_length)
        else:
            generated = self.model.decoder.generate(memory, max_length=full_length)  # (B, full_length)
            assert isinstance(generated, torch.Tensor)  # without return_log_probs, only the tokens
            decoded = generated
        self.log_cer(stage, decoded, y)
        if stage == "val" and batch_idx == 0:
            self._log_samples(x, decoded, y)
        return loss

    def read_by_lines(self, x: torch.Tensor, length: int) -> torch.Tensor:
        """(B, length) tokens of each page read one line at a time, as the recognizer reads for a model
        trained on lines only: the lines cut by line_boxes (a page without ink has none and reads as empty
        text, as in the recognizer), read as one batch with the line guard, and each page's texts joined by
        newlines. Each page's lines are read on their page's region of the padded batch, as the recognizer reads
        them: the CER does not depend on which pages share a batch."""
        lines, counts, sizes = [], [], []
        for image in x:
            height, width = image.shape[1:]
            boxes = line_boxes(image[0].float().cpu().numpy())
            for top, bottom, left, right in boxes:  # a box reaching beyond the page is filled with black
                line = image[:, max(top, 0) : min(bottom, height), max(left, 0) : min(right, width)]
                beyond = (max(-left, 0), max(right - width, 0), max(-top, 0), max(bottom - height, 0))
                lines.append(torch.nn.functional.pad(line, beyond))
            counts.append(len(boxes))
            sizes.append([(line.shape[-2], line.shape[-1]) for line in lines[len(lines) - len(boxes) :]])
        texts: list[str] = []
        if lines:  # else every page of the batch is blank
            batch = pad_batch(lines)
            regions = line_regions(sizes)  # each page's lines as the recognizer pads them
            if line_decoding(self.model) == LINE_DECODING_CTC:
                tokens, _ = self.model.predict_ctc(batch, sizes=regions)  # type: ignore[operator]
            else:
                tokens = self.model.predict(batch, sizes=regions)  # type: ignore[operator]
            texts = self.vocabulary.decode(tokens)
        pages, start = [], 0
        for count in counts:
            pages.append("\n".join(texts[start : start + count])[: length - 2])  # <S> and <E> must fit
            start += count
        return torch.tensor(self.vocabulary.encode(pages, length), dtype=torch.long, device=x.device)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        upgrade_lightning_state_dict(checkpoint["state_dict"])  # resuming a run written before the head moved

    def line_ctc_loss(self, features: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
        """CTC loss of the head on (B, dim, h, w) features for the samples of one line; None when there are none.

        A paragraph's lines share the columns, so only single lines have a left-to-right alignment."""
        lines = torch.ones_like(y[:, 0], dtype=torch.bool)  # a mapping without "\n" has lines only
        if self.vocabulary.newline is not None:
            lines = (y != self.vocabulary.newline).all(dim=1)
        if not lines.any():
            return None
        frames = self.model.ctc_logits(features[lines])  # type: ignore[operator]  # (b, w * frames, C)
        log_probs = torch.log_softmax(frames.float(), dim=-1).transpose(0, 1)  # (w * frames, b, C)
        targets, target_lengths = ctc_targets(y[lines], [self.start_index], [self.end_index, self.padding_index])
        input_lengths = torch.full((log_probs.shape[1],), log_probs.shape[0], dtype=torch.long, device=y.device)
        # zero_infinity: a line with more characters than columns costs nothing instead of inf
        return self.ctc_loss_fn(log_probs, targets, input_lengths, target_lengths)

    @rank_zero_only
    def _log_samples(self, x: torch.Tensor, decoded: torch.Tensor, y: torch.Tensor) -> None:
        """A few images with their predicted and true texts, to W&B only (other loggers take no images)."""
        wandb_loggers = [logger for logger in self.loggers if isinstance(logger, WandbLogger)]
        if not wandb_loggers:
            return
        count = min(NUM_LOGGED_SAMPLES, x.shape[0])
        predictions = self.vocabulary.decode(decoded[:count])
        truths = self.vocabulary.decode(y[:count])
        images = [image.float().cpu() for image in x[:count]]
        captions = [f"pred: {p}\n---\ntrue: {t}" for p, t in zip(predictions, truths)]
        for logger in wandb_loggers:
            logger.log_image(key="val_samples", images=images, caption=captions, step=self.global_step)


def _dropout_rates(model: nn.Module) -> list[tuple[str, float]]:
    """The dropout rate of every nn.Dropout and nn.MultiheadAttention (which keeps its rate as a float)."""
    rates = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Dropout):
            rates.append((name, module.p))
        elif isinstance(module, nn.MultiheadAttention):
            rates.append((name, module.dropout))
    return rates

