"""Turn public model data sets into modelreg's catalog snapshot, one module per source.

Used both offline, by ``scripts/build_catalog.py`` (which writes the committed ``snapshot.json``),
and at run time, by ``modelreg catalog sync``; the conversion rules are documented in
``src/modelreg/catalog/README.md``. Standard library only: neither litellm nor genai-prices is imported.

* :func:`from_litellm` (``litellm.py``) builds a full snapshot from litellm's ``model_prices_and_context_window``.
* :func:`apply_genai_prices` (``genai_prices.py``) puts genai-prices' prices and display names (its published
  ``data.json`` / ``data_slim.json`` format: a list of providers) onto the models a snapshot already has.
* :func:`from_modelreg` (``snapshot_format.py``) validates and normalizes a snapshot in modelreg's own format.

Every malformed input raises :class:`CatalogFormatError`, whose message names the offending entry.
"""

from modelreg.catalog.sources.common import (
    DEFAULT_PRICES_AS_OF,
    FORMAT,
    MODEL_TYPES,
    CatalogFormatError,
    ConversionStats,
    render_snapshot,
)
from modelreg.catalog.sources.genai_prices import apply_genai_prices
from modelreg.catalog.sources.litellm import from_litellm
from modelreg.catalog.sources.snapshot_format import from_modelreg

__all__ = [
    "DEFAULT_PRICES_AS_OF",
    "FORMAT",
    "MODEL_TYPES",
    "CatalogFormatError",
    "ConversionStats",
    "apply_genai_prices",
    "from_litellm",
    "from_modelreg",
    "render_snapshot",
]
