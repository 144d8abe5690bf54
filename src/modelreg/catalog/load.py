"""Load the catalog snapshot into memory and answer name lookups without touching the database.

Name lookup rules (shared by retrieve and base_model_name):
1. exact built-in name (`openai/gpt-4o`);
2. an alias: litellm's original key, unique by construction (`gpt-4o` -> `openai/gpt-4o`);
3. a bare native name shared by exactly one provider (`claude-x` -> `anthropic/claude-x`);
   several matches raise AmbiguousModelName listing them.
"""

from __future__ import annotations

import bisect
import json
import math
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import msgspec

from modelreg.domain.errors import AmbiguousModelName
from modelreg.domain.llm_model import LLMModel
from modelreg.domain.pricing import PriceSet, PriceTier
from modelreg.domain.provider import BuiltinProvider

__all__ = ["SNAPSHOT_PATH", "Catalog", "CatalogEntry", "load_catalog"]

SNAPSHOT_PATH = Path(__file__).with_name("snapshot.json")


class DatedEntry(msgspec.Struct, kw_only=True):
    """A built-in's prices from `effective_from` on (null: before the first date)."""

    effective_from: datetime | None = None
    input_cost: float | None = None
    output_cost: float | None = None
    cache_hit_input_cost: float | None = None
    cache_creation_input_cost: float | None = None
    pricing_tiers: list[PriceTier] = msgspec.field(default_factory=list)

    def prices(self) -> PriceSet:
        return PriceSet(
            input_cost=self.input_cost,
            output_cost=self.output_cost,
            cache_hit_input_cost=self.cache_hit_input_cost,
            cache_creation_input_cost=self.cache_creation_input_cost,
            pricing_tiers=tuple(self.pricing_tiers),
        )


class CatalogEntry(msgspec.Struct, kw_only=True):
    """One model of the snapshot file (format modelreg-catalog/3; older formats have no tiers or dated prices)."""

    model_name: str
    native_name: str
    provider_id: str
    aliases: list[str] = msgspec.field(default_factory=list)
    display_name: str | None = None
    model_type: str = "chat"
    max_context_window: int | None = None
    max_output_tokens: int | None = None
    input_cost: float | None = None
    output_cost: float | None = None
    cache_hit_input_cost: float | None = None
    cache_creation_input_cost: float | None = None
    pricing_tiers: list[PriceTier] = msgspec.field(default_factory=list)
    dated_prices: list[DatedEntry] = msgspec.field(default_factory=list)
    streaming_support: int = 0
    function_call: int = 0
    image_support: int = 0
    supported_params: list[str] = msgspec.field(default_factory=list)
    deprecation_date: str | None = None


class ProviderEntry(msgspec.Struct, kw_only=True):
    provider_name: str
    moderation: str = "Unfiltered"
    credential_fields: list[str] = msgspec.field(default_factory=lambda: ["api_key"])


class Snapshot(msgspec.Struct, kw_only=True):
    format: str
    sources: dict[str, str]
    providers: dict[str, ProviderEntry]
    models: list[CatalogEntry]


def _status(deprecation_date: str | None, today: date) -> str:
    if not deprecation_date:
        return "active"
    try:
        return "deprecated" if date.fromisoformat(deprecation_date[:10]) <= today else "active"
    except ValueError:
        return "active"


class Catalog:
    def __init__(
        self,
        models: list[LLMModel],
        providers: dict[str, BuiltinProvider],
        sources: dict[str, str],
        dated: dict[str, tuple[PriceSet, list[tuple[float, PriceSet]]]] | None = None,
        as_of: float | None = None,
    ):
        self.models: dict[str, LLMModel] = {m.name: m for m in sorted(models, key=lambda m: m.name)}
        self.providers = providers
        self.sources = sources
        self._aliases: dict[str, str] = {}
        self._native: dict[str, list[str]] = {}
        for model in self.models.values():
            for alias in model.aliases:
                self._aliases.setdefault(alias, model.name)
            if model.native_name:
                self._native.setdefault(model.native_name, []).append(model.name)
        self.reserved_names = frozenset(self.models) | frozenset(self._aliases)
        """Names a custom model may not take: they would shadow a built-in."""
        self.dated = dated or {}
        """Built-ins whose price changes on dates: (the prices before the first date, [(start, prices)]); their
        models carry the prices in force at `as_of`."""
        self.as_of = time.time() if as_of is None else as_of
        self.next_transition = min(
            (start for _, changes in self.dated.values() for start, _ in changes if start > self.as_of),
            default=math.inf,
        )
        """When a dated price next comes into force: the catalog is re-resolved then (`at`)."""

    def at(self, now: float) -> Catalog:
        """This catalog with each dated built-in at the prices in force at `now` (the rest shared as is)."""
        models = []
        for model in self.models.values():
            if model.name in self.dated:
                model = msgspec.structs.replace(model, **_as_fields(_in_force(self.dated[model.name], now)))
            models.append(model)
        return Catalog(models, self.providers, self.sources, self.dated, now)

    def dated_prices(self, name: str) -> tuple[list[tuple[float, PriceSet]], PriceSet]:
        """A built-in's dated prices by start (unix seconds) and its prices before the first of them; a model
        without dated prices has none and its one price set."""
        dated = self.dated.get(name)
        if dated is not None:
            return dated[1], dated[0]
        model = self.models.get(name)
        return [], PriceSet.of(model) if model is not None else PriceSet()

    def exact(self, name: str) -> LLMModel | None:
        """A built-in model name or alias; never ambiguous."""
        model = self.models.get(name)
        if model is None:
            canonical = self._aliases.get(name)
            model = self.models[canonical] if canonical is not None else None
        return model

    def lookup(self, name: str, field: str = "model_name") -> LLMModel | None:
        model = self.exact(name)
        if model is not None:
            return model
        candidates = self._native.get(name, [])
        if len(candidates) == 1:
            return self.models[candidates[0]]
        if len(candidates) > 1:
            raise AmbiguousModelName(name, sorted(candidates), field=field)
        return None

    def lookup_or_none(self, name: str) -> LLMModel | None:
        """lookup() for reads of stored links: an ambiguous name resolves to nothing instead of failing."""
        try:
            return self.lookup(name)
        except AmbiguousModelName:
            return None

    def __len__(self) -> int:
        return len(self.models)


def _in_force(dated: tuple[PriceSet, list[tuple[float, PriceSet]]], now: float) -> PriceSet:
    before, changes = dated
    i = bisect.bisect_right([start for start, _ in changes], now)
    return changes[i - 1][1] if i else before


def _as_fields(prices: PriceSet) -> dict[str, Any]:
    return {**msgspec.structs.asdict(prices), "pricing_tiers": prices.pricing_tiers or ()}


def _to_model(entry: CatalogEntry, provider: BuiltinProvider, today: date) -> LLMModel:
    return LLMModel(
        name=entry.model_name,
        display_name=entry.display_name,
        affiliation="builtin",
        model_type=entry.model_type,
        input_cost=entry.input_cost,
        output_cost=entry.output_cost,
        cache_hit_input_cost=entry.cache_hit_input_cost,
        cache_creation_input_cost=entry.cache_creation_input_cost,
        pricing_tiers=tuple(entry.pricing_tiers),
        max_context_window=entry.max_context_window,
        max_output_tokens=entry.max_output_tokens,
        streaming_support=entry.streaming_support,
        function_call=entry.function_call,
        image_support=entry.image_support,
        supported_params=dict.fromkeys(entry.supported_params, True),
        status="deprecated" if _status(entry.deprecation_date, today) == "deprecated" else "active",
        provider=provider,
        native_name=entry.native_name,
        aliases=tuple(a for a in entry.aliases if a != entry.model_name),
    )


def catalog_from_snapshot(raw: bytes | dict[str, Any], today: date | None = None, now: float | None = None) -> Catalog:
    """The catalog, its dated built-ins at the prices in force `now` (default: the current time)."""
    data = raw if isinstance(raw, dict) else json.loads(raw)
    snapshot = msgspec.convert(data, Snapshot)
    day = today or datetime.now(UTC).date()
    providers = {
        pid: BuiltinProvider(
            provider_id=pid,
            provider_name=p.provider_name,
            moderation=p.moderation,
            credential_fields=tuple(p.credential_fields),
        )
        for pid, p in snapshot.providers.items()
    }
    models = []
    dated: dict[str, tuple[PriceSet, list[tuple[float, PriceSet]]]] = {}
    for entry in snapshot.models:
        provider = providers.get(entry.provider_id) or BuiltinProvider(
            provider_id=entry.provider_id, provider_name=entry.provider_id
        )
        model = _to_model(entry, provider, day)
        models.append(model)
        if entry.dated_prices:
            first = entry.dated_prices[0]
            # Without an undated first entry, the flat prices hold before the first date.
            before = first.prices() if first.effective_from is None else PriceSet.of(model)
            changes = [(e.effective_from.timestamp(), e.prices()) for e in entry.dated_prices if e.effective_from]
            dated[entry.model_name] = (before, changes)
    catalog = Catalog(models, providers, snapshot.sources, dated, now)
    return catalog.at(catalog.as_of) if dated else catalog


def load_catalog(path: Path = SNAPSHOT_PATH) -> Catalog:
    return catalog_from_snapshot(path.read_bytes())
