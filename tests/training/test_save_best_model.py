"""save_best_model: local runs made here, the W&B path against a stand-in API, and failures."""
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from model_fixtures import cnn_content, save_crafted_model_file

from text_recognizer.model_file import load_model, read_checkpoint
from text_recognizer.training.run_experiment import build_parser, run
from text_recognizer.training.save_best_model import main, plain_config
from text_recognizer.training.trainer_flags import TrainerFlagError, run_folder_checkpoint

SMALL = ["--data_class=FakeImageData", "--model_class=CNN", "--num_samples=64", "--batch_size=32", "--conv_dim=4",
         "--fc_dim=8", "--num_sanity_val_steps=0", "--enable_progress_bar=false", "--max_epochs=2"]


@pytest.fixture(scope="module")
def local_runs(tmp_path_factory):
    """Two real runs: a useless learning rate and a good one."""
    log_dir = tmp_path_factory.mktemp("logs")
    results = []
    for lr in ("1e-7", "3e-3"):
        argv = [*SMALL, f"--lr={lr}", f"--log_dir={log_dir}"]
        results.append(run(build_parser(argv).parse_args(argv), command=["python", "training/run_experiment.py", *argv]))
    return log_dir, results


def test_local_selection_writes_the_best_runs_artifacts(local_runs, tmp_path, capsys):
    log_dir, results = local_runs
    assert main(["--local", str(log_dir), "--trained_data_class=FakeImageData", f"--artifacts_dir={tmp_path}"]) == 0
    folder = tmp_path / "paragraph_text_recognizer"
    config = json.loads((folder / "config.json").read_text())
    assert config["lr"] == 3e-3 and config["one_cycle_max_lr"] is None  # real JSON null, not "None"
    assert "--lr=3e-3" in (folder / "run_command.txt").read_text()
    content = read_checkpoint(folder / "model.pt")
    assert content["model_class"] == "CNN" and all(
        t.dtype == torch.float16 for t in content["state_dict"].values() if t.is_floating_point()
    )
    model = load_model(folder / "model.pt")
    reference = load_model(results[1]["best_checkpoint"])  # a Lightning checkpoint is accepted too
    x = torch.rand(4, 1, 28, 28)
    assert torch.equal(model(x).argmax(-1), reference(x).argmax(-1))


def test_a_new_model_gets_a_skeleton_card_that_keeps_only_the_old_cards_licences(local_runs, tmp_path, capsys):
    """The card beside a model describes that model: a replaced model's figures would be false of the new
    one, so the new card says what the run knows and marks the rest TODO; the licences section stays."""
    log_dir, _ = local_runs
    folder = tmp_path / "paragraph_text_recognizer"
    folder.mkdir()
    (folder / "MODEL_CARD.md").write_text("# Old\n\n## How well it reads\n\nCER 0.07\n\n## Licences\n\n- MIT, and the fonts' own.\n")
    assert main(["--local", str(log_dir), "--trained_data_class=FakeImageData", f"--artifacts_dir={tmp_path}"]) == 0
    card = (folder / "MODEL_CARD.md").read_text()
    assert card.startswith("# Model card: CNN from run ") and "val_loss = " in card and "data class `FakeImageData`" in card
    assert "TODO" in card and "CER 0.07" not in card
    assert card.endswith("## Licences\n\n- MIT, and the fonts' own.\n")
    assert "MODEL_CARD.md (a skeleton" in capsys.readouterr().out


def test_line_data_classes_go_to_the_line_folder(local_runs, tmp_path):
    log_dir, _ = local_runs
    for path in Path(log_dir).glob("**/config.json"):  # pretend the runs trained on IAMLines
        config = json.loads(path.read_text())
        path.with_name("config.json").write_text(json.dumps({**config, "data_class": "IAMLines"}))
    try:
        assert main(["--local", str(log_dir), "--trained_data_class=IAMLines", f"--artifacts_dir={tmp_path}"]) == 0
        assert (tmp_path / "line_text_recognizer" / "model.pt").exists()
    finally:
        for path in Path(log_dir).glob("**/config.json"):
            config = json.loads(path.read_text())
            path.write_text(json.dumps({**config, "data_class": "FakeImageData"}))


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--trained_data_class=IAMParagraphs"], "no local run of IAMParagraphs"),
        (["--trained_data_class=FakeImageData", "--metric=val_cer"], "logged val_cer"),
    ],
)
def test_failures_leave_existing_artifacts_untouched(local_runs, tmp_path, capsys, flags, message):
    log_dir, _ = local_runs
    folder = tmp_path / "paragraph_text_recognizer"
    folder.mkdir()
    (folder / "model.pt").write_text("the old model")
    assert main(["--local", str(log_dir), *flags, f"--artifacts_dir={tmp_path}"]) == 1
    assert message in capsys.readouterr().err
    assert (folder / "model.pt").read_text() == "the old model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["paragraph_text_recognizer"]  # no leftovers


class StandInArtifact:
    type = "model"

    def __init__(self, checkpoint, aliases):
        self.checkpoint, self.aliases = Path(checkpoint), aliases

    def download(self, root):
        Path(root).mkdir(parents=True, exist_ok=True)
        (Path(root) / "model.ckpt").write_bytes(self.checkpoint.read_bytes())
        return root


class StandInApi:
    """The few wandb.Api methods save_best_model uses, over the local runs."""

    def __init__(self, runs):
        self._runs = runs
        self.queries = []

    def runs(self, path, filters):
        self.queries.append((path, filters))
        return [r for r in self._runs if r.config["data_class"] == filters["config.data_class"]]


def stand_in_run(name, config, val_losses, checkpoint):
    return SimpleNamespace(
        name=name, id=name, config={**config, "_wandb": {"runtime": 3}},
        metadata={"program": "training/run_experiment.py", "args": ["--lr=0.5"]},
        history=lambda keys, pandas: [{"val_loss": v} for v in val_losses],
        logged_artifacts=lambda: [StandInArtifact(checkpoint, ["best", "latest"])] if checkpoint else [],
    )


def test_wandb_selection_through_the_api(local_runs, tmp_path):
    _, results = local_runs
    config = json.loads((Path(results[0]["run_dir"]) / "config.json").read_text())
    api = StandInApi([
        stand_in_run("worse", config, [2.0, 1.5], results[0]["best_checkpoint"]),
        stand_in_run("best-without-weights", config, [0.1], None),
        stand_in_run("best", config, [1.9, 0.9, 1.2], results[1]["best_checkpoint"]),
    ])
    argv = ["--entity=me", "--project=htr", "--trained_data_class=FakeImageData", f"--artifacts_dir={tmp_path}"]
    assert main(argv, api=api) == 0
    assert api.queries == [("me/htr", {"config.data_class": "FakeImageData"})]
    folder = tmp_path / "paragraph_text_recognizer"
    assert (folder / "run_command.txt").read_text().strip() == "python training/run_experiment.py --lr=0.5"
    assert "_wandb" not in json.loads((folder / "config.json").read_text())
    assert load_model(folder / "model.pt") is not None


def test_wandb_without_credentials_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    assert main(["--entity=me", "--project=htr", "--trained_data_class=X", f"--artifacts_dir={tmp_path}"]) == 1
    assert "wandb login" in capsys.readouterr().err


def test_plain_config_fixes_the_references_none_strings():
    assert plain_config({"a": "None", "b": {"value": 3}, "_wandb": {}}) == {"a": None, "b": 3}


def plant_run(log_dir, name, val_loss, config_bytes=None):
    """A run folder as run_experiment leaves it, without training: config.json, metrics.csv and a .ckpt
    of a tiny CNN (returns the checkpoints folder)."""
    run_dir = Path(log_dir) / "csv" / name
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "config.json").write_bytes(config_bytes or json.dumps({"data_class": "FakeImageData", "lr": val_loss}).encode())
    (run_dir / "metrics.csv").write_text(f"epoch,step,val_loss\n0,1,{val_loss}\n")
    content = cnn_content()
    # a .ckpt's hyper-parameters hold the run's flags ("args"), among them the model's settings
    hyper_parameters = {"model_class": content["model_class"], "data_config": content["data_config"],
                        "args": {**content["model_config"], "lr": val_loss}}
    state_dict = {f"model.{key}": tensor for key, tensor in content["state_dict"].items()}
    torch.save({"hyper_parameters": hyper_parameters, "state_dict": state_dict},
               run_dir / "checkpoints" / f"epoch=000-val_loss={val_loss:.3f}.ckpt")
    return run_dir / "checkpoints"


def test_a_planted_checkpoint_that_would_run_code_is_refused_and_never_runs(tmp_path, capsys):
    checkpoints = plant_run(tmp_path / "logs", "version_0", 0.5)
    for path in checkpoints.iterdir():
        path.unlink()
    marker = tmp_path / "payload_ran"
    save_crafted_model_file(checkpoints / "epoch=000-val_loss=0.500.ckpt", marker, hyper_parameters={})
    argv = ["--local", str(tmp_path / "logs"), "--trained_data_class=FakeImageData", f"--artifacts_dir={tmp_path / 'a'}"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "epoch=000-val_loss=0.500.ckpt cannot be read" in err and "never loaded" in err and "Traceback" not in err
    assert not marker.exists() and not (tmp_path / "a").exists()


@pytest.mark.parametrize("broken", [b"{not json", b"[1, 2]", b"\xff\xfe{"])  # the last is not UTF-8
def test_a_corrupt_config_skips_that_run_with_a_warning_and_selects_among_the_others(tmp_path, capsys, broken):
    logs = tmp_path / "logs"
    plant_run(logs, "version_0", 0.9)
    plant_run(logs, "version_1", 0.1, config_bytes=broken)  # the best val_loss, but its settings are unreadable
    plant_run(logs, "version_2", 0.5)
    assert main(["--local", str(logs), "--trained_data_class=FakeImageData", f"--artifacts_dir={tmp_path}"]) == 0
    captured = capsys.readouterr()
    assert f"warning: skipping the run in {logs / 'csv' / 'version_1'}: {logs / 'csv' / 'version_1' / 'config.json'}" in captured.err
    assert "version_2" in captured.out
    assert json.loads((tmp_path / "paragraph_text_recognizer" / "config.json").read_text())["lr"] == 0.5


def test_the_best_epochs_checkpoint_is_chosen_over_last_ckpt(tmp_path):
    checkpoints = plant_run(tmp_path / "logs", "version_0", 0.5)
    (checkpoints / "last.ckpt").write_bytes(b"the final epoch, not the best one")
    argv = ["--local", str(tmp_path / "logs"), "--trained_data_class=FakeImageData", f"--artifacts_dir={tmp_path}"]
    assert main(argv) == 0


def test_a_second_stage_ships_with_both_commands_naming_its_first_stage_by_run_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # run folders relative to the project root, as run_experiment writes them
    stage_1 = plant_run("logs", "version_0", 0.9).parent
    (stage_1 / "run_command.txt").write_text("python training/run_experiment.py --lr=5e-4\n")
    stage_2 = plant_run("logs", "version_1", 0.3).parent
    first_best = next((stage_1 / "checkpoints").glob("*.ckpt"))
    config = {"data_class": "FakeImageData", "load_checkpoint": str(first_best)}
    (stage_2 / "config.json").write_text(json.dumps(config))
    (stage_2 / "run_command.txt").write_text(f"python training/run_experiment.py --load_checkpoint={first_best} --lr=1e-4\n")
    assert main(["--local", "logs", "--trained_data_class=FakeImageData", "--artifacts_dir=a"]) == 0
    lines = (tmp_path / "a" / "paragraph_text_recognizer" / "run_command.txt").read_text().splitlines()
    assert lines == [
        "# stage 1 of 2 (trained in logs/csv/version_0)",
        "python training/run_experiment.py --lr=5e-4",
        "# stage 2 of 2, from stage 1's best checkpoint (trained in logs/csv/version_1)",
        "python training/run_experiment.py --load_checkpoint=logs/csv/version_0 --lr=1e-4",
    ]


def test_a_stage_started_from_the_shipped_model_names_the_stages_that_made_it_not_the_replaced_file(tmp_path, monkeypatch):
    """Fine-tuning the shipped model.pt and shipping the result replaces that file: the new run_command.txt
    must not start from it (it would name the new weights), but from the stages that made it."""
    monkeypatch.chdir(tmp_path)
    assert main(["--local", str(plant_run("logs", "version_0", 0.9).parent.parent.parent),
                 "--trained_data_class=FakeImageData", "--artifacts_dir=a"]) == 0
    shipped = Path("a/paragraph_text_recognizer/model.pt")
    (shipped.parent / "run_command.txt").write_text(
        "# stage 1 of 2 (trained in logs/csv/version_0)\npython training/run_experiment.py --lr=5e-4\n"
        "# stage 2 of 2, from stage 1's best checkpoint (trained in logs/csv/version_1)\n"
        "python training/run_experiment.py --lr=2e-4 --log_dir=x --load_checkpoint=logs/csv/version_0\n")
    tuned = plant_run("tuning", "version_0", 0.1).parent
    (tuned / "config.json").write_text(json.dumps({"data_class": "FakeImageData", "load_checkpoint": str(shipped)}))
    (tuned / "run_command.txt").write_text(f"python training/run_experiment.py --load_checkpoint={shipped} --lr=1e-4\n")
    assert main(["--local", "tuning", "--trained_data_class=FakeImageData", "--artifacts_dir=a"]) == 0
    assert (shipped.parent / "run_command.txt").read_text().splitlines() == [
        f"# stage 1 of 3 (trained in an earlier run, says run_command.txt beside {shipped})",
        "python training/run_experiment.py --lr=5e-4",
        "# stage 2 of 3, from stage 1's best checkpoint (trained in training/logs/stage2/csv/version_0)",
        "python training/run_experiment.py --lr=2e-4 --load_checkpoint=logs/csv/version_0 --log_dir=training/logs/stage2",
        "# stage 3 of 3, from stage 2's best checkpoint (trained in tuning/csv/version_0)",
        "python training/run_experiment.py --load_checkpoint=training/logs/stage2/csv/version_0 --lr=1e-4",
    ]


def test_a_second_stage_started_from_a_run_folder_loads_that_runs_best_epoch(local_runs, tmp_path):
    _, results = local_runs
    stage_1 = results[1]
    trained = {}
    for name, extra in (("from_stage_1", [f"--load_checkpoint={stage_1['run_dir']}"]), ("from_scratch", [])):
        argv = [*SMALL, "--max_epochs=1", f"--log_dir={tmp_path / name}", *extra]
        trained[name] = run(build_parser(argv).parse_args(argv), command=["python", "training/run_experiment.py", *argv])
    config = json.loads((Path(trained["from_stage_1"]["run_dir"]) / "config.json").read_text())
    assert config["load_checkpoint"] == str(stage_1["best_checkpoint"])  # the best epoch's, not last.ckpt
    first = read_checkpoint(stage_1["best_checkpoint"])["state_dict"]

    def distance_to_stage_1(result):
        weights = read_checkpoint(result["best_checkpoint"])["state_dict"]
        return sum((weights[k].float() - first[k].float()).norm().item() for k in first if first[k].is_floating_point())

    # trained on from stage 1's weights, it stays nearer to them than the same run from fresh weights
    assert distance_to_stage_1(trained["from_stage_1"]) < distance_to_stage_1(trained["from_scratch"]) / 2


def test_load_checkpoint_takes_a_run_folder_and_means_its_best_epoch(tmp_path):
    checkpoints = plant_run(tmp_path, "version_0", 0.5)
    (checkpoints / "last.ckpt").write_bytes((next(checkpoints.glob("epoch=*.ckpt"))).read_bytes())
    assert run_folder_checkpoint(str(checkpoints.parent)) == str(next(checkpoints.glob("epoch=*.ckpt")))
    assert run_folder_checkpoint("model.pt") == "model.pt" and run_folder_checkpoint(None) is None
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrainerFlagError, match="holds no checkpoints"):
        run_folder_checkpoint(str(tmp_path / "empty"))


def test_the_text_recognizers_folder_takes_only_models_that_read_text(tmp_path, monkeypatch, capsys):
    """Issue 35: a FakeImageData run replaced the shipped paragraph recognizer with a CNN. The project's
    artifacts folder (here a stand-in for it) now refuses it; another --artifacts_dir takes it."""
    import text_recognizer.training.save_best_model as save_best_model

    shipped = tmp_path / "artifacts"
    (shipped / "paragraph_text_recognizer").mkdir(parents=True)
    (shipped / "paragraph_text_recognizer" / "model.pt").write_text("the shipped model")
    monkeypatch.setattr(save_best_model, "ARTIFACTS_DIR", shipped)
    plant_run(tmp_path / "logs", "version_0", 0.5)
    argv = ["--local", str(tmp_path / "logs"), "--trained_data_class=FakeImageData"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "trained a CNN, which cannot read text" in err and "--artifacts_dir" in err and err.count("\n") == 1
    assert (shipped / "paragraph_text_recognizer" / "model.pt").read_text() == "the shipped model"
    assert main([*argv, f"--artifacts_dir={tmp_path / 'elsewhere'}"]) == 0
    assert save_best_model.reads_text("ResnetTransformer") and save_best_model.reads_text("LineCNNTransformer")


@pytest.mark.parametrize("case, message", [
    ("nan metrics", "every val_loss logged is NaN, infinite or not a number"),
    ("binary metrics", "metrics.csv is not a readable CSV"),
    ("load_checkpoint of another type", "load_checkpoint is 5, not a path"),
])
def test_weak_run_folders_are_one_line(tmp_path, capsys, case, message):
    checkpoints = plant_run(tmp_path / "logs", "version_0", 0.5)
    run_dir = checkpoints.parent
    if case == "nan metrics":
        (run_dir / "metrics.csv").write_text("epoch,step,val_loss\n0,1,nan\n1,2,nan\n")
    elif case == "binary metrics":
        (run_dir / "metrics.csv").write_bytes(bytes(range(256)) * 4)
    else:
        (run_dir / "config.json").write_text(json.dumps({"data_class": "FakeImageData", "load_checkpoint": 5}))
    code = main(["--local", str(tmp_path / "logs"), "--trained_data_class=FakeImageData", f"--artifacts_dir={tmp_path / 'a'}"])
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert code == (0 if case.startswith("load_checkpoint") else 1)
