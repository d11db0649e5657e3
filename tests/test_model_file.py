"""model.pt and .ckpt reading: plain tensors and containers only; a file that would run code is refused, never run."""
import pickle

import pytest
import torch
from model_fixtures import cnn_content, save_crafted_model_file

from text_recognizer.model_file import load_model, read_checkpoint, save_model_file


def test_a_pickle_that_would_run_code_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "payload_ran"
    path = save_crafted_model_file(tmp_path / "model.pt", marker)
    with pytest.raises(ValueError, match="never loaded"):
        read_checkpoint(path)
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"", b"not a torch file at all", pickle.dumps([1, 2, 3])])
def test_garbage_files_are_clear_errors_naming_the_file(tmp_path, content):
    path = tmp_path / "broken.pt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="broken.pt"):
        read_checkpoint(path)


def test_a_good_model_file_round_trips(tmp_path):
    save_model_file(cnn_content(), tmp_path / "model.pt")
    assert load_model(tmp_path / "model.pt").classifier[-1].out_features == 10


@pytest.mark.parametrize("change, message", [
    ({"model_class": "NoSuchNet"}, "names model class 'NoSuchNet', which text_recognizer.models does not have"),
    ({"model_class": "__class__"}, "names model class '__class__'"),
    ({"model_config": {"conv_dim": 8, "fc_dim": 8}}, "its weights do not fit a CNN"),  # the weights are of conv_dim 4
    ({"data_config": {"mapping": list("01")}}, "a CNN cannot be built from its settings"),  # no input_dims
])
def test_a_model_file_that_does_not_fit_its_class_is_a_clear_error_naming_the_file(tmp_path, change, message):
    path = tmp_path / "odd_model.pt"
    torch.save({"format": 2, **cnn_content(), **change}, path)  # as another version (or a damaged file) would
    with pytest.raises(ValueError, match=message) as error:
        load_model(path)
    assert str(error.value).startswith(str(path))


def test_a_model_file_keeps_only_the_model_s_own_settings(tmp_path):
    content = {**cnn_content(), "model_config": {"conv_dim": 4, "fc_dim": 8, "lr": 0.1, "data_class": "MNIST"}}
    save_model_file(content, tmp_path / "model.pt")
    written = torch.load(tmp_path / "model.pt", weights_only=True)
    assert written["format"] == 2 and "args" not in written
    assert written["model_config"] == {"conv_dim": 4, "fc_dim": 8, "fc_dropout": 0.25}


def test_a_format_1_model_file_with_every_run_flag_still_loads(tmp_path):
    """Files written before model configs (format 1: the run's flags under "args") load as they did."""
    content = cnn_content()
    legacy = {"format": 1, "model_class": "CNN", "data_config": content["data_config"],
              "args": {**content["model_config"], "lr": 0.1, "wandb": False}, "state_dict": content["state_dict"]}
    torch.save(legacy, tmp_path / "old.pt")
    assert read_checkpoint(tmp_path / "old.pt")["model_config"]["conv_dim"] == content["model_config"]["conv_dim"]
    assert load_model(tmp_path / "old.pt").classifier[-1].out_features == 10


def test_a_model_file_of_a_newer_format_says_so(tmp_path):
    torch.save({"format": 9, **cnn_content()}, tmp_path / "new.pt")
    with pytest.raises(ValueError, match="format 9.*newer text_recognizer"):
        read_checkpoint(tmp_path / "new.pt")
