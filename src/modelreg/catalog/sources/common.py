"""What the catalog converters share: the snapshot format's name and constants, the error type, number and
name checks, display names, and the file rendering (standard library only)."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

FORMAT = "modelreg-catalog/3"
"""Format 2 added `pricing_tiers` to models, format 3 `dated_prices`; snapshot_format.py still accepts 1 and 2."""

# genai-prices keeps dated price changes (start_date constraints): the snapshot keeps them as each model's
# `dated_prices`, and its flat prices are those in force at this fixed date rather than "today" (so that
# regenerating gives the same file; bump it deliberately). The app prices by the dated ones (catalog/load.py).
DEFAULT_PRICES_AS_OF = date(2026, 12, 1)

MAX_MODEL_NAME_LENGTH = 256

# The model types modelreg knows (modelreg.domain.llm_model.MODEL_TYPES; a test keeps them equal).
MODEL_TYPES = ("chat", "embedding", "image", "video", "rerank", "speech", "transcription", "audio")

# Words upper-cased in derived display names ("gpt-4o" -> "GPT-4o").
ACRONYMS = frozenset(
    {"ai", "api", "aws", "gpt", "glm", "hd", "ibm", "llm", "nlp", "oci", "oss", "tts", "vl", "xl", "xai"}
)

# The four per-1M-token prices of a catalog model, and genai-prices' names for them.
PRICE_FIELDS = ("input_cost", "output_cost", "cache_hit_input_cost", "cache_creation_input_cost")

DEFAULT_CREDENTIALS = ("api_key",)

T = TypeVar("T")


class CatalogFormatError(ValueError):
    """Input that is not in the expected format; the message names the offending entry."""


@dataclass
class ConversionStats:
    """Counters a caller may collect (the build script prints them)."""

    kept_types: Counter[str] = field(default_factory=Counter)
    skipped_mode: int = 0
    skipped_name: int = 0
    merged_duplicates: int = 0
    genai_matches: int = 0


# ---------------------------------------------------------------------------- small helpers


def short(value: Any, limit: int = 80) -> str:
    """repr() of a value for an error message, cut to a readable length."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def round_sig(value: float) -> float:
    """Round to 10 significant digits so that 2.5e-06 * 1e6 gives 2.5, not 2.4999999999999996."""
    return float(f"{value:.10g}")


def finite_number(value: Any, where: str, *, parse_strings: bool = False, negative_ok: bool = False) -> float | None:
    """A finite number >= 0 as float; None for null. Anything else raises CatalogFormatError.

    With parse_strings, a string holding a number ("2.5e-06") is accepted as that number; with
    negative_ok, numbers below zero are returned as they are.
    """
    if value is None:
        return None
    if isinstance(value, str) and parse_strings:
        try:
            number = float(value)
        except ValueError:
            raise CatalogFormatError(f"{where}: {short(value)} is not a number") from None
    elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        try:
            number = float(value)
        except (OverflowError, ValueError):
            raise CatalogFormatError(f"{where}: {short(value)} is not a usable number") from None
    else:
        raise CatalogFormatError(f"{where}: expected a number, got {type_name(value)} {short(value)}")
    if not math.isfinite(number) or (number < 0 and not negative_ok):
        raise CatalogFormatError(f"{where}: expected a finite number >= 0, got {short(value)}")
    return number


def name_problem(name: str) -> str | None:
    """Why a string is not a valid model_name (1-256 characters, no control characters, no
    leading/trailing whitespace), or None if it is."""
    if not name:
        return "is empty"
    if len(name) > MAX_MODEL_NAME_LENGTH:
        return f"is longer than {MAX_MODEL_NAME_LENGTH} characters"
    if name != name.strip():
        return "has leading or trailing whitespace"
    if any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in name):
        return "contains control characters"
    return None


def valid_name(name: str) -> bool:
    """model_name rules: no control characters, no outer whitespace, 1-256 characters."""
    return name_problem(name) is None


def title_words(text: str) -> str:
    """Deterministic readable name: split on - and _, capitalise words, upper-case acronyms.

    An acronym followed by a word starting with a digit keeps its hyphen ("GPT-4o Mini").
    """
    words = [w for w in text.replace("_", "-").split("-") if w]
    out = ""
    for i, word in enumerate(words):
        if word.lower() in ACRONYMS:
            shown = word.upper()
        elif word[0].isalpha():
            shown = word[0].upper() + word[1:]
        else:
            shown = word
        if i == 0:
            out = shown
        elif words[i - 1].lower() in ACRONYMS and word[0].isdigit():
            out += "-" + shown
        else:
            out += " " + shown
    return out or text


def usable_display_name(name: str | None) -> str | None:
    """genai-prices names win, except all-lower-case ones, which are ids ("gpt 4o", "gpt-oss-120b")."""
    if name is None or name == name.lower():
        return None
    return name


def derive_display_name(native_name: str) -> str:
    """Display name for models genai-prices does not know: the last path segment, title-cased."""
    return title_words(native_name.rsplit("/", 1)[-1])


def render_snapshot(snapshot: Mapping[str, Any]) -> str:
    """The snapshot file's text: stable key order, indent=1, UTF-8, trailing newline, no timestamp."""
    return json.dumps(snapshot, indent=1, ensure_ascii=False) + "\n"


def parse_iso(value: Any, parse: Callable[[str], T], where: str, what: str) -> T:
    """An ISO 8601 string parsed by `parse` (date.fromisoformat, time.fromisoformat)."""
    if isinstance(value, str):
        try:
            return parse(value)
        except ValueError:
            pass
    raise CatalogFormatError(f"{where}: expected {what}, got {short(value)}")


def pick_primary(model_name: str, keys: Iterable[str]) -> str:
    """Among keys sharing a model_name prefer the un-prefixed one (usually the richer entry)."""
    return sorted(keys, key=lambda k: (k == model_name, k))[0]
