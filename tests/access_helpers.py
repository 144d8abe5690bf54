"""Shared by the access-control tests: a world of organizations, users, API keys and groups, built in one
transaction through the identity services (fast, and before the app has cached any identity)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from litestar.testing import AsyncTestClient

from modelreg.services import identity
from modelreg.store.database import Database

__all__ = [
    "ANONYMOUS",
    "DEFAULT_WIRE_GRANTS",
    "Person",
    "World",
    "build_world",
    "create_model",
    "grant",
    "grant_set",
    "unix",
]

DEFAULT_WIRE_GRANTS = [{"access_type": "user", "access_id": "*", "permission": "read"}]


@dataclass(frozen=True)
class Person:
    label: str
    user_id: str | None
    key: str | None
    organization_id: str | None
    email: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"} if self.key else {}


ANONYMOUS = Person("anonymous", None, None, None)


@dataclass
class World:
    """Organization "a" (admin: "admin") and organization "b" (admin: "other_admin"), plus the members and
    groups asked for. Group ids are real ids (grp_...)."""

    orgs: dict[str, str]
    people: dict[str, Person]
    groups: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, label: str) -> Person:
        return ANONYMOUS if label == "anonymous" else self.people[label]

    @property
    def org(self) -> str:
        return self.orgs["a"]


async def build_world(
    database_url: str,
    members: Mapping[str, tuple[str, str, Sequence[str]]] | None = None,
    groups: Mapping[str, str] | None = None,
) -> World:
    """members: label -> (org "a"|"b", role, group labels); groups: label -> org "a"|"b"."""
    tag = uuid.uuid4().hex[:10]
    db = Database(database_url)
    try:
        async with db.write() as session:
            orgs: dict[str, str] = {}
            people: dict[str, Person] = {}
            for org, admin_label in (("a", "admin"), ("b", "other_admin")):
                email = f"{admin_label}-{tag}@{org}.example"
                created = await identity.create_organization(session, f"org-{org}-{tag}", email)
                orgs[org] = created.organization_id
                people[admin_label] = Person(
                    admin_label, created.user_id, created.api_key, created.organization_id, email
                )
            group_ids: dict[str, str] = {}
            for label, org in (groups or {}).items():
                group_ids[label] = (await identity.create_group(session, orgs[org], label)).id
            for label, (org, role, member_of) in (members or {}).items():
                email = f"{label}-{tag}@{org}.example"
                user = await identity.create_user(session, orgs[org], email, role)
                key = await identity.create_api_key(session, user.id)
                for group in member_of:
                    await identity.add_group_member(session, group_ids[group], user)
                people[label] = Person(label, user.id, key.api_key, orgs[org], email)
    finally:
        await db.dispose()
    return World(orgs, people, group_ids)


def grant(kind: str, ident: str | None, permission: str) -> dict[str, str]:
    assert ident is not None
    return {"access_type": kind, "access_id": ident, "permission": permission}


def grant_set(grants: Any) -> set[tuple[str, str, str]]:
    """Grants compared without regard to order (answered in the seed's form)."""
    assert isinstance(grants, list), grants
    return {(g["access_type"], g["access_id"], g["permission"]) for g in grants}


async def create_model(
    client: AsyncTestClient[Any], person: Person, name: str, grants: list[dict[str, str]] | None = None, **fields: Any
) -> dict[str, Any]:
    """A custom model through the Respan dialect (base gpt-4o unless given); grants None = omitted (default)."""
    body: dict[str, Any] = {"model_name": name, "base_model_name": "gpt-4o", **fields}
    if grants is not None:
        body["access_grants"] = grants
    r = await client.post("/api/models/", json=body, headers=person.headers)
    assert r.status_code == 201, (name, r.status_code, r.text)
    return dict(r.json())


def unix(iso: str) -> int:
    """Respan's ISO-8601 timestamp as Open WebUI's unix seconds."""
    return int(datetime.fromisoformat(iso).timestamp())
