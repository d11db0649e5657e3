"""model.pt and .ckpt reading: plain tensors and containers only; a file that would run code is refused, never run."""
import pickle

import pytest
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
    ({"args": {"conv_dim": 8, "fc_dim": 8}}, "its weights do not fit a CNN"),  # the weights are of conv_dim 4
    ({"data_config": {"mapping": list("01")}}, "a CNN cannot be built from its settings"),  # no input_dims
])
def test_a_model_file_that_does_not_fit_its_class_is_a_clear_error_naming_the_file(tmp_path, change, message):
    path = tmp_path / "odd_model.pt"
    save_model_file({**cnn_content(), **change}, path)
    with pytest.raises(ValueError, match=message) as error:
        load_model(path)
    assert str(error.value).startswith(str(path))
