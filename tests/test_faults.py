"""Faults mid-stream: the store goes away and comes back, and no delivery is lost or doubled.

Each test sends a stream of distinct deliveries through a receiver, breaks its store part-way
(a throwaway Redis server stopped and restarted; PostgreSQL connections killed with
`pg_terminate_backend`), then plays the provider: every delivery not answered 2xx is retried
until it is, and a few that were answered are delivered again. At the end each delivery's
handler has completed exactly once.
"""

from __future__ import annotations

import collections
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import require_binary
from tests.idempotency.backends import sqlalchemy_url
from tests.receiving import SECRETS
from webhook_kit import Receiver, testing
from webhook_kit.idempotency.redis import RedisStore
from webhook_kit.idempotency.sql import SQLStore

DELIVERIES = 60
ALLOWED = {200, 503}  # an outage is 503 with Retry-After; nothing else is acceptable


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Effects:
    """The handler: counts each delivery id it completed."""

    def __init__(self) -> None:
        self.done: collections.Counter[str] = collections.Counter()

    def __call__(self, event: Any) -> None:
        self.done[event.data.id] += 1


def _deliveries(run: str) -> list[tuple[bytes, dict[str, str]]]:
    deliveries = []
    for index in range(DELIVERIES):
        payload = testing.sample("struktr", "document.completed")
        payload["data"]["id"] = f"doc_{run}_{index}"
        deliveries.append(
            testing.signed_delivery(
                "struktr", SECRETS["struktr"], payload, delivery_id=f"{run}-{index}"
            )
        )
    return deliveries


def _stream_with_fault(
    receiver: Receiver, effects: Effects, break_at: int, fault: Callable[[], None]
) -> collections.Counter[int]:
    """Send every delivery, calling `fault` before delivery `break_at`; then retry until 200."""
    deliveries = _deliveries(uuid.uuid4().hex[:8])
    statuses: collections.Counter[int] = collections.Counter()
    pending = []
    for index, (body, headers) in enumerate(deliveries):
        if index == break_at:
            fault()
        outcome = receiver.handle(body, headers)
        statuses[outcome.status] += 1
        assert outcome.status in ALLOWED, outcome.body
        if outcome.status == 503:
            assert "Retry-After" in outcome.headers
            pending.append((body, headers))
    # The provider's retries: the refused ones until accepted, plus a duplicate of every fifth.
    deadline = time.monotonic() + 30
    while pending and time.monotonic() < deadline:
        body, headers = pending.pop(0)
        outcome = receiver.handle(body, headers)
        assert outcome.status in ALLOWED, outcome.body
        if outcome.status != 200:
            pending.append((body, headers))
            time.sleep(0.05)
    assert not pending, f"{len(pending)} deliveries were never accepted"
    for body, headers in deliveries[::5]:
        assert receiver.handle(body, headers).body == {"status": "duplicate"}
    expected = {
        "doc_" + headers["X-Struktr-Delivery"].replace("-", "_") for _, headers in deliveries
    }
    assert set(effects.done) == expected
    assert set(effects.done.values()) == {1}, "a delivery was handled more than once"
    return statuses


class RedisServer:
    """A throwaway Redis with an append-only file, so a restart keeps what it had written."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own fixed command line
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        pytest.fail("the throwaway redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def redis_server(tmp_path: Path, redis_url: str) -> Iterator[RedisServer]:
    """A throwaway Redis (the shared one, via `redis_url`, proves the binary is expected here)."""
    del redis_url
    require_binary("redis-server")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def test_redis_stopped_and_restarted_mid_stream(redis_server: RedisServer) -> None:
    """Redis down for a while: 503s during the outage, then every delivery handled exactly once."""
    store = RedisStore(f"redis://127.0.0.1:{redis_server.port}/0", timeout=0.5)
    effects = Effects()
    receiver = Receiver("struktr", secret=SECRETS["struktr"], store=store)
    receiver.on("document.completed")(effects)
    down_for = 10

    def outage() -> None:
        redis_server.stop()
        for body, headers in _deliveries("outage")[:down_for]:
            assert receiver.handle(body, headers).status == 503
        redis_server.start()

    try:
        statuses = _stream_with_fault(receiver, effects, DELIVERIES // 2, outage)
    finally:
        store.close()
    assert statuses[200] >= DELIVERIES // 2


def test_postgres_connections_killed_mid_stream(postgres_dsn: str) -> None:
    """Every store connection killed with pg_terminate_backend: at most 503s, nothing lost."""
    url = sqlalchemy_url(postgres_dsn)
    application = f"wk-fault-{uuid.uuid4().hex[:10]}"
    table = f"wk_fault_{uuid.uuid4().hex[:10]}"
    store = SQLStore(f"{url}?application_name={application}", table=table)
    store.create_table()
    admin = sa.create_engine(url)
    effects = Effects()
    receiver = Receiver("struktr", secret=SECRETS["struktr"], store=store)
    receiver.on("document.completed")(effects)
    killed: list[int] = []

    def kill_connections() -> None:
        with admin.begin() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = :name"
                ),
                {"name": application},
            ).all()
        killed.append(len(rows))

    try:
        _stream_with_fault(receiver, effects, DELIVERIES // 2, kill_connections)
    finally:
        store.table.drop(store.engine, checkfirst=True)
        store.close()
        admin.dispose()
    assert killed, "the fault never ran"
    assert killed[0] >= 1, "no store connection was there to kill"
