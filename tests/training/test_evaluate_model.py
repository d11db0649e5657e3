"""evaluate_model.py: both CERs per split and scale, through the recognizer, on the tiny rendered IAM."""
import argparse
import json

import pytest
from conftest import TINY_IAM_FLAGS, use_data_dir

from text_recognizer.metadata import iam_paragraphs as metadata
from text_recognizer.model_file import save_model_file
from text_recognizer.models import ResnetTransformer
from training.evaluate_model import main

ARGS = {"tf_dim": 16, "tf_fc_dim": 16, "tf_layers": 1, "tf_nhead": 2}


def tiny_model_file(folder):
    """A small random ResnetTransformer's model.pt: evaluation's path, not its figures, is tested."""
    config = {"input_dims": list(metadata.DIMS), "output_dims": [16, 1], "mapping": metadata.MAPPING}
    model = ResnetTransformer({**config, "input_dims": metadata.DIMS}, argparse.Namespace(**ARGS))
    return save_model_file({"model_class": "ResnetTransformer", "data_config": config, "model_config": ARGS,
                            "state_dict": model.state_dict()}, folder / "model.pt")


@pytest.mark.slow
def test_prints_both_cers_per_split_and_scale(tiny_iam_dirs, monkeypatch, tmp_path, capsys):
    use_data_dir(monkeypatch, tiny_iam_dirs["root"])
    path = tiny_model_file(tmp_path)
    flags = [f"--{name}={value}" for name, value in TINY_IAM_FLAGS.items()]
    assert main([*flags, f"--model_path={path}", "--splits=train,test", "--limit=2", "--scales=1,2", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [(row["split"], row["scale"]) for row in rows] == [("train", 1), ("train", 2), ("test", 1), ("test", 2)]
    assert all(row["paragraphs"] >= 1 and row["cer_standard"] >= 0 and 0 <= row["cer_reference"] <= 1 for row in rows)
    assert main([*flags, f"--model_path={path}", "--splits=test", "--limit=2", "--line_guard=both", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [row["line_guard"] for row in rows] == [True, False]
    assert "lines_as_labelled" not in rows[0]  # a page model: no cutting into lines
    assert main([*flags, f"--model_path={path}", "--splits=test", "--limit=2", "--read_by=lines", "--json"]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert row["lines_as_labelled"] == row["paragraphs"]  # the tiny source's pages split as labelled (test_line_split)
    assert main([*flags, f"--model_path={tmp_path / 'none.pt'}"]) == 1
    assert "no paragraph model" in capsys.readouterr().err


@pytest.mark.slow
def test_reads_the_test_subsets_apart(tiny_iam_dirs, monkeypatch, tmp_path, capsys):
    """The offline source's test writers of training families and of held-out families, beside val."""
    use_data_dir(monkeypatch, tiny_iam_dirs["root"])
    path = tiny_model_file(tmp_path)
    flags = [f"--{name}={value}" for name, value in TINY_IAM_FLAGS.items()]
    splits = "--splits=test_train_family,val,test_unseen_family"
    assert main([*flags, f"--model_path={path}", splits, "--limit=2", "--json"]) == 0
    out = capsys.readouterr().out
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    # The tiny tree's two writers: one trains (its forms give val too), one writes in a held-out family.
    assert [row["split"] for row in rows] == ["val", "test_unseen_family"] and "test_train_family  no paragraphs" in out
    assert main([*flags, f"--model_path={path}", "--splits=test_nope", "--limit=1"]) == 1
    assert "no test subset 'test_nope'" in capsys.readouterr().err
