"""ResnetTransformer: the reference's sizes, torchvision's trunk, checkpoint contents, decoding through the model."""
import argparse
import doctest
import io

import pytest
import torch
import torchvision

from text_recognizer.metadata import iam_paragraphs
from text_recognizer.models import ResnetTransformer, resnet_transformer
from text_recognizer.models.decoding import naive_greedy_decode

FULL_CONFIG = {"input_dims": iam_paragraphs.DIMS, "output_dims": iam_paragraphs.OUTPUT_DIMS, "mapping": iam_paragraphs.MAPPING}
SMALL_CONFIG = {"input_dims": (1, 64, 96), "output_dims": (20, 1), "mapping": iam_paragraphs.MAPPING}
SMALL_ARGS = argparse.Namespace(tf_dim=32, tf_fc_dim=64, tf_layers=2, tf_nhead=4, tf_dropout=0.1)


@pytest.fixture(scope="module")
def full_model():
    torch.manual_seed(0)
    return ResnetTransformer(FULL_CONFIG).eval()


def test_doctests_pass():
    assert doctest.testmod(resnet_transformer).failed == 0


def test_default_model_has_the_reference_size_and_a_56_mb_state_dict(full_model):
    parameters = sum(p.numel() for p in full_model.parameters())
    assert 13.5e6 < parameters < 14.5e6  # "about 14M"
    buffer = io.BytesIO()
    torch.save(full_model.state_dict(), buffer)
    assert 54e6 < len(buffer.getvalue()) < 58e6  # not the reference's 546 MB
    assert not [name for name in full_model.state_dict() if name.endswith("pe")]  # positional tables are not saved
    decoder_layer = full_model.decoder.layers[0]
    assert decoder_layer.linear1.out_features == 256 and not decoder_layer.norm_first  # --tf_fc_dim 256, post-norm


def test_a_576x640_page_becomes_360_memory_tokens_and_logits_per_target(full_model):
    x = torch.rand(1, 1, 576, 640)
    y = torch.randint(4, 84, (1, 7))
    with torch.no_grad():
        memory = full_model.encode(x)
        assert memory.shape == (1, 18 * 20, 256)
        assert full_model.decode(memory, y).shape == (1, 84, 7)  # (B, C, Sy)
    assert full_model.enc_pos_encoder.pe.shape == (256, 18, 20)  # sized by what the encoder produces


def test_resnet_trunk_is_torchvision_resnet18_without_pool_and_fc():
    torch.manual_seed(0)
    model = ResnetTransformer(SMALL_CONFIG, SMALL_ARGS).eval()
    reference = torchvision.models.resnet18(weights=None).eval()
    trunk = {name: tensor for name, tensor in reference.state_dict().items() if not name.startswith("fc.")}
    names = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]
    assert len(model.resnet) == len(names)
    # torchvision's "layer1.0.conv1.weight" is our "4.0.conv1.weight" (children in order, numbered)
    ours = {f"{names.index(n.split('.')[0])}.{n.split('.', 1)[1]}": t for n, t in trunk.items()}
    model.resnet.load_state_dict(ours)
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        expected = x
        for name in names:
            expected = getattr(reference, name)(expected)
        assert torch.equal(model.resnet(x), expected)
        # a one-channel image is the same image on three channels
        assert torch.allclose(model.encode(x[:, :1]), model.encode(x[:, :1].repeat(1, 3, 1, 1)))


def test_initialisation_follows_the_reference():
    torch.manual_seed(0)
    model = ResnetTransformer(SMALL_CONFIG, SMALL_ARGS)
    assert model.decoder.embedding.weight.abs().max() <= 0.1 and model.decoder.fc.weight.abs().max() <= 0.1
    assert (model.decoder.fc.bias == 0).all()


def test_predict_matches_naive_decoding_for_a_batch():
    torch.manual_seed(0)
    model = ResnetTransformer(SMALL_CONFIG, SMALL_ARGS).eval()
    x = torch.rand(3, 1, 64, 96)
    tokens, log_probs = model.predict(x, return_log_probs=True)
    assert tokens.shape == (3, 20) and log_probs.shape == (3,)
    with torch.no_grad():
        naive_tokens, _ = naive_greedy_decode(model.decoder, model.encode(x), 20)
    assert torch.equal(tokens, naive_tokens)
    assert model.predict(x, max_length=8, beam_width=2).shape == (3, 8)


def test_larger_inputs_grow_the_positional_table():
    model = ResnetTransformer(SMALL_CONFIG, SMALL_ARGS).eval()
    with torch.no_grad():
        assert model.encode(torch.rand(1, 1, 128, 96)).shape == (1, 4 * 3, 32)
    assert model.enc_pos_encoder.pe.shape == (32, 4, 3)


def test_bad_sizes_are_clear_errors():
    with pytest.raises(ValueError, match="divisible by --tf_nhead"):
        ResnetTransformer(SMALL_CONFIG, argparse.Namespace(tf_dim=30, tf_nhead=4))
    with pytest.raises(ValueError, match="mapping"):
        ResnetTransformer({**SMALL_CONFIG, "mapping": list("abc")}, SMALL_ARGS)


@pytest.mark.parametrize("stride, columns", [(32, 3), (16, 6), (8, 12)])
def test_a_finer_horizontal_stride_keeps_more_columns_and_the_same_rows(stride, columns):
    torch.manual_seed(0)
    model = ResnetTransformer(SMALL_CONFIG, argparse.Namespace(**vars(SMALL_ARGS), horizontal_stride=stride)).eval()
    with torch.no_grad():
        features = model.feature_map(torch.rand(2, 1, 64, 96))
        assert features.shape == (2, 32, 2, columns)
        assert model.encode(torch.rand(2, 1, 64, 96)).shape == (2, 2 * columns, 32)
    assert model.enc_pos_encoder.pe.shape[1:] == (2, columns)  # built for the largest input
    # the same parameters as the reference's trunk: only strides change, so its weights load
    reference = ResnetTransformer(SMALL_CONFIG, SMALL_ARGS)
    model.load_state_dict(reference.state_dict())


def test_an_unknown_horizontal_stride_is_a_clear_error():
    with pytest.raises(ValueError, match="horizontal_stride must be one of"):
        ResnetTransformer(SMALL_CONFIG, argparse.Namespace(**vars(SMALL_ARGS), horizontal_stride=4))
