"""FastAPI integration: a router that runs the whole pipeline, and a verified-event dependency.

::

    from fastapi import FastAPI
    from webhook_kit.fastapi import webhook_router

    app = FastAPI()
    app.include_router(webhook_router({"struktr": receiver}))  # POST /webhooks/struktr

`webhook_router` gives each receiver a route that awaits `Receiver.handle_async` (synchronous
stores and handlers run in worker threads, so the event loop is never blocked) and answers with
the outcome's status, JSON body and headers. The OpenAPI schema shows the provider's event union
as the request body.

`verified_event` is for your own endpoint: a dependency that checks the size and signature,
parses the body and hands you the typed event (type checkers see the provider's event union).
It does not deduplicate or run handlers; that is the router's job (see ``docs/fastapi.md``).

Bodies are read as raw bytes, streamed, and refused with 413 as soon as they are known to be over
the receiver's limit: a declared Content-Length before reading anything, otherwise one chunk past
the limit.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Awaitable, Callable, Mapping
from enum import Enum
from typing import Annotated, Any

try:
    from fastapi import APIRouter, HTTPException, Request, Response
    from fastapi.concurrency import run_in_threadpool
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        "webhook_kit.fastapi needs FastAPI, which is not installed: "
        "pip install 'webhook-kit[fastapi]'"
    ) from exc
from pydantic import Field, TypeAdapter

from ._adapters import Receivers, by_segment, content_length, refused
from .errors import PayloadTooLargeError, WebhookError
from .events import InvalidEvent, UnknownEvent
from .providers import EventT, Provider, get
from .receiver import Outcome, Receiver

__all__ = ["openapi_request_body", "verified_event", "webhook_router"]

#: Methods routed to the receiver only to be answered 405 (JSON, with ``Allow: POST``).
_OTHER_METHODS = ["GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]

_DEFS = "#/$defs/"

_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
    "required": ["error"],
}


def _described(description: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: _described(
        "Processed now, or a duplicate of a processed delivery",
        {
            "type": "object",
            "properties": {"status": {"enum": ["processed", "duplicate"]}},
            "required": ["status"],
        },
    ),
    400: _described("Not JSON, or not a valid event", _ERROR),
    401: _described("Signature missing or invalid, or the timestamp is stale", _ERROR),
    409: _described("Being processed by another request: retry after Retry-After", _ERROR),
    413: _described("The body is over the size limit", _ERROR),
    500: _described("A handler failed: the provider's retry processes it again", _ERROR),
    503: _described("The idempotency store is unreachable: retry after Retry-After", _ERROR),
}


def webhook_router(
    receivers: Receivers,
    *,
    prefix: str = "/webhooks",
    tags: list[str | Enum] | None = None,
) -> APIRouter:
    """Return a router with one route per receiver, at ``<prefix>/<name>``.

    `receivers` is one receiver, several (each at its provider's name: ``/webhooks/struktr``),
    or a mapping from URL segment to receiver. Each path accepts POST (documented in OpenAPI,
    with the provider's events as the body) and answers 405 to other methods. Route names are
    ``webhooks.<segment>``, for ``request.url_for``. `tags` default to ``["webhooks"]``.
    """
    router = APIRouter(prefix=prefix, tags=["webhooks"] if tags is None else tags)
    for segment, receiver in by_segment(receivers).items():
        endpoint = _endpoint(receiver)
        router.add_api_route(
            f"/{segment}",
            endpoint,
            methods=["POST"],
            name=f"webhooks.{segment}",
            summary=f"Receive {receiver.provider.title} webhooks",
            description=_DESCRIPTION,
            responses=_RESPONSES,
            openapi_extra=openapi_request_body(receiver.provider),
        )
        router.add_api_route(
            f"/{segment}",
            endpoint,
            methods=_OTHER_METHODS,
            name=f"webhooks.{segment}",
            include_in_schema=False,
        )
    return router


_DESCRIPTION = (
    "Verifies the signature over the raw body, parses the event, runs its handlers once per "
    "delivery, and answers with a status that tells the provider whether to retry."
)


def verified_event(
    receiver: Receiver[EventT],
) -> Callable[[Request], Awaitable[EventT | UnknownEvent | InvalidEvent]]:
    """Return a dependency that gives your endpoint the verified, typed event of a request.

    For a ``Receiver[struktr.StruktrEvent]`` (``Receiver("struktr", ...)``) the dependency
    returns a ``struktr.StruktrEvent | UnknownEvent | InvalidEvent``, to annotate the endpoint's
    parameter with (`InvalidEvent` only comes with ``invalid_payloads="accept"``).

    It checks the body size, verifies the signature with the receiver's secret(s), parses the
    body into the provider's model (or `UnknownEvent`) and checks the event header. On failure
    it raises `HTTPException` with the error's status (401, 400 or 413) and
    ``detail={"error": <code>, "message": <message>}``. It neither deduplicates nor runs the
    receiver's handlers: your endpoint is the handler. The raw body stays readable with
    ``await request.body()``.

    A verified body that fails validation follows the receiver's `invalid_payloads` policy, as
    in `Receiver.verified_event`: with ``"accept"`` your endpoint gets an `InvalidEvent`; with
    ``"reject"`` it is recorded in the receiver's `dead_letters` before the 400 (503 with
    Retry-After if it could not be recorded).
    """

    async def dependency(request: Request) -> EventT | UnknownEvent | InvalidEvent:
        try:
            body = await _read_body(receiver, request)
            # Starlette's cache of the body, so the endpoint can still `await request.body()`.
            request._body = body
            if receiver.dead_letters is None:
                return receiver.verified_event(body, request.headers)
            return await run_in_threadpool(receiver.verified_event, body, request.headers)
        except WebhookError as error:
            headers = (
                {"Retry-After": str(receiver.retry_after)} if error.status_code == 503 else None
            )
            raise HTTPException(
                error.status_code,
                detail={"error": error.code, "message": str(error)},
                headers=headers,
            ) from error

    dependency.__name__ = dependency.__qualname__ = f"verified_{receiver.provider.name}_event"
    return dependency


def openapi_request_body(provider: Provider | str) -> dict[str, Any]:
    """Return `openapi_extra` documenting `provider`'s event union as a JSON request body.

    The router uses it; pass it to your own route that uses `verified_event`:
    ``@app.post("/hooks/struktr", openapi_extra=openapi_request_body("struktr"))``.
    """
    preset = get(provider) if isinstance(provider, str) else provider
    return {
        "requestBody": {
            "required": True,
            "description": (
                f"A signed {preset.title} delivery; event types not listed are acknowledged "
                "as unknown events."
            ),
            "content": {"application/json": {"schema": _event_schema(preset)}},
        }
    }


def _event_schema(provider: Provider) -> dict[str, Any]:
    """The JSON Schema of the provider's events: their discriminated union, self-contained.

    Refs are inlined because a route's `openapi_extra` cannot add to the document's
    ``components``, and a ``$defs`` ref would point into the wrong document.
    """
    models = list(provider.event_types.values())
    if not models:
        return {"type": "object", "title": f"{provider.title} event"}
    union: Any = functools.reduce(operator.or_, models)
    if len(models) > 1:
        union = Annotated[union, Field(discriminator=models[0].type_field)]
    schema = TypeAdapter(union).json_schema()
    defs = schema.pop("$defs", {})
    inlined: dict[str, Any] = _inline(schema, defs, ())
    inlined["title"] = f"{provider.title} event"
    return inlined


def _inline(node: Any, defs: Mapping[str, Any], seen: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_inline(item, defs, seen) for item in node]
    if not isinstance(node, dict):
        return node
    result: dict[str, Any] = {}
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(_DEFS):
        name = ref.removeprefix(_DEFS)
        # A recursive model would inline forever: its inner occurrence stays an open object.
        result = {"title": name} if name in seen else _inline(defs[name], defs, (*seen, name))
        node = {key: value for key, value in node.items() if key != "$ref"}
    for key, value in node.items():
        if key == "discriminator" and isinstance(value, dict):
            # The mapping names $defs refs; with the variants inlined, the property suffices.
            result[key] = {k: v for k, v in value.items() if k != "mapping"}
        else:
            result[key] = _inline(value, defs, seen)
    return result


def _endpoint(receiver: Receiver) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        if request.method != "POST":  # never read a body we are going to refuse
            outcome = await receiver.handle_async(b"", request.headers, method=request.method)
            return _response(outcome)
        try:
            body = await _read_body(receiver, request)
        except PayloadTooLargeError as error:
            return _response(refused(receiver, error))
        return _response(await receiver.handle_async(body, request.headers))

    endpoint.__name__ = endpoint.__qualname__ = f"{receiver.provider.name}_webhook"
    return endpoint


async def _read_body(receiver: Receiver, request: Request) -> bytes:
    """The raw body, refused (`PayloadTooLargeError`) once it is known to be over the limit."""
    # A declared length over the limit is refused before reading anything.
    receiver.check_size(content_length(request.headers.get("content-length")))
    limit = receiver.max_body_size
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLargeError(limit)
    return bytes(body)


def _response(outcome: Outcome) -> Response:
    return Response(
        outcome.content(),
        status_code=outcome.status,
        headers=dict(outcome.headers),
        media_type="application/json",
    )
