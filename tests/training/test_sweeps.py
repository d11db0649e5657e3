"""W&B sweep files name only real flags of run_experiment, with values its parser accepts."""
from pathlib import Path

import pytest
import yaml

from text_recognizer.training.run_experiment import build_parser

SWEEP_DIR = Path(__file__).resolve().parents[2] / "training" / "sweeps"
SWEEPS = sorted(SWEEP_DIR.glob("*.yml"))
CLASS_FLAGS = ("data_class", "model_class", "loss")


def test_there_are_sweeps():
    assert SWEEPS, f"no sweep files in {SWEEP_DIR}"


def _choices(spec: dict) -> list:
    if "value" in spec:
        return [spec["value"]]
    if "values" in spec:
        return list(spec["values"])
    return [spec[key] for key in ("min", "max") if key in spec]


@pytest.mark.parametrize("sweep", SWEEPS, ids=lambda path: path.name)
def test_every_parameter_is_a_flag_of_run_experiment(sweep):
    config = yaml.safe_load(sweep.read_text())
    assert config["program"] == "training/run_experiment.py"
    assert (SWEEP_DIR.parents[1] / config["program"]).exists()
    parameters = config["parameters"]
    assert config["metric"]["name"] in ("val_loss", "val_cer")
    # The class flags decide which data/model/lit-model flags exist, so they must be fixed values.
    fixed = [f"--{name}={parameters[name]['value']}" for name in CLASS_FLAGS if name in parameters]
    parser = build_parser(fixed)
    unknown = sorted(
        name for name, spec in parameters.items() if parser.parse_known_args([*fixed, f"--{name}={_choices(spec)[0]}"])[1]
    )
    assert not unknown, f"{sweep.name}: not flags of run_experiment: {unknown}"
    # Every value of every parameter parses (right type, allowed choice).
    for name, spec in parameters.items():
        for value in _choices(spec):
            parser.parse_args([*fixed, f"--{name}={value}"])
