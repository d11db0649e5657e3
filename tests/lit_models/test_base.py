"""BaseLitModel: optimizer and loss by name, the one-cycle schedule, clear errors."""
import argparse
from datetime import timedelta
from types import SimpleNamespace

import pytest
import torch
from pytorch_lightning.callbacks import Timer

from text_recognizer.lit_models.base import BaseLitModel
from text_recognizer.models import MLP

DATA_CONFIG = {"input_dims": (1, 4, 4), "output_dims": (1,), "mapping": list(range(3))}


def make(**flags):
    return BaseLitModel(MLP(DATA_CONFIG, argparse.Namespace(fc1=8, fc2=8)), argparse.Namespace(**flags))


def test_optimizer_and_loss_are_looked_up_by_name():
    lit = make(optimizer="SGD", lr=0.5, loss="nll_loss")
    optimizer = lit.configure_optimizers()
    assert isinstance(optimizer, torch.optim.SGD) and optimizer.param_groups[0]["lr"] == 0.5
    assert lit.loss_fn is torch.nn.functional.nll_loss


def test_one_cycle_schedule_steps_per_batch():
    lit = make(one_cycle_max_lr=0.1, one_cycle_total_steps=10)
    config = lit.configure_optimizers()
    assert isinstance(config["lr_scheduler"]["scheduler"], torch.optim.lr_scheduler.OneCycleLR)
    assert config["lr_scheduler"]["interval"] == "step"


def test_unknown_names_are_clear_errors():
    with pytest.raises(ValueError, match="not in torch.optim"):
        make(optimizer="Adamm")
    with pytest.raises(ValueError, match="torch.nn.functional"):
        make(loss="cross_entropyy")


def test_hyperparameters_describe_how_to_rebuild_the_model():
    lit = make(lr=0.01)
    assert lit.hparams["model_class"] == "MLP"
    assert lit.hparams["data_config"]["input_dims"] == [1, 4, 4]
    assert lit.hparams["args"]["lr"] == 0.01


def test_doctests_pass():
    import doctest

    from text_recognizer.lit_models import base

    assert doctest.testmod(base).failed == 0


def test_warmup_and_decay_drive_the_lr_each_step():
    lit = BaseLitModel(torch.nn.Linear(2, 2), {"lr": 1.0, "warmup_steps": 4, "lr_decay_steps": 10})
    config = lit.configure_optimizers()
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    assert config["lr_scheduler"]["interval"] == "step"
    rates = []
    for _ in range(20):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[0] == pytest.approx(0.25) and rates[3] == pytest.approx(1.0) and rates[-1] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="one_cycle"):
        BaseLitModel(torch.nn.Linear(2, 2), {"one_cycle_max_lr": 1.0, "warmup_steps": 4})


def attach_timer(lit, elapsed_s, max_time_s):
    """A trainer stand-in holding a Timer that has run `elapsed_s` of `max_time_s` (as after a resume)."""
    timer = Timer(duration=None if max_time_s is None else timedelta(seconds=max_time_s))
    timer.load_state_dict({"time_elapsed": {"train": elapsed_s}})
    lit.trainer = SimpleNamespace(callbacks=[timer], strategy=SimpleNamespace(broadcast=lambda value: value))
    return timer


def test_decay_by_time_follows_the_wall_clock_and_ends_at_the_floor_at_max_time():
    lit = BaseLitModel(torch.nn.Linear(2, 2), {"lr": 1.0, "warmup_steps": 2, "lr_decay_by_time": True})
    timer = attach_timer(lit, 0, 100)
    rates = {}
    for elapsed in (0, 50, 100, 150):
        timer.load_state_dict({"time_elapsed": {"train": elapsed}})
        rates[elapsed] = lit.lr_factor(1000)  # the step count plays no part after the warm-up
    assert rates == pytest.approx({0: 1.0, 50: 0.55, 100: 0.1, 150: 0.1})
    assert lit.lr_factor(0) == pytest.approx(0.5 * 0.1)  # warm-up by step still applies
    config = lit.configure_optimizers()
    assert isinstance(config["lr_scheduler"]["scheduler"], torch.optim.lr_scheduler.LambdaLR)


def test_decay_by_time_needs_max_time_and_excludes_a_step_count():
    lit = BaseLitModel(torch.nn.Linear(2, 2), {"lr": 1.0, "lr_decay_by_time": True})
    attach_timer(lit, 0, None)
    with pytest.raises(ValueError, match="set --max_time"):
        lit.configure_optimizers()
    with pytest.raises(ValueError, match="drop --lr_decay_steps"):
        BaseLitModel(torch.nn.Linear(2, 2), {"lr_decay_by_time": True, "lr_decay_steps": 10})
