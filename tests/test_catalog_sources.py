"""The catalog converters (modelreg.catalog.sources): litellm, genai-prices' data file, modelreg's own format."""

from __future__ import annotations

import copy
import json
import math
from datetime import date
from typing import Any

import pytest

from modelreg.catalog.load import SNAPSHOT_PATH, catalog_from_snapshot
from modelreg.catalog.sources import (
    FORMAT,
    MODEL_TYPES,
    CatalogFormatError,
    ConversionStats,
    apply_genai_prices,
    from_litellm,
    from_modelreg,
    render_snapshot,
)
from modelreg.domain.llm_model import MODEL_TYPES as DOMAIN_MODEL_TYPES

LITELLM: dict[str, Any] = {
    "sample_spec": {"mode": "one of: chat, embedding, completion", "litellm_provider": "one of providers"},
    "gpt-4o": {
        "mode": "chat",
        "litellm_provider": "openai",
        "input_cost_per_token": 2.5e-06,
        "output_cost_per_token": 1e-05,
        "cache_read_input_token_cost": 1.25e-06,
        "max_input_tokens": 128000,
        "max_tokens": 16384,
        "max_output_tokens": 16384,
        "supports_function_calling": True,
        "supports_vision": True,
        "supports_response_schema": True,
    },
    # the same model under its prefixed key: merged, the un-prefixed key's data wins
    "openai/gpt-4o": {"mode": "chat", "litellm_provider": "openai", "input_cost_per_token": 9e-06},
    "gpt-4o-mini-20240718": {
        "mode": "chat",
        "litellm_provider": "openai",
        "input_cost_per_token": "1.5e-07",  # a numeric string is read as the number
        "max_tokens": 128000,
    },
    "text-embedding-3-small": {
        "mode": "embedding",
        "litellm_provider": "openai",
        "input_cost_per_token": 2e-08,
        "max_input_tokens": 8191,
    },
    "tts-1": {"mode": "audio_speech", "litellm_provider": "openai", "input_cost_per_character": 1.5e-05},
    "whisper-1": {"mode": "audio_transcription", "litellm_provider": "openai", "input_cost_per_token": 1e-06},
    "claude-old-1": {
        "mode": "completion",
        "litellm_provider": "anthropic",
        "input_cost_per_token": 8e-06,
        "output_cost_per_token": 2.4e-05,
        "deprecation_date": "2025-01-31 ",
        "supports_native_streaming": False,
        "supports_sampling_params": False,
    },
    "vertex_ai/claude-x": {
        "mode": "chat",
        "litellm_provider": "vertex_ai-anthropic_models",
        "input_cost_per_token": 3e-06,
        "output_cost_per_token": 1.5e-05,
        "supports_reasoning": True,
    },
    "bedrock/us-east-1/amazon.titan-text": {
        "mode": "chat",
        "litellm_provider": "bedrock",
        "input_cost_per_token": 1e-06,
    },
    "copilot-x": {"mode": "chat", "litellm_provider": "microsoft_365_copilot", "input_cost_per_token": 1e-06},
    "dall-e-3": {"mode": "image_generation", "litellm_provider": "openai", "output_cost_per_image": 0.04},
    "no-mode": {"litellm_provider": "openai"},
    "bad\x00name": {"mode": "chat", "litellm_provider": "openai"},
}

GENAI: list[dict[str, Any]] = [
    {
        "id": "openai",
        "name": "OpenAI",
        "api_pattern": "https://api\\.openai\\.com",
        "model_match": {"contains": "gpt"},
        "models": [
            {
                "id": "gpt-4o",
                "name": "GPT-4o",
                "match": {"or": [{"equals": "gpt-4o"}, {"starts_with": "gpt-4o-2024-08"}]},
                # tiered: the base tier counts; no cache price here, so litellm's stays
                "prices": {"input_mtok": {"base": 2.5, "tiers": [{"start": 128000, "price": 5}]}, "output_mtok": 10},
            },
            {
                "id": "gpt-4o-mini",
                "name": "GPT-4o mini",
                # litellm's compact date is retried in genai-prices' dashed form
                "match": {"equals": "gpt-4o-mini-2024-07-18"},
                "prices": {"input_mtok": 0.15, "output_mtok": 0.6},
            },
            {
                "id": "text-embedding-3-small",
                "name": "text-embedding-3-small",  # all lower case: an id, not a display name
                "match": {"ends_with": "EMBEDDING-3-small"},
                "prices": {"input_mtok": 0.02},
            },
            {
                "id": "whisper",
                "name": "Whisper",
                "match": {"regex": "^whisper-\\d+$"},
                "prices": [
                    {"prices": {"input_mtok": 1}},
                    {"constraint": {"start_date": "2026-06-01"}, "prices": {"input_mtok": 2}},
                    {"constraint": {"start_date": "2099-01-01"}, "prices": {"input_mtok": 3}},
                ],
            },
        ],
    },
    {
        "id": "anthropic",
        "name": "Anthropic",
        "api_pattern": "https://api\\.anthropic\\.com",
        "provider_match": {"contains": "anthropic"},
        "models": [
            {
                "id": "claude-old",
                "name": "Claude Old",
                "match": {"and": [{"contains": "old"}, {"starts_with": "claude-"}]},
                "prices": [
                    {"prices": {"input_mtok": 4, "output_mtok": 12}},
                    # peak/standard window: counts as in force, so the standard rate is shown
                    {
                        "constraint": {"start_time": "00:30:00Z", "end_time": "16:30:00Z"},
                        "prices": {"input_mtok": 8, "output_mtok": 24},
                    },
                ],
            },
            {"id": "claude-x", "name": "Claude X", "match": {"starts_with": "claude-x"}, "prices": {"input_mtok": 3.5}},
        ],
    },
    {
        # vertex_ai* maps to "google", which has no claude-x itself but falls back to anthropic
        "id": "google",
        "name": "Google",
        "api_pattern": "https://.*\\.googleapis\\.com",
        "fallback_model_providers": ["anthropic"],
        "models": [{"id": "gemini", "match": {"starts_with": "gemini"}, "prices": {"input_mtok": 1}}],
    },
    {
        "id": "aws",
        "name": "AWS Bedrock",
        "api_pattern": "https://bedrock",
        "provider_match": {"or": [{"contains": "bedrock"}, {"contains": "amazon"}]},
        "models": [{"id": "titan", "name": "Titan Text", "match": {"contains": "titan"}, "prices": {"input_mtok": 99}}],
    },
    {
        "id": "github-copilot",
        "name": "GitHub Copilot",
        "api_pattern": "https://copilot",
        "provider_match": {"contains": "copilot"},
        "models": [{"id": "any", "name": "Copilot Any", "match": {"contains": "copilot"}, "prices": {"input_mtok": 7}}],
    },
]


def models_by_name(snapshot: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["model_name"]: m for m in snapshot["models"]}


def real_snapshot() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SNAPSHOT_PATH.read_bytes())
    return data


# ---------------------------------------------------------------------------- from_litellm


def test_from_litellm_builds_a_full_snapshot() -> None:
    stats = ConversionStats()
    snapshot = from_litellm(LITELLM, litellm_version="9.9.9", stats=stats)
    assert snapshot["format"] == FORMAT
    assert snapshot["sources"] == {"litellm": "9.9.9"}
    names = [m["model_name"] for m in snapshot["models"]]
    assert names == sorted(names)
    assert names == [
        "anthropic/claude-old-1",
        "bedrock/us-east-1/amazon.titan-text",
        "microsoft_365_copilot/copilot-x",
        "openai/gpt-4o",
        "openai/gpt-4o-mini-20240718",
        "openai/text-embedding-3-small",
        "openai/tts-1",
        "openai/whisper-1",
        "vertex_ai-anthropic_models/vertex_ai/claude-x",
    ]
    assert stats.skipped_mode == 3  # sample_spec, dall-e-3, no-mode
    assert stats.skipped_name == 1
    assert stats.merged_duplicates == 1
    assert stats.kept_types == {"chat": 6, "embedding": 1, "speech": 1, "transcription": 1}

    models = models_by_name(snapshot)
    assert models["openai/gpt-4o"] == {
        "model_name": "openai/gpt-4o",
        "native_name": "gpt-4o",
        "aliases": ["gpt-4o"],
        "provider_id": "openai",
        "display_name": "GPT-4o",
        "model_type": "chat",
        "max_context_window": 128000,
        "max_output_tokens": 16384,
        "input_cost": 2.5,  # from the un-prefixed key, x 1e6, rounded
        "output_cost": 10.0,
        "cache_hit_input_cost": 1.25,
        "cache_creation_input_cost": None,
        "pricing_tiers": [],
        "dated_prices": [],
        "streaming_support": 1,
        "function_call": 1,
        "image_support": 1,
        "supported_params": [
            "temperature",
            "top_p",
            "max_tokens",
            "max_completion_tokens",
            "stop",
            "n",
            "presence_penalty",
            "frequency_penalty",
            "seed",
            "stream",
            "user",
            "logit_bias",
            "tools",
            "tool_choice",
            "parallel_tool_calls",
            "response_format",
        ],
        "deprecation_date": None,
    }
    mini = models["openai/gpt-4o-mini-20240718"]
    assert mini["input_cost"] == 0.15
    assert mini["max_context_window"] == 128000  # max_tokens when max_input_tokens is missing
    assert mini["display_name"] == "GPT-4o Mini 20240718"

    embedding = models["openai/text-embedding-3-small"]
    assert embedding["model_type"] == "embedding"
    assert embedding["supported_params"] == ["encoding_format", "user"]
    assert embedding["streaming_support"] == 0
    assert embedding["input_cost"] == 0.02

    speech = models["openai/tts-1"]
    assert speech["model_type"] == "speech"
    assert speech["input_cost"] is None  # per-character prices are not per-token prices
    assert speech["supported_params"] == ["voice", "response_format", "speed"]
    assert models["openai/whisper-1"]["model_type"] == "transcription"

    old = models["anthropic/claude-old-1"]
    assert old["model_type"] == "chat"  # litellm "completion"
    assert old["deprecation_date"] == "2025-01-31"
    assert old["streaming_support"] == 0
    assert old["supported_params"] == ["max_tokens", "max_completion_tokens", "stop", "n", "seed", "user"]

    vertex = models["vertex_ai-anthropic_models/vertex_ai/claude-x"]
    assert vertex["native_name"] == "vertex_ai/claude-x"
    assert vertex["aliases"] == ["vertex_ai/claude-x"]
    assert vertex["supported_params"][-1] == "reasoning_effort"

    assert snapshot["providers"]["openai"] == {
        "provider_name": "OpenAI",
        "moderation": "Filtered",
        "credential_fields": ["api_key"],
    }
    assert snapshot["providers"]["bedrock"]["credential_fields"] == [
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_region_name",
    ]
    assert snapshot["providers"]["vertex_ai-anthropic_models"]["provider_name"] == "Google Vertex AI"
    assert list(snapshot["providers"]) == sorted({m["provider_id"] for m in snapshot["models"]})
    # the output is a valid snapshot, already normalized, that the app loads
    assert from_modelreg(snapshot) == snapshot
    assert len(catalog_from_snapshot(snapshot)) == len(names)


def test_from_litellm_without_version() -> None:
    assert from_litellm({})["sources"] == {"litellm": "unknown"}


# ---------------------------------------------------------------------------- apply_genai_prices


def test_apply_genai_prices() -> None:
    base = from_litellm(LITELLM, litellm_version="9.9.9")
    before = copy.deepcopy(base)
    stats = ConversionStats()
    priced = apply_genai_prices(base, GENAI, version="1.2.3", stats=stats)
    assert base == before  # the input is not modified
    assert priced["sources"] == {"litellm": "9.9.9", "genai_prices": "1.2.3"}
    assert priced["providers"] == base["providers"]
    assert [m["model_name"] for m in priced["models"]] == [m["model_name"] for m in base["models"]]
    # gpt-4o, gpt-4o-mini, embedding, whisper, claude-old, claude-x, titan
    assert stats.genai_matches == 7

    models = models_by_name(priced)
    gpt = models["openai/gpt-4o"]  # "or" + "equals"
    assert (gpt["input_cost"], gpt["output_cost"]) == (2.5, 10.0)  # base tier
    assert gpt["cache_hit_input_cost"] == 1.25  # genai-prices has none: litellm's stays
    assert gpt["display_name"] == "GPT-4o"

    mini = models["openai/gpt-4o-mini-20240718"]  # compact date retried as 2024-07-18
    assert (mini["input_cost"], mini["output_cost"], mini["display_name"]) == (0.15, 0.6, "GPT-4o mini")

    embedding = models["openai/text-embedding-3-small"]  # "ends_with", case-insensitive
    assert embedding["input_cost"] == 0.02
    assert embedding["display_name"] == "Text Embedding 3 Small"  # lower-case genai name: derived name stays

    assert models["openai/whisper-1"]["input_cost"] == 2.0  # "regex"; dated price in force at the default date
    old = models["anthropic/claude-old-1"]  # "and" of "contains" and "starts_with"
    assert (old["input_cost"], old["output_cost"], old["display_name"]) == (8.0, 24.0, "Claude Old")

    vertex = models["vertex_ai-anthropic_models/vertex_ai/claude-x"]  # google -> anthropic fallback
    assert (vertex["input_cost"], vertex["output_cost"]) == (3.5, 15.0)  # output falls back to litellm's
    assert vertex["display_name"] == "Claude X"

    titan = models["bedrock/us-east-1/amazon.titan-text"]  # region-pinned: name yes, prices no
    assert (titan["input_cost"], titan["display_name"]) == (1.0, "Titan Text")

    copilot = models["microsoft_365_copilot/copilot-x"]  # never matched (provider override)
    assert copilot == models_by_name(base)["microsoft_365_copilot/copilot-x"]
    assert models["openai/tts-1"] == models_by_name(base)["openai/tts-1"]  # unknown to genai-prices

    assert from_modelreg(priced) == priced


def test_apply_genai_prices_options() -> None:
    base = from_litellm(LITELLM)
    early = apply_genai_prices(base, {"providers": GENAI}, prices_as_of=date(2026, 1, 1))
    assert models_by_name(early)["openai/whisper-1"]["input_cost"] == 1.0  # before the dated change
    assert early["sources"]["genai_prices"] == "unknown"
    slim = [
        {**p, "models": [{k: v for k, v in m.items() if k != "name"} for m in p["models"]]}
        for p in GENAI  # data_slim.json has no names
    ]
    priced = apply_genai_prices(base, slim)
    assert models_by_name(priced)["openai/gpt-4o"]["display_name"] == "GPT-4o"  # derived
    assert models_by_name(priced)["anthropic/claude-old-1"]["display_name"] == "Claude Old 1"
    assert apply_genai_prices(base, []) == {**base, "sources": {**base["sources"], "genai_prices": "unknown"}}


# ---------------------------------------------------------------------------- from_modelreg


def test_from_modelreg_round_trip_of_the_real_snapshot() -> None:
    data = real_snapshot()
    checked = from_modelreg(data)
    assert checked == data
    assert render_snapshot(checked).encode() == SNAPSHOT_PATH.read_bytes()


def test_from_modelreg_normalizes() -> None:
    raw = {
        "format": FORMAT,
        "sources": {"hand": "1"},
        "providers": {"zeta": {"provider_name": "Zeta"}, "acme": {"provider_name": "Acme", "moderation": "Filtered"}},
        "models": [
            {"model_name": "zeta/b", "native_name": "b", "provider_id": "zeta", "input_cost": 1, "function_call": True},
            {
                "model_name": "acme/a",
                "native_name": "a",
                "provider_id": "acme",
                "max_context_window": 8192.0,
                "supported_params": ["stream", "stream"],
                "deprecation_date": "2026-01-02",
            },
        ],
    }
    checked = from_modelreg(raw)
    assert list(checked["providers"]) == ["acme", "zeta"]
    assert checked["providers"]["zeta"] == {
        "provider_name": "Zeta",
        "moderation": "Unfiltered",
        "credential_fields": ["api_key"],
    }
    a, b = checked["models"]
    assert a["model_name"] == "acme/a"
    assert a["max_context_window"] == 8192 and isinstance(a["max_context_window"], int)
    assert a["supported_params"] == ["stream"]
    assert b["input_cost"] == 1.0 and isinstance(b["input_cost"], float)
    assert b["function_call"] == 1 and b["model_type"] == "chat" and b["aliases"] == []
    assert list(b) == list(real_snapshot()["models"][0])  # every field, in file order
    assert from_modelreg(checked) == checked
    assert len(catalog_from_snapshot(checked)) == 2


def test_model_types_match_the_domain() -> None:
    assert MODEL_TYPES == DOMAIN_MODEL_TYPES


# ---------------------------------------------------------------------------- errors


def with_entry(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(LITELLM)
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], r"litellm data: expected a JSON object of model entries, got array"),
        (with_entry(**{"gpt-4o": "chat"}), r"litellm entry 'gpt-4o': expected an object, got string"),
        (
            with_entry(**{"gpt-4o": {**LITELLM["gpt-4o"], "input_cost_per_token": "cheap"}}),
            r"litellm entry 'gpt-4o': input_cost_per_token: 'cheap' is not a number",
        ),
        (
            with_entry(**{"gpt-4o": {**LITELLM["gpt-4o"], "output_cost_per_token": -1e-6}}),
            r"litellm entry 'gpt-4o': output_cost_per_token: expected a finite number >= 0",
        ),
        (
            with_entry(**{"gpt-4o": {**LITELLM["gpt-4o"], "cache_read_input_token_cost": [1]}}),
            r"litellm entry 'gpt-4o': cache_read_input_token_cost: expected a number, got array",
        ),
        (
            with_entry(**{"gpt-4o": {**LITELLM["gpt-4o"], "max_tokens": True}}),
            r"litellm entry 'gpt-4o': max_tokens: expected a number, got boolean",
        ),
        (
            with_entry(x={"mode": "chat"}),
            r"litellm entry 'x': litellm_provider must be a non-empty string, got None",
        ),
        (with_entry(x={"mode": ["chat"], "litellm_provider": "openai"}), r"litellm entry 'x': mode must be a string"),
    ],
)
def test_from_litellm_errors(data: Any, message: str) -> None:
    with pytest.raises(CatalogFormatError, match=message):
        from_litellm(data)


def genai_with_model(**fields: Any) -> list[dict[str, Any]]:
    model = {"id": "m", "name": "M", "match": {"equals": "m"}, "prices": {"input_mtok": 1}, **fields}
    return [{"id": "p", "name": "P", "api_pattern": "x", "models": [model]}]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("prices", r"genai-prices data: expected a list of providers \(data.json\), or an object .*; got string"),
        ({"models": []}, r"genai-prices data: expected a list of providers .*; got null"),
        ([["openai"]], r"genai-prices providers\[0\]: expected a provider object, got array"),
        ([{"name": "no id", "models": []}], r"genai-prices providers\[0\]: id must be a non-empty string"),
        ([{"id": "p", "models": {}}], r"genai-prices provider 'p': models must be a list, got object"),
        (
            [{"id": "p", "provider_match": {"like": "p"}, "models": []}],
            r"genai-prices provider 'p': provider_match: unknown match rule 'like'",
        ),
        (genai_with_model(match=None), r"provider 'p': models\[0\] \('m'\).match: a match rule must be an object"),
        (
            genai_with_model(match={"equals": "m", "contains": "m"}),
            r"\('m'\).match: a match rule must be an object with exactly one of equals, starts_with",
        ),
        (genai_with_model(match={"or": {"equals": "m"}}), r"\('m'\).match: or needs a list of rules, got object"),
        (genai_with_model(match={"and": [{"starts_with": 5}]}), r"\('m'\).match.and\[0\]: starts_with needs a string"),
        (genai_with_model(match={"regex": "("}), r"\('m'\).match.regex: invalid regex '\('"),
        (genai_with_model(prices={"input_mtok": "cheap"}), r"\('m'\).prices.input_mtok: expected a number, got string"),
        (genai_with_model(prices={"output_mtok": {"tiers": []}}), r"prices.output_mtok: tiered prices need a base"),
        (genai_with_model(prices="free"), r"\('m'\): prices must be an object or a list, got string"),
        (
            genai_with_model(prices=[{"constraint": {"start_date": "soon"}, "prices": {}}]),
            r"\('m'\).prices\[0\].constraint.start_date: expected a YYYY-MM-DD date, got 'soon'",
        ),
        (genai_with_model(name=7), r"\('m'\): name must be a string, got number"),
        (
            [{"id": "p", "models": [{"id": "m", "prices": {}}]}],
            r"provider 'p': models\[0\] \('m'\): missing match rule",
        ),
    ],
)
def test_apply_genai_prices_errors(data: Any, message: str) -> None:
    with pytest.raises(CatalogFormatError, match=message):
        apply_genai_prices(from_litellm(LITELLM), data)


def test_apply_genai_prices_checks_the_snapshot() -> None:
    with pytest.raises(CatalogFormatError, match=r"modelreg catalog: format must be one of 'modelreg-catalog/1'"):
        apply_genai_prices({"models": []}, GENAI)


def snapshot_with(model: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    entry = {"model_name": "acme/a", "native_name": "a", "provider_id": "acme"}
    if model is not None:
        entry.update(model)
    data = {"format": FORMAT, "sources": {}, "providers": {"acme": {"provider_name": "Acme"}}, "models": [entry]}
    data.update(top)
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], r"modelreg catalog: expected a JSON object, got array"),
        (
            snapshot_with(format="modelreg-catalog/4"),
            r"format must be one of 'modelreg-catalog/1', 'modelreg-catalog/2', 'modelreg-catalog/3', "
            r"got 'modelreg-catalog/4'",
        ),
        ({"format": FORMAT, "sources": {}, "providers": {}}, r"modelreg catalog: missing required field 'models'"),
        (snapshot_with(extra=1), r"modelreg catalog: unknown field\(s\) 'extra'"),
        (snapshot_with(sources={"litellm": 1}), r"sources must map names to version strings"),
        (snapshot_with(models={}), r"models must be a list, got object"),
        (snapshot_with(models=["acme/a"]), r"models\[0\]: expected an object, got string"),
        (snapshot_with({"model_name": ""}), r"models\[0\]: model_name '' is empty"),
        (snapshot_with({"model_name": " acme/a"}), r"models\[0\]: model_name ' acme/a' has leading or trailing"),
        (snapshot_with({"model_name": "acme/\x07a"}), r"models\[0\]: model_name 'acme/\\x07a' contains control"),
        (snapshot_with({"model_name": "a" * 257}), r"models\[0\]: model_name 'a+\.\.\. is longer than 256 characters"),
        (snapshot_with({"model_name": 5}), r"models\[0\]: model_name must be a string, got number 5"),
        (snapshot_with({"native_name": None}), r"models\[0\] \('acme/a'\): native_name must be a non-empty string"),
        (
            {**snapshot_with(), "models": [snapshot_with()["models"][0]] * 2},
            r"models\[1\]: duplicate model_name 'acme/a' \(also models\[0\]\)",
        ),
        (snapshot_with({"provider_id": None}), r"\('acme/a'\): provider_id must be a non-empty string"),
        (snapshot_with({"cost": 1}), r"models\[0\] \('acme/a'\): unknown field\(s\) 'cost'"),
        (snapshot_with({"input_cost": "1"}), r"\('acme/a'\): input_cost: expected a number, got string"),
        (snapshot_with({"input_cost": -1}), r"\('acme/a'\): input_cost: expected a finite number >= 0, got -1"),
        (snapshot_with({"output_cost": math.nan}), r"\('acme/a'\): output_cost: expected a finite number >= 0"),
        (snapshot_with({"output_cost": math.inf}), r"\('acme/a'\): output_cost: expected a finite number >= 0"),
        (snapshot_with({"max_context_window": 1.5}), r"\('acme/a'\): max_context_window must be a whole number"),
        (snapshot_with({"max_output_tokens": -4}), r"\('acme/a'\): max_output_tokens: expected a finite number >= 0"),
        (snapshot_with({"model_type": "poem"}), r"\('acme/a'\): model_type must be one of chat, embedding"),
        (snapshot_with({"function_call": 2}), r"\('acme/a'\): function_call must be 0 or 1, got 2"),
        (snapshot_with({"aliases": "a"}), r"\('acme/a'\): aliases must be a list of strings"),
        (snapshot_with({"aliases": ["a\n"]}), r"\('acme/a'\): alias 'a\\n' has leading or trailing whitespace"),
        (snapshot_with({"aliases": ["acme/a"]}), r"\('acme/a'\): alias 'acme/a' repeats the model's own name"),
        (snapshot_with({"supported_params": [1]}), r"\('acme/a'\): supported_params must be a list of strings"),
        (snapshot_with({"deprecation_date": "someday"}), r"\('acme/a'\): deprecation_date: expected a YYYY-MM-DD"),
        (snapshot_with(providers={"acme": {}}), r"providers\['acme'\]: missing required field 'provider_name'"),
        (snapshot_with(providers={"acme": {"provider_name": "A", "x": 1}}), r"providers\['acme'\]: unknown field"),
        (
            snapshot_with(providers={"acme": {"provider_name": "A", "credential_fields": "api_key"}}),
            r"providers\['acme'\]: credential_fields must be a list of strings",
        ),
    ],
)
def test_from_modelreg_errors(data: Any, message: str) -> None:
    with pytest.raises(CatalogFormatError, match=message):
        from_modelreg(data)


def test_from_modelreg_alias_conflicts() -> None:
    a = {"model_name": "acme/a", "native_name": "a", "provider_id": "acme", "aliases": ["a"]}
    b = {"model_name": "acme/b", "native_name": "b", "provider_id": "acme", "aliases": ["a"]}
    c = {"model_name": "acme/c", "native_name": "c", "provider_id": "acme", "aliases": ["acme/a"]}
    with pytest.raises(CatalogFormatError, match=r"model 'acme/b': alias 'a' is also an alias of 'acme/a'"):
        from_modelreg(snapshot_with(models=[a, b]))
    with pytest.raises(CatalogFormatError, match=r"model 'acme/c': alias 'acme/a' is another model's name"):
        from_modelreg(snapshot_with(models=[a, c]))


def test_catalog_format_error_is_a_value_error() -> None:
    assert issubclass(CatalogFormatError, ValueError)
