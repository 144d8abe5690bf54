"""The filter language: parse() unit tests, and the memory path vs the SQL path over one seeded organization.

The equivalence half seeds ~45 varied custom models once per backend, on a database of its own (so
conftest's per-test wipe of the shared test database cannot touch it), then runs every filter case
through two apps over that database: one answering from the in-memory index, one forced onto SQL
(`memory_index_max_models=0`). Both must return the same names in the same order with the same
count, and — for nearly every case — exactly what an expectation written here in plain Python
computes from the seed data.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from conftest import make_settings
from modelreg.app import create_app
from modelreg.catalog.load import Catalog
from modelreg.domain.errors import InvalidInput
from modelreg.domain.llm_model import LLMModel
from modelreg.filters.evaluate import compile_predicate
from modelreg.filters.parse import MAX_CONDITIONS, MAX_DEPTH, MAX_VALUES, InvalidFilter, normalized, parse_filters
from modelreg.filters.tree import Bundle, Condition
from modelreg.services import identity
from modelreg.store.database import Database
from modelreg.store.migrate import upgrade_to_head

Row = dict[str, Any]
LIST_URL = "/api/models/list/"
CUSTOM_ONLY = {"affiliation_category": {"operator": "", "value": ["custom"]}}


# ==== parse(): unit tests ===========================================================================


def only_condition(field_name: str, entry: Any) -> Condition:
    tree = parse_filters({field_name: entry})
    assert isinstance(tree, Bundle) and len(tree.children) == 1
    node = tree.children[0]
    assert isinstance(node, Condition)
    return node


def parse_error(raw: Any) -> str:
    with pytest.raises(InvalidFilter) as caught:
        parse_filters(raw)
    assert isinstance(caught.value, InvalidInput) and caught.value.field == "filters"
    return caught.value.message


TEXT_OPERATORS = [
    # (spelling sent, canonical operator after parse)
    ("", ""),
    ("=", ""),
    ("==", ""),
    ("eq", ""),
    ("equals", ""),
    ("exact", ""),
    ("EQ", ""),
    ("  eq ", ""),
    ("in", ""),
    ("IN", ""),
    ("not", "not"),
    ("!=", "not"),
    ("<>", "not"),
    ("ne", "not"),
    ("not_equal", "not"),
    ("not_equals", "not"),
    ("NOT_EQUALS", "not"),
    ("not_in", "not"),
    ("notin", "not"),
    ("nin", "not"),
    ("iexact", "iexact"),
    ("contains", "contains"),
    ("not_contains", "not_contains"),
    ("icontains", "icontains"),
    ("ilike", "icontains"),
    ("ILike", "icontains"),
    ("startswith", "startswith"),
    ("not_startswith", "not_startswith"),
    ("endswith", "endswith"),
    ("not_endswith", "not_endswith"),
    ("regex", "regex"),
    ("REGEX", "regex"),
]


class TestOperators:
    @pytest.mark.parametrize(("spelling", "canonical"), TEXT_OPERATORS)
    def test_text_operator_spellings(self, spelling: str, canonical: str) -> None:
        cond = only_condition("model_name", {"operator": spelling, "value": ["abc"]})
        assert (cond.field, cond.operator, cond.values, cond.connector) == ("model_name", canonical, ("abc",), "AND")

    @pytest.mark.parametrize("op", ["lt", "lte", "gt", "gte", "LT", " gte "])
    def test_ordered_operators(self, op: str) -> None:
        cond = only_condition("input_cost", {"operator": op, "value": [2]})
        assert cond.operator == op.strip().lower() and cond.values == (2.0,)

    @pytest.mark.parametrize(
        ("spelling", "canonical"),
        [
            ("empty", "empty"),
            ("is_empty", "empty"),
            ("isempty", "empty"),
            ("not_empty", "not_empty"),
            ("notEmpty", "not_empty"),
            ("notempty", "not_empty"),
            ("has_key", "not_empty"),
        ],
    )
    def test_value_less_operators(self, spelling: str, canonical: str) -> None:
        cond = only_condition("base_model_name", {"operator": spelling, "value": [""]})
        assert cond.operator == canonical and cond.values == ()

    @pytest.mark.parametrize(("raw", "wanted"), [(True, True), (False, False), ("true", True), (0, False), (1, True)])
    def test_isnull(self, raw: Any, wanted: bool) -> None:
        cond = only_condition("input_cost", {"operator": "isnull", "value": [raw]})
        assert cond.operator == "isnull" and cond.values == (wanted,)

    def test_missing_operator_means_equals(self) -> None:
        assert only_condition("model_type", {"value": ["chat"]}).operator == ""

    def test_in_and_not_in_keep_every_value(self) -> None:
        assert only_condition("model_name", {"operator": "in", "value": ["a", "b", None]}).values == ("a", "b", None)
        cond = only_condition("model_name", {"operator": "not_in", "value": ["a", "b"]})
        assert (cond.operator, cond.values) == ("not", ("a", "b"))

    def test_scalar_value_is_listified(self) -> None:
        assert only_condition("model_name", {"operator": "eq", "value": "x"}).values == ("x",)
        assert only_condition("input_cost", {"operator": "gt", "value": 3}).values == (3.0,)

    def test_field_aliases(self) -> None:
        for alias, canonical in (
            ("provider_id", "provider__provider_id"),
            ("id", "model_name"),
            ("name", "model_name"),
        ):
            assert only_condition(alias, {"operator": "", "value": ["x"]}).field == canonical


class TestStructure:
    def test_empty_and_none_match_everything(self) -> None:
        for raw in (None, {}):
            tree = parse_filters(raw)
            assert tree.children == ()
            assert compile_predicate(tree)({"model_name": "anything"}) is True

    def test_keys_fold_in_order_with_connectors(self) -> None:
        tree = parse_filters(
            {
                "model_type": {"operator": "", "value": ["chat"]},
                "input_cost": {"operator": "lt", "value": [1], "connector": "or"},
                "function_call": {"operator": "", "value": [1], "connector": "AND"},
            }
        )
        assert [(c.field, c.connector) for c in tree.children] == [  # type: ignore[union-attr]
            ("model_type", "AND"),
            ("input_cost", "OR"),
            ("function_call", "AND"),
        ]

    def test_list_of_conditions_on_one_field(self) -> None:
        tree = parse_filters(
            {"input_cost": [{"operator": "gte", "value": [1]}, {"operator": "lt", "value": [5], "connector": "OR"}]}
        )
        assert tree.children == (
            Condition(field="input_cost", operator="gte", values=(1.0,)),
            Condition(field="input_cost", operator="lt", values=(5.0,), connector="OR"),
        )

    def test_bundles_under_any_key_nest(self) -> None:
        tree = parse_filters(
            {
                "model_type": {"operator": "", "value": ["chat"]},
                "whatever_name": {
                    "connector": "OR",
                    "filter_params": {
                        "input_cost": {"operator": "lt", "value": [1]},
                        "inner": {"filter_params": {"model_name": {"operator": "startswith", "value": ["a"]}}},
                    },
                },
            }
        )
        assert len(tree.children) == 2
        bundle = tree.children[1]
        assert isinstance(bundle, Bundle) and bundle.connector == "OR"
        assert bundle.children[0] == Condition(field="input_cost", operator="lt", values=(1.0,))
        inner = bundle.children[1]
        assert isinstance(inner, Bundle) and inner.connector == "AND"
        assert inner.children == (Condition(field="model_name", operator="startswith", values=("a",)),)

    def test_nesting_limit(self) -> None:
        def nested(depth: int) -> dict[str, Any]:
            raw: dict[str, Any] = {"model_name": {"operator": "", "value": ["x"]}}
            for _ in range(depth):
                raw = {"b": {"filter_params": raw}}
            return raw

        tree = parse_filters(nested(MAX_DEPTH))
        for _ in range(MAX_DEPTH):
            assert isinstance(tree.children[0], Bundle)
            tree = tree.children[0]
        assert "nested too deeply" in parse_error(nested(MAX_DEPTH + 1))

    def test_condition_limit(self) -> None:
        one = {"operator": "", "value": ["x"]}
        assert len(parse_filters({"model_name": [one] * MAX_CONDITIONS}).children) == MAX_CONDITIONS
        assert "too many conditions" in parse_error({"model_name": [one] * (MAX_CONDITIONS + 1)})
        # The limit counts conditions across bundles too.
        half = MAX_CONDITIONS // 2 + 1
        assert "too many conditions" in parse_error(
            {"model_name": [one] * half, "b": {"filter_params": {"display_name": [one] * half}}}
        )

    def test_value_limit(self) -> None:
        values = [f"v{i}" for i in range(MAX_VALUES)]
        assert len(only_condition("model_name", {"operator": "in", "value": values}).values) == MAX_VALUES
        assert "too many values" in parse_error({"model_name": {"operator": "in", "value": [*values, "one-more"]}})


class TestCoercion:
    @pytest.mark.parametrize(
        ("raw", "wanted"),
        [(1, 1.0), (2.5, 2.5), ("2.5", 2.5), ("1e3", 1000.0), ("-0", 0.0), (0, 0.0)],
    )
    def test_number(self, raw: Any, wanted: float) -> None:
        (value,) = only_condition("input_cost", {"operator": "gt", "value": [raw]}).values
        assert value == wanted and type(value) is float

    @pytest.mark.parametrize("raw", [True, "abc", "nan", "inf", "-Infinity", {"a": 1}, [1], ""])
    def test_number_rejects(self, raw: Any) -> None:
        assert "input_cost" in parse_error({"input_cost": {"operator": "gt", "value": [raw]}})

    @pytest.mark.parametrize(
        ("raw", "wanted"),
        [(True, 1), (False, 0), (1, 1), (0, 0), ("1", 1), ("0", 0), ("true", 1), ("FALSE", 0)],
    )
    def test_flag(self, raw: Any, wanted: int) -> None:
        (value,) = only_condition("function_call", {"operator": "", "value": [raw]}).values
        assert value == wanted and type(value) is int

    @pytest.mark.parametrize("raw", [2, -1, "yes", "2", 0.5, {"x": 1}])
    def test_flag_rejects(self, raw: Any) -> None:
        assert "function_call" in parse_error({"function_call": {"operator": "", "value": [raw]}})

    @pytest.mark.parametrize(
        ("raw", "wanted"),
        [(True, True), (False, False), (1, True), (0, False), ("true", True), ("False", False), ("1", True)],
    )
    def test_boolean(self, raw: Any, wanted: bool) -> None:
        (value,) = only_condition("has_discount", {"operator": "", "value": [raw]}).values
        assert value is wanted

    @pytest.mark.parametrize("raw", [2, "yes", "t", 1.5, ["true"]])
    def test_boolean_rejects(self, raw: Any) -> None:
        assert "is_managed" in parse_error({"is_managed": {"operator": "", "value": [raw]}})

    @pytest.mark.parametrize(
        "raw",
        ["2026-03-04T05:06:07Z", "2026-03-04T05:06:07+00:00", "2026-03-04T05:06:07", "2026-03-04T07:06:07+02:00"],
    )
    def test_datetime_is_aware_and_same_instant(self, raw: str) -> None:
        (value,) = only_condition("created_at", {"operator": "gte", "value": [raw]}).values
        assert isinstance(value, datetime) and value.tzinfo is not None
        assert value == datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)

    def test_date_only_is_midnight_utc(self) -> None:
        (value,) = only_condition("updated_at", {"operator": "lt", "value": ["2026-03-04"]}).values
        assert value == datetime(2026, 3, 4, tzinfo=UTC)

    @pytest.mark.parametrize("raw", ["yesterday", "2026-13-01", 1700000000, True, ""])
    def test_datetime_rejects(self, raw: Any) -> None:
        assert "created_at" in parse_error({"created_at": {"operator": "gt", "value": [raw]}})

    @pytest.mark.parametrize("raw", [5, 1.5, True, {"a": "b"}, ["nested"]])
    def test_text_rejects_non_strings(self, raw: Any) -> None:
        assert "model_name" in parse_error({"model_name": {"operator": "", "value": [raw]}})

    def test_null_is_a_value_only_for_equality_operators(self) -> None:
        for op in ("", "in", "not", "not_in"):
            assert None in only_condition("input_cost", {"operator": op, "value": [None, 1]}).values
        for op, fld in (("gt", "input_cost"), ("contains", "model_name"), ("regex", "model_name")):
            assert "non-null" in parse_error({fld: {"operator": op, "value": [None]}})
        assert "non-null" in parse_error({"input_cost": {"operator": "gt"}})  # no value at all


class TestErrors:
    @pytest.mark.parametrize(
        ("raw", "fragment"),
        [
            ({"nope": {"operator": "", "value": ["x"]}}, "unknown filter field"),
            ({"provider": {"operator": "", "value": ["x"]}}, "unknown filter field"),
            ({"model_name": {"operator": "like", "value": ["x"]}}, "unknown operator"),
            ({"model_name": {"operator": "between", "value": ["x"]}}, "unknown operator"),
            ({"model_name": {"operator": 5, "value": ["x"]}}, "operator must be a string"),
            ({"model_name": {"operator": None, "value": ["x"]}}, "operator must be a string"),
            ({"model_name": {"operator": "regex", "value": ["("]}}, "invalid regex"),
            ({"model_name": {"operator": "regex", "value": ["[a-"]}}, "invalid regex"),
            ({"model_name": {"operator": "regex", "value": ["(?=a)b"]}}, "invalid regex"),  # no lookaround in RE2
            ({"model_name": {"operator": "regex", "value": ["(a)\\1"]}}, "invalid regex"),  # nor backreferences
            ({"model_name": {"operator": "regex", "value": ["a" * 1001]}}, "invalid regex"),
            ({"input_cost": {"operator": "gt", "value": [1, 2]}}, "single value"),
            ({"model_name": {"operator": "contains", "value": ["a", "b"]}}, "single value"),
            ({"model_name": {"operator": "regex", "value": ["a", "b"]}}, "single value"),
            ({"model_name": {"operator": "iexact", "value": ["a", "b"]}}, "single value"),
            ({"model_name": {"operator": "startswith", "value": ["a", "b"]}}, "single value"),
            ({"input_cost": {"operator": "contains", "value": ["1"]}}, "applies to text fields"),
            ({"function_call": {"operator": "regex", "value": ["1"]}}, "applies to text fields"),
            ({"model_name": {"operator": "gt", "value": ["a"]}}, "is text"),
            ({"model_name": {"operator": "", "value": []}}, "needs a value"),
            ({"input_cost": {"operator": "isnull", "value": []}}, "isnull"),
            ({"input_cost": {"operator": "isnull", "value": [True, False]}}, "isnull"),
            ({"input_cost": {"operator": "isnull", "value": [{"a": 1}]}}, "isnull"),
            ({"input_cost": {"operator": "isnull", "value": ["maybe"]}}, "invalid value"),
            ({"model_name": "gpt-4o"}, "must be an object with operator and value"),
            ({"model_name": 5}, "must be an object"),
            ({"model_name": []}, "empty list of conditions"),
            ({"model_name": ["x"]}, "must be an object"),
            ({"model_name": {"operator": "", "value": ["x"], "extra": 1}}, "unknown key in filter"),
            (
                {"model_name": {"operator": "", "value": ["x"], "operator_function": "mapContainsKey"}},
                "operator_function",
            ),
            ({"model_name": {"operator": "", "value": ["x"], "connector": "XOR"}}, "connector"),
            ({"model_name": {"operator": "", "value": ["x"], "connector": 1}}, "connector"),
            ({"b": {"filter_params": {}, "operator": ""}}, "unknown key in a filter bundle"),
            ({"b": {"filter_params": {}, "connector": "NAND"}}, "connector"),
            ({"b": {"filter_params": ["x"]}}, "filters must be an object"),
            ({"b": {"filter_params": {"nope": {"operator": "", "value": ["x"]}}}}, "unknown filter field"),
        ],
    )
    def test_invalid_filter(self, raw: Any, fragment: str) -> None:
        assert fragment in parse_error(raw)

    @pytest.mark.parametrize("raw", [[], ["model_name"], "model_name", 5, True, 1.5])
    def test_filters_must_be_an_object(self, raw: Any) -> None:
        assert "filters must be an object" in parse_error(raw)

    def test_messages_do_not_echo_long_input(self) -> None:
        long_field = "f" * 5000
        assert len(parse_error({long_field: {"operator": "", "value": ["x"]}})) < 300
        assert len(parse_error({"model_name": {"operator": "o" * 5000, "value": ["x"]}})) < 300


class TestNormalized:
    def test_aliases_resolved_values_listified_and_coerced(self) -> None:
        tree = parse_filters(
            {
                "provider_id": {"operator": "eq", "value": "openai"},
                "name": {"operator": "ILIKE", "value": ["gpt"]},
                "input_cost": [
                    {"operator": "gte", "value": ["1"]},
                    {"operator": "lt", "value": [2.5], "connector": "or"},
                ],
                "function_call": {"operator": "in", "value": [True, "0"]},
                "has_discount": {"operator": "not_in", "value": ["true"]},
                "created_at": {"operator": "gt", "value": ["2026-01-02T03:04:05+00:00"]},
                "base_model_name": {"operator": "notEmpty", "value": [""]},
                "grp": {"connector": "or", "filter_params": {"model_type": {"operator": "!=", "value": ["chat"]}}},
                "grp2": {"filter_params": {}},
            }
        )
        assert normalized(tree) == {
            "provider__provider_id": {"operator": "", "value": ["openai"]},
            "model_name": {"operator": "icontains", "value": ["gpt"]},
            "input_cost": [{"operator": "gte", "value": [1]}, {"operator": "lt", "value": [2.5], "connector": "OR"}],
            "function_call": {"operator": "", "value": [1, 0]},
            "has_discount": {"operator": "not", "value": [True]},
            "created_at": {"operator": "gt", "value": ["2026-01-02T03:04:05Z"]},
            "base_model_name": {"operator": "not_empty", "value": []},
            "filter_bundle": {
                "connector": "OR",
                "filter_params": {"model_type": {"operator": "not", "value": ["chat"]}},
            },
            "filter_bundle_2": {"filter_params": {}},
        }

    def test_normalized_round_trips(self) -> None:
        raw = {
            "model_name": [{"operator": "startswith", "value": ["a"]}, {"operator": "regex", "value": ["b$"]}],
            "x": {"connector": "OR", "filter_params": {"input_cost": {"operator": "isnull", "value": [True]}}},
        }
        once = normalized(parse_filters(raw))
        assert normalized(parse_filters(once)) == once

    def test_normalized_keeps_the_meaning(self) -> None:
        """`current_filters` must mean what was asked: the same field reached through an alias later in the
        fold may not be merged into the earlier entry (that reorders the left-to-right fold)."""
        raw = {
            "model_name": {"operator": "", "value": ["a"]},
            "provider_id": {"operator": "", "value": ["p"], "connector": "OR"},
            "name": {"operator": "", "value": ["b"]},
        }  # (name = a OR provider = p) AND name = b
        asked = compile_predicate(parse_filters(raw))
        echoed = compile_predicate(parse_filters(normalized(parse_filters(raw))))
        for row in (
            {"model_name": "x", "provider__provider_id": "p"},
            {"model_name": "b", "provider__provider_id": "p"},
            {"model_name": "a", "provider__provider_id": "q"},
        ):
            assert echoed(row) == asked(row), row


class TestEvaluateNulls:
    """The null rules of evaluate.py's docstring, directly on rows (the HTTP cases below cover both paths)."""

    @pytest.mark.parametrize(
        ("entry", "on_null", "on_value"),
        [
            ({"operator": "", "value": ["x"]}, False, True),
            ({"operator": "", "value": [None]}, True, False),
            ({"operator": "in", "value": [None, "x"]}, True, True),
            ({"operator": "not", "value": ["x"]}, True, False),
            ({"operator": "not", "value": [None]}, False, True),
            ({"operator": "not_in", "value": [None, "x"]}, False, False),
            ({"operator": "not_contains", "value": ["x"]}, True, False),
            ({"operator": "not_startswith", "value": ["x"]}, True, False),
            ({"operator": "not_endswith", "value": ["x"]}, True, False),
            ({"operator": "contains", "value": ["x"]}, False, True),
            ({"operator": "icontains", "value": ["X"]}, False, True),
            ({"operator": "iexact", "value": ["X"]}, False, True),
            ({"operator": "regex", "value": ["^x$"]}, False, True),
            ({"operator": "empty", "value": [""]}, True, False),
            ({"operator": "not_empty", "value": [""]}, False, True),
            ({"operator": "isnull", "value": [True]}, True, False),
            ({"operator": "isnull", "value": [False]}, False, True),
        ],
    )
    def test_text(self, entry: dict[str, Any], on_null: bool, on_value: bool) -> None:
        predicate = compile_predicate(parse_filters({"display_name": entry}))
        assert predicate({"display_name": None}) is on_null
        assert predicate({"display_name": "x"}) is on_value

    @pytest.mark.parametrize("op", ["lt", "lte", "gt", "gte"])
    def test_comparisons_never_match_null(self, op: str) -> None:
        predicate = compile_predicate(parse_filters({"input_cost": {"operator": op, "value": [1]}}))
        assert predicate({"input_cost": None}) is False

    def test_empty_string_counts_as_empty(self) -> None:
        empty = compile_predicate(parse_filters({"display_name": {"operator": "empty", "value": [""]}}))
        assert empty({"display_name": ""}) is True


# ==== the seeded organization ======================================================================

PROVIDERS = {"prov-alpha": "Alpha Cloud", "prov-beta": "Beta Labs", "openai": "Our OpenAI key", "doomed": "Doomed"}
DELETED_PROVIDER = "doomed"
RUSSIAN = "\u043c\u043e\u0434\u0435\u043b\u044c-1"  # Cyrillic "model-1" (escaped: it looks like Latin)


def S(**fields: Any) -> dict[str, Any]:  # a seed, written like keyword arguments
    return fields


def seeds(deprecated_base: str) -> list[dict[str, Any]]:
    """POST /api/models/ bodies; `p` is custom_provider_id and `base` base_model_name (canonical names)."""
    return [
        # icontains squash family
        S(model_name="gemini-3-pro", p="prov-alpha", input_cost=1.25, output_cost=10, cache_hit_input_cost=0.3,
             max_context_window=1_000_000, function_call=1, image_support=1, streaming_support=1,
             display_name="Gemini 3 Pro"),
        S(model_name="gemini_3_flash", p="prov-alpha", input_cost=0.3, output_cost=2.5, max_context_window=1_000_000,
             function_call=1, image_support=1, display_name="gemini-3 flash"),
        S(model_name="Gemini.3.Ultra", p="prov-beta", input_cost=20, output_cost=80, function_call=0,
             display_name="Gemini Ultra"),
        S(model_name="gemini 3 nano", p="prov-beta", input_cost=0, output_cost=0, max_context_window=32768,
             function_call=0, image_support=0, streaming_support=0),
        S(model_name="GEMINI3-mini", p="prov-alpha", input_cost=0.1, output_cost=0.4, cache_hit_input_cost=0.1,
             max_context_window=128000),
        S(model_name="gemini-2.5-pro-ft", p="prov-alpha", input_cost=1.25, output_cost=10, cache_hit_input_cost=0.31,
             max_context_window=1_048_576, function_call=1),
        # chat and embeddings
        S(model_name="alpha-chat", p="prov-alpha", input_cost=1, output_cost=2, max_context_window=8192,
             function_call=1, image_support=0, streaming_support=1, display_name="Alpha Chat"),
        S(model_name="alpha-embed-small", p="prov-alpha", model_type="embedding", input_cost=0.02,
             max_context_window=8191, display_name="Alpha Embed"),
        S(model_name="alpha-embed-large", p="prov-alpha", model_type="embedding", input_cost=0.13,
             max_context_window=8191),
        S(model_name="beta.chat.v1", p="prov-beta", input_cost=0.5, output_cost=1.5, max_context_window=16384,
             function_call=0, streaming_support=1),
        S(model_name="beta_chat_v2", p="prov-beta", input_cost=0.5, output_cost=1.5, max_context_window=16384,
             function_call=1, streaming_support=1),
        S(model_name="Beta Chat V3", p="prov-beta", input_cost=0.75, output_cost=3, max_context_window=65536,
             function_call=1, image_support=1),
        # unicode
        S(model_name="café-模型", p="prov-alpha", input_cost=2, output_cost=6, display_name="Café 模型"),
        S(model_name="CAFÉ-模型", p="prov-beta", input_cost=3, display_name="CAFÉ"),
        S(model_name="naïve-bayes", p="prov-beta", model_type="rerank", input_cost=0.001),
        S(model_name=RUSSIAN, p="prov-alpha", input_cost=0.9, output_cost=0.9, max_context_window=4096),
        S(model_name="日本語モデル", p="prov-beta", max_context_window=200000),
        S(model_name="emoji-🚀-model", p="prov-alpha", input_cost=1000, output_cost=1000),
        # slashes, inheriting from built-ins
        S(model_name="team/fine-tune/v2", base="openai/gpt-4o", input_cost=3),
        S(model_name="team/fine-tune/v10", base="openai/gpt-4o", output_cost=12, max_context_window=64000),
        S(model_name="team/base", base="openai/gpt-4o-mini"),
        # near-identical short names (code point order, ties)
        S(model_name="a", p="prov-alpha", input_cost=1),
        S(model_name="aa", p="prov-alpha", input_cost=1),
        S(model_name="a-b", p="prov-beta", input_cost=1),
        S(model_name="a_b", p="prov-beta", input_cost=1),
        S(model_name="a.b", p="prov-beta"),
        S(model_name="a b", p="prov-beta"),
        S(model_name="zeta", p="prov-alpha", model_type="speech", input_cost=15, display_name="zeta"),
        S(model_name="Zeta-upper", p="prov-alpha", model_type="transcription", output_cost=15),
        # costs
        S(model_name="free-tier", p="prov-beta", input_cost=0, output_cost=0, cache_hit_input_cost=0),
        S(model_name="tiny-cost", p="prov-beta", input_cost=0.000001, output_cost=0.000002),
        S(model_name="null-cost", p="prov-beta"),
        # regex / LIKE metacharacters
        S(model_name="percent%name", p="prov-alpha", input_cost=5),
        S(model_name="under_score", p="prov-alpha", input_cost=5),
        S(model_name="star*name", p="prov-alpha"),
        S(model_name="dollar$sign(1)", p="prov-alpha"),
        S(model_name="img-gen", p="prov-beta", model_type="image", image_support=1),
        # inheritance chains
        S(model_name="alias-4o", base="openai/gpt-4o"),
        S(model_name="alias-4o-cheap", base="openai/gpt-4o", input_cost=0.1, output_cost=0.2),
        S(model_name="alias-of-alias", base="alias-4o-cheap", output_cost=0.3),
        S(model_name="old-base", base=deprecated_base, input_cost=0.2),
        S(model_name="own-openai", p="openai", input_cost=2.5, display_name="Own OpenAI"),
        # their provider is deleted after seeding: provider null
        S(model_name="orphan-1", p=DELETED_PROVIDER, input_cost=0.5, max_context_window=8192),
        S(model_name="orphan-2", p=DELETED_PROVIDER, model_type="embedding"),
    ]  # fmt: skip


RIVAL_SEEDS = [
    S(model_name="zeta", p="rival-p", input_cost=0.01),
    S(model_name="rival-secret", p="rival-p", input_cost=1, model_type="embedding"),
]

INHERITED = (
    "display_name",
    "model_type",
    "input_cost",
    "output_cost",
    "cache_hit_input_cost",
    "cache_creation_input_cost",
    "max_context_window",
    "streaming_support",
    "function_call",
    "image_support",
)


def _discount(row: Row) -> bool:
    return (
        row["cache_hit_input_cost"] is not None
        and row["input_cost"] is not None
        and row["cache_hit_input_cost"] < row["input_cost"]
    )


def builtin_row(model: LLMModel, org_provider_ids: set[str]) -> Row:
    """What a filter should see for a built-in, written out independently of fields.filter_row."""
    assert model.provider is not None
    row: Row = {f: getattr(model, f) for f in INHERITED}
    row.update(
        model_name=model.name,
        base_model_name=None,
        provider__provider_id=model.provider.provider_id,
        provider__provider_name=model.provider.provider_name,
        affiliation_category="keywordsai",
        source="hardcoded",
        status=model.status,
        is_managed=True,
        is_called_by_custom_name=False,
        available_to_user=model.provider.provider_id in org_provider_ids,
        created_at=None,
        updated_at=None,
        average_tps=None,
        average_ttft=None,
        average_latency=None,
        number_of_requests=None,
    )
    row["has_discount"] = _discount(row)
    return row


def custom_rows(seed_list: list[dict[str, Any]], catalog: Catalog, org_provider_ids: set[str]) -> dict[str, Row]:
    """Each seed's effective values: own value, else the base chain's, model_type defaulting to chat."""
    by_name = {s["model_name"]: s for s in seed_list}
    rows: dict[str, Row] = {}

    def effective(name: str) -> Row:
        if name in rows:
            return rows[name]
        seed = by_name[name]
        base = seed.get("base")
        parent = (
            effective(base)
            if base in by_name
            else builtin_row(catalog.models[base], org_provider_ids)
            if base
            else None
        )
        row: Row = {f: seed.get(f, parent[f] if parent else None) for f in INHERITED}
        row["model_type"] = row["model_type"] or "chat"
        provider_id = seed.get("p")
        if provider_id == DELETED_PROVIDER:
            provider = None
        elif provider_id is not None:
            provider = (provider_id, PROVIDERS[provider_id])
        elif parent is not None and parent["provider__provider_id"] is not None:
            provider = (parent["provider__provider_id"], parent["provider__provider_name"])
        else:
            provider = None
        row.update(
            model_name=name,
            base_model_name=base,
            provider__provider_id=provider[0] if provider else None,
            provider__provider_name=provider[1] if provider else None,
            affiliation_category="custom",
            source="db",
            status=parent["status"] if parent else "active",
            is_managed=False,
            is_called_by_custom_name=base is None and provider_id not in (None, DELETED_PROVIDER),
            available_to_user=provider is not None,
            average_tps=None,
            average_ttft=None,
            average_latency=None,
            number_of_requests=None,
        )
        row["has_discount"] = _discount(row)
        rows[name] = row
        return row

    for seed in seed_list:
        effective(seed["model_name"])
    return rows


def body_of(seed: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in seed.items() if k not in ("p", "base")}
    if "p" in seed:
        body["custom_provider_id"] = seed["p"]
    if "base" in seed:
        body["base_model_name"] = seed["base"]
    return body


@dataclass
class Seeded:
    mem: AsyncTestClient[Any]
    sql: AsyncTestClient[Any]
    headers: dict[str, str]
    customs: dict[str, Row]
    builtins: list[Row]
    mid: datetime
    """created_at of a model in the middle of the seeding order (datetime cases)."""
    mid_wire: str
    rival_headers: dict[str, str] = field(default_factory=dict)

    def universe(self, scoped: bool) -> list[Row]:
        return list(self.customs.values()) if scoped else [*self.customs.values(), *self.builtins]


@pytest.fixture(scope="module")
def private_database_url(database_url: str, request: pytest.FixtureRequest, tmp_path_factory: Any) -> Iterator[str]:
    """A database of this module's own, on the same backend as `database_url`."""
    dropper: Callable[[], None] | None = None
    if database_url.startswith("sqlite"):
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('filters')}/filters.db"
    else:
        postgres = request.getfixturevalue("postgres")
        name = f"modelreg_filters_{uuid.uuid4().hex[:8]}"
        postgres.create_database(name)
        url = postgres.sqlalchemy_url(name)

        def dropper() -> None:
            postgres.drop_database(name)

    upgrade_to_head(url)
    yield url
    if dropper is not None:
        dropper()


async def _new_org(url: str, name: str) -> tuple[dict[str, str], str]:
    db = Database(url)
    try:
        async with db.write() as session:
            created = await identity.create_organization(session, name, f"admin@{name}.example", None)
    finally:
        await db.dispose()
    return {"Authorization": f"Bearer {created.api_key}"}, created.organization_id


async def snapshot_kind(app: Any, client: AsyncTestClient[Any], headers: dict[str, str], org_id: str) -> bool:
    """Whether `app` holds the organization in memory (True) or sends its reads to SQL (False)."""
    for _ in range(50):
        r = await client.post(LIST_URL, json={}, headers=headers)
        assert r.status_code == 200
        snapshot = app.state.registry.index._orgs.get(org_id)
        if snapshot is not None:
            return bool(snapshot.in_memory)
        await asyncio.sleep(0.1)  # the change watcher dropped it just now; it is reloaded on the next read
    raise AssertionError("the organization never showed up in the index")


async def _create(client: AsyncTestClient[Any], headers: dict[str, str], seed_list: list[dict[str, Any]]) -> None:
    for seed in seed_list:
        r = await client.post("/api/models/", json=body_of(seed), headers=headers)
        assert r.status_code == 201, (seed["model_name"], r.text)


@pytest.fixture(scope="module")
async def seeded(private_database_url: str, catalog: Catalog) -> AsyncIterator[Seeded]:
    url = private_database_url
    headers, org_id = await _new_org(url, "acme")
    rival, _ = await _new_org(url, "rival")
    deprecated = next(m.name for m in catalog.models.values() if m.status == "deprecated")
    seed_list = seeds(deprecated)
    org_provider_ids = set(PROVIDERS) - {DELETED_PROVIDER}

    mem_app = create_app(make_settings(url), catalog)
    async with AsyncTestClient(app=mem_app) as mem:
        for provider_id, provider_name in PROVIDERS.items():
            r = await mem.post(
                "/api/providers/", json={"provider_id": provider_id, "provider_name": provider_name}, headers=headers
            )
            assert r.status_code == 201, r.text
        r = await mem.post("/api/providers/", json={"provider_id": "rival-p", "provider_name": "Rival"}, headers=rival)
        assert r.status_code == 201, r.text
        await _create(mem, headers, seed_list)
        await _create(mem, rival, RIVAL_SEEDS)
        r = await mem.delete(f"/api/providers/{DELETED_PROVIDER}/", headers=headers)
        assert r.status_code == 204, r.text

        sql_app = create_app(make_settings(url, memory_index_max_models=0), catalog)
        async with AsyncTestClient(app=sql_app) as sql:
            customs = custom_rows(seed_list, catalog, org_provider_ids)
            listed = await mem.post(
                LIST_URL,
                params={"all": "true"},
                json={"filters": {"affiliation_category": {"operator": "", "value": ["custom"]}}},
                headers=headers,
            )
            assert listed.status_code == 200, listed.text
            wire = {m["model_name"]: m for m in listed.json()["results"]}
            assert set(wire) == set(customs)
            for name, row in customs.items():
                row["created_at"] = datetime.fromisoformat(wire[name]["created_at"])
                row["updated_at"] = datetime.fromisoformat(wire[name]["updated_at"])
                row["wire"] = wire[name]
            mid_name = seed_list[len(seed_list) // 2]["model_name"]

            # Prove the two apps really take different paths (the apps run on their own event loop:
            # only look at the index's state, never await into it from here).
            for app, client, in_memory in ((mem_app, mem, True), (sql_app, sql, False)):
                assert await snapshot_kind(app, client, headers, org_id) is in_memory

            yield Seeded(
                mem=mem,
                sql=sql,
                headers=headers,
                customs=customs,
                builtins=[builtin_row(m, org_provider_ids) for m in catalog.models.values()],
                mid=customs[mid_name]["created_at"],
                mid_wire=wire[mid_name]["created_at"],
                rival_headers=rival,
            )


async def list_all(
    client: AsyncTestClient[Any], headers: dict[str, str], filters: Any, sort_by: str = "model_name"
) -> tuple[int, list[str], dict[str, Any]]:
    r = await client.post(
        LIST_URL, params={"all": "true", "sort_by": sort_by}, json={"filters": filters}, headers=headers
    )
    assert r.status_code == 200, r.text
    data = r.json()
    return data["count"], [m["model_name"] for m in data["results"]], data


class TestSeed:
    async def test_seed_matches_the_expectation_model(self, seeded: Seeded) -> None:
        """The expectations below compute from `customs`; make sure those values are what the server holds."""
        for name, row in seeded.customs.items():
            wire = row["wire"]
            for f in (*INHERITED, "base_model_name", "status", "is_called_by_custom_name"):
                assert wire[f] == row[f], (name, f, wire[f], row[f])
            provider = wire["provider"]
            assert (provider["provider_id"] if provider else None) == row["provider__provider_id"], name
        assert sum(1 for r in seeded.customs.values() if r["provider__provider_id"] is None) == 2
        assert any(r["status"] == "deprecated" for r in seeded.customs.values())

    async def test_other_org_is_never_listed(self, seeded: Seeded) -> None:
        for client in (seeded.mem, seeded.sql):
            count, names, data = await list_all(
                client, seeded.headers, {"model_name": {"operator": "in", "value": ["zeta", "rival-secret"]}}
            )
            assert (count, names) == (1, ["zeta"])
            assert data["results"][0]["input_cost"] == 15  # ours, not the rival's 0.01
            count, names, _ = await list_all(
                client, seeded.rival_headers, {"affiliation_category": {"operator": "", "value": ["custom"]}}
            )
            assert (count, names) == (2, ["rival-secret", "zeta"])


# ==== equivalence cases ============================================================================


def squash(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch not in "-_. ")


def cmp(value: Any, op: Callable[[Any], bool]) -> bool:
    return value is not None and op(value)


@dataclass
class Case:
    id: str
    filters: dict[str, Any]
    expect: Callable[[Row], bool] | None = None
    scoped: bool = True
    """Scoped cases are ANDed with affiliation_category=custom (as a bundle around the case), to keep
    the responses small; unscoped ones run over the built-ins too."""
    may_be_empty: bool = False

    def request_filters(self) -> dict[str, Any]:
        if not self.scoped:
            return self.filters
        return {
            "affiliation_category": {"operator": "", "value": ["custom"]},
            "case": {"filter_params": self.filters},
        }


def F(field_name: str, operator: str, *values: Any, connector: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"operator": operator, "value": list(values)}
    if connector:
        entry["connector"] = connector
    return {field_name: entry}


def C(operator: str, *values: Any, connector: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"operator": operator, "value": list(values)}
    if connector:
        entry["connector"] = connector
    return entry


def nest(depth: int, leaf: dict[str, Any]) -> dict[str, Any]:
    for level in range(depth):
        leaf = {f"b{level}": {"filter_params": leaf}}
    return leaf


MID = "__mid__"  # replaced by the seeded mid timestamp (see resolve_mid)


CASES: list[Case] = [
    # ---- text: equality and membership
    Case("eq-single", F("model_name", "", "zeta"), lambda r: r["model_name"] == "zeta"),
    Case("eq-alias-multi", F("model_name", "eq", "zeta", "a", "missing"), lambda r: r["model_name"] in {"zeta", "a"}),
    Case("eq-scalar-value", {"model_name": {"operator": "==", "value": "a b"}}, lambda r: r["model_name"] == "a b"),
    Case("in", F("model_name", "in", "a", "aa", "a.b", "nope"), lambda r: r["model_name"] in {"a", "aa", "a.b"}),
    Case("not", F("model_name", "not", "a", "aa"), lambda r: r["model_name"] not in {"a", "aa"}),
    Case("nin", F("model_name", "nin", "a", "zeta"), lambda r: r["model_name"] not in {"a", "zeta"}),
    Case("iexact-ascii", F("model_name", "iexact", "ZETA"), lambda r: r["model_name"].lower() == "zeta"),
    Case("iexact-unicode", F("model_name", "iexact", "Café-模型"), lambda r: r["model_name"].lower() == "café-模型"),
    # ---- text: substrings
    Case("contains-case-sensitive", F("model_name", "contains", "Gemini"), lambda r: "Gemini" in r["model_name"]),
    Case("contains-percent", F("model_name", "contains", "%"), lambda r: "%" in r["model_name"]),
    Case("contains-underscore", F("model_name", "contains", "_"), lambda r: "_" in r["model_name"]),
    Case("contains-unicode", F("model_name", "contains", "模"), lambda r: "模" in r["model_name"]),
    Case("not_contains", F("model_name", "not_contains", "-"), lambda r: "-" not in r["model_name"]),
    Case("contains-empty", F("model_name", "contains", ""), lambda r: True),
    Case("display-not_contains-empty", F("display_name", "not_contains", ""), lambda r: r["display_name"] is None),
    Case("regex-empty", F("model_name", "regex", ""), lambda r: True),
    Case("icontains-squash", F("model_name", "icontains", "gemini3"), lambda r: "gemini3" in squash(r["model_name"])),
    Case(
        "icontains-squash-needle",
        F("model_name", "icontains", "Gemini-3"),
        lambda r: "gemini3" in squash(r["model_name"]),
    ),
    Case("ilike-alias", F("model_name", "ilike", "BETA CHAT"), lambda r: "betachat" in squash(r["model_name"])),
    Case("icontains-separators-only", F("model_name", "icontains", "-_. "), lambda r: True),
    Case("icontains-unicode", F("model_name", "icontains", "CAFÉ"), lambda r: "café" in squash(r["model_name"])),
    Case("icontains-cyrillic", F("model_name", "icontains", RUSSIAN.upper()), lambda r: r["model_name"] == RUSSIAN),
    Case(
        "icontains-display-no-squash",
        F("display_name", "icontains", "GEMINI 3"),
        lambda r: cmp(r["display_name"], lambda v: "gemini 3" in v.lower()),
    ),
    Case("startswith", F("model_name", "startswith", "team/"), lambda r: r["model_name"].startswith("team/")),
    Case("startswith-empty", F("model_name", "startswith", ""), lambda r: True),
    Case("not_startswith", F("model_name", "not_startswith", "a"), lambda r: not r["model_name"].startswith("a")),
    Case("endswith-unicode", F("model_name", "endswith", "模型"), lambda r: r["model_name"].endswith("模型")),
    Case("endswith-empty", F("model_name", "endswith", ""), lambda r: True),
    Case("not_endswith", F("model_name", "not_endswith", "-large"), lambda r: not r["model_name"].endswith("-large")),
    # ---- text: regex (RE2 / PostgreSQL common syntax)
    Case(
        "regex-anchored",
        F("model_name", "regex", "^gemini[-_. ]?3"),
        lambda r: bool(re.search(r"^gemini[-_. ]?3", r["model_name"])),
    ),
    Case(
        "regex-digits-end",
        F("model_name", "regex", "v[0-9]+$"),
        lambda r: bool(re.search(r"v[0-9]+$", r["model_name"])),
    ),
    Case("regex-escaped-dot", F("model_name", "regex", "^a\\.b$"), lambda r: r["model_name"] == "a.b"),
    Case(
        "regex-alternation", F("model_name", "regex", "^(a|aa|a b)$"), lambda r: r["model_name"] in {"a", "aa", "a b"}
    ),
    Case(
        "regex-metachar-class", F("model_name", "regex", "[*%$]"), lambda r: bool(re.search(r"[*%$]", r["model_name"]))
    ),
    Case("regex-unicode", F("model_name", "regex", "模型$"), lambda r: r["model_name"].endswith("模型")),
    Case(
        "regex-case-sensitive",
        F("model_name", "regex", "^[A-Z]"),
        lambda r: bool(re.search(r"^[A-Z]", r["model_name"])),
    ),
    Case(
        "regex-display-skips-null",
        F("display_name", "regex", "^[a-z]"),
        lambda r: cmp(r["display_name"], lambda v: bool(re.search(r"^[a-z]", v))),
    ),
    # ---- text: nulls
    Case("empty-base", F("base_model_name", "empty", ""), lambda r: r["base_model_name"] is None),
    Case("not_empty-base", F("base_model_name", "not_empty", ""), lambda r: r["base_model_name"] is not None),
    Case("has_key-alias", F("base_model_name", "has_key", ""), lambda r: r["base_model_name"] is not None),
    Case("isnull-provider", F("provider__provider_id", "isnull", True), lambda r: r["provider__provider_id"] is None),
    Case(
        "isnull-false-provider",
        F("provider__provider_id", "isnull", False),
        lambda r: r["provider__provider_id"] is not None,
    ),
    Case("provider-eq-null", F("provider_id", "", None), lambda r: r["provider__provider_id"] is None),
    Case(
        "provider-in-null-and-value",
        F("provider_id", "in", None, "prov-beta"),
        lambda r: r["provider__provider_id"] in (None, "prov-beta"),
    ),
    Case(
        "provider-not-keeps-null",
        F("provider_id", "not", "prov-alpha"),
        lambda r: r["provider__provider_id"] != "prov-alpha",
    ),
    Case(
        "provider-not-null-listed",
        F("provider_id", "not", None, "prov-alpha"),
        lambda r: r["provider__provider_id"] not in (None, "prov-alpha"),
    ),
    Case(
        "provider-not_in-only-null", F("provider_id", "not_in", None), lambda r: r["provider__provider_id"] is not None
    ),
    Case(
        "provider-name-not_contains-keeps-null",
        F("provider__provider_name", "not_contains", "Alpha"),
        lambda r: r["provider__provider_name"] is None or "Alpha" not in r["provider__provider_name"],
    ),
    Case(
        "provider-name-icontains",
        F("provider__provider_name", "icontains", "alpha c"),
        lambda r: cmp(r["provider__provider_name"], lambda v: "alpha c" in v.lower()),
    ),
    Case(
        "display-not_startswith-keeps-null",
        F("display_name", "not_startswith", "G"),
        lambda r: r["display_name"] is None or not r["display_name"].startswith("G"),
    ),
    Case(
        "display-not_endswith-keeps-null",
        F("display_name", "not_endswith", "a"),
        lambda r: r["display_name"] is None or not r["display_name"].endswith("a"),
    ),
    Case("display-eq-skips-null", F("display_name", "", "Alpha Chat"), lambda r: r["display_name"] == "Alpha Chat"),
    Case("display-empty", F("display_name", "empty", ""), lambda r: r["display_name"] is None),
    # ---- numbers
    Case("input-lt", F("input_cost", "lt", 1), lambda r: cmp(r["input_cost"], lambda v: v < 1)),
    Case("input-lte-string", F("input_cost", "lte", "1"), lambda r: cmp(r["input_cost"], lambda v: v <= 1)),
    Case("input-gt", F("input_cost", "gt", 1), lambda r: cmp(r["input_cost"], lambda v: v > 1)),
    Case("input-gte", F("input_cost", "gte", 1), lambda r: cmp(r["input_cost"], lambda v: v >= 1)),
    Case("input-eq-zero", F("input_cost", "", 0), lambda r: r["input_cost"] == 0),
    Case("input-in-mixed", F("input_cost", "in", 0, 2.5, "1"), lambda r: r["input_cost"] in (0, 2.5, 1)),
    Case("input-not-keeps-null", F("input_cost", "not", 1), lambda r: r["input_cost"] != 1),
    Case("input-not-null-listed", F("input_cost", "not", 1, None), lambda r: r["input_cost"] not in (1, None)),
    Case("input-isnull", F("input_cost", "isnull", True), lambda r: r["input_cost"] is None),
    Case("input-eq-null", F("input_cost", "", None), lambda r: r["input_cost"] is None),
    Case("input-tiny", F("input_cost", "lt", 0.00001), lambda r: cmp(r["input_cost"], lambda v: v < 0.00001)),
    Case(
        "output-range",
        {"output_cost": [C("gte", 1), C("lt", 10)]},
        lambda r: cmp(r["output_cost"], lambda v: 1 <= v < 10),
    ),
    Case(
        "context-gte",
        F("max_context_window", "gte", 100000),
        lambda r: cmp(r["max_context_window"], lambda v: v >= 100000),
    ),
    Case("context-eq", F("max_context_window", "", 8192), lambda r: r["max_context_window"] == 8192),
    Case("context-in", F("max_context_window", "in", 8191, 16384), lambda r: r["max_context_window"] in (8191, 16384)),
    Case(
        "context-not-with-null",
        F("max_context_window", "not", 8192, None),
        lambda r: r["max_context_window"] not in (8192, None),
    ),
    Case(
        "context-lt-fraction",
        F("max_context_window", "lt", 8191.5),
        lambda r: cmp(r["max_context_window"], lambda v: v < 8191.5),
    ),
    Case("cache-hit-gt", F("cache_hit_input_cost", "gt", 0), lambda r: cmp(r["cache_hit_input_cost"], lambda v: v > 0)),
    Case("throughput-isnull", F("average_tps", "isnull", True), lambda r: True),
    Case("throughput-gt", F("average_latency", "gt", 0), lambda r: False, may_be_empty=True),
    Case("throughput-not", F("number_of_requests", "not", 5), lambda r: True),
    # ---- flags (0/1)
    Case("flag-eq-1", F("function_call", "", 1), lambda r: r["function_call"] == 1),
    Case("flag-eq-true", F("function_call", "", True), lambda r: r["function_call"] == 1),
    Case("flag-not-keeps-null", F("image_support", "not", 1), lambda r: r["image_support"] != 1),
    Case("flag-string-0", F("image_support", "", "0"), lambda r: r["image_support"] == 0),
    Case("flag-isnull", F("streaming_support", "isnull", True), lambda r: r["streaming_support"] is None),
    Case("flag-gte", F("function_call", "gte", 1), lambda r: r["function_call"] == 1),
    Case("flag-lt", F("streaming_support", "lt", 1), lambda r: r["streaming_support"] == 0),
    # ---- booleans
    Case(
        "bool-called-by-custom-name", F("is_called_by_custom_name", "", True), lambda r: r["is_called_by_custom_name"]
    ),
    Case("bool-has-discount", F("has_discount", "", True), lambda r: r["has_discount"]),
    Case("bool-has-discount-false-string", F("has_discount", "", "false"), lambda r: not r["has_discount"]),
    Case("bool-is-managed-false", F("is_managed", "", False), lambda r: True),
    Case("bool-is-managed-true", F("is_managed", "", 1), lambda r: False, may_be_empty=True),
    Case("bool-available", F("available_to_user", "", True), lambda r: r["available_to_user"]),
    Case("bool-available-not", F("available_to_user", "not", True), lambda r: not r["available_to_user"]),
    # ---- datetimes (MID = created_at of the middle seed)
    Case("created-gte-mid", F("created_at", "gte", MID), lambda r: r["created_at"] >= r["__mid"]),
    Case("created-lt-mid", F("created_at", "lt", MID), lambda r: r["created_at"] < r["__mid"]),
    Case("created-eq-mid", F("created_at", "", MID), lambda r: r["created_at"] == r["__mid"]),
    Case("created-not-mid", F("created_at", "not", MID), lambda r: r["created_at"] != r["__mid"]),
    Case("created-gte-mid-offset", F("created_at", "gte", MID + "+02:00"), lambda r: r["created_at"] >= r["__mid"]),
    Case("created-lt-mid-naive", F("created_at", "lt", MID + "naive"), lambda r: r["created_at"] < r["__mid"]),
    Case("created-date-only", F("created_at", "gt", "2000-01-01"), lambda r: True),
    Case("updated-before-2000", F("updated_at", "lte", "2000-01-01T00:00:00Z"), lambda r: False, may_be_empty=True),
    Case("updated-isnull-false", F("updated_at", "isnull", False), lambda r: True),
    # ---- other text fields
    Case(
        "model-type-in",
        F("model_type", "in", "embedding", "speech"),
        lambda r: r["model_type"] in ("embedding", "speech"),
    ),
    Case("model-type-not", F("model_type", "not", "chat"), lambda r: r["model_type"] != "chat"),
    Case("status-deprecated", F("status", "", "deprecated"), lambda r: r["status"] == "deprecated"),
    Case("source-db", F("source", "", "db"), lambda r: True),
    Case("source-hardcoded", F("source", "", "hardcoded"), lambda r: False, may_be_empty=True),
    Case(
        "affiliation-keywordsai-scoped", F("affiliation_category", "", "keywordsai"), lambda r: False, may_be_empty=True
    ),
    Case("affiliation-icontains", F("affiliation_category", "icontains", "CUST"), lambda r: True),
    Case("base-eq", F("base_model_name", "", "openai/gpt-4o"), lambda r: r["base_model_name"] == "openai/gpt-4o"),
    Case("base-startswith", F("base_model_name", "startswith", "alias"), lambda r: r["model_name"] == "alias-of-alias"),
    # ---- AND / OR folding and bundles
    Case(
        "or-two-fields",
        {**F("model_type", "", "embedding"), **F("input_cost", "gte", 15, connector="OR")},
        lambda r: r["model_type"] == "embedding" or cmp(r["input_cost"], lambda v: v >= 15),
    ),
    Case(
        "left-to-right-folding",
        {
            **F("model_type", "", "embedding"),
            **F("input_cost", "gte", 15, connector="OR"),
            **F("provider_id", "", "prov-alpha", connector="AND"),
        },
        lambda r: (
            (r["model_type"] == "embedding" or cmp(r["input_cost"], lambda v: v >= 15))
            and r["provider__provider_id"] == "prov-alpha"
        ),
    ),
    Case(
        "first-connector-ignored",
        {**F("model_type", "", "embedding", connector="OR"), **F("provider_id", "", "prov-alpha")},
        lambda r: r["model_type"] == "embedding" and r["provider__provider_id"] == "prov-alpha",
    ),
    Case(
        "same-field-list-or",
        {"model_name": [C("startswith", "a"), C("endswith", "v2", connector="OR")]},
        lambda r: r["model_name"].startswith("a") or r["model_name"].endswith("v2"),
    ),
    Case(
        "same-field-list-and",
        {"input_cost": [C("gt", 0), C("lt", 1)]},
        lambda r: cmp(r["input_cost"], lambda v: 0 < v < 1),
    ),
    Case(
        "bundle-and",
        {
            **F("model_type", "", "chat"),
            "filter_bundle": {
                "filter_params": {**F("input_cost", "lt", 1), **F("function_call", "", 1, connector="OR")}
            },
        },
        lambda r: r["model_type"] == "chat" and (cmp(r["input_cost"], lambda v: v < 1) or r["function_call"] == 1),
    ),
    Case(
        "bundle-or",
        {
            **F("model_type", "", "embedding"),
            "grp": {
                "connector": "OR",
                "filter_params": {**F("model_name", "startswith", "team/"), **F("input_cost", "gte", 3)},
            },
        },
        lambda r: (
            r["model_type"] == "embedding"
            or (r["model_name"].startswith("team/") and cmp(r["input_cost"], lambda v: v >= 3))
        ),
    ),
    Case(
        "nested-bundles",
        {
            "outer": {
                "filter_params": {
                    **F("provider_id", "", "prov-alpha"),
                    "inner": {
                        "connector": "OR",
                        "filter_params": {**F("model_type", "", "embedding"), **F("input_cost", "isnull", True)},
                    },
                }
            },
            **F("function_call", "not", 1, connector="AND"),
        },
        lambda r: (
            (r["provider__provider_id"] == "prov-alpha" or (r["model_type"] == "embedding" and r["input_cost"] is None))
            and r["function_call"] != 1
        ),
    ),
    Case(
        "empty-bundle-or-matches-all",
        {**F("model_name", "", "zeta"), "anything": {"connector": "OR", "filter_params": {}}},
        lambda r: True,
    ),
    Case(
        "empty-bundle-and",
        {**F("model_name", "", "zeta"), "anything": {"filter_params": {}}},
        lambda r: r["model_name"] == "zeta",
    ),
    Case(
        "deep-bundles",
        nest(5, {**F("model_name", "icontains", "gemini"), **F("input_cost", "gt", 1)}),
        lambda r: "gemini" in squash(r["model_name"]) and cmp(r["input_cost"], lambda v: v > 1),
    ),
    # ---- unscoped: built-ins and customs together
    Case(
        "all-icontains-gemini3",
        F("model_name", "icontains", "gemini3"),
        lambda r: "gemini3" in squash(r["model_name"]),
        scoped=False,
    ),
    Case(
        "all-available-embeddings",
        {**F("available_to_user", "", True), **F("model_type", "", "embedding")},
        lambda r: r["available_to_user"] and r["model_type"] == "embedding",
        scoped=False,
    ),
    Case(
        "all-provider-in",
        F("provider_id", "in", "prov-alpha", "anthropic"),
        lambda r: r["provider__provider_id"] in ("prov-alpha", "anthropic"),
        scoped=False,
    ),
    Case(
        "all-keywordsai-prefix",
        {**F("affiliation_category", "", "keywordsai"), **F("model_name", "startswith", "openai/gpt-4o")},
        lambda r: r["affiliation_category"] == "keywordsai" and r["model_name"].startswith("openai/gpt-4o"),
        scoped=False,
    ),
    Case("all-created-notnull", F("created_at", "isnull", False), lambda r: r["created_at"] is not None, scoped=False),
    Case(
        "all-regex-4o",
        F("model_name", "regex", "^(openai/gpt-4o|alias-4o)"),
        lambda r: bool(re.search(r"^(openai/gpt-4o|alias-4o)", r["model_name"])),
        scoped=False,
    ),
    Case(
        "all-deprecated-cheap",
        {**F("status", "", "deprecated"), **F("input_cost", "lt", 0.25)},
        lambda r: r["status"] == "deprecated" and cmp(r["input_cost"], lambda v: v < 0.25),
        scoped=False,
    ),
    Case(
        "all-custom-or-mini",
        {
            **F("affiliation_category", "", "custom"),
            **F("model_name", "startswith", "openai/gpt-4o-mini", connector="OR"),
        },
        lambda r: r["affiliation_category"] == "custom" or r["model_name"].startswith("openai/gpt-4o-mini"),
        scoped=False,
    ),
    Case(
        "all-not-available-embeddings",
        {**F("available_to_user", "not", True), **F("model_type", "", "embedding")},
        lambda r: not r["available_to_user"] and r["model_type"] == "embedding",
        scoped=False,
    ),
    Case(
        "all-managed-gemini-pro",
        {**F("is_managed", "", True), **F("model_name", "icontains", "gemini-3-pro")},
        lambda r: r["is_managed"] and "gemini3pro" in squash(r["model_name"]),
        scoped=False,
    ),
    Case(
        "all-created-not-mid",
        {**F("created_at", "not", MID), **F("model_name", "startswith", "openai/gpt-4o-mini-t", connector="AND")},
        lambda r: r["created_at"] != r["__mid"] and r["model_name"].startswith("openai/gpt-4o-mini-t"),
        scoped=False,
    ),
]


def resolve_mid(raw: Any, seeded: Seeded) -> Any:
    """Put the seeded timestamp where a case says MID (plain, with a +02:00 offset, or naive)."""
    if isinstance(raw, dict):
        return {k: resolve_mid(v, seeded) for k, v in raw.items()}
    if isinstance(raw, list):
        return [resolve_mid(v, seeded) for v in raw]
    if isinstance(raw, str) and raw.startswith(MID):
        suffix = raw[len(MID) :]
        if suffix == "+02:00":
            return seeded.mid.astimezone(timezone(timedelta(hours=2))).isoformat()
        if suffix == "naive":
            return seeded.mid.astimezone(UTC).replace(tzinfo=None).isoformat()
        return seeded.mid_wire
    return raw


def test_case_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 60


class TestMemoryAndSqlAgree:
    @pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
    async def test_case(self, seeded: Seeded, case: Case) -> None:
        filters = resolve_mid(case.request_filters(), seeded)
        mem_count, mem_names, _ = await list_all(seeded.mem, seeded.headers, filters)
        sql_count, sql_names, _ = await list_all(seeded.sql, seeded.headers, filters)
        assert mem_names == sql_names, {
            "only_memory": sorted(set(mem_names) - set(sql_names)),
            "only_sql": sorted(set(sql_names) - set(mem_names)),
        }
        assert mem_count == sql_count == len(mem_names)
        if case.expect is not None:
            expect = case.expect
            expected = sorted(
                r["model_name"] for r in seeded.universe(case.scoped) if expect({**r, "__mid": seeded.mid})
            )
            assert mem_names == expected, {
                "unexpected": sorted(set(mem_names) - set(expected)),
                "missing": sorted(set(expected) - set(mem_names)),
            }
            assert expected or case.may_be_empty, "a case that matches nothing proves little"

    @pytest.mark.parametrize("case", CASES[:12], ids=lambda c: c.id)
    async def test_summary_agrees(self, seeded: Seeded, case: Case) -> None:
        filters = resolve_mid(case.request_filters(), seeded)
        mem = await seeded.mem.post("/api/models/summary/", json={"filters": filters}, headers=seeded.headers)
        sql = await seeded.sql.post("/api/models/summary/", json={"filters": filters}, headers=seeded.headers)
        assert mem.status_code == sql.status_code == 200
        assert mem.json() == sql.json()
        count, _, _ = await list_all(seeded.mem, seeded.headers, filters)
        summary = mem.json()["summary"]
        assert summary["total_count"] == count == summary["global_count"] + summary["custom_count"]


class TestMemoCache:
    async def test_key_order_is_part_of_the_query(self, seeded: Seeded) -> None:
        """Same keys, different order: different folding, so different results, even after the first is cached."""
        emb, pricey, alpha = (
            F("model_type", "", "embedding"),
            F("input_cost", "gte", 15, connector="OR"),
            F("provider_id", "", "prov-alpha"),
        )
        first = {**CUSTOM_ONLY, "case": {"filter_params": {**emb, **pricey, **alpha}}}  # (emb OR pricey) AND alpha
        second = {**CUSTOM_ONLY, "case": {"filter_params": {**alpha, **emb, **pricey}}}  # (alpha AND emb) OR pricey
        rows = seeded.universe(scoped=True)
        expected_first = sorted(
            r["model_name"]
            for r in rows
            if (r["model_type"] == "embedding" or cmp(r["input_cost"], lambda v: v >= 15))
            and r["provider__provider_id"] == "prov-alpha"
        )
        expected_second = sorted(
            r["model_name"]
            for r in rows
            if (r["provider__provider_id"] == "prov-alpha" and r["model_type"] == "embedding")
            or cmp(r["input_cost"], lambda v: v >= 15)
        )
        assert expected_first != expected_second
        for client in (seeded.sql, seeded.mem):
            for filters, expected in ((first, expected_first), (second, expected_second), (first, expected_first)):
                _, got, _ = await list_all(client, seeded.headers, filters)
                assert got == expected, "memory" if client is seeded.mem else "sql"

    async def test_key_order_matters_for_builtins_too(self, seeded: Seeded) -> None:
        """The SQL path shares the built-in memo: unscoped queries differing only in key order."""
        mini, embedding = F("model_name", "startswith", "openai/gpt-4o-mini"), F("model_type", "", "embedding")
        pricey = F("input_cost", "gte", 100, connector="OR")
        first = {**mini, **pricey, **embedding}  # (mini OR pricey) AND embedding
        second = {**embedding, **mini, **pricey}  # (embedding AND mini) OR pricey
        rows = seeded.universe(scoped=False)
        expected_first = sorted(
            r["model_name"]
            for r in rows
            if (r["model_name"].startswith("openai/gpt-4o-mini") or cmp(r["input_cost"], lambda v: v >= 100))
            and r["model_type"] == "embedding"
        )
        expected_second = sorted(
            r["model_name"]
            for r in rows
            if (r["model_type"] == "embedding" and r["model_name"].startswith("openai/gpt-4o-mini"))
            or cmp(r["input_cost"], lambda v: v >= 100)
        )
        assert expected_first != expected_second
        for client in (seeded.sql, seeded.mem):
            for filters, expected in ((first, expected_first), (second, expected_second)):
                _, got, _ = await list_all(client, seeded.headers, filters)
                assert got == expected, "memory" if client is seeded.mem else "sql"

    async def test_aliases_do_not_collide_in_the_memo(self, seeded: Seeded) -> None:
        """Same conditions, different order, with `name` as an alias of model_name."""
        starts, ends = C("startswith", "a"), C("endswith", "b")
        beta = C("", "prov-beta", connector="OR")
        first = {**CUSTOM_ONLY, "case": {"filter_params": {"model_name": starts, "provider_id": beta, "name": ends}}}
        second = {**CUSTOM_ONLY, "case": {"filter_params": {"model_name": starts, "name": ends, "provider_id": beta}}}
        rows = seeded.universe(scoped=True)
        expected_first = sorted(  # (starts a OR beta) AND ends b
            r["model_name"]
            for r in rows
            if (r["model_name"].startswith("a") or r["provider__provider_id"] == "prov-beta")
            and r["model_name"].endswith("b")
        )
        expected_second = sorted(  # (starts a AND ends b) OR beta
            r["model_name"]
            for r in rows
            if (r["model_name"].startswith("a") and r["model_name"].endswith("b"))
            or r["provider__provider_id"] == "prov-beta"
        )
        assert expected_first != expected_second
        for client in (seeded.sql, seeded.mem):
            for filters, expected in ((first, expected_first), (second, expected_second)):
                _, got, _ = await list_all(client, seeded.headers, filters)
                assert got == expected, "memory" if client is seeded.mem else "sql"


# ==== sorting: memory vs SQL, pages vs all=true, and the independent order ==============================

SORT_SCOPE = {
    "affiliation_category": {"operator": "", "value": ["custom"]},
    "builtins": {"connector": "OR", "filter_params": F("model_name", "startswith", "openai/gpt-4o")},
}
SORTS = [
    "model_name",
    "-model_name",
    "input_cost",
    "-input_cost",
    "output_cost",
    "-output_cost",
    "cache_hit_input_cost",
    "max_context_window",
    "-max_context_window",
    "display_name",
    "-display_name",
    "base_model_name",
    "-base_model_name",
    "created_at",
    "-created_at",
    "-updated_at",
    "function_call",
    "-image_support",
    "streaming_support",
    "model_type",
    "-model_type",
    "provider__provider_id",
    "-provider_id",
    "provider__provider_name",
    "affiliation_category",
    "-affiliation_category",
    "-status",
    "has_discount",
    "-has_discount",
    "is_managed",
    "-is_called_by_custom_name",
    "available_to_user",
    "-available_to_user",
    "-average_tps",
    "average_ttft",
    "-number_of_requests",
    "source",
    "id",
]
FIELD_OF = {"provider_id": "provider__provider_id", "id": "model_name"}


def expected_order(rows: list[Row], sort_by: str) -> list[str]:
    """Nulls last both ways, ties by model_name ascending (code point order)."""
    descending = sort_by.startswith("-")
    name = sort_by.lstrip("-")
    key = FIELD_OF.get(name, name)
    by_name = sorted(rows, key=lambda r: r["model_name"])
    present = [r for r in by_name if r[key] is not None]
    missing = [r for r in by_name if r[key] is None]
    present.sort(key=lambda r: r[key], reverse=descending)  # stable: ties keep name order
    return [r["model_name"] for r in present + missing]


async def pages(client: AsyncTestClient[Any], headers: dict[str, str], sort_by: str, page_size: int) -> list[str]:
    names: list[str] = []
    page = 1
    total = None
    while True:
        r = await client.post(
            LIST_URL,
            params={"page": page, "page_size": page_size, "sort_by": sort_by},
            json={"filters": SORT_SCOPE},
            headers=headers,
        )
        assert r.status_code == 200, r.text
        data = r.json()
        total = data["count"] if total is None else total
        assert data["count"] == total
        names += [m["model_name"] for m in data["results"]]
        if data["next"] is None:
            break
        assert len(data["results"]) == page_size
        page += 1
    beyond = await client.post(
        LIST_URL,
        params={"page": page + 1, "page_size": page_size, "sort_by": sort_by},
        json={"filters": SORT_SCOPE},
        headers=headers,
    )
    assert beyond.status_code == 200 and beyond.json()["results"] == [] and beyond.json()["next"] is None
    assert len(names) == total
    return names


class TestSorting:
    @pytest.mark.parametrize("sort_by", SORTS)
    async def test_sort(self, seeded: Seeded, sort_by: str) -> None:
        _, mem_all, _ = await list_all(seeded.mem, seeded.headers, SORT_SCOPE, sort_by)
        _, sql_all, _ = await list_all(seeded.sql, seeded.headers, SORT_SCOPE, sort_by)
        assert mem_all == sql_all
        assert await pages(seeded.mem, seeded.headers, sort_by, 7) == mem_all
        assert await pages(seeded.sql, seeded.headers, sort_by, 7) == sql_all
        rows = [
            r
            for r in seeded.universe(scoped=False)
            if r["affiliation_category"] == "custom" or r["model_name"].startswith("openai/gpt-4o")
        ]
        assert len(mem_all) == len(rows) > 50
        assert mem_all == expected_order(rows, sort_by)
