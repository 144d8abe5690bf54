"""Access grants on a custom model: to a user, to a group, or to "*" (every member of the organization)."""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = ["DEFAULT_GRANTS", "EVERYONE", "Grant"]

EVERYONE = "*"


class Grant(msgspec.Struct, frozen=True, order=True):
    principal_type: Literal["user", "group"]
    principal_id: str
    permission: Literal["read", "write"]


DEFAULT_GRANTS: tuple[Grant, ...] = (Grant("user", EVERYONE, "read"),)
"""Models created without grants are readable by their whole organization (Respan's "visible to the
organization"); an explicit empty list means private to the owner and the organization's admins."""
