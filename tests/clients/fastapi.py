"""Drive a `Receiver` through `webhook_kit.fastapi`: its router, over httpx's ASGI transport.

httpx's `ASGITransport` rather than starlette's `TestClient`, which now wants the `httpx2`
package and warns (an error here) with plain httpx. The `verified_event` dependency is not a
client: it verifies and parses only (no store, no handlers), so `tests/test_adapters.py` pins its
own, smaller contract.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

import httpx
from fastapi import FastAPI

from tests.receiving import ClientFactory, Post, Reply, route
from webhook_kit.fastapi import webhook_router
from webhook_kit.receiver import Receiver


def request(
    app: FastAPI,
    method: str,
    url: str,
    *,
    content: bytes | AsyncIterator[bytes] = b"",
    headers: Mapping[str, str],
) -> httpx.Response:
    """Send one request to `app` in-process, on a fresh event loop, and read the response."""

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.request(method, url, content=content, headers=dict(headers))

    return asyncio.run(send())


def fastapi_router(receiver: Receiver, tenant: str | None = None) -> Post:
    """The receiver's route in `webhook_router`, included in a fresh app."""
    app = FastAPI()
    app.include_router(webhook_router(receiver))
    url = route(receiver, tenant)

    def post(body: bytes, headers: Mapping[str, str], method: str = "POST") -> Reply:
        response = request(app, method, url, content=body, headers=headers)
        return Reply(
            response.status_code,
            response.json(),
            {name.lower(): value for name, value in response.headers.items()},
        )

    return post


CLIENTS: dict[str, ClientFactory] = {"fastapi": fastapi_router}
