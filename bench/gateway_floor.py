"""The gateway's floor: `python -m bench.gateway --app bench.gateway_floor:create_app --no-docs`.

modelreg's app with POST /v1/chat/completions replaced by the least a relay through granian's ASGI interface and
the gateway's HTTP/1.1 client (gateway/http1.py) can do: read the body, POST it unchanged to the model's provider,
relay the answer chunk by chunk. No authentication after the first call per model, no body check, no
measurement, metering, request metrics or request id. Everything else (the setup through the API) is modelreg's
own app. Its CPU per call is what granian, the event loop and the client cost without the call's own steps
(docs/benchmarks.md, "Third pass"); not a gateway anyone should run.
"""

from __future__ import annotations

import msgspec
from litestar import Litestar
from litestar.types import Receive, Scope, Send

from modelreg.api.openai.calls import _route, caller
from modelreg.app import create_app as create_modelreg
from modelreg.gateway.upstream import Timeout

__all__ = ["create_app"]

_TIMEOUT = Timeout(60.0, 10.0)
_START = {"type": "http.response.start", "status": 200}


def create_app() -> Litestar:
    app = create_modelreg()
    modelreg = app.asgi_handler
    targets: dict[str, tuple[str, str | None]] = {}
    """model -> (base_url, the provider's key), found through modelreg's own route on its first call."""

    async def floor(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/chat/completions":
            await modelreg(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        reg = app.state.registry
        model = msgspec.json.decode(body)["model"]
        target = targets.get(model)
        if target is None:
            authorization = dict(scope["headers"]).get(b"authorization", b"").decode()
            route = await _route(reg, await caller(reg, authorization), model)
            api_key = await reg.providers.api_key_for(reg.db, route.provider)
            target = targets[model] = (route.provider.extra_kwargs["base_url"], api_key)
        response = await reg.upstream.post(target[0], "/chat/completions", target[1], body, _TIMEOUT)
        content_type = response.content_type.encode()
        await send({**_START, "status": response.status, "headers": [(b"content-type", content_type)]})
        while chunk := await response.read_chunk():
            last = response.complete
            await send({"type": "http.response.body", "body": chunk, "more_body": not last})
            if last:
                response.close()
                return
        response.close()
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    app.asgi_handler = floor
    return app
