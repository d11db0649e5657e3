"""The server's batcher reads requests that arrive together as one batch, pages and line models' lists of lines alike."""
import asyncio

import numpy as np

from text_recognizer.api_server.batching import Batcher


def test_requests_of_any_size_share_a_batch():
    """Batching changes no answer (tests/test_batch_independence.py), so pages of different sizes, which
    rarely share a padded size, are read together rather than one model call each."""
    seen = []

    def predict(images):
        seen.append(len(images))
        return [image.shape for image in images]

    async def scenario():
        batcher = Batcher(predict, max_batch=4, window_s=0.2, max_in_flight=8)
        await batcher.start()
        pages = [np.zeros((1, height, 300), dtype=np.float32) for height in (100, 200, 300)]
        try:
            return await asyncio.wait_for(asyncio.gather(*(batcher.submit(page) for page in pages)), 10)
        finally:
            await batcher.stop()

    assert [shape[1] for shape in asyncio.run(scenario())] == [100, 200, 300]
    assert seen == [3]


def test_the_batcher_answers_requests_of_a_line_model():
    """A line model's preprocessed page is a list of line arrays: the batcher once failed on it (no .shape)
    and every request waited forever."""
    seen = []

    def predict(images):
        seen.append(len(images))
        return [f"{len(image)} lines" for image in images]

    async def scenario():
        batcher = Batcher(predict, max_batch=4, window_s=0.05, max_in_flight=8)
        await batcher.start()
        pages = [[np.zeros((1, 30, 250), dtype=np.float32)] * count for count in (1, 2, 3)]
        try:
            return await asyncio.wait_for(asyncio.gather(*(batcher.submit(page) for page in pages)), 10)
        finally:
            await batcher.stop()

    assert asyncio.run(scenario()) == ["1 lines", "2 lines", "3 lines"]
    assert sum(seen) == 3
