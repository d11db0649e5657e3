"""IAMLines on a tiny rendered IAM: every line of every form, (1, 56, IMAGE_WIDTH), 83 tokens."""
import pytest
import torch

from text_recognizer.data.base_data_module import load_and_print_info
from text_recognizer.data.iam_lines import IAMLines
from text_recognizer.data.sources.iam import IAM
from text_recognizer.metadata import iam_lines as metadata
from text_recognizer.vocabulary import convert_labels_to_strings


def test_lines_of_each_split_with_their_text(tiny_iam_args):
    data = IAMLines(tiny_iam_args)
    data.prepare_data()
    data.setup()
    iam = IAM.from_args(tiny_iam_args)
    config = data.config()
    assert tuple(config["input_dims"]) == (1, 56, metadata.IMAGE_WIDTH) and len(config["mapping"]) == 83
    for dataset, ids in ((data.data_train, iam.train_ids), (data.data_val, iam.val_ids), (data.data_test, iam.test_ids)):
        expected = [line for id_ in ids for line in iam.line_strings_by_id[id_]]
        assert convert_labels_to_strings(dataset.labels, metadata.MAPPING) == expected
        x, y = dataset[0]
        assert tuple(x.shape) == (1, 56, metadata.IMAGE_WIDTH) and 0 <= float(x.min()) and float(x.max()) <= 1
        assert y.shape == (metadata.MAX_LABEL_LENGTH,)
    torch.manual_seed(0)
    assert torch.equal(data.data_val[0][0], data.data_val[0][0])
    assert not torch.equal(data.data_train[0][0], data.data_train[0][0])


def test_runs_as_a_script_and_prints_what_it_holds(tiny_iam_args, capsys):
    argv = ["--iam_source=rendered", f"--iam_rendered_forms={tiny_iam_args.iam_rendered_forms}",
            f"--iam_rendered_writers={tiny_iam_args.iam_rendered_writers}",
            f"--iam_rendered_fonts={tiny_iam_args.iam_rendered_fonts}", "--augment_data=false"]
    load_and_print_info(IAMLines, argv)
    out = capsys.readouterr().out
    assert f"input dims: (1, 56, {metadata.IMAGE_WIDTH})" in out and "augment train: False" in out


def test_setup_warns_which_lines_will_be_squeezed(tiny_iam_args, monkeypatch):
    data = IAMLines(tiny_iam_args)
    data.prepare_data()
    monkeypatch.setattr(metadata, "IMAGE_WIDTH", 100)
    with pytest.warns(UserWarning, match=r"wider than the 100-pixel canvas.*squeezed.*r\d\d-\d\d\d-\d\d"):
        data.setup()
