"""Trainer flags: the modern Lightning 2 ones plus the reference's Lightning 1.x flags, mapped.

Lightning 2 dropped `Trainer.add_argparse_args`, `--gpus`, `--num_processes`, `--terminate_on_nan`,
`--auto_lr_find` and `--resume_from_checkpoint`, and `--accelerator=ddp` now means a strategy.
The reference's documented commands use all of them, so they are accepted and translated here.
"""
from __future__ import annotations

import argparse
import errno
import io
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.plugins import TorchCheckpointIO
from pytorch_lightning.utilities.exceptions import SIGTERMException

from text_recognizer.run_files import CHECKPOINTS_DIR, best_checkpoint
from text_recognizer.util import atomic_path, positive_int, str2bool

# --accelerator values of Lightning 1.x that named a strategy: value -> (strategy, accelerator)
OLD_ACCELERATOR_STRATEGIES = {
    "ddp": ("ddp", None),
    "ddp_spawn": ("ddp_spawn", None),
    "ddp_cpu": ("ddp", "cpu"),
    "dp": ("ddp", None),  # DataParallel is gone in Lightning 2; DDP is its replacement
}
OLD_PRECISIONS = {"16": "16-mixed", "bf16": "bf16-mixed", "32": "32-true", "64": "64-true"}
AUTO_PRECISION = "auto"
# CPU features that make bf16 autocast pay. Without them (AVX2 only) a ResNet18 step ran 23x slower in
# bf16 than in fp32 on this project's machines.
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
DEFAULT_MAX_EPOCHS = 1000  # as in Lightning 1.x; early stopping usually ends sooner
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", *OLD_ACCELERATOR_STRATEGIES)
PRECISIONS = ("32-true", "bf16-mixed", "16-mixed", "64-true", "bf16-true", "16-true", *OLD_PRECISIONS, AUTO_PRECISION)
MAX_SEED = 2**32 - 1  # numpy's seeds are uint32


class TrainerFlagError(ValueError):
    """The trainer flags cannot be honoured on this machine or contradict each other."""


class NonFiniteLossError(RuntimeError):
    """Training stopped because the loss became NaN or infinite (--terminate_on_nan)."""


class DiskFullError(OSError):
    """A checkpoint could not be written for want of space; the previous one is intact."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written beside their final name and renamed onto it (util.atomic_path), never half-written.

    Lightning's own writer goes through an fsspec transaction that writes into the system's temporary
    folder and moves the file across filesystems: on a full disk that left a truncated last.ckpt (299,008
    of about 326,000 bytes) in place of the previous good one. Here the bytes go into a temporary file in
    the checkpoint's own folder, are flushed to disk, and only then replace the old file in one rename;
    a failure removes the temporary file and leaves the old checkpoint as it was.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options, got {storage_options!r}")
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)  # in memory first, as Lightning does: a write error is then an OSError
        try:
            with atomic_path(path) as temp, open(temp, "wb") as file:
                file.write(buffer.getbuffer())
                file.flush()
                os.fsync(file.fileno())  # on disk before the rename makes it the checkpoint
        except OSError as error:
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFullError(error.errno, f"the disk is full: {path} could not be written ({buffer.tell():,} "
                                    "bytes); the previous checkpoint there is kept. Free space or pass --log_dir on "
                                    "another disk, then resume with --resume_from_checkpoint") from None
            raise


class FiniteLossCheck(pl.Callback):
    """Stops training with a clear message when the training loss stops being finite."""

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None and not torch.isfinite(loss).all():
            raise NonFiniteLossError(
                f"training loss is {loss.item()} at epoch {trainer.current_epoch}, batch {batch_idx} "
                f"(global step {trainer.global_step}); lower --lr, set --gradient_clip_val, or try "
                "--precision=32 (stopped because of --terminate_on_nan)"
            )


class TrainingClock(pl.Callback):
    """Logs `time_min` (training wall clock, validation included) and `samples_seen` with every validation,
    so that learning curves can be drawn against time and data (training/plot_learning_curve.py).
    Resumed runs go on counting from the checkpoint's figures."""

    def __init__(self) -> None:
        self.restored_seconds = 0.0
        self.started: float | None = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.started = time.monotonic()

    def seconds(self) -> float:
        return self.restored_seconds + (time.monotonic() - self.started if self.started is not None else 0.0)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        data = getattr(trainer, "datamodule", None)  # set by fit(datamodule=...); typed on a mixin mypy misses
        batch_size = getattr(data, "batch_size", 0) if data is not None else 0
        samples = trainer.global_step * trainer.accumulate_grad_batches * trainer.world_size * batch_size
        pl_module.log("time_min", self.seconds() / 60, sync_dist=False)
        pl_module.log("samples_seen", float(samples), sync_dist=False)

    def state_dict(self) -> dict[str, float]:
        return {"seconds": self.seconds()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.restored_seconds = float(state_dict.get("seconds", 0.0))


class ValidateAtMaxSteps(pl.Callback):
    """Ends a run that reaches --max_steps inside an epoch the way an epoch ends: validated and checkpointed.

    Lightning stops at max_steps without validating when that falls inside an epoch; EarlyStopping then
    fails ("metric val_loss not available") and no checkpoint is written. The epoch loop validates
    before stopping when asked to stop (`trainer.should_stop`), so this asks.
    """

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        if 0 < trainer.max_steps <= trainer.global_step:
            trainer.should_stop = True


class ResumeHint(pl.Callback):
    """Says, when training is interrupted (Ctrl-C, SIGTERM), which file --resume_from_checkpoint takes."""

    def __init__(self, last_checkpoint: Path) -> None:
        self.last_checkpoint = Path(last_checkpoint)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if not isinstance(exception, (KeyboardInterrupt, SIGTERMException)) or not trainer.is_global_zero:
            return
        if self.last_checkpoint.is_file():
            print(f"Interrupted. To continue from the last validation, run the same command with "
                  f"--resume_from_checkpoint={self.last_checkpoint}", file=sys.stderr, flush=True)
        else:
            print(f"Interrupted before the first validation: there is no checkpoint to resume from "
                  f"(it would be {self.last_checkpoint})", file=sys.stderr, flush=True)


def run_folder_checkpoint(path: str | None) -> str | None:
    """--load_checkpoint may name a run folder: it means that run's best epoch's checkpoint (so that a
    second stage's command can be written before the first stage has picked its best epoch)."""
    if path is None or not Path(path).is_dir():
        return path
    best = best_checkpoint(path)
    if best is None:
        raise TrainerFlagError(f"--load_checkpoint: the folder {path} holds no {CHECKPOINTS_DIR}/*.ckpt; name a run "
                               "folder written by run_experiment (training/logs/csv/version_N), a .ckpt or a model.pt")
    return str(best)


def check_checkpoint_file(flag: str, path: str | None) -> None:
    """A checkpoint named by a flag exists and reads as a Lightning checkpoint, checked before a run folder
    is made. Read with weights_only=True (tensors and plain containers: nothing in it can run code) and
    mmap (the tensors stay on disk)."""
    if path is None:
        return
    advice = "pass a .ckpt written by run_experiment, such as <run folder>/checkpoints/last.ckpt"
    if flag == "--load_checkpoint":
        advice += ", or a model.pt (text_recognizer/artifacts/paragraph_text_recognizer/model.pt)"
    file = Path(path)
    if not file.is_file():
        raise TrainerFlagError(f"{flag}: there is no file {path}; {advice}")
    if file.stat().st_size == 0:
        raise TrainerFlagError(f"{flag}: {path} is empty (an interrupted copy?); {advice}")
    try:
        content = torch.load(file, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:
        raise TrainerFlagError(f"{flag}: {path} is not a readable checkpoint ({str(error)[:150]}); {advice}") from None
    if not isinstance(content, dict) or "state_dict" not in content:
        raise TrainerFlagError(f"{flag}: {path} is a torch file but not a Lightning checkpoint (no state_dict); {advice}")
    if flag == "--resume_from_checkpoint" and "format" in content:
        raise TrainerFlagError(f"{flag}: {path} is a model.pt, which holds weights only (no optimizer or epoch to "
                               "resume): start from its weights with --load_checkpoint instead")


def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bf16 instructions (Linux: /proc/cpuinfo flags; elsewhere assumed not)."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return any(flag in flags for flag in CPU_BF16_FLAGS)


def fast_precision(accelerator: str = "auto") -> str:
    """The precision to use when the project chooses: bf16-mixed only where the hardware computes it."""
    on_gpu = accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available()
    if on_gpu:
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "32-true"
    return "bf16-mixed" if cpu_has_native_bf16() else "32-true"


def _int_or_float(value: str) -> int | float:
    """`--limit_val_batches=5` means 5 batches, `=0.5` half of them (Lightning's convention)."""
    number = float(value)
    return int(number) if number.is_integer() and "." not in value else number


def _devices(value: str) -> str | int | list[int]:
    """'auto', a count ('2', '-1'), or a comma-separated list of indices ('0,1')."""
    if value == "auto":
        return value
    if "," in value:
        return [int(part) for part in value.split(",") if part.strip()]
    return int(value)


def devices_flag(value: str) -> str:
    """argparse type of --devices and --gpus: what _devices reads, checked when the flags are parsed.

    >>> devices_flag("0,1"), devices_flag("-1")
    ('0,1', '-1')
    """
    try:
        devices = _devices(value.strip())
    except ValueError:
        devices = None
    if devices is None or (isinstance(devices, int) and (devices == 0 or devices < -1)) or \
            (isinstance(devices, list) and (not devices or min(devices) < 0)):
        raise argparse.ArgumentTypeError(f"expected auto, a count (-1 for all) or indices like 0,1; got {value!r}")
    return value.strip()


def gpus_flag(value: str) -> str:
    """argparse type of the old --gpus: as --devices, and 0 (no GPU) too."""
    return value.strip() if value.strip() == "0" else devices_flag(value)


def duration_flag(value: str) -> str:
    """argparse type of --max_time: DD:HH:MM:SS (Lightning's Timer format), more than zero.

    >>> duration_flag("00:01:30:00")
    '00:01:30:00'
    """
    parts = value.strip().split(":")
    if len(parts) != 4 or not all(part.isdigit() for part in parts) or any(len(part) != 2 for part in parts[1:]):
        raise argparse.ArgumentTypeError(f"expected DD:HH:MM:SS such as 00:02:30:00 (2 h 30 min), got {value!r}")
    if not any(int(part) for part in parts):
        raise argparse.ArgumentTypeError("a limit of 00:00:00:00 would stop at once; give a duration above zero")
    return value.strip()


def check_flags(args: argparse.Namespace) -> None:
    """What argparse's per-flag types cannot see, checked before any data is built or run folder made:
    the seed's range, a usable --log_dir, and a --resume_from_checkpoint written with these model flags."""
    if not 0 <= args.seed <= MAX_SEED:
        raise TrainerFlagError(f"--seed={args.seed} is out of range: numpy takes 0 to {MAX_SEED}")
    _check_log_dir(Path(args.log_dir))
    _check_resume_matches(args)


def _check_log_dir(log_dir: Path) -> None:
    existing = log_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise TrainerFlagError(f"--log_dir={log_dir}: {existing} is not a folder; pass a folder where runs may be written")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise TrainerFlagError(f"--log_dir={log_dir}: {existing} is not writable by this user; pass a folder where "
                               "runs may be written")


def _model_flag_names(model_class: str) -> set[str]:
    """The flags the model class adds (its add_to_argparse), with --model_class and --loss."""
    import importlib

    found = getattr(importlib.import_module("text_recognizer.models"), model_class, None)
    if found is None or not hasattr(found, "add_to_argparse"):
        return {"model_class", "loss"}  # run_experiment names what is wrong with the class itself
    parser = argparse.ArgumentParser(add_help=False)
    found.add_to_argparse(parser)
    return {"model_class", "loss", *vars(parser.parse_args([]))}


def _check_resume_matches(args: argparse.Namespace) -> None:
    """A run resumed with other model flags fails deep in Lightning with a size-mismatch traceback, after a
    run folder is made: compare the checkpoint's model flags with this run's first."""
    path = args.resume_from_checkpoint
    check_checkpoint_file("--resume_from_checkpoint", path)
    if path is None:
        return
    content = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    hyper = content.get("hyper_parameters") or {}
    saved = dict(hyper.get("args") or {})
    if "model_class" not in saved and hyper.get("model_class"):
        saved["model_class"] = hyper["model_class"]
    ours = vars(args)
    differ = [f"--{name}={saved[name]} (this run: {ours[name]})" for name in sorted(_model_flag_names(args.model_class))
              if name in saved and name in ours and saved[name] != ours[name]]
    if differ:
        raise TrainerFlagError(f"--resume_from_checkpoint: {path} was written with {', '.join(differ)}; resume with "
                               "the model flags of the run that wrote it (its config.json and run_command.txt), or "
                               "start a new run from its weights with --load_checkpoint")


def add_trainer_args(parser: argparse._ActionsContainer) -> None:
    add = parser.add_argument
    add("--accelerator", type=str, choices=ACCELERATORS, default="auto", help="cpu, gpu, mps, auto; old values ddp/ddp_spawn/dp mean --strategy")
    add("--devices", type=devices_flag, default="1", help="number of devices, -1 for all, or a list like 0,1")
    add("--strategy", type=str, default="auto", help="auto, ddp, ddp_spawn, fsdp, ...")
    add("--num_nodes", type=int, default=1, help="machines (torchrun / SLURM launch them)")
    add("--gpus", type=gpus_flag, default=None, help="(Lightning 1.x) GPUs to use: a count, -1 for all, or 0,1")
    add("--num_processes", type=int, default=None, help="(Lightning 1.x) CPU processes, i.e. --devices on cpu")
    add("--precision", type=str, choices=PRECISIONS, default="32-true",
        help=f"32-true, bf16-mixed, 16-mixed, 64-true (old: 32, 16, bf16), or {AUTO_PRECISION}: bf16-mixed where the "
        "GPU or CPU computes bf16 natively, 32-true otherwise")
    add("--max_epochs", type=int, default=None, help=f"epochs to train (default {DEFAULT_MAX_EPOCHS})")
    add("--min_epochs", type=int, default=None, help="train at least this many epochs")
    add("--max_steps", type=int, default=-1, help="optimizer steps to train, -1 for no limit")
    add("--max_time", type=duration_flag, default=None, help="wall-clock limit, DD:HH:MM:SS")
    add("--accumulate_grad_batches", type=positive_int, default=1, help="batches per optimizer step")
    add("--gradient_clip_val", type=float, default=None, help="clip gradient norm to this value")
    add("--check_val_every_n_epoch", type=int, default=1, help="validate every N epochs")
    add("--val_check_interval", type=_int_or_float, default=None, help="validate every N batches or fraction of an epoch")
    add("--num_sanity_val_steps", type=int, default=2, help="validation batches run before training")
    add("--fast_dev_run", type=_int_or_float, default=0, help="run N batches of each stage as a smoke test")
    add("--overfit_batches", type=_int_or_float, default=0.0, help="train on the first N training batches, unshuffled (validation uses the first N validation batches)")
    add("--limit_train_batches", type=_int_or_float, default=None, help="batches (int) or fraction per train epoch")
    add("--limit_val_batches", type=_int_or_float, default=None, help="batches (int) or fraction per validation")
    add("--limit_test_batches", type=_int_or_float, default=None, help="batches (int) or fraction for testing")
    add("--log_every_n_steps", type=int, default=50, help="logging interval in steps")
    add("--enable_progress_bar", type=str2bool, default=True, help="show progress bars")
    add("--deterministic", type=str2bool, default=False, help="use deterministic algorithms")
    add("--terminate_on_nan", type=str2bool, nargs="?", const=True, default=False, help="stop on a non-finite loss")
    add("--auto_lr_find", type=str2bool, nargs="?", const=True, default=False, help="run the lr finder before fit")
    add("--resume_from_checkpoint", type=str, default=None, help="resume the whole training state from a .ckpt")


def _check_gpus_available(requested: Any) -> None:
    if requested in (0, [], "0"):
        return
    if not torch.cuda.is_available():
        raise TrainerFlagError(
            f"GPUs were requested (--gpus/--accelerator=gpu, devices={requested}) but this machine has none "
            "(torch.cuda.is_available() is False). Drop --gpus, or use --accelerator=cpu "
            "(--devices=2 --strategy=ddp runs two CPU processes)."
        )
    count = torch.cuda.device_count()
    wanted = len(requested) if isinstance(requested, list) else requested
    if isinstance(wanted, int) and wanted > count:
        raise TrainerFlagError(f"{wanted} GPUs requested but only {count} available")


def trainer_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments for pl.Trainer from the parsed flags, old flags translated."""
    accelerator, strategy, devices = args.accelerator, args.strategy, _devices(args.devices)
    if accelerator in OLD_ACCELERATOR_STRATEGIES:
        old_strategy, old_accelerator = OLD_ACCELERATOR_STRATEGIES[accelerator]
        strategy = old_strategy if strategy == "auto" else strategy
        accelerator = old_accelerator or "auto"
    if args.gpus is not None:
        gpus = _devices(args.gpus)
        if gpus in (0, []):
            accelerator = "cpu"
        else:
            accelerator, devices = "gpu", gpus
    if args.num_processes is not None:
        accelerator, devices = "cpu", args.num_processes
    if accelerator in ("gpu", "cuda"):
        _check_gpus_available(devices)
    if accelerator == "auto" and strategy.startswith("ddp") and not torch.cuda.is_available():
        accelerator = "cpu"  # DDP on CPU (gloo) when no GPU is there

    kwargs: dict[str, Any] = {
        "accelerator": accelerator,
        "devices": devices,
        "strategy": strategy,
        "num_nodes": args.num_nodes,
        "precision": fast_precision(accelerator) if args.precision == AUTO_PRECISION
        else OLD_PRECISIONS.get(str(args.precision), args.precision),
        "max_epochs": args.max_epochs if args.max_epochs is not None else DEFAULT_MAX_EPOCHS,
        "min_epochs": args.min_epochs,
        "max_steps": args.max_steps,
        "max_time": args.max_time,
        "accumulate_grad_batches": args.accumulate_grad_batches,
        "gradient_clip_val": args.gradient_clip_val,
        "check_val_every_n_epoch": args.check_val_every_n_epoch,
        "val_check_interval": args.val_check_interval,
        "num_sanity_val_steps": args.num_sanity_val_steps,
        "fast_dev_run": args.fast_dev_run,
        "overfit_batches": args.overfit_batches,
        "limit_train_batches": args.limit_train_batches,
        "limit_val_batches": args.limit_val_batches,
        "limit_test_batches": args.limit_test_batches,
        "log_every_n_steps": args.log_every_n_steps,
        "deterministic": args.deterministic,
        "enable_progress_bar": args.enable_progress_bar,
        "plugins": [AtomicCheckpointIO()],
    }
    return kwargs
