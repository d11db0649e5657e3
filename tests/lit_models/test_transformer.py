"""TransformerLitModel: teacher-forced loss without <P>, CERs by decoding, bf16 on CPU, checkpoints."""
import argparse

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import WandbLogger
from torch.utils.data import DataLoader, TensorDataset

from text_recognizer.lit_models import TransformerLitModel
from text_recognizer.metadata import iam_paragraphs
from text_recognizer.model_file import load_model
from text_recognizer.models import ResnetTransformer
from text_recognizer.vocabulary import convert_strings_to_labels, trim_padding

MAPPING = iam_paragraphs.MAPPING
CONFIG = {"input_dims": (1, 32, 64), "output_dims": (12, 1), "mapping": MAPPING}
ARGS = dict(tf_dim=32, tf_fc_dim=64, tf_layers=2, tf_nhead=4, tf_dropout=0.1, loss="transformer", lr=1e-3)
TEXTS = ["ab", "a\nb", "hello", "", "xyz w", "Q.", "12", "tt"]


def make_lit(**flags):
    torch.manual_seed(0)
    args = argparse.Namespace(**{**ARGS, **flags})
    return TransformerLitModel(ResnetTransformer(CONFIG, args), args)


def loader():
    torch.manual_seed(1)
    images = torch.rand(len(TEXTS), *CONFIG["input_dims"])
    labels = convert_strings_to_labels(TEXTS, MAPPING, CONFIG["output_dims"][0])
    return DataLoader(TensorDataset(images, labels), batch_size=4)


def trainer(tmp_path, **kwargs):
    settings = dict(
        accelerator="cpu", devices=1, max_epochs=1, limit_train_batches=2, limit_val_batches=1,
        num_sanity_val_steps=0, logger=False, enable_progress_bar=False, enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    return pl.Trainer(**{**settings, **kwargs})


def test_loss_is_teacher_forced_cross_entropy_without_padding_targets():
    lit = make_lit()
    x, y = next(iter(loader()))
    logits = lit.model(x, y[:, :-1])  # (B, C, Sy - 1)
    keep = y[:, 1:] != MAPPING.index("<P>")
    log_p = torch.log_softmax(logits, dim=1).gather(1, y[:, 1:].unsqueeze(1)).squeeze(1)
    expected = -(log_p * keep).sum() / keep.sum()
    assert torch.allclose(lit.loss_fn(logits, y[:, 1:]), expected, atol=1e-6)


def test_steps_cut_trailing_padding_without_changing_the_loss_and_decode_to_the_full_length(monkeypatch):
    lit = make_lit().eval()
    x, y = next(iter(loader()))  # texts of at most 5 characters in 12-token labels
    trimmed = trim_padding(y, MAPPING.index("<P>"))
    assert trimmed.shape == (4, 7)  # <S> hello <E>: the longest row of the batch
    assert torch.equal(trimmed, y[:, :7]) and (y[:, 7:] == MAPPING.index("<P>")).all()
    with torch.no_grad():
        memory = lit.model.encode(x)
        full = lit.loss_fn(lit.model.decode(memory, y[:, :-1]), y[:, 1:])
        short = lit.loss_fn(lit.model.decode(memory, trimmed[:, :-1]), trimmed[:, 1:])
    assert torch.allclose(full, short, atol=1e-6)

    fed, decode_lengths = [], []
    decode, generate = lit.model.decode, lit.model.decoder.generate
    monkeypatch.setattr(lit.model, "decode", lambda memory, tokens: fed.append(tokens.shape[1]) or decode(memory, tokens))
    monkeypatch.setattr(lit.model.decoder, "generate",
                        lambda memory, max_length: decode_lengths.append(max_length) or generate(memory, max_length))
    monkeypatch.setattr(lit, "log", lambda *args, **kwargs: None)  # no trainer here
    with torch.no_grad():
        assert torch.allclose(lit.training_step((x, y), 0), full, atol=1e-6)
        lit.validation_step((x, y), 1)
    assert fed == [6, 6]  # the decoder saw the trimmed inputs in both steps
    assert decode_lengths == [12]  # predictions may run as long as the untrimmed label


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["bf16-mixed", "32-true"])
def test_training_and_validation_steps_log_loss_and_both_cers(tmp_path, precision):
    lit = make_lit()
    before = [p.detach().clone() for p in lit.model.parameters()]
    run = trainer(tmp_path, precision=precision)
    run.fit(lit, train_dataloaders=loader(), val_dataloaders=loader())
    metrics = run.callback_metrics
    for name in ("train_loss", "val_loss", "val_cer", "val_cer_standard"):
        assert name in metrics and torch.isfinite(metrics[name]), name
    assert 0 <= metrics["val_cer"] <= 1
    assert any(not torch.equal(a, b) for a, b in zip(before, lit.model.parameters()))
    tested = run.test(lit, dataloaders=loader(), verbose=False)[0]
    assert {"test_loss", "test_cer", "test_cer_standard"} <= tested.keys()


@pytest.mark.slow
def test_a_checkpoint_reloads_and_predicts_the_same_tokens(tmp_path):
    lit = make_lit()
    run = trainer(tmp_path, enable_checkpointing=True, limit_train_batches=1)
    run.fit(lit, train_dataloaders=loader(), val_dataloaders=loader())
    path = tmp_path / "model.ckpt"
    run.save_checkpoint(path)
    assert not [name for name in torch.load(path, weights_only=False)["state_dict"] if name.endswith(".pe")]
    x, _ = next(iter(loader()))
    lit.eval()
    expected = lit.model.predict(x)
    assert torch.equal(load_model(path).predict(x), expected)
    reloaded = TransformerLitModel.load_from_checkpoint(path, model=ResnetTransformer(CONFIG, argparse.Namespace(**ARGS)))
    assert torch.equal(reloaded.eval()(x), expected)


class RecordingWandbLogger(WandbLogger):
    """A WandbLogger that records log_image calls instead of talking to W&B."""

    def __init__(self):  # no super().__init__: nothing of W&B is started
        self.images = []

    def log_image(self, key, images, step=None, **kwargs):
        self.images.append((key, images, kwargs))


def test_sample_images_go_to_wandb_with_predicted_and_true_text(monkeypatch):
    lit = make_lit()
    recorder = RecordingWandbLogger()
    monkeypatch.setattr(TransformerLitModel, "loggers", property(lambda self: [recorder]))
    x, y = next(iter(loader()))
    lit._log_samples(x, lit.model.predict(x), y)
    (key, images, kwargs), = recorder.images
    assert key == "val_samples" and len(images) == 4 and images[0].shape == (1, 32, 64)
    assert kwargs["caption"][1].endswith("true: a\nb")


def test_a_mapping_without_special_tokens_is_a_clear_error():
    model = ResnetTransformer(CONFIG, argparse.Namespace(**ARGS))
    model.data_config = {**CONFIG, "mapping": list("abc")}
    with pytest.raises(ValueError, match="needs"):
        TransformerLitModel(model, argparse.Namespace(**ARGS))


@pytest.mark.slow
def test_a_line_cnn_transformer_learns_to_read_three_lines(tmp_path):
    """End to end through Lightning: teacher-forced training, then CER by greedy decoding on the same lines."""
    from text_recognizer.models import LineCNNTransformer

    texts = ["hello world", "a quick\nfox", "Jumps 42."]
    config = {"input_dims": (1, 28, 128), "output_dims": (16, 1), "mapping": MAPPING}
    args = argparse.Namespace(tf_dim=32, tf_fc_dim=64, tf_layers=2, tf_nhead=2, tf_dropout=0.0, conv_dim=8, fc_dim=32,
                              fc_dropout=0.0, loss="transformer", lr=3e-3)
    torch.manual_seed(0)
    lit = TransformerLitModel(LineCNNTransformer(config, args), args)
    images = torch.zeros(len(texts), *config["input_dims"])
    for i in range(len(texts)):  # a bright band at a different place in each image
        images[i, :, :, 40 * i : 40 * i + 30] = 1.0
    data = DataLoader(TensorDataset(images, convert_strings_to_labels(texts, MAPPING, 16)), batch_size=3)
    epochs = 120  # CER 0 after about 60 steps
    run = trainer(tmp_path, max_epochs=epochs, check_val_every_n_epoch=epochs, limit_train_batches=None)
    run.fit(lit, train_dataloaders=data, val_dataloaders=data)
    assert run.callback_metrics["val_cer"] < 0.05 and run.callback_metrics["val_cer_standard"] < 0.05


def test_a_model_that_is_not_an_encoder_decoder_is_a_clear_error():
    from text_recognizer.models import CNN

    model = CNN({"input_dims": (1, 28, 28), "output_dims": (1,), "mapping": MAPPING})
    with pytest.raises(ValueError, match="needs an encoder-decoder model"):
        TransformerLitModel(model, argparse.Namespace(**ARGS))


def test_token_noise_replaces_characters_only_and_only_in_training(monkeypatch):
    lit = make_lit(token_noise=0.5)
    labels = convert_strings_to_labels(["hello world"] * 64, MAPPING, 16)
    noisy = lit.noisy(labels)
    specials = [MAPPING.index(t) for t in ("<B>", "<S>", "<E>", "<P>")]
    changed = noisy != labels
    assert 0.35 < changed[:, 1:12].float().mean() < 0.65  # about half of the characters (some draw themselves)
    assert torch.equal(noisy[:, 0], labels[:, 0]) and torch.equal(noisy[:, 13:], labels[:, 13:])  # <S>, <P>
    assert not torch.isin(noisy[changed], torch.tensor(specials)).any()
    seen = []
    monkeypatch.setattr(lit.model, "decode", lambda memory, y: seen.append(y) or torch.zeros(len(y), len(MAPPING), y.shape[1]))
    x, y = next(iter(loader()))
    lit.training_step((x, y), 0)
    lit.eval()
    with torch.no_grad():
        lit.validation_step((x, y), 0)
    trimmed = trim_padding(y, MAPPING.index("<P>"))[:, :-1]
    assert not torch.equal(seen[0], trimmed) and torch.equal(seen[1], trimmed)  # validation is never noised


def test_dropout_ramps_from_zero_to_the_models_rates():
    lit = make_lit(dropout_ramp_steps=100)
    targets = dict(lit._dropout_targets)
    assert targets and max(targets.values()) == pytest.approx(0.1)
    lit.on_train_batch_start(None, 0)  # global step 0: no dropout yet
    for fraction in (0.0, 0.5, 1.0):
        if fraction:
            lit.set_dropout_fraction(fraction)
        rates = {name: (m.p if isinstance(m, torch.nn.Dropout) else m.dropout)
                 for name, m in lit.model.named_modules() if name in targets}
        assert all(rates[name] == pytest.approx(rate * fraction) for name, rate in targets.items())


@pytest.mark.slow
def test_auxiliary_ctc_trains_a_head_on_single_lines_only_that_the_model_file_keeps(tmp_path):
    lit = make_lit(horizontal_stride=8, ctc_weight=0.5)
    x, y = next(iter(loader()))  # "ab", "a\nb", "hello", "": three single lines and one paragraph
    features = lit.model.feature_map(x)
    seen = []
    original = lit.ctc_loss_fn.forward
    lit.ctc_loss_fn.forward = lambda log_probs, targets, *lengths: seen.append((log_probs, lengths)) or original(
        log_probs, targets, *lengths
    )
    ctc = lit.line_ctc_loss(features, y)
    log_probs, (input_lengths, target_lengths) = seen[0]
    assert log_probs.shape == (features.shape[3], 3, len(MAPPING))  # (columns, lines, tokens)
    assert target_lengths.tolist() == [2, 5, 0] and input_lengths.tolist() == [features.shape[3]] * 3
    # the CTC term alone trains the head and reaches the encoder
    lit.ctc_loss_fn.forward = original
    ctc.backward()
    assert lit.model.ctc_head.weight.grad.abs().sum() > 0 and lit.model.resnet[0].weight.grad.abs().sum() > 0
    assert lit.model.decoder.embedding.weight.grad is None
    paragraphs_only = convert_strings_to_labels(["a\nb"] * 4, MAPPING, CONFIG["output_dims"][0])
    assert lit.line_ctc_loss(features, paragraphs_only) is None
    # the head is the model's: a checkpoint's model (and so its model file) reads lines by it too
    trained = trainer(tmp_path)
    trained.fit(lit, loader(), loader())
    trained.save_checkpoint(tmp_path / "ctc.ckpt")
    model = load_model(tmp_path / "ctc.ckpt")
    assert torch.equal(model.ctc_head.weight, lit.model.ctc_head.weight)
    tokens, log_probs = model.predict_ctc(x)
    assert tokens.shape == (4, CONFIG["output_dims"][0]) and (tokens[:, 0] == MAPPING.index("<S>")).all()
    assert (log_probs <= 0).all()


def test_checkpoints_written_before_the_ctc_head_moved_into_the_model_still_load_and_resume(tmp_path):
    """Runs of earlier versions kept the head beside the model (ctc_head.*): the model file, a resumed
    run and --load_checkpoint find it in the model (model.ctc_head.*)."""
    from text_recognizer.model_file import upgrade_lightning_state_dict

    lit = make_lit(horizontal_stride=8, ctc_weight=0.5)
    trained = trainer(tmp_path)
    trained.fit(lit, loader(), loader())
    trained.save_checkpoint(tmp_path / "new.ckpt")
    checkpoint = torch.load(tmp_path / "new.ckpt", weights_only=False)
    checkpoint["state_dict"] = {  # the earlier layout: the head beside the model
        name.removeprefix("model.") if name.startswith("model.ctc_head.") else name: tensor
        for name, tensor in checkpoint["state_dict"].items()
    }
    legacy = {name for name in checkpoint["state_dict"] if name.startswith("ctc_head.")}
    assert legacy == {"ctc_head.weight", "ctc_head.bias"} and "model.ctc_head.weight" not in checkpoint["state_dict"]
    torch.save(checkpoint, tmp_path / "legacy.ckpt")
    model = load_model(tmp_path / "legacy.ckpt")
    assert torch.equal(model.ctc_head.weight, lit.model.ctc_head.weight)
    resumed = make_lit(horizontal_stride=8, ctc_weight=0.5)
    resumed.on_load_checkpoint(checkpoint)  # what Lightning calls before loading the state_dict
    resumed.load_state_dict(checkpoint["state_dict"])
    assert torch.equal(resumed.model.ctc_head.weight, lit.model.ctc_head.weight)
    assert upgrade_lightning_state_dict({"model.a": 1}) == {"model.a": 1}


def test_auxiliary_ctc_needs_a_resnet_transformer():
    from text_recognizer.models import LineCNNTransformer

    args = argparse.Namespace(**ARGS, ctc_weight=0.5)
    with pytest.raises(ValueError, match="--ctc_weight needs a ResnetTransformer"):
        TransformerLitModel(LineCNNTransformer(CONFIG, args), args)
    with pytest.raises(ValueError, match="--ctc_weight must be 0 or more"):
        make_lit(ctc_weight=-1)


def test_ctc_frames_per_column_give_lines_longer_than_the_columns_an_alignment():
    """At a small --line_pitch a line has fewer columns than characters: CTC has no alignment (its loss is
    zeroed); with 2 frames a column the head predicts two outputs side by side and the line trains."""
    x = torch.rand(1, 1, 32, 64)  # 8 columns at /8
    y = convert_strings_to_labels(["abcdefghijk"], MAPPING, 14)  # 11 characters
    losses = {}
    for frames in (1, 2):
        lit = make_lit(horizontal_stride=8, ctc_weight=0.5, ctc_frames_per_column=frames)
        features = lit.model.feature_map(x)
        assert features.shape[3] == 8
        assert lit.model.ctc_head.out_features == frames * len(MAPPING)
        losses[frames] = lit.line_ctc_loss(features, y)
    assert float(losses[1].detach()) == 0  # zero_infinity: no alignment of 11 characters to 8 frames
    assert 0 < float(losses[2].detach()) < float("inf")
    losses[2].backward()
    with pytest.raises(ValueError, match="--ctc_frames_per_column must be 1 or more"):
        make_lit(horizontal_stride=8, ctc_weight=0.5, ctc_frames_per_column=0)


def test_weights_trained_at_another_line_pitch_are_refused(tmp_path):
    from text_recognizer.training.fine_tuning import load_initial_weights
    from text_recognizer.training.trainer_flags import TrainerFlagError

    def lit_at(pitch):
        args = argparse.Namespace(**ARGS)
        return TransformerLitModel(ResnetTransformer({**CONFIG, "line_pitch": pitch}, args), args)

    for pitch, path in ((24.0, tmp_path / "at24.ckpt"), (48.0, tmp_path / "at48.ckpt")):
        torch.save({"state_dict": lit_at(pitch).state_dict(), "hyper_parameters": dict(lit_at(pitch).hparams)}, path)
    ours = lit_at(24.0)
    load_initial_weights(ours, str(tmp_path / "at24.ckpt"), argparse.Namespace(model_class="ResnetTransformer"))
    with pytest.raises(TrainerFlagError, match="line pitch of 48 px, but this run rescales it to 24: add --line_pitch=48"):
        load_initial_weights(ours, str(tmp_path / "at48.ckpt"), argparse.Namespace(model_class="ResnetTransformer"))
    older = {"state_dict": lit_at(48.0).state_dict(), "hyper_parameters": {"data_config": {"mapping": MAPPING}}}
    torch.save(older, tmp_path / "older.ckpt")  # written before --line_pitch: read at 48
    with pytest.raises(TrainerFlagError, match="add --line_pitch=48"):
        load_initial_weights(ours, str(tmp_path / "older.ckpt"), argparse.Namespace(model_class="ResnetTransformer"))


def test_a_line_model_is_validated_one_line_at_a_time_in_the_recognizers_boxes(monkeypatch):
    """read_by="lines": validation cuts each page into its lines (line_boxes, boxes beyond the page filled
    with black), reads them as one batch (by the attention decoder: this model has no CTC head) and
    scores each page's lines joined by newlines."""
    from text_recognizer.stems.paragraph_core import (
        READ_BY_LINES,
        TARGET_LINE_PITCH,
        line_boxes,
    )

    torch.manual_seed(0)
    config = {**CONFIG, "input_dims": (1, 192, 160), "output_dims": (20, 1), "read_by": READ_BY_LINES}
    args = argparse.Namespace(**ARGS)
    lit = TransformerLitModel(ResnetTransformer(config, args), args).eval()
    pitch = int(TARGET_LINE_PITCH)
    pages = torch.zeros(2, 1, 192, 160)
    for line in range(3):  # page 0: three lines of bars, the first near the top edge; page 1: blank
        pages[0, :, 4 + line * pitch : 4 + line * pitch + 14, 10 : 150 - 30 * line] = 1.0
    assert line_boxes(pages[0, 0].numpy())[0][0] < 0  # the first box reaches above the page
    seen, regions = [], []

    def predict(lines, sizes=None):
        seen.append(lines.clone())
        regions.append(sizes)
        return torch.tensor(lit.vocabulary.encode(["ab"] * len(lines), 6))

    monkeypatch.setattr(lit.model, "predict", predict)
    logged = []
    monkeypatch.setattr(lit, "log_cer", lambda stage, decoded, y: logged.append(lit.vocabulary.decode(decoded)))
    monkeypatch.setattr(lit, "log", lambda *a, **k: None)
    y = torch.tensor(lit.vocabulary.encode(["ab\nab\nab", ""], 20))
    with torch.no_grad():
        lit.validation_step((pages, y), 1)
    (batch,) = seen
    assert batch.shape[0] == 3  # three lines; the blank page has none (it reads as empty text, as in the recognizer)
    assert regions == [[tuple(batch.shape[-2:])] * 3]  # each line on its page's region (here: the whole batch)
    top, bottom, left, right = line_boxes(pages[0, 0].numpy())[0]
    first = batch[0, 0, : bottom - top, : right - left]
    assert first[: -top].max() == 0 and first[-top:].max() == 1  # black above the page, the bar's ink inside
    assert torch.equal(first[-top:], pages[0, 0, : bottom, left:right])
    assert logged == [["ab\nab\nab", ""]]
    with torch.no_grad():  # a batch of blank pages calls no model at all
        lit.validation_step((torch.zeros(2, 1, 192, 160), y), 1)
    assert len(seen) == 1 and logged[-1] == ["", ""]
