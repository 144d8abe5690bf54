"""The set-based prefilter must select exactly the rows the predicate does, for every flat AND it accepts."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from modelreg.catalog.load import Catalog
from modelreg.filters.evaluate import compile_predicate
from modelreg.filters.fields import filter_row
from modelreg.filters.parse import parse_filters
from modelreg.filters.prefilter import RowIndex, flat_conditions

NUMBER_FIELDS = ("input_cost", "output_cost", "max_context_window", "cache_hit_input_cost")
OPS = ("lt", "lte", "gt", "gte")


def _rows(catalog: Catalog) -> list[dict[str, Any]]:
    rows = [filter_row(m, available=i % 3 == 0) for i, m in enumerate(catalog.models.values())]
    base = datetime(2026, 1, 1, tzinfo=UTC)
    for i, row in enumerate(rows[:500]):  # some datetimes, some nulls
        row["created_at"] = base + timedelta(hours=i) if i % 4 else None
    return rows


def _random_filters(rng: random.Random, rows: list[dict[str, Any]]) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(("number", "type", "flag", "bool", "date", "null"))
        if kind == "number":
            field = rng.choice(NUMBER_FIELDS)
            sample = rng.choice([r[field] for r in rows if r[field] is not None])
            filters[field] = {"operator": rng.choice(OPS), "value": [sample]}
        elif kind == "type":
            filters["model_type"] = {"operator": "in", "value": rng.sample(["chat", "embedding", "speech", "x"], 2)}
        elif kind == "flag":
            filters["image_support"] = {"operator": "", "value": [rng.choice([0, 1])]}
        elif kind == "bool":
            filters["available_to_user"] = {"operator": "eq", "value": [rng.choice([True, False])]}
        elif kind == "date":
            filters["created_at"] = {"operator": rng.choice(OPS), "value": ["2026-01-05T00:00:00Z"]}
        else:
            filters["cache_creation_input_cost"] = {"operator": "", "value": [None, 3.75]}
    return filters


def test_prefilter_equals_predicate(catalog: Catalog) -> None:
    rows = _rows(catalog)
    index = RowIndex(rows)
    rng = random.Random(20261201)
    checked = 0
    for _ in range(300):
        tree = parse_filters(_random_filters(rng, rows))
        flat = flat_conditions(tree)
        assert flat is not None
        predicate = compile_predicate(tree)
        expected = {i for i, row in enumerate(rows) if predicate(row)}
        assert index.select(flat) == expected, tree
        checked += bool(expected)
    assert checked > 100  # the cases are not all empty


def test_shapes_it_declines() -> None:
    declined = [
        {"model_name": {"operator": "icontains", "value": ["gpt"]}},
        {
            "input_cost": {"operator": "lt", "value": [1]},
            "output_cost": {"operator": "gt", "value": [1], "connector": "OR"},
        },
        {"b": {"filter_params": {"input_cost": {"operator": "lt", "value": [1]}}}},
        {"model_type": {"operator": "not", "value": ["chat"]}},
        {"input_cost": {"operator": "isnull", "value": [True]}},
    ]
    for raw in declined:
        assert flat_conditions(parse_filters(raw)) is None, raw
    assert flat_conditions(parse_filters({})) is None
