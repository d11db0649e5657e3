"""The EMNIST-line experiments run end to end on the tiny made-up EMNIST archive (fast_dev_run)."""
import pytest
from emnist_fixtures import _emnist_cache_dir, emnist_paths, tiny_emnist_archive  # noqa: F401

from text_recognizer.training.run_experiment import build_parser, run

SMALL = ["--batch_size=4", "--fast_dev_run=1", "--enable_progress_bar=false"]
FEW_LINES = ["--num_train=8", "--num_val=4", "--num_test=4"]
EXPERIMENTS = {
    "characters": ["--data_class=EMNIST", "--model_class=CNN", "--conv_dim=8", "--fc_dim=16"],
    "ctc": ["--data_class=EMNISTLines2", "--model_class=LineCNNLSTM", "--loss=ctc", "--conv_dim=8", "--fc_dim=16",
            "--lstm_dim=16"],
    "transformer": ["--data_class=EMNISTLines2", "--model_class=LineCNNTransformer", "--loss=transformer",
                    "--conv_dim=8", "--fc_dim=16", "--tf_dim=16", "--tf_fc_dim=16", "--tf_nhead=2", "--tf_layers=1"],
    # Lab 2's set-up: one prediction per 28-pixel cell, cross-entropy against chars-then-padding labels.
    "simple": ["--data_class=EMNISTLines", "--model_class=LineCNNSimple", "--loss=cross_entropy", "--conv_dim=8",
               "--fc_dim=16"],
}


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_emnist_lines_experiment_runs(name, emnist_paths, tmp_path):  # noqa: F811
    lines = [] if name == "characters" else FEW_LINES
    argv = [*EXPERIMENTS[name], *SMALL, *lines, f"--log_dir={tmp_path}"]
    args = build_parser(argv).parse_args(argv)
    result = run(args)
    assert "test_cer" in result["test_metrics"] or "test_loss" in result["test_metrics"]
