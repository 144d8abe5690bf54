"""Entity tags: opaque, and computed only from what the caller already knows.

A tag built from the row's primary key (`"m<pk>.<rev>"`) told every caller how many rows exist across all
organizations. This one is a digest of the organization, the object's id, its creation time (so a deleted
and re-created object never repeats an old tag) and its revision: it changes on every write and is the
same on every replica, without revealing anything.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

__all__ = ["entity_tag"]


def entity_tag(kind: str, organization_id: str | None, ident: str, created_at: datetime | None, revision: int) -> str:
    created = ""
    if created_at is not None:  # the same instant whether read back naive (SQLite) or aware
        aware = created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC)
        created = str(round(aware.timestamp() * 1_000_000))
    material = "\x1f".join((kind, organization_id or "", ident, created, str(revision))).encode()
    digest = base64.urlsafe_b64encode(hashlib.sha256(material).digest()[:18]).decode()
    return f'"{digest}"'
