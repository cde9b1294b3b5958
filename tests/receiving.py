"""How the receiver contract suite talks to the receiver: directly, or through each adapter.

Every way in is a *client factory*: given a `Receiver` (and, for one with `TenantSecrets`, the
tenant its requests are addressed to: the route's last segment, or the ``tenant=`` argument), it
returns a `post(body, headers, method)` that delivers one request and returns the `Reply`. The
contract in `test_receiver.py` runs against each factory in `CLIENTS`; adapters whose framework
is missing are left out.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from webhook_kit.receiver import Outcome, Receiver


@dataclass(frozen=True)
class Reply:
    """What came back: status, decoded JSON body, and headers (lower-case names)."""

    status: int
    body: dict[str, Any]
    headers: Mapping[str, str]


class Post(Protocol):
    """Deliver one request to a receiver and return its reply."""

    def __call__(self, body: bytes, headers: Mapping[str, str], method: str = "POST") -> Reply: ...


class ClientFactory(Protocol):
    """Make the `Post` of one way into `receiver`, for requests to `tenant` if given."""

    def __call__(self, receiver: Receiver, tenant: str | None = None) -> Post: ...


def route(receiver: Receiver, tenant: str | None = None) -> str:
    """The adapters' route of `receiver` (and of `tenant`): ``/webhooks/<provider>[/<tenant>]``."""
    return f"/webhooks/{receiver.provider.name}" + ("" if tenant is None else f"/{tenant}")


def reply_of(outcome: Outcome) -> Reply:
    """The reply an adapter would make of an outcome, for the direct clients."""
    body = json.loads(outcome.content())
    return Reply(outcome.status, body, {k.lower(): v for k, v in outcome.headers.items()})


def core_sync(receiver: Receiver, tenant: str | None = None) -> Post:
    """`Receiver.handle`, called directly."""

    def post(body: bytes, headers: Mapping[str, str], method: str = "POST") -> Reply:
        return reply_of(receiver.handle(body, headers, method=method, tenant=tenant))

    return post


def core_async(receiver: Receiver, tenant: str | None = None) -> Post:
    """`Receiver.handle_async`, awaited on a fresh event loop."""

    def post(body: bytes, headers: Mapping[str, str], method: str = "POST") -> Reply:
        outcome = receiver.handle_async(body, headers, method=method, tenant=tenant)
        return reply_of(asyncio.run(outcome))

    return post


def installed(module: str) -> bool:
    """Whether a framework can be imported, to leave its adapter out if not."""
    return importlib.util.find_spec(module) is not None


CLIENTS: dict[str, ClientFactory] = {"core-sync": core_sync, "core-async": core_async}
# Each adapter's client factories live in tests/clients/<framework>.py as a `CLIENTS` dict.
for _framework in ("flask", "fastapi", "django", "starlette", "aiohttp", "litestar"):
    if installed(_framework) and installed(f"tests.clients.{_framework}"):
        CLIENTS |= importlib.import_module(f"tests.clients.{_framework}").CLIENTS

# Serverless: Lambda needs nothing installed; Cloud Functions need functions-framework (Flask).
CLIENTS |= importlib.import_module("tests.clients.aws_lambda").CLIENTS
if installed("functions_framework"):
    CLIENTS |= importlib.import_module("tests.clients.gcf").CLIENTS


#: A test secret per provider (Pulse's in the `whsec_` form).
SECRETS = {
    "struktr": "struktr-test-secret",
    "file_conversion": "fcs-test-secret",
    "imggo": "imggo-test-secret",
    "docextract": "docextract-test-secret",
    "pulse": "whsec_cHVsc2UtdGVzdC1zaWduaW5nLWtleQ==",
}
