"""Model files made on the fly for the tests: a crafted pickle that would run code, and a small CNN's model file."""
from argparse import Namespace
from pathlib import Path

import torch

CNN_CONFIG = {"input_dims": [1, 28, 28], "output_dims": [1], "mapping": list("0123456789")}
CNN_ARGS = {"conv_dim": 4, "fc_dim": 8}


class Payload:
    """Unpickling this calls a function: what a crafted model file does to run its code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))  # creating the file stands in for os.system


def save_crafted_model_file(path: Path, marker: Path, **extra) -> Path:
    """A model file with the payload tucked inside an otherwise valid dict (extra keys: e.g. a .ckpt's)."""
    torch.save({"format": 1, "model_class": "ResnetTransformer", "data_config": {}, "args": {},
                "state_dict": {}, **extra, "extra": Payload(marker)}, path)
    return path


def cnn_content() -> dict:
    """What save_model_file takes, for a tiny CNN: a model that is not a text model."""
    from text_recognizer.models import CNN

    model = CNN({**CNN_CONFIG, "input_dims": (1, 28, 28)}, Namespace(**CNN_ARGS))
    return {"model_class": "CNN", "data_config": CNN_CONFIG, "model_config": CNN_ARGS, "state_dict": model.state_dict()}
