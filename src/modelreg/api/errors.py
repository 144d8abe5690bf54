"""Error -> (status, JSON body), as one table for the Respan dialect.

| error                          | status | body                                                        |
|--------------------------------|--------|-------------------------------------------------------------|
| no credentials                 | 401    | {"detail": "Authentication credentials were not provided."} |
| bad/expired/revoked credential | 401    | {"detail": "Invalid or expired credentials."}               |
| NotFound (incl. other orgs')   | 404    | {"detail": "Not found."}                                    |
| BaseModelNotFound              | 400    | {"detail": "Base model not found", "error": "Base model not found"} |
| InvalidInput / bad JSON/types  | 400    | {"detail": msg, "<field>": [msg]}                           |
| ReadOnlyModel                  | 403    | {"detail": "Cannot modify hardcoded models. ..."}            |
| AccessProhibited (read-only)   | 403    | {"detail": "You do not have permission to perform this action."} |
| PreconditionFailed             | 412    | {"detail": msg}                                             |
| body too large                 | 413    | {"detail": msg}                                             |
| database not answering         | 503    | {"detail": msg} + Retry-After (api/unavailable.py)          |
| anything unexpected            | 500    | {"detail": "Internal server error."}; details only in the log |

Messages never contain request secrets: bodies are not echoed, only field paths and type names.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotFoundException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from modelreg.api import unavailable
from modelreg.auth.authenticator import AuthenticationFailed
from modelreg.domain.access import AccessProhibited
from modelreg.domain.errors import (
    BaseModelNotFound,
    DomainError,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    ReadOnlyModel,
)
from modelreg.store.faults import fault_kind

__all__ = [
    "NotAuthenticated",
    "domain_error_parts",
    "error_parts",
    "exception_handlers",
    "parameter_error_body",
    "validation_error_body",
]

log = logging.getLogger("modelreg.api")

READ_ONLY_MESSAGES = {
    "modified": (
        "Cannot modify hardcoded models. They are synced from code and will be overwritten on next deployment. "
        "Only database-only models can be modified."
    ),
    "deleted": (
        "Cannot delete hardcoded models. They are synced from code and will be recreated on next deployment. "
        "Only database-only models can be deleted."
    ),
}


class NotAuthenticated(Exception):
    """No credentials on a route that needs them."""


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[Any]:
    # A copy: the shared header constants must not take what later layers add to a response's headers.
    return Response(content=body, status_code=status, media_type=MediaType.JSON, headers=dict(headers or {}))


_PATH_RE = re.compile(r" - at `\$\.?([^`]*)`$")


def validation_error_body(exc: msgspec.ValidationError | msgspec.DecodeError) -> dict[str, Any]:
    message = str(exc)
    if isinstance(exc, msgspec.DecodeError) and not isinstance(exc, msgspec.ValidationError):
        return {"detail": f"JSON parse error - {message}"}
    match = _PATH_RE.search(message)
    if not match:
        return {"detail": message}
    field = match.group(1).split(".")[0].split("[")[0] or "non_field_errors"
    text = message[: match.start()]
    return {"detail": f"{field}: {text}", field: [text]}


def domain_error_parts(exc: DomainError) -> tuple[int, dict[str, Any]]:
    """The table above for domain errors: (status, body)."""
    if isinstance(exc, NotFound):
        return 404, {"detail": "Not found."}
    if isinstance(exc, BaseModelNotFound):
        return 400, {"detail": exc.message, "error": exc.message}
    if isinstance(exc, InvalidInput):
        body: dict[str, Any] = {"detail": exc.message}
        if exc.field:
            body[exc.field] = [exc.message]
        return 400, body
    if isinstance(exc, ReadOnlyModel):
        return 403, {"detail": READ_ONLY_MESSAGES.get(exc.action, exc.message)}
    if isinstance(exc, AccessProhibited):
        return 403, {"detail": "You do not have permission to perform this action."}
    if isinstance(exc, PreconditionFailed):
        return 412, {"detail": exc.message}
    return 400, {"detail": exc.message}


def domain_error_response(exc: DomainError) -> Response[Any]:
    return _json(*domain_error_parts(exc))


NOT_AUTHENTICATED = {"detail": "Authentication credentials were not provided."}
BAD_CREDENTIALS = {"detail": "Invalid or expired credentials."}
AUTHENTICATE_HEADERS = {"WWW-Authenticate": "Bearer"}
INTERNAL_ERROR = {"detail": "Internal server error."}


def error_parts(exc: Exception, method: str, path: str) -> tuple[int, dict[str, Any], dict[str, str] | None]:
    """(status, body, headers) of an error raised by a handler that takes no body and no parameters (the
    lean read path, api/respan/lean.py): the same answers as the handlers below give."""
    if isinstance(exc, DomainError):
        return (*domain_error_parts(exc), None)
    if isinstance(exc, NotAuthenticated):
        return 401, NOT_AUTHENTICATED, AUTHENTICATE_HEADERS
    if isinstance(exc, AuthenticationFailed):
        return 401, BAD_CREDENTIALS, AUTHENTICATE_HEADERS
    return _unexpected_parts(exc, method, path)


def _unexpected_parts(exc: Exception, method: str, path: str) -> tuple[int, dict[str, Any], dict[str, str] | None]:
    if fault_kind(exc) is not None:
        return 503, {"detail": unavailable.MESSAGE}, unavailable.retry_headers()
    log.error("unhandled error on %s %s: %s", method, path, type(exc).__name__, exc_info=exc)
    return HTTP_500_INTERNAL_SERVER_ERROR, INTERNAL_ERROR, None


def _handle_domain(_: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    return domain_error_response(exc)


def _handle_validation(_: Request[Any, Any, Any], exc: msgspec.ValidationError) -> Response[Any]:
    return _json(400, validation_error_body(exc))


def _handle_unauthenticated(_: Request[Any, Any, Any], __: NotAuthenticated) -> Response[Any]:
    return _json(401, NOT_AUTHENTICATED, AUTHENTICATE_HEADERS)


def _handle_bad_credentials(_: Request[Any, Any, Any], __: AuthenticationFailed) -> Response[Any]:
    return _json(401, BAD_CREDENTIALS, AUTHENTICATE_HEADERS)


def _handle_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if isinstance(exc, NotFoundException):
        return _json(404, {"detail": "Not found."})
    if exc.status_code == 400:
        body = parameter_error_body(request, exc)
        if body is not None:
            return _json(400, body)
    detail = exc.detail if isinstance(exc.detail, str) else "Request failed."
    return _json(exc.status_code, {"detail": detail}, getattr(exc, "headers", None))


_MISSING_RE = re.compile(r"^Missing required (\w+) parameter '([^']{1,100})'")
_SAFE_MESSAGE_RE = re.compile(r"^Expected `[^`]{1,100}`(, got `[^`]{1,40}`)?$")


def parameter_error_body(request: Request[Any, Any, Any], exc: HTTPException) -> dict[str, Any] | None:
    """Litestar's own query/path/header parameter errors in the documented shape
    `{"detail": "<name>: <message>", "<name>": [message]}`. Names are the public ones (`all`, not the Python
    `all_`); messages keep only the expected type, never the value sent, and the URL is never repeated."""
    missing = _MISSING_RE.match(exc.detail or "")
    if missing:
        kind, name = missing.groups()
        return _field_errors({name: f"This {kind} parameter is required."})
    if not isinstance(exc.extra, list) or not exc.extra:
        return None
    public = _public_names(request)
    errors: dict[str, str] = {}
    for item in exc.extra:
        key = item.get("key") if isinstance(item, dict) else None
        if isinstance(key, str):
            message = str(item.get("message", ""))
            name = public.get(key, key)
            errors.setdefault(name, message if _SAFE_MESSAGE_RE.match(message) else "Invalid value.")
    return _field_errors(errors) if errors else None


def _field_errors(errors: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {"detail": "; ".join(f"{name}: {message}" for name, message in errors.items())}
    body.update({name: [message] for name, message in errors.items()})
    return body


def _public_names(request: Request[Any, Any, Any]) -> dict[str, str]:
    """Python parameter name -> the name in the URL (QueryParameter(name=...) aliases)."""
    names: dict[str, str] = {}
    handler = request.scope.get("route_handler")
    if handler is None:  # no handler matched: nothing to translate
        return names
    parameters = handler.parsed_fn_signature.parameters
    for key, definition in parameters.items():
        kwarg = definition.kwarg_definition
        alias = getattr(kwarg, "name", None) or getattr(kwarg, "query", None) or getattr(kwarg, "header", None)
        if isinstance(alias, str):
            names[key] = alias
    return names


def _handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    return _json(*_unexpected_parts(exc, request.method, request.url.path))


exception_handlers: dict[type[Exception] | int, Any] = {
    DomainError: _handle_domain,
    msgspec.ValidationError: _handle_validation,
    msgspec.DecodeError: _handle_validation,
    NotAuthenticated: _handle_unauthenticated,
    AuthenticationFailed: _handle_bad_credentials,
    HTTPException: _handle_http,
    Exception: _handle_unexpected,
}
