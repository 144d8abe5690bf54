"""JWTs for dashboard sessions: HS256 only (the algorithm is pinned on decode, so `none` and every
other algorithm are rejected), with exp, iat, iss and aud required and checked."""

from __future__ import annotations

import time

import jwt

__all__ = ["TokenError", "TokenIssuer"]

ALGORITHM = "HS256"


class TokenError(Exception):
    pass


class TokenIssuer:
    def __init__(self, signing_key: bytes, issuer: str, audience: str, ttl_seconds: int) -> None:
        self._key = signing_key
        self.issuer = issuer
        self.audience = audience
        self.ttl_seconds = ttl_seconds

    def issue(self, user_id: str) -> str:
        now = int(time.time())
        claims = {"sub": user_id, "iat": now, "exp": now + self.ttl_seconds, "iss": self.issuer, "aud": self.audience}
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def verify(self, token: str) -> str:
        """Return the user id in a valid token; raise TokenError otherwise."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise TokenError(str(exc)) from exc
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise TokenError("missing subject")
        return subject
