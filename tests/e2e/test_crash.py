"""A worker killed mid-handler: once the lease expires, the provider's retry processes it once.

Each example app runs under its real server with a short lease (``WEBHOOK_KIT_LEASE``). A
delivery asks the example handler to hang (``"hang_once"``); the test kills the worker running
it (SIGKILL from outside, or the server's own worker timeout; a server that ran in that one
process is started again, as its process manager would), then resends the delivery as the
provider would until it is accepted, and counts the recorded events: exactly one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import _environment
from tests.e2e.harness import APPS, App, Server, _gunicorn, recorded
from tests.e2e.test_servers import marked

LEASE = 3.0


def _worker_pid(events_db: Path, token: str, timeout: float = 20.0) -> int:
    """The pid the hanging handler wrote down, once it has started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if events_db.exists():
            with (
                contextlib.closing(sqlite3.connect(events_db, timeout=10)) as connection,
                contextlib.suppress(sqlite3.OperationalError),  # table not created yet
            ):
                row = connection.execute(
                    "SELECT token FROM failures WHERE token LIKE ?", (f"pid:{token}:%",)
                ).fetchone()
                if row:
                    return int(row[0].rsplit(":", 1)[1])
        time.sleep(0.05)
    pytest.fail("the handler never started")


@contextlib.contextmanager
def serving(app: App, workdir: Path) -> Iterator[Server]:
    """`app` under its server with a SQLite store and a short lease; stopped afterwards."""
    env = _environment(workdir, str(workdir / "idempotency.sqlite3"), "crash")
    env["WEBHOOK_KIT_LEASE"] = str(LEASE)
    server = Server(app, env, workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _resend_until_accepted(url: str, body: bytes, headers: dict[str, str]) -> list[int]:
    """Play the provider: resend until 200, and return every status seen."""
    statuses = []
    deadline = time.monotonic() + 30
    with httpx.Client(timeout=10) as client:
        while time.monotonic() < deadline:
            response = client.post(url, content=body, headers=headers)
            statuses.append(response.status_code)
            if response.status_code == 200:
                return statuses
            assert response.status_code == 409, response.text  # the dead worker's lease
            time.sleep(0.25)
    pytest.fail(f"never accepted: {statuses}")


def _crash_and_recover(server: Server, kill: bool) -> None:
    token = secrets.token_hex(8)
    marker, (body, headers) = marked("struktr", "document.completed", hang_once=token)
    url = f"{server.url}/webhooks/struktr"
    outcome: list[object] = []

    def first_attempt() -> None:
        try:
            outcome.append(httpx.post(url, content=body, headers=headers, timeout=30).status_code)
        except httpx.TransportError as error:  # the connection died with the worker
            outcome.append(error)

    attempt = threading.Thread(target=first_attempt)
    attempt.start()
    pid = _worker_pid(server.workdir / "events.sqlite3", token)
    if kill:
        os.kill(pid, signal.SIGKILL)
    attempt.join(timeout=30)
    assert not attempt.is_alive(), "the first attempt never returned"
    assert outcome, "the first attempt left no outcome"
    assert outcome[0] != 200, outcome  # never acknowledged
    if kill and server.process is not None and pid == server.process.pid:
        # The server ran in one process (aiohttp's runner), with no master to replace it: its
        # process manager (systemd, the container runtime) starts it again, on a new port here.
        server.stop()
        server.start()
        url = f"{server.url}/webhooks/struktr"
    statuses = _resend_until_accepted(url, body, headers)
    events_db = server.workdir / "events.sqlite3"
    assert sum(recorded(events_db, marker).values()) == 1, statuses
    with httpx.Client(timeout=10) as client:
        assert client.post(url, content=body, headers=headers).json() == {"status": "duplicate"}
    assert sum(recorded(events_db, marker).values()) == 1


@pytest.mark.parametrize("app", list(APPS))
def test_worker_killed_mid_handler_is_processed_once_by_the_retry(app: str, tmp_path: Path) -> None:
    """SIGKILL the worker inside the handler: no 200, then after the lease the retry runs once."""
    with serving(APPS[app], tmp_path) as server:
        _crash_and_recover(server, kill=True)


def test_handler_past_the_worker_timeout_is_processed_once_by_the_retry(tmp_path: Path) -> None:
    """gunicorn kills a worker whose handler outlives --timeout; the retry then runs it once."""
    app = APPS["flask"]
    timed = App(
        "flask-timeout",
        app.workers,
        _gunicorn("examples.flask_app:app", "--timeout", "2"),
        app.needs,
    )
    with serving(timed, tmp_path) as server:
        _crash_and_recover(server, kill=False)
