"""Functional checks before any load: the seeded models resolve correctly through the real API, and
every benchmarked request answers 200 with what it should. A benchmark of wrong answers is worthless."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from typing import Any

from bench.seed import Probe
from bench.servers import BenchError
from bench.wrk import Request

__all__ = ["fetch", "verify_all_models", "verify_filtered_list", "verify_probes"]


def fetch(base_url: str, request: Request, headers: dict[str, str]) -> bytes:
    """One request to our 127.0.0.1 server; the body, or BenchError unless the status is 200."""
    if not base_url.startswith("http://127.0.0.1:"):
        raise BenchError(f"refusing to send a request anywhere but 127.0.0.1: {base_url}")
    data = request.body.encode() if request.body is not None else None
    url = base_url + request.path
    outgoing = urllib.request.Request(url, data=data, method=request.method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(outgoing, timeout=30) as response:  # noqa: S310 (127.0.0.1 only)
            return bytes(response.read())
    except urllib.error.HTTPError as exc:
        raise BenchError(f"{request.method} {request.path} answered {exc.code}: {exc.read()[:500]!r}") from None


def _field(model: dict[str, Any], name: str) -> Any:
    if name == "provider_id":
        return (model.get("provider") or {}).get("provider_id")
    return model.get(name)


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, float) and isinstance(actual, int | float):
        return math.isclose(expected, actual)
    return bool(expected == actual)


def verify_probes(base_url: str, headers: dict[str, str], probes: list[Probe], path_of: dict[str, str]) -> None:
    for probe in probes:
        model = json.loads(fetch(base_url, Request("GET", path_of[probe.model_name]), headers))
        wrong = {
            name: (want, _field(model, name))
            for name, want in probe.expected.items()
            if not _same(want, _field(model, name))
        }
        if model.get("model_name") != probe.model_name or wrong:
            raise BenchError(f"seeded model {probe.model_name} resolves wrongly: (expected, got) {wrong}")


def verify_filtered_list(
    base_url: str, headers: dict[str, str], request: Request, threshold: float, page_size: int
) -> int:
    """The filtered page is full and every result matches the filter; returns the total count."""
    page = json.loads(fetch(base_url, request, headers))
    results = page.get("results", [])
    if len(results) != page_size:
        raise BenchError(f"filtered list returned {len(results)} results, expected a full page of {page_size}")
    bad = [
        m["model_name"]
        for m in results
        if m.get("model_type") != "chat" or m.get("input_cost") is None or m["input_cost"] >= threshold
    ]
    if bad:
        raise BenchError(f"filtered list returned models that do not match the filter: {bad[:5]}")
    return int(page["count"])


def verify_all_models(base_url: str, headers: dict[str, str], request: Request, expected: int) -> int:
    """GET /api/models/ returns every visible model; returns the response size in bytes."""
    body = fetch(base_url, request, headers)
    count = len(json.loads(body))
    if count != expected:
        raise BenchError(f"GET /api/models/ returned {count} models, expected {expected}")
    return len(body)
