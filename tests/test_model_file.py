"""model.pt and .ckpt reading: plain tensors and containers only; a file that would run code is refused, never run."""
import pickle

import pytest
import torch

from text_recognizer.model_file import read_checkpoint


class _Payload:
    """Unpickling this calls a function: what a crafted model file does to run its code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))  # creating the file stands in for os.system


def test_a_pickle_that_would_run_code_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "payload_ran"
    path = tmp_path / "model.pt"
    # the payload tucked inside an otherwise valid model file
    torch.save({"format": 1, "model_class": "ResnetTransformer", "data_config": {}, "args": {},
                "state_dict": {}, "extra": _Payload(marker)}, path)
    with pytest.raises(ValueError, match="never loaded"):
        read_checkpoint(path)
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"", b"not a torch file at all", pickle.dumps([1, 2, 3])])
def test_garbage_files_are_clear_errors_naming_the_file(tmp_path, content):
    path = tmp_path / "broken.pt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="broken.pt"):
        read_checkpoint(path)
