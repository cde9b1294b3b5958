"""The example apps under real servers (gunicorn, uvicorn) with several worker processes.

Each test is run against every (app, store) server from ``conftest.py``. Payloads carry a
unique marker so that each test counts only its own rows in the app's events file.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import socket
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import ROOT, App, Running, Server, ServerError, recorded
from tests.receiving import SECRETS
from webhook_kit import providers, testing

ALL_EVENTS = [
    (name, event_type) for name in providers.PROVIDERS for event_type in testing.event_types(name)
]
FIRST_EVENT = {name: testing.event_types(name)[0] for name in providers.PROVIDERS}
COPIES = 50


def marked(provider: str, event_type: str, **extra: str) -> tuple[str, testing.Delivery]:
    """A signed delivery of the documented sample plus a unique marker field, and the marker."""
    marker = "e2e_" + secrets.token_hex(8)
    payload = testing.sample(provider, event_type) | {"e2e_marker": marker, **extra}
    delivery = testing.signed_delivery(
        provider, SECRETS[provider], payload, delivery_id="dlv_" + marker
    )
    return marker, delivery


def post_all(
    url: str, body: bytes, headers: Mapping[str, str], copies: int
) -> list[httpx.Response]:
    """Send `copies` identical requests at once, each on its own connection."""

    async def send() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=copies, max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            requests = (client.post(url, content=body, headers=headers) for _ in range(copies))
            return list(await asyncio.gather(*requests))

    return asyncio.run(send())


@pytest.mark.parametrize(("provider", "event_type"), ALL_EVENTS)
def test_every_documented_sample_is_processed_once(
    server: Running, provider: str, event_type: str
) -> None:
    """Each documented sample is answered 200 and recorded exactly once as its event type."""
    marker, delivery = marked(provider, event_type)
    response = server.client.post(
        server.url(provider), content=delivery.body, headers=delivery.headers
    )
    assert (response.status_code, response.json()) == (200, {"status": "processed"})
    assert recorded(server.events_db, marker) == Counter({(provider, event_type): 1})


@pytest.mark.parametrize("provider", list(providers.PROVIDERS))
def test_tampered_delivery_is_401_and_not_recorded(server: Running, provider: str) -> None:
    """A delivery whose body changed after signing is 401 and never recorded; the original is."""
    marker, (body, headers) = marked(provider, FIRST_EVENT[provider])
    tampered = body.replace(marker.encode(), marker[::-1].encode())
    response = server.client.post(server.url(provider), content=tampered, headers=headers)
    assert (response.status_code, response.json()["error"]) == (401, "signature_mismatch")
    assert not recorded(server.events_db, marker) + recorded(server.events_db, marker[::-1])
    assert (
        server.client.post(server.url(provider), content=body, headers=headers).status_code == 200
    )
    assert sum(recorded(server.events_db, marker).values()) == 1


IN_PROGRESS = "this delivery is being processed now; retry after Retry-After seconds"


@pytest.mark.parametrize("provider", ["struktr", "docextract"], ids=["delivery-id", "body-hash"])
def test_concurrent_copies_of_one_delivery_run_the_handler_once(
    server: Running, provider: str
) -> None:
    """50 copies of one delivery sent at once across the workers are processed exactly once."""
    marker, (body, headers) = marked(provider, FIRST_EVENT[provider])
    responses = post_all(server.url(provider), body, headers, COPIES)
    replies = Counter((r.status_code, json.dumps(r.json(), sort_keys=True)) for r in responses)
    assert replies[(200, '{"status": "processed"}')] == 1, replies
    assert set(replies) <= {
        (200, '{"status": "processed"}'),
        (200, '{"status": "duplicate"}'),
        (409, json.dumps({"error": "in_progress", "message": IN_PROGRESS}, sort_keys=True)),
    }, replies
    assert recorded(server.events_db, marker) == Counter({(provider, FIRST_EVENT[provider]): 1})


@pytest.mark.parametrize("provider", list(providers.PROVIDERS))
def test_failed_delivery_is_processed_by_the_resend(server: Running, provider: str) -> None:
    """A handler failure is 500 and records nothing; the resend is 200 and records it once."""
    token = secrets.token_hex(8)
    marker, (body, headers) = marked(provider, FIRST_EVENT[provider], fail_once=token)
    url = server.url(provider)
    first = server.client.post(url, content=body, headers=headers)
    assert (first.status_code, first.json()) == (500, {"error": "handler_failed"})
    assert not recorded(server.events_db, marker)
    resend = server.client.post(url, content=body, headers=headers)
    assert (resend.status_code, resend.json()) == (200, {"status": "processed"})
    again = server.client.post(url, content=body, headers=headers)
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    assert sum(recorded(server.events_db, marker).values()) == 1


def _tenants(server: Running, provider: str, count: int = 2) -> list[tuple[str, str]]:
    """`count` new tenants of `provider` in the app's table, each with a secret of its own."""
    made = []
    for _ in range(count):
        tenant = "t-" + secrets.token_hex(6)
        key = secrets.token_bytes(24)
        secret = "whsec_" + base64.b64encode(key).decode() if provider == "pulse" else key.hex()
        server.add_tenant(tenant, provider, secret)
        made.append((tenant, secret))
    return made


@pytest.mark.parametrize("provider", list(providers.PROVIDERS))
def test_each_tenant_is_served_with_its_own_secret(server: Running, provider: str) -> None:
    """At ``/webhooks/<provider>/<tenant>`` a tenant's delivery passes with its own secret only;
    one delivery id sent to two tenants is processed once for each."""
    (first, first_secret), (second, second_secret) = _tenants(server, provider)
    marker = "e2e_" + secrets.token_hex(8)
    payload = testing.sample(provider, FIRST_EVENT[provider]) | {"e2e_marker": marker}
    for tenant, secret, other in ((first, first_secret, second), (second, second_secret, first)):
        body, headers = testing.signed_delivery(
            provider, secret, payload, delivery_id="dlv_" + marker
        )
        refused = server.client.post(server.url(provider, other), content=body, headers=headers)
        assert (refused.status_code, refused.json()["error"]) == (401, "signature_mismatch")
        url = server.url(provider, tenant)
        accepted = server.client.post(url, content=body, headers=headers)
        assert (accepted.status_code, accepted.json()) == (200, {"status": "processed"})
        again = server.client.post(url, content=body, headers=headers)
        assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    assert recorded(server.events_db, marker) == Counter(
        {
            (f"{provider}/{first}", FIRST_EVENT[provider]): 1,
            (f"{provider}/{second}", FIRST_EVENT[provider]): 1,
        }
    )


@pytest.mark.parametrize("tenant", ["t-unknown", "bad!id"])
def test_an_unknown_tenant_is_answered_as_a_wrong_signature(server: Running, tenant: str) -> None:
    """A tenant that does not exist gets the very answer of a wrong signature for a real one."""
    [(known, secret)] = _tenants(server, "struktr", count=1)
    body, headers = testing.signed_delivery("struktr", secret, FIRST_EVENT["struktr"])
    unknown = server.client.post(
        server.url("struktr", f"{tenant}-{secrets.token_hex(4)}"), content=body, headers=headers
    )
    wrong = testing.signed_delivery("struktr", "not-" + secret, FIRST_EVENT["struktr"])
    refused = server.client.post(
        server.url("struktr", known), content=wrong.body, headers=wrong.headers
    )
    assert unknown.status_code == refused.status_code == 401
    assert unknown.content == refused.content
    varying = {"date", "server", "content-length"}
    assert {k: v for k, v in unknown.headers.items() if k not in varying} == {
        k: v for k, v in refused.headers.items() if k not in varying
    }


def test_declared_length_over_the_limit_is_refused_unread(server: Running) -> None:
    """A request declaring a body over 10 MiB gets 413 at once, before any body byte is sent."""
    head = (
        "POST /webhooks/imggo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/json\r\nContent-Length: 20000000\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.server.port), timeout=10) as sock:
        sock.sendall(head.encode())
        received = b""
        while b"\r\n\r\n" not in received:  # a server waiting for the body times out here
            chunk = sock.recv(4096)
            if not chunk:
                break
            received += chunk
    assert received.startswith(b"HTTP/1.1 413 "), received


@pytest.mark.parametrize(
    "script",
    ["flask_app.py", "fastapi_app.py", "starlette_app.py", "litestar_app.py", "aiohttp_app.py"],
)
def test_example_runs_as_a_script(script: str, tmp_path: Path) -> None:
    """``python examples/<app>.py`` serves the app on $PORT and stops on SIGTERM."""
    env = dict(os.environ) | {
        "WEBHOOK_KIT_STORE": str(tmp_path / "idempotency.sqlite3"),
        "WEBHOOK_KIT_EVENTS_DB": str(tmp_path / "events.sqlite3"),
        "IMGGO_WEBHOOK_SECRET": SECRETS["imggo"],
    }
    app = App(script, 1, lambda _port: [sys.executable, f"examples/{script}"], ROOT / "examples")
    server = Server(app, env, tmp_path)
    server.start()
    try:
        body, headers = testing.signed_delivery("imggo", SECRETS["imggo"], "job.queued")
        response = httpx.post(f"{server.url}/webhooks/imggo", content=body, headers=headers)
        assert (response.status_code, response.json()) == (200, {"status": "processed"})
    finally:
        server.stop()


def test_a_server_that_cannot_start_fails_with_its_stderr(tmp_path: Path) -> None:
    """A server whose app cannot be imported raises ServerError quoting its stderr, promptly."""
    broken = App(
        "broken",
        1,
        lambda port: [sys.executable, "-m", "uvicorn", "--port", str(port), "examples.nope:app"],
        Path(__file__),
    )
    server = Server(broken, dict(os.environ), tmp_path)
    with pytest.raises(ServerError, match=r"(?s)exited with status .*examples\.nope"):
        server.start(attempts=1)
    assert server.process is None  # stopped, nothing left behind
