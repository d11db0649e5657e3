"""The server's batcher groups requests by the size they are read at, pages and line models' lists of lines alike."""
import asyncio

import numpy as np

from text_recognizer.api_server.batching import Batcher, batch_size_of


def test_a_page_read_by_lines_is_grouped_by_its_lines_padded_together():
    page = np.zeros((1, 100, 300), dtype=np.float32)
    lines = [np.zeros((1, 30, 250), dtype=np.float32), np.zeros((1, 40, 90), dtype=np.float32)]
    assert batch_size_of(page) == (128, 320)
    assert batch_size_of(lines) == (64, 256)  # the tallest and the widest line, rounded up to 32


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
