"""THE permission rule for models, used by every route of both dialects and by every list.

read  : built-in models: everyone. Custom models: an admin of the model's organization, its owner, or a
        read or write grant to the user, to a group the user is in, or to "*" (every member of the
        organization); a deactivated model (is_active false) only for those who may write it.
write : never built-ins. Custom models: an organization admin, the owner, or a write grant.

Callers outside the model's organization never read or write it. Without read access a model must
answer exactly like a missing one (NotFound); with read but not write access a write raises
AccessProhibited, which each dialect renders in its own words. Lists keep exactly the models can_read
admits (listing.py applies it; store/access_sql.py is the SQL twin, tested against this one).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from modelreg.domain.errors import DomainError, InvalidInput
from modelreg.domain.grants import DEFAULT_GRANTS, EVERYONE, Grant
from modelreg.domain.llm_model import LLMModel
from modelreg.domain.principal import Principal

__all__ = [
    "DEFAULT_GRANTS",
    "EVERYONE",
    "AccessProhibited",
    "Grant",
    "can_read",
    "can_write",
    "normalize_grants",
    "readable_params",
]


class AccessProhibited(DomainError):
    message = "Access prohibited"


def _holds(principal: Principal, grant: Grant) -> bool:
    if grant.principal_type == "user":
        return grant.principal_id in (EVERYONE, principal.user_id)
    return grant.principal_id in principal.group_ids


class Subject(Protocol):
    """What the rule needs to know about a model: a resolved LLMModel and a stored CustomModel both fit."""

    @property
    def is_builtin(self) -> bool: ...
    @property
    def organization_id(self) -> str | None: ...
    @property
    def owner_user_id(self) -> str | None: ...
    @property
    def grants(self) -> tuple[Grant, ...]: ...
    @property
    def is_active(self) -> bool: ...


def can_read(principal: Principal | None, model: Subject) -> bool:
    if model.is_builtin:
        return True
    if principal is None or principal.organization_id != model.organization_id:
        return False
    if principal.is_admin or model.owner_user_id == principal.user_id:
        return True
    if not model.is_active:
        # A deactivated model stays visible to those who can switch it back on, and to no one else.
        return can_write(principal, model)
    return any(_holds(principal, grant) for grant in model.grants)


def can_write(principal: Principal | None, model: Subject) -> bool:
    if model.is_builtin or principal is None or principal.organization_id != model.organization_id:
        return False
    if principal.is_admin or model.owner_user_id == principal.user_id:
        return True
    return any(grant.permission == "write" and _holds(principal, grant) for grant in model.grants)


def readable_params(principal: Principal | None, model: LLMModel) -> dict[str, object]:
    """Default request parameters may hold a system prompt: only writers see them."""
    return dict(model.params) if can_write(principal, model) else {}


def normalize_grants(grants: Iterable[Grant], *, user_ids: set[str], group_ids: set[str]) -> tuple[Grant, ...]:
    """Validate grants against the organization (its users and groups; "*" for every user) and
    de-duplicate. Principals of another organization, or unknown ones, are refused (400), never
    silently dropped: the caller must know their sharing did not happen."""
    result: set[Grant] = set()
    for grant in grants:
        if grant.principal_type == "user" and grant.principal_id != EVERYONE and grant.principal_id not in user_ids:
            raise InvalidInput(f"unknown user in access grant: {grant.principal_id[:64]}", "access_grants")
        if grant.principal_type == "group" and grant.principal_id not in group_ids:
            raise InvalidInput(f"unknown group in access grant: {grant.principal_id[:64]}", "access_grants")
        result.add(grant)
    return tuple(sorted(result))
