"""Receive all five providers with Litestar, at ``POST /webhooks/<provider>[/<tenant>]``.

Run it from the repository root::

    uvicorn --workers 2 --host 127.0.0.1 --port 8000 examples.litestar_app:app
    python examples/litestar_app.py                   # one uvicorn process on port 8000

Secrets, the idempotency store and the events file come from the environment (see ``common.py``):
SQLite by default (run in worker threads, so the event loop never blocks), the native
`AsyncRedisStore` when ``WEBHOOK_KIT_STORE`` is a ``redis://`` URL, or a SQL database. Every
processed event is logged and appended to ``WEBHOOK_KIT_EVENTS_DB``. The OpenAPI page is at
``/schema``.
"""

from __future__ import annotations

import inspect
import logging
import os

from litestar import Litestar

from webhook_kit.litestar import webhook_router

if __package__:  # uvicorn examples.litestar_app:app, from the repository root
    from .common import make_async_store, make_receivers, make_tenant_receivers
else:  # python examples/litestar_app.py, or uvicorn --app-dir examples litestar_app:app
    from common import make_async_store, make_receivers, make_tenant_receivers

logging.basicConfig(
    level=logging.INFO,
    format="%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s",
)

store = make_async_store()


async def close_store() -> None:
    """Close the store's connections when the server stops."""
    close = getattr(store, "aclose", None) or getattr(store, "close", None)
    if close is not None:
        result = close()
        if inspect.isawaitable(result):
            await result


# logging_config=None keeps the logging set up above (Litestar's default would replace it).
routers = [
    webhook_router(make_receivers(store)),
    webhook_router(make_tenant_receivers(store), name="tenant_webhooks"),  # .../<tenant>
]
app = Litestar(routers, on_shutdown=[close_store], logging_config=None)

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
