"""Content-sized batches: the bucket sampler (sizes, curriculum, epochs, ranks), padding, the curriculum flag."""
import doctest

import numpy as np
import pytest
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from text_recognizer.data import batching
from text_recognizer.data.batching import BatchedDataset, BucketSampler, Curriculum, dataset_shapes
from text_recognizer.stems import paragraph


class Shaped(Dataset):
    """Samples whose image is (1, height, width) of ones and whose label is the index."""

    def __init__(self, shapes):
        self.shapes = np.asarray(shapes)

    def __len__(self):
        return len(self.shapes)

    def __getitem__(self, index):
        height, width, _ = self.shapes[index]
        return torch.ones(1, height, width), torch.tensor([index])

    def sample_shapes(self):
        return self.shapes


def random_shapes(n, seed=0):
    rng = np.random.default_rng(seed)
    lines = rng.integers(1, 6, n)
    return np.stack([lines * 40 + rng.integers(0, 20, n), rng.integers(100, 640, n), lines], axis=1)


def test_doctests_pass():
    assert doctest.testmod(batching).failed == 0
    assert doctest.testmod(paragraph).failed == 0


def test_curriculum_flag_errors_say_the_format():
    with pytest.raises(ValueError, match="epoch:lines"):
        Curriculum.parse("0:1,two:3")
    with pytest.raises(ValueError, match=">= 1"):
        Curriculum.parse("0:0")
    with pytest.raises(ValueError, match="max >= its min"):
        Curriculum.parse("0:4-2")
    with pytest.raises(ValueError, match="epoch:min-max"):
        Curriculum.parse("0:a-3")
    assert repr(Curriculum.parse("0:1,3:3-all,5:2-6")) == "0:1,3:3-all,5:2-6"


def test_evaluation_sees_every_sample_once_in_batches_of_similar_height():
    dataset = Shaped(random_shapes(100))
    sampler = BucketSampler(dataset, batch_size=8, shuffle=False, curriculum=Curriculum.parse("0:1"))
    batches = list(sampler)
    assert len(batches) == len(sampler) == 13
    assert sorted(i for batch in batches for i in batch) == list(range(100))  # no curriculum in evaluation
    heights = dataset.shapes[:, 0]
    spread = np.mean([np.ptp(heights[batch]) for batch in batches])
    assert spread < 0.25 * np.ptp(heights)  # sorted by size: padding is small
    assert batches == list(BucketSampler(dataset, batch_size=8, shuffle=False))  # the same order every epoch


def test_training_epochs_are_seeded_fixed_in_length_and_follow_the_curriculum():
    dataset = Shaped(random_shapes(200))
    curriculum = Curriculum.parse("0:1,2:3,3:all,4:3-all")
    sampler = BucketSampler(dataset, batch_size=16, seed=5, curriculum=curriculum, samples_per_epoch=100)
    lines = dataset.shapes[:, 2]
    seen = {}
    for epoch in range(5):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler) == 7 and sum(map(len, batches)) == 100
        seen[epoch] = [i for batch in batches for i in batch]
        floor, cap = curriculum.line_range(epoch)
        assert floor <= lines[seen[epoch]].min() and lines[seen[epoch]].max() <= (cap or 5)
    assert lines[seen[3]].max() == 5 and lines[seen[3]].min() == 1 and seen[0] != seen[1]
    assert lines[seen[4]].min() == 3  # the floor: no short samples late
    again = BucketSampler(dataset, batch_size=16, seed=5, curriculum=curriculum, samples_per_epoch=100)
    again.set_epoch(2)
    assert [i for batch in again for i in batch] == seen[2]  # the same seed and epoch, the same batches


@pytest.mark.parametrize("replicas", [2, 3])
def test_ranks_get_the_same_number_of_batches_and_share_out_the_epoch(replicas):
    dataset = Shaped(random_shapes(101))
    samplers = [BucketSampler(dataset, batch_size=8, seed=1, num_replicas=replicas, rank=r) for r in range(replicas)]
    for sampler in samplers:
        sampler.set_epoch(3)
    per_rank = [list(sampler) for sampler in samplers]
    assert len({len(batches) for batches in per_rank}) == 1 and len(per_rank[0]) == len(samplers[0])
    everything = [i for batches in per_rank for batch in batches for i in batch]
    assert set(everything) == set(range(101))


def test_concatenated_datasets_are_looked_through():
    first, second = Shaped(random_shapes(5)), Shaped(random_shapes(7, seed=1))
    shapes = dataset_shapes(ConcatDataset([first, second]))
    assert np.array_equal(shapes, np.concatenate([first.shapes, second.shapes]))
    assert dataset_shapes(ConcatDataset([first, torch.utils.data.TensorDataset(torch.zeros(3))])) is None


def test_loader_pads_each_batch_to_its_largest_image_rounded_to_32():
    dataset = Shaped([(50, 300, 1), (70, 500, 1), (40, 90, 1)])
    loader = DataLoader(BatchedDataset(dataset), sampler=BucketSampler(dataset, 3, shuffle=False), batch_size=None)
    x, y = next(iter(loader))
    assert tuple(x.shape) == (3, 1, 96, 512)
    for row, index in enumerate(y[:, 0].tolist()):
        height, width, _ = dataset.shapes[index]
        assert x[row, 0, :height, :width].min() == 1 and x[row].sum() == height * width  # top-left, black elsewhere


def test_a_curriculum_no_sample_fits_falls_back_to_everything_with_a_warning():
    dataset = Shaped([(80, 300, 3), (90, 300, 4)])  # paragraphs only, no single line
    sampler = BucketSampler(dataset, batch_size=2, curriculum=Curriculum.parse("0:1"), samples_per_epoch=2)
    with pytest.warns(UserWarning, match="no sample has that many"):
        assert sorted(i for batch in sampler for i in batch) == [0, 1]
