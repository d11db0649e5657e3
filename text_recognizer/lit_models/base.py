"""BaseLitModel: optimizer and loss by name, one-cycle schedule, accuracy metrics."""
from __future__ import annotations

import argparse
import math
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Timer
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from text_recognizer.util import non_negative_int, positive_float, positive_int

OPTIMIZER = "Adam"
LR = 1e-3
ONE_CYCLE_TOTAL_STEPS = 100
LOSS = "cross_entropy"
WARMUP_STEPS = 0
LR_DECAY_STEPS = 0
LR_DECAY_FLOOR = 0.1  # a cosine decay ends at this fraction of --lr


def optimizer_name(value: str) -> str:
    """argparse type of --optimizer: an optimizer class of torch.optim.

    >>> optimizer_name("AdamW")
    'AdamW'
    """
    found = getattr(torch.optim, value, None)
    if not (isinstance(found, type) and issubclass(found, torch.optim.Optimizer)):
        raise argparse.ArgumentTypeError(f"{value!r} is not an optimizer of torch.optim (e.g. Adam, AdamW, SGD)")
    return value


def loss_name(value: str) -> str:
    """argparse type of --loss: transformer, ctc, or a loss function of torch.nn.functional.

    >>> loss_name("cross_entropy")
    'cross_entropy'
    """
    if value not in ("transformer", "ctc") and not callable(getattr(torch.nn.functional, value, None)):
        raise argparse.ArgumentTypeError(f"{value!r} is neither transformer, ctc nor a function of torch.nn.functional "
                                         "(e.g. cross_entropy, nll_loss)")
    return value


class TrainingStepError(RuntimeError):
    """A training or evaluation step failed; the message says where (epoch, step, samples)."""


class BaseLitModel(pl.LightningModule):
    """Wraps an nn.Module classifier. Subclasses override `_shared_step` for other tasks."""

    # Metrics in the checkpoint file name after the epoch (the reference's pattern adds val_cer).
    checkpoint_metrics: tuple[str, ...] = ("val_loss",)
    # The metric whose best epoch is kept (minimised): what save_best_model ships.
    checkpoint_monitor = "val_loss"
    # One class per input: accuracy is tracked. Sequence models (transformer, CTC) track CER instead.
    classifies: bool = True

    def __init__(self, model: nn.Module, args: argparse.Namespace | dict | None = None) -> None:
        super().__init__()
        self.model = model
        # The parsed flags (a Namespace, from run_experiment and the tests); a dict only when Lightning's
        # load_from_checkpoint rebuilds the module from the hyperparameters saved below.
        self.args = dict(args) if isinstance(args, dict) else (vars(args) if args is not None else {})
        # What is needed to rebuild the model from a checkpoint alone (inference, save_best_model).
        self.save_hyperparameters(
            {
                "model_class": type(model).__name__,
                "data_config": _plain(getattr(model, "data_config", {})),
                "args": _plain(self.args),
            }
        )
        self.data_config = getattr(model, "data_config", {})
        self.mapping = self.data_config.get("mapping", [])

        optimizer = self.args.get("optimizer", OPTIMIZER)
        if not hasattr(torch.optim, optimizer):
            raise ValueError(f"--optimizer={optimizer} is not in torch.optim (e.g. Adam, AdamW, SGD)")
        self.optimizer_class = getattr(torch.optim, optimizer)
        self.lr = self.args.get("lr", LR)
        self.one_cycle_max_lr = self.args.get("one_cycle_max_lr", None)
        self.one_cycle_total_steps = self.args.get("one_cycle_total_steps", ONE_CYCLE_TOTAL_STEPS)
        self.warmup_steps = self.args.get("warmup_steps", WARMUP_STEPS)
        self.lr_decay_steps = self.args.get("lr_decay_steps", LR_DECAY_STEPS)
        self.lr_decay_by_time = bool(self.args.get("lr_decay_by_time", False))
        if self.warmup_steps < 0 or self.lr_decay_steps < 0:
            raise ValueError("--warmup_steps and --lr_decay_steps must be 0 (off) or more")
        if self.one_cycle_max_lr is not None and (self.warmup_steps or self.lr_decay_steps or self.lr_decay_by_time):
            raise ValueError(
                "--one_cycle_max_lr has its own warm-up and decay: drop --warmup_steps/--lr_decay_steps/--lr_decay_by_time"
            )
        if self.lr_decay_by_time and self.lr_decay_steps:
            raise ValueError("--lr_decay_by_time spans --max_time: drop --lr_decay_steps (or the other way round)")

        loss = self.args.get("loss", LOSS)
        if loss not in ("ctc", "transformer"):
            if not hasattr(torch.nn.functional, loss):
                raise ValueError(f"--loss={loss} is not a function of torch.nn.functional (nor ctc/transformer)")
            self.loss_fn = getattr(torch.nn.functional, loss)

        if not self.classifies:
            return
        num_classes = max(len(self.mapping), 2)
        self.train_acc = MulticlassAccuracy(num_classes=num_classes, average="micro")
        self.val_acc = MulticlassAccuracy(num_classes=num_classes, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes=num_classes, average="micro")

    @staticmethod
    def add_to_argparse(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument("--optimizer", type=optimizer_name, default=OPTIMIZER, help="optimizer class in torch.optim")
        parser.add_argument("--lr", type=positive_float, default=LR, help="learning rate")
        parser.add_argument(
            "--one_cycle_max_lr", type=positive_float, default=None, help="peak lr of a OneCycleLR schedule (off when unset)"
        )
        parser.add_argument(
            "--one_cycle_total_steps", type=positive_int, default=ONE_CYCLE_TOTAL_STEPS, help="length of the one-cycle schedule"
        )
        parser.add_argument(
            "--warmup_steps", type=non_negative_int, default=WARMUP_STEPS, help="linear warm-up of the lr over this many steps"
        )
        parser.add_argument(
            "--lr_decay_steps", type=non_negative_int, default=LR_DECAY_STEPS,
            help=f"after the warm-up, cosine decay to {LR_DECAY_FLOOR} x lr over this many steps, then flat (0: flat)",
        )
        parser.add_argument(
            "--lr_decay_by_time", action="store_true",
            help=f"the cosine decay to {LR_DECAY_FLOOR} x lr spans --max_time (wall clock) instead of a step count: "
            "it reaches the floor when the run stops, however fast the machine turns out to be",
        )
        parser.add_argument(
            "--loss", type=loss_name, default=LOSS, help="transformer, ctc, or a loss function of torch.nn.functional"
        )
        return parser

    def lr_factor(self, step: int) -> float:
        """The lr at `step` as a fraction of --lr: linear warm-up, then an optional cosine decay.

        >>> lit = BaseLitModel(torch.nn.Linear(1, 1), {"warmup_steps": 10, "lr_decay_steps": 100})
        >>> [round(lit.lr_factor(s), 3) for s in (0, 9, 10, 60, 110, 500)]
        [0.1, 1.0, 1.0, 0.55, 0.1, 0.1]
        """
        factor = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps else 1.0
        if self.lr_decay_by_time:
            progress = self._time_progress()
        elif self.lr_decay_steps:
            progress = min(1.0, max(0, step - self.warmup_steps) / self.lr_decay_steps)
        else:
            return factor
        return factor * (LR_DECAY_FLOOR + (1 - LR_DECAY_FLOOR) * 0.5 * (1 + math.cos(math.pi * progress)))

    def _timer(self) -> Timer:
        timers = [c for c in self.trainer.callbacks if isinstance(c, Timer)]  # type: ignore[attr-defined]
        if not timers or timers[0].time_remaining() is None:
            raise ValueError("--lr_decay_by_time spans the run's wall-clock limit: set --max_time (DD:HH:MM:SS)")
        return timers[0]

    def _time_progress(self) -> float:
        """The fraction of --max_time spent training so far (resumed runs count their earlier minutes,
        as the Timer does), rank 0's figure on every rank so that DDP replicas step with one lr."""
        timer = self._timer()
        elapsed = timer.time_elapsed()
        duration = elapsed + (timer.time_remaining() or 0.0)  # the Timer keeps its --max_time private
        return float(self.trainer.strategy.broadcast(min(1.0, elapsed / duration) if duration > 0 else 1.0))

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_class(self.parameters(), lr=self.lr)
        if self.lr_decay_by_time:
            self._timer()  # a clear error before the first step, not in it
        if self.warmup_steps or self.lr_decay_steps or self.lr_decay_by_time:
            warmup = torch.optim.lr_scheduler.LambdaLR(optimizer, self.lr_factor)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": warmup, "interval": "step"}}
        if self.one_cycle_max_lr is None:
            return optimizer
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=self.one_cycle_max_lr, total_steps=self.one_cycle_total_steps
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._guarded_step("train", batch, batch_idx)

    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._guarded_step("val", batch, batch_idx)

    def test_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._guarded_step("test", batch, batch_idx)

    def _guarded_step(self, stage: str, batch: Any, batch_idx: int) -> torch.Tensor:
        try:
            return self._shared_step(stage, batch, batch_idx)
        except (RuntimeError, ValueError) as error:
            if isinstance(error, TrainingStepError):
                raise
            x = batch[0] if isinstance(batch, (list, tuple)) else batch
            raise TrainingStepError(
                f"{stage} step failed at epoch {self.current_epoch}, batch {batch_idx} "
                f"(global step {self.global_step}; inputs {tuple(getattr(x, 'shape', ()))}): {error}"
            ) from error

    def _shared_step(self, stage: str, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = self.loss_fn(logits, y)
        metric = getattr(self, f"{stage}_acc")
        metric(logits, y)
        self.log(f"{stage}_loss", loss, prog_bar=stage == "train", sync_dist=stage != "train")
        self.log(f"{stage}_acc", metric, on_step=False, on_epoch=True, prog_bar=stage != "train")
        return loss


def _plain(value: Any) -> Any:
    """Hyper-parameters as plain YAML/JSON types (tuples become lists, odd objects become strings)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
