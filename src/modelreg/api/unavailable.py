"""What every dialect answers while the database is not answering: 503 with Retry-After, in its own shape.

The fault itself was already logged once per kind per interval (store/faults.py), so nothing is logged here.
"""

from __future__ import annotations

__all__ = ["MESSAGE", "RETRY_AFTER_SECONDS", "retry_headers"]

MESSAGE = "The service is temporarily unavailable (database not reachable). Retry later."
RETRY_AFTER_SECONDS = 5
"""Recovery is noticed within the change-poll interval (1 s) once the database answers; 5 s spares it a
thundering herd."""


def retry_headers() -> dict[str, str]:
    return {"Retry-After": str(RETRY_AFTER_SECONDS)}
