"""The catalog page's URL <-> the filter language of `POST /api/models/list/`.

The page never filters by itself: its query string is translated into the same `filters` object an API
client would send, and handed to the same listing service. The page shows that object (and a curl
command), so a shared link and an API call give the same models in the same order.

| URL parameter  | filter                                                    |
|----------------|-----------------------------------------------------------|
| q              | model_name icontains q                                    |
| provider (any) | provider_id equals any of the values                      |
| type           | model_type equals                                         |
| vision / tools / streaming = 1 | image_support / function_call / streaming_support = 1 |
| min_context    | max_context_window gte                                    |
| max_input / max_output | input_cost / output_cost lte (USD per 1M tokens)  |
| kind           | builtin / custom: is_managed true / false                 |
| state          | active / inactive: is_active true / false (inactive models are visible to their writers only) |
| sort           | sort_by (a column, `-` for descending)                    |
| page, per      | page, page_size (20-100)                                  |
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

import msgspec

__all__ = ["SORTABLE", "CatalogQuery", "parse_query"]

PAGE_SIZES = (20, 50, 100)
SORTABLE = {
    "model_name": "Name",
    "provider_id": "Provider",
    "model_type": "Type",
    "max_context_window": "Context",
    "input_cost": "Input $/1M",
    "output_cost": "Output $/1M",
    "average_tps": "Tokens/s",
    "average_ttft": "TTFT s",
    "average_latency": "Latency s",
}
_FLAGS = {"vision": "image_support", "tools": "function_call", "streaming": "streaming_support"}
_NUMBERS = {"min_context": "max_context_window", "max_input": "input_cost", "max_output": "output_cost"}
_OPERATORS = {"min_context": "gte", "max_input": "lte", "max_output": "lte"}


class CatalogQuery(msgspec.Struct, kw_only=True):
    q: str = ""
    providers: list[str] = msgspec.field(default_factory=list)
    model_type: str = ""
    flags: list[str] = msgspec.field(default_factory=list)
    numbers: dict[str, str] = msgspec.field(default_factory=dict)
    """As typed (shown back in the form); only valid ones become filters."""
    kind: str = ""
    state: str = ""
    sort: str = "model_name"
    page: int = 1
    per: int = 50
    errors: dict[str, str] = msgspec.field(default_factory=dict)

    def filters(self) -> dict[str, Any]:
        """The `filters` object of POST /api/models/list/ for this view."""
        result: dict[str, Any] = {}
        if self.q:
            result["model_name"] = {"operator": "icontains", "value": self.q}
        if self.providers:
            result["provider_id"] = {"operator": "", "value": list(self.providers)}
        if self.model_type:
            result["model_type"] = {"operator": "", "value": [self.model_type]}
        for flag in self.flags:
            result[_FLAGS[flag]] = {"operator": "", "value": [1]}
        for key, text in self.numbers.items():
            if key not in self.errors:
                result[_NUMBERS[key]] = {"operator": _OPERATORS[key], "value": float(text)}
        if self.kind:
            result["is_managed"] = {"operator": "", "value": [self.kind == "builtin"]}
        if self.state:
            result["is_active"] = {"operator": "", "value": [self.state == "active"]}
        return result

    def params(self, **changes: Any) -> list[tuple[str, str]]:
        values: dict[str, Any] = {
            "q": self.q,
            "provider": self.providers,
            "type": self.model_type,
            **dict.fromkeys(self.flags, "1"),
            **self.numbers,
            "kind": self.kind,
            "state": self.state,
            "sort": self.sort if self.sort != "model_name" else "",
            "page": str(self.page) if self.page != 1 else "",
            "per": str(self.per) if self.per != 50 else "",
        }
        values.update(changes)
        pairs: list[tuple[str, str]] = []
        for key, value in values.items():
            for item in value if isinstance(value, list) else [value]:
                if item not in ("", None):
                    pairs.append((key, str(item)))
        return pairs

    def link(self, **changes: Any) -> str:
        """This view with some parameters changed (page resets unless given)."""
        changes.setdefault("page", "")
        query = urlencode(self.params(**changes))
        return "/ui/" + (f"?{query}" if query else "")

    def sort_link(self, field: str) -> str:
        descending = self.sort == field
        return self.link(sort=f"-{field}" if descending else field)

    def without_provider(self, provider: str) -> str:
        return self.link(provider=[p for p in self.providers if p != provider])

    def with_provider(self, provider: str) -> str:
        return self.link(provider=[*self.providers, provider] if provider not in self.providers else self.providers)

    @property
    def api_body(self) -> str:
        return msgspec.json.encode({"filters": self.filters()}).decode()

    @property
    def api_query(self) -> str:
        return urlencode({"page": self.page, "page_size": self.per, "sort_by": self.sort})


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def parse_query(params: Any) -> CatalogQuery:
    """Never fails: a bad value is kept as typed, reported beside its field, and left out of the filters."""
    query = CatalogQuery()
    errors: dict[str, str] = {}
    query.q = params.get("q", "").strip()[:200]
    query.providers = [p for p in params.getall("provider", []) if p][:50]
    query.model_type = params.get("type", "").strip()[:50]
    query.flags = [flag for flag in _FLAGS if params.get(flag) in ("1", "on", "true")]
    for key in _NUMBERS:
        text = params.get(key, "").strip()[:50]
        if text:
            query.numbers[key] = text
            if _number(text) is None:
                errors[key] = "Enter a number of at least 0."
    kind = params.get("kind", "")
    query.kind = kind if kind in ("builtin", "custom") else ""
    state = params.get("state", "")
    query.state = state if state in ("active", "inactive") else ""
    sort = params.get("sort", "model_name")
    query.sort = sort if sort.lstrip("-") in SORTABLE else "model_name"
    try:
        query.page = max(1, min(int(params.get("page", "1")), 100_000))
    except ValueError:
        query.page = 1
    try:
        per = int(params.get("per", "50"))
    except ValueError:
        per = 50
    query.per = per if per in PAGE_SIZES else 50
    query.errors = errors
    return query
