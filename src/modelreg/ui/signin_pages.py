"""Sign-in (email + password, or an API key) and sign-out. Attempts are rate-limited per client address;
every failure answers the same words, so the page does not tell which emails exist."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.response import Redirect, Template

from modelreg.api.common import registry
from modelreg.ui.web import SESSION_COOKIE, page, safe_next, viewer

__all__ = ["signin_handlers"]

AnyRequest = Request[Any, Any, Any]
_FAILED = "Those credentials did not work. Check them and try again."


@get("/ui/signin", include_in_schema=False)
async def signin_form(request: AnyRequest) -> Template:
    return page(
        request,
        "signin.html",
        await viewer(request),
        title="Sign in",
        next=safe_next(request.query_params.get("next")),
        email="",
        error="",
    )


@post("/ui/signin", include_in_schema=False)
async def signin(request: AnyRequest) -> Response[Any]:
    reg = registry(request)
    reg.signin_limiter.check(request.client.host if request.client else "unknown")
    form = await request.form()
    target = safe_next(form.get("next"))
    email = str(form.get("email", ""))[:320]
    key = str(form.get("api_key", ""))[:200]
    sessions = reg.console_sessions
    if key:
        token = await sessions.sign_in_with_key(key)
    else:
        token = await sessions.sign_in_with_password(email, str(form.get("password", ""))[:1024])
    if token is None:
        return page(
            request, "signin.html", None, status_code=400, title="Sign in", next=target, email=email, error=_FAILED
        )
    await sessions.end(request.cookies.get(SESSION_COOKIE))  # a sign-in over a session replaces it
    response = Redirect(path=target, status_code=303)
    response.cookies.append(
        Cookie(
            key=SESSION_COOKIE,
            value=token,
            path="/ui",
            httponly=True,
            samesite="lax",
            secure=reg.settings.secure_cookies,
            max_age=reg.settings.session_ttl_seconds,
        )
    )
    return response


@post("/ui/signout", include_in_schema=False)
async def signout(request: AnyRequest) -> Response[Any]:
    await registry(request).console_sessions.end(request.cookies.get(SESSION_COOKIE))
    response = Redirect(path="/ui/?flash=Signed+out.", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/ui")
    return response


signin_handlers = [signin_form, signin, signout]
