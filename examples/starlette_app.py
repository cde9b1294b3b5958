"""Receive all five providers with Starlette, at ``POST /webhooks/<provider>[/<tenant>]``.

Run it from the repository root::

    uvicorn --workers 2 --host 127.0.0.1 --port 8000 examples.starlette_app:app
    python examples/starlette_app.py                  # one uvicorn process on port 8000

Secrets, the idempotency store and the events file come from the environment (see ``common.py``):
SQLite by default (run in worker threads, so the event loop never blocks), the native
`AsyncRedisStore` when ``WEBHOOK_KIT_STORE`` is a ``redis://`` URL, or a SQL database. Every
processed event is logged and appended to ``WEBHOOK_KIT_EVENTS_DB``.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette

from webhook_kit.starlette import webhook_routes

if __package__:  # uvicorn examples.starlette_app:app, from the repository root
    from .common import make_async_store, make_receivers, make_tenant_receivers
else:  # python examples/starlette_app.py, or uvicorn --app-dir examples starlette_app:app
    from common import make_async_store, make_receivers, make_tenant_receivers

logging.basicConfig(
    level=logging.INFO,
    format="%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s",
)

store = make_async_store()


@asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    """Close the store's connections when the server stops."""
    yield
    close = getattr(store, "aclose", None) or getattr(store, "close", None)
    if close is not None:
        result = close()
        if inspect.isawaitable(result):
            await result


routes = [
    *webhook_routes(make_receivers(store)),
    *webhook_routes(make_tenant_receivers(store), name="tenant_webhooks"),  # .../<tenant>
]
app = Starlette(routes=routes, lifespan=lifespan)

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
