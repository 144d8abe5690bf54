"""Access grants on the wire, shared by both dialects.

Accepted in either form: the seed's `{access_type, access_id, permission}` or Open WebUI 0.12's
`{principal_type, principal_id, permission}`. Always answered in the seed's form.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from modelreg.domain.errors import InvalidInput
from modelreg.domain.grants import Grant

__all__ = ["WireGrant", "grants_from_wire", "grants_to_wire"]

MAX_GRANTS = 1000


class WireGrant(msgspec.Struct, kw_only=True):
    access_type: Literal["user", "group"]
    access_id: str
    permission: Literal["read", "write"]


def _one(raw: Any, position: int) -> Grant:
    if not isinstance(raw, dict):
        raise InvalidInput(f"access_grants[{position}] must be an object", "access_grants")
    kind = raw.get("access_type", raw.get("principal_type"))
    ident = raw.get("access_id", raw.get("principal_id"))
    permission = raw.get("permission", "read")
    if kind not in ("user", "group"):
        raise InvalidInput(f"access_grants[{position}]: access_type must be 'user' or 'group'", "access_grants")
    if not isinstance(ident, str) or not ident or len(ident) > 64:
        raise InvalidInput(
            f"access_grants[{position}]: access_id must be a user id, a group id or '*'", "access_grants"
        )
    if permission not in ("read", "write"):
        raise InvalidInput(f"access_grants[{position}]: permission must be 'read' or 'write'", "access_grants")
    if kind == "group" and ident == "*":
        raise InvalidInput(f"access_grants[{position}]: '*' is only valid with access_type 'user'", "access_grants")
    return Grant(kind, ident, permission)


def grants_from_wire(raw: Any) -> tuple[Grant, ...]:
    if not isinstance(raw, list):
        raise InvalidInput("access_grants must be a list", "access_grants")
    if len(raw) > MAX_GRANTS:
        raise InvalidInput(f"at most {MAX_GRANTS} access grants", "access_grants")
    return tuple(_one(item, i) for i, item in enumerate(raw))


def grants_to_wire(grants: tuple[Grant, ...]) -> list[WireGrant]:
    return [WireGrant(access_type=g.principal_type, access_id=g.principal_id, permission=g.permission) for g in grants]
