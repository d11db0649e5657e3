"""Requests that arrive together are read as one batch; the number in flight is bounded.

A request waits at most `window_s` for others to join it (up to `max_batch`); the batch is read on
one worker thread, so the model never runs twice at once. Images of any size share a batch: the
recognizer reads each on its own region of the padded batch, so batching never changes an answer
(issue 34; the batcher used to run each padded size as a batch of its own, and distinct pages rarely
share one). When
`max_in_flight` requests are already being served, a new one is refused at once (the API answers 503)
instead of waiting in an unbounded queue.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any


class Overloaded(RuntimeError):
    """Too many requests in flight."""


class Batcher:
    def __init__(
        self, predict: Callable[[Sequence[Any]], list[Any]], max_batch: int, window_s: float, max_in_flight: int
    ) -> None:
        self.predict, self.max_batch, self.window_s, self.max_in_flight = predict, max_batch, window_s, max_in_flight
        self.in_flight = 0
        self.batches_run = 0  # for the tests and /healthz: how many model calls were made
        self._queue: asyncio.Queue[tuple[Any, asyncio.Future[Any]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")

    def acquire(self) -> None:
        """Take a place in flight, or raise Overloaded; release() gives it back."""
        if self.in_flight >= self.max_in_flight:
            raise Overloaded(f"{self.in_flight} requests in flight, the limit is {self.max_in_flight}; retry shortly")
        self.in_flight += 1

    def release(self) -> None:
        self.in_flight -= 1

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def submit(self, image: Any) -> Any:
        """The prediction for one preprocessed image, read in a batch with whatever arrives with it."""
        assert self._queue is not None, "Batcher.start() was not awaited"
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self._queue.put((image, future))
        return await future

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + self.window_s
            while len(batch) < self.max_batch and (remaining := deadline - loop.time()) > 0:
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                except TimeoutError:
                    break
            await self._run_group(loop, batch)

    async def _run_group(self, loop: asyncio.AbstractEventLoop, group: list[tuple[Any, asyncio.Future[Any]]]) -> None:
        try:
            predictions = await loop.run_in_executor(self._executor, self.predict, [image for image, _ in group])
            self.batches_run += 1
        except Exception as error:  # the requests fail; the batcher goes on serving
            for _, future in group:
                if not future.done():
                    future.set_exception(error)
            return
        for (_, future), prediction in zip(group, predictions):
            if not future.done():  # a client that went away leaves a cancelled future
                future.set_result(prediction)
