"""What one call cost and how fast it ran, and how calls add up (pure: no clock, no I/O).

Token counts come from the upstream's OpenAI-style `usage` object. Cached input is read from
`prompt_tokens_details.cached_tokens` (OpenAI, vLLM) or `cache_read_input_tokens` (Anthropic-style
proxies); cache creation from `cache_creation_input_tokens` or `prompt_tokens_details.cache_creation_tokens`.
Both are part of `prompt_tokens`, so fresh input = prompt - cache hits - cache creation.

Prices are the model's resolved prices per 1M tokens (custom prices, inheritance and the tier the prompt falls
in included: domain/pricing.py). A missing
cache price falls back to `input_cost`; an explicit 0 is 0. A call whose model has no input or output price
is counted as `unpriced` rather than silently treated as free.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import msgspec

from modelreg.domain.pricing import Prices, prices_for

if TYPE_CHECKING:  # llm_model imports Throughput from here
    from modelreg.domain.llm_model import LLMModel

__all__ = [
    "Call",
    "Outcome",
    "Throughput",
    "TokenUsage",
    "Totals",
    "call_cost",
    "outcome_of",
    "token_usage",
]

PER_TOKENS = 1_000_000


class TokenUsage(msgspec.Struct, frozen=True):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_hit_tokens: int = 0
    cache_creation_tokens: int = 0


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53 else 0


def token_usage(usage: Any) -> TokenUsage | None:
    """The counts in an upstream `usage` object (None when there is none)."""
    if not isinstance(usage, dict):
        return None
    details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details")  # chat | responses
    details = details if isinstance(details, dict) else {}
    prompt = _count(usage.get("prompt_tokens", usage.get("input_tokens")))
    hits = _count(details.get("cached_tokens")) or _count(usage.get("cache_read_input_tokens"))
    creation = _count(usage.get("cache_creation_input_tokens")) or _count(details.get("cache_creation_tokens"))
    completion = _count(usage.get("completion_tokens", usage.get("output_tokens")))
    hits = min(hits, prompt)
    creation = min(creation, prompt - hits)
    return TokenUsage(prompt, completion, hits, creation)


def call_cost(model: LLMModel, usage: TokenUsage) -> float | None:
    """USD for these tokens at the model's resolved prices, in the tier the prompt falls in
    (domain/pricing.py); None when the model has no price."""
    prices = prices_for(
        Prices(
            input_cost=model.input_cost,
            output_cost=model.output_cost,
            cache_hit_input_cost=model.cache_hit_input_cost,
            cache_creation_input_cost=model.cache_creation_input_cost,
        ),
        model.pricing_tiers,
        usage.prompt_tokens,
    )
    input_cost = prices.input_cost
    if input_cost is None or (usage.completion_tokens and prices.output_cost is None):
        return None
    hit_price = prices.cache_hit_input_cost if prices.cache_hit_input_cost is not None else input_cost
    creation_price = prices.cache_creation_input_cost if prices.cache_creation_input_cost is not None else input_cost
    fresh = usage.prompt_tokens - usage.cache_hit_tokens - usage.cache_creation_tokens
    total = (
        fresh * input_cost
        + usage.cache_hit_tokens * hit_price
        + usage.cache_creation_tokens * creation_price
        + usage.completion_tokens * (prices.output_cost or 0.0)
    )
    return total / PER_TOKENS


Outcome = Literal["ok", "client_error", "cancelled", "upstream_error", "gateway_error"]
"""ok: answered; client_error: the upstream refused the request (4xx); cancelled: the caller went away;
upstream_error: the upstream failed (5xx, unreachable, timed out, redirected) — the only outcome that
counts against uptime; gateway_error: modelreg itself failed (counts against the platform's uptime)."""


def outcome_of(status: int) -> Outcome:
    """The outcome a reported HTTP status stands for (POST /api/request-logs/)."""
    if status == 499:
        return "cancelled"
    if 200 <= status < 300:
        return "ok"
    if 400 <= status < 500:
        return "client_error"
    return "upstream_error"


class Call(msgspec.Struct, frozen=True, kw_only=True):
    """One measured call, from our gateway or reported by another (POST /api/request-logs/)."""

    organization_id: str
    model_name: str
    provider_id: str
    outcome: Outcome
    usage: TokenUsage = TokenUsage()
    ttft: float | None = None
    """Seconds to the first content chunk (streams only)."""
    latency: float = 0.0
    """Seconds from receiving the call to its last byte."""
    cost: float | None = None
    at: float = 0.0
    """Unix time the call started."""

    @property
    def tokens_per_second(self) -> float | None:
        """Completion tokens per second of generation (after the first token when streaming)."""
        if self.usage.completion_tokens <= 0 or self.outcome != "ok":
            return None
        generating = self.latency - (self.ttft or 0.0)
        if generating <= 0:
            generating = self.latency
        return self.usage.completion_tokens / generating if generating > 0 else None


class Totals(msgspec.Struct, kw_only=True):
    """Sums over calls (one minute's bucket, a day, a window); averages are derived, never stored."""

    requests: int = 0
    upstream_failures: int = 0
    gateway_failures: int = 0
    latency_sum: float = 0.0
    latency_count: int = 0
    ttft_sum: float = 0.0
    ttft_count: int = 0
    tps_sum: float = 0.0
    tps_count: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_hit_tokens: int = 0
    cache_creation_tokens: int = 0
    cost: float = 0.0
    unpriced: int = 0

    def add(self, call: Call) -> None:
        self.requests += 1
        if call.outcome == "upstream_error":
            self.upstream_failures += 1
        elif call.outcome == "gateway_error":
            self.gateway_failures += 1
        elif call.outcome == "ok":
            self.latency_sum += call.latency
            self.latency_count += 1
            if call.ttft is not None:
                self.ttft_sum += call.ttft
                self.ttft_count += 1
        tps = call.tokens_per_second
        if tps is not None:
            self.tps_sum += tps
            self.tps_count += 1
        self.prompt_tokens += call.usage.prompt_tokens
        self.completion_tokens += call.usage.completion_tokens
        self.cache_hit_tokens += call.usage.cache_hit_tokens
        self.cache_creation_tokens += call.usage.cache_creation_tokens
        if call.cost is None:
            if call.usage.prompt_tokens or call.usage.completion_tokens:
                self.unpriced += 1
        else:
            self.cost += call.cost

    def merge(self, other: Totals) -> None:
        for field in self.__struct_fields__:
            setattr(self, field, getattr(self, field) + getattr(other, field))

    @property
    def uptime_percent(self) -> float | None:
        return None if not self.requests else 100.0 * (self.requests - self.upstream_failures) / self.requests

    @property
    def gateway_uptime_percent(self) -> float | None:
        return None if not self.requests else 100.0 * (self.requests - self.gateway_failures) / self.requests

    @property
    def average_tps(self) -> float | None:
        return self.tps_sum / self.tps_count if self.tps_count else None

    @property
    def average_ttft(self) -> float | None:
        return self.ttft_sum / self.ttft_count if self.ttft_count else None

    @property
    def average_latency(self) -> float | None:
        return self.latency_sum / self.latency_count if self.latency_count else None

    @property
    def cache_hit_percentage(self) -> float | None:
        return 100.0 * self.cache_hit_tokens / self.prompt_tokens if self.prompt_tokens else None


class Throughput(msgspec.Struct, frozen=True, kw_only=True):
    """A model's figures over the rolling window, for one organization (what `throughput` shows)."""

    average_tps: float | None
    average_ttft: float | None
    average_latency: float | None
    number_of_requests: int
    cost: float
    prompt_tokens: int
    completion_tokens: int

    @classmethod
    def of(cls, totals: Totals) -> Throughput:
        return cls(
            average_tps=totals.average_tps,
            average_ttft=totals.average_ttft,
            average_latency=totals.average_latency,
            number_of_requests=totals.requests,
            cost=totals.cost,
            prompt_tokens=totals.prompt_tokens,
            completion_tokens=totals.completion_tokens,
        )
