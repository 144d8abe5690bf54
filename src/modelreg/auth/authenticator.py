"""Authorization header -> Principal, served from memory.

API keys and users (with their group memberships) are cached after their first lookup; the cache is
dropped whenever the identity change counter moves (revocation by the CLI or another replica shows
within the poll interval, default 1 s) or this process changes identities itself. Expiry is checked on every request.
last_used_at is kept in memory and written in one batch per flush interval, never per request.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from time import monotonic

import msgspec
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.auth.keys import KEY_PREFIX, lookup_prefix, matches
from modelreg.auth.tokens import TokenError, TokenIssuer
from modelreg.domain.principal import Principal
from modelreg.store.database import Database
from modelreg.store.faults import fault_kind
from modelreg.store.rows import ApiKeyRow, GroupMemberRow, UserRow

__all__ = ["AuthenticationFailed", "Authenticator"]

_NEGATIVE_CACHE_LIMIT = 10_000


class AuthenticationFailed(Exception):
    """Invalid, expired or revoked credentials. The message is deliberately generic."""


class _CachedKey(msgspec.Struct):
    key_id: str
    key_hash: str
    principal: Principal | None
    expires_at: float | None
    revoked: bool
    loaded_at: float


class Authenticator:
    def __init__(self, db: Database, tokens: TokenIssuer, max_age_seconds: float = 30.0) -> None:
        self._db = db
        self._tokens = tokens
        self._max_age = max_age_seconds
        """Entries are re-read after this long, so even edits made behind the app's back (a direct UPDATE
        that bumps no counter) take effect within it."""
        self._generation = 0
        self._keys: dict[str, _CachedKey] = {}
        self._unknown_prefixes: set[str] = set()
        self._users: dict[str, Principal | None] = {}
        self._last_used: dict[str, datetime] = {}
        self._loading: dict[str, asyncio.Future[_CachedKey]] = {}

    def invalidate(self) -> None:
        self._generation += 1
        self._keys = {}
        self._unknown_prefixes = set()
        self._users = {}
        self._loading = {}  # a read in flight may predate the change: later requests read again

    async def authenticate(self, authorization: str | None) -> Principal | None:
        """None when no credential was sent (empty header included); AuthenticationFailed when a bad one was."""
        if authorization is None:
            return None
        value = authorization.strip()
        if not value:
            return None
        scheme, _, credential = value.partition(" ")
        if scheme.lower() != "bearer":
            # A raw key without the scheme is accepted too: some clients send it that way.
            credential, scheme = value, "bearer"
        credential = credential.strip()
        if not credential:
            raise AuthenticationFailed()
        if credential.startswith(KEY_PREFIX):
            return await self._from_api_key(credential)
        try:
            user_id = self._tokens.verify(credential)
        except TokenError as exc:
            raise AuthenticationFailed() from exc
        principal = await self._user(user_id)
        if principal is None:
            raise AuthenticationFailed()
        return principal

    async def _from_api_key(self, key: str) -> Principal:
        prefix = lookup_prefix(key)
        if prefix is None or prefix in self._unknown_prefixes:
            raise AuthenticationFailed()
        cached = self._keys.get(prefix)
        if cached is None or monotonic() - cached.loaded_at > self._max_age:
            cached = await self._reload_key(prefix, cached)
        if not matches(key, cached.key_hash) or cached.revoked or cached.principal is None:
            raise AuthenticationFailed()
        if cached.expires_at is not None and time.time() >= cached.expires_at:
            raise AuthenticationFailed()
        self._last_used[cached.key_id] = datetime.now(UTC)
        return cached.principal

    async def _reload_key(self, prefix: str, cached: _CachedKey | None) -> _CachedKey:
        """One read per key at a time: the requests that find the same key missing or aged wait for that read
        (under load, every request arriving during the read would otherwise read it again)."""
        pending = self._loading.get(prefix)
        if pending is None:
            pending = self._loading[prefix] = asyncio.ensure_future(self._reload_key_once(prefix, cached))
            pending.add_done_callback(lambda done: self._loaded(prefix, done))
        return await asyncio.shield(pending)

    def _loaded(self, prefix: str, done: asyncio.Future[_CachedKey]) -> None:
        if not done.cancelled():
            done.exception()  # retrieved: its waiters may all have gone
        if self._loading.get(prefix) is done:
            del self._loading[prefix]

    async def _reload_key_once(self, prefix: str, cached: _CachedKey | None) -> _CachedKey:
        generation = self._generation
        try:
            loaded = await self._load_key(prefix)
        except Exception as error:
            # The database is away: a key verified before stays usable (expiry is still checked); a
            # revocation made meanwhile shows once it answers again. Unknown keys get the 503.
            if cached is None or fault_kind(error) is None:
                raise
            return cached
        # An invalidation while we were reading means the row may predate it: use it, don't keep it.
        current = generation == self._generation
        if loaded is None:
            if current and len(self._unknown_prefixes) < _NEGATIVE_CACHE_LIMIT:
                self._unknown_prefixes.add(prefix)
            raise AuthenticationFailed()
        if current:
            self._keys[prefix] = loaded
        return loaded

    async def _load_key(self, prefix: str) -> _CachedKey | None:
        async with self._db.read() as session:
            row = (
                await session.execute(select(ApiKeyRow).where(ApiKeyRow.lookup_prefix == prefix))
            ).scalar_one_or_none()
            if row is None:
                return None
            principal = await _principal(session, await session.get(UserRow, row.user_id))
        return _CachedKey(
            key_id=row.id,
            key_hash=row.key_hash,
            principal=principal,
            expires_at=row.expires_at.timestamp() if row.expires_at else None,
            revoked=row.revoked_at is not None,
            loaded_at=monotonic(),
        )

    async def _user(self, user_id: str) -> Principal | None:
        if user_id in self._users:
            return self._users[user_id]
        generation = self._generation
        async with self._db.read() as session:
            principal = await _principal(session, await session.get(UserRow, user_id))
        if generation == self._generation and len(self._users) < _NEGATIVE_CACHE_LIMIT:
            self._users[user_id] = principal
        return principal

    async def principal_of(self, user_id: str) -> Principal | None:
        """The user's principal (cached like the others); None for a missing or deactivated user."""
        return await self._user(user_id)

    async def flush_last_used(self) -> None:
        pending, self._last_used = self._last_used, {}
        if not pending:
            return
        try:
            async with self._db.write() as session:
                for key_id, when in pending.items():
                    await session.execute(update(ApiKeyRow).where(ApiKeyRow.id == key_id).values(last_used_at=when))
        except BaseException:
            self._last_used = {**pending, **self._last_used}  # retried on the next flush
            raise


async def _principal(session: AsyncSession, user: UserRow | None) -> Principal | None:
    if user is None or user.deactivated_at is not None:
        return None
    groups = await session.scalars(select(GroupMemberRow.group_id).where(GroupMemberRow.user_id == user.id))
    return Principal(
        user_id=user.id,
        organization_id=user.organization_id,
        role=user.role,
        email=user.email,
        group_ids=frozenset(groups),
    )
