"""Encryption of secrets at rest (provider API keys and secret-like extra_kwargs).

Fernet keys are derived with HKDF-SHA256 from MODELREG_SECRET_KEY, one purpose per `info` label, so
the JWT signing key and the encryption key never coincide. Rotation: put the previous secret in
MODELREG_OLD_SECRET_KEYS; MultiFernet decrypts with any key and encrypts with the current one, and
`modelreg secrets rotate` re-encrypts every stored secret.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["SecretBox", "derive_key"]


def derive_key(secret: str, purpose: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"modelreg-v1", info=purpose.encode())
    return hkdf.derive(secret.encode())


class SecretBox:
    def __init__(self, current: str, previous: tuple[str, ...] = ()) -> None:
        keys = [Fernet(base64.urlsafe_b64encode(derive_key(s, "provider-secrets"))) for s in (current, *previous)]
        self._fernet = MultiFernet(keys)

    def seal(self, secrets: dict[str, Any]) -> str | None:
        if not secrets:
            return None
        return self._fernet.encrypt(json.dumps(secrets, separators=(",", ":")).encode()).decode()

    def open(self, token: str | None) -> dict[str, Any]:
        if not token:
            return {}
        try:
            value = json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken as exc:
            raise RuntimeError("stored provider secrets cannot be decrypted with the configured keys") from exc
        return value if isinstance(value, dict) else {}

    def rotate(self, token: str) -> str:
        return self._fernet.rotate(token.encode()).decode()
