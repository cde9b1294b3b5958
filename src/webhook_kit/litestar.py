"""Litestar integration: route handlers per receiver, and a router for several.

::

    from litestar import Litestar
    from webhook_kit.litestar import webhook_router

    app = Litestar([webhook_router({"struktr": receiver})])  # POST /webhooks/struktr

Each route runs the whole pipeline with `Receiver.handle_async` (synchronous stores and handlers
run in worker threads, so the event loop is never blocked) and answers with the outcome's status,
JSON body and headers. POST is in the OpenAPI document; every other method reaches the receiver
too (left out of the document), which answers it 405.

The raw body is streamed once, never parsed by Litestar, and refused with 413 as soon as it is
known to be over the limit: the receiver's `max_body_size` or Litestar's own
``request_max_body_size`` (app, router or handler), whichever is smaller. A declared
Content-Length over it is refused before reading anything, otherwise at the first chunk past it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

try:
    from litestar import Request, Response, Router
    from litestar.enums import HttpMethod, MediaType
    from litestar.exceptions.http_exceptions import RequestEntityTooLarge
    from litestar.handlers import HTTPRouteHandler
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        "webhook_kit.litestar needs Litestar, which is not installed: "
        "pip install 'webhook-kit[litestar]'"
    ) from exc

from ._adapters import Receivers, by_segment, content_length, refused, tenant_route
from ._bodies import read_limited
from .errors import PayloadTooLargeError
from .receiver import Outcome, Receiver

__all__ = ["webhook_handlers", "webhook_router"]

_Endpoint = Callable[[Request[Any, Any, Any]], Awaitable[Response[bytes]]]

#: Methods routed to the receiver only to be answered 405 (JSON, with ``Allow: POST``).
_OTHER_METHODS = [method for method in HttpMethod if method is not HttpMethod.POST]


def webhook_handlers(
    receiver: Receiver, path: str, *, name: str | None = None
) -> list[HTTPRouteHandler]:
    """Return the route handlers that serve `receiver` at `path`: POST, and every other method.

    Register both, in this order (``Litestar(webhook_handlers(receiver, "/hooks/struktr"))``):
    the first lets the receiver answer 405 to every method but POST, instead of Litestar; the
    POST handler is documented in OpenAPI and named `name` (for ``app.route_reverse``). For a
    receiver with `TenantSecrets`, put a ``{tenant:str}`` parameter in `path`
    (``/hooks/struktr/{tenant:str}``): the handlers pass it to `Receiver.handle_async`.
    """
    endpoint = _endpoint(receiver)
    post = HTTPRouteHandler(
        path,
        http_method=HttpMethod.POST,
        name=name,
        status_code=202 if receiver.defer is not None else 200,  # the documented success
        summary=f"Receive {receiver.provider.title} webhooks",
    )
    others = HTTPRouteHandler(
        path, http_method=_OTHER_METHODS, status_code=405, include_in_schema=False
    )
    # The other methods first: registered after POST, OPTIONS would clash with the OPTIONS
    # handler Litestar adds to a path that has none.
    return [others(endpoint), post(endpoint)]


def webhook_router(
    receivers: Receivers, *, prefix: str = "/webhooks", name: str = "webhooks"
) -> Router:
    """Return a router with one route per receiver, at ``<prefix>/<segment>``.

    `receivers` is one receiver, several (each at its provider's name: ``/webhooks/struktr``),
    or a mapping from URL segment to receiver. Route names are ``<name>.<segment>``, so
    ``app.route_reverse("webhooks.struktr")`` finds each; give each router in one app its own
    `name` (Litestar refuses two handlers of one name). Pass ``request_max_body_size`` to
    the app to lower the body limit for every route (see the module's description).

    A receiver with `TenantSecrets` is at ``<prefix>/<segment>/{tenant}`` instead (unless it
    reads the tenant from its `tenant_header`): ``route_reverse("webhooks.struktr", tenant=...)``.
    """
    handlers = [
        handler
        for segment, receiver in by_segment(receivers).items()
        for handler in webhook_handlers(
            receiver,
            f"/{segment}/{{tenant:str}}" if tenant_route(receiver) else f"/{segment}",
            name=f"{name}.{segment}",
        )
    ]
    return Router(path=prefix, route_handlers=handlers)


def _endpoint(receiver: Receiver) -> _Endpoint:
    async def endpoint(request: Request[Any, Any, Any]) -> Response[bytes]:
        tenant = request.path_params.get("tenant")
        if request.method != "POST":  # never read a body we are going to refuse
            outcome = await receiver.handle_async(
                b"", request.headers, method=request.method, tenant=tenant
            )
            return _response(outcome)
        # Litestar's own limit (None: unlimited) applies too: the smaller one wins.
        own = request.route_handler.resolve_request_max_body_size()
        limit = receiver.max_body_size if own is None else min(own, receiver.max_body_size)
        try:
            body = await read_limited(
                request.stream(), content_length(request.headers.get("content-length")), limit
            )
        except (PayloadTooLargeError, RequestEntityTooLarge):
            return _response(refused(receiver, PayloadTooLargeError(limit)))
        return _response(await receiver.handle_async(body, request.headers, tenant=tenant))

    endpoint.__name__ = endpoint.__qualname__ = f"{receiver.provider.name}_webhook"
    endpoint.__doc__ = f"Receive {receiver.provider.title} webhooks."
    return endpoint


def _response(outcome: Outcome) -> Response[bytes]:
    return Response(
        outcome.content(),
        status_code=outcome.status,
        headers=dict(outcome.headers),
        media_type=MediaType.JSON,
    )
