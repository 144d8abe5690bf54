"""Helpers every dialect's routes share: the registry, the caller, body decoding."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

import msgspec
from litestar import Request
from litestar.exceptions import HTTPException
from litestar.response import Stream

from modelreg.api.errors import NotAuthenticated
from modelreg.domain import org_access
from modelreg.domain.errors import InvalidInput, NotFound
from modelreg.domain.llm_model import LLMModel
from modelreg.domain.names import could_be_stored
from modelreg.domain.org_access import OrgAction
from modelreg.domain.principal import Principal
from modelreg.registry import Registry
from modelreg.services import audit
from modelreg.services.listing import Streamed
from modelreg.store.faults import fault_kind

__all__ = [
    "UnsupportedMediaType",
    "check_media_type",
    "check_paging",
    "decode_body",
    "json_content_type",
    "optional_principal",
    "page_link",
    "page_offset",
    "path_name",
    "previous_page",
    "registry",
    "require_allowed",
    "require_principal",
    "streamed_json",
]
log = logging.getLogger(__name__)

T = TypeVar("T")

AnyRequest = Request[Any, Any, Any]


def registry(request: AnyRequest) -> Registry:
    value: Registry = request.app.state.registry
    return value


async def optional_principal(request: AnyRequest) -> Principal | None:
    return await registry(request).authenticator.authenticate(request.headers.get("authorization"))


async def require_principal(request: AnyRequest) -> Principal:
    principal = await optional_principal(request)
    if principal is None:
        raise NotAuthenticated()
    audit.set_actor_user(principal.user_id)  # writes in this request are attributed to the caller
    return principal


async def require_allowed(request: AnyRequest, action: OrgAction) -> Principal:
    """The caller, if domain/org_access.py lets them take `action` in their organization (403 otherwise)."""
    return org_access.require(await require_principal(request), action)


async def principal_or_anonymous(request: AnyRequest) -> Principal | None:
    """The caller of a route that also serves anonymous callers: those are rate-limited per client address
    (a bad credential is still 401, never a fallback to anonymous)."""
    principal = await optional_principal(request)
    if principal is None:
        client = request.client.host if request.client else "unknown"
        registry(request).anonymous_limiter.check(client)
    return principal


class UnsupportedMediaType(HTTPException):
    status_code = 415


def json_content_type(request: AnyRequest, raw: bytes) -> None:
    """A body declared as another media type (text/plain, a form, multipart) is refused with 415 rather than
    parsed as JSON anyway. A missing Content-Type is read as JSON (curl -d without -H sends a form type, so
    that one is refused; every official client sends application/json)."""
    check_media_type(request.headers.get("content-type"), raw)


def check_media_type(declared: str | None, raw: bytes) -> None:
    """json_content_type's rule for a caller holding the header's value (the gateway's lean ASGI path)."""
    if declared is None or not raw.strip():
        return
    media_type = declared.split(";", 1)[0].strip().lower()
    if media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json")):
        return
    raise UnsupportedMediaType(detail="Content-Type must be application/json.")


async def decode_body(request: AnyRequest, type_: type[T]) -> T:
    """Decode a JSON object body strictly into `type_`; an empty body counts as `{}`."""
    raw = await request.body()
    json_content_type(request, raw)
    if not raw.strip():
        raw = b"{}"
    try:
        return msgspec.json.decode(raw, type=type_)
    except RecursionError:
        raise msgspec.DecodeError("JSON is nested too deeply") from None


def path_name(value: str) -> str:
    """The name in a `{name:path}` segment. Litestar keeps the leading slash and strips trailing ones.
    A name no object can have (control characters, over-long) is simply not found."""
    name = value[1:] if value.startswith("/") else value
    if not could_be_stored(name):
        raise NotFound()
    return name


MAX_PAGE_SIZE = 1000
_MAX_OFFSET = 2**31 - 1  # beyond any real row count; keeps absurd page numbers away from SQL integer limits


def check_paging(page: int, page_size: int) -> None:
    if page < 1:
        raise InvalidInput("page must be >= 1.", "page")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidInput(f"page_size must be between 1 and {MAX_PAGE_SIZE}.", "page_size")


def page_offset(page: int, page_size: int) -> int:
    """Rows to skip; a page past any possible end still answers 200 with empty results."""
    return min((page - 1) * page_size, _MAX_OFFSET)


def previous_page(page: int, page_size: int, total: int) -> int | None:
    """The page before this one; from past the end, the last page."""
    if page <= 1:
        return None
    return min(page - 1, max(1, -(-total // page_size)))


def page_link(request: AnyRequest, page: int, page_size: int) -> str:
    """An absolute link to another page, on the documented path (with its trailing slash, which Litestar
    strips from request.url), keeping every other query parameter."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k not in ("page", "page_size")]
    query += [("page", str(page)), ("page_size", str(page_size))]
    path = request.url.path.rstrip("/") + "/"
    return f"{str(request.base_url).rstrip('/')}{path}?{urlencode(query)}"


def streamed_json(
    streamed: Streamed, encode: Callable[[LLMModel], bytes | None], prefix: bytes = b"[", suffix: bytes = b"]"
) -> Stream:
    """A JSON array of the streamed models (between `prefix` and `suffix`), written batch by batch: the
    same bytes as encoding the whole list at once, with one batch in memory at a time. A model `encode`
    answers None for is left out (e.g. not callable, not writable)."""

    async def chunks() -> AsyncIterator[bytes]:
        head = prefix
        try:
            async for batch in streamed.batches():
                encoded = [item for item in map(encode, batch) if item is not None]
                if encoded:
                    yield head + b",".join(encoded)
                    head = b","
        except Exception as error:
            kind = fault_kind(error)
            if kind is None:
                raise
            # The status is sent: the body ends here, without its closing bracket (invalid JSON, never
            # taken for the whole list); one log line, not a traceback.
            log.warning("a streamed list ended early: the database failed mid-stream (%s)", kind)
            if head is prefix:
                yield prefix
            return
        yield (prefix if head is prefix else b"") + suffix

    return Stream(chunks(), media_type="application/json")
