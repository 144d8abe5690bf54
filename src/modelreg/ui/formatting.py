"""How numbers and times look on the console's pages (Jinja filters)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

__all__ = ["FILTERS"]


def price(value: float | None) -> str:
    """USD per 1M tokens: trailing zeros dropped, but never fewer than two decimals."""
    if value is None:
        return "—"
    text = f"{value:.6f}".rstrip("0")
    whole, _, decimals = text.partition(".")
    return f"${whole}.{decimals.ljust(2, '0')}"


def tokens(value: int | None) -> str:
    if value is None:
        return "—"
    if value >= 1_000_000 and value % 1_000_000 == 0:
        return f"{value // 1_000_000}M"
    if value >= 1000:
        return f"{value / 1000:.0f}k" if value % 1000 == 0 or value >= 100_000 else f"{value / 1000:.1f}k"
    return str(value)


def fixed(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def when(value: datetime | None) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def usd(value: float | None) -> str:
    return "—" if value is None else f"${value:,.4f}"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def flag(value: int | None) -> str:
    return "—" if value is None else ("yes" if value else "no")


FILTERS: dict[str, Callable[..., Any]] = {
    "price": price,
    "tokens": tokens,
    "fixed": fixed,
    "when": when,
    "count": count,
    "usd": usd,
    "percent": percent,
    "flag": flag,
}
