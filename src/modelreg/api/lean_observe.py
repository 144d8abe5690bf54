"""What Litestar's layers do around a request, for the lean paths in front of it (api/openai/lean.py,
api/respan/lean.py): the request id (api/request_id.py), the request metrics (api/metrics.py) and the access log.
One copy, so the two lean paths cannot drift from each other or from the middleware they stand in for."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import Token

from modelreg.api.metrics import RequestMetrics
from modelreg.api.request_id import access_log
from modelreg.logs import REQUEST_ID
from modelreg.services.audit import request_id_from

__all__ = ["Observed", "Observer"]


class Observed:
    """One request: its id header (to send) and the status the lean path sent (500 until it says)."""

    __slots__ = ("label", "method", "path", "request_id", "started", "status", "token")

    def __init__(
        self,
        method: str,
        label: str,
        path: str,
        request_id: tuple[bytes, bytes],
        token: Token[str | None],
        started: float,
    ) -> None:
        self.method, self.label, self.path = method, label, path
        self.request_id, self.token, self.started = request_id, token, started
        self.status = 500


class Observer:
    def __init__(self, *, metrics: bool, access_log: bool) -> None:
        self._metrics = RequestMetrics() if metrics else None
        self._access_log = access_log

    def start(self, method: str, label: str, path: str, incoming_id: str | None) -> Observed:
        """`label`: the route as the metrics name it (a path template); `path`: as the access log names it.
        Every `start` is followed by one `finish` (in a `finally`); the gateway's hot path calls the two
        itself rather than through `request` (a generator-based context manager costs a few µs per call)."""
        started = time.perf_counter()
        request_id = request_id_from(incoming_id)
        token = REQUEST_ID.set(request_id)
        if self._metrics is not None:
            self._metrics.started(method, label)
        return Observed(method, label, path, (b"x-request-id", request_id.encode()), token, started)

    def finish(self, observed: Observed) -> None:
        seconds = time.perf_counter() - observed.started
        if self._metrics is not None:
            self._metrics.finished(observed.method, observed.label, observed.status, seconds)
        if self._access_log:
            duration_ms = round(seconds * 1000, 2)
            extra = {
                "method": observed.method,
                "path": observed.path,
                "status": observed.status,
                "duration_ms": duration_ms,
            }
            access_log.info("request", extra=extra)
        REQUEST_ID.reset(observed.token)

    @contextmanager
    def request(self, method: str, label: str, path: str, incoming_id: str | None) -> Iterator[Observed]:
        """`start` and `finish` around a block."""
        observed = self.start(method, label, path, incoming_id)
        try:
            yield observed
        finally:
            self.finish(observed)
