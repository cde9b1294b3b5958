"""Drive a `Receiver` through `webhook_kit.litestar`: its router in a Litestar app, and its
handlers registered by hand, both over httpx's ASGI transport.

The apps leave logging alone (``logging_config=None``): Litestar's default configuration replaces
the root logger's handlers, pytest's log capture among them.
"""

from __future__ import annotations

from litestar import Litestar

from tests.clients.starlette import asgi_post
from tests.receiving import ClientFactory, Post, route
from webhook_kit.litestar import webhook_handlers, webhook_router
from webhook_kit.receiver import Receiver


def litestar_router(receiver: Receiver, tenant: str | None = None) -> Post:
    """The receiver's route in `webhook_router`, in a fresh app."""
    app = Litestar([webhook_router(receiver)], logging_config=None)
    return asgi_post(app, route(receiver, tenant))


def litestar_handlers(receiver: Receiver, tenant: str | None = None) -> Post:
    """The receiver's `webhook_handlers` at a path of their own (ending with a ``{tenant:str}``
    parameter when requests are for a tenant), in a fresh app."""
    path = "/hooks/acme" if tenant is None else "/hooks/acme/{tenant:str}"
    app = Litestar(webhook_handlers(receiver, path), logging_config=None)
    return asgi_post(app, "/hooks/acme" + ("" if tenant is None else f"/{tenant}"))


CLIENTS: dict[str, ClientFactory] = {
    "litestar": litestar_router,
    "litestar-handlers": litestar_handlers,
}
