"""Drive a `Receiver` through `webhook_kit.aiohttp`: its routes served by aiohttp's own server.

Each request starts a real `aiohttp.web` server on a free loopback port (aiohttp's `TestServer`,
an `AppRunner` and a TCP site) on a fresh event loop, sends the request with aiohttp's client and
stops the server. An application is bound to the loop it first ran on, so each request gets a
fresh one around the same receiver.

aiohttp's HTTP parser refuses a header field (name and value) over its `max_field_size`, 8190
bytes by default, with its own ``400 text/plain`` before any application code runs. Requests
aiohttp's parser refuses never reach the receiver: such a reply comes back as `SERVER_REFUSED`,
and only for a request with a header field over the limit (any other non-JSON reply fails).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.receiving import SERVER_REFUSED, ClientFactory, Post, Reply, route
from webhook_kit.aiohttp import webhook_handler, webhook_routes
from webhook_kit.receiver import Receiver

#: aiohttp's default `max_field_size`: the most bytes its parser takes in one header's name and
#: value together.
MAX_FIELD_SIZE = 8190


def over_field_limit(headers: Mapping[str, str], limit: int = MAX_FIELD_SIZE) -> bool:
    """Whether a header field of `headers` is longer than aiohttp's parser takes."""
    return any(len(name.encode()) + len(value.encode()) > limit for name, value in headers.items())


def served_post(make_app: Callable[[], web.Application], url: str, **server: Any) -> Post:
    """A client posting to `url` in the app `make_app()` returns, under a real aiohttp server
    (`server` options, such as ``max_field_size``, go to its request handler)."""
    limit = int(server.get("max_field_size", MAX_FIELD_SIZE))

    def post(body: bytes, headers: Mapping[str, str], method: str = "POST") -> Reply:
        async def send() -> Reply:
            test_server = TestServer(make_app(), host="127.0.0.1")
            await test_server.start_server(**server)
            async with TestClient(test_server) as client:
                response = await client.request(method, url, data=body, headers=dict(headers))
                replied = {name.lower(): value for name, value in response.headers.items()}
                if response.content_type != "application/json":  # the server's own answer
                    text = await response.text()
                    assert response.status == 400, (response.status, text)
                    assert f"Got more than {limit} bytes" in text, text
                    assert over_field_limit(headers, limit), (headers, text)
                    return Reply(400, {"error": SERVER_REFUSED, "message": text}, replied)
                return Reply(response.status, await response.json(), replied)

        return asyncio.run(send())

    return post


def aiohttp_routes(receiver: Receiver, tenant: str | None = None, **server: Any) -> Post:
    """The receiver's route from `webhook_routes`, in a fresh application."""

    def make_app() -> web.Application:
        app = web.Application()
        app.add_routes(webhook_routes(receiver))
        return app

    return served_post(make_app, route(receiver, tenant), **server)


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
