"""The console's static files, served from memory: gzip when the browser accepts it, immutable caching
under a content-hashed URL (`/ui/static/console.css?v=<hash>`), so a new release is fetched at once."""

from __future__ import annotations

import gzip
import hashlib
from functools import cache
from pathlib import Path
from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.params import FromPath

from modelreg.domain.errors import NotFound

__all__ = ["asset_url", "static_asset"]

STATIC = Path(__file__).parent / "static"
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


class Asset(msgspec.Struct, frozen=True):
    raw: bytes
    gzipped: bytes
    media_type: str
    version: str


@cache
def _assets() -> dict[str, Asset]:
    found: dict[str, Asset] = {}
    for path in sorted(STATIC.iterdir()):
        media_type = _TYPES.get(path.suffix)
        if media_type is None:
            continue
        raw = path.read_bytes()
        found[path.name] = Asset(raw, gzip.compress(raw, 9, mtime=0), media_type, hashlib.sha256(raw).hexdigest()[:12])
    return found


def asset_url(name: str) -> str:
    return f"/ui/static/{name}?v={_assets()[name].version}"


@get("/ui/static/{name:str}", include_in_schema=False)
async def static_asset(request: Request[Any, Any, Any], name: FromPath[str]) -> Response[bytes]:
    asset = _assets().get(name)
    if asset is None:
        raise NotFound()
    headers = {"Cache-Control": "public, max-age=31536000, immutable", "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(asset.gzipped, media_type=asset.media_type, headers=headers)
    return Response(asset.raw, media_type=asset.media_type, headers=headers)
