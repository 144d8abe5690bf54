"""modelreg's own snapshot format: validation and normalization (``from_modelreg``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from modelreg.catalog.sources.common import (
    DEFAULT_CREDENTIALS,
    FORMAT,
    MODEL_TYPES,
    PRICE_FIELDS,
    CatalogFormatError,
    finite_number,
    name_problem,
    parse_iso,
    short,
    type_name,
)

__all__ = ["from_modelreg"]

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
    "pricing_tiers": [],
    "dated_prices": [],
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
    "pricing_tiers",
    "dated_prices",
    "streaming_support",
    "function_call",
    "image_support",
    "supported_params",
    "deprecation_date",
)
# Formats 1 (before tiers) and 2 (before dated prices) are still accepted and come back as the current format,
# their models without tiers or dated prices.
ACCEPTED_FORMATS = ("modelreg-catalog/1", "modelreg-catalog/2", FORMAT)
MODEL_FIELDS_V2 = tuple(f for f in MODEL_FIELDS if f != "dated_prices")
MODEL_FIELDS_V1 = tuple(f for f in MODEL_FIELDS_V2 if f != "pricing_tiers")
DATED_FIELDS = ("effective_from", *PRICE_FIELDS, "pricing_tiers")
TIER_FIELDS = ("above_input_tokens", *PRICE_FIELDS)
PROVIDER_FIELDS = ("provider_name", "moderation", "credential_fields")
SNAPSHOT_KEYS = ("format", "sources", "providers", "models")


def _check_name(value: Any, where: str, what: str) -> str:
    if not isinstance(value, str):
        raise CatalogFormatError(f"{where}: {what} must be a string, got {type_name(value)} {short(value)}")
    problem = name_problem(value)
    if problem is not None:
        raise CatalogFormatError(f"{where}: {what} {short(value)} {problem}")
    return value


def _check_str(value: Any, where: str, what: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise CatalogFormatError(f"{where}: {what} must be a non-empty string, got {short(value)}")
    return value


def _check_str_list(value: Any, where: str, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise CatalogFormatError(f"{where}: {what} must be a list of strings, got {short(value)}")
    return list(dict.fromkeys(value))


def _check_int(value: Any, where: str, what: str) -> int | None:
    number = finite_number(value, f"{where}: {what}")
    if number is None:
        return None
    if number != int(number):
        raise CatalogFormatError(f"{where}: {what} must be a whole number, got {short(value)}")
    return int(number)


def _check_flag(value: Any, where: str, what: str) -> int:
    if not isinstance(value, int) or value not in (0, 1):
        raise CatalogFormatError(f"{where}: {what} must be 0 or 1, got {short(value)}")
    return int(value)


def _check_date(value: Any, where: str) -> str | None:
    if value is None:
        return None
    return parse_iso(value, date.fromisoformat, f"{where}: deprecation_date", "a YYYY-MM-DD date or null").isoformat()


def _check_keys(raw: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    unknown = sorted(str(k) for k in raw if k not in allowed)
    if unknown:
        raise CatalogFormatError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}")


def _check_tiers(value: Any, where: str) -> list[dict[str, Any]]:
    """pricing_tiers: a list of {above_input_tokens, input_cost, output_cost, cache_hit_input_cost,
    cache_creation_input_cost}, thresholds whole, >= 1 and strictly ascending, input_cost required."""
    if not isinstance(value, list):
        raise CatalogFormatError(f"{where}: pricing_tiers must be a list, got {type_name(value)}")
    tiers: list[dict[str, Any]] = []
    for i, raw in enumerate(value):
        at = f"{where}: pricing_tiers[{i}]"
        if not isinstance(raw, Mapping):
            raise CatalogFormatError(f"{at}: expected an object, got {type_name(raw)}")
        _check_keys(raw, TIER_FIELDS, at)
        threshold = _check_int(raw.get("above_input_tokens"), at, "above_input_tokens")
        if threshold is None or threshold < 1:
            raise CatalogFormatError(f"{at}: above_input_tokens must be a whole number >= 1")
        if tiers and threshold <= tiers[-1]["above_input_tokens"]:
            raise CatalogFormatError(f"{at}: above_input_tokens must be strictly ascending")
        tier: dict[str, Any] = {"above_input_tokens": threshold}
        tier |= {key: finite_number(raw.get(key), f"{at}.{key}") for key in PRICE_FIELDS}
        if tier["input_cost"] is None:
            raise CatalogFormatError(f"{at}: input_cost is required")
        tiers.append(tier)
    return tiers


def _check_dated(value: Any, where: str) -> list[dict[str, Any]]:
    """dated_prices: the model's price sets over time, [{effective_from, the four prices, pricing_tiers}]: the
    first may have effective_from null (the prices before the first date), the others ISO-8601 UTC datetimes in
    strictly ascending order. Empty: the flat prices hold at any time."""
    if not isinstance(value, list):
        raise CatalogFormatError(f"{where}: dated_prices must be a list, got {type_name(value)}")
    entries: list[dict[str, Any]] = []
    previous: datetime | None = None
    for i, raw in enumerate(value):
        at = f"{where}: dated_prices[{i}]"
        if not isinstance(raw, Mapping):
            raise CatalogFormatError(f"{at}: expected an object, got {type_name(raw)}")
        _check_keys(raw, DATED_FIELDS, at)
        start = raw.get("effective_from")
        if start is None and i > 0:
            raise CatalogFormatError(f"{at}: only the first entry may have effective_from null")
        if start is not None:
            moment = parse_iso(start, _utc_datetime, f"{at}.effective_from", "an ISO-8601 UTC datetime")
            if previous is not None and moment <= previous:
                raise CatalogFormatError(f"{at}: effective_from must be strictly ascending")
            previous = moment
            start = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        entry: dict[str, Any] = {"effective_from": start}
        entry |= {key: finite_number(raw.get(key), f"{at}.{key}") for key in PRICE_FIELDS}
        entry["pricing_tiers"] = _check_tiers(raw.get("pricing_tiers", []), at)
        entries.append(entry)
    return entries


def _utc_datetime(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("no time zone")
    return moment.astimezone(UTC)


def _modelreg_model(raw: Any, where: str, fields: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise CatalogFormatError(f"{where}: expected an object, got {type_name(raw)}")
    name = _check_name(raw.get("model_name"), where, "model_name")
    where = f"{where} ({name!r})"
    _check_keys(raw, fields, where)
    for key in REQUIRED_MODEL_FIELDS:
        if key not in raw:
            raise CatalogFormatError(f"{where}: missing required field {key!r}")
    value = {key: raw.get(key, MODEL_DEFAULTS.get(key)) for key in MODEL_FIELDS}
    model_type = value["model_type"]
    if model_type not in MODEL_TYPES:
        raise CatalogFormatError(
            f"{where}: model_type must be one of {', '.join(MODEL_TYPES)}; got {short(model_type)}"
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
        **{key: finite_number(value[key], f"{where}: {key}") for key in PRICE_FIELDS},
        "pricing_tiers": _check_tiers(value["pricing_tiers"], where),
        "dated_prices": _check_dated(value["dated_prices"], where),
        "streaming_support": _check_flag(value["streaming_support"], where, "streaming_support"),
        "function_call": _check_flag(value["function_call"], where, "function_call"),
        "image_support": _check_flag(value["image_support"], where, "image_support"),
        "supported_params": _check_str_list(value["supported_params"], where, "supported_params"),
        "deprecation_date": _check_date(value["deprecation_date"], where),
    }


def _modelreg_provider(provider_id: Any, raw: Any) -> dict[str, Any]:
    if not isinstance(provider_id, str) or not provider_id:
        raise CatalogFormatError(f"providers: ids must be non-empty strings, got {short(provider_id)}")
    where = f"providers[{provider_id!r}]"
    if not isinstance(raw, Mapping):
        raise CatalogFormatError(f"{where}: expected an object, got {type_name(raw)}")
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
    """Validate a snapshot in modelreg's own format (the current one or format 1) and return a normalized copy
    in the current format.

    Normalized: every model field present (the loader's defaults fill missing optional ones), in file
    order, prices as floats, flags as 0/1, duplicate list items dropped, models sorted by model_name and
    providers by id. Raises CatalogFormatError naming the offending entry on any problem.
    """
    if not isinstance(data, Mapping):
        raise CatalogFormatError(f"modelreg catalog: expected a JSON object, got {type_name(data)}")
    version = data.get("format")
    if version not in ACCEPTED_FORMATS:
        raise CatalogFormatError(
            f"modelreg catalog: format must be one of {', '.join(map(repr, ACCEPTED_FORMATS))}, got {short(version)}"
        )
    _check_keys(data, SNAPSHOT_KEYS, "modelreg catalog")
    for key in SNAPSHOT_KEYS:
        if key not in data:
            raise CatalogFormatError(f"modelreg catalog: missing required field {key!r}")
    sources, providers, models = data["sources"], data["providers"], data["models"]
    if not isinstance(sources, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in sources.items()
    ):
        raise CatalogFormatError(f"modelreg catalog: sources must map names to version strings, got {short(sources)}")
    if not isinstance(providers, Mapping):
        raise CatalogFormatError(f"modelreg catalog: providers must be an object, got {type_name(providers)}")
    if not isinstance(models, list):
        raise CatalogFormatError(f"modelreg catalog: models must be a list, got {type_name(models)}")

    fields = {FORMAT: MODEL_FIELDS, "modelreg-catalog/2": MODEL_FIELDS_V2}.get(str(version), MODEL_FIELDS_V1)
    checked = [_modelreg_model(raw, f"models[{i}]", fields) for i, raw in enumerate(models)]
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
