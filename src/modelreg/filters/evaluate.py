"""Evaluate a filter tree in memory over rows (dict: canonical field -> value, as fields.py lists).

Null field values: `empty` and `isnull [true]` match; `""` matches only a listed null; the negative
operators (`not`, `not_contains`, `not_startswith`, `not_endswith`) match a null unless null is listed;
everything else does not match. to_sql.py implements exactly these rules; tests compare the two.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from modelreg.filters.regex import safe_regex
from modelreg.filters.tree import Bundle, Condition, Node

__all__ = ["Predicate", "compile_predicate", "squash"]

Row = Mapping[str, Any]
Predicate = Callable[[Row], bool]

_SQUASH = str.maketrans("", "", "-_. ")


def squash(text: str) -> str:
    """model_name icontains ignores `-`, `_`, `.` and spaces on both sides (`gemini3` finds `gemini-3`)."""
    return text.lower().translate(_SQUASH)


def _condition(cond: Condition) -> Predicate:
    field, op, values = cond.field, cond.operator, cond.values
    value: Any = values[0] if values else None

    if op == "isnull":
        wants_null = bool(value)
        return lambda row: (row.get(field) is None) == wants_null
    if op == "empty":
        return lambda row: row.get(field) in (None, "")
    if op == "not_empty":
        return lambda row: row.get(field) not in (None, "")
    if op == "":
        allowed = set(values)
        return lambda row: row.get(field) in allowed
    if op == "not":
        excluded = set(values)
        return lambda row: row.get(field) not in excluded

    test: Callable[[Any], bool]
    negated = op.startswith("not_")
    if op in ("lt", "lte", "gt", "gte"):
        test = {
            "lt": lambda v: v < value,
            "lte": lambda v: v <= value,
            "gt": lambda v: v > value,
            "gte": lambda v: v >= value,
        }[op]
    elif op == "iexact":
        lowered = value.lower()
        test = lambda v: v.lower() == lowered  # noqa: E731
    elif op == "icontains":
        needle = squash(value) if field == "model_name" else value.lower()
        test = (lambda v: needle in squash(v)) if field == "model_name" else (lambda v: needle in v.lower())
    elif op in ("contains", "not_contains"):
        test = lambda v: value in v  # noqa: E731
    elif op in ("startswith", "not_startswith"):
        test = lambda v: v.startswith(value)  # noqa: E731
    elif op in ("endswith", "not_endswith"):
        test = lambda v: v.endswith(value)  # noqa: E731
    elif op == "regex":
        pattern = safe_regex(value)
        test = lambda v: pattern.search(v) is not None  # noqa: E731
    else:  # pragma: no cover - parse.py admits only the operators above
        raise AssertionError(op)

    if negated:
        return lambda row: (v := row.get(field)) is None or not test(v)
    return lambda row: (v := row.get(field)) is not None and test(v)


def _compile(node: Node) -> Predicate:
    if isinstance(node, Condition):
        return _condition(node)
    return _fold(node.children)


def _fold(children: tuple[Node, ...]) -> Predicate:
    if not children:
        return lambda row: True
    predicate = _compile(children[0])
    for child in children[1:]:
        predicate = (_either if child.connector == "OR" else _both)(predicate, _compile(child))
    return predicate


def _either(left: Predicate, right: Predicate) -> Predicate:
    return lambda row: left(row) or right(row)


def _both(left: Predicate, right: Predicate) -> Predicate:
    return lambda row: left(row) and right(row)


def compile_predicate(tree: Bundle) -> Predicate:
    return _fold(tree.children)
