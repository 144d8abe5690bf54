"""Respan-dialect bulk writes: `POST /api/models/import/`, many models in one request, all or nothing.

Each model is what `POST /api/models/` takes and gets the same checks (services/models.py, domain/access.py),
its own revision and audit entry; the request is one transaction (view rows and the change counter written
once), so one refused model refuses the request, named in the 400, and nothing is written.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, post

from modelreg.api.common import decode_body, registry, require_principal
from modelreg.api.contract import documented
from modelreg.api.errors import domain_error_response
from modelreg.api.respan.convert import model_changes
from modelreg.api.respan.schemas import RespanModelWrite
from modelreg.domain.errors import DomainError, InvalidInput
from modelreg.services.model_import import ImportRefused, write_import
from modelreg.services.models import ModelChanges

__all__ = ["MAX_IMPORT", "import_handlers"]

MAX_IMPORT = 10_000


class RespanImport(msgspec.Struct, kw_only=True):
    models: Annotated[list[RespanModelWrite], msgspec.Meta(max_length=MAX_IMPORT)]


class RespanImportResult(msgspec.Struct):
    model_name: str
    status: Literal["created", "updated"]


class RespanImportAnswer(msgspec.Struct):
    results: list[RespanImportResult]
    imported: int


_EXAMPLE = {"models": [{"model_name": "my-gpt", "base_model_name": "gpt-4o", "input_cost": 2.5}]}


@post(
    "/api/models/import",
    status_code=200,
    opt=documented(body=RespanImport, response=RespanImportAnswer, example=_EXAMPLE),
)
async def import_models(request: Request[Any, Any, Any]) -> RespanImportAnswer:
    """Create or update up to 10,000 custom models in one request, all or nothing.

    Each model is a `POST /api/models/` body, with the same checks. If any is refused, nothing is written and
    the answer is 400 naming it (`models[i] (name): reason`)."""
    principal = await require_principal(request)
    body = await decode_body(request, RespanImport)
    reg = registry(request)
    items: list[tuple[str | None, ModelChanges]] = []
    for position, item in enumerate(body.models):
        name = item.model_name if isinstance(item.model_name, str) else None
        try:
            items.append((name, model_changes(item)))
        except DomainError as exc:
            raise _refusal(position, name, exc) from exc
    async with reg.writing(principal.organization_id) as session:
        try:
            created = await write_import(reg.models, session, principal, items)
        except ImportRefused as refused:
            raise _refusal(refused.position, items[refused.position][0], refused.error) from refused.error
    results = [
        RespanImportResult(name, "created" if new else "updated")
        for (name, _), new in zip(items, created, strict=True)
        if name is not None
    ]
    return RespanImportAnswer(results=results, imported=len(results))


def _refusal(position: int, name: str | None, exc: DomainError) -> InvalidInput:
    """The refusal of the whole request, naming the model (its position and name) and the reason."""
    rendered = domain_error_response(exc).content
    reason = rendered.get("detail") if isinstance(rendered, dict) else None
    label = f"models[{position}]" + (f" ({name})" if name else "")
    return InvalidInput(f"{label}: {reason or 'refused'}; nothing was imported.", "models")


import_handlers = [import_models]
