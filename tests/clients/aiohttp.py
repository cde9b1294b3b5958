"""Drive a `Receiver` through `webhook_kit.aiohttp`: its routes served by aiohttp's own server.

Each request starts a real `aiohttp.web` server on a free loopback port (aiohttp's `TestServer`,
an `AppRunner` and a TCP site) on a fresh event loop, sends the request with aiohttp's client and
stops the server. An application is bound to the loop it first ran on, so each request gets a
fresh one around the same receiver.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.receiving import ClientFactory, Post, Reply, route
from webhook_kit.aiohttp import webhook_handler, webhook_routes
from webhook_kit.receiver import Receiver


def served_post(make_app: Callable[[], web.Application], url: str) -> Post:
    """A client posting to `url` in the app `make_app()` returns, under a real aiohttp server."""

    def post(body: bytes, headers: Mapping[str, str], method: str = "POST") -> Reply:
        async def send() -> Reply:
            app = make_app()
            async with TestClient(TestServer(app, host="127.0.0.1")) as client:
                response = await client.request(method, url, data=body, headers=dict(headers))
                return Reply(
                    response.status,
                    await response.json(),
                    {name.lower(): value for name, value in response.headers.items()},
                )

        return asyncio.run(send())

    return post


def aiohttp_routes(receiver: Receiver, tenant: str | None = None) -> Post:
    """The receiver's route from `webhook_routes`, in a fresh application."""

    def make_app() -> web.Application:
        app = web.Application()
        app.add_routes(webhook_routes(receiver))
        return app

    return served_post(make_app, route(receiver, tenant))


def aiohttp_handler(receiver: Receiver, tenant: str | None = None) -> Post:
    """The receiver's `webhook_handler`, routed by hand for every method at a path of its own
    (ending with a ``{tenant}`` variable when requests are for a tenant)."""
    path = "/hooks/acme" if tenant is None else "/hooks/acme/{tenant}"

    def make_app() -> web.Application:
        app = web.Application()
        app.router.add_route("*", path, webhook_handler(receiver))
        return app

    return served_post(make_app, "/hooks/acme" + ("" if tenant is None else f"/{tenant}"))


CLIENTS: dict[str, ClientFactory] = {
    "aiohttp": aiohttp_routes,
    "aiohttp-handler": aiohttp_handler,
}
