"""genai-prices' published data (``data.json`` / ``data_slim.json``) -> prices and display names on the models
a snapshot already has (``apply_genai_prices``), matched with genai-prices' own lookup rules, re-implemented."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, time
from typing import Any

from modelreg.catalog.sources.common import (
    DEFAULT_PRICES_AS_OF,
    PRICE_FIELDS,
    CatalogFormatError,
    ConversionStats,
    derive_display_name,
    finite_number,
    parse_iso,
    pick_primary,
    round_sig,
    short,
    type_name,
    usable_display_name,
)
from modelreg.catalog.sources.genai_matching import Matcher, matcher, normalize_compact_date
from modelreg.catalog.sources.snapshot_format import from_modelreg

__all__ = ["apply_genai_prices"]

# A region-pinned key such as "bedrock/us-gov-west-1/amazon.titan-text-lite-v1". genai-prices
# is not region-aware (it would return the default-region price), so these keep litellm's prices.
REGION_SEGMENT = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d+$")

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

GENAI_PRICE_KEYS = {
    "input_cost": "input_mtok",
    "output_cost": "output_mtok",
    "cache_hit_input_cost": "cache_read_mtok",
    "cache_creation_input_cost": "cache_write_mtok",
}


def _genai_price(value: Any, where: str) -> tuple[float | None, list[tuple[int, float]]]:
    """A genai-prices price (already per 1M tokens): (base, [(tier start, tier price), ...] ascending)."""
    tiers: list[tuple[int, float]] = []
    if isinstance(value, Mapping):
        raw_tiers = value.get("tiers", [])
        if "base" not in value or not isinstance(raw_tiers, list):
            raise CatalogFormatError(f"{where}: tiered prices need a base price and a list of tiers")
        for i, tier in enumerate(raw_tiers):
            at = f"{where}.tiers[{i}]"
            if not isinstance(tier, Mapping) or "start" not in tier or "price" not in tier:
                raise CatalogFormatError(f"{at}: expected an object with start and price, got {short(tier)}")
            start = finite_number(tier["start"], f"{at}.start")
            price = finite_number(tier["price"], f"{at}.price")
            if start is None or price is None or start != int(start) or start < 1:
                raise CatalogFormatError(f"{at}: start must be a whole number >= 1 and price a number")
            tiers.append((int(start), round_sig(price)))
        tiers.sort()
        value = value["base"]
        where += ".base"
    number = finite_number(value, where)
    return (None if number is None else round_sig(number)), tiers


def _genai_prices(value: Any, where: str) -> dict[str, Any]:
    """The four catalog prices of one genai-prices price object, plus `pricing_tiers`: None when no price is
    tiered, else one catalog tier per distinct start (each price at its own tier in force there; genai-prices
    tiers each price separately, by the same "total input tokens strictly above start" rule)."""
    if not isinstance(value, Mapping):
        raise CatalogFormatError(f"{where}: expected a price object, got {type_name(value)}")
    parsed = {name: _genai_price(value.get(key), f"{where}.{key}") for name, key in GENAI_PRICE_KEYS.items()}
    result: dict[str, Any] = {name: base for name, (base, _) in parsed.items()}
    starts = sorted({start for _, tiers in parsed.values() for start, _ in tiers})
    if not starts:
        result["pricing_tiers"] = None
        return result
    catalog_tiers = []
    for start in starts:
        tier: dict[str, Any] = {"above_input_tokens": start}
        for name, (base, tiers) in parsed.items():
            in_force = [price for tier_start, price in tiers if tier_start <= start]
            tier[name] = in_force[-1] if in_force else base
        if tier["input_cost"] is None:
            continue  # a tier needs an input price (no genai-prices model tiers only its output)
        catalog_tiers.append(tier)
    result["pricing_tiers"] = catalog_tiers
    return result


@dataclass(frozen=True)
class _PriceOption:
    """One entry of a conditional price list; start_date None = always applicable."""

    start_date: date | None
    prices: dict[str, Any]
    """The four prices and `pricing_tiers` (None: this entry has no tiered price)."""


def _constraint_start(constraint: Any, where: str) -> date | None:
    """A price constraint's start date; None for no constraint or a time-of-day window.

    Time-of-day windows are peak/standard periods (e.g. DeepSeek): they count as applicable, so
    the catalog shows the standard rate and never the cheaper off-peak one.
    """
    if constraint is None:
        return None
    if not isinstance(constraint, Mapping):
        raise CatalogFormatError(f"{where}: expected an object, got {type_name(constraint)}")
    if "start_date" in constraint:
        return parse_iso(constraint["start_date"], date.fromisoformat, f"{where}.start_date", "a YYYY-MM-DD date")
    if "start_time" in constraint and "end_time" in constraint:
        for key in ("start_time", "end_time"):
            parse_iso(constraint[key], time.fromisoformat, f"{where}.{key}", "a time of day")
        return None
    raise CatalogFormatError(f"{where}: expected start_date or start_time/end_time, got {short(constraint)}")


@dataclass(frozen=True)
class _GenaiModel:
    name: str | None
    matches: Matcher
    options: tuple[_PriceOption, ...]

    def prices(self, as_of: date) -> dict[str, Any]:
        """The price set in force at as_of: like genai-prices, the last applicable entry wins; dated
        entries apply from their start_date; if none applies, the first entry is used."""
        if not self.options:
            return dict.fromkeys((*PRICE_FIELDS, "pricing_tiers"))
        for option in reversed(self.options):
            if option.start_date is None or option.start_date <= as_of:
                return option.prices
        return self.options[0].prices

    def schedule(self) -> tuple[dict[str, Any], list[tuple[date, dict[str, Any]]]]:
        """(the prices before the first start date, [(start date, the prices in force from then)]), by the same
        rule as `prices`; only the dates at which the price set in force changes."""
        before = self.prices(date.min)
        changes: list[tuple[date, dict[str, Any]]] = []
        previous = before
        for start in sorted({o.start_date for o in self.options if o.start_date is not None}):
            current = self.prices(start)
            if current != previous:
                changes.append((start, current))
                previous = current
        return before, changes


@dataclass(frozen=True)
class _GenaiProvider:
    id: str
    provider_match: Matcher | None
    model_match: Matcher | None
    fallback_ids: tuple[str, ...]
    models: tuple[_GenaiModel, ...]


def _parse_genai_model(raw: Any, where: str) -> _GenaiModel:
    if not isinstance(raw, Mapping):
        raise CatalogFormatError(f"{where}: expected an object, got {type_name(raw)}")
    model_id = raw.get("id")
    if not isinstance(model_id, str) or not model_id:
        raise CatalogFormatError(f"{where}: id must be a non-empty string, got {short(model_id)}")
    where = f"{where} ({model_id!r})"
    name = raw.get("name")
    if name is not None and not isinstance(name, str):
        raise CatalogFormatError(f"{where}: name must be a string, got {type_name(name)}")
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
                raise CatalogFormatError(f"{at}: expected an object with prices, got {short(entry)}")
            start = _constraint_start(entry.get("constraint"), f"{at}.constraint")
            entries.append(_PriceOption(start, _genai_prices(entry["prices"], f"{at}.prices")))
        options = tuple(entries)
    else:
        raise CatalogFormatError(f"{where}: prices must be an object or a list, got {type_name(prices)}")
    return _GenaiModel(name=name, matches=matcher(raw["match"], f"{where}.match"), options=options)


def _parse_genai_provider(raw: Any, where: str) -> _GenaiProvider:
    if not isinstance(raw, Mapping):
        raise CatalogFormatError(f"{where}: expected a provider object, got {type_name(raw)}")
    provider_id = raw.get("id")
    if not isinstance(provider_id, str) or not provider_id:
        raise CatalogFormatError(f"{where}: id must be a non-empty string, got {short(provider_id)}")
    where = f"genai-prices provider {provider_id!r}"
    fallbacks = raw.get("fallback_model_providers") or []
    if not isinstance(fallbacks, list) or not all(isinstance(f, str) for f in fallbacks):
        raise CatalogFormatError(f"{where}: fallback_model_providers must be a list of strings")
    models = raw.get("models", [])
    if not isinstance(models, list):
        raise CatalogFormatError(f"{where}: models must be a list, got {type_name(models)}")
    rules: dict[str, Matcher | None] = {}
    for key in ("provider_match", "model_match"):
        rule = raw.get(key)
        rules[key] = None if rule is None else matcher(rule, f"{where}: {key}")
    return _GenaiProvider(
        id=provider_id,
        provider_match=rules["provider_match"],
        model_match=rules["model_match"],
        fallback_ids=tuple(fallbacks),
        models=tuple(_parse_genai_model(m, f"{where}: models[{i}]") for i, m in enumerate(models)),
    )


class _GenaiData:
    """genai-prices' providers with its own lookup rules, re-implemented (no genai_prices import)."""

    def __init__(self, raw: Mapping[str, Any] | Sequence[Any]) -> None:
        providers = raw.get("providers") if isinstance(raw, Mapping) else raw
        if isinstance(providers, str | bytes) or not isinstance(providers, Sequence):
            raise CatalogFormatError(
                "genai-prices data: expected a list of providers (data.json), or an object with a 'providers' list; "
                f"got {type_name(providers)}"
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
            normalized = normalize_compact_date(ref)
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


def _dated_prices(model: Mapping[str, Any], found: _GenaiModel) -> list[dict[str, Any]]:
    """The model's `dated_prices` (snapshot format 3): empty unless genai-prices changes its price on a date;
    else the prices before the first date (effective_from null), then one entry per change, from 00:00 UTC of its
    start date. A price genai-prices lacks keeps the snapshot's, as for the flat prices."""
    before, changes = found.schedule()
    if not changes:
        return []

    def entry(start: date | None, prices: Mapping[str, Any]) -> dict[str, Any]:
        values = {
            name: model[name] if prices[name] is None else prices[name] for name in (*PRICE_FIELDS, "pricing_tiers")
        }
        return {"effective_from": None if start is None else f"{start.isoformat()}T00:00:00Z", **values}

    return [entry(None, before), *(entry(start, prices) for start, prices in changes)]


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
    the base price and ``pricing_tiers``, which replace the snapshot's tiers as a whole when genai-prices
    tiers any of the model's prices (else the snapshot's tiers stay); dated prices are kept as the model's
    ``dated_prices`` and the flat prices are those in force at ``prices_as_of`` (default
    DEFAULT_PRICES_AS_OF); region-pinned keys (``bedrock/<region>/...``) keep their
    prices. Its name replaces display_name unless missing or all lower case. No models are added or removed.
    The input is not modified.
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
        primary = pick_primary(model["model_name"], [model["model_name"], *model["aliases"]])
        found = None
        for ref in _match_refs(primary, provider, native_name):
            found = genai.find(ref, genai_provider)
            if found is not None:
                break
        if found is None:
            continue
        counts.genai_matches += 1
        if not REGION_SEGMENT.match(native_name.split("/", 1)[0]):
            model["dated_prices"] = _dated_prices(model, found)
            for name, price in found.prices(as_of).items():
                if price is not None:
                    model[name] = price
        model["display_name"] = (
            usable_display_name(found.name) or model["display_name"] or derive_display_name(native_name)
        )
    result["sources"] = {**result["sources"], "genai_prices": version or "unknown"}
    return result
