"""uvicorn's HTTP/1.1 protocol (h11) with a deadline for a request's headers.

uvicorn (0.54) bounds how long a kept-alive connection may sit idle after an answer (timeout_keep_alive,
5 s) and how large the headers may grow (h11_max_incomplete_event_size, 16 kB), but not how long a
fresh connection may take to send them: 40 connections that sent nothing stayed open 90 s and more
(issue 35), and one that sends a header byte every few seconds would stay for ever, each holding a
socket and a file descriptor. Here every connection must deliver a request's headers whole within the
app's Settings.header_deadline_s of opening, or of the answer to its previous request; else it is
closed. The body has its own deadline in the app (Settings.body_deadline_s, 408).

Run with `uvicorn.Config(..., http=HeaderDeadlineProtocol)` (python -m text_recognizer.api_server does). The
deadline comes from the app's lifespan state (app.HEADER_DEADLINE_STATE), so every worker process uses
its own app's settings; an app that does not say gets DEFAULT_HEADER_DEADLINE_S.
"""
from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from text_recognizer.api_server.app import HEADER_DEADLINE_STATE, Settings

DEFAULT_HEADER_DEADLINE_S = Settings.header_deadline_s


class HeaderDeadlineProtocol(H11Protocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:  # a request's headers arrived whole: its cycle began
            self._disarm()

    def on_response_complete(self) -> None:
        self._arm()  # the next request on this connection has as long; before super(), which may start a
        super().on_response_complete()  # pipelined request's cycle at once (and so disarm)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        seconds = float(self.app_state.get(HEADER_DEADLINE_STATE, DEFAULT_HEADER_DEADLINE_S))
        self._header_timer = self.loop.call_later(seconds, self._deadline_passed)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _deadline_passed(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()
