"""Who is calling. Built by auth/ from a verified credential; never from a request body."""

from __future__ import annotations

import msgspec

__all__ = ["Principal"]


class Principal(msgspec.Struct, frozen=True):
    user_id: str
    organization_id: str
    role: str
    email: str
    group_ids: frozenset[str] = frozenset()

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"
