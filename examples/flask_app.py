"""Receive all five providers with Flask, at ``POST /webhooks/<provider>[/<tenant>]``.

Run it from the repository root::

    gunicorn -w 3 -b 127.0.0.1:8000 examples.flask_app:app   # three sync worker processes
    python examples/flask_app.py                             # Flask's development server

Secrets, the idempotency store and the events file come from the environment (see ``common.py``):
SQLite by default, Redis or a SQL database when ``WEBHOOK_KIT_STORE`` names one. Every processed
event is logged and appended to ``WEBHOOK_KIT_EVENTS_DB``.
"""

from __future__ import annotations

import logging
import os

from flask import Flask

from webhook_kit.flask import webhook_blueprint

if __package__:  # gunicorn examples.flask_app:app, from the repository root
    from .common import make_receivers, make_store, make_tenant_receivers
else:  # python examples/flask_app.py, or gunicorn --chdir examples flask_app:app
    from common import make_receivers, make_store, make_tenant_receivers

logging.basicConfig(
    level=logging.INFO,
    format="%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s",
)


def create_app() -> Flask:
    """A Flask app with one route per provider: ``/webhooks/struktr``, ``/webhooks/pulse``, ...

    and one per provider for its tenants: ``/webhooks/struktr/<tenant>``, ...
    """
    app = Flask(__name__)
    # Sync workers, sync store: RedisStore, SQLiteStore or SQLStore (never an async one).
    store = make_store()
    app.register_blueprint(webhook_blueprint(make_receivers(store)))
    app.register_blueprint(webhook_blueprint(make_tenant_receivers(store), name="tenant_webhooks"))
    return app


app = create_app()

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
