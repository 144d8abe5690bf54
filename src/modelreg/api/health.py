"""Liveness and readiness, for load balancers and orchestrators.

- `GET /healthz` (liveness): the process serves HTTP. Always 200 while it runs; restart it only if this fails.
- `GET /readyz` (readiness): 200 when the database answers within READY_TIMEOUT_SECONDS, its schema is at
  this version's newest migration and the catalog is loaded; else 503 (with Retry-After) and which check
  failed. Take the instance out of rotation while it is 503; it may still answer reads from memory.
Both are anonymous and say nothing secret (no URLs, no error texts, only the fault's kind).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec
from litestar import Request, Response, get

from modelreg.api import unavailable
from modelreg.api.common import registry
from modelreg.store.faults import fault_kind
from modelreg.store.migrate import current_heads, expected_heads

__all__ = ["Check", "Health", "Readiness", "healthz", "readyz"]

READY_TIMEOUT_SECONDS = 2.0


class Health(msgspec.Struct):
    status: str


class Check(msgspec.Struct):
    ok: bool
    detail: str


class Readiness(msgspec.Struct):
    status: str
    """"ready" or "not ready"."""
    checks: dict[str, Check]


@get("/healthz")
async def healthz() -> Health:
    return Health(status="ok")


@get("/readyz")
async def readyz(request: Request[Any, Any, Any]) -> Response[Readiness]:
    reg = registry(request)
    checks: dict[str, Check] = {}
    started = time.perf_counter()
    try:
        async with reg.db.read(probe=True) as session, asyncio.timeout(READY_TIMEOUT_SECONDS):
            # The timeout inside the transaction: the fault is recorded like any other (store/faults.py).
            connection = await session.connection()
            heads = await connection.run_sync(current_heads)
    except Exception as error:  # noqa: BLE001 - readiness answers whatever went wrong
        kind = fault_kind(error) or type(error).__name__
        checks["database"] = Check(ok=False, detail=f"not answering ({kind})")
        checks["migrations"] = Check(ok=False, detail="unknown: the database did not answer")
    else:
        checks["database"] = Check(ok=True, detail=f"answered in {(time.perf_counter() - started) * 1000:.0f} ms")
        wanted = expected_heads(reg.db.url)
        checks["migrations"] = Check(
            ok=heads == wanted,
            detail="at the newest migration" if heads == wanted else f"at {sorted(heads)}, needs {sorted(wanted)}",
        )
    models = len(reg.index.catalog.models)
    checks["catalog"] = Check(ok=models > 0, detail=f"{models} built-in models loaded")
    ready = all(check.ok for check in checks.values())
    return Response(
        Readiness(status="ready" if ready else "not ready", checks=checks),
        status_code=200 if ready else 503,
        headers=None if ready else unavailable.retry_headers(),
    )
