"""What every console page shares: who is looking, rendering, redirects, and errors as pages.

The viewer comes only from the session cookie (never from an Authorization header: the console and the
JSON API authenticate apart, so neither can be used to forge requests to the other).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote, urlsplit

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException
from litestar.response import Redirect, Template

from modelreg.api.common import registry
from modelreg.api.errors import exception_handlers as api_exception_handlers
from modelreg.api.ratelimit import RateLimited
from modelreg.domain.access import AccessProhibited
from modelreg.domain.errors import DomainError, NotFound, ReadOnlyModel
from modelreg.domain.org_access import OrgAction, allowed
from modelreg.domain.principal import Principal
from modelreg.services import audit
from modelreg.ui.assets import asset_url

__all__ = ["SESSION_COOKIE", "SignInRequired", "page", "redirect", "safe_next", "ui_exception_handlers", "viewer"]

AnyRequest = Request[Any, Any, Any]
log = logging.getLogger("modelreg.ui")
SESSION_COOKIE = "modelreg_session"
_VIEWER_KEY = "console_viewer"


class SignInRequired(Exception):
    """The page needs a signed-in user: answered with a redirect to the sign-in page."""


async def viewer(request: AnyRequest) -> Principal | None:
    """The signed-in user of this request, looked up once per request."""
    state = request.scope.setdefault("state", {})
    if _VIEWER_KEY not in state:
        state[_VIEWER_KEY] = await registry(request).console_sessions.principal(request.cookies.get(SESSION_COOKIE))
    value: Principal | None = state[_VIEWER_KEY]
    return value


async def signed_in(request: AnyRequest) -> Principal:
    principal = await viewer(request)
    if principal is None:
        raise SignInRequired()
    audit.set_actor_user(principal.user_id)  # console writes are attributed to the signed-in user
    return principal


def safe_next(value: str | None) -> str:
    """Only a path inside the console: never an absolute URL (no open redirect after sign-in)."""
    if not value or not value.startswith("/ui/") or value.startswith("//"):
        return "/ui/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or "\\" in value:
        return "/ui/"
    return value


def redirect(path: str, flash: str | None = None) -> Redirect:
    if flash:
        path += ("&" if "?" in path else "?") + "flash=" + quote(flash)
    return Redirect(path=path, status_code=303)


def page(
    request: AnyRequest, template: str, principal: Principal | None, status_code: int = 200, **context: Any
) -> Template:
    def can(action: OrgAction) -> bool:
        return allowed(principal, action)

    return Template(
        template_name=template,
        context={
            "viewer": principal,
            "can": can,
            "asset": asset_url,
            "flash": request.query_params.get("flash", "")[:300],
            "path": request.url.path,
            **context,
        },
        status_code=status_code,
    )


def _error_page(request: AnyRequest, status: int, title: str, message: str) -> Response[Any]:
    principal = request.scope.get("state", {}).get(_VIEWER_KEY)
    return page(request, "error.html", principal, status_code=status, title=title, message=message)


def _handle(request: AnyRequest, exc: Exception) -> Response[Any]:
    if isinstance(exc, SignInRequired):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return Redirect(path=f"/ui/signin?next={quote(target)}", status_code=303)
    if isinstance(exc, NotFound | NotFoundException):
        return _error_page(request, 404, "Not found", "There is nothing here, or you cannot see it.")
    if isinstance(exc, AccessProhibited | ReadOnlyModel):
        return _error_page(request, 403, "Not allowed", "You do not have permission to do this.")
    if isinstance(exc, PermissionDeniedException):
        return _error_page(
            request,
            403,
            "Form expired",
            "This form was not sent from this console or has expired (CSRF check). Go back, reload and try again.",
        )
    if isinstance(exc, RateLimited):
        return _error_page(request, 429, "Too many attempts", str(exc.detail))
    if isinstance(exc, DomainError):
        return _error_page(request, 400, "Cannot do that", exc.message)
    if isinstance(exc, HTTPException):
        return _error_page(request, exc.status_code, "Request failed", str(exc.detail))
    log.error("unhandled error on %s %s: %s", request.method, request.url.path, type(exc).__name__, exc_info=exc)
    return _error_page(request, 500, "Something went wrong", "The error was logged. Please try again.")


# Every class the API's table names is listed again here: Litestar picks the most specific class across all
# layers, so the app's JSON handler for, say, DomainError would otherwise win over a catch-all here.
ui_exception_handlers: dict[type[Exception] | int, Any] = dict.fromkeys(
    [*api_exception_handlers, SignInRequired, RateLimited, PermissionDeniedException], _handle
)
