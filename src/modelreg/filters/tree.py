"""The parsed filter tree.

Grammar (JSON):

    filters    := { key: entry, ... }                    entries fold left to right
    entry      := condition | [condition, ...] | bundle  a list = several conditions on one field
    condition  := {"operator": op, "value": value | [value, ...], "connector"?: "AND" | "OR"}
    bundle     := {"connector"?: "AND" | "OR", "filter_params": filters}   under any key name

Folding: the first item starts the accumulator; each later item joins it with that item's own
connector (default AND). So `{a: {..}, b: {.., connector: OR}}` is `a OR b`, and a bundle is a
parenthesised group.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = ["Bundle", "Condition", "Node"]

Connector = Literal["AND", "OR"]


class Condition(msgspec.Struct, frozen=True):
    field: str
    operator: str
    """Canonical operator (aliases resolved); see parse.OPERATORS."""
    values: tuple[Any, ...]
    """Coerced to the field's kind; one element except for "", in, not, not_in."""
    connector: Connector = "AND"


class Bundle(msgspec.Struct, frozen=True):
    children: tuple[Condition | Bundle, ...]
    connector: Connector = "AND"


Node = Condition | Bundle
