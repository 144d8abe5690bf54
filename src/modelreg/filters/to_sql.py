"""Compile a filter tree to a SQL condition over model_views (custom models, resolved).

Semantics are exactly evaluate.py's (tests run both over the same cases). Portability notes:
- contains / startswith / endswith use instr/strpos and substr, not LIKE (SQLite's LIKE ignores case);
- iexact / icontains use lower(): ASCII-only folding on PostgreSQL with a C ctype, Python's
  str.lower on SQLite (registered function `py_lower`) and in memory;
- regex: RE2 (`regexp`, registered on SQLite) and PostgreSQL's `~`; use their common syntax;
- text sorting is by code point everywhere (PostgreSQL: COLLATE "C").
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, func, literal, or_, select, true
from sqlalchemy.sql.elements import KeyedColumnElement

from modelreg.domain.llm_model import AFFILIATION_CUSTOM
from modelreg.filters.evaluate import squash
from modelreg.filters.fields import FIELDS
from modelreg.filters.tree import Bundle, Condition, Node
from modelreg.store.rows import ModelThroughputRow, ModelViewRow

__all__ = ["SQL_COLUMNS", "order_by", "to_sql"]

V = ModelViewRow


def _throughput(field: str) -> Any:
    """The model's figure from model_throughput (null without traffic), as a correlated scalar subquery."""
    column = getattr(ModelThroughputRow, field)
    return (
        select(column)
        .where(ModelThroughputRow.organization_id == V.organization_id, ModelThroughputRow.model_name == V.model_name)
        .correlate(V)
        .scalar_subquery()
    )


SQL_COLUMNS: dict[str, Any] = {
    "model_name": V.model_name,
    "display_name": V.display_name,
    "base_model_name": V.base_model_name,
    "provider__provider_id": V.provider_id,
    "provider__provider_name": V.provider_name,
    "affiliation_category": literal(AFFILIATION_CUSTOM),
    "source": literal("db"),
    "model_type": V.model_type,
    "status": V.status,
    "input_cost": V.input_cost,
    "output_cost": V.output_cost,
    "cache_hit_input_cost": V.cache_hit_input_cost,
    "cache_creation_input_cost": V.cache_creation_input_cost,
    "max_context_window": V.max_context_window,
    "streaming_support": V.streaming_support,
    "function_call": V.function_call,
    "image_support": V.image_support,
    "is_managed": literal(False),
    "is_called_by_custom_name": V.is_called_by_custom_name,
    "has_discount": V.has_discount,
    "available_to_user": V.routable,
    "is_active": V.is_active,
    "created_at": V.created_at,
    "updated_at": V.updated_at,
    **{field: _throughput(field) for field in ("average_tps", "average_ttft", "average_latency", "number_of_requests")},
}


def _lower(column: Any, dialect: str) -> Any:
    return func.py_lower(column) if dialect == "sqlite" else func.lower(column)


def _squash(column: Any, dialect: str) -> Any:
    expression = _lower(column, dialect)
    for char in ("-", "_", ".", " "):
        expression = func.replace(expression, char, "")
    return expression


def _contains(column: Any, needle: Any, dialect: str) -> Any:
    return (func.instr(column, needle) if dialect == "sqlite" else func.strpos(column, needle)) > 0


def _positive(cond: Condition, column: Any, dialect: str) -> ColumnElement[bool]:
    """The condition on a non-null value (callers add the null handling)."""
    op = cond.operator
    value: Any = cond.values[0] if cond.values else None
    if op == "lt":
        return column < value  # type: ignore[no-any-return]
    if op == "lte":
        return column <= value  # type: ignore[no-any-return]
    if op == "gt":
        return column > value  # type: ignore[no-any-return]
    if op == "gte":
        return column >= value  # type: ignore[no-any-return]
    if op == "iexact":
        return _lower(column, dialect) == value.lower()  # type: ignore[no-any-return]
    if op == "icontains":
        if cond.field == "model_name":
            return _contains(_squash(column, dialect), squash(value), dialect)  # type: ignore[no-any-return]
        return _contains(_lower(column, dialect), value.lower(), dialect)  # type: ignore[no-any-return]
    if op in ("contains", "not_contains"):
        return _contains(column, value, dialect)  # type: ignore[no-any-return]
    if op in ("startswith", "not_startswith"):
        return func.substr(column, 1, len(value)) == value if value else true()  # type: ignore[no-any-return]
    if op in ("endswith", "not_endswith"):
        if not value:
            return true()
        tail = func.substr(column, -len(value)) if dialect == "sqlite" else func.right(column, len(value))
        return tail == value  # type: ignore[no-any-return]
    if op == "regex":
        return column.regexp_match(value)  # type: ignore[no-any-return]
    raise AssertionError(op)  # pragma: no cover


def _condition(cond: Condition, dialect: str) -> ColumnElement[bool]:
    column = SQL_COLUMNS[cond.field]
    op, values = cond.operator, cond.values
    is_text = FIELDS[cond.field] == "text"
    if op == "isnull":
        return column.is_(None) if values[0] else column.is_not(None)  # type: ignore[no-any-return]
    if op == "empty":
        return or_(column.is_(None), column == "") if is_text else column.is_(None)  # type: ignore[no-any-return]
    if op == "not_empty":
        return and_(column.is_not(None), column != "") if is_text else column.is_not(None)  # type: ignore[no-any-return]
    if op in ("", "not"):
        concrete = [v for v in values if v is not None]
        matches_null = len(concrete) != len(values)
        member: ColumnElement[bool] = column.in_(concrete) if concrete else false()
        if matches_null:
            member = or_(member, column.is_(None))
        if op == "":
            return member
        if matches_null:
            return and_(column.is_not(None), ~column.in_(concrete)) if concrete else column.is_not(None)  # type: ignore[no-any-return]
        return or_(column.is_(None), ~column.in_(concrete)) if concrete else true()  # type: ignore[no-any-return]
    positive = _positive(cond, column, dialect)
    if op.startswith("not_"):
        return or_(column.is_(None), ~positive)
    return and_(column.is_not(None), positive)


def _fold(children: tuple[Node, ...], dialect: str) -> ColumnElement[bool]:
    if not children:
        return true()
    clause = _node(children[0], dialect)
    for child in children[1:]:
        clause = or_(clause, _node(child, dialect)) if child.connector == "OR" else and_(clause, _node(child, dialect))
    return clause


def _node(node: Node, dialect: str) -> ColumnElement[bool]:
    if isinstance(node, Condition):
        return _condition(node, dialect)
    return _fold(node.children, dialect)


def to_sql(tree: Bundle, dialect: str) -> ColumnElement[bool]:
    return _fold(tree.children, dialect)


def order_by(field: str, descending: bool, dialect: str) -> list[Any]:
    """Nulls last in both directions; ties by model_name ascending; text by code point."""
    column = SQL_COLUMNS[field]
    if FIELDS[field] == "text" and dialect == "postgresql" and isinstance(column, KeyedColumnElement):
        column = column.collate("C")
    name = V.model_name.collate("C") if dialect == "postgresql" else V.model_name
    direction = column.desc() if descending else column.asc()
    nulls_last = case((column.is_(None), 1), else_=0)
    return [nulls_last, direction, name.asc()]
