"""Drive a `Receiver` through `webhook_kit.litestar`: its router in a Litestar app, and its
handlers registered by hand, both over httpx's ASGI transport.

The apps leave logging alone (``logging_config=None``): Litestar's default configuration replaces
the root logger's handlers, pytest's log capture among them.
"""

from __future__ import annotations

from litestar import Litestar

from tests.clients.starlette import asgi_post
from tests.receiving import ClientFactory, Post
from webhook_kit.litestar import webhook_handlers, webhook_router
from webhook_kit.receiver import Receiver


def litestar_router(receiver: Receiver) -> Post:
    """The receiver's route in `webhook_router`, in a fresh app."""
    app = Litestar([webhook_router(receiver)], logging_config=None)
    return asgi_post(app, f"/webhooks/{receiver.provider.name}")


def litestar_handlers(receiver: Receiver) -> Post:
    """The receiver's `webhook_handlers` at a path of their own, in a fresh app."""
    app = Litestar(webhook_handlers(receiver, "/hooks/acme"), logging_config=None)
    return asgi_post(app, "/hooks/acme")


CLIENTS: dict[str, ClientFactory] = {
    "litestar": litestar_router,
    "litestar-handlers": litestar_handlers,
}
