"""Careless and hostile training flags (issue 35's weak cases): each is refused in one line that names the
flag, before any data is built or run folder made. Parsing and checking only: nothing trains here."""
import pytest
import torch

from text_recognizer.training.run_experiment import build_parser, main
from text_recognizer.training.trainer_flags import check_flags

SMALL = ["--data_class=FakeImageData", "--model_class=CNN", "--num_samples=64", "--conv_dim=8", "--fc_dim=16"]


def parse(argv):
    return build_parser(argv).parse_args(argv)


@pytest.mark.parametrize("flag, says", [
    ("--lr=-1", "must be a finite number above 0"),
    ("--lr=nan", "must be a finite number above 0"),
    ("--loss=nope", "neither transformer, ctc nor a function of torch.nn.functional"),
    ("--optimizer=Nope", "not an optimizer of torch.optim"),
    ("--precision=garbage", "invalid choice: 'garbage'"),
    ("--max_time=garbage", "expected DD:HH:MM:SS"),
    ("--max_time=00:00:00:00", "would stop at once"),
    ("--devices=abc", "expected auto, a count"),
    ("--devices=0", "expected auto, a count"),
    ("--accelerator=tpu", "invalid choice: 'tpu'"),
    ("--accumulate_grad_batches=0", "must be at least 1"),
    ("--warmup_steps=-5", "must be at least 0"),
])
def test_a_value_no_run_can_use_is_an_argparse_error_naming_the_flag(flag, says, capsys):
    with pytest.raises(SystemExit) as exited:
        parse([*SMALL, flag])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert f"argument {flag.split('=')[0]}" in last and says in last, err
    assert "Traceback" not in err


@pytest.mark.parametrize("flag", ["--gpus=0", "--devices=0,1", "--devices=-1", "--devices=auto", "--precision=bf16",
                                  "--precision=auto", "--accelerator=ddp", "--max_time=01:02:30:00", "--loss=ctc",
                                  "--optimizer=AdamW", "--lr=3e-4"])
def test_the_values_in_use_still_parse(flag):
    parse([*SMALL, flag])


def checkpoint_written_with(path, **args):
    torch.save({"state_dict": {}, "hyper_parameters": {"model_class": "CNN", "args": {"model_class": "CNN", **args}}},
               path)
    return path


@pytest.mark.parametrize("flags, says", [
    (["--seed=99999999999999"], "--seed=99999999999999 is out of range: numpy takes 0 to 4294967295"),
    (["--seed=-1"], "--seed=-1 is out of range"),
    (["--log_dir=/dev/null/x"], "--log_dir=/dev/null/x: /dev/null is not a folder"),
    (["--conv_dim=4", "--resume_from_checkpoint={ckpt}"], "was written with --conv_dim=8 (this run: 4); resume with"),
])
def test_flags_that_conflict_with_the_machine_or_a_checkpoint_are_one_line_and_leave_no_run_folder(
        flags, says, tmp_path, capsys):
    ckpt = checkpoint_written_with(tmp_path / "last.ckpt", conv_dim=8, fc_dim=16, loss="cross_entropy")
    logs = tmp_path / "logs"
    argv = [*SMALL, f"--log_dir={logs}", *(flag.format(ckpt=ckpt) for flag in flags)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --") and says in err, err
    assert not logs.exists()


def test_a_resume_with_the_checkpoints_model_flags_passes_the_check(tmp_path):
    ckpt = checkpoint_written_with(tmp_path / "last.ckpt", conv_dim=8, fc_dim=16, loss="cross_entropy", lr=0.1)
    check_flags(parse([*SMALL, "--lr=0.003", f"--resume_from_checkpoint={ckpt}", f"--log_dir={tmp_path}"]))
