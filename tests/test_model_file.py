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
    ({"data_config": {"mapping": list("01")}}, "data_config.input_dims must be a list"),
    ({"model_config": {"conv_dim": 4, "fc_dim": "8"}}, "a CNN cannot be built from its settings.*fc_dim must be a finite int"),
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


def small_transformer_content(tmp_path) -> dict:
    from test_read_by_lines import save_ctc_line_model

    return read_checkpoint(save_ctc_line_model(tmp_path / "line.pt"))


@pytest.mark.parametrize("model_config, data_config, message", [
    ({"tf_layers": 10**9}, {}, "tf_layers=1000000000 is outside 1..64"),
    ({"tf_dim": 2**20}, {}, "tf_dim=1048576 is outside 1..4096"),
    ({"tf_dropout": float("nan")}, {}, "tf_dropout must be a finite float"),
    ({}, {"output_dims": [10**9, 1]}, r"data_config.output_dims\[0\]=1000000000 is outside 1..10000"),
    ({}, {"input_dims": [1, 576, 2**40]}, r"data_config.input_dims\[2\]=1099511627776 is outside 1..16384"),
    ({}, {"mapping": ["x"] * 10**6}, "the size of data_config.mapping=1000000 is outside 1..10000"),
    ({}, {"line_pitch": 1e400}, "line_pitch must be a number"),
    # each within its bounds, together about 16 GB of weights the file does not hold: refused before any is made
    ({"tf_layers": 64, "tf_fc_dim": 16384, "tf_dim": 4096}, {}, "its weights do not fit a ResnetTransformer"),
])
def test_hostile_sizes_in_a_model_file_are_refused_before_anything_is_allocated(tmp_path, model_config, data_config,
                                                                                  message):
    """Issue 35: tf_layers=10**9 grew memory without end, tf_dim=2**20 tried to allocate 5.7 GB."""
    import resource
    import time

    content = small_transformer_content(tmp_path)
    content["model_config"].update(model_config)
    content["data_config"].update(data_config)
    path = tmp_path / "hostile.pt"
    torch.save(content, path)
    before, started = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.monotonic()
    with pytest.raises(ValueError, match=message) as error:
        load_model(path)
    assert str(error.value).startswith(str(path)) and "\n" not in str(error.value)
    assert time.monotonic() - started < 10
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 500_000  # KB: nothing large was made
