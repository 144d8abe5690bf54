"""Prometheus metrics (prometheus-client): what the request path counts, and what is read at scrape time.

Counted as it happens (cheap: a label lookup and an addition): gateway calls by provider and outcome, their
latency, cache reloads. Read only when /metrics is scraped (StateCollector): the meter's pending buckets
and flush age, database faults by kind, whether the database answers, the catalog's version and size.
HTTP requests by route template, method and status, with latency histograms, come from Litestar's
Prometheus middleware (api/metrics.py). Figures are per process: scrape every worker (run one worker
per container, or one replica per worker).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from modelreg.registry import Registry

__all__ = ["CACHE_RELOADS", "GATEWAY_CALLS", "GATEWAY_LATENCY", "StateCollector"]

GATEWAY_CALLS = Counter(
    "modelreg_gateway_calls_total", "Gateway calls by provider and outcome.", ["provider", "outcome"]
)
GATEWAY_LATENCY = Histogram(
    "modelreg_gateway_upstream_seconds",
    "Gateway call latency (request to last byte from the upstream), by provider.",
    ["provider"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
CACHE_RELOADS = Counter(
    "modelreg_cache_reloads_total",
    "In-memory caches dropped because another process changed what they hold.",
    ["cache"],
)


class StateCollector(Collector):
    def __init__(self, registry: Registry) -> None:
        self._reg = registry

    def collect(self) -> Iterator[Metric]:
        reg = self._reg
        meter = reg.meter
        yield GaugeMetricFamily(
            "modelreg_meter_pending_buckets", "Per-minute sums not written yet.", value=meter.pending_buckets
        )
        yield GaugeMetricFamily(
            "modelreg_meter_flush_age_seconds",
            "Seconds since the meter last wrote its sums (or found nothing to write).",
            value=time.monotonic() - meter.last_flush_at,
        )
        yield GaugeMetricFamily(
            "modelreg_meter_dropped_calls", "Calls not recorded since the last flush (pending sums full).",
            value=meter.dropped_calls,
        )  # fmt: skip
        health = reg.db.health
        yield GaugeMetricFamily("modelreg_database_up", "1 while the database answers.", value=0 if health.down else 1)
        faults = CounterMetricFamily("modelreg_database_faults", "Database faults by kind.", labels=["kind"])
        for kind, count in sorted(health.counts.items()):
            faults.add_metric([kind], count)
        yield faults
        yield GaugeMetricFamily(
            "modelreg_catalog_version",
            "Id of the installed catalog in force (catalog history); 0 for the catalog shipped in the package.",
            value=reg.catalog_version,
        )
        sync = reg.catalog_sync
        yield GaugeMetricFamily(
            "modelreg_catalog_sync_last_success_timestamp_seconds",
            "Unix time of the last scheduled catalog sync that succeeded (0: none yet or sync off).",
            value=sync.last_success or 0,
        )
        yield CounterMetricFamily(
            "modelreg_catalog_sync_failures", "Scheduled catalog syncs that failed (nothing changed).",
            value=sync.failures,
        )  # fmt: skip
        yield GaugeMetricFamily(
            "modelreg_catalog_models", "Built-in models in the catalog served.", value=len(reg.index.catalog.models)
        )
