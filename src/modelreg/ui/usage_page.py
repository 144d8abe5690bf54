"""The organization's usage (admins, like `GET /api/usage/`): requests, tokens and cost per day and per
model over a window, as tables, a chart, and a CSV download. Same service as the API."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

from litestar import Request, Response, get
from litestar.response import Template

from modelreg.api.common import registry
from modelreg.domain.org_access import require
from modelreg.domain.principal import Principal
from modelreg.services.usage_reports import OrganizationUsage, Window, iso, parse_window
from modelreg.ui.charts import svg_chart
from modelreg.ui.web import page, signed_in

__all__ = ["usage_handlers"]

AnyRequest = Request[Any, Any, Any]
WINDOW_DAYS = (1, 7, 30, 90)


async def _usage(request: AnyRequest) -> tuple[Principal, int, Window, OrganizationUsage]:
    principal = require(await signed_in(request), "read_usage")
    try:
        days = int(request.query_params.get("days", "30"))
    except ValueError:
        days = 30
    days = days if days in WINDOW_DAYS else 30
    now = time.time()
    window = parse_window(now - days * 86400, now, "day")
    usage = await registry(request).usage_reports.organization_usage(principal.organization_id, window)
    return principal, days, window, usage


@get("/ui/usage", include_in_schema=False)
async def usage_page(request: AnyRequest) -> Template:
    principal, days, window, usage = await _usage(request)
    per_day: dict[int, list[float]] = {start: [0.0, 0.0] for start in window.buckets()}
    for day, _, totals in usage.days:
        entry = per_day.setdefault(day, [0.0, 0.0])
        entry[0] += totals.requests
        entry[1] += totals.cost
    ordered = sorted(per_day.items())
    return page(
        request,
        "usage.html",
        principal,
        title="Usage",
        days=days,
        windows=WINDOW_DAYS,
        usage=usage,
        models=sorted(usage.per_model.items(), key=lambda item: (-item[1].cost, item[0])),
        day_rows=[(iso(day)[:10], name, totals) for day, name, totals in usage.days],
        requests_chart=svg_chart("Requests per day", [(d, v[0]) for d, v in ordered], bars=True),
        cost_chart=svg_chart("Cost per day (USD)", [(d, v[1]) for d, v in ordered], bars=True),
        start=iso(window.start),
        end=iso(window.end),
    )


@get("/ui/usage.csv", include_in_schema=False)
async def usage_csv(request: AnyRequest) -> Response[str]:
    _, days, _, usage = await _usage(request)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["date", "model", "requests", "failed_requests", "prompt_tokens", "completion_tokens", "cost_usd", "unpriced"]
    )
    for day, name, t in usage.days:
        failed = t.upstream_failures + t.gateway_failures
        cost = f"{t.cost:.6f}"
        writer.writerow(
            [iso(day)[:10], name, t.requests, failed, t.prompt_tokens, t.completion_tokens, cost, t.unpriced]
        )
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="modelreg-usage-{days}d.csv"'},
    )


usage_handlers = [usage_page, usage_csv]
