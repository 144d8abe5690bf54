"""Tiers in the catalog: litellm's `*_above_<n>k_tokens` prices, genai-prices' tiered prices, the snapshot format
(2, with format 1 still accepted), and the committed snapshot's tiers reaching billing."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from modelreg.catalog.load import SNAPSHOT_PATH, catalog_from_snapshot, load_catalog
from modelreg.catalog.sources import FORMAT, CatalogFormatError, apply_genai_prices, from_litellm, from_modelreg
from modelreg.domain.usage import TokenUsage, call_cost

LONG_CONTEXT: dict[str, Any] = {
    "gemini-x": {
        "mode": "chat",
        "litellm_provider": "gemini",
        "input_cost_per_token": 1.25e-06,
        "output_cost_per_token": 1e-05,
        "cache_read_input_token_cost": 1.25e-07,
        "input_cost_per_token_above_200k_tokens": 2.5e-06,
        "output_cost_per_token_above_200k_tokens": 1.5e-05,
        "cache_read_input_token_cost_above_200k_tokens": 2.5e-07,
        "output_cost_per_token_above_128k_tokens": 1.2e-05,  # no input price at 128k: the base input
        "input_cost_per_token_above_200k_tokens_priority": 9e-06,  # a service-tier variant: ignored
        "cache_creation_input_token_cost_above_1hr": 9e-06,  # not a prompt-size tier: ignored
    },
    "flat": {"mode": "chat", "litellm_provider": "gemini", "input_cost_per_token": 1e-06},
}


def _model(snapshot: dict[str, Any], name: str) -> dict[str, Any]:
    return next(m for m in snapshot["models"] if m["model_name"] == name)


def test_litellm_thresholds_become_tiers() -> None:
    snapshot = from_litellm(LONG_CONTEXT)
    assert snapshot["format"] == FORMAT == "modelreg-catalog/3"
    assert _model(snapshot, "gemini/gemini-x")["pricing_tiers"] == [
        {
            "above_input_tokens": 128_000,
            "input_cost": 1.25,
            "output_cost": 12.0,
            "cache_hit_input_cost": None,
            "cache_creation_input_cost": None,
        },
        {
            "above_input_tokens": 200_000,
            "input_cost": 2.5,
            "output_cost": 15.0,
            "cache_hit_input_cost": 0.25,
            "cache_creation_input_cost": None,
        },
    ]
    assert _model(snapshot, "gemini/flat")["pricing_tiers"] == []


def test_a_bad_tier_price_in_litellm_names_the_entry() -> None:
    bad = {"flat": {**LONG_CONTEXT["flat"], "input_cost_per_token_above_200k_tokens": "lots"}}
    with pytest.raises(CatalogFormatError, match=r"litellm entry 'flat': input_cost_per_token_above_200k_tokens"):
        from_litellm(bad)


GENAI: list[dict[str, Any]] = [
    {
        "id": "gemini",
        "name": "Gemini",
        "models": [
            {
                "id": "gemini-x",
                "name": "Gemini X",
                "match": {"equals": "gemini-x"},
                "prices": {
                    "input_mtok": {"base": 1.0, "tiers": [{"start": 200000, "price": 2.0}]},
                    "output_mtok": {
                        "base": 8.0,
                        "tiers": [{"start": 100000, "price": 9.0}, {"start": 200000, "price": 12}],
                    },
                    "cache_read_mtok": 0.1,
                },
            },
            {"id": "flat", "name": "Flat", "match": {"equals": "flat"}, "prices": {"input_mtok": 0.5}},
        ],
    }
]


def test_genai_prices_tiers_replace_litellm_tiers_and_flat_prices_keep_them() -> None:
    priced = apply_genai_prices(from_litellm(LONG_CONTEXT), GENAI)
    gemini = _model(priced, "gemini/gemini-x")
    assert (gemini["input_cost"], gemini["output_cost"], gemini["cache_hit_input_cost"]) == (1.0, 8.0, 0.1)
    # One tier per distinct start; each price at its own tier in force there (input has none at 100k yet).
    assert gemini["pricing_tiers"] == [
        {
            "above_input_tokens": 100_000,
            "input_cost": 1.0,
            "output_cost": 9.0,
            "cache_hit_input_cost": 0.1,
            "cache_creation_input_cost": None,
        },
        {
            "above_input_tokens": 200_000,
            "input_cost": 2.0,
            "output_cost": 12.0,
            "cache_hit_input_cost": 0.1,
            "cache_creation_input_cost": None,
        },
    ]
    with_litellm_tiers = copy.deepcopy(LONG_CONTEXT)
    with_litellm_tiers["flat"]["input_cost_per_token_above_200k_tokens"] = 3e-06
    flat = _model(apply_genai_prices(from_litellm(with_litellm_tiers), GENAI), "gemini/flat")
    assert flat["input_cost"] == 0.5 and flat["pricing_tiers"][0]["input_cost"] == 3.0  # genai-prices has no tiers


def test_genai_prices_bad_tiers() -> None:
    broken = copy.deepcopy(GENAI)
    broken[0]["models"][0]["prices"]["input_mtok"]["tiers"] = [{"start": -5, "price": 1}]
    with pytest.raises(CatalogFormatError, match=r"input_mtok\.tiers\[0\]"):
        apply_genai_prices(from_litellm(LONG_CONTEXT), broken)


def _snapshot(tiers: Any, fmt: str = FORMAT) -> dict[str, Any]:
    model = {"model_name": "acme/a", "native_name": "a", "provider_id": "acme", "pricing_tiers": tiers}
    return {"format": fmt, "sources": {}, "providers": {"acme": {"provider_name": "Acme"}}, "models": [model]}


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        ({}, r"pricing_tiers must be a list, got object"),
        ([5], r"pricing_tiers\[0\]: expected an object"),
        ([{"above_input_tokens": 0, "input_cost": 1}], r"above_input_tokens must be a whole number >= 1"),
        ([{"above_input_tokens": 10.5, "input_cost": 1}], r"above_input_tokens must be a whole number"),
        (
            [{"above_input_tokens": 10, "input_cost": 1}, {"above_input_tokens": 10, "input_cost": 2}],
            r"pricing_tiers\[1\]: above_input_tokens must be strictly ascending",
        ),
        ([{"above_input_tokens": 10}], r"input_cost is required"),
        ([{"above_input_tokens": 10, "input_cost": -1}], r"input_cost: expected a finite number >= 0"),
        ([{"above_input_tokens": 10, "input_cost": 1, "tier": "x"}], r"unknown field\(s\) 'tier'"),
    ],
)
def test_snapshot_tier_validation(tiers: Any, message: str) -> None:
    with pytest.raises(CatalogFormatError, match=message):
        from_modelreg(_snapshot(tiers))


def test_format_1_is_read_as_format_2_without_tiers() -> None:
    old = _snapshot([])
    del old["models"][0]["pricing_tiers"]
    old["format"] = "modelreg-catalog/1"
    upgraded = from_modelreg(old)
    assert upgraded["format"] == FORMAT and upgraded["models"][0]["pricing_tiers"] == []
    # The loader reads a format-1 catalog installed before the upgrade as it is.
    assert catalog_from_snapshot(old).models["acme/a"].pricing_tiers == ()


def test_the_committed_snapshot_carries_tiers_and_they_reach_billing() -> None:
    raw = json.loads(SNAPSHOT_PATH.read_text())
    assert raw["format"] == FORMAT
    assert from_modelreg(raw) == raw  # normalized as committed
    tiered = [m for m in raw["models"] if m["pricing_tiers"]]
    assert len(tiered) > 100
    catalog = load_catalog()
    gemini = catalog.models["gemini/gemini-2.5-pro"]
    (tier,) = gemini.pricing_tiers
    assert tier.above_input_tokens == 200_000 and tier.input_cost > (gemini.input_cost or 0)
    usage = TokenUsage(prompt_tokens=250_000, completion_tokens=100)
    assert call_cost(gemini, usage) == pytest.approx((250_000 * tier.input_cost + 100 * (tier.output_cost or 0)) / 1e6)
