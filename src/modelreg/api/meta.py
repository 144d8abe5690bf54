"""`meta` as both dialects show and accept it.

The record keeps three capabilities as flags (image_support, function_call, streaming_support); meta
holds everything else exactly as given. Shown: stored meta with `capabilities` completed from the
resolved flags (booleans, inherited ones included), and `profile_image_url` defaulted to Open WebUI's
`/static/favicon.png` when unset (not stored: set one and it is shown instead). Accepted:
capabilities.vision / .function_calling / .streaming set the flags (a boolean, or null = inherit); other
keys are stored as given.
"""

from __future__ import annotations

from typing import Any

from modelreg.domain.errors import InvalidInput
from modelreg.domain.llm_model import LLMModel

__all__ = ["CAPABILITY_FLAGS", "DEFAULT_PROFILE_IMAGE", "meta_view", "split_meta"]

DEFAULT_PROFILE_IMAGE = "/static/favicon.png"
CAPABILITY_FLAGS = {"vision": "image_support", "function_calling": "function_call", "streaming": "streaming_support"}


def split_meta(meta: dict[str, Any]) -> tuple[dict[str, Any], dict[str, int | None]]:
    """(meta to store, flag values for the capability keys present: a boolean, or None = inherit)."""
    stored = dict(meta)
    flags: dict[str, int | None] = {}
    capabilities = stored.get("capabilities")
    if capabilities is None:
        stored.pop("capabilities", None)
        return stored, flags
    if not isinstance(capabilities, dict):
        raise InvalidInput("meta.capabilities must be an object", "meta")
    rest = dict(capabilities)
    for key, field in CAPABILITY_FLAGS.items():
        if key in rest:
            value = rest.pop(key)
            if value is not None and not isinstance(value, bool):
                raise InvalidInput(f"meta.capabilities.{key} must be a boolean", "meta")
            flags[field] = None if value is None else int(value)
    stored["capabilities"] = rest
    return stored, flags


def meta_view(model: LLMModel) -> dict[str, Any]:
    meta = dict(model.meta)
    if not meta.get("profile_image_url"):
        meta["profile_image_url"] = DEFAULT_PROFILE_IMAGE  # Open WebUI's default (seed 004); served by app.py
    capabilities = dict(meta.get("capabilities") or {})
    for key, field in CAPABILITY_FLAGS.items():
        value = getattr(model, field)
        if value is not None:
            capabilities[key] = bool(value)
    meta["capabilities"] = capabilities
    return meta
