"""Starlette integration: a plain ASGI app per receiver, and routes for several.

::

    from starlette.applications import Starlette
    from webhook_kit.starlette import webhook_routes

    app = Starlette(routes=webhook_routes({"struktr": receiver}))  # POST /webhooks/struktr

`webhook_app` is a plain ASGI application that runs the whole pipeline with
`Receiver.handle_async` (synchronous stores and handlers run in worker threads, so the event loop
is never blocked) and answers with the outcome's status, JSON body and headers. Mount it in any
ASGI framework (a Starlette ``Route``, Litestar's ``asgi`` handler, Quart, Django's ASGI router)
or serve it alone with uvicorn. `webhook_routes` gives Starlette one ``Route`` per receiver.

Bodies are read as raw bytes, streamed, and refused with 413 as soon as they are known to be over
the receiver's limit: a declared Content-Length before reading anything, otherwise at the first
chunk past the limit. Every method reaches the receiver, which answers 405 to all but POST.
"""

from __future__ import annotations

try:
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import Response
    from starlette.routing import Route
    from starlette.types import Message, Receive, Scope, Send
    from starlette.websockets import WebSocketClose
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        "webhook_kit.starlette needs Starlette, which is not installed: "
        "pip install 'webhook-kit[starlette]'"
    ) from exc

from ._adapters import Receivers, by_segment, content_length, refused, tenant_route
from ._bodies import read_limited
from .errors import PayloadTooLargeError
from .receiver import Outcome, Receiver

__all__ = ["WebhookApp", "webhook_app", "webhook_routes"]


class WebhookApp:
    """An ASGI application that runs each HTTP request through one receiver.

    It also answers the ASGI lifespan protocol (so uvicorn can serve it alone) and closes
    WebSocket connections, which carry no webhooks.
    """

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver

    def __repr__(self) -> str:
        return f"WebhookApp({self.receiver!r})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection."""
        if scope["type"] == "http":
            try:
                outcome = await self._outcome(Request(scope, receive))
            except ClientDisconnect:  # the sender hung up mid-body: nothing to process or answer
                return
            await _response(outcome)(scope, receive, send)
        elif scope["type"] == "lifespan":
            await _lifespan(receive, send)
        elif scope["type"] == "websocket":
            await WebSocketClose()(scope, receive, send)

    async def _outcome(self, request: Request) -> Outcome:
        """What to answer `request`: the receiver's outcome, or 413 for a body over the limit."""
        receiver = self.receiver
        tenant = request.path_params.get("tenant")
        if request.method != "POST":  # never read a body we are going to refuse
            return await receiver.handle_async(
                b"", request.headers, method=request.method, tenant=tenant
            )
        try:
            body = await read_limited(
                request.stream(),
                content_length(request.headers.get("content-length")),
                receiver.max_body_size,
            )
        except PayloadTooLargeError as error:
            return refused(receiver, error)
        return await receiver.handle_async(body, request.headers, tenant=tenant)


def webhook_app(receiver: Receiver) -> WebhookApp:
    """Return a plain ASGI application that runs every request through `receiver`.

    It answers at whatever path it is served: ``Route("/hooks/struktr", webhook_app(receiver))``
    in Starlette (a ``Mount`` would add a trailing slash), or as the whole application. For a
    receiver with `TenantSecrets`, route it with a ``{tenant}`` path parameter
    (``/hooks/struktr/{tenant}``): the app passes it to `Receiver.handle_async`.
    """
    return WebhookApp(receiver)


def webhook_routes(
    receivers: Receivers, *, prefix: str = "/webhooks", name: str = "webhooks"
) -> list[Route]:
    """Return one Starlette ``Route`` per receiver, at ``<prefix>/<segment>``.

    `receivers` is one receiver, several (each at its provider's name: ``/webhooks/struktr``),
    or a mapping from URL segment to receiver. Each route takes every method (the receiver
    answers 405 to all but POST) and is named ``<name>.<segment>``, for ``request.url_for``.

    A receiver with `TenantSecrets` is at ``<prefix>/<segment>/{tenant}`` instead (unless it
    reads the tenant from its `tenant_header`): ``url_for("webhooks.struktr", tenant="acme")``.
    """
    return [
        Route(_path(prefix, segment, receiver), webhook_app(receiver), name=f"{name}.{segment}")
        for segment, receiver in by_segment(receivers).items()
    ]


def _path(prefix: str, segment: str, receiver: Receiver) -> str:
    return f"{prefix}/{segment}/{{tenant}}" if tenant_route(receiver) else f"{prefix}/{segment}"


async def _lifespan(receive: Receive, send: Send) -> None:
    """Acknowledge startup and shutdown: the app has nothing to open or close."""
    while True:
        message: Message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _response(outcome: Outcome) -> Response:
    return Response(
        outcome.content(),
        status_code=outcome.status,
        headers=dict(outcome.headers),
        media_type="application/json",
    )
