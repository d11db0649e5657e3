"""Train a model on a data class, checkpoint the best epoch, then test it.

    python training/run_experiment.py --data_class=FakeImageData --model_class=CNN --max_epochs=2

`--help` (with --data_class/--model_class/--loss set) lists every flag with its default, grouped by
where it comes from. The old Lightning 1.x trainer flags of the reference's commands (--gpus,
--accelerator=ddp, --num_processes, --terminate_on_nan, --auto_lr_find, --resume_from_checkpoint)
are mapped onto Lightning 2 in `trainer_kwargs`.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import shlex
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

from text_recognizer.run_files import (
    CHECKPOINTS_DIR,
    CONFIG_FILE,
    CSV_LOGGER_NAME,
    DEFAULT_LOG_DIR,
    LAST_CHECKPOINT,
    RUN_COMMAND_FILE,
    last_checkpoint,
)
from text_recognizer.util import DataUnavailableError

if TYPE_CHECKING:
    from torch import nn

    from text_recognizer.data.base_data_module import BaseDataModule
    from text_recognizer.lit_models.base import BaseLitModel
from text_recognizer.training.fine_tuning import load_initial_weights
from text_recognizer.training.trainer_flags import (
    DiskFullError,
    FiniteLossCheck,
    NonFiniteLossError,
    ResumeHint,
    TrainerFlagError,
    TrainingClock,
    ValidateAtMaxSteps,
    add_trainer_args,
    check_checkpoint_file,
    check_flags,
    run_folder_checkpoint,
    trainer_kwargs,
)

DEFAULT_DATA_CLASS = "MNIST"
DEFAULT_MODEL_CLASS = "MLP"
EARLY_STOPPING_PATIENCE = 10
SEED = 42
LIT_MODEL_BY_LOSS = {"transformer": "TransformerLitModel", "ctc": "CTCLitModel"}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows the default of every flag, including flags without a help text."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.help is None and action.default is not argparse.SUPPRESS:
            action.help = ""
        return super()._get_help_string(action)


@runtime_checkable
class ModelClass(Protocol):
    """A class of text_recognizer.models: contributes flags and is built from the data's config and the flags."""

    def add_to_argparse(self, parser: argparse.ArgumentParser) -> argparse.ArgumentParser: ...

    def __call__(self, data_config: dict[str, Any], args: argparse.Namespace | None = None) -> nn.Module: ...


def import_class(package: str, name: str) -> object:
    """`name` from text_recognizer.<package>; an unknown name lists the valid ones."""
    module = importlib.import_module(f"text_recognizer.{package}")
    try:
        return getattr(module, name)
    except AttributeError:
        valid = ", ".join(n for n in module.__all__ if not n.startswith("Base"))
        raise SystemExit(f"error: unknown {package} class {name!r}; choose one of: {valid}") from None


def data_module_class(name: str) -> type[BaseDataModule]:
    from text_recognizer.data.base_data_module import BaseDataModule

    found = import_class("data", name)
    if not (isinstance(found, type) and issubclass(found, BaseDataModule)):
        raise SystemExit(f"error: data class {name!r} is not a data module (a BaseDataModule subclass)")
    return found


def model_class(name: str) -> ModelClass:
    found = import_class("models", name)
    if not (isinstance(found, type) and isinstance(found, ModelClass)):
        raise SystemExit(f"error: model class {name!r} has no add_to_argparse(parser): not a model")
    return found


def lit_model_class(loss: str) -> type[BaseLitModel]:
    from text_recognizer.lit_models.base import BaseLitModel

    found = import_class("lit_models", LIT_MODEL_BY_LOSS.get(loss, "BaseLitModel"))
    if not (isinstance(found, type) and issubclass(found, BaseLitModel)):
        raise SystemExit(f"error: {found!r} is not a BaseLitModel subclass")
    return found


def build_parser(argv: list[str] | None = None, prog: str | None = None) -> argparse.ArgumentParser:
    """The full parser: its flags depend on the chosen data class, model class and loss. `prog` names the
    command in the usage line (the console's `text-recognizer train`; default: the script's name)."""
    base = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    base.add_argument("--data_class", type=str, default=DEFAULT_DATA_CLASS, help="class in text_recognizer.data")
    base.add_argument("--model_class", type=str, default=DEFAULT_MODEL_CLASS, help="class in text_recognizer.models")
    from text_recognizer.lit_models.base import LOSS

    base.add_argument("--loss", type=str, default=LOSS)  # only to choose the LitModel; its own flag has the help
    chosen, _ = base.parse_known_args(argv)

    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter, allow_abbrev=False
    )
    experiment = parser.add_argument_group("Experiment")
    experiment.add_argument("--data_class", type=str, default=DEFAULT_DATA_CLASS, help="class in text_recognizer.data")
    experiment.add_argument(
        "--model_class", type=str, default=DEFAULT_MODEL_CLASS, help="class in text_recognizer.models"
    )
    experiment.add_argument("--load_checkpoint", type=str, default=None, help="start from the weights of this model.pt or .ckpt, or of a run folder's best checkpoint (fine-tuning, a second stage; same model flags)")
    experiment.add_argument("--wandb", action="store_true", default=False, help="log to Weights & Biases")
    experiment.add_argument("--seed", type=int, default=SEED, help="seed for python, numpy and torch")
    experiment.add_argument("--log_dir", type=str, default=str(DEFAULT_LOG_DIR), help="where local runs are written")
    experiment.add_argument(
        "--early_stopping_patience", type=int, default=EARLY_STOPPING_PATIENCE, help="epochs without val_loss gain"
    )

    add_trainer_args(parser.add_argument_group("Trainer (Lightning 2, with the reference's 1.x flags mapped)"))

    data_class = data_module_class(chosen.data_class)
    model_cls = model_class(chosen.model_class)
    data_class.add_to_argparse(_flag_group(parser, f"Data: {chosen.data_class}"))
    model_cls.add_to_argparse(_flag_group(parser, f"Model: {chosen.model_class}"))
    lit_class = lit_model_class(chosen.loss)
    lit_class.add_to_argparse(_flag_group(parser, f"LitModel: {lit_class.__name__}"))
    return parser


def _flag_group(parser: argparse.ArgumentParser, title: str) -> argparse.ArgumentParser:
    """A titled group for --help. The classes' add_to_argparse(parser) are typed to take an ArgumentParser
    but only call add_argument/set_defaults, which an argument group has too (both are argparse's private
    _ActionsContainer), hence the cast."""
    return cast(argparse.ArgumentParser, parser.add_argument_group(title))


def _setup_wandb_env() -> None:
    """Fail fast with advice instead of wandb's interactive prompt or a long online stall."""
    if os.environ.get("WANDB_MODE") in ("offline", "disabled", "dryrun") or os.environ.get("WANDB_API_KEY"):
        return
    netrc = Path.home() / ".netrc"
    if netrc.exists() and "api.wandb.ai" in netrc.read_text(errors="ignore"):
        return
    raise TrainerFlagError(
        "--wandb needs W&B credentials: run `wandb login`, set WANDB_API_KEY, "
        "or set WANDB_MODE=offline to log locally and `wandb sync` later"
    )


def _loggers(args: argparse.Namespace, log_dir: Path) -> list:
    import pytorch_lightning as pl

    loggers: list = [pl.loggers.CSVLogger(save_dir=str(log_dir), name=CSV_LOGGER_NAME)]
    if args.wandb:
        _setup_wandb_env()
        # log_model=True uploads the checkpoint callback's best checkpoint as an artifact after fit.
        wandb_logger = pl.loggers.WandbLogger(save_dir=str(log_dir), log_model=True)
        wandb_logger.log_hyperparams(vars(args))
        loggers.insert(0, wandb_logger)
    return loggers


def run(args: argparse.Namespace, command: list[str] | None = None) -> dict[str, Any]:
    """Train and test as the flags say; returns the test metrics, the best checkpoint path, the run folder
    and the trained LightningModule. `command`: the command line that started the run, word by word, as
    run_command.txt records it (default: `python training/run_experiment.py` and this process's flags)."""
    import pytorch_lightning as pl

    check_flags(args)  # seed, log folder, a resumed checkpoint's model flags: before any data work or run folder
    trainer_settings = trainer_kwargs(args)  # first: bad trainer flags fail before any data work
    if getattr(args, "lr_decay_by_time", False) and not args.max_time:
        raise TrainerFlagError("--lr_decay_by_time spans the run's wall-clock limit: add --max_time=DD:HH:MM:SS")
    args.load_checkpoint = run_folder_checkpoint(args.load_checkpoint)  # a run folder: its best epoch's
    check_checkpoint_file("--load_checkpoint", args.load_checkpoint)  # and before a run folder is made
    check_checkpoint_file("--resume_from_checkpoint", args.resume_from_checkpoint)
    pl.seed_everything(args.seed, workers=True)
    data = data_module_class(args.data_class)(args)
    model = model_class(args.model_class)(data_config=data.config(), args=args)
    lit_class = lit_model_class(args.loss)
    lit_model = lit_class(model=model, args=args)
    if args.load_checkpoint:  # weights only, from a model.pt or a .ckpt; a mismatch names the first tensor
        load_initial_weights(lit_model, args.load_checkpoint, args)

    log_dir = Path(args.log_dir)
    loggers = _loggers(args, log_dir)
    _ = loggers[-1].experiment  # creates the CSV logger's version folder (csv/version_N) before we add files
    run_dir = Path(loggers[-1].log_dir)
    metric_names = "-".join(f"{{{name}:.3f}}" for name in lit_class.checkpoint_metrics)
    checkpoint = pl.callbacks.ModelCheckpoint(
        dirpath=run_dir / CHECKPOINTS_DIR,
        filename="{epoch:03d}-" + metric_names,
        monitor=lit_class.checkpoint_monitor,  # the module's own figure of merit: val_cer for text models
        mode="min",
        save_top_k=1,
    )
    # last.ckpt after every validation, whatever the metric did: what --resume_from_checkpoint continues
    # after an interruption. (Lightning's own save_last=True writes it only when the best one improves.)
    latest = pl.callbacks.ModelCheckpoint(dirpath=run_dir / CHECKPOINTS_DIR, filename=LAST_CHECKPOINT, monitor=None, save_top_k=1)
    callbacks: list[pl.Callback | None] = [
        checkpoint,
        latest,
        pl.callbacks.EarlyStopping(monitor="val_loss", mode="min", patience=args.early_stopping_patience),
        pl.callbacks.LearningRateMonitor(logging_interval="step"),  # the schedule, in metrics.csv and W&B
        TrainingClock(),
        ValidateAtMaxSteps(),
        ResumeHint(last_checkpoint(run_dir)),
    ]
    if args.terminate_on_nan:
        callbacks.append(FiniteLossCheck())
    trainer = pl.Trainer(
        logger=loggers, callbacks=[c for c in callbacks if c is not None], **trainer_settings
    )
    if trainer.is_global_zero:
        _write_run_files(run_dir, args, command)

    if args.auto_lr_find:
        from pytorch_lightning.tuner import Tuner

        finder = Tuner(trainer).lr_find(lit_model, datamodule=data, attr_name="lr")
        print(f"auto_lr_find: learning rate set to {lit_model.lr:.3g}" if finder else "auto_lr_find: no suggestion")

    trainer.fit(lit_model, datamodule=data, ckpt_path=args.resume_from_checkpoint)
    best = checkpoint.best_model_path or None
    test_results = trainer.test(lit_model, datamodule=data, ckpt_path=best if best else None)
    if trainer.is_global_zero:
        print(f"Best checkpoint: {best or '(none: validation did not run)'}")
        print(f"Run folder: {run_dir}")
    metrics = {k: float(v) for k, v in (test_results[0] if test_results else {}).items()}
    return {"test_metrics": metrics, "best_checkpoint": best, "run_dir": str(run_dir), "lit_model": lit_model}


def _write_run_files(run_dir: Path, args: argparse.Namespace, command: list[str] | None) -> None:
    """The run's flags and command beside the checkpoints, for save_best_model on local runs."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / CONFIG_FILE).write_text(json.dumps(vars(args), indent=2, sort_keys=True) + "\n")
    words = command if command is not None else invoked_command(sys.argv[1:])
    (run_dir / RUN_COMMAND_FILE).write_text(shlex.join(words) + "\n")


def invoked_command(argv: list[str], prog: str | None = None) -> list[str]:
    """The command line as the user typed it, so that it can be run again: the console command
    (`text-recognizer train ...`, whose main() is given prog) or else the documented script.

    >>> invoked_command(["--lr=1e-3"], prog="text-recognizer train")
    ['text-recognizer', 'train', '--lr=1e-3']
    >>> invoked_command(["--lr=1e-3"])
    ['python', 'training/run_experiment.py', '--lr=1e-3']
    """
    return [*(prog.split() if prog else ["python", "training/run_experiment.py"]), *argv]


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    # Lightning 2.6 trips over its own deprecation in torch >= 2.11; nothing a user can act on.
    warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\).*")
    parser = build_parser(argv, prog)
    args = parser.parse_args(argv)
    try:
        run(args, command=invoked_command(sys.argv[1:] if argv is None else argv, prog))
    except (TrainerFlagError, NonFiniteLossError, DataUnavailableError, DiskFullError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2 if isinstance(error, TrainerFlagError) else 1
    finally:
        _close_process_group()
    return 0


def _close_process_group() -> None:
    """Ends a DDP run's process group while the interpreter is whole: Lightning leaves it open, and gloo's
    worker threads torn down at interpreter exit can abort the process (seen once in the suite: both
    ranks "terminate called without an active exception" after a finished run, exit code -6)."""
    import torch.distributed

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
