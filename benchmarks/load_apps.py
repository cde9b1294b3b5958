"""The two receivers `benchmarks/load.py` puts under load, served by gunicorn.

- `handwritten`: what users write today, the vendor snippet: HMAC-SHA256 of the raw body,
  `hmac.compare_digest` against the header, `json.loads`, then the side effect. No replay or
  duplicate protection.
- `ours`: the same route through `webhook_kit.flask`, with the idempotency store named by
  ``LOAD_STORE`` (a SQLite path or a ``redis://`` URL).

Both do the same side effect, so the difference is what webhook-kit adds: each processed
delivery increments its id in a Redis hash (``LOAD_COUNTS``), which the load script reads to
count lost and doubled events.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from typing import Any

import redis
from flask import Flask, request

from webhook_kit import Receiver, SQLiteStore, providers
from webhook_kit.flask import webhook_blueprint
from webhook_kit.idempotency.redis import RedisStore

SECRET = os.environ.get("LOAD_SECRET", "load-test-secret")
COUNTS = os.environ.get("LOAD_COUNTS", "webhook-kit:load:counts")
_counter = redis.Redis.from_url(os.environ.get("LOAD_REDIS", "redis://127.0.0.1:6379/0"))


def count(document_id: str) -> None:
    """The side effect both receivers perform once per processed delivery."""
    _counter.hincrby(COUNTS, document_id, 1)


handwritten = Flask("handwritten")
_key = SECRET.encode()


@handwritten.post("/webhooks/struktr")
def handwritten_struktr() -> Any:
    """The vendor snippet: verify the raw body, parse it, act."""
    body = request.get_data()
    expected = "sha256=" + hmac.new(_key, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, request.headers.get("X-Struktr-Signature", "")):
        return {"error": "signature_mismatch"}, 401
    event = json.loads(body)
    count(event["data"]["id"])
    return {"status": "processed"}


def _store() -> Any:
    url = os.environ.get("LOAD_STORE", "load.sqlite3")
    if url.startswith("redis://"):
        return RedisStore(url, prefix=os.environ.get("LOAD_PREFIX", "webhook-kit-load"))
    return SQLiteStore(url)


receiver = Receiver(providers.STRUKTR, secret=SECRET, store=_store())


@receiver.on("document.completed")
def completed(event: Any) -> None:
    """The same side effect, from the typed event."""
    count(event.data.id)


ours = Flask("ours")
ours.register_blueprint(webhook_blueprint(receiver))
