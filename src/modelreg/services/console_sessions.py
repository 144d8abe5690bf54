"""Console sign-in: email + password or an API key -> a server-side session behind an opaque cookie.

The cookie holds 32 random bytes; the database holds their SHA-256, the user, the key it was opened
with (if any) and an absolute expiry. Each request reads the row (one primary-key lookup), so
sign-out, user deactivation and key revocation end a session in every process at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from modelreg.auth.authenticator import AuthenticationFailed, Authenticator
from modelreg.auth.keys import KEY_PREFIX, lookup_prefix
from modelreg.auth.passwords import DUMMY_HASH, verify_password
from modelreg.domain.principal import Principal
from modelreg.store.database import Database
from modelreg.store.rows import ApiKeyRow, ConsoleSessionRow, UserRow

__all__ = ["ConsoleSessions"]


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ConsoleSessions:
    def __init__(self, db: Database, authenticator: Authenticator, ttl_seconds: int) -> None:
        self._db = db
        self._authenticator = authenticator
        self.ttl_seconds = ttl_seconds

    async def sign_in_with_password(self, email: str, password: str) -> str | None:
        """A new session's token, or None (unknown email, no password, wrong password, deactivated:
        the same answer and the same argon2 cost for each)."""
        async with self._db.read() as session:
            user = (
                await session.execute(select(UserRow).where(UserRow.email == email.strip().lower()))
            ).scalar_one_or_none()
        stored = user.password_hash if user is not None and user.password_hash else DUMMY_HASH
        valid = await asyncio.to_thread(verify_password, stored, password[:1024])
        if user is None or not user.password_hash or not valid or user.deactivated_at is not None:
            return None
        return await self._open(user.id, None)

    async def sign_in_with_key(self, api_key: str) -> str | None:
        key = api_key.strip()
        if not key.startswith(KEY_PREFIX):
            return None
        try:
            principal = await self._authenticator.authenticate(f"Bearer {key}")
        except AuthenticationFailed:
            return None
        if principal is None:
            return None
        async with self._db.read() as session:
            key_id = await session.scalar(select(ApiKeyRow.id).where(ApiKeyRow.lookup_prefix == lookup_prefix(key)))
        return await self._open(principal.user_id, key_id)

    async def _open(self, user_id: str, api_key_id: str | None) -> str:
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        async with self._db.write() as session:
            # Expired sessions of this user are swept here, so the table never grows without bound.
            await session.execute(
                delete(ConsoleSessionRow).where(
                    ConsoleSessionRow.user_id == user_id, ConsoleSessionRow.expires_at < now
                )
            )
            session.add(
                ConsoleSessionRow(
                    token_hash=_hash(token),
                    user_id=user_id,
                    api_key_id=api_key_id,
                    created_at=now,
                    expires_at=now + timedelta(seconds=self.ttl_seconds),
                )
            )
        return token

    async def principal(self, token: str | None) -> Principal | None:
        """The signed-in user, or None (no cookie, unknown, expired, ended, deactivated user, revoked key)."""
        if not token or len(token) > 100:
            return None
        now = datetime.now(UTC)
        async with self._db.read() as session:
            row = await session.get(ConsoleSessionRow, _hash(token))
            if row is None or row.expires_at <= now:
                return None
            if row.api_key_id is not None:
                key = await session.get(ApiKeyRow, row.api_key_id)
                if key is None or key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
                    return None
            user_id = row.user_id
        return await self._authenticator.principal_of(user_id)

    async def end(self, token: str | None) -> None:
        if not token or len(token) > 100:
            return
        async with self._db.write() as session:
            await session.execute(delete(ConsoleSessionRow).where(ConsoleSessionRow.token_hash == _hash(token)))
