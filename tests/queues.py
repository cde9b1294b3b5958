"""Deferred processing on real queues: one deployment per queue library and broker, for one test.

A `Deployment` is one queue on one broker, a Flask app publishing to it, and real worker
processes consuming it: ``celery -A tests.queues:celery_app worker``, ``rq worker -c
tests.rq_settings``, ``dramatiq tests.queues:dramatiq_broker``. Both sides build their `Defer`
with `make_defer`. Each deployment has a queue of its own, and leaves nothing on the shared
servers: on RabbitMQ, Celery's queue expires once unused and Dramatiq's queues are deleted; on
Redis, Celery's and Dramatiq's keys carry the queue's name as a prefix and RQ's jobs are deleted.
The workers' handler records each event in a SQLite file (``examples/common.py``), where the
tests count them.
"""

from __future__ import annotations

import contextlib
import functools
import os
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
from examples.common import make_store, record
from examples.deferred_app import make_app, make_celery, make_receivers

from tests.conftest import require_binary
from webhook_kit import SQLiteStore
from webhook_kit.deadletters import SQLiteDeadLetters
from webhook_kit.receiver import Defer

ROOT = Path(__file__).resolve().parent.parent

#: Each queue library with the brokers it runs on (RQ: Redis only).
QUEUES = [
    ("celery", "redis"),
    ("celery", "rabbitmq"),
    ("rq", "redis"),
    ("dramatiq", "redis"),
    ("dramatiq", "rabbitmq"),
]

#: Seconds before Redis hands a message its killed worker held to another worker (Celery).
VISIBILITY_TIMEOUT = 4
#: Milliseconds without a heartbeat before Dramatiq's Redis broker requeues a worker's messages.
HEARTBEAT_TIMEOUT = 4000
MAX_ATTEMPTS = 3


def make_defer(kind: str, broker_url: str, queue: str, **options: Any) -> Any:
    """A `Defer` of queue library `kind` on `broker_url`, publishing to `queue` only."""
    if kind == "celery":
        from webhook_kit.celery import CeleryDefer  # noqa: PLC0415 - each library when used

        return CeleryDefer(isolated_celery(broker_url, queue), **options)
    if kind == "rq":
        from rq import Queue  # noqa: PLC0415
        from rq.serializers import JSONSerializer  # noqa: PLC0415

        from webhook_kit.rq import RQDefer  # noqa: PLC0415

        connection = redis.Redis.from_url(broker_url)
        return RQDefer(Queue(queue, connection=connection, serializer=JSONSerializer), **options)
    from webhook_kit.dramatiq import DramatiqDefer  # noqa: PLC0415

    return DramatiqDefer(dramatiq_broker_for(broker_url, queue), queue=queue, **options)


def isolated_celery(broker_url: str, queue: str) -> Any:
    """The example's Celery app on `broker_url`, publishing to and consuming `queue` only."""
    from kombu import Exchange, Queue  # noqa: PLC0415

    exchange = Exchange("webhook-kit-tests", type="direct", durable=False)
    app = make_celery(broker_url, queue=queue)
    app.conf.task_queues = [
        Queue(queue, exchange, routing_key=queue, queue_arguments={"x-expires": 300_000})
    ]
    app.conf.task_default_exchange = exchange.name
    app.conf.task_default_routing_key = queue
    app.conf.broker_transport_options = {
        **app.conf.broker_transport_options,
        "global_keyprefix": f"{queue}:",
        "visibility_timeout": VISIBILITY_TIMEOUT,
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }
    return app


def dramatiq_broker_for(broker_url: str, queue: str) -> Any:
    """A Dramatiq broker on `broker_url`: RabbitMQ with confirms, or Redis under `queue`'s name."""
    if broker_url.startswith("redis"):
        from dramatiq.brokers.redis import RedisBroker  # noqa: PLC0415

        return RedisBroker(
            url=broker_url,
            namespace=queue,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            maintenance_chance=1_000_000,  # every command looks for dead workers' messages
        )
    from dramatiq.brokers.rabbitmq import RabbitmqBroker  # noqa: PLC0415

    return RabbitmqBroker(url=pika_url(broker_url), confirm_delivery=True)


def pika_url(url: str) -> str:
    """`url` as pika reads it: kombu's ``amqp://...//`` (vhost ``/``) is pika's ``/%2F``."""
    return url[:-2] + "/%2F" if url.endswith("//") else url


# The worker process's side: its defer is built from the environment the test gives it.


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
def worker_defer() -> Any:
    """The worker's `Defer`, with receivers whose handler is `worker_handler`."""
    defer = make_defer(
        os.environ["WEBHOOK_KIT_QUEUE_KIND"],
        os.environ["WEBHOOK_KIT_BROKER_URL"],
        os.environ["WEBHOOK_KIT_QUEUE"],
        dead_letters=SQLiteDeadLetters(os.environ["WEBHOOK_KIT_DEAD_LETTERS"]),
        max_attempts=MAX_ATTEMPTS,
        first_retry=0.2,
        max_retry=1.0,
    )
    make_receivers(defer, make_store(), handle=worker_handler, lease=2.0, retry_after=1)
    return defer


def __getattr__(name: str) -> Any:
    if name == "celery_app":  # built on first use, in the worker process only
        return worker_defer().app
    if name == "dramatiq_broker":
        return worker_defer().broker
    raise AttributeError(name)


# The test process's side.


@dataclass
class Deployment:
    """One queue on one broker, with the files the web app and its workers share."""

    kind: str
    broker_url: str
    tmp: Path
    queue: str = field(default_factory=lambda: f"wk-test-{uuid.uuid4().hex[:12]}")
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    defers: list[Any] = field(default_factory=list)
    #: The Celery app its workers run (``celery -A``), for a test with a worker app of its own.
    celery_app: str = "tests.queues:celery_app"

    @property
    def events_db(self) -> Path:
        return self.tmp / "events.sqlite3"

    @property
    def dead_letters(self) -> SQLiteDeadLetters:
        return SQLiteDeadLetters(self.tmp / "dead-letters.sqlite3")

    def store(self) -> SQLiteStore:
        return SQLiteStore(self.tmp / "idempotency.sqlite3")

    def defer(self, broker_url: str | None = None, **options: Any) -> Any:
        """The web side's `Defer` on this queue (on `broker_url`, if another way to the broker)."""
        options = {"publish_timeout": 1.0, "publish_retries": 1, **options}
        defer = make_defer(
            self.kind,
            broker_url or self.broker_url,
            self.queue,
            dead_letters=self.dead_letters,
            **options,
        )
        self.defers.append(defer)
        return defer

    def web(self, defer: Defer | None = None) -> flask.testing.FlaskClient:
        """A test client of the example's Flask app, deferring to this queue."""
        receivers = make_receivers(defer or self.defer(), self.store(), retry_after=5)
        return make_app(receivers).test_client()

    def start_worker(self, **env: str) -> subprocess.Popen[bytes]:
        """Start a worker process (one at a time) on this queue; stopped at teardown."""
        environment = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                [str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")]
            ),
            "WEBHOOK_KIT_QUEUE_KIND": self.kind,
            "WEBHOOK_KIT_BROKER_URL": self.broker_url,
            "WEBHOOK_KIT_QUEUE": self.queue,
            "WEBHOOK_KIT_STORE": str(self.tmp / "idempotency.sqlite3"),
            "WEBHOOK_KIT_EVENTS_DB": str(self.events_db),
            "WEBHOOK_KIT_DEAD_LETTERS": str(self.tmp / "dead-letters.sqlite3"),
            **env,
        }
        name = f"{self.queue}-{len(self.workers)}"
        log_path = self.tmp / f"worker-{len(self.workers)}.log"
        with log_path.open("wb") as log:  # the worker writes to its own copy of the descriptor
            worker = subprocess.Popen(  # noqa: S603
                worker_command(self.kind, self.broker_url, self.queue, name, self.celery_app),
                cwd=ROOT,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: the worker and its children
            )
        self.workers.append(worker)
        return worker

    def kill(self, worker: subprocess.Popen[bytes]) -> None:
        """SIGKILL a worker with every process it started (RQ's work horse, Dramatiq's workers).

        RQ's work horse leaves the worker's process group (``setsid``): the whole tree is
        found through each process's parent.
        """
        for pid in [worker.pid, *descendants(worker.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        worker.wait(timeout=10)

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
        """Stop every worker: a warm shutdown, then SIGKILL for any group that does not exit."""
        strays = [pid for worker in self.workers for pid in descendants(worker.pid)]
        for worker in self.workers:
            if worker.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(worker.pid, signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(timeout=10)
            with contextlib.suppress(ProcessLookupError):  # what the group left running
                os.killpg(worker.pid, signal.SIGKILL)
        for pid in strays:  # and what left the group (RQ's work horse)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def clean(self) -> None:
        """Close the web side's connections; remove what this queue left on the shared broker."""
        for defer in self.defers:
            close_defer(defer)
        clean_queue(self.kind, self.broker_url, self.queue)


def descendants(pid: int) -> list[int]:
    """The processes below `pid` (children, their children, ...), from ``/proc``."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # gone meanwhile
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def worker_command(
    kind: str, broker_url: str, queue: str, name: str, celery_app: str = "tests.queues:celery_app"
) -> list[str]:
    """The command line of one worker of `kind` on `queue`, as its documentation runs it."""
    if kind == "celery":
        return [
            sys.executable,
            *("-m", "celery", "-A", celery_app, "worker"),
            *("--pool=solo", "--without-heartbeat", "--without-gossip", "--without-mingle"),
            *("-Q", queue, "-n", f"{name}@localhost", "--loglevel", "INFO"),
        ]
    if kind == "rq":
        return [
            sys.executable,
            *("-m", "rq.cli", "worker", "-c", "tests.rq_settings", "-S", "json"),
            *("--with-scheduler", "-u", broker_url, "-n", name),
            # A killed worker's job is noticed within about 60 + 1 s (RQ's heartbeat margin
            # plus --job-monitoring-interval), and the registries are cleaned every second.
            *("--job-monitoring-interval", "1", "--maintenance-interval", "1"),
            *("--worker-ttl", "16", queue),  # an idle worker looks again every 1 s
        ]
    return [
        sys.executable,
        *("-m", "dramatiq", "tests.queues:dramatiq_broker"),
        *("--processes", "1", "--threads", "1", "--worker-shutdown-timeout", "2000"),
    ]


def close_defer(defer: Any) -> None:
    """Close the connections `defer` opened to publish (they would warn when collected)."""
    if hasattr(defer, "close"):  # DramatiqDefer
        defer.close()
    elif hasattr(defer, "_publisher"):  # RQDefer
        defer._publisher.connection.close()
        defer.queue.connection.close()


def clean_queue(kind: str, broker_url: str, queue: str) -> None:
    """Delete `queue`'s keys or queues from the shared broker, as far as they can be found."""
    if broker_url.startswith("redis"):
        client = redis.Redis.from_url(broker_url)
        try:
            keys = list(client.scan_iter(f"{queue}:*"))  # Celery's and Dramatiq's prefix
            keys += list(client.scan_iter(f"rq:*:{queue}"))  # RQ's queue and registries
            if kind == "rq":
                keys += _rq_jobs(client, queue)
                workers = list(client.scan_iter(f"rq:worker:{queue}-*"))  # killed ones stay
                keys += workers
                client.srem("rq:queues", f"rq:queue:{queue}")
                if workers:
                    client.srem("rq:workers", *workers)
            if keys:
                client.delete(*keys)
        finally:
            client.close()
    elif kind == "dramatiq":
        import pika  # noqa: PLC0415

        connection = pika.BlockingConnection(pika.URLParameters(pika_url(broker_url)))
        try:
            channel = connection.channel()
            for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
                channel.queue_delete(name)
        finally:
            connection.close()


def _rq_jobs(client: redis.Redis, queue: str) -> list[bytes]:
    """The keys of the jobs of RQ's `queue` (their hashes and executions)."""
    found = []
    for key in client.scan_iter("rq:job:*"):
        job = key.decode().split(":")[2]
        if client.type(key) == b"hash" and client.hget(key, "origin") == queue.encode():
            found += list(client.scan_iter(f"rq:*{job}*"))
    return found


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

    require_binary("redis-server")
    restart(down=False)
    try:
        yield f"redis://127.0.0.1:{port}/0", restart
    finally:
        for process in server:
            process.terminate()
            process.wait(timeout=10)
