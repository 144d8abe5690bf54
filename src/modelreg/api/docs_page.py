"""Where the contract is served: GET /openapi.json (also /docs/openapi.json) and the docs page GET /docs.

The page is Redoc, vendored from npm by scripts/vendor_docs_assets.py into static/docs/ and served from
here (GET /docs/assets/redoc.standalone.js): no CDN, no node at run time.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import msgspec
from litestar import MediaType, Request, Response, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import NotFoundException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.params import FromPath

from modelreg.api.contract import contract_document

__all__ = ["openapi_config", "openapi_json"]

ASSETS = Path(__file__).resolve().parent.parent / "static" / "docs"
ASSET_TYPES = {"redoc.standalone.js": "text/javascript; charset=utf-8", "LICENSE.redoc": "text/plain; charset=utf-8"}
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>modelreg API</title>
<link rel="icon" href="/static/favicon.png">
<style>body { margin: 0; padding: 0; }</style>
</head>
<body>
<redoc spec-url="/openapi.json" hide-hostname="true" path-in-middle-panel="true"></redoc>
<script src="/docs/assets/redoc.standalone.js"></script>
</body>
</html>
"""


def _encoded(request: Request[Any, Any, Any]) -> bytes:
    return msgspec.json.encode(contract_document(request.app))


@get("/openapi.json", include_in_schema=False, media_type="application/vnd.oai.openapi+json")
async def openapi_json(request: Request[Any, Any, Any]) -> bytes:
    """The OpenAPI 3.1 document (also at /docs/openapi.json)."""
    return _encoded(request)


@functools.cache
def _asset(name: str) -> bytes:
    return (ASSETS / name).read_bytes()


@get("/assets/{name:str}", include_in_schema=False, cache_control=CacheControlHeader(max_age=86400, public=True))
async def asset(name: FromPath[str]) -> Response[bytes]:
    media_type = ASSET_TYPES.get(name)
    if media_type is None:
        raise NotFoundException()
    return Response(content=_asset(name), media_type=media_type)


class _DocsPage(OpenAPIRenderPlugin):
    def __init__(self) -> None:
        super().__init__(path="/", media_type=MediaType.HTML)

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return PAGE.encode()

    def receive_router(self, router: Router) -> None:
        router.register(asset)


class _Document(OpenAPIRenderPlugin):
    def __init__(self) -> None:
        super().__init__(path="/openapi.json", media_type="application/vnd.oai.openapi+json")  # type: ignore[arg-type]

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return _encoded(request)


def openapi_config(version: str) -> OpenAPIConfig:
    return OpenAPIConfig(
        title="modelreg",
        version=version,
        path="/docs",
        render_plugins=[_DocsPage(), _Document()],
        use_handler_docstrings=True,
    )
