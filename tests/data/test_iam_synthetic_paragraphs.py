"""Synthetic paragraphs: grouping rules, seeding across ranks, regeneration across epochs, loaders."""
import argparse

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from text_recognizer.data.batching import BatchedDataset, BucketSampler
from text_recognizer.data.iam_original_and_synthetic_paragraphs import (
    IAMOriginalAndSyntheticParagraphs,
)
from text_recognizer.data.iam_synthetic_paragraphs import IAMSyntheticParagraphs
from text_recognizer.data.synthetic.synthetic_paragraphs import (
    SyntheticParagraphs,
    random_partition,
    stack_lines,
)
from text_recognizer.metadata import iam_synthetic_paragraphs as metadata
from text_recognizer.vocabulary import convert_labels_to_strings

RANGES = metadata.GROUP_SIZE_RANGES  # ((2, 4), (2, 9), (5, 9))


def fake_records(n, height=10, width=100, text="a line"):
    return [{"id": f"line{i}", "label": text, "height": height, "width": width} for i in range(n)]


def fake_dataset(records, **kwargs):
    return SyntheticParagraphs("/nonexistent", records, stem=lambda image: image, **kwargs)


@pytest.mark.parametrize("low,high", RANGES)
@pytest.mark.parametrize("n", [0, 1, 5, 9, 10, 11, 37])
def test_random_partition_uses_every_item_once_in_groups_of_the_range(n, low, high):
    groups = random_partition(n, low, high, np.random.default_rng(0))
    if n < low:
        assert groups == []
        return
    assert sorted(i for group in groups for i in group) == list(range(n))
    assert all(low <= len(group) <= high for group in groups)


def test_groups_are_every_line_alone_then_three_partitions():
    n = 40
    groups = fake_dataset(fake_records(n)).groups()
    assert groups[:n] == [[i] for i in range(n)]
    rest = groups[n:]
    for low, high in RANGES:  # each partition covers every line exactly once, in groups of its range
        covered = []
        while len(covered) < n:
            group = rest.pop(0)
            assert low <= len(group) <= high
            covered += group
        assert sorted(covered) == list(range(n))
    assert rest == []


def test_groups_that_do_not_fit_are_dropped():
    records = fake_records(60, height=100, text="x" * 100)  # 6 lines = 600 px > 576; 7 lines > 682 tokens
    dataset = fake_dataset(records)
    groups = dataset.groups()
    assert len(groups) > 60 and max(len(group) for group in groups) <= 5
    for group in groups:
        assert sum(records[i]["height"] for i in group) <= 576
        assert sum(len(records[i]["label"]) for i in group) + len(group) - 1 + 2 <= metadata.MAX_LABEL_LENGTH
    wide = fake_records(3, width=700) + fake_records(3)  # lines 0-2 are wider than the 640 px canvas
    assert all(i >= 3 for group in fake_dataset(wide).groups() for i in group)


def test_two_ranks_with_the_same_seed_build_the_same_dataset():
    rank0, rank1 = fake_dataset(fake_records(200), seed=3), fake_dataset(fake_records(200), seed=3)
    assert len(rank0) == len(rank1) and rank0.groups() == rank1.groups()
    assert fake_dataset(fake_records(200), seed=4).groups() != rank0.groups()


def test_regenerate_changes_groupings_each_epoch_the_same_on_every_rank():
    rank0, rank1 = (fake_dataset(fake_records(200), regenerate=True) for _ in range(2))
    first = rank0.groups()
    for dataset in (rank0, rank1):
        dataset.set_epoch(1)
    assert rank0.groups() != first and rank0.groups() == rank1.groups()
    assert len(rank0) == len(first)  # the length never changes (DistributedSampler and ConcatDataset fix it)
    assert rank0.groups()[:200] == first[:200]  # single lines stay
    rank0.set_epoch(0)
    assert rank0.groups() == first


def test_length_is_kept_when_a_later_grouping_drops_more():
    records = fake_records(300, height=90, text="y" * 60)
    dataset = fake_dataset(records, regenerate=True)
    for epoch in range(1, 6):
        dataset.set_epoch(epoch)
        groups = dataset.groups()
        assert len(groups) == len(dataset) and all(dataset.fits(group) for group in groups)


def test_without_regenerate_the_epoch_is_ignored():
    dataset = fake_dataset(fake_records(100))
    first = dataset.groups()
    dataset.set_epoch(5)
    assert dataset.groups() == first


def test_stack_lines_left_aligned_top_to_bottom_no_gap():
    from PIL import Image

    image = stack_lines([Image.new("L", (30, 10), 255), Image.new("L", (50, 20), 128)])
    array = np.asarray(image)
    assert image.size == (50, 30)
    assert (array[:10, :30] == 255).all() and (array[:10, 30:] == 0).all() and (array[10:, :] == 128).all()


@pytest.fixture
def synthetic(tiny_iam_args):
    data = IAMSyntheticParagraphs(tiny_iam_args)
    data.prepare_data()
    data.setup()
    return data


def test_data_module_gives_train_only_paragraphs_within_capacity(synthetic):
    assert len(synthetic.data_val) == 0 and len(synthetic.data_test) == 0
    dataset = synthetic.data_train
    assert len(dataset) > synthetic.n_lines  # singles plus partitions
    index = next(i for i, group in enumerate(dataset.groups()) if len(group) > 2)
    x, y = dataset[index]
    group = dataset.groups()[index]
    height, width = int(dataset.heights[group].sum()), int(dataset.widths[group].max())
    if synthetic.augment:  # random scale and margins: about the stacked size, never above the canvas
        assert x.shape[1] <= 576 and x.shape[2] <= 640 and abs(x.shape[1] - height) < 0.2 * height + 20
    else:
        assert tuple(x.shape) == (1, height, width)  # content-sized: the stacked lines, no canvas
    assert 0 <= float(x.min()) and float(x.max()) <= 1
    assert y.shape == (682,)
    text = convert_labels_to_strings(y[None], metadata.MAPPING)[0]
    assert text == "\n".join(dataset.texts[i] for i in dataset.groups()[index])


def test_workers_follow_the_epoch_set_through_the_sampler(tiny_iam_args):
    tiny_iam_args.synthetic_regenerate = True
    tiny_iam_args.augment_data = False
    data = IAMSyntheticParagraphs(tiny_iam_args)
    data.prepare_data()
    data.setup()
    dataset = data.data_train
    sampler = BucketSampler(dataset, batch_size=16, shuffle=False)
    loader = DataLoader(BatchedDataset(dataset), sampler=sampler, batch_size=None, num_workers=2, persistent_workers=True)

    def labels_seen():
        return [text for _, y in loader for text in convert_labels_to_strings(y, metadata.MAPPING)]

    for epoch in (0, 1, 2):
        sampler.set_epoch(epoch)
        expected = ["\n".join(dataset.texts[i] for i in group) for group in dataset.draw_groups(epoch)]
        assert sorted(labels_seen()) == sorted(expected)  # batches are ordered by size, not by index
    assert dataset.draw_groups(1) != dataset.draw_groups(2)


class _RecordLabels(pl.LightningModule):
    """A do-nothing model that remembers which labels each training epoch saw."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen = {}

    def training_step(self, batch, batch_idx):
        self.seen.setdefault(self.current_epoch, []).extend(map(tuple, batch[1].tolist()))
        return (self.weight * batch[0].mean()).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)


def test_lightning_regenerates_each_epoch_through_the_sampler(tiny_iam_args):
    tiny_iam_args.synthetic_regenerate = True
    tiny_iam_args.augment_data = False
    tiny_iam_args.batch_size = 64
    tiny_iam_args.curriculum, tiny_iam_args.samples_per_epoch = "", 0  # every sample once per epoch
    data = IAMOriginalAndSyntheticParagraphs(tiny_iam_args)
    model = _RecordLabels()
    trainer = pl.Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    trainer.fit(model, datamodule=data)
    assert isinstance(trainer.train_dataloader.sampler, BucketSampler)
    synthetic = data.synthetic.data_train
    for epoch in (0, 1):
        expected = ["\n".join(synthetic.texts[i] for i in group) for group in synthetic.draw_groups(epoch)]
        seen = convert_labels_to_strings(torch.tensor(model.seen[epoch]), metadata.MAPPING)
        real = convert_labels_to_strings(data.original.data_train.labels, metadata.MAPPING)
        assert sorted(seen) == sorted(expected + real)
    assert model.seen[0] != model.seen[1]


def test_original_and_synthetic_train_on_both_and_validate_on_real(tiny_iam_args):
    data = IAMOriginalAndSyntheticParagraphs(tiny_iam_args)
    data.prepare_data()
    data.setup()
    assert len(data.data_train) == len(data.original.data_train) + len(data.synthetic.data_train)
    assert data.data_val is data.original.data_val and data.data_test is data.original.data_test
    assert torch.equal(data.data_val[0][0], data.data_val[0][0])  # not augmented
    assert data.config()["input_dims"] == (1, 576, 640) and len(data.config()["mapping"]) == 84
    assert data.config()["line_pitch"] == 48  # the recognizer reads pages at the pitch the model trained at
    half = IAMOriginalAndSyntheticParagraphs(argparse.Namespace(**{**vars(tiny_iam_args), "line_pitch": 24}))
    half.prepare_data()
    half.setup()
    assert half.config()["line_pitch"] == 24
    assert tuple(half.data_val[0][0].shape[1:]) == pytest.approx(tuple(s / 2 for s in data.data_val[0][0].shape[1:]), abs=1)


@pytest.mark.parametrize("own_writers", [False, True])
def test_validation_lines_train_only_when_validation_has_no_writers_of_its_own(own_writers, monkeypatch):
    """The archive's val is a slice of the training writers (their lines train, as in the reference); the
    offline source's val writers write in families no training writer uses, and their lines stay out."""
    from types import SimpleNamespace

    from text_recognizer.data import iam_synthetic_paragraphs

    used = []
    monkeypatch.setattr(iam_synthetic_paragraphs, "line_crops", lambda iam, ids, *args, **kwargs: used.extend(ids))
    data = IAMSyntheticParagraphs(argparse.Namespace(iam_source="rendered", iam_rendered_fonts="pypi"))
    data.iam = SimpleNamespace(train_ids=["t1", "t2"], val_ids=["v1"], val_has_own_writers=own_writers)
    data.crops_by_split()
    assert used == (["t1", "t2"] if own_writers else ["t1", "t2", "v1"])
