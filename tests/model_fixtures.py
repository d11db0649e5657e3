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


TINY_TRANSFORMER_ARGS = {"tf_dim": 16, "tf_fc_dim": 16, "tf_layers": 1, "tf_nhead": 2}


def save_tiny_paragraph_model(path: Path, output_length: int, read_by: str | None = None, ctc_head: bool = False,
                              seed: int | None = None, half: bool = True, **args: object) -> Path:
    """A random-weight ResnetTransformer's model.pt for the paragraph vocabulary: fast to load and to decode
    (a short `output_length`); `read_by="lines"` makes the recognizer cut pages into lines, `ctc_head` adds
    the line CTC head that joint and CTC decoding need; `args` override TINY_TRANSFORMER_ARGS."""
    from text_recognizer.metadata import iam_paragraphs as metadata
    from text_recognizer.model_file import save_model_file
    from text_recognizer.models import ResnetTransformer

    if seed is not None:
        torch.manual_seed(seed)
    config = {"input_dims": list(metadata.DIMS), "output_dims": [output_length, 1], "mapping": metadata.MAPPING,
              **({"read_by": read_by} if read_by else {})}
    model_config = {**TINY_TRANSFORMER_ARGS, **args}
    model = ResnetTransformer({**config, "input_dims": metadata.DIMS}, Namespace(**model_config))
    if ctc_head:
        model.add_ctc_head()
    return save_model_file({"model_class": "ResnetTransformer", "data_config": config,
                            "model_config": model_config, "state_dict": model.state_dict()}, path, half=half)
