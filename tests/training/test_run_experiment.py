"""run_experiment: flags, the reference's commands, a real training run, DDP, and failure modes."""
import csv
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from text_recognizer.data.fake_images import FakeImageData
from text_recognizer.lit_models.base import BaseLitModel
from text_recognizer.models import CNN
from text_recognizer.training.run_experiment import build_parser, main, run

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--data_class=FakeImageData", "--model_class=CNN", "--num_samples=256", "--batch_size=32", "--lr=0.003",
         "--conv_dim=8", "--fc_dim=16", "--num_sanity_val_steps=0", "--enable_progress_bar=false"]

# The two training commands documented by the reference, verbatim.
REFERENCE_COMMANDS = [
    "--wandb --gpus=-1 --data_class=IAMLines --model_class=LineCNNTransformer --loss=transformer "
    "--num_workers=12 --accelerator=ddp --lr=0.001",
    "--wandb --gpus=-1 --data_class=IAMOriginalAndSyntheticParagraphs --model_class=ResnetTransformer "
    "--loss=transformer --batch_size=16 --check_val_every_n_epoch=10 --terminate_on_nan=1 --num_workers=24 "
    "--accelerator=ddp --lr=0.0001 --accumulate_grad_batches=4",
]


def parse(argv):
    return build_parser(argv).parse_args(argv)


@pytest.mark.parametrize("command", REFERENCE_COMMANDS)
def test_reference_commands_parse_and_fail_clearly_without_gpus(command, capsys):
    argv = command.split()
    args = parse(argv)
    assert args.gpus == "-1" and args.accelerator == "ddp" and args.wandb
    if torch.cuda.is_available():
        pytest.skip("this check is about machines without a GPU")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "GPUs were requested" in err and "Traceback" not in err


def test_unknown_class_lists_the_valid_ones():
    with pytest.raises(SystemExit, match="FakeImageData"):
        parse(["--data_class=FakeImages"])


def test_mistyped_flags_are_errors(capsys):
    with pytest.raises(SystemExit):
        parse([*SMALL, "--batchsize=3"])
    assert "unrecognized arguments: --batchsize=3" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--batch_size=0", "--batch_size=-4", "--batch_size=two", "--num_workers=-1"])
def test_impossible_numbers_are_argparse_errors(flag, capsys):
    with pytest.raises(SystemExit):
        parse([*SMALL, flag])
    err = capsys.readouterr().err
    assert flag.split("=")[0] in err and ("at least" in err or "whole number" in err)


def test_help_lists_every_flag_with_its_default_grouped_by_origin(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--data_class=FakeImageData", "--model_class=CNN", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for heading in ("Experiment:", "Trainer", "Data: FakeImageData:", "Model: CNN:", "LitModel: BaseLitModel:"):
        assert heading in out
    assert "--batch_size BATCH_SIZE" in out and "(default: 128)" in out
    assert "--conv_dim CONV_DIM" in out and "(default: 64)" in out


def test_training_system_learns_checkpoints_and_reloads(tmp_path):
    args = parse([*SMALL, "--max_epochs=4", f"--log_dir={tmp_path}"])
    result = run(args)
    run_dir = Path(result["run_dir"])
    rows = list(csv.DictReader(open(run_dir / "metrics.csv")))
    val_losses = [float(r["val_loss"]) for r in rows if r.get("val_loss")]
    assert len(val_losses) == 4 and val_losses[-1] < val_losses[0] * 0.8
    best = Path(result["best_checkpoint"])
    assert best.exists() and best.name.startswith("epoch=") and "val_loss=" in best.name
    assert (run_dir / "config.json").exists() and "run_experiment.py" in (run_dir / "run_command.txt").read_text()
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["epoch"] == 3  # the final epoch, whatever val_loss did: what --resume_from_checkpoint continues
    clock = [(float(r["time_min"]), float(r["samples_seen"])) for r in rows if r.get("time_min")]
    assert len(clock) == 4 and all(b > a for a, b in zip(clock, clock[1:]))  # for the learning curves

    data = FakeImageData(args)
    data.setup()
    model = CNN(data.config(), args)
    lit = BaseLitModel.load_from_checkpoint(best, model=model, args=args).eval()
    x, y = data.data_test.data, data.data_test.targets
    with torch.no_grad():
        accuracy = (lit(x).argmax(-1) == y).float().mean().item()
    assert accuracy == pytest.approx(result["test_metrics"]["test_acc"], abs=1e-6)
    assert accuracy > 0.5  # ten prototypes are easy once learned


def test_last_checkpoint_follows_the_run_even_when_the_best_does_not_move(tmp_path):
    # lr 1e-30 (0 is refused): float32 weights do not move, so val_loss never improves and the best checkpoint
    # stays at epoch 0. Lightning's own save_last would then never rewrite last.ckpt; a resume must still start from the final epoch.
    result = run(parse([*SMALL, "--max_epochs=3", "--lr=1e-30", f"--log_dir={tmp_path}"]))
    assert Path(result["best_checkpoint"]).name.startswith("epoch=000")
    last = torch.load(Path(result["run_dir"]) / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["epoch"] == 2


def test_decay_by_time_brings_the_lr_to_its_floor_when_max_time_stops_the_run(tmp_path):
    # 6 s of training on many small epochs (no early stop: only the clock ends it): the lr logged each
    # step falls from --lr towards a tenth of it.
    result = run(parse([*SMALL, "--num_samples=64", "--batch_size=8", "--lr=0.01", "--lr_decay_by_time",
                        "--max_time=00:00:00:06", "--max_epochs=100000", "--early_stopping_patience=100000",
                        "--log_every_n_steps=1", f"--log_dir={tmp_path}"]))
    with open(Path(result["run_dir"]) / "metrics.csv") as f:
        rates = [float(row["lr-Adam"]) for row in csv.DictReader(f) if row.get("lr-Adam")]
    assert len(rates) > 10 and rates[0] > 0.009
    assert all(later <= earlier + 1e-12 for earlier, later in zip(rates, rates[1:]))
    assert rates[-1] < 0.0025  # the cosine's last tenth of the time: at most a quarter of the peak


def test_decay_by_time_without_max_time_is_a_clear_error_before_any_run_folder(tmp_path, capsys):
    assert main([*SMALL, "--lr_decay_by_time", "--max_epochs=1", f"--log_dir={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert "add --max_time" in err and "Traceback" not in err
    assert not (tmp_path / "csv").exists()


def test_terminate_on_nan_stops_with_a_clear_message(tmp_path, capsys):
    argv = [*SMALL, "--noise=nan", "--max_epochs=1", "--terminate_on_nan=1", f"--log_dir={tmp_path}"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "training loss is nan at epoch 0, batch 0" in err and "--terminate_on_nan" in err


@pytest.mark.slow
def test_ddp_runs_two_real_processes_on_cpu(tmp_path):
    command = [sys.executable, "training/run_experiment.py", *SMALL, "--accelerator=cpu", "--devices=2",
               "--strategy=ddp", "--max_epochs=1", f"--log_dir={tmp_path}"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "GLOBAL_RANK: 0, MEMBER: 1/2" in output and "GLOBAL_RANK: 1, MEMBER: 2/2" in output
    assert "test_acc" in output


def test_auto_precision_uses_bf16_only_where_the_hardware_has_it(monkeypatch):
    from text_recognizer.training import trainer_flags

    monkeypatch.setattr(trainer_flags.torch.cuda, "is_available", lambda: False)
    for native, expected in ((False, "32-true"), (True, "bf16-mixed")):
        monkeypatch.setattr(trainer_flags, "cpu_has_native_bf16", lambda native=native: native)
        assert trainer_flags.trainer_kwargs(parse([*SMALL, "--precision=auto"]))["precision"] == expected
    assert trainer_flags.trainer_kwargs(parse([*SMALL, "--precision=bf16"]))["precision"] == "bf16-mixed"


def test_max_steps_inside_the_first_epoch_validates_checkpoints_and_tests(tmp_path):
    # 8 batches an epoch; Lightning alone would stop after batch 2 without validating, and EarlyStopping
    # would fail with "metric val_loss not available"
    result = run(parse([*SMALL, "--max_steps=2", f"--log_dir={tmp_path}"]))
    run_dir = Path(result["run_dir"])
    assert Path(result["best_checkpoint"]).is_file() and "test_acc" in result["test_metrics"]
    rows = list(csv.DictReader(open(run_dir / "metrics.csv")))
    assert len([r for r in rows if r.get("val_loss")]) == 1  # validated once, at the end
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["global_step"] == 2


@pytest.mark.parametrize("flag", ["--load_checkpoint", "--resume_from_checkpoint"])
@pytest.mark.parametrize("content, message", [(None, "there is no file"), (b"", "is empty"),
                                              (b"garbage" * 10, "is not a readable checkpoint")])
def test_a_bad_checkpoint_flag_is_a_clear_error_before_any_run_folder(tmp_path, capsys, flag, content, message):
    path = tmp_path / "given.ckpt"
    if content is not None:
        path.write_bytes(content)
    assert main([*SMALL, "--max_epochs=1", f"{flag}={path}", f"--log_dir={tmp_path / 'logs'}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {flag}:") and message in err and str(path) in err
    assert not (tmp_path / "logs").exists()  # no junk run folder holding only config.json


def test_an_interrupted_run_says_which_file_resumes_it_and_the_resume_continues(tmp_path, capsys, monkeypatch):
    import signal

    from text_recognizer.training import run_experiment

    class InterruptInSecondEpoch(run_experiment.TrainingClock):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if trainer.current_epoch == 1 and batch_idx == 1:
                raise KeyboardInterrupt

    monkeypatch.setattr(run_experiment, "TrainingClock", InterruptInSecondEpoch)
    sigint = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit):  # Lightning's graceful shutdown ends with sys.exit(1)
            run(parse([*SMALL, "--max_epochs=3", f"--log_dir={tmp_path}"]))
    finally:
        signal.signal(signal.SIGINT, sigint)  # Lightning ignores further Ctrl-C while it shuts down
    last = next(tmp_path.glob("csv/version_0/checkpoints/last.ckpt"))
    assert f"run the same command with --resume_from_checkpoint={last}" in capsys.readouterr().err
    assert torch.load(last, map_location="cpu", weights_only=True)["epoch"] == 0  # the one validation so far

    monkeypatch.undo()
    result = run(parse([*SMALL, "--max_epochs=3", f"--resume_from_checkpoint={last}", f"--log_dir={tmp_path}"]))
    rows = list(csv.DictReader(open(Path(result["run_dir"]) / "metrics.csv")))
    assert [r["epoch"] for r in rows if r.get("val_loss")] == ["1", "2"]  # epoch 0 is not trained again


def test_load_checkpoint_of_another_model_size_is_a_clear_error_before_any_run_folder(tmp_path, capsys):
    best = run(parse([*SMALL, "--max_steps=1", f"--log_dir={tmp_path}"]))["best_checkpoint"]
    capsys.readouterr()
    assert main([*SMALL, "--conv_dim=4", "--max_epochs=1", f"--load_checkpoint={best}", f"--log_dir={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"the weights in {best} do not fit --model_class=CNN" in err
    assert "first mismatched tensor: model." in err and "it was written with --conv_dim=8 (this run: 4)" in err
    assert [p.name for p in (tmp_path / "csv").iterdir()] == ["version_0"]


@pytest.fixture
def small_disk(tmp_path):
    """An 800 kB tmpfs: room for the first epoch's two checkpoints of SMALL (326 kB each), not for a third."""
    import os

    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=800k", "tmpfs", str(disk)],
                                           capture_output=True).returncode:
        pytest.skip("mounting a small tmpfs needs root")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_full_disk_keeps_the_previous_checkpoint_and_is_one_line(small_disk, capsys):
    """Issue 35: on a full disk last.ckpt was left truncated (written in the system's temporary folder and
    moved across filesystems) and the run ended in an ENOSPC traceback."""
    assert main([*SMALL, "--max_epochs=3", f"--log_dir={small_disk}"]) == 1
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "the disk is full" in errors[0] and "previous checkpoint there is kept" in errors[0]
    assert "Traceback" not in err
    checkpoints = small_disk / "csv" / "version_0" / "checkpoints"
    assert torch.load(checkpoints / "last.ckpt", map_location="cpu", weights_only=True)["epoch"] == 0  # whole
    assert not [p for p in checkpoints.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_a_checkpoint_that_fails_to_reach_the_disk_leaves_the_old_one_whole(tmp_path, monkeypatch):
    import errno
    import os

    from text_recognizer.training.trainer_flags import AtomicCheckpointIO, DiskFullError

    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"epoch": 1}, path)

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(DiskFullError, match="the disk is full"):
        AtomicCheckpointIO().save_checkpoint({"epoch": 2, "weights": torch.zeros(1000)}, path)
    assert torch.load(path, weights_only=True) == {"epoch": 1} and [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_run_command_txt_records_the_command_as_it_was_typed(monkeypatch, tmp_path):
    """An installed user reruns `text-recognizer train ...`; a clone's user `python training/run_experiment.py ...`."""
    from text_recognizer import cli
    from text_recognizer.training import run_experiment

    commands = []
    monkeypatch.setattr(run_experiment, "run", lambda args, command=None: commands.append(command))
    assert cli.main(["train", *SMALL]) == 0
    assert main(SMALL) == 0
    assert commands == [["text-recognizer", "train", *SMALL], ["python", "training/run_experiment.py", *SMALL]]
    run_experiment._write_run_files(tmp_path, parse(SMALL), commands[0])
    assert (tmp_path / "run_command.txt").read_text() == "text-recognizer train " + " ".join(SMALL) + "\n"
