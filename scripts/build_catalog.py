#!/usr/bin/env python3
"""Build the committed model catalog snapshot (``src/modelreg/catalog/snapshot.json``).

Two public data sets are merged, with the same code that ``modelreg catalog sync`` runs
(``modelreg.catalog.sources``):

* litellm's ``model_prices_and_context_window_backup.json`` (read straight out of the
  litellm wheel; litellm itself is never imported or installed), which gives the model
  list, context windows, capability flags and fallback prices (``from_litellm``);
* genai-prices (the installed ``genai_prices`` package), whose prices and display names
  win wherever it knows the model (``apply_genai_prices``). The package bundles its data as
  Python objects (``genai_prices/data.py``, generated from the project's ``data.json``); they
  are turned back into that JSON shape here, so build and sync read the same format.

Usage::

    python scripts/build_catalog.py [--litellm-json PATH | --litellm-wheel PATH] [--out PATH]

Only the standard library, ``genai_prices`` and ``modelreg.catalog.sources`` are used, and the
output is deterministic: the same inputs give a byte-identical file. See
``src/modelreg/catalog/README.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import zipfile
from datetime import date, time
from decimal import Decimal
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from genai_prices import data_snapshot
from genai_prices.types import ModelPrice

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "src"))  # this checkout's modelreg, even if another one is installed

from modelreg.catalog.sources import (  # noqa: E402
    DEFAULT_PRICES_AS_OF,
    ConversionStats,
    apply_genai_prices,
    from_litellm,
    render_snapshot,
)

LITELLM_VERSION = "1.106.2"
LITELLM_JSON_MEMBER = "litellm/model_prices_and_context_window_backup.json"
DEFAULT_OUT = REPO_ROOT / "src" / "modelreg" / "catalog" / "snapshot.json"


# ---------------------------------------------------------------------------- loading


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line: where the litellm data comes from and where the snapshot goes."""
    parser = argparse.ArgumentParser(description="Build src/modelreg/catalog/snapshot.json")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--litellm-json", type=Path, help="a local model_prices_and_context_window JSON")
    source.add_argument("--litellm-wheel", type=Path, help=f"a local litellm-{LITELLM_VERSION} wheel")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output path (default: %(default)s)")
    parser.add_argument(
        "--prices-as-of",
        type=date.fromisoformat,
        default=DEFAULT_PRICES_AS_OF,
        help="date at which genai-prices' dated price changes are resolved (default: %(default)s)",
    )
    return parser.parse_args(argv)


def read_wheel_json(wheel: Path) -> dict[str, Any]:
    """Read litellm's bundled price JSON from a wheel without installing or importing litellm."""
    with zipfile.ZipFile(wheel) as zf:
        raw = zf.read(LITELLM_JSON_MEMBER)
    data: dict[str, Any] = json.loads(raw)
    return data


def download_wheel_json() -> dict[str, Any]:
    """Fetch the pinned litellm wheel with pip into a temp dir and read its JSON (no install)."""
    with tempfile.TemporaryDirectory(prefix="litellm-wheel-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet"]
        cmd += [f"litellm=={LITELLM_VERSION}", "-d", tmp]
        subprocess.run(cmd, check=True, stdout=sys.stderr)
        wheels = sorted(Path(tmp).glob(f"litellm-{LITELLM_VERSION}-*.whl"))
        if not wheels:
            raise SystemExit(f"pip download produced no litellm {LITELLM_VERSION} wheel in {tmp}")
        return read_wheel_json(wheels[0])


def load_litellm(args: argparse.Namespace) -> dict[str, Any]:
    """Pick the litellm data source from the command line (local JSON, local wheel, or download)."""
    if args.litellm_json is not None:
        data: dict[str, Any] = json.loads(Path(args.litellm_json).read_text(encoding="utf-8"))
        return data
    if args.litellm_wheel is not None:
        return read_wheel_json(Path(args.litellm_wheel))
    return download_wheel_json()


# ---------------------------------------------------------------------------- genai-prices


def json_data(value: Any) -> Any:
    """genai-prices' Python data objects as the JSON its data.json holds.

    Dataclass fields become object keys (``or_``/``and_`` -> ``or``/``and``; private and None
    fields are left out), ModelPrice its set prices, Decimal a JSON number, dates and times ISO strings.
    """
    if isinstance(value, ModelPrice):
        items = vars(value).items()
        return {key: json_data(item) for key, item in items if not key.startswith("_") and item is not None}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if not f.name.startswith("_") and item is not None:
                out[f.name.rstrip("_")] = json_data(item)
        return out
    if isinstance(value, list | tuple):
        return [json_data(item) for item in value]
    if isinstance(value, dict):
        return {key: json_data(item) for key, item in value.items()}
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, date | time):
        return value.isoformat()
    return value


def bundled_genai_data() -> list[Any]:
    """The installed genai-prices package's bundled providers, in data.json form."""
    providers: list[Any] = json_data(data_snapshot.get_snapshot().providers)
    return providers


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    """Build the snapshot, write it, and print a one-line summary to stderr."""
    args = parse_args(argv)
    stats = ConversionStats()
    snapshot = from_litellm(load_litellm(args), litellm_version=LITELLM_VERSION, stats=stats)
    snapshot = apply_genai_prices(
        snapshot,
        bundled_genai_data(),
        version=package_version("genai_prices"),
        prices_as_of=args.prices_as_of,
        stats=stats,
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_snapshot(snapshot), encoding="utf-8", newline="\n")
    per_type = ", ".join(f"{t}={stats.kept_types[t]}" for t in sorted(stats.kept_types))
    print(
        f"build_catalog: {len(snapshot['models'])} models ({per_type}); skipped {stats.skipped_mode} by mode, "
        f"{stats.skipped_name} bad names; merged {stats.merged_duplicates} duplicate keys; "
        f"genai-prices matches {stats.genai_matches}; wrote {out}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
