"""Turn public model data sets into modelreg's catalog snapshot (format ``modelreg-catalog/1``).

Used both offline, by ``scripts/build_catalog.py`` (which writes the committed ``snapshot.json``),
and at run time, by ``modelreg catalog sync``; the conversion rules are documented in ``README.md``
beside this file. Standard library only: neither litellm nor genai-prices is imported.

* :func:`from_litellm` builds a full snapshot from litellm's ``model_prices_and_context_window`` JSON.
* :func:`apply_genai_prices` puts genai-prices' prices and display names (its published ``data.json``
  / ``data_slim.json`` format: a list of providers) onto the models a snapshot already has.
* :func:`from_modelreg` validates and normalizes a snapshot in modelreg's own format.

Every malformed input raises :class:`CatalogFormatError`, whose message names the offending entry.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, time
from decimal import Decimal
from typing import Any, TypeVar

__all__ = [
    "DEFAULT_PRICES_AS_OF",
    "FORMAT",
    "MODEL_TYPES",
    "CatalogFormatError",
    "ConversionStats",
    "apply_genai_prices",
    "from_litellm",
    "from_modelreg",
    "render_snapshot",
]

FORMAT = "modelreg-catalog/1"

# genai-prices keeps dated price changes (start_date constraints). They are resolved at this fixed
# date rather than "today" so that regenerating gives the same file; bump it deliberately.
DEFAULT_PRICES_AS_OF = date(2026, 12, 1)

MAX_MODEL_NAME_LENGTH = 256

# The model types modelreg knows (modelreg.domain.llm_model.MODEL_TYPES; a test keeps them equal).
MODEL_TYPES = ("chat", "embedding", "image", "video", "rerank", "speech", "transcription", "audio")

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
# Chat sets are then adjusted by the capability flags (see _chat_params()).
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

# litellm provider id -> genai-prices provider id, where genai-prices' own provider lookup
# would miss or pick the wrong provider. None = never match.
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

# The four per-1M-token prices of a catalog model, and genai-prices' names for them.
PRICE_FIELDS = ("input_cost", "output_cost", "cache_hit_input_cost", "cache_creation_input_cost")
GENAI_PRICE_KEYS = {
    "input_cost": "input_mtok",
    "output_cost": "output_mtok",
    "cache_hit_input_cost": "cache_read_mtok",
    "cache_creation_input_cost": "cache_write_mtok",
}

# Snapshot model fields in file order, with the defaults the loader (load.py) applies when one is missing.
REQUIRED_MODEL_FIELDS = ("model_name", "native_name", "provider_id")
MODEL_DEFAULTS: dict[str, Any] = {
    "aliases": [],
    "display_name": None,
    "model_type": "chat",
    "max_context_window": None,
    "max_output_tokens": None,
    "input_cost": None,
    "output_cost": None,
    "cache_hit_input_cost": None,
    "cache_creation_input_cost": None,
    "streaming_support": 0,
    "function_call": 0,
    "image_support": 0,
    "supported_params": [],
    "deprecation_date": None,
}
MODEL_FIELDS = (
    "model_name",
    "native_name",
    "aliases",
    "provider_id",
    "display_name",
    "model_type",
    "max_context_window",
    "max_output_tokens",
    *PRICE_FIELDS,
    "streaming_support",
    "function_call",
    "image_support",
    "supported_params",
    "deprecation_date",
)
PROVIDER_FIELDS = ("provider_name", "moderation", "credential_fields")
SNAPSHOT_KEYS = ("format", "sources", "providers", "models")

# genai-prices match rules: leaf rules take a string, "or"/"and" a list of rules.
LEAF_RULES = ("equals", "starts_with", "ends_with", "contains", "regex")
GROUP_RULES = ("or", "and")

# genai-prices turns compact dated refs ("gpt-5.2-20251211") into dashed ones as a fallback.
COMPACT_DATE = re.compile(r"(-)(20\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?=-|:|$)")


class CatalogFormatError(ValueError):
    """Input that is not in the expected format; the message names the offending entry."""


@dataclass
class ConversionStats:
    """Counters a caller may collect (the build script prints them)."""

    kept_types: Counter[str] = field(default_factory=Counter)
    skipped_mode: int = 0
    skipped_name: int = 0
    merged_duplicates: int = 0
    genai_matches: int = 0


# ---------------------------------------------------------------------------- small helpers


def _short(value: Any, limit: int = 80) -> str:
    """repr() of a value for an error message, cut to a readable length."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def round_sig(value: float) -> float:
    """Round to 10 significant digits so that 2.5e-06 * 1e6 gives 2.5, not 2.4999999999999996."""
    return float(f"{value:.10g}")


def _number(value: Any, where: str, *, parse_strings: bool = False, negative_ok: bool = False) -> float | None:
    """A finite number >= 0 as float; None for null. Anything else raises CatalogFormatError.

    With parse_strings, a string holding a number ("2.5e-06") is accepted as that number; with
    negative_ok, numbers below zero are returned as they are.
    """
    if value is None:
        return None
    if isinstance(value, str) and parse_strings:
        try:
            number = float(value)
        except ValueError:
            raise CatalogFormatError(f"{where}: {_short(value)} is not a number") from None
    elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        try:
            number = float(value)
        except (OverflowError, ValueError):
            raise CatalogFormatError(f"{where}: {_short(value)} is not a usable number") from None
    else:
        raise CatalogFormatError(f"{where}: expected a number, got {_type_name(value)} {_short(value)}")
    if not math.isfinite(number) or (number < 0 and not negative_ok):
        raise CatalogFormatError(f"{where}: expected a finite number >= 0, got {_short(value)}")
    return number


def _per_token_to_mtok(value: Any, where: str) -> float | None:
    """litellm prices are USD per token; the catalog wants USD per 1M tokens."""
    number = _number(value, where, parse_strings=True)
    return None if number is None else round_sig(number * 1_000_000)


def _token_limit(value: Any, where: str) -> int | None:
    """litellm token limits as int; None for missing, non-integral or non-positive values."""
    number = _number(value, where, parse_strings=True, negative_ok=True)
    if number is None or number != int(number) or number <= 0:
        return None
    return int(number)


def _flag(entry: Mapping[str, Any], key: str) -> int:
    """A litellm boolean capability flag as 0/1 (missing, or anything but true, means no)."""
    return 1 if entry.get(key) is True else 0


def _iso_date(value: Any) -> str | None:
    """litellm's deprecation_date, kept only when it is a real YYYY-MM-DD date."""
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        return None


def _name_problem(name: str) -> str | None:
    """Why a string is not a valid model_name (1-256 characters, no control characters, no
    leading/trailing whitespace), or None if it is."""
    if not name:
        return "is empty"
    if len(name) > MAX_MODEL_NAME_LENGTH:
        return f"is longer than {MAX_MODEL_NAME_LENGTH} characters"
    if name != name.strip():
        return "has leading or trailing whitespace"
    if any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in name):
        return "contains control characters"
    return None


def valid_name(name: str) -> bool:
    """model_name rules: no control characters, no outer whitespace, 1-256 characters."""
    return _name_problem(name) is None


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


def render_snapshot(snapshot: Mapping[str, Any]) -> str:
    """The snapshot file's text: stable key order, indent=1, UTF-8, trailing newline, no timestamp."""
    return json.dumps(snapshot, indent=1, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------- litellm


def _litellm_prices(entry: Mapping[str, Any], where: str) -> dict[str, float | None]:
    """Per-token litellm prices converted to per-1M; cache read falls back to *_cache_hit."""
    cache_read_key = "cache_read_input_token_cost"
    if entry.get(cache_read_key) is None:
        cache_read_key = "input_cost_per_token_cache_hit"
    sources = {
        "input_cost": "input_cost_per_token",
        "output_cost": "output_cost_per_token",
        "cache_hit_input_cost": cache_read_key,
        "cache_creation_input_cost": "cache_creation_input_token_cost",
    }
    return {name: _per_token_to_mtok(entry.get(key), f"{where}: {key}") for name, key in sources.items()}


def _chat_params(entry: Mapping[str, Any], streaming: int) -> list[str]:
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


def _supported_params(entry: Mapping[str, Any], model_type: str, streaming: int) -> list[str]:
    """An explicit litellm parameter list when present, else the documented default set."""
    for key in EXPLICIT_PARAM_KEYS:
        explicit = entry.get(key)
        if isinstance(explicit, list) and all(isinstance(p, str) for p in explicit):
            return list(dict.fromkeys(explicit))
    if model_type == "chat":
        return _chat_params(entry, streaming)
    params = list(DEFAULT_PARAMS[model_type])
    if model_type == "embedding" and not any(entry.get(k) is True for k in DIMENSIONS_FLAGS):
        params.remove("dimensions")
    return params


def _catalog_name(key: str, provider: str) -> str:
    """model_name: the litellm key if it already carries "<provider>/", else prefix it."""
    return key if key.startswith(provider + "/") else f"{provider}/{key}"


def _pick_primary(model_name: str, keys: Iterable[str]) -> str:
    """Among keys sharing a model_name prefer the un-prefixed one (usually the richer entry)."""
    return sorted(keys, key=lambda k: (k == model_name, k))[0]


def _litellm_model(model_name: str, keys: list[str], entry: Mapping[str, Any], where: str) -> dict[str, Any]:
    """One catalog model record from litellm data alone, in the field order the loader documents."""
    provider: str = entry["litellm_provider"]
    model_type = MODE_TO_TYPE[entry["mode"]]
    native_name = model_name[len(provider) + 1 :]
    prices = _litellm_prices(entry, where)
    streaming = 0
    if model_type == "chat":
        streaming = 0 if entry.get("supports_native_streaming") is False else 1
    max_input = _token_limit(entry.get("max_input_tokens"), f"{where}: max_input_tokens")
    max_tokens = _token_limit(entry.get("max_tokens"), f"{where}: max_tokens")
    return {
        "model_name": model_name,
        "native_name": native_name,
        "aliases": [k for k in sorted(keys) if k != model_name and valid_name(k)],
        "provider_id": provider,
        "display_name": derive_display_name(native_name),
        "model_type": model_type,
        "max_context_window": max_input if max_input is not None else max_tokens,
        "max_output_tokens": _token_limit(entry.get("max_output_tokens"), f"{where}: max_output_tokens"),
        **prices,
        "streaming_support": streaming,
        "function_call": _flag(entry, "supports_function_calling"),
        "image_support": _flag(entry, "supports_vision"),
        "supported_params": _supported_params(entry, model_type, streaming),
        "deprecation_date": _iso_date(entry.get("deprecation_date")),
    }


def _provider_name(provider: str) -> str:
    """Readable provider name: the table, Vertex for vertex_ai*, else the title-cased id."""
    if provider in PROVIDER_NAMES:
        return PROVIDER_NAMES[provider]
    if provider.startswith("vertex_ai"):
        return VERTEX_PROVIDER_NAME
    if provider.startswith("bedrock"):
        return PROVIDER_NAMES["bedrock"]
    return title_words(provider)


def _credential_fields(provider: str) -> list[str]:
    """Which credentials a deployment of this provider needs (api_key unless known otherwise)."""
    if provider in CREDENTIAL_FIELDS:
        return list(CREDENTIAL_FIELDS[provider])
    if provider.startswith("bedrock"):
        return list(AWS_CREDENTIALS)
    if provider.startswith("vertex_ai"):
        return list(VERTEX_CREDENTIALS)
    return list(DEFAULT_CREDENTIALS)


def _providers_table(models: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """One entry per provider id used by any model, sorted by id."""
    ids = sorted({m["provider_id"] for m in models})
    return {
        pid: {
            "provider_name": _provider_name(pid),
            "moderation": "Filtered" if pid in FILTERED_PROVIDERS else "Unfiltered",
            "credential_fields": _credential_fields(pid),
        }
        for pid in ids
    }


def from_litellm(
    data: Mapping[str, Any], *, litellm_version: str | None = None, stats: ConversionStats | None = None
) -> dict[str, Any]:
    """A full snapshot from litellm's ``model_prices_and_context_window`` JSON (litellm data only).

    Entries whose ``mode`` is missing or not one of chat, completion, embedding, audio_speech,
    audio_transcription are skipped, and so are entries whose model_name would break the name
    rules; keys naming the same model are merged (the un-prefixed key's data wins, the other keys
    become aliases). Anything else malformed raises CatalogFormatError.
    """
    if not isinstance(data, Mapping):
        raise CatalogFormatError(f"litellm data: expected a JSON object of model entries, got {_type_name(data)}")
    counts = stats if stats is not None else ConversionStats()
    grouped: dict[str, list[str]] = {}
    for key, entry in data.items():
        if not isinstance(key, str):
            raise CatalogFormatError(f"litellm data: entry keys must be strings, got {_short(key)}")
        where = f"litellm entry {_short(key)}"
        if not isinstance(entry, Mapping):
            raise CatalogFormatError(f"{where}: expected an object, got {_type_name(entry)}")
        mode = entry.get("mode")
        if mode is not None and not isinstance(mode, str):
            raise CatalogFormatError(f"{where}: mode must be a string, got {_type_name(mode)} {_short(mode)}")
        if mode not in MODE_TO_TYPE:
            counts.skipped_mode += 1
            continue
        provider = entry.get("litellm_provider")
        if not isinstance(provider, str) or not provider:
            raise CatalogFormatError(f"{where}: litellm_provider must be a non-empty string, got {_short(provider)}")
        name = _catalog_name(key, provider)
        if not valid_name(name):
            counts.skipped_name += 1
            continue
        grouped.setdefault(name, []).append(key)

    models = []
    for model_name in sorted(grouped):
        keys = grouped[model_name]
        counts.merged_duplicates += len(keys) - 1
        primary = _pick_primary(model_name, keys)
        record = _litellm_model(model_name, keys, data[primary], f"litellm entry {_short(primary)}")
        counts.kept_types[record["model_type"]] += 1
        models.append(record)
    return {
        "format": FORMAT,
        "sources": {"litellm": litellm_version or "unknown"},
        "providers": _providers_table(models),
        "models": models,
    }


# ---------------------------------------------------------------------------- genai-prices data

Matcher = Callable[[str], bool]
T = TypeVar("T")


def _leaf_matcher(kind: str, needle: str, where: str) -> Matcher:
    """One leaf rule; like genai-prices, all but regex compare case-insensitively."""
    lowered = needle.lower()
    if kind == "equals":
        return lambda text: text.lower() == lowered
    if kind == "starts_with":
        return lambda text: text.lower().startswith(lowered)
    if kind == "ends_with":
        return lambda text: text.lower().endswith(lowered)
    if kind == "contains":
        return lambda text: lowered in text.lower()
    try:
        pattern = re.compile(needle)
    except re.error as exc:
        raise CatalogFormatError(f"{where}: invalid regex {_short(needle)}: {exc}") from None
    return lambda text: pattern.search(text) is not None


def _matcher(rule: Any, where: str) -> Matcher:
    """A genai-prices match rule (equals, starts_with, ends_with, contains, regex, or, and) as a function."""
    if not isinstance(rule, Mapping) or len(rule) != 1:
        raise CatalogFormatError(
            f"{where}: a match rule must be an object with exactly one of "
            f"{', '.join(LEAF_RULES + GROUP_RULES)}; got {_short(rule)}"
        )
    ((kind, argument),) = rule.items()
    if kind in LEAF_RULES:
        if not isinstance(argument, str):
            raise CatalogFormatError(f"{where}: {kind} needs a string, got {_type_name(argument)}")
        return _leaf_matcher(kind, argument, f"{where}.{kind}")
    if kind in GROUP_RULES:
        if not isinstance(argument, list):
            raise CatalogFormatError(f"{where}: {kind} needs a list of rules, got {_type_name(argument)}")
        parts = [_matcher(part, f"{where}.{kind}[{i}]") for i, part in enumerate(argument)]
        if kind == "or":
            return lambda text: any(part(text) for part in parts)
        return lambda text: all(part(text) for part in parts)
    raise CatalogFormatError(f"{where}: unknown match rule {_short(kind)}")


def _genai_price(value: Any, where: str) -> float | None:
    """A genai-prices price (already per 1M tokens); tiered prices give their base tier."""
    if isinstance(value, Mapping):
        if "base" not in value or not isinstance(value.get("tiers", []), list):
            raise CatalogFormatError(f"{where}: tiered prices need a base price and a list of tiers")
        value = value["base"]
        where += ".base"
    number = _number(value, where)
    return None if number is None else round_sig(number)


def _genai_prices(value: Any, where: str) -> dict[str, float | None]:
    """The four catalog prices of one genai-prices price object."""
    if not isinstance(value, Mapping):
        raise CatalogFormatError(f"{where}: expected a price object, got {_type_name(value)}")
    return {name: _genai_price(value.get(key), f"{where}.{key}") for name, key in GENAI_PRICE_KEYS.items()}


@dataclass(frozen=True)
class _PriceOption:
    """One entry of a conditional price list; start_date None = always applicable."""

    start_date: date | None
    prices: dict[str, float | None]


def _constraint_start(constraint: Any, where: str) -> date | None:
    """A price constraint's start date; None for no constraint or a time-of-day window.

    Time-of-day windows are peak/standard periods (e.g. DeepSeek): they count as applicable, so
    the catalog shows the standard rate and never the cheaper off-peak one.
    """
    if constraint is None:
        return None
    if not isinstance(constraint, Mapping):
        raise CatalogFormatError(f"{where}: expected an object, got {_type_name(constraint)}")
    if "start_date" in constraint:
        return _iso(constraint["start_date"], date.fromisoformat, f"{where}.start_date", "a YYYY-MM-DD date")
    if "start_time" in constraint and "end_time" in constraint:
        for key in ("start_time", "end_time"):
            _iso(constraint[key], time.fromisoformat, f"{where}.{key}", "a time of day")
        return None
    raise CatalogFormatError(f"{where}: expected start_date or start_time/end_time, got {_short(constraint)}")


def _iso(value: Any, parse: Callable[[str], T], where: str, what: str) -> T:
    """An ISO 8601 string parsed by `parse` (date.fromisoformat, time.fromisoformat)."""
    if isinstance(value, str):
        try:
            return parse(value)
        except ValueError:
            pass
    raise CatalogFormatError(f"{where}: expected {what}, got {_short(value)}")


@dataclass(frozen=True)
class _GenaiModel:
    name: str | None
    matches: Matcher
    options: tuple[_PriceOption, ...]

    def prices(self, as_of: date) -> dict[str, float | None]:
        """The price set in force at as_of: like genai-prices, the last applicable entry wins; dated
        entries apply from their start_date; if none applies, the first entry is used."""
        if not self.options:
            return dict.fromkeys(PRICE_FIELDS)
        for option in reversed(self.options):
            if option.start_date is None or option.start_date <= as_of:
                return option.prices
        return self.options[0].prices


@dataclass(frozen=True)
class _GenaiProvider:
    id: str
    provider_match: Matcher | None
    model_match: Matcher | None
    fallback_ids: tuple[str, ...]
    models: tuple[_GenaiModel, ...]


def _parse_genai_model(raw: Any, where: str) -> _GenaiModel:
    if not isinstance(raw, Mapping):
        raise CatalogFormatError(f"{where}: expected an object, got {_type_name(raw)}")
    model_id = raw.get("id")
    if not isinstance(model_id, str) or not model_id:
        raise CatalogFormatError(f"{where}: id must be a non-empty string, got {_short(model_id)}")
    where = f"{where} ({model_id!r})"
    name = raw.get("name")
    if name is not None and not isinstance(name, str):
        raise CatalogFormatError(f"{where}: name must be a string, got {_type_name(name)}")
    if "match" not in raw:
        raise CatalogFormatError(f"{where}: missing match rule")
    prices = raw.get("prices", [])
    if isinstance(prices, Mapping):
        options: tuple[_PriceOption, ...] = (_PriceOption(None, _genai_prices(prices, f"{where}.prices")),)
    elif isinstance(prices, list):
        entries = []
        for i, entry in enumerate(prices):
            at = f"{where}.prices[{i}]"
            if not isinstance(entry, Mapping) or "prices" not in entry:
                raise CatalogFormatError(f"{at}: expected an object with prices, got {_short(entry)}")
            start = _constraint_start(entry.get("constraint"), f"{at}.constraint")
            entries.append(_PriceOption(start, _genai_prices(entry["prices"], f"{at}.prices")))
        options = tuple(entries)
    else:
        raise CatalogFormatError(f"{where}: prices must be an object or a list, got {_type_name(prices)}")
    return _GenaiModel(name=name, matches=_matcher(raw["match"], f"{where}.match"), options=options)


def _parse_genai_provider(raw: Any, where: str) -> _GenaiProvider:
    if not isinstance(raw, Mapping):
        raise CatalogFormatError(f"{where}: expected a provider object, got {_type_name(raw)}")
    provider_id = raw.get("id")
    if not isinstance(provider_id, str) or not provider_id:
        raise CatalogFormatError(f"{where}: id must be a non-empty string, got {_short(provider_id)}")
    where = f"genai-prices provider {provider_id!r}"
    fallbacks = raw.get("fallback_model_providers") or []
    if not isinstance(fallbacks, list) or not all(isinstance(f, str) for f in fallbacks):
        raise CatalogFormatError(f"{where}: fallback_model_providers must be a list of strings")
    models = raw.get("models", [])
    if not isinstance(models, list):
        raise CatalogFormatError(f"{where}: models must be a list, got {_type_name(models)}")
    rules: dict[str, Matcher | None] = {}
    for key in ("provider_match", "model_match"):
        rule = raw.get(key)
        rules[key] = None if rule is None else _matcher(rule, f"{where}: {key}")
    return _GenaiProvider(
        id=provider_id,
        provider_match=rules["provider_match"],
        model_match=rules["model_match"],
        fallback_ids=tuple(fallbacks),
        models=tuple(_parse_genai_model(m, f"{where}: models[{i}]") for i, m in enumerate(models)),
    )


def _normalize_compact_date(ref: str) -> str:
    """ "gpt-5.2-20251211" -> "gpt-5.2-2025-12-11" (only for real dates), as genai-prices does."""

    def replace(match: re.Match[str]) -> str:
        year, month, day = (int(match.group(i)) for i in range(2, 5))
        try:
            date(year, month, day)
        except ValueError:
            return match.group(0)
        return f"{match.group(1)}{year:04d}-{month:02d}-{day:02d}"

    return COMPACT_DATE.sub(replace, ref)


class _GenaiData:
    """genai-prices' providers with its own lookup rules, re-implemented (no genai_prices import)."""

    def __init__(self, raw: Mapping[str, Any] | Sequence[Any]) -> None:
        providers = raw.get("providers") if isinstance(raw, Mapping) else raw
        if isinstance(providers, str | bytes) or not isinstance(providers, Sequence):
            raise CatalogFormatError(
                "genai-prices data: expected a list of providers (data.json), or an object with a 'providers' list; "
                f"got {_type_name(providers)}"
            )
        self.providers = [_parse_genai_provider(p, f"genai-prices providers[{i}]") for i, p in enumerate(providers)]
        self._by_id: dict[str, _GenaiProvider | None] = {}

    def provider_by_id(self, provider_id: str) -> _GenaiProvider | None:
        """genai-prices' find_provider_by_id: an exact id first, then the providers' provider_match rules."""
        normalized = provider_id.lower().strip()
        if normalized not in self._by_id:
            found = next((p for p in self.providers if p.id == normalized), None)
            if found is None:
                found = next((p for p in self.providers if p.provider_match and p.provider_match(normalized)), None)
            self._by_id[normalized] = found
        return self._by_id[normalized]

    def _match_model(self, provider: _GenaiProvider, ref: str, *, fallback: bool) -> _GenaiModel | None:
        for model in provider.models:
            if model.matches(ref):
                return model
        if fallback:
            for fallback_id in provider.fallback_ids:
                other = next((p for p in self.providers if p.id == fallback_id), None)
                # one step only: a fallback provider's own fallbacks are not followed
                if other is not None and (found := self._match_model(other, ref, fallback=False)):
                    return found
        return None

    def find(self, ref: str, provider_id: str) -> _GenaiModel | None:
        """genai-prices' find_provider_model(ref, None, provider_id, None), or None where it raises LookupError."""
        ref = ref.lower()
        if provider_id.lower() == "litellm" and "/" in ref:
            head, rest = ref.split("/", 1)
            if head and self.provider_by_id(head):
                provider_id, ref = head, rest
        provider = self.provider_by_id(provider_id)
        if provider is None:
            if provider_id.lower() != "litellm":
                return None
            provider = next((p for p in self.providers if p.model_match and p.model_match(ref)), None)
            if provider is None:
                return None
        model = self._match_model(provider, ref, fallback=True)
        if model is None:
            normalized = _normalize_compact_date(ref)
            if normalized != ref:
                model = self._match_model(provider, normalized, fallback=True)
        return model


def _genai_provider_for(litellm_provider: str) -> str | None:
    """The provider id to hand to genai-prices for a litellm provider id."""
    if litellm_provider.startswith("vertex_ai"):
        return GENAI_VERTEX_PROVIDER
    if litellm_provider in GENAI_PROVIDER_OVERRIDES:
        return GENAI_PROVIDER_OVERRIDES[litellm_provider]
    return litellm_provider


def _match_refs(key: str, provider: str, native_name: str) -> list[str]:
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


def apply_genai_prices(
    snapshot: Mapping[str, Any],
    genai_data: Mapping[str, Any] | Sequence[Any],
    *,
    version: str | None = None,
    prices_as_of: date | None = None,
    stats: ConversionStats | None = None,
) -> dict[str, Any]:
    """A copy of ``snapshot`` with genai-prices' prices and display names on the models it knows.

    ``genai_data`` is genai-prices' published data file (``data.json`` or ``data_slim.json``): a list
    of providers, or an object holding it under ``providers``. Models are looked up with genai-prices'
    own rules (provider id or provider_match, model match rules, fallback providers, compact dates),
    under the provider id mapped from litellm's. Where a model matches, each genai-prices price
    replaces the snapshot's, field by field (a missing one keeps the snapshot's); tiered prices give
    their base tier; dated prices are resolved at ``prices_as_of`` (default DEFAULT_PRICES_AS_OF);
    region-pinned keys (``bedrock/<region>/...``) keep their prices. Its name replaces display_name
    unless missing or all lower case. No models are added or removed. The input is not modified.
    """
    result = from_modelreg(snapshot)
    genai = _GenaiData(genai_data)
    as_of = prices_as_of or DEFAULT_PRICES_AS_OF
    counts = stats if stats is not None else ConversionStats()
    for model in result["models"]:
        provider: str = model["provider_id"]
        genai_provider = _genai_provider_for(provider)
        if genai_provider is None:
            continue
        native_name: str = model["native_name"]
        # the litellm key whose data built the entry: the first alias, else the name itself
        primary = _pick_primary(model["model_name"], [model["model_name"], *model["aliases"]])
        found = None
        for ref in _match_refs(primary, provider, native_name):
            found = genai.find(ref, genai_provider)
            if found is not None:
                break
        if found is None:
            continue
        counts.genai_matches += 1
        if not REGION_SEGMENT.match(native_name.split("/", 1)[0]):
            for name, price in found.prices(as_of).items():
                if price is not None:
                    model[name] = price
        model["display_name"] = (
            usable_display_name(found.name) or model["display_name"] or derive_display_name(native_name)
        )
    result["sources"] = {**result["sources"], "genai_prices": version or "unknown"}
    return result


# ---------------------------------------------------------------------------- modelreg's own format


def _check_name(value: Any, where: str, what: str) -> str:
    if not isinstance(value, str):
        raise CatalogFormatError(f"{where}: {what} must be a string, got {_type_name(value)} {_short(value)}")
    problem = _name_problem(value)
    if problem is not None:
        raise CatalogFormatError(f"{where}: {what} {_short(value)} {problem}")
    return value


def _check_str(value: Any, where: str, what: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise CatalogFormatError(f"{where}: {what} must be a non-empty string, got {_short(value)}")
    return value


def _check_str_list(value: Any, where: str, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise CatalogFormatError(f"{where}: {what} must be a list of strings, got {_short(value)}")
    return list(dict.fromkeys(value))


def _check_int(value: Any, where: str, what: str) -> int | None:
    number = _number(value, f"{where}: {what}")
    if number is None:
        return None
    if number != int(number):
        raise CatalogFormatError(f"{where}: {what} must be a whole number, got {_short(value)}")
    return int(number)


def _check_flag(value: Any, where: str, what: str) -> int:
    if not isinstance(value, int) or value not in (0, 1):
        raise CatalogFormatError(f"{where}: {what} must be 0 or 1, got {_short(value)}")
    return int(value)


def _check_date(value: Any, where: str) -> str | None:
    if value is None:
        return None
    return _iso(value, date.fromisoformat, f"{where}: deprecation_date", "a YYYY-MM-DD date or null").isoformat()


def _check_keys(raw: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    unknown = sorted(str(k) for k in raw if k not in allowed)
    if unknown:
        raise CatalogFormatError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}")


def _modelreg_model(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise CatalogFormatError(f"{where}: expected an object, got {_type_name(raw)}")
    name = _check_name(raw.get("model_name"), where, "model_name")
    where = f"{where} ({name!r})"
    _check_keys(raw, MODEL_FIELDS, where)
    for key in REQUIRED_MODEL_FIELDS:
        if key not in raw:
            raise CatalogFormatError(f"{where}: missing required field {key!r}")
    value = {key: raw.get(key, MODEL_DEFAULTS.get(key)) for key in MODEL_FIELDS}
    model_type = value["model_type"]
    if model_type not in MODEL_TYPES:
        raise CatalogFormatError(
            f"{where}: model_type must be one of {', '.join(MODEL_TYPES)}; got {_short(model_type)}"
        )
    aliases = _check_str_list(value["aliases"], where, "aliases")
    for alias in aliases:
        _check_name(alias, where, "alias")
        if alias == name:
            raise CatalogFormatError(f"{where}: alias {alias!r} repeats the model's own name")
    return {
        "model_name": name,
        "native_name": _check_str(value["native_name"], where, "native_name"),
        "aliases": aliases,
        "provider_id": _check_str(value["provider_id"], where, "provider_id"),
        "display_name": _check_str(value["display_name"], where, "display_name", optional=True),
        "model_type": model_type,
        "max_context_window": _check_int(value["max_context_window"], where, "max_context_window"),
        "max_output_tokens": _check_int(value["max_output_tokens"], where, "max_output_tokens"),
        **{key: _number(value[key], f"{where}: {key}") for key in PRICE_FIELDS},
        "streaming_support": _check_flag(value["streaming_support"], where, "streaming_support"),
        "function_call": _check_flag(value["function_call"], where, "function_call"),
        "image_support": _check_flag(value["image_support"], where, "image_support"),
        "supported_params": _check_str_list(value["supported_params"], where, "supported_params"),
        "deprecation_date": _check_date(value["deprecation_date"], where),
    }


def _modelreg_provider(provider_id: Any, raw: Any) -> dict[str, Any]:
    if not isinstance(provider_id, str) or not provider_id:
        raise CatalogFormatError(f"providers: ids must be non-empty strings, got {_short(provider_id)}")
    where = f"providers[{provider_id!r}]"
    if not isinstance(raw, Mapping):
        raise CatalogFormatError(f"{where}: expected an object, got {_type_name(raw)}")
    _check_keys(raw, PROVIDER_FIELDS, where)
    if "provider_name" not in raw:
        raise CatalogFormatError(f"{where}: missing required field 'provider_name'")
    credentials = _check_str_list(raw.get("credential_fields", list(DEFAULT_CREDENTIALS)), where, "credential_fields")
    return {
        "provider_name": _check_str(raw["provider_name"], where, "provider_name"),
        "moderation": _check_str(raw.get("moderation", "Unfiltered"), where, "moderation"),
        "credential_fields": credentials,
    }


def from_modelreg(data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a snapshot in modelreg's own format and return a normalized copy.

    Normalized: every model field present (the loader's defaults fill missing optional ones), in file
    order, prices as floats, flags as 0/1, duplicate list items dropped, models sorted by model_name and
    providers by id. Raises CatalogFormatError naming the offending entry on any problem.
    """
    if not isinstance(data, Mapping):
        raise CatalogFormatError(f"modelreg catalog: expected a JSON object, got {_type_name(data)}")
    if data.get("format") != FORMAT:
        raise CatalogFormatError(f"modelreg catalog: format must be {FORMAT!r}, got {_short(data.get('format'))}")
    _check_keys(data, SNAPSHOT_KEYS, "modelreg catalog")
    for key in SNAPSHOT_KEYS:
        if key not in data:
            raise CatalogFormatError(f"modelreg catalog: missing required field {key!r}")
    sources, providers, models = data["sources"], data["providers"], data["models"]
    if not isinstance(sources, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in sources.items()
    ):
        raise CatalogFormatError(f"modelreg catalog: sources must map names to version strings, got {_short(sources)}")
    if not isinstance(providers, Mapping):
        raise CatalogFormatError(f"modelreg catalog: providers must be an object, got {_type_name(providers)}")
    if not isinstance(models, list):
        raise CatalogFormatError(f"modelreg catalog: models must be a list, got {_type_name(models)}")

    checked = [_modelreg_model(raw, f"models[{i}]") for i, raw in enumerate(models)]
    seen: dict[str, int] = {}
    for i, model in enumerate(checked):
        if model["model_name"] in seen:
            raise CatalogFormatError(
                f"models[{i}]: duplicate model_name {model['model_name']!r} (also models[{seen[model['model_name']]}])"
            )
        seen[model["model_name"]] = i
    alias_owner: dict[str, str] = {}
    for model in checked:
        for alias in model["aliases"]:
            if alias in seen:
                raise CatalogFormatError(f"model {model['model_name']!r}: alias {alias!r} is another model's name")
            if alias in alias_owner:
                raise CatalogFormatError(
                    f"model {model['model_name']!r}: alias {alias!r} is also an alias of {alias_owner[alias]!r}"
                )
            alias_owner[alias] = model["model_name"]
    return {
        "format": FORMAT,
        "sources": dict(sources),
        "providers": {pid: _modelreg_provider(pid, providers[pid]) for pid in sorted(providers, key=str)},
        "models": sorted(checked, key=lambda m: m["model_name"]),
    }
