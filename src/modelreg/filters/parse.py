"""Parse and validate filters. Every problem raises InvalidFilter (rendered 400, naming the problem).

Operators (canonical name: aliases):
    ""            equals any listed value: "=", "==", "eq", "equals", "exact"
    not           equals none of the listed values: "!=", "<>", "ne", "not_equal", "not_equals"
    in / not_in   membership (list values)
    lt lte gt gte comparisons (number, flag, datetime)
    iexact        case-insensitive equality (text)
    contains not_contains icontains startswith not_startswith endswith not_endswith   (text)
    ilike         same as icontains
    regex         RE2 search in memory and on SQLite, `~` on PostgreSQL: use their common syntax
    isnull        value true: field is null; false: not null
    empty         null or ""; not_empty ("notEmpty", "has_key"): neither
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import msgspec

from modelreg.domain.errors import InvalidInput
from modelreg.filters.fields import FIELDS, Kind, canonical_field
from modelreg.filters.regex import RegexError, safe_regex
from modelreg.filters.tree import Bundle, Condition, Node

__all__ = ["OPERATORS", "InvalidFilter", "normalized", "parse_filters"]

MAX_CONDITIONS = 200
MAX_DEPTH = 8
MAX_VALUES = 1000

OPERATORS = frozenset(
    {
        "", "not", "in", "not_in", "lt", "lte", "gt", "gte", "iexact", "contains", "not_contains", "icontains",
        "startswith", "not_startswith", "endswith", "not_endswith", "regex", "isnull", "empty", "not_empty",
    }
)  # fmt: skip
_ALIASES = {
    "=": "", "==": "", "eq": "", "equals": "", "exact": "",
    "!=": "not", "<>": "not", "ne": "not", "not_equal": "not", "not_equals": "not",
    "notempty": "not_empty", "has_key": "not_empty", "is_empty": "empty", "isempty": "empty",
    "ilike": "icontains", "notin": "not_in", "nin": "not_in",
}  # fmt: skip
MULTI_VALUE = frozenset({"", "in", "not", "not_in"})
TEXT_ONLY = frozenset(
    {
        "iexact", "contains", "not_contains", "icontains", "startswith", "not_startswith", "endswith", "not_endswith",
        "regex",
    }
)  # fmt: skip
ORDERED = frozenset({"lt", "lte", "gt", "gte"})
NO_VALUE = frozenset({"empty", "not_empty"})


class InvalidFilter(InvalidInput):
    def __init__(self, message: str) -> None:
        super().__init__(message, "filters")


def shown_name(name: str) -> str:
    """A field or operator name as the caller sent it, for an error message: names are not secrets, but a
    long or odd one is cut (values are never shown at all)."""
    printable = "".join(char if char.isprintable() else "?" for char in name[:64])
    return printable + ("..." if len(name) > 64 else "")


def canonical_operator(raw: Any, field: str) -> str:
    if not isinstance(raw, str):
        raise InvalidFilter(f"operator must be a string, got {type(raw).__name__} (field '{field}')")
    op = raw.strip()
    op = _ALIASES.get(op, _ALIASES.get(op.lower(), op.lower()))
    if op not in OPERATORS:
        raise InvalidFilter(
            f"unknown operator '{shown_name(raw)}' for field '{field}'; see the operator list in docs/read-side.md"
        )
    return op


def _coerce(field: str, kind: Kind, value: Any) -> Any:
    if value is None:
        return None
    if kind == "text":
        if isinstance(value, str):
            return _TEXT_VALUE_ALIASES.get((field, value), value)
    elif kind == "number":
        if isinstance(value, bool):
            pass
        elif isinstance(value, int | float):
            if math.isfinite(value):
                return float(value)
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                pass
            else:
                if math.isfinite(number):
                    return number
    elif kind in ("flag", "boolean"):
        if isinstance(value, bool):
            return int(value) if kind == "flag" else value
        if isinstance(value, int) and value in (0, 1):
            return value if kind == "flag" else bool(value)
        if isinstance(value, str) and value.lower() in ("0", "1", "true", "false"):
            truth = value.lower() in ("1", "true")
            return int(truth) if kind == "flag" else truth
    elif kind == "datetime" and isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    shown = value if isinstance(value, int | float | bool) else type(value).__name__
    raise InvalidFilter(f"invalid value {shown!r} for {kind} field '{field}'")


# Values that mean the same thing as another one (the built-in affiliation was renamed over time).
_TEXT_VALUE_ALIASES = {
    ("affiliation_category", "respan"): "keywordsai",
    ("affiliation_category", "builtin"): "keywordsai",
}


def _connector(raw: Any) -> str:
    if raw is None:
        return "AND"
    if isinstance(raw, str) and raw.upper() in ("AND", "OR"):
        return raw.upper()
    raise InvalidFilter("connector must be AND or OR")


def _condition(key: str, raw: Any, counter: list[int]) -> Condition:
    # Messages name fields and operators (names, cut to 64 characters), never values: a value could be a
    # misplaced secret.
    canonical = canonical_field(key)
    if canonical is None:
        raise InvalidFilter(
            f"unknown filter field '{shown_name(key)}' (the filterable fields are listed in docs/read-side.md)"
        )
    field = key if key == canonical else canonical
    if not isinstance(raw, dict):
        raise InvalidFilter(f"filter for '{field}' must be an object with operator and value")
    if set(raw) - {"operator", "value", "connector", "operator_function", "operator_args"}:
        raise InvalidFilter(f"unknown key in filter for '{field}'; allowed: operator, value, connector")
    if raw.get("operator_function") is not None:
        raise InvalidFilter("operator_function is not supported for model fields")
    counter[0] += 1
    if counter[0] > MAX_CONDITIONS:
        raise InvalidFilter(f"too many conditions (at most {MAX_CONDITIONS})")
    kind = FIELDS[canonical]
    op = canonical_operator(raw.get("operator", ""), field)
    raw_value = raw.get("value")
    values: list[Any] = list(raw_value) if isinstance(raw_value, list) else [raw_value]
    if len(values) > MAX_VALUES:
        raise InvalidFilter(f"too many values for '{field}' (at most {MAX_VALUES})")
    if op in TEXT_ONLY and kind != "text":
        raise InvalidFilter(f"operator '{op}' applies to text fields; '{field}' is a {kind} field")
    if op in ORDERED and kind == "text":
        raise InvalidFilter(f"operator '{op}' applies to number, flag and datetime fields; '{field}' is text")
    if op in NO_VALUE:
        values = []
    elif op == "isnull":
        if len(values) != 1 or not isinstance(values[0], bool | int | str):
            raise InvalidFilter(f"isnull on '{field}' takes one boolean value")
        values = [_coerce(field, "boolean", values[0])]
    else:
        if not values:
            raise InvalidFilter(f"filter for '{field}' needs a value")
        if len(values) > 1 and op not in MULTI_VALUE:
            raise InvalidFilter(f"operator '{op}' takes a single value for '{field}'")
        values = [_coerce(field, kind, v) for v in values]
        if None in values and op not in ("", "not", "in", "not_in"):
            raise InvalidFilter(f"operator '{op}' needs a non-null value for '{field}'")
        if op == "regex":
            try:
                safe_regex(values[0])
            except RegexError:
                raise InvalidFilter(f"invalid regex for '{field}' (RE2 syntax)") from None
    if op == "in":
        op = ""
    elif op == "not_in":
        op = "not"
    return Condition(field=canonical, operator=op, values=tuple(values), connector=_connector(raw.get("connector")))  # type: ignore[arg-type]


def _entries(raw: Any, depth: int, counter: list[int]) -> tuple[Node, ...]:
    if not isinstance(raw, dict):
        raise InvalidFilter("filters must be an object keyed by field name")
    if depth > MAX_DEPTH:
        raise InvalidFilter(f"filter bundles nested too deeply (at most {MAX_DEPTH})")
    nodes: list[Node] = []
    for key, entry in raw.items():
        if isinstance(entry, dict) and "filter_params" in entry:
            if set(entry) - {"filter_params", "connector"}:
                raise InvalidFilter("unknown key in a filter bundle; allowed: filter_params, connector")
            children = _entries(entry["filter_params"], depth + 1, counter)
            nodes.append(Bundle(children=children, connector=_connector(entry.get("connector"))))  # type: ignore[arg-type]
        elif isinstance(entry, list):
            if not entry:
                raise InvalidFilter("empty list of conditions")
            nodes.extend(_condition(key, item, counter) for item in entry)
        else:
            nodes.append(_condition(key, entry, counter))
    return tuple(nodes)


def parse_filters(raw: Any) -> Bundle:
    """The whole filter object as one AND/OR-folded bundle; `None` or `{}` matches everything."""
    if raw is None:
        return Bundle(children=())
    return Bundle(children=_entries(raw, 0, [0]))


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _normalized_node(node: Node) -> Any:
    if isinstance(node, Condition):
        body: dict[str, Any] = {"operator": node.operator, "value": [_jsonable(v) for v in node.values]}
        if node.connector != "AND":
            body["connector"] = node.connector
        return body
    out: dict[str, Any] = {"filter_params": _normalized_children(node.children)}
    if node.connector != "AND":
        out["connector"] = node.connector
    return out


def _normalized_children(children: tuple[Node, ...]) -> dict[str, Any]:
    """Keys in the request's order. Conditions on one field given one after another become a list (the
    same fold); a field that comes back later is wrapped in a bundle, so the echo means what was asked."""
    result: dict[str, Any] = {}
    bundles = 0
    previous: str | None = None

    def bundle_key() -> str:
        nonlocal bundles
        bundles += 1
        return f"filter_bundle_{bundles}" if bundles > 1 else "filter_bundle"

    for child in children:
        if isinstance(child, Bundle):
            result[bundle_key()] = _normalized_node(child)
            previous = None
            continue
        rendered = _normalized_node(child)
        if child.field == previous:
            existing = result[child.field]
            result[child.field] = [*existing, rendered] if isinstance(existing, list) else [existing, rendered]
        elif child.field in result:
            wrapped = Bundle(children=(msgspec.structs.replace(child, connector="AND"),), connector=child.connector)
            result[bundle_key()] = _normalized_node(wrapped)
            previous = None
            continue
        else:
            result[child.field] = rendered
        previous = child.field
    return result


def normalized(tree: Bundle) -> dict[str, Any]:
    """`current_filters`: aliases resolved, values listified and coerced, in the request's order."""
    return _normalized_children(tree.children)
