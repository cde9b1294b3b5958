"""Drive a `Receiver` through `webhook_kit.starlette`: its routes in a Starlette app, and its
plain ASGI app served alone, both over httpx's ASGI transport."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import httpx
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp

from tests.receiving import ClientFactory, Post, Reply, route
from webhook_kit.receiver import Receiver
from webhook_kit.starlette import webhook_app, webhook_routes


def asgi_post(app: ASGIApp, url: str) -> Post:
    """A client posting to `url` in `app`, in-process, on a fresh event loop per request."""

    def post(body: bytes, headers: Mapping[str, str], method: str = "POST") -> Reply:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                return await c.request(method, url, content=body, headers=dict(headers))

        response = asyncio.run(send())
        return Reply(
            response.status_code,
            response.json(),
            {name.lower(): value for name, value in response.headers.items()},
        )

    return post


def starlette_routes(receiver: Receiver, tenant: str | None = None) -> Post:
    """The receiver's route from `webhook_routes`, in a fresh Starlette app."""
    app = Starlette(routes=webhook_routes(receiver))
    return asgi_post(app, route(receiver, tenant))


def plain_asgi(receiver: Receiver, tenant: str | None = None) -> Post:
    """The receiver's plain ASGI app from `webhook_app`: the whole application, or for a tenant
    in a Starlette ``Route`` whose ``{tenant}`` parameter names it."""
    if tenant is None:
        return asgi_post(webhook_app(receiver), "/any/path")
    app = Starlette(routes=[Route("/hooks/{tenant}", webhook_app(receiver))])
    return asgi_post(app, f"/hooks/{tenant}")


CLIENTS: dict[str, ClientFactory] = {
    "starlette": starlette_routes,
    "asgi": plain_asgi,
}
