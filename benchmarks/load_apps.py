"""The Flask and FastAPI receivers `benchmarks/load.py` loads (Django is in `load_django.py`).

Per framework, the same route written two ways:

- hand-written: what users write today, the vendor snippet: HMAC-SHA256 of the raw body,
  `hmac.compare_digest` against the header, `json.loads`, then the side effect. No replay or
  duplicate protection. `handwritten_dedupe` (Flask; `handwritten_dedupe_fastapi`, and Django's
  ``handwritten_dedupe`` variant) adds the usual Redis snippet on top (``SET NX`` before the
  handler, ``SET done`` after it, ``DEL`` on failure), the fair floor for a receiver that
  handles duplicates with Redis.
- ours: the same route through webhook-kit's adapter (wired as in `examples/`), with the store
  named by ``LOAD_STORE`` (a SQLite path or a ``redis://`` URL).

Every target performs the same side effect: each processed delivery increments its id in a Redis
hash (``LOAD_COUNTS``), which the load script reads to count lost and doubled events. (The
example apps append to a SQLite file instead; a shared counter costs every target the same.)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from typing import Any

import redis
import redis.asyncio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from flask import Flask, request

from webhook_kit import Receiver, SQLiteStore, providers
from webhook_kit.fastapi import webhook_router
from webhook_kit.flask import webhook_blueprint

SECRET = os.environ.get("LOAD_SECRET", "load-test-secret")
COUNTS = os.environ.get("LOAD_COUNTS", "webhook-kit:load:counts")
PREFIX = os.environ.get("LOAD_PREFIX", "webhook-kit-load")
REDIS = os.environ.get("LOAD_REDIS", "redis://127.0.0.1:6379/0")
_counter = redis.Redis.from_url(REDIS)
_async_counter = redis.asyncio.Redis.from_url(REDIS)
_key = SECRET.encode()


def signed(body: bytes, signature: str) -> bool:
    """The vendor snippet's check: ``sha256=<hex>`` of the raw body, compared in constant time."""
    expected = "sha256=" + hmac.new(_key, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def count(document_id: str) -> None:
    """The side effect every receiver performs once per processed delivery."""
    _counter.hincrby(COUNTS, document_id, 1)


async def count_async(document_id: str) -> None:
    """`count` for async handlers."""
    await _async_counter.hincrby(COUNTS, document_id, 1)  # type: ignore[misc]


def store(*, asynchronous: bool = False) -> Any:
    """The store ``LOAD_STORE`` names: a ``redis://`` URL, otherwise a SQLite path."""
    url = os.environ.get("LOAD_STORE", "load.sqlite3")
    if not url.startswith("redis://"):
        return SQLiteStore(url, prefix=PREFIX)
    from webhook_kit.idempotency.redis import AsyncRedisStore, RedisStore

    return (AsyncRedisStore if asynchronous else RedisStore)(url, prefix=PREFIX)


# Flask, under gunicorn.

handwritten = Flask("handwritten")


@handwritten.post("/webhooks/struktr")
def handwritten_struktr() -> Any:
    """The vendor snippet: verify the raw body, parse it, act."""
    body = request.get_data()
    if not signed(body, request.headers.get("X-Struktr-Signature", "")):
        return {"error": "signature_mismatch"}, 401
    event = json.loads(body)
    count(event["data"]["id"])
    return {"status": "processed"}


handwritten_dedupe = Flask("handwritten_dedupe")


@handwritten_dedupe.post("/webhooks/struktr")
def handwritten_dedupe_struktr() -> Any:
    """The vendor snippet plus the usual Redis duplicate check around the handler."""
    body = request.get_data()
    if not signed(body, request.headers.get("X-Struktr-Signature", "")):
        return {"error": "signature_mismatch"}, 401
    answer, status = dedupe(body, request.headers.get("X-Struktr-Delivery", ""))
    return answer, status


def dedupe(body: bytes, delivery_id: str) -> tuple[dict[str, str], int]:
    """The usual Redis snippet around the side effect: the answer and its status."""
    key = f"{PREFIX}:hand:{delivery_id}"
    if not _counter.set(key, "processing", nx=True, px=60_000):
        if _counter.get(key) == b"done":
            return {"status": "duplicate"}, 200
        return {"status": "in_progress"}, 409
    try:
        event = json.loads(body)
        count(event["data"]["id"])
    except Exception:
        _counter.delete(key)
        raise
    _counter.set(key, "done", ex=7 * 24 * 3600)
    return {"status": "processed"}, 200


receiver = Receiver(providers.STRUKTR, secret=SECRET, store=store())


@receiver.on("document.completed")
def completed(event: Any) -> None:
    """The same side effect, from the typed event."""
    count(event.data.id)


ours = Flask("ours")
ours.register_blueprint(webhook_blueprint(receiver))


# FastAPI, under uvicorn.

handwritten_fastapi = FastAPI()


@handwritten_fastapi.post("/webhooks/struktr")
async def handwritten_fastapi_struktr(request: Request) -> JSONResponse:
    """The vendor snippet, async."""
    body = await request.body()
    if not signed(body, request.headers.get("X-Struktr-Signature", "")):
        return JSONResponse({"error": "signature_mismatch"}, status_code=401)
    event = json.loads(body)
    await count_async(event["data"]["id"])
    return JSONResponse({"status": "processed"})


handwritten_dedupe_fastapi = FastAPI()


@handwritten_dedupe_fastapi.post("/webhooks/struktr")
async def handwritten_dedupe_fastapi_struktr(request: Request) -> JSONResponse:
    """The vendor snippet plus the usual Redis duplicate check, with the async client."""
    body = await request.body()
    if not signed(body, request.headers.get("X-Struktr-Signature", "")):
        return JSONResponse({"error": "signature_mismatch"}, status_code=401)
    key = f"{PREFIX}:hand:{request.headers.get('X-Struktr-Delivery', '')}"
    if not await _async_counter.set(key, "processing", nx=True, px=60_000):
        if await _async_counter.get(key) == b"done":
            return JSONResponse({"status": "duplicate"})
        return JSONResponse({"status": "in_progress"}, status_code=409)
    try:
        event = json.loads(body)
        await count_async(event["data"]["id"])
    except Exception:
        await _async_counter.delete(key)
        raise
    await _async_counter.set(key, "done", ex=7 * 24 * 3600)
    return JSONResponse({"status": "processed"})


async_receiver = Receiver(providers.STRUKTR, secret=SECRET, store=store(asynchronous=True))


@async_receiver.on("document.completed")
async def completed_async(event: Any) -> None:
    """The same side effect, awaited."""
    await count_async(event.data.id)


ours_fastapi = FastAPI()
ours_fastapi.include_router(webhook_router(async_receiver))
