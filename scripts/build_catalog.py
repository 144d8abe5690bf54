#!/usr/bin/env python3
"""Build the committed model catalog snapshot (``src/modelreg/catalog/snapshot.json``).

Two public data sets are merged:

* litellm's ``model_prices_and_context_window_backup.json`` (read straight out of the
  litellm wheel; litellm itself is never imported or installed), which gives the model
  list, context windows, capability flags and fallback prices;
* genai-prices (the installed ``genai_prices`` package), whose prices and display names
  win wherever it knows the model.

Usage::

    python scripts/build_catalog.py [--litellm-json PATH | --litellm-wheel PATH] [--out PATH]

Only the standard library and ``genai_prices`` are used, and the output is deterministic:
the same inputs give a byte-identical file. See ``src/modelreg/catalog/README.md``.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from genai_prices import data_snapshot
from genai_prices.types import (
    ConditionalPrice,
    ModelInfo,
    ModelPrice,
    StartDateConstraint,
    TieredPrices,
    TimeOfDateConstraint,
)

FORMAT = "modelreg-catalog/1"
LITELLM_VERSION = "1.106.2"
LITELLM_JSON_MEMBER = "litellm/model_prices_and_context_window_backup.json"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "src" / "modelreg" / "catalog" / "snapshot.json"

# genai-prices keeps dated price changes (StartDateConstraint). They are resolved at this fixed
# date rather than "today" so that regenerating gives the same file; bump it deliberately.
DEFAULT_PRICES_AS_OF = date(2026, 12, 1)

MAX_MODEL_NAME_LENGTH = 256

# A region-pinned key such as "bedrock/us-gov-west-1/amazon.titan-text-lite-v1". genai-prices
# is not region-aware (it would return the default-region price), so these keep litellm's prices.
REGION_SEGMENT = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d+$")

# litellm mode -> catalog model_type; every other mode is skipped.
MODE_TO_TYPE: dict[str, str] = {
    "chat": "chat",
    "completion": "chat",
    "embedding": "embedding",
    "audio_speech": "speech",
    "audio_transcription": "transcription",
}

# Default supported_params per model type, used when litellm carries no explicit list.
# Chat sets are then adjusted by the capability flags (see chat_params()).
DEFAULT_PARAMS: dict[str, tuple[str, ...]] = {
    "chat": (
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
    ),
    "chat_tools": ("tools", "tool_choice", "parallel_tool_calls"),
    "chat_response_schema": ("response_format",),
    "chat_reasoning": ("reasoning_effort",),
    "embedding": ("encoding_format", "dimensions", "user"),
    "speech": ("voice", "response_format", "speed"),
    "transcription": ("language", "prompt", "response_format", "temperature"),
}
# Dropped from chat models whose litellm entry says supports_sampling_params: false.
SAMPLING_PARAMS = frozenset({"temperature", "top_p", "presence_penalty", "frequency_penalty", "logit_bias"})
# litellm entry keys that, if present, hold an explicit parameter list.
EXPLICIT_PARAM_KEYS = ("supported_openai_params", "supported_params")
# litellm entry keys that, if true, say an embedding model accepts `dimensions`.
DIMENSIONS_FLAGS = ("supports_dimensions", "supports_embedding_dimensions")

# litellm provider id -> genai-prices provider id, where genai-prices' own lookup
# (find_provider_by_id) would miss or pick the wrong provider. None = never match.
GENAI_PROVIDER_OVERRIDES: dict[str, str | None] = {
    "fireworks_ai": "fireworks",
    "fireworks_ai-embedding-models": "fireworks",
    "azure_ai": "azure",
    "azure_text": "azure",
    "codestral": "mistral",
    "text-completion-codestral": "mistral",
    # would otherwise hit github-copilot through its "contains copilot" rule
    "microsoft_365_copilot": None,
}
# Every vertex_ai* provider is priced by genai-prices' "google" provider (which falls back
# to anthropic), not by e.g. "anthropic" for vertex_ai-anthropic_models.
GENAI_VERTEX_PROVIDER = "google"

PROVIDER_NAMES: dict[str, str] = {
    "ai21": "AI21 Labs",
    "aihubmix": "AIHubMix",
    "amazon_nova": "Amazon Nova",
    "anthropic": "Anthropic",
    "anyscale": "Anyscale",
    "assemblyai": "AssemblyAI",
    "aws_polly": "AWS Polly",
    "azure": "Azure OpenAI",
    "azure_ai": "Azure AI Foundry",
    "azure_text": "Azure OpenAI",
    "bedrock": "AWS Bedrock",
    "bedrock_converse": "AWS Bedrock",
    "bedrock_mantle": "AWS Bedrock Mantle",
    "cerebras": "Cerebras",
    "cloudflare": "Cloudflare Workers AI",
    "codestral": "Mistral AI (Codestral)",
    "cohere": "Cohere",
    "cohere_chat": "Cohere",
    "dashscope": "Alibaba DashScope",
    "databricks": "Databricks",
    "deepgram": "Deepgram",
    "deepinfra": "DeepInfra",
    "deepseek": "DeepSeek",
    "elevenlabs": "ElevenLabs",
    "fal_ai": "fal.ai",
    "fireworks_ai": "Fireworks AI",
    "fireworks_ai-embedding-models": "Fireworks AI",
    "friendliai": "FriendliAI",
    "gemini": "Google Gemini",
    "gigachat": "GigaChat",
    "github_copilot": "GitHub Copilot",
    "gmi": "GMI Cloud",
    "gradient_ai": "DigitalOcean Gradient AI",
    "groq": "Groq",
    "huggingface": "Hugging Face",
    "hyperbolic": "Hyperbolic",
    "inception": "Inception",
    "lambda_ai": "Lambda",
    "libertai": "LibertAI",
    "llamagate": "LlamaGate",
    "meta_llama": "Meta Llama API",
    "minimax": "MiniMax",
    "mistral": "Mistral AI",
    "moonshot": "Moonshot AI",
    "nebius": "Nebius",
    "nlp_cloud": "NLP Cloud",
    "novita": "Novita AI",
    "oci": "Oracle Cloud Infrastructure",
    "ollama": "Ollama",
    "openai": "OpenAI",
    "openinfer": "OpenInfer",
    "openrouter": "OpenRouter",
    "ovhcloud": "OVHcloud AI Endpoints",
    "perplexity": "Perplexity",
    "publicai": "PublicAI",
    "qwencloud": "Qwen Cloud",
    "replicate": "Replicate",
    "runwayml": "Runway",
    "sagemaker": "AWS SageMaker",
    "sambanova": "SambaNova",
    "snowflake": "Snowflake",
    "text-completion-codestral": "Mistral AI (Codestral)",
    "text-completion-inception": "Inception",
    "text-completion-openai": "OpenAI",
    "together_ai": "Together AI",
    "transcribe": "AWS Transcribe",
    "v0": "v0",
    "vercel_ai_gateway": "Vercel AI Gateway",
    "volcengine": "Volcengine",
    "voyage": "Voyage AI",
    "wandb": "Weights & Biases",
    "watsonx": "IBM watsonx",
    "xai": "xAI",
    "xiaomi_mimo": "Xiaomi MiMo",
    "zai": "Z.AI",
}
VERTEX_PROVIDER_NAME = "Google Vertex AI"

FILTERED_PROVIDERS = frozenset({"openai", "azure", "azure_text", "text-completion-openai"})

AWS_CREDENTIALS = ("aws_access_key_id", "aws_secret_access_key", "aws_region_name")
VERTEX_CREDENTIALS = ("vertex_project", "vertex_location", "vertex_credentials")
DEFAULT_CREDENTIALS = ("api_key",)
CREDENTIAL_FIELDS: dict[str, tuple[str, ...]] = {
    "azure": ("api_key", "api_base", "api_version"),
    "azure_text": ("api_key", "api_base", "api_version"),
    "azure_ai": ("api_key", "api_base"),
    "aws_polly": AWS_CREDENTIALS,
    "sagemaker": AWS_CREDENTIALS,
    "transcribe": AWS_CREDENTIALS,
    "cloudflare": ("api_key", "account_id"),
    "databricks": ("api_key", "api_base"),
    "snowflake": ("api_key", "account_id"),
    "watsonx": ("api_key", "api_base", "project_id"),
    # local servers: no key, just where they listen
    "ollama": ("api_base",),
    "lemonade": ("api_base",),
    "lm_studio": ("api_base",),
    "hosted_vllm": ("api_base",),
    "vllm": ("api_base",),
    "llamafile": ("api_base",),
    "xinference": ("api_base",),
}

# Words upper-cased in derived display names ("gpt-4o" -> "GPT-4o").
ACRONYMS = frozenset(
    {"ai", "api", "aws", "gpt", "glm", "hd", "ibm", "llm", "nlp", "oci", "oss", "tts", "vl", "xl", "xai"}
)


@dataclass(frozen=True)
class Prices:
    """USD per 1M tokens; None where the source has no per-token price."""

    input_cost: float | None
    output_cost: float | None
    cache_hit_input_cost: float | None
    cache_creation_input_cost: float | None


@dataclass(frozen=True)
class GenaiMatch:
    """What genai-prices contributes for one catalog model."""

    display_name: str | None
    prices: Prices


# ---------------------------------------------------------------------------- loading


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line: where the litellm data comes from and where the snapshot goes."""
    parser = argparse.ArgumentParser(description="Build src/modelreg/catalog/snapshot.json")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--litellm-json", type=Path, help="a local model_prices_and_context_window JSON")
    source.add_argument("--litellm-wheel", type=Path, help=f"a local litellm-{LITELLM_VERSION} wheel")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output path (default: %(default)s)")
    parser.add_argument(
        "--prices-as-of",
        type=date.fromisoformat,
        default=DEFAULT_PRICES_AS_OF,
        help="date at which genai-prices' dated price changes are resolved (default: %(default)s)",
    )
    return parser.parse_args(argv)


def read_wheel_json(wheel: Path) -> dict[str, Any]:
    """Read litellm's bundled price JSON from a wheel without installing or importing litellm."""
    with zipfile.ZipFile(wheel) as zf:
        raw = zf.read(LITELLM_JSON_MEMBER)
    data: dict[str, Any] = json.loads(raw)
    return data


def download_wheel_json() -> dict[str, Any]:
    """Fetch the pinned litellm wheel with pip into a temp dir and read its JSON (no install)."""
    with tempfile.TemporaryDirectory(prefix="litellm-wheel-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet"]
        cmd += [f"litellm=={LITELLM_VERSION}", "-d", tmp]
        subprocess.run(cmd, check=True, stdout=sys.stderr)
        wheels = sorted(Path(tmp).glob(f"litellm-{LITELLM_VERSION}-*.whl"))
        if not wheels:
            raise SystemExit(f"pip download produced no litellm {LITELLM_VERSION} wheel in {tmp}")
        return read_wheel_json(wheels[0])


def load_litellm(args: argparse.Namespace) -> dict[str, Any]:
    """Pick the litellm data source from the command line (local JSON, local wheel, or download)."""
    if args.litellm_json is not None:
        data: dict[str, Any] = json.loads(Path(args.litellm_json).read_text(encoding="utf-8"))
        return data
    if args.litellm_wheel is not None:
        return read_wheel_json(Path(args.litellm_wheel))
    return download_wheel_json()


# ---------------------------------------------------------------------------- small helpers


def round_sig(value: float) -> float:
    """Round to 10 significant digits so that 2.5e-06 * 1e6 gives 2.5, not 2.4999999999999996."""
    return float(f"{value:.10g}")


def as_number(value: Any) -> float | None:
    """A JSON number as float; None for missing values, bools and non-numbers."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    return float(value)


def per_token_to_mtok(value: Any) -> float | None:
    """litellm prices are USD per token; the catalog wants USD per 1M tokens."""
    number = as_number(value)
    return None if number is None else round_sig(number * 1_000_000)


def as_int(value: Any) -> int | None:
    """Token limits as int; None for missing, non-integral or non-positive values."""
    number = as_number(value)
    if number is None or number != int(number) or number <= 0:
        return None
    return int(number)


def flag(entry: Mapping[str, Any], key: str) -> int:
    """A litellm boolean capability flag as 0/1 (missing means no)."""
    return 1 if entry.get(key) is True else 0


def iso_date(value: Any) -> str | None:
    """litellm's deprecation_date, kept only when it is a real YYYY-MM-DD date."""
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        return None


def valid_name(name: str) -> bool:
    """model_name rules: no control characters, no outer whitespace, at most 256 characters."""
    if not name or name != name.strip() or len(name) > MAX_MODEL_NAME_LENGTH:
        return False
    return not any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in name)


def title_words(text: str) -> str:
    """Deterministic readable name: split on - and _, capitalise words, upper-case acronyms.

    An acronym followed by a word starting with a digit keeps its hyphen ("GPT-4o Mini").
    """
    words = [w for w in text.replace("_", "-").split("-") if w]
    out = ""
    for i, word in enumerate(words):
        if word.lower() in ACRONYMS:
            shown = word.upper()
        elif word[0].isalpha():
            shown = word[0].upper() + word[1:]
        else:
            shown = word
        if i == 0:
            out = shown
        elif words[i - 1].lower() in ACRONYMS and word[0].isdigit():
            out += "-" + shown
        else:
            out += " " + shown
    return out or text


def usable_display_name(name: str | None) -> str | None:
    """genai-prices names win, except all-lower-case ones, which are ids ("gpt 4o", "gpt-oss-120b")."""
    if name is None or name == name.lower():
        return None
    return name


def derive_display_name(native_name: str) -> str:
    """Display name for models genai-prices does not know: the last path segment, title-cased."""
    return title_words(native_name.rsplit("/", 1)[-1])


# ---------------------------------------------------------------------------- genai-prices


def decimal_price(value: Decimal | TieredPrices | None) -> float | None:
    """A genai-prices price (already per 1M tokens); tiered prices give their base tier."""
    if isinstance(value, TieredPrices):
        value = value.base
    if value is None:
        return None
    return round_sig(float(value))


def resolve_model_price(model: ModelInfo, as_of: date) -> ModelPrice:
    """Pick one ModelPrice from a possibly conditional price list, deterministically.

    Like genai-prices, the last applicable entry wins. Dated entries apply from their
    start_date (compared with the fixed as_of date, not today). Time-of-day entries are the
    peak/standard windows (e.g. DeepSeek), so they are treated as applicable: the catalog
    shows the standard rate and never the cheaper off-peak one. Request-specific
    price_variants (batch, service tiers) are ignored.
    """
    prices = model.prices
    if isinstance(prices, ModelPrice):
        return prices
    conditional: list[ConditionalPrice] = list(prices)
    for entry in reversed(conditional):
        constraint = entry.constraint
        if constraint is None or isinstance(constraint, TimeOfDateConstraint):
            return entry.prices
        if isinstance(constraint, StartDateConstraint) and constraint.start_date <= as_of:
            return entry.prices
    return conditional[0].prices


class GenaiPrices:
    """Looks models up in genai-prices' bundled data with its own provider/model matching."""

    def __init__(self, as_of: date) -> None:
        self.snapshot = data_snapshot.get_snapshot()
        self.as_of = as_of

    @staticmethod
    def provider_for(litellm_provider: str) -> str | None:
        """The provider id to hand to genai-prices for a litellm provider id."""
        if litellm_provider.startswith("vertex_ai"):
            return GENAI_VERTEX_PROVIDER
        if litellm_provider in GENAI_PROVIDER_OVERRIDES:
            return GENAI_PROVIDER_OVERRIDES[litellm_provider]
        return litellm_provider

    def lookup(self, litellm_provider: str, refs: Iterable[str]) -> GenaiMatch | None:
        """First model genai-prices finds for any of refs under the mapped provider, if any."""
        provider_id = self.provider_for(litellm_provider)
        if provider_id is None:
            return None
        for ref in refs:
            try:
                _, model = self.snapshot.find_provider_model(ref, None, provider_id, None)
            except LookupError:
                continue
            price = resolve_model_price(model, self.as_of)
            return GenaiMatch(
                display_name=model.name or None,
                prices=Prices(
                    input_cost=decimal_price(price.input_mtok),
                    output_cost=decimal_price(price.output_mtok),
                    cache_hit_input_cost=decimal_price(price.cache_read_mtok),
                    cache_creation_input_cost=decimal_price(price.cache_write_mtok),
                ),
            )
        return None


# ---------------------------------------------------------------------------- models


def litellm_prices(entry: Mapping[str, Any]) -> Prices:
    """Per-token litellm prices converted to per-1M; cache read falls back to *_cache_hit."""
    cache_read = entry.get("cache_read_input_token_cost")
    if cache_read is None:
        cache_read = entry.get("input_cost_per_token_cache_hit")
    return Prices(
        input_cost=per_token_to_mtok(entry.get("input_cost_per_token")),
        output_cost=per_token_to_mtok(entry.get("output_cost_per_token")),
        cache_hit_input_cost=per_token_to_mtok(cache_read),
        cache_creation_input_cost=per_token_to_mtok(entry.get("cache_creation_input_token_cost")),
    )


def merge_prices(genai: Prices, fallback: Prices) -> Prices:
    """genai-prices wins field by field; litellm fills the prices genai-prices lacks."""
    return Prices(
        input_cost=fallback.input_cost if genai.input_cost is None else genai.input_cost,
        output_cost=fallback.output_cost if genai.output_cost is None else genai.output_cost,
        cache_hit_input_cost=(
            fallback.cache_hit_input_cost if genai.cache_hit_input_cost is None else genai.cache_hit_input_cost
        ),
        cache_creation_input_cost=(
            fallback.cache_creation_input_cost
            if genai.cache_creation_input_cost is None
            else genai.cache_creation_input_cost
        ),
    )


def chat_params(entry: Mapping[str, Any], streaming: int) -> list[str]:
    """Default chat parameters, adjusted by litellm's capability flags."""
    params = list(DEFAULT_PARAMS["chat"])
    if entry.get("supports_sampling_params") is False:
        params = [p for p in params if p not in SAMPLING_PARAMS]
    if not streaming:
        params.remove("stream")
    if entry.get("supports_function_calling") is True:
        params += DEFAULT_PARAMS["chat_tools"]
    if entry.get("supports_response_schema") is True:
        params += DEFAULT_PARAMS["chat_response_schema"]
    if entry.get("supports_reasoning") is True:
        params += DEFAULT_PARAMS["chat_reasoning"]
    return params


def supported_params(entry: Mapping[str, Any], model_type: str, streaming: int) -> list[str]:
    """An explicit litellm parameter list when present, else the documented default set."""
    for key in EXPLICIT_PARAM_KEYS:
        explicit = entry.get(key)
        if isinstance(explicit, list) and all(isinstance(p, str) for p in explicit):
            return list(dict.fromkeys(explicit))
    if model_type == "chat":
        return chat_params(entry, streaming)
    params = list(DEFAULT_PARAMS[model_type])
    if model_type == "embedding" and not any(entry.get(k) is True for k in DIMENSIONS_FLAGS):
        params.remove("dimensions")
    return params


def catalog_name(key: str, provider: str) -> str:
    """model_name: the litellm key if it already carries "<provider>/", else prefix it."""
    return key if key.startswith(provider + "/") else f"{provider}/{key}"


def match_refs(key: str, provider: str, native_name: str) -> list[str]:
    """Model refs to try in genai-prices: the native name, then the key minus a route prefix.

    Keys such as "vertex_ai/claude-3-5-haiku" (provider vertex_ai-anthropic_models) or
    "azure/gpt-35-turbo-instruct" (provider azure_text) carry litellm's route prefix, which
    genai-prices' model rules do not expect.
    """
    refs = [native_name]
    head, sep, rest = key.partition("/")
    foreign_prefix = sep and rest and not key.startswith(provider + "/")
    if foreign_prefix and provider.replace("-", "_").startswith(head.replace("-", "_")):
        refs.append(rest)
    return refs


@dataclass
class Stats:
    """Counters for the one-line summary printed to stderr."""

    kept_types: Counter[str]
    skipped_mode: int = 0
    skipped_name: int = 0
    merged_duplicates: int = 0
    genai_matches: int = 0


def pick_primary(model_name: str, keys: list[str]) -> str:
    """Among keys sharing a model_name prefer the un-prefixed one (usually the richer entry)."""
    return sorted(keys, key=lambda k: (k == model_name, k))[0]


def build_model(
    model_name: str, keys: list[str], entry: Mapping[str, Any], genai: GenaiPrices, stats: Stats
) -> dict[str, Any]:
    """One catalog model record, in the field order the loader documents."""
    provider: str = entry["litellm_provider"]
    model_type = MODE_TO_TYPE[entry["mode"]]
    native_name = model_name[len(provider) + 1 :]
    primary = pick_primary(model_name, keys)

    prices = litellm_prices(entry)
    display_name = derive_display_name(native_name)
    match = genai.lookup(provider, match_refs(primary, provider, native_name))
    if match is not None:
        stats.genai_matches += 1
        if not REGION_SEGMENT.match(native_name.split("/", 1)[0]):
            prices = merge_prices(match.prices, prices)
        display_name = usable_display_name(match.display_name) or display_name

    streaming = 0
    if model_type == "chat":
        streaming = 0 if entry.get("supports_native_streaming") is False else 1
    max_input = as_int(entry.get("max_input_tokens"))
    return {
        "model_name": model_name,
        "native_name": native_name,
        "aliases": sorted(k for k in keys if k != model_name),
        "provider_id": provider,
        "display_name": display_name,
        "model_type": model_type,
        "max_context_window": max_input if max_input is not None else as_int(entry.get("max_tokens")),
        "max_output_tokens": as_int(entry.get("max_output_tokens")),
        "input_cost": prices.input_cost,
        "output_cost": prices.output_cost,
        "cache_hit_input_cost": prices.cache_hit_input_cost,
        "cache_creation_input_cost": prices.cache_creation_input_cost,
        "streaming_support": streaming,
        "function_call": flag(entry, "supports_function_calling"),
        "image_support": flag(entry, "supports_vision"),
        "supported_params": supported_params(entry, model_type, streaming),
        "deprecation_date": iso_date(entry.get("deprecation_date")),
    }


def build_models(litellm: Mapping[str, Any], genai: GenaiPrices, stats: Stats) -> list[dict[str, Any]]:
    """Filter litellm entries, merge keys that name the same model, and build sorted records."""
    grouped: dict[str, list[str]] = {}
    for key, entry in litellm.items():
        if not isinstance(entry, Mapping) or entry.get("mode") not in MODE_TO_TYPE:
            stats.skipped_mode += 1
            continue
        provider = entry.get("litellm_provider")
        if not isinstance(provider, str) or not provider:
            stats.skipped_mode += 1
            continue
        name = catalog_name(key, provider)
        if not valid_name(name):
            stats.skipped_name += 1
            continue
        grouped.setdefault(name, []).append(key)

    models = []
    for model_name in sorted(grouped):
        keys = grouped[model_name]
        stats.merged_duplicates += len(keys) - 1
        entry = litellm[pick_primary(model_name, keys)]
        record = build_model(model_name, keys, entry, genai, stats)
        record["aliases"] = [a for a in record["aliases"] if valid_name(a)]
        stats.kept_types[record["model_type"]] += 1
        models.append(record)
    return models


# ---------------------------------------------------------------------------- providers


def provider_name(provider: str) -> str:
    """Readable provider name: the table, Vertex for vertex_ai*, else the title-cased id."""
    if provider in PROVIDER_NAMES:
        return PROVIDER_NAMES[provider]
    if provider.startswith("vertex_ai"):
        return VERTEX_PROVIDER_NAME
    if provider.startswith("bedrock"):
        return PROVIDER_NAMES["bedrock"]
    return title_words(provider)


def credential_fields(provider: str) -> list[str]:
    """Which credentials a deployment of this provider needs (api_key unless known otherwise)."""
    if provider in CREDENTIAL_FIELDS:
        return list(CREDENTIAL_FIELDS[provider])
    if provider.startswith("bedrock"):
        return list(AWS_CREDENTIALS)
    if provider.startswith("vertex_ai"):
        return list(VERTEX_CREDENTIALS)
    return list(DEFAULT_CREDENTIALS)


def build_providers(models: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """One entry per provider id used by any model, sorted by id."""
    ids = sorted({m["provider_id"] for m in models})
    return {
        pid: {
            "provider_name": provider_name(pid),
            "moderation": "Filtered" if pid in FILTERED_PROVIDERS else "Unfiltered",
            "credential_fields": credential_fields(pid),
        }
        for pid in ids
    }


# ---------------------------------------------------------------------------- main


def render(models: list[dict[str, Any]]) -> str:
    """The snapshot text: stable key order, indent=1, UTF-8, trailing newline, no timestamp."""
    document = {
        "format": FORMAT,
        "sources": {"litellm": LITELLM_VERSION, "genai_prices": package_version("genai_prices")},
        "providers": build_providers(models),
        "models": models,
    }
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Build the snapshot, write it, and print a one-line summary to stderr."""
    args = parse_args(argv)
    litellm = load_litellm(args)
    stats = Stats(kept_types=Counter())
    models = build_models(litellm, GenaiPrices(args.prices_as_of), stats)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(models), encoding="utf-8", newline="\n")
    per_type = ", ".join(f"{t}={stats.kept_types[t]}" for t in sorted(stats.kept_types))
    print(
        f"build_catalog: {len(models)} models ({per_type}); skipped {stats.skipped_mode} by mode, "
        f"{stats.skipped_name} bad names; merged {stats.merged_duplicates} duplicate keys; "
        f"genai-prices matches {stats.genai_matches}; wrote {out}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
