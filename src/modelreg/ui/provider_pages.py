"""Providers: every member may list and read them; only admins may create, edit, delete and test them
(domain/org_access.py). The API key is write-only: the page shows whether one is set and offers to replace
or remove it, and never sends it (nor any other secret of extra_kwargs) to the browser."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Template

from modelreg.api.common import path_name, registry
from modelreg.api.errors import validation_error_body
from modelreg.api.respan.convert import provider_changes
from modelreg.api.respan.schemas import RespanProviderWrite
from modelreg.domain.errors import InvalidInput, PreconditionFailed
from modelreg.domain.org_access import require
from modelreg.domain.principal import Principal
from modelreg.domain.provider import Provider
from modelreg.services.provider_check import check_connection
from modelreg.ui.web import page, redirect, signed_in

__all__ = ["provider_handlers"]

AnyRequest = Request[Any, Any, Any]


async def _provider(request: AnyRequest, principal: Principal, provider_id: str) -> Provider:
    reg = registry(request)
    async with reg.db.read() as session:
        return await reg.providers.get(session, principal, path_name(provider_id))


@get("/ui/providers", include_in_schema=False)
async def providers_page(request: AnyRequest) -> Template:
    principal = require(await signed_in(request), "read_providers")
    reg = registry(request)
    async with reg.db.read() as session:
        providers, total = await reg.providers.list(session, principal, 0, 1000)
    return page(request, "providers.html", principal, title="Providers", providers=providers, total=total)


def _values(provider: Provider | None) -> dict[str, Any]:
    if provider is None:
        return {"provider_id": "", "provider_name": "", "extra_kwargs": '{\n  "base_url": "https://"\n}'}
    return {
        "provider_id": provider.provider_id,
        "provider_name": provider.provider_name,
        "extra_kwargs": json.dumps(provider.extra_kwargs, indent=2),
        "etag": provider.etag,
    }


def _form(
    request: AnyRequest,
    principal: Principal,
    provider: Provider | None,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    return page(
        request,
        "provider_form.html",
        principal,
        status_code=status_code,
        title=f"Provider {provider.provider_id}" if provider else "New provider",
        provider=provider,
        values=values,
        errors=errors or {},
        check=None,
    )


@get("/ui/providers/new", include_in_schema=False)
async def new_provider(request: AnyRequest) -> Template:
    principal = require(await signed_in(request), "write_providers")
    return _form(request, principal, None, _values(None))


@get("/ui/providers/{provider_id:str}", include_in_schema=False)
async def provider_page(request: AnyRequest, provider_id: FromPath[str]) -> Template:
    principal = require(await signed_in(request), "read_providers")
    provider = await _provider(request, principal, provider_id)
    return _form(request, principal, provider, _values(provider))


async def _save(request: AnyRequest, provider: Provider | None) -> Response[Any]:
    principal = require(await signed_in(request), "write_providers")
    reg = registry(request)
    form = await request.form()
    values = {
        "provider_id": provider.provider_id if provider else str(form.get("provider_id", "")).strip(),
        "provider_name": str(form.get("provider_name", "")).strip(),
        "extra_kwargs": str(form.get("extra_kwargs", "")).strip(),
        "etag": str(form.get("etag", ""))[:100],
    }
    raw: dict[str, Any] = {"provider_name": values["provider_name"]}
    errors: dict[str, str] = {}
    if values["extra_kwargs"]:
        try:
            extra = json.loads(values["extra_kwargs"])
        except ValueError:
            extra = None
        if not isinstance(extra, dict):
            errors["extra_kwargs"] = 'Enter a JSON object, e.g. {"base_url": "https://api.example.com/v1"}.'
        raw["extra_kwargs"] = extra
    else:
        raw["extra_kwargs"] = {}
    new_key = str(form.get("api_key", ""))
    if new_key:
        raw["api_key"] = new_key
    elif form.get("remove_api_key") == "on":
        raw["api_key"] = None
    if not errors:
        try:
            body = msgspec.convert(raw, RespanProviderWrite, strict=False)
        except msgspec.ValidationError as exc:
            shape = validation_error_body(exc)
            field = next((k for k in shape if k != "detail"), "non_field_errors")
            errors[field] = shape.get(field, [shape["detail"]])[0]
    if errors:
        return _form(request, principal, provider, values, errors, 400)
    try:
        async with reg.writing(principal.organization_id) as session:
            if provider is None:
                if not values["provider_id"]:
                    raise InvalidInput("This field is required.", "provider_id")
                saved, created = await reg.providers.create_or_update(
                    session, principal, values["provider_id"], provider_changes(body)
                )
                if not created:
                    raise InvalidInput("A provider with this id already exists.", "provider_id")
            else:
                saved = await reg.providers.update(
                    session,
                    principal,
                    provider.provider_id,
                    provider_changes(body),
                    replace=False,
                    if_match=values["etag"] or None,
                )
    except InvalidInput as exc:
        field = exc.field if exc.field in ("provider_id", "provider_name", "api_key") else "extra_kwargs"
        return _form(request, principal, provider, values, {field: exc.message}, 400)
    except PreconditionFailed:
        message = "Someone else saved this provider after you opened it; reload it to see their version."
        return _form(request, principal, provider, values, {"non_field_errors": message}, 409)
    return redirect(f"/ui/providers/{quote(saved.provider_id, safe='')}", "Saved.")


@post("/ui/providers/new", include_in_schema=False)
async def create_provider(request: AnyRequest) -> Response[Any]:
    return await _save(request, None)


@post("/ui/providers/{provider_id:str}", include_in_schema=False)
async def update_provider(request: AnyRequest, provider_id: FromPath[str]) -> Response[Any]:
    principal = require(await signed_in(request), "write_providers")
    return await _save(request, await _provider(request, principal, provider_id))


@post("/ui/providers/{provider_id:str}/delete", include_in_schema=False)
async def delete_provider(request: AnyRequest, provider_id: FromPath[str]) -> Response[Any]:
    principal = require(await signed_in(request), "write_providers")
    reg = registry(request)
    async with reg.writing(principal.organization_id) as session:
        await reg.providers.delete(session, principal, path_name(provider_id), None)
    return redirect("/ui/providers", f"Deleted provider {provider_id}.")


@post("/ui/providers/{provider_id:str}/test", include_in_schema=False)
async def test_provider(request: AnyRequest, provider_id: FromPath[str]) -> Template:
    principal = require(await signed_in(request), "write_providers")
    reg = registry(request)
    provider = await _provider(request, principal, provider_id)
    check = await check_connection(reg.upstream, reg.providers, reg.db, provider)
    if request.headers.get("hx-request"):
        return page(request, "provider_check.html", principal, check=check)
    result = _form(request, principal, provider, _values(provider))
    result.context["check"] = check
    return result


provider_handlers = [
    providers_page,
    new_provider,
    provider_page,
    create_provider,
    update_provider,
    delete_provider,
    test_provider,
]
