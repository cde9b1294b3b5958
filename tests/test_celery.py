"""Deferred processing end to end: a Flask app queues on a real broker, a real worker processes.

Each test starts its own Celery worker process (solo pool) with this module as its app
(``celery -A tests.test_celery:worker_app``), on its own queue: on RabbitMQ the queue expires
once unused, on Redis every key is prefixed with the queue's name, so the shared servers keep no
trace and no other test's messages are seen. The worker's handler records each event in a SQLite
file (``examples/common.py``), where the tests count them.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import flask
import pytest
import redis
from celery import Celery
from examples.common import DEV_SECRETS, make_store, record
from examples.deferred_app import make_app, make_celery, make_receivers
from kombu import Exchange, Queue

from tests.brokers import SilentServer, answered_within
from webhook_kit import SQLiteStore, providers, replay, testing
from webhook_kit.celery import CeleryDefer
from webhook_kit.deadletters import SQLiteDeadLetters

ROOT = Path(__file__).resolve().parent.parent

#: Seconds before Redis hands an unacknowledged message (its worker was killed) to another worker.
VISIBILITY_TIMEOUT = 4
MAX_ATTEMPTS = 3
_EXCHANGE = Exchange("webhook-kit-tests", type="direct", durable=False)


def isolated_celery(broker_url: str, queue: str) -> Celery:
    """The example's Celery app on `broker_url`, publishing to and consuming `queue` only."""
    app = make_celery(broker_url, queue=queue)
    app.conf.task_queues = [
        Queue(queue, _EXCHANGE, routing_key=queue, queue_arguments={"x-expires": 300_000})
    ]
    app.conf.task_default_exchange = _EXCHANGE.name
    app.conf.task_default_routing_key = queue
    app.conf.broker_transport_options = {
        **app.conf.broker_transport_options,
        "global_keyprefix": f"{queue}:",
        "visibility_timeout": VISIBILITY_TIMEOUT,
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }
    return app


# The worker process's side: its app is built from the environment the test gives it.


def _note(table: str, provider: str) -> None:
    path = os.environ["WEBHOOK_KIT_EVENTS_DB"]
    with sqlite3.connect(path, timeout=30, isolation_level=None) as connection:
        connection.execute(f"CREATE TABLE IF NOT EXISTS {table} (provider TEXT)")
        connection.execute(f"INSERT INTO {table} VALUES (?)", (provider,))  # noqa: S608
    connection.close()


def worker_handler(provider: str, event: Any) -> None:
    """Count the call and record the event; fail (``WEBHOOK_KIT_TEST_BROKEN=1``) or sleep first."""
    _note("calls", provider)
    if os.environ.get("WEBHOOK_KIT_TEST_BROKEN") == "1":
        raise RuntimeError("the handler is broken")
    sleep = float(os.environ.get("WEBHOOK_KIT_TEST_SLEEP", "0"))
    if sleep:
        _note("started", provider)
        time.sleep(sleep)
    record(provider, event)


@functools.cache
def _worker_app() -> Celery:
    app = isolated_celery(os.environ["WEBHOOK_KIT_BROKER_URL"], os.environ["WEBHOOK_KIT_QUEUE"])
    defer = CeleryDefer(
        app,
        dead_letters=SQLiteDeadLetters(os.environ["WEBHOOK_KIT_DEAD_LETTERS"]),
        max_attempts=MAX_ATTEMPTS,
        first_retry=0.2,
        max_retry=1.0,
    )
    make_receivers(defer, make_store(), handle=worker_handler, lease=2.0, retry_after=1)
    return app


def __getattr__(name: str) -> Any:
    if name == "worker_app":  # built on first use, in the worker process only
        return _worker_app()
    raise AttributeError(name)


# The test process's side.


@dataclass
class Deployment:
    """One queue on one broker, with the files the web app and its workers share."""

    broker_url: str
    tmp: Path
    queue: str = field(default_factory=lambda: f"wk-test-{uuid.uuid4().hex[:12]}")
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    #: The worker's Celery app, for ``celery -A``.
    worker_app: str = "tests.test_celery:worker_app"

    @property
    def events_db(self) -> Path:
        return self.tmp / "events.sqlite3"

    @property
    def dead_letters(self) -> SQLiteDeadLetters:
        return SQLiteDeadLetters(self.tmp / "dead-letters.sqlite3")

    def store(self) -> SQLiteStore:
        return SQLiteStore(self.tmp / "idempotency.sqlite3")

    def web(self) -> flask.testing.FlaskClient:
        """A test client of the example's Flask app, deferring to this queue."""
        defer = CeleryDefer(
            isolated_celery(self.broker_url, self.queue),
            dead_letters=self.dead_letters,
            publish_timeout=1.0,
            publish_retries=1,
        )
        return make_app(make_receivers(defer, self.store(), retry_after=5)).test_client()

    def start_worker(self, **env: str) -> subprocess.Popen[bytes]:
        """Start a Celery worker process on this queue (solo pool); stopped at teardown."""
        environment = {
            **os.environ,
            "WEBHOOK_KIT_BROKER_URL": self.broker_url,
            "WEBHOOK_KIT_QUEUE": self.queue,
            "WEBHOOK_KIT_STORE": str(self.tmp / "idempotency.sqlite3"),
            "WEBHOOK_KIT_EVENTS_DB": str(self.events_db),
            "WEBHOOK_KIT_DEAD_LETTERS": str(self.tmp / "dead-letters.sqlite3"),
            **env,
        }
        log_path = self.tmp / f"worker-{len(self.workers)}.log"
        with log_path.open("wb") as log:  # the worker writes to its own copy of the descriptor
            worker = subprocess.Popen(  # noqa: S603
                [
                    sys.executable,
                    *("-m", "celery", "-A", self.worker_app, "worker"),
                    *("--pool=solo", "--without-heartbeat", "--without-gossip", "--without-mingle"),
                    *("-Q", self.queue, "-n", f"{self.queue}-{len(self.workers)}@localhost"),
                    *("--loglevel", "INFO"),
                ],
                cwd=ROOT,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.workers.append(worker)
        return worker

    def count(self, table: str = "events") -> int:
        """Rows in one table of the handlers' database (0 before it exists)."""
        if not self.events_db.exists():
            return 0
        with sqlite3.connect(self.events_db, timeout=30) as connection:
            try:
                rows = connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()  # noqa: S608
            except sqlite3.OperationalError:  # not created yet
                return 0
        connection.close()
        return int(rows[0])

    def logs(self) -> str:
        """What the workers wrote so far."""
        return "\n".join(p.read_text() for p in sorted(self.tmp.glob("worker-*.log")))

    def wait_for(self, condition: Callable[[], bool], timeout: float = 30) -> None:
        """Poll `condition` until it holds; fail with the workers' logs after `timeout` s."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout} s; worker logs:\n{self.logs()[-6000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop every worker: a warm shutdown, then SIGKILL for any that does not exit soon."""
        for worker in self.workers:
            if worker.poll() is None:
                worker.terminate()
        for worker in self.workers:
            try:
                worker.wait(timeout=3)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(timeout=10)


@pytest.fixture(params=["redis", "rabbitmq"])
def broker_url(request: pytest.FixtureRequest) -> str:
    """Each real broker on loopback: Redis and RabbitMQ."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def deployment(broker_url: str, tmp_path: Path) -> Iterator[Deployment]:
    """A fresh queue on the broker, with its files; its workers are stopped afterwards."""
    deployment = Deployment(broker_url, tmp_path)
    yield deployment
    deployment.stop()


@pytest.fixture
def redis_deployment(redis_url: str, tmp_path: Path) -> Iterator[Deployment]:
    """A fresh queue on the shared Redis, with its files; its workers are stopped afterwards."""
    deployment = Deployment(redis_url, tmp_path)
    yield deployment
    deployment.stop()


def delivery(
    client: flask.testing.FlaskClient, name: str, event_type: str | None = None, **options: Any
) -> Callable[[], Any]:
    """A function that posts one signed delivery of `name`s first event (again) to the app."""
    secret = os.environ.get(f"{name.upper()}_WEBHOOK_SECRET") or DEV_SECRETS[name]
    event_type = event_type or next(iter(providers.get(name).event_types))
    body, headers = testing.signed_delivery(name, secret, event_type, **options)
    return lambda: client.post(f"/webhooks/{name}", data=body, headers=headers)


def test_deliveries_are_acknowledged_and_each_processed_once(deployment: Deployment) -> None:
    """Every delivery is answered 202; the worker runs each once, duplicates included."""
    client = deployment.web()
    posts = [delivery(client, name, delivery_id=f"d-{name}") for name in providers.PROVIDERS]
    replies = [send() for send in posts for _ in range(2)]  # each one, and the provider's retry
    assert {(r.status_code, r.get_json()["status"]) for r in replies} == {(202, "queued")}
    assert deployment.count() == 0  # acknowledged before any handler ran
    deployment.start_worker()
    # Another body: the same body under a new id would be a duplicate (a replay).
    sentinel = delivery(client, "struktr", "batch.progress", delivery_id="last")
    assert sentinel().status_code == 202
    deployment.wait_for(lambda: deployment.count() == len(posts) + 1)  # FIFO: all before it
    assert deployment.count("calls") == len(posts) + 1


def test_broker_down_is_503_and_the_retry_is_processed(tmp_path: Path) -> None:
    """With the broker down the answer is 503 and nothing is queued; the retry is processed."""
    with throwaway_redis(tmp_path) as (url, restart):
        deployment = Deployment(url, tmp_path)
        try:
            client = deployment.web()
            send = delivery(client, "pulse", delivery_id="msg-1")
            restart(down=True)
            started = time.monotonic()
            reply = send()
            assert (reply.status_code, reply.get_json()) == (503, {"error": "queue_unavailable"})
            assert reply.headers["Retry-After"] == "5"
            assert time.monotonic() - started < 5
            restart(down=False)
            assert redis.Redis.from_url(url).dbsize() == 0  # nothing was queued while down
            assert send().status_code == 202  # the provider's retry
            deployment.start_worker()
            deployment.wait_for(lambda: deployment.count() == 1)
            assert deployment.count("calls") == 1
        finally:
            deployment.stop()


def test_failing_handler_is_dead_lettered_then_replayed_once(
    redis_deployment: Deployment,
) -> None:
    """A handler that always fails is dead-lettered, its task failed; a replay runs it once."""
    deployment = redis_deployment
    client = deployment.web()
    assert delivery(client, "struktr", delivery_id="dlv-dead")().status_code == 202
    deployment.start_worker(WEBHOOK_KIT_TEST_BROKEN="1")
    failed = "raised unexpected: DeadLetteredError('webhook delivery struktr:dlv-dead "
    deployment.wait_for(lambda: failed in deployment.logs())
    [letter] = deployment.dead_letters.all()
    assert (letter.id, letter.reason, letter.attempts) == ("struktr:dlv-dead", "handler_failed", 3)
    assert letter.error == "RuntimeError: the handler is broken"
    assert {"x-struktr-signature", "x-struktr-delivery"} <= set(letter.headers)
    assert (deployment.count("calls"), deployment.count()) == (MAX_ATTEMPTS, 0)

    # The fix is deployed: replay through receivers whose handler works, on the same store.
    fixed = make_receivers(None, deployment.store(), handle=record)
    os.environ["WEBHOOK_KIT_EVENTS_DB"] = str(deployment.events_db)
    try:
        [result] = replay(fixed, deployment.dead_letters)
        again = replay(fixed, deployment.dead_letters)
    finally:
        del os.environ["WEBHOOK_KIT_EVENTS_DB"]
    assert (result.id, result.result, again) == ("struktr:dlv-dead", "processed", [])
    assert deployment.count() == 1
    assert deployment.dead_letters.all() == []


def test_worker_killed_mid_task_is_redelivered_and_processed_once(
    deployment: Deployment,
) -> None:
    """A worker SIGKILLed inside the handler: the message comes back and is processed once."""
    client = deployment.web()
    first = deployment.start_worker(WEBHOOK_KIT_TEST_SLEEP="60")
    assert delivery(client, "imggo", delivery_id=None)().status_code == 202
    deployment.wait_for(lambda: deployment.count("started") == 1)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    deployment.start_worker()
    deployment.wait_for(lambda: deployment.count() == 1, timeout=40)
    time.sleep(1.5)  # a second run, if any, would show up now
    assert (deployment.count(), deployment.count("calls")) == (1, 2)


def test_broker_silent_on_an_open_connection_is_503_within_the_bound(
    broker_url: str, tmp_path: Path
) -> None:
    """A broker that stops answering on the pooled connection: 503 within the bound, then 202."""
    with SilentServer(broker_url) as server:
        deployment = Deployment(server.via(broker_url), tmp_path)
        app = isolated_celery(deployment.broker_url, deployment.queue)
        app.conf.broker_transport_options = {  # without the example's socket timeouts
            k: v
            for k, v in app.conf.broker_transport_options.items()
            if not k.startswith("socket_")
        }
        app.conf.broker_connection_timeout = 60
        defer = CeleryDefer(
            app, dead_letters=deployment.dead_letters, publish_timeout=1, publish_retries=2
        )
        client = make_app(make_receivers(defer, deployment.store(), retry_after=5)).test_client()
        try:
            assert delivery(client, "pulse", delivery_id="before")().status_code == 202
            server.silence()
            reply, seconds = answered_within(15, delivery(client, "pulse", delivery_id="during"))
            assert (reply.status_code, reply.get_json()) == (503, {"error": "queue_unavailable"})
            assert reply.headers["Retry-After"] == "5"
            assert seconds < (1 + 2) * 1  # (publish_retries + 1) * publish_timeout
            server.speak()
            assert delivery(client, "pulse", delivery_id="after")().status_code == 202
        finally:
            if broker_url.startswith("redis"):  # RabbitMQ drops the queue once unused
                shared = redis.Redis.from_url(broker_url)
                keys = list(shared.scan_iter(f"{deployment.queue}:*"))
                if keys:
                    shared.delete(*keys)
                shared.close()


@contextlib.contextmanager
def throwaway_redis(tmp_path: Path) -> Iterator[tuple[str, Callable[..., None]]]:
    """A Redis server of our own on a free port, which `restart(down=...)` stops and starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", "--dir", str(tmp_path)]
    server: list[subprocess.Popen[bytes]] = []

    def restart(*, down: bool) -> None:
        if down:
            stopped = server.pop()
            stopped.terminate()
            stopped.wait(timeout=10)
            return
        server.append(subprocess.Popen(command, stdout=subprocess.DEVNULL))  # noqa: S603
        client = redis.Redis(port=port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()

    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    restart(down=False)
    try:
        yield f"redis://127.0.0.1:{port}/0", restart
    finally:
        for process in server:
            process.terminate()
            process.wait(timeout=10)
