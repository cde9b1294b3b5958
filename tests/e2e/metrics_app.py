"""A Flask app whose receivers are counted by `webhook_kit.prometheus`, with a ``/metrics`` route.

Served by gunicorn with several workers and ``PROMETHEUS_MULTIPROC_DIR`` set, as
docs/observability.md shows; `test_metrics.py` checks that one scrape adds up every worker's.
"""

from __future__ import annotations

import os
import time

from flask import Flask, Response, request

from webhook_kit import Receiver, SQLiteStore
from webhook_kit.flask import webhook_blueprint
from webhook_kit.prometheus import exposition, instrument

instrument()  # every receiver of this process

receiver = Receiver(
    "struktr",
    secret=os.environ["STRUKTR_WEBHOOK_SECRET"],
    store=SQLiteStore(os.environ["WEBHOOK_KIT_STORE"]),
)
receiver.on("document.completed")(lambda _event: None)


@receiver.on("document.failed")
def slow(_event: object) -> None:
    """A handler that takes a while (``WEBHOOK_KIT_SLOW_HANDLER`` seconds), for the dashboard."""
    time.sleep(float(os.environ.get("WEBHOOK_KIT_SLOW_HANDLER", "0")))


app = Flask(__name__)
app.register_blueprint(webhook_blueprint(receiver))


@app.get("/metrics")
def metrics() -> Response:
    """Every worker's counts, added up."""
    body, content_type = exposition(request.headers.get("Accept"))
    return Response(body, content_type=content_type)
