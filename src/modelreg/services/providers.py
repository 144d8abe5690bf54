"""Custom providers: create-or-update, retrieve, patch, replace, delete, list.

Who may do which is domain/provider_access.py: every method here that writes checks it first, so every
route (both dialects, the console, the CLI) gets the same answer.

Secrets: a top-level `api_key` and every secret-looking key of `extra_kwargs` are split off before
anything is stored, and sealed with the SecretBox. A write that carries no secret keeps the stored
ones; a secret key sent as null removes that secret. Nothing secret is ever returned.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.crypto import SecretBox
from modelreg.domain.errors import InvalidInput, NotFound, PreconditionFailed
from modelreg.domain.names import validate_name, validate_path_id
from modelreg.domain.principal import Principal
from modelreg.domain.provider import Provider, split_secrets
from modelreg.domain.provider_access import require_provider_manager
from modelreg.gateway.ssrf import UpstreamPolicy
from modelreg.store import counters
from modelreg.store.database import Database
from modelreg.store.memory import ModelIndex, org_counter
from modelreg.store.model_queries import find_provider_row, insert_ignoring_conflict, provider_from_row
from modelreg.store.rows import CustomModelRow, ProviderRow
from modelreg.store.views import refresh_views

__all__ = ["ProviderChanges", "ProviderService", "check_if_match", "rotate_secrets"]

UNSET: Any = msgspec.UNSET


class ProviderChanges(msgspec.Struct, kw_only=True):
    provider_name: str | msgspec.UnsetType = msgspec.UNSET
    extra_kwargs: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    api_key: str | msgspec.UnsetType | None = msgspec.UNSET


def check_if_match(if_match: str | None, etag: str) -> None:
    """RFC 9110 If-Match: `*` or a list of entity tags; weak tags never match (strong comparison)."""
    if if_match is None:
        return
    candidates = [tag.strip() for tag in if_match.split(",")]
    if "*" in candidates or etag in candidates:
        return
    raise PreconditionFailed()


def _check_api_key(value: Any) -> None:
    """The key travels in an HTTP header: anything but printable ASCII (CR, LF, NUL, DEL, ...) would make
    every call fail later, so it is refused now (the message never shows the key)."""
    if value is None:
        return
    if not isinstance(value, str) or not all(" " <= char <= "~" for char in value):
        raise InvalidInput("api_key must be a string of printable ASCII characters", "api_key")


def _merge_secrets(stored: dict[str, Any], incoming: dict[str, Any]) -> dict[str, Any]:
    merged = dict(stored)
    for key, value in incoming.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge_secrets(merged[key], value)
        else:
            merged[key] = value
    return merged


class ProviderService:
    def __init__(self, box: SecretBox, index: ModelIndex, upstreams: UpstreamPolicy) -> None:
        self._box = box
        self._index = index
        self._upstreams = upstreams
        self._key_cache: dict[tuple[int, int], str | None] = {}

    async def _check_upstream(self, row: ProviderRow) -> None:
        """Refuse at save time what the gateway would refuse at connect time (it checks again then)."""
        base_url = (row.extra_kwargs or {}).get("base_url")
        if base_url is None:
            return
        if not isinstance(base_url, str) or len(base_url) > 2048:
            raise InvalidInput("base_url must be a URL string", "base_url")
        await self._upstreams.check_at_save(base_url)

    async def _models_changed(self, session: AsyncSession, organization_id: str, names: list[str]) -> None:
        """The provider is part of each resolved model that uses it: rewrite their views."""
        if names:
            await refresh_views(session, self._index.catalog, organization_id, names)
        await counters.bump(session, org_counter(organization_id))

    @staticmethod
    async def _models_using(session: AsyncSession, provider_pk: int) -> list[str]:
        rows = await session.scalars(select(CustomModelRow.model_name).where(CustomModelRow.provider_pk == provider_pk))
        return list(rows)

    def _apply(self, row: ProviderRow, changes: ProviderChanges, *, replace: bool) -> None:
        if changes.provider_name is not msgspec.UNSET:
            row.provider_name = validate_name(changes.provider_name, "provider_name")
        incoming_secrets: dict[str, Any] = {}
        if changes.extra_kwargs is not msgspec.UNSET:
            public, incoming_secrets = split_secrets(changes.extra_kwargs)
            row.extra_kwargs = public
        elif replace:
            row.extra_kwargs = {}
        if changes.api_key is not msgspec.UNSET:
            incoming_secrets["api_key"] = changes.api_key
        if incoming_secrets:
            _check_api_key(incoming_secrets.get("api_key"))
            merged = _merge_secrets(self._box.open(row.secrets_enc), incoming_secrets)
            row.secrets_enc = self._box.seal(merged)

    async def get(self, session: AsyncSession, principal: Principal, provider_id: str) -> Provider:
        row = await find_provider_row(session, principal.organization_id, provider_id)
        if row is None:
            raise NotFound()
        return provider_from_row(row)

    async def list(
        self, session: AsyncSession, principal: Principal, offset: int, limit: int
    ) -> tuple[list[Provider], int]:
        scope = ProviderRow.organization_id == principal.organization_id
        total = int(await session.scalar(select(func.count()).select_from(ProviderRow).where(scope)) or 0)
        rows = await session.scalars(
            select(ProviderRow).where(scope).order_by(ProviderRow.provider_id).offset(offset).limit(limit)
        )
        return [provider_from_row(row) for row in rows], total

    async def create_or_update(
        self, session: AsyncSession, principal: Principal, provider_id: str, changes: ProviderChanges
    ) -> tuple[Provider, bool]:
        """Upsert by (organization, provider_id): (provider, created)."""
        require_provider_manager(principal)
        validate_path_id(provider_id, "provider_id")
        now = datetime.now(UTC)
        draft = ProviderRow(extra_kwargs={}, secrets_enc=None, provider_name="")
        self._apply(draft, changes, replace=True)
        await self._check_upstream(draft)
        pk = await insert_ignoring_conflict(
            session,
            ProviderRow,
            ("organization_id", "provider_id"),
            {
                "organization_id": principal.organization_id,
                "provider_id": provider_id,
                "provider_name": draft.provider_name,
                "extra_kwargs": draft.extra_kwargs,
                "secrets_enc": draft.secrets_enc,
                "revision": 1,
                "created_at": now,
                "updated_at": now,
            },
        )
        if pk is not None:
            if not draft.provider_name:
                raise InvalidInput("This field is required.", "provider_name")
            row = await session.get(ProviderRow, pk)
            assert row is not None
            await self._models_changed(session, principal.organization_id, [])
            return provider_from_row(row), True
        updated = await self.update(session, principal, provider_id, changes, replace=False, if_match=None)
        return updated, False

    async def update(
        self,
        session: AsyncSession,
        principal: Principal,
        provider_id: str,
        changes: ProviderChanges,
        *,
        replace: bool,
        if_match: str | None,
    ) -> Provider:
        require_provider_manager(principal)
        row = await find_provider_row(session, principal.organization_id, provider_id, for_update=True)
        if row is None:
            raise NotFound()
        check_if_match(if_match, provider_from_row(row).etag)
        if replace and changes.provider_name is msgspec.UNSET:
            raise InvalidInput("This field is required.", "provider_name")
        self._apply(row, changes, replace=replace)
        await self._check_upstream(row)
        row.revision += 1
        row.updated_at = datetime.now(UTC)
        await session.flush()
        await self._models_changed(session, principal.organization_id, await self._models_using(session, row.pk))
        return provider_from_row(row)

    async def delete(self, session: AsyncSession, principal: Principal, provider_id: str, if_match: str | None) -> None:
        """Referencing models keep existing with provider NULL (foreign key ON DELETE SET NULL)."""
        require_provider_manager(principal)
        row = await find_provider_row(session, principal.organization_id, provider_id, for_update=True)
        if row is None:
            raise NotFound()
        check_if_match(if_match, provider_from_row(row).etag)
        users = await self._models_using(session, row.pk)
        await session.execute(delete(ProviderRow).where(ProviderRow.pk == row.pk))
        await self._models_changed(session, principal.organization_id, users)

    def secrets_of(self, row: ProviderRow) -> dict[str, Any]:
        """Decrypted secrets, for the gateway only; never for a response."""
        return self._box.open(row.secrets_enc)

    async def api_key_for(self, db: Database, provider: Provider) -> str | None:
        """The provider's stored key (for the gateway), cached per provider revision; never returned."""
        cache_key = (provider.pk, provider.revision)
        if cache_key in self._key_cache:
            return self._key_cache[cache_key]
        async with db.read() as session:
            row = await session.get(ProviderRow, provider.pk)
        if row is None:
            return None
        key = self._box.open(row.secrets_enc).get("api_key")
        value = key if isinstance(key, str) else None
        if row.revision == provider.revision:  # a newer row is used but not cached under the old revision
            if len(self._key_cache) > 10_000:
                self._key_cache.clear()
            self._key_cache[cache_key] = value
        return value


async def rotate_secrets(session: AsyncSession, box: SecretBox) -> int:
    """Re-encrypt every stored provider secret with the current key; returns how many were rewritten."""
    rows = await session.scalars(select(ProviderRow).where(ProviderRow.secrets_enc.is_not(None)))
    count = 0
    for row in rows:
        assert row.secrets_enc is not None
        row.secrets_enc = box.rotate(row.secrets_enc)
        count += 1
    return count
