"""aiohttp integration: a request handler per receiver, and routes for several.

::

    from aiohttp import web
    from webhook_kit.aiohttp import webhook_routes

    app = web.Application()
    app.add_routes(webhook_routes({"struktr": receiver}))  # POST /webhooks/struktr

The handler runs the whole pipeline with `Receiver.handle_async` (synchronous stores and handlers
run in worker threads, so the event loop is never blocked) and answers with the outcome's status,
JSON body and headers.

The body is streamed from ``request.content`` as raw bytes up to the receiver's `max_body_size`
(not the application's ``client_max_size``, which only applies to ``request.read()``): a
declared Content-Length over the limit is refused with 413 before anything is read, and a
body without one (chunked) at the first chunk past the limit. Every method reaches the receiver,
which answers 405 to all but POST.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

try:
    from aiohttp import web
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        "webhook_kit.aiohttp needs aiohttp, which is not installed: "
        "pip install 'webhook-kit[aiohttp]'"
    ) from exc

from ._adapters import Receivers, by_segment, refused, tenant_route
from ._bodies import read_limited
from .errors import PayloadTooLargeError
from .receiver import Outcome, Receiver

__all__ = ["Handler", "webhook_handler", "webhook_routes"]

Handler = Callable[[web.Request], Awaitable[web.Response]]
"""An aiohttp request handler: ``app.router.add_route("*", path, handler)``."""

_CHUNK = 64 * 1024


def webhook_handler(receiver: Receiver) -> Handler:
    """Return an aiohttp handler that runs each request through `receiver`.

    Route it for every method, so that the receiver, not aiohttp, answers 405 to all but POST:
    ``app.router.add_route("*", "/hooks/struktr", webhook_handler(receiver))``. For a receiver
    with `TenantSecrets`, give the route a ``{tenant}`` variable (``/hooks/struktr/{tenant}``):
    the handler passes it to `Receiver.handle_async`.
    """

    async def handler(request: web.Request) -> web.Response:
        tenant = request.match_info.get("tenant")
        if request.method != "POST":  # never read a body we are going to refuse
            outcome = await receiver.handle_async(
                b"", request.headers, method=request.method, tenant=tenant
            )
            return _response(outcome)
        try:
            body = await read_limited(
                request.content.iter_chunked(_CHUNK),
                request.content_length,
                receiver.max_body_size,
            )
        except PayloadTooLargeError as error:
            response = _response(refused(receiver, error))
            response.force_close()  # the rest of the body is not wanted on this connection
            return response
        except ConnectionResetError:  # the sender hung up mid-body: nothing to process
            response = web.Response(status=400)  # nobody reads it; aiohttp logs no error for it
            response.force_close()
            return response
        return _response(await receiver.handle_async(body, request.headers, tenant=tenant))

    handler.__name__ = handler.__qualname__ = f"{receiver.provider.name}_webhook"
    handler.__doc__ = f"Receive {receiver.provider.title} webhooks."
    return handler


def webhook_routes(
    receivers: Receivers, *, prefix: str = "/webhooks", name: str = "webhooks"
) -> list[web.RouteDef]:
    """Return one route per receiver, at ``<prefix>/<segment>``, for ``app.add_routes``.

    `receivers` is one receiver, several (each at its provider's name: ``/webhooks/struktr``),
    or a mapping from URL segment to receiver. Each route takes every method and is named
    ``<name>.<segment>``: ``app.router["webhooks.struktr"].url_for()``; give each set of routes
    in one app its own `name` (aiohttp refuses two routes of one name).

    A receiver with `TenantSecrets` is at ``<prefix>/<segment>/{tenant}`` instead (unless it
    reads the tenant from its `tenant_header`): ``url_for(tenant="acme")``.
    """
    routes = []
    for segment, receiver in by_segment(receivers).items():
        path = f"{prefix}/{segment}/{{tenant}}" if tenant_route(receiver) else f"{prefix}/{segment}"
        routes.append(web.route("*", path, webhook_handler(receiver), name=f"{name}.{segment}"))
    return routes


def _response(outcome: Outcome) -> web.Response:
    return web.Response(
        body=outcome.content(),
        status=outcome.status,
        headers=dict(outcome.headers),
        content_type="application/json",
    )
