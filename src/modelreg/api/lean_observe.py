"""What Litestar's layers do around a request, for the lean paths in front of it (api/openai/lean.py,
api/respan/lean.py): the request id (api/request_id.py), the request metrics (api/metrics.py) and the access log.
One copy, so the two lean paths cannot drift from each other or from the middleware they stand in for."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from modelreg.api.metrics import RequestMetrics
from modelreg.api.request_id import access_log
from modelreg.logs import REQUEST_ID
from modelreg.services.audit import request_id_from

__all__ = ["Observed", "Observer"]


class Observed:
    """One request: its id header (to send) and the status the lean path sent (500 until it says)."""

    __slots__ = ("request_id", "status")

    def __init__(self, request_id: tuple[bytes, bytes]) -> None:
        self.request_id = request_id
        self.status = 500


class Observer:
    def __init__(self, *, metrics: bool, access_log: bool) -> None:
        self._metrics = RequestMetrics() if metrics else None
        self._access_log = access_log

    @contextmanager
    def request(self, method: str, label: str, path: str, incoming_id: str | None) -> Iterator[Observed]:
        """`label`: the route as the metrics name it (a path template); `path`: as the access log names it."""
        metrics, started = self._metrics, time.perf_counter()
        request_id = request_id_from(incoming_id)
        token = REQUEST_ID.set(request_id)
        if metrics is not None:
            metrics.started(method, label)
        observed = Observed((b"x-request-id", request_id.encode()))
        try:
            yield observed
        finally:
            seconds = time.perf_counter() - started
            if metrics is not None:
                metrics.finished(method, label, observed.status, seconds)
            if self._access_log:
                duration_ms = round(seconds * 1000, 2)
                extra = {"method": method, "path": path, "status": observed.status, "duration_ms": duration_ms}
                access_log.info("request", extra=extra)
            REQUEST_ID.reset(token)
