"""POST /api/auth/token: email + password -> a short-lived JWT."""

from __future__ import annotations

import asyncio
from typing import Annotated

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.auth.passwords import DUMMY_HASH, verify_password
from modelreg.auth.tokens import TokenIssuer
from modelreg.store.rows import UserRow

__all__ = ["TokenRequest", "TokenResponse", "issue_token"]


class TokenRequest(msgspec.Struct, kw_only=True):
    email: Annotated[str, msgspec.Meta(max_length=320)]
    password: Annotated[str, msgspec.Meta(max_length=1024)]


class TokenResponse(msgspec.Struct, kw_only=True):
    access_token: str
    token_type: str
    expires_in: int


async def issue_token(session: AsyncSession, tokens: TokenIssuer, body: TokenRequest) -> TokenResponse | None:
    """None for any failure: unknown email, no password set, wrong password (same cost for each)."""
    user = (
        await session.execute(select(UserRow).where(UserRow.email == body.email.strip().lower()))
    ).scalar_one_or_none()
    stored = user.password_hash if user is not None and user.password_hash else DUMMY_HASH
    valid = await asyncio.to_thread(verify_password, stored, body.password)  # argon2 is CPU-bound by design
    if user is None or not user.password_hash or not valid or user.deactivated_at is not None:
        return None
    return TokenResponse(
        access_token=tokens.issue(user.id),
        token_type="bearer",  # noqa: S106
        expires_in=tokens.ttl_seconds,
    )
