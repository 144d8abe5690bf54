"""The console's router: every page under /ui/, CSRF-checked forms, errors rendered as pages.

CSRF: Litestar's CSRF middleware runs on this router only (a double-submit token: a signed cookie scoped
to /ui plus a hidden form field or the `x-csrftoken` header htmx sends). The JSON API has no such
middleware and never reads cookies, so a console session can never authorize an API call.
Pages are gzip-compressed when accepted. Every page also carries a Content-Security-Policy that allows only
this origin's scripts and styles.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment
from litestar import Router
from litestar.config.compression import CompressionConfig
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import ResponseHeader
from litestar.middleware import DefineMiddleware
from litestar.middleware.compression import CompressionMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

from modelreg.config import Settings
from modelreg.crypto import derive_key
from modelreg.ui.account_pages import account_handlers
from modelreg.ui.assets import static_asset
from modelreg.ui.catalog_page import catalog_handlers
from modelreg.ui.formatting import FILTERS
from modelreg.ui.history_pages import history_handlers
from modelreg.ui.model_form import model_form_handlers
from modelreg.ui.model_view import model_view_handlers
from modelreg.ui.provider_pages import provider_handlers
from modelreg.ui.signin_pages import signin_handlers
from modelreg.ui.usage_page import usage_handlers
from modelreg.ui.web import ui_exception_handlers

__all__ = ["console_router", "template_config"]

_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


def _configure(engine: JinjaTemplateEngine) -> None:
    env: Environment = engine.engine
    env.filters.update(FILTERS)
    env.filters["urlpath"] = lambda name: quote(str(name), safe="/")


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(
        directory=Path(__file__).parent / "templates", engine=JinjaTemplateEngine, engine_callback=_configure
    )


def console_router(settings: Settings) -> Router:
    csrf = CSRFConfig(
        secret=derive_key(settings.secret_key, "console-csrf").hex(),
        cookie_name="modelreg_csrf",
        cookie_path="/ui",
        cookie_httponly=True,
        cookie_secure=settings.secure_cookies,
        cookie_samesite="lax",
    )
    return Router(
        path="/",
        route_handlers=[
            static_asset,
            *catalog_handlers,
            *signin_handlers,
            *model_view_handlers,
            *model_form_handlers,
            *provider_handlers,
            *usage_handlers,
            *account_handlers,
            *history_handlers,
        ],
        middleware=[
            DefineMiddleware(CSRFMiddleware, config=csrf),
            # Pages are gzipped when the browser accepts it (a 50-row catalog: ~40 KB -> ~6 KB); the static
            # assets are stored compressed already. The JSON API is not touched.
            DefineMiddleware(CompressionMiddleware, config=CompressionConfig(backend="gzip", exclude="^/ui/static/")),
        ],
        exception_handlers=ui_exception_handlers,
        response_headers=[
            ResponseHeader(name="Content-Security-Policy", value=_CSP),
            ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
            ResponseHeader(name="Referrer-Policy", value="same-origin"),
        ],
        include_in_schema=False,
    )
