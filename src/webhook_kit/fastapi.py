"""FastAPI integration: a router that runs the whole pipeline, and a verified-event dependency.

::

    from fastapi import FastAPI
    from webhook_kit.fastapi import webhook_router

    app = FastAPI()
    app.include_router(webhook_router({"struktr": receiver}))  # POST /webhooks/struktr

`webhook_router` gives each receiver a route that awaits `Receiver.handle_async` (synchronous
stores, handlers and tenant lookups run in worker threads, so the event loop is never blocked)
and answers with the outcome's status, JSON body and headers. The OpenAPI document shows the
provider's event union as the request body, the signature headers as parameters and every
answer; call `webhook_openapi` to turn the inline schemas into named components that client
generators use.

`verified_event` is for your own endpoint: a dependency that checks the size and signature,
parses the body and hands you the typed event (type checkers see the provider's event union).
It does not deduplicate or run handlers; that is the router's job (see ``docs/fastapi.md``).

Bodies are read as raw bytes, streamed, and refused with 413 as soon as they are known to be over
the receiver's limit: a declared Content-Length before reading anything, otherwise one chunk past
the limit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Any

try:
    from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        "webhook_kit.fastapi needs FastAPI, which is not installed: "
        "pip install 'webhook-kit[fastapi]'"
    ) from exc

from . import _openapi
from ._adapters import Receivers, by_segment, content_length, refused, tenant_route
from .errors import PayloadTooLargeError, WebhookError
from .events import InvalidEvent, UnknownEvent
from .providers import EventT, Provider, get
from .receiver import Outcome, Receiver

__all__ = [
    "openapi_request_body",
    "verified_event",
    "verified_event_responses",
    "webhook_openapi",
    "webhook_router",
]

#: Methods routed to the receiver only to be answered 405 (JSON, with ``Allow: POST``).
_OTHER_METHODS = ["GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]


def webhook_router(
    receivers: Receivers,
    *,
    prefix: str = "/webhooks",
    tags: list[str | Enum] | None = None,
) -> APIRouter:
    """Return a router with one route per receiver, at ``<prefix>/<name>``.

    `receivers` is one receiver, several (each at its provider's name: ``/webhooks/struktr``),
    or a mapping from URL segment to receiver. Each path accepts POST (documented in OpenAPI,
    with the provider's events as the body, its headers and every answer: 202 instead of 200
    for a receiver with ``defer``) and answers 405 to other methods. Route names are
    ``webhooks.<segment>``, for ``request.url_for``. `tags` default to ``["webhooks"]``.

    A receiver with `TenantSecrets` is at ``<prefix>/<name>/{tenant}`` instead (unless it reads
    the tenant from its `tenant_header`), documented as a path parameter.
    """
    router = APIRouter(prefix=prefix, tags=["webhooks"] if tags is None else tags)
    for segment, receiver in by_segment(receivers).items():
        endpoint = _endpoint(receiver)
        deferred = receiver.defer is not None
        path = f"/{segment}/{{tenant}}" if tenant_route(receiver) else f"/{segment}"
        extra = openapi_request_body(receiver.provider)
        if tenant_route(receiver):
            extra["parameters"] = [_TENANT_PARAMETER, *extra["parameters"]]
        router.add_api_route(
            path,
            endpoint,
            methods=["POST"],
            name=f"webhooks.{segment}",
            summary=f"Receive {receiver.provider.title} webhooks",
            description=_DESCRIPTION,
            status_code=202 if deferred else None,  # the document's success answer
            responses=_openapi.router_responses(deferred=deferred),
            openapi_extra=extra,
        )
        router.add_api_route(
            path,
            endpoint,
            methods=_OTHER_METHODS,
            name=f"webhooks.{segment}",
            include_in_schema=False,
        )
    return router


_TENANT_PARAMETER = {
    "name": "tenant",
    "in": "path",
    "required": True,
    "description": "The tenant the delivery is for: its keys verify it (unknown tenants: 401)",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"},
}

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
            tenant = request.path_params.get("tenant") if tenant_route(receiver) else None
            return await receiver.verified_event_async(body, request.headers, tenant=tenant)
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
    """Return `openapi_extra` documenting a delivery from `provider`: its body and headers.

    The body is the provider's event union (inline, valid in any document; `webhook_openapi`
    names its parts), and the headers the signature needs are required header parameters.
    The router uses it; pass it to your own route that uses `verified_event`:
    ``@app.post("/hooks/struktr", openapi_extra=openapi_request_body("struktr"))``.
    """
    return _openapi.operation_extra(get(provider) if isinstance(provider, str) else provider)


def verified_event_responses() -> dict[int | str, dict[str, Any]]:
    """Return `responses` documenting the refusals of `verified_event`: 400, 401, 413 and 503.

    Their body is ``{"detail": {"error": <code>, "message": <message>}}``; 503 happens only with
    dead letters. ``@app.post(..., responses=verified_event_responses())``.
    """
    return _openapi.verified_event_responses()


def webhook_openapi(app: FastAPI) -> None:
    """Make `app`'s OpenAPI document name the webhook schemas, for client generators.

    Wraps ``app.openapi`` (FastAPI's way to extend the document) so that every operation
    documented with `openapi_request_body` (the router's, and your own routes', however deeply
    their routers are nested) refers to named components instead of inline schemas:

    - each event model, and each model inside one, named after its provider
      (``PulseJobCompleted``, ``ImgGoJobCompleted``, ``StruktrErrorInfo``);
    - ``<Provider>Event``, the union, with ``discriminator.mapping`` from each event type to
      its model;
    - ``WebhookError``, ``WebhookProcessed`` and ``WebhookQueued`` for the answers.

    A component name the app already uses for another schema is left alone, and the operations
    that would need it keep their inline schemas, so the document stays valid. Calling it again
    does nothing. Call it after assigning an ``app.openapi`` of your own, which it then wraps.
    """
    if not isinstance(app.openapi, _LinkedOpenAPI):
        app.openapi = _LinkedOpenAPI(app.openapi)  # type: ignore[method-assign]


class _LinkedOpenAPI:
    """An ``app.openapi`` that names the webhook schemas of the document it wraps."""

    def __init__(self, generate: Callable[[], dict[str, Any]]) -> None:
        self._generate = generate
        self._linked: dict[str, Any] | None = None

    def __call__(self) -> dict[str, Any]:
        document = self._generate()
        if document is not self._linked:  # FastAPI caches it until the routes change
            _openapi.link(document)
            self._linked = document
        return document


def _endpoint(receiver: Receiver) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        tenant = request.path_params.get("tenant")
        if request.method != "POST":  # never read a body we are going to refuse
            outcome = await receiver.handle_async(
                b"", request.headers, method=request.method, tenant=tenant
            )
            return _response(outcome)
        try:
            body = await _read_body(receiver, request)
        except PayloadTooLargeError as error:
            return _response(refused(receiver, error))
        return _response(await receiver.handle_async(body, request.headers, tenant=tenant))

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
