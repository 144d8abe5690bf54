"""The published contract: the OpenAPI 3.1 document, generated from the route handlers.

Litestar lists the paths, methods and parameters of every route; this module completes each operation from
what the handler declares, so a new endpoint is documented by declaring types (docs/api-contract.md):

- the success response: the handler's return annotation (a msgspec Struct, a list of them, ...) or, for
  handlers that return a prepared `Response`, `documented(response=...)`;
- the request body: `documented(body=SomeStruct)` for handlers that decode it with `decode_body` (an empty
  body counts as `{}`; a Litestar `data:` parameter is documented by Litestar itself);
- the error responses, with the shapes the app really sends: `DetailError` everywhere, `OpenAIError` under
  `/v1`. Derived from the operation (400 with parameters or a body, 401 unless public, 404 with path
  parameters, 413/415 with a body, 429 where anonymous callers are allowed) plus `documented(errors=...)`;
- security: Bearer API key or JWT; `auth="optional"` also admits anonymous callers, `auth="none"` is public.

Schemas of declared types come from msgspec (JSON Schema 2020-12, as OpenAPI 3.1 uses).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any, Literal

import msgspec
from litestar import Litestar
from litestar.response import Response, Stream
from litestar.routes import HTTPRoute

__all__ = [
    "EXCLUDED_PREFIXES",
    "Contract",
    "contract_document",
    "documented",
    "documented_operations",
]

EXCLUDED_PREFIXES = ("/ui", "/docs")
"""The console (HTML pages) and the docs page itself are not API operations."""
REF = "#/components/schemas/{name}"
Auth = Literal["required", "optional", "none"]


class Contract(msgspec.Struct, frozen=True, kw_only=True):
    body: Any = None
    """The request body type (decoded with decode_body)."""
    response: Any = None
    """The success response type, when the return annotation cannot say it (a prepared Response)."""
    alternatives: tuple[Any, ...] = ()
    """Other success body types of the same status (the answer is one of them)."""
    media_type: str | None = None
    """A success body that is not JSON (image/png); by default the handler's own media type when not JSON."""
    stream: bool = False
    """The success may also be server-sent events (`"stream": true` in the body)."""
    etag: bool = False
    """The success carries an ETag (custom models and providers), for If-Match."""
    errors: tuple[int, ...] = ()
    """Error statuses beyond the derived ones (403, 409, 412, 502, 504, ...)."""
    also: tuple[int, ...] = ()
    """Other success statuses with the same body (200 beside 201 for create-or-update)."""
    auth: Auth = "required"
    example: Any = None
    """An example request body."""


def documented(
    *,
    body: Any = None,
    response: Any = None,
    alternatives: Iterable[Any] = (),
    media_type: str | None = None,
    stream: bool = False,
    etag: bool = False,
    errors: Iterable[int] = (),
    also: Iterable[int] = (),
    auth: Auth = "required",
    example: Any = None,
) -> dict[str, Any]:
    """The `opt` of a route handler: `@post(..., opt=documented(body=X, errors=(403,)))`."""
    contract = Contract(
        body=body,
        response=response,
        alternatives=tuple(alternatives),
        media_type=media_type,
        stream=stream,
        etag=etag,
        errors=tuple(errors),
        also=tuple(also),
        auth=auth,
        example=example,
    )
    return {"contract": contract}


DETAIL_ERROR: dict[str, Any] = {
    "type": "object",
    "description": 'Every error outside /v1: `detail` says what is wrong; a field error adds `"<field>": [message]`.',
    "required": ["detail"],
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}]},
    "example": {"detail": "input_cost: Expected `float`, got `str`", "input_cost": ["Expected `float`, got `str`"]},
}
OPENAI_ERROR: dict[str, Any] = {
    "type": "object",
    "description": "Errors of the OpenAI-compatible gateway (/v1), in OpenAI's shape.",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "code": {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]},
                "param": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            },
        }
    },
    "example": {"error": {"message": "'model' is required.", "type": "invalid_request_error", "code": "missing_model"}},
}
ERROR_DESCRIPTIONS = {
    400: "Invalid body, parameter or field (named in the error).",
    401: "No credentials, or an invalid, expired or revoked one.",
    403: "Authenticated, but not allowed to do this.",
    404: "Not found (another organization's objects answer exactly like missing ones).",
    409: "Conflict with the current state.",
    412: "If-Match does not match the current ETag.",
    413: "The body is larger than 1 MiB.",
    415: "The body is declared as another media type than application/json.",
    429: "Too many requests (anonymous callers are rate-limited per client address).",
    502: "The upstream provider failed or could not be reached.",
    503: "A dependency (the database) is unavailable.",
    504: "The upstream provider timed out.",
}
ETAG_HEADER = {
    "description": "An opaque strong entity tag (custom models and providers; built-ins have none), for If-Match.",
    "required": False,
    "schema": {"type": "string"},
}
SECURITY_SCHEMES = {
    "ApiKey": {"type": "http", "scheme": "bearer", "bearerFormat": "API key", "description": "An API key."},
    "JWT": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "From POST /api/auth/token."},
}
INFO_DESCRIPTION = """\
modelreg: a self-hosted model registry and gateway for LLMs, in three dialects: the Respan Models API
(`/api/models/`, `/api/providers/`), Open WebUI's model management (`/api/models/model/update`, `/api/v1/models/`)
and the OpenAI-compatible gateway (`/v1/`).

Paths are listed with the trailing slash of the dialect's reference where it has one; every path answers with
and without it. Path parameters marked so may contain `/` (model names such as `openai/gpt-4o`), sent as is or
as `%2F`. Request bodies are JSON (`Content-Type: application/json`, or no Content-Type).
"""

_NOT_DATA = (Response, Stream, type(None))
# Sidebar groups of the docs page, by path prefix (a handler's own `tags=` wins); first match. The page lists
# them in the order of the dialects' importance: Respan, Open WebUI, the gateway, then the rest.
TAG_ORDER = (
    "Models (Respan)",
    "Providers (Respan)",
    "Open WebUI models",
    "OpenAI-compatible gateway",
    "Measurement",
    "Authentication",
    "Organization administration",
    "Service",
)
TAGS = (
    ("/api/v1/models", "Open WebUI models"),
    ("/api/models/model/update", "Open WebUI models"),
    ("/api/models", "Models (Respan)"),
    ("/api/providers", "Providers (Respan)"),
    ("/v1", "OpenAI-compatible gateway"),
    ("/api/admin", "Organization administration"),
    ("/api/auth", "Authentication"),
    ("/api/request-logs", "Measurement"),
    ("/api/usage", "Measurement"),
    ("/", "Service"),
)


def _tag(path: str) -> str:
    return next(tag for prefix, tag in TAGS if path.startswith(prefix))


def _summary(handler: Any, fallback: str) -> str:
    """The first sentence of the handler's docstring (the whole docstring is the description)."""
    doc = inspect.getdoc(handler.fn) or ""
    first = doc.split("\n\n")[0].replace("\n", " ").split(". ")[0].rstrip(".")
    return first[:120] if first else fallback


def _return_type(handler: Any) -> Any:
    """The handler's declared success type, or None when it returns a prepared Response/Stream."""
    annotation = handler.parsed_fn_signature.return_type.annotation
    if annotation in (None, inspect.Signature.empty, Any) or annotation is type(None):
        return None
    if _is_prepared(annotation) or any(_is_prepared(arg) for arg in getattr(annotation, "__args__", ())):
        return None
    return annotation


def _is_prepared(annotation: Any) -> bool:
    origin = getattr(annotation, "__origin__", annotation)
    return isinstance(origin, type) and issubclass(origin, _NOT_DATA)


def documented_operations(app: Litestar) -> list[tuple[str, str, Any]]:
    """(method, Litestar path, handler) of every operation the document holds."""
    result: list[tuple[str, str, Any]] = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith(EXCLUDED_PREFIXES):
            continue
        for method, (handler, _) in route.route_handler_map.items():
            if method in ("HEAD", "OPTIONS") or not handler.resolve_include_in_schema():
                continue
            result.append((method, route.path, handler))
    return result


def _document_path(litestar_path: str, slash: bool) -> str:
    """`/api/models/{model_name:path}` -> `/api/models/{model_name}/` (with the dialect's trailing slash)."""
    parts = []
    for segment in litestar_path.split("/"):
        if segment.startswith("{") and ":" in segment:
            segment = segment.split(":", 1)[0] + "}"
        parts.append(segment)
    path = "/".join(parts) or "/"
    return path + "/" if slash and not path.endswith("/") else path


def _errors_for(contract: Contract, operation: dict[str, Any], has_path_params: bool) -> list[int]:
    statuses = set(contract.errors)
    if contract.auth != "none" or operation.get("parameters") or operation.get("requestBody"):
        statuses.add(400)  # a body, a parameter, a quick filter or a malformed credential
    if contract.body is not None or operation.get("requestBody"):
        statuses |= {413, 415}
    if contract.auth != "none":
        statuses.add(401)
    if contract.auth == "optional":
        statuses.add(429)
    if has_path_params:
        statuses.add(404)
    return sorted(statuses)


def contract_document(app: Litestar) -> dict[str, Any]:
    """The finished document (built once per app)."""
    cached = app.state.get("contract_document")
    if cached is None:
        cached = app.state["contract_document"] = _build(app)
    return dict(cached)


def _build(app: Litestar) -> dict[str, Any]:
    generated = app.openapi_schema.to_schema()
    paths: dict[str, dict[str, Any]] = {}
    types: list[Any] = []
    pending: list[tuple[dict[str, Any], Contract, Any, Any, int, str]] = []
    for method, litestar_path, handler in documented_operations(app):
        contract: Contract = handler.opt.get("contract") or Contract()
        source_path = _document_path(litestar_path, slash=False)
        operation = dict(generated["paths"][source_path][method.lower()])
        operation["summary"] = _summary(handler, operation.get("summary", ""))
        operation.setdefault("tags", [_tag(litestar_path)])
        slash = bool(handler.opt.get("trailing_slash")) and litestar_path != "/"
        target = paths.setdefault(_document_path(litestar_path, slash), {})
        target[method.lower()] = operation
        body_type = contract.body
        response_type = contract.response if contract.response is not None else _return_type(handler)
        for declared in (body_type, response_type, *contract.alternatives):
            if declared is not None:
                types.append(declared)
        status = handler.status_code
        handler_media = str(getattr(handler.media_type, "value", handler.media_type) or "")
        if contract.media_type is None and handler_media and not handler_media.startswith("application/json"):
            contract = msgspec.structs.replace(contract, media_type=handler_media)  # text/plain metrics, ...
        error_schema = "OpenAIError" if litestar_path == "/v1" or litestar_path.startswith("/v1/") else "DetailError"
        pending.append((operation, contract, body_type, response_type, status, error_schema))
        if ":path}" in litestar_path:
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path":
                    parameter["description"] = "May contain `/` (e.g. `openai/gpt-4o`), sent as is or as %2F."
    schemas, components = msgspec.json.schema_components(types, ref_template=REF) if types else ([], {})
    schema_of = {id(t): s for t, s in zip(types, schemas, strict=True)}
    for operation, contract, body_type, response_type, status, error_schema in pending:
        _complete(operation, contract, body_type, response_type, status, error_schema, schema_of)
    document = dict(generated)
    document["openapi"] = "3.1.0"
    document["info"] = {**generated.get("info", {}), "description": INFO_DESCRIPTION}
    document["paths"] = dict(sorted(paths.items()))
    used = {tag for item in paths.values() for operation in item.values() for tag in operation.get("tags", [])}
    ordered = [tag for tag in TAG_ORDER if tag in used] + sorted(used - set(TAG_ORDER))
    document["tags"] = [{"name": tag} for tag in ordered]
    all_components = dict(generated.get("components", {}))
    all_schemas = {**all_components.get("schemas", {}), **components}
    all_schemas["DetailError"] = DETAIL_ERROR
    all_schemas["OpenAIError"] = OPENAI_ERROR
    all_components["schemas"] = dict(sorted(all_schemas.items()))
    all_components["securitySchemes"] = SECURITY_SCHEMES
    document["components"] = all_components
    return document


def _complete(
    operation: dict[str, Any],
    contract: Contract,
    body_type: Any,
    response_type: Any,
    status: int,
    error_schema: str,
    schema_of: dict[int, dict[str, Any]],
) -> None:
    responses: dict[str, Any] = {
        code: value for code, value in operation.get("responses", {}).items() if not code.startswith(("4", "5"))
    }
    success = responses.setdefault(str(status), {"description": "Success."})
    if contract.media_type is not None:
        success["content"] = {contract.media_type: {"schema": {"type": "string"}}}
    elif response_type is not None:
        schema = schema_of[id(response_type)]
        if contract.alternatives:
            schema = {"anyOf": [schema, *(schema_of[id(t)] for t in contract.alternatives)]}
        success["content"] = {"application/json": {"schema": schema}}
    if contract.stream:
        success.setdefault("content", {})["text/event-stream"] = {"schema": {"type": "string"}}
    if contract.etag:
        success["headers"] = {"ETag": ETAG_HEADER}
    if status == 204:
        success.pop("content", None)
    for other in contract.also:
        responses[str(other)] = {**success, "description": "Success."}
    if body_type is not None:
        media: dict[str, Any] = {"schema": schema_of[id(body_type)]}
        if contract.example is not None:
            media["example"] = contract.example
        operation["requestBody"] = {"required": True, "content": {"application/json": media}}
    has_path_params = any(p.get("in") == "path" for p in operation.get("parameters", []))
    for code in _errors_for(contract, operation, has_path_params):
        responses[str(code)] = {
            "description": ERROR_DESCRIPTIONS.get(code, "Error."),
            "content": {"application/json": {"schema": {"$ref": REF.format(name=error_schema)}}},
        }
    operation["responses"] = responses
    if contract.auth == "none":
        operation["security"] = []
    else:
        operation["security"] = [{"ApiKey": []}, {"JWT": []}] + ([{}] if contract.auth == "optional" else [])
