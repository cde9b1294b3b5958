"""Receive all five providers with aiohttp, at ``POST /webhooks/<provider>[/<tenant>]``.

Run it from the repository root::

    python -m aiohttp.web -H 127.0.0.1 -P 8000 examples.aiohttp_app:make_app
    python examples/aiohttp_app.py                    # the same server on $PORT (default 8000)

Secrets, the idempotency store and the events file come from the environment (see ``common.py``):
SQLite by default (run in worker threads, so the event loop never blocks), the native
`AsyncRedisStore` when ``WEBHOOK_KIT_STORE`` is a ``redis://`` URL, or a SQL database. Every
processed event is logged and appended to ``WEBHOOK_KIT_EVENTS_DB``.
"""

from __future__ import annotations

import inspect
import logging
import os

from aiohttp import web

from webhook_kit.aiohttp import webhook_routes

if __package__:  # python -m aiohttp.web ... examples.aiohttp_app:make_app, from the repository root
    from .common import make_async_store, make_receivers, make_tenant_receivers
else:  # python examples/aiohttp_app.py
    from common import make_async_store, make_receivers, make_tenant_receivers

logging.basicConfig(
    level=logging.INFO,
    format="%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s",
)


def make_app(argv: list[str] | None = None) -> web.Application:
    """The application, as ``python -m aiohttp.web`` wants it (`argv`: its unparsed arguments)."""
    del argv  # no options of its own
    store = make_async_store()

    async def close_store(_app: web.Application) -> None:
        """Close the store's connections when the server stops."""
        close = getattr(store, "aclose", None) or getattr(store, "close", None)
        if close is not None:
            result = close()
            if inspect.isawaitable(result):
                await result

    app = web.Application()
    app.add_routes(webhook_routes(make_receivers(store)))
    tenant_routes = webhook_routes(make_tenant_receivers(store), name="tenant_webhooks")
    app.add_routes(tenant_routes)  # /webhooks/<provider>/<tenant>
    app.on_cleanup.append(close_store)
    return app


if __name__ == "__main__":
    web.run_app(make_app(), host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
