"""The whole paragraph system can learn: a small ResnetTransformer, trained through run_experiment on two
offline-source paragraphs, then reads them back by greedy decoding (eval mode, as in production).

This checks that the decoder really reads the image: a model that ignored it would write the same
text for both pages.
"""
import pytest
import torch
from conftest import TINY_IAM_FLAGS

from text_recognizer.data.iam_paragraphs import IAMParagraphs
from text_recognizer.lit_models.metrics import character_error_rate
from text_recognizer.stems.paragraph import pad_batch
from text_recognizer.training.run_experiment import build_parser, run
from text_recognizer.vocabulary import convert_labels_to_strings

STEPS = 160  # with a one-cycle lr (120 read the family split's tiny tree at 0.072); 250 steps at a flat 1e-3 also passed


@pytest.mark.slow
@pytest.mark.usefixtures("tiny_iam_args")  # the tiny rendered IAM, in the session's temp folder
def test_resnet_transformer_learns_to_read_two_paragraphs(tmp_path):
    flags = [f"--{name}={value}" for name, value in TINY_IAM_FLAGS.items()]
    argv = [
        "--data_class=IAMParagraphs", *flags, "--augment_data=false", "--num_workers=0",
        "--model_class=ResnetTransformer", "--tf_layers=2", "--tf_dropout=0", "--loss=transformer",
        "--batch_size=2", "--overfit_batches=1", f"--max_steps={STEPS}",
        "--lr=1e-3", "--one_cycle_max_lr=3e-3", f"--one_cycle_total_steps={STEPS}",
        "--check_val_every_n_epoch=100000", "--num_sanity_val_steps=0", "--limit_test_batches=0",
        "--enable_progress_bar=false", f"--log_dir={tmp_path}",
    ]
    args = build_parser(argv).parse_args(argv)
    lit_model = run(args)["lit_model"].eval()
    data = IAMParagraphs(args)
    data.setup()
    x, y = zip(*(data.data_train[i] for i in range(2)))  # overfit_batches=1 trains on this first batch
    predicted = lit_model(pad_batch(x))
    mapping = data.mapping
    truths = convert_labels_to_strings(torch.stack(y), mapping)
    predictions = convert_labels_to_strings(predicted, mapping)
    assert truths[0] != truths[1]
    assert character_error_rate(predictions, truths) < 0.05, list(zip(predictions, truths))
