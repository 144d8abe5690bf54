"""Domain errors. Each dialect renders them in its own words (api/errors.py holds the table).

DomainError
├── NotFound                 missing, or not visible to the caller (the two must look the same)
├── InvalidInput             a field-level validation problem -> 400 with {field: [message]}
│   ├── BaseModelNotFound    base_model_name names nothing the caller can read
│   ├── AmbiguousModelName   a bare catalog name matches several providers' models
│   ├── InheritanceCycle     base chain loops back
│   └── HasDependents        delete refused: other models use this one as base
├── ReadOnlyModel            a built-in model cannot be changed or deleted
└── PreconditionFailed       If-Match did not match the current ETag
"""

from __future__ import annotations

__all__ = [
    "AmbiguousModelName",
    "BaseModelNotFound",
    "DomainError",
    "HasDependents",
    "InheritanceCycle",
    "InvalidInput",
    "NotFound",
    "PreconditionFailed",
    "ReadOnlyModel",
]


class DomainError(Exception):
    message: str = "Error."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        if message:
            self.message = message


class NotFound(DomainError):
    message = "Not found."


class InvalidInput(DomainError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class BaseModelNotFound(InvalidInput):
    def __init__(self) -> None:
        super().__init__("Base model not found", field="base_model_name")


class AmbiguousModelName(InvalidInput):
    def __init__(self, name: str, candidates: list[str], field: str = "base_model_name") -> None:
        shown = ", ".join(candidates[:20]) + (" ..." if len(candidates) > 20 else "")
        super().__init__(f"Model name '{name}' is ambiguous; use one of: {shown}", field=field)
        self.candidates = candidates


class InheritanceCycle(InvalidInput):
    def __init__(self, chain: list[str]) -> None:
        super().__init__("Base model chain forms a cycle: " + " -> ".join(chain), field="base_model_name")


class HasDependents(InvalidInput):
    def __init__(self, dependents: list[str]) -> None:
        shown = ", ".join(dependents[:50]) + (" ..." if len(dependents) > 50 else "")
        super().__init__(f"Cannot delete: other models use this model as their base: {shown}")
        self.dependents = dependents


class ReadOnlyModel(DomainError):
    def __init__(self, action: str) -> None:
        super().__init__(f"built-in model cannot be {action}")
        self.action = action


class PreconditionFailed(DomainError):
    message = "Precondition failed: the resource has changed (If-Match does not match its ETag)."
