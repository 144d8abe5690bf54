"""Per-client-address rate limit for anonymous callers (token bucket, in memory, per process).

The client address is the ASGI peer address: behind a reverse proxy, configure the proxy to
rate-limit, or run modelreg where the peer address is the caller's. Over the limit: 429 with
Retry-After (the official client waits for it and retries).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict

from litestar.exceptions import HTTPException

__all__ = ["RateLimited", "RateLimiter"]


class RateLimited(HTTPException):
    status_code = 429


class RateLimiter:
    def __init__(self, requests: int, per_seconds: float, max_clients: int = 100_000) -> None:
        self.capacity = float(requests)
        self.rate = requests / per_seconds
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._max_clients = max_clients

    def check(self, client: str) -> None:
        if self.capacity <= 0:
            return
        now = time.monotonic()
        tokens, stamp = self._buckets.pop(client, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - stamp) * self.rate)
        if tokens < 1:
            self._buckets[client] = (tokens, now)
            wait = max(1, math.ceil((1 - tokens) / self.rate))
            raise RateLimited(
                detail=f"Request was throttled. Expected available in {wait} seconds.",
                headers={"Retry-After": str(wait)},
            )
        self._buckets[client] = (tokens - 1, now)
        while len(self._buckets) > self._max_clients:
            self._buckets.popitem(last=False)
