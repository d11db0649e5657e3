"""IAMParagraphs on a tiny rendered IAM: one 576x640 paragraph per form, labels <= 682 tokens,
only train augmented, caches built once and reused."""
import pytest
import torch
from conftest import use_data_dir

from text_recognizer.data.base_data_module import load_and_print_info
from text_recognizer.data.iam_paragraphs import IAMParagraphs
from text_recognizer.data.sources import iam_crops
from text_recognizer.data.sources.iam import IAM
from text_recognizer.metadata import iam_paragraphs as metadata
from text_recognizer.vocabulary import convert_labels_to_strings


@pytest.fixture
def paragraphs(tiny_iam_args):
    data = IAMParagraphs(tiny_iam_args)
    data.prepare_data()
    data.setup()
    return data


def test_config_dims_and_84_token_mapping(paragraphs):
    config = paragraphs.config()
    assert tuple(config["input_dims"]) == (1, 576, 640) and tuple(config["output_dims"]) == (682, 1)
    assert len(config["mapping"]) == 84 and config["mapping"][83] == "\n"


def test_one_paragraph_per_form_with_its_text(paragraphs, tiny_iam_args):
    iam = IAM.from_args(tiny_iam_args)
    for dataset, ids in ((paragraphs.data_train, iam.train_ids), (paragraphs.data_val, iam.val_ids),
                         (paragraphs.data_test, iam.test_ids)):
        assert len(dataset) == len(ids)
        texts = convert_labels_to_strings(dataset.labels, metadata.MAPPING)
        assert texts == [iam.paragraph_string_by_id[id_] for id_ in ids]


def test_tensors_are_content_sized_in_unit_range_and_labels_fit(paragraphs):
    for dataset in (paragraphs.data_train, paragraphs.data_val, paragraphs.data_test):
        x, y = dataset[0]
        height, width, _ = dataset.sample_shapes()[0]
        assert x.dtype == torch.float32 and x.shape[1] <= 576 and x.shape[2] <= 640
        if dataset is not paragraphs.data_train:  # evaluation: the crop itself, no canvas, no augmentation
            assert tuple(x.shape) == (1, height, width)
        assert 0 <= float(x.min()) and float(x.max()) <= 1 and float(x.max()) > 0.5  # white ink on black
        assert float(x.mean()) < 0.5
        assert y.shape == (682,) and y[0] == metadata.MAPPING.index("<S>")


def test_fixed_canvas_is_the_references_576x640(tiny_iam_args):
    tiny_iam_args.fixed_canvas = True
    data = IAMParagraphs(tiny_iam_args)
    data.prepare_data()
    data.setup()
    assert data.config()["fixed_canvas"] is True
    for dataset in (data.data_train, data.data_test):
        assert tuple(dataset[0][0].shape) == (1, 576, 640)


def test_loaders_pad_each_batch_to_its_largest_image(paragraphs):
    x, y = next(iter(paragraphs.test_dataloader()))
    shapes = paragraphs.data_test.sample_shapes()
    assert x.shape[0] == y.shape[0] == min(len(shapes), paragraphs.batch_size)
    assert x.shape[2] % 32 == 0 and x.shape[3] % 32 == 0
    assert x.shape[2] < 576 or x.shape[3] < 640  # not the canvas: the tiny pages are smaller
    assert x.shape[2] - 32 < shapes[:, 0].max() and x.shape[3] - 32 < shapes[:, 1].max()


def test_only_train_is_augmented(paragraphs):
    torch.manual_seed(0)
    assert torch.equal(paragraphs.data_val[0][0], paragraphs.data_val[0][0])
    assert torch.equal(paragraphs.data_test[0][0], paragraphs.data_test[0][0])
    assert not torch.equal(paragraphs.data_train[0][0], paragraphs.data_train[0][0])


def test_augment_data_false_makes_train_deterministic(tiny_iam_args):
    tiny_iam_args.augment_data = False
    data = IAMParagraphs(tiny_iam_args)
    data.prepare_data()
    data.setup()
    assert torch.equal(data.data_train[0][0], data.data_train[0][0])


def test_elastic_displacement_reaches_the_training_stem_only(tiny_iam_args):
    from text_recognizer.stems.paragraph import ElasticDistortion

    tiny_iam_args.elastic_displacement = 2.0
    data = IAMParagraphs(tiny_iam_args)
    elastic = [[t for t in data.stem(split).pil_transforms.transforms if isinstance(t, ElasticDistortion)]
               for split in ("train", "val")]
    assert len(elastic[0]) == 1 and elastic[1] == []


def test_second_prepare_data_reuses_the_cache(tiny_iam_args, tmp_path, monkeypatch):
    use_data_dir(monkeypatch, tmp_path)  # a data folder of its own: the first call builds the tree and the cache
    IAMParagraphs(tiny_iam_args).prepare_data()
    labels_file = IAMParagraphs(tiny_iam_args).cache_dirname / iam_crops.LABELS_FILENAME
    stamp = labels_file.stat().st_mtime_ns

    def fail(*args, **kwargs):
        raise AssertionError("the cache should have been reused")

    monkeypatch.setattr(iam_crops, "write_cache", fail)
    monkeypatch.setattr(IAM, "prepare_data", fail)
    IAMParagraphs(tiny_iam_args).prepare_data()
    assert labels_file.stat().st_mtime_ns == stamp
    assert not list(labels_file.parent.parent.glob(".*"))  # no leftover temp folder


def test_setup_names_a_label_too_long_for_the_decoder(paragraphs, monkeypatch):
    monkeypatch.setattr(metadata, "MAX_LABEL_LENGTH", 40)
    with pytest.raises(ValueError, match=r"exceed the maximum of 40 tokens.*longest is r\d\d-\d\d\d"):
        paragraphs.setup()


def test_setup_warns_which_crops_will_be_scaled_down(paragraphs, monkeypatch):
    monkeypatch.setattr(metadata, "IMAGE_SHAPE", (100, 100))
    with pytest.warns(UserWarning, match=r"bigger than the 100x100.*scaled down.*r\d\d-\d\d\d"):
        paragraphs.setup()


def test_runs_as_a_script_and_prints_what_it_holds(tiny_iam_args, capsys):
    argv = ["--iam_source=rendered", f"--iam_rendered_forms={tiny_iam_args.iam_rendered_forms}",
            f"--iam_rendered_writers={tiny_iam_args.iam_rendered_writers}",
            f"--iam_rendered_fonts={tiny_iam_args.iam_rendered_fonts}"]
    load_and_print_info(IAMParagraphs, argv)
    out = capsys.readouterr().out
    assert "input dims: (1, 576, 640)" in out and "84 classes" in out and "first train label" in out
