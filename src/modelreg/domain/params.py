"""supported_params: the base model's parameters with the model's override applied.

The override is stored verbatim. Each entry replaces the base's entry of that name (booleans and
parameter definitions are both kept as given); an entry whose value is null removes the parameter.
A PATCH or PUT that sends an override replaces the stored override wholesale (the current client's rule).
"""

from __future__ import annotations

from typing import Any

__all__ = ["apply_override"]


def apply_override(base: dict[str, Any], override: dict[str, Any] | None) -> dict[str, Any]:
    if not override:
        return dict(base)
    merged = dict(base)
    for name, value in override.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged
