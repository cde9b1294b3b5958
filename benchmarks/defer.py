"""Time to acknowledge: deferred to Celery, RQ or Dramatiq vs inline, for a handler of 200 ms.

Run with ``.venv/bin/python -m benchmarks.defer`` (about a minute; needs the Redis of
``tests/conftest.py``, override with ``WEBHOOK_KIT_REDIS_URL``; ``--broker redis rabbitmq`` adds
RabbitMQ, ``WEBHOOK_KIT_RABBITMQ_URL``; ``--queue celery rq dramatiq`` chooses the queue libraries,
Celery alone by default, each on every broker it supports: RQ on Redis only). It starts the example
Flask app (``examples/deferred_app.py``) under gunicorn on loopback, deployed as on a 2-core
machine: 4 worker processes of 8 threads (``--workers``, ``--threads``). Two processes per core keep
both cores busy while one process waits for its GIL; the threads cover the waits on the broker (and,
inline, the 200 ms handler: 32 threads serve 16 clients without queueing). One server per mode:
inline, then deferred on each queue and broker. Against each, for every ``--concurrency`` level, as
many client threads as the level, each on its own keep-alive connection, send signed struktr
deliveries back to back, until ``--requests`` in all or ``--seconds``, whichever comes first, and
the p50 and p99 of the time from sending a request to reading its answer are printed, with the ratio
of deferred to inline.

- inline: the receiver runs the handler in the request, so the answer waits for it;
- defer: the receiver publishes to the queue (`CeleryDefer`, `RQDefer`, `DramatiqDefer`) and
  answers 202 once the broker accepted it (on RabbitMQ with publisher confirms). No worker runs:
  the queue is deleted afterwards.

Each level also prints the throughput (acknowledgements per second): a queue saturates where more
clients no longer bring more throughput, only longer waits. The target is a deferred p99 under
20 ms at 4 clients, on every queue and broker.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import flask
import redis
from celery import Celery
from examples.common import DEV_SECRETS
from examples.deferred_app import make_app, make_celery, make_receivers
from kombu import Exchange, Queue

from webhook_kit import SQLiteStore, testing
from webhook_kit.celery import CeleryDefer
from webhook_kit.deadletters import SQLiteDeadLetters
from webhook_kit.receiver import Defer

BROKERS = {
    "redis": os.environ.get("WEBHOOK_KIT_REDIS_URL", "redis://127.0.0.1:6379/0"),
    "rabbitmq": os.environ.get("WEBHOOK_KIT_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//"),
}
#: The queue libraries, with the brokers each runs on.
QUEUES = {"celery": ["redis", "rabbitmq"], "rq": ["redis"], "dramatiq": ["redis", "rabbitmq"]}
ROOT = Path(__file__).resolve().parent.parent
PATH = "/webhooks/struktr"

Delivery = tuple[bytes, dict[str, str]]


def slow_handler(provider: str, event: object) -> None:  # noqa: ARG001
    """A handler that takes 200 ms, like a call to a slow API."""
    time.sleep(0.2)


def _celery(broker: str, queue: str) -> Celery:
    """The example's Celery app on `broker`, on a queue of its own that leaves no trace."""
    celery = make_celery(BROKERS[broker], queue=queue)
    if broker == "redis":  # every key under the queue's prefix, deleted afterwards
        celery.conf.broker_transport_options = {
            **celery.conf.broker_transport_options,
            "global_keyprefix": f"{queue}:",
        }
    else:  # a durable queue, as deployed, which RabbitMQ drops a minute after its last use
        celery.conf.task_queues = [
            Queue(queue, Exchange(queue), routing_key=queue, queue_arguments={"x-expires": 60_000})
        ]
    return celery


def _pika_url(url: str) -> str:
    """kombu's ``amqp://...//`` (vhost ``/``) as pika spells it, ``/%2F``."""
    return url[:-2] + "/%2F" if url.endswith("//") else url


def _defer(kind: str, broker: str, queue: str, dead_letters: SQLiteDeadLetters) -> Defer:
    """The `Defer` of queue library `kind` on `broker`, on `queue`."""
    if kind == "celery":
        return CeleryDefer(_celery(broker, queue), dead_letters=dead_letters)
    if kind == "rq":
        from rq import Queue as RQQueue
        from rq.serializers import JSONSerializer

        from webhook_kit.rq import RQDefer

        connection = redis.Redis.from_url(BROKERS[broker])
        rq_queue = RQQueue(queue, connection=connection, serializer=JSONSerializer)
        return RQDefer(rq_queue, dead_letters=dead_letters)
    from webhook_kit.dramatiq import DramatiqDefer

    if broker == "redis":
        from dramatiq.brokers.redis import RedisBroker

        dramatiq_broker: object = RedisBroker(url=BROKERS[broker], namespace=queue)
    else:
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        dramatiq_broker = RabbitmqBroker(url=_pika_url(BROKERS[broker]), confirm_delivery=True)
    return DramatiqDefer(dramatiq_broker, queue=queue, dead_letters=dead_letters)  # type: ignore[arg-type]


def create() -> flask.Flask:
    """The app gunicorn serves, configured by the environment the benchmark sets."""
    folder = Path(os.environ["BENCH_DIR"])
    store = SQLiteStore(folder / "idempotency.sqlite3")
    defer = None
    mode = os.environ["BENCH_MODE"]
    if mode != "inline":
        kind, broker = mode.split("/")
        dead_letters = SQLiteDeadLetters(folder / "dead.sqlite3")
        defer = _defer(kind, broker, os.environ["BENCH_QUEUE"], dead_letters)
    return make_app(make_receivers(defer, store, handle=slow_handler))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(mode: str, args: argparse.Namespace) -> Iterator[int]:
    """Gunicorn serving `create()` for `mode` (``queue/broker``; "inline": no defer)."""
    port, queue = _free_port(), f"wk-bench-{uuid.uuid4().hex[:12]}"
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "BENCH_MODE": mode, "BENCH_DIR": folder, "BENCH_QUEUE": queue}
        process = subprocess.Popen(  # noqa: S603 - our own command line
            [
                sys.executable,
                *("-m", "gunicorn", "-k", "gthread"),
                *("--workers", str(args.workers), "--threads", str(args.threads)),
                *("-b", f"127.0.0.1:{port}", "--log-level", "warning"),
                "benchmarks.defer:create()",
            ],
            cwd=ROOT,
            env=env,
        )
        try:
            _wait_until_up(port)
            yield port
        finally:
            process.terminate()
            process.wait(timeout=20)
            _drop_queue(mode, queue)


def _drop_queue(mode: str, queue: str) -> None:
    """Delete what the run queued: no worker ever runs it."""
    kind, _, broker = mode.partition("/")
    if broker == "redis":
        client = redis.Redis.from_url(BROKERS[broker])
        for key in client.scan_iter(f"{queue}:*"):  # Celery's and Dramatiq's prefix
            client.delete(key)
        if kind == "rq":
            for job in client.lrange(f"rq:queue:{queue}", 0, -1):
                client.delete(f"rq:job:{job.decode()}")
            for key in client.scan_iter(f"rq:*:{queue}"):
                client.delete(key)
            client.srem("rq:queues", f"rq:queue:{queue}")
        client.close()
    elif kind == "dramatiq":
        import pika

        connection = pika.BlockingConnection(pika.URLParameters(_pika_url(BROKERS[broker])))
        for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
            connection.channel().queue_delete(name)
        connection.close()
    elif broker == "rabbitmq":
        celery = _celery(broker, queue)
        with celery.connection_for_write() as connection:
            channel = connection.default_channel
            channel.queue_delete(queue)
            channel.exchange_delete(queue)


def _wait_until_up(port: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def signed(count: int) -> list[Delivery]:
    """`count` distinct signed struktr deliveries (distinct bodies: a receiver knows a struktr
    delivery by its body too, so one sample sent twice is a duplicate)."""
    secret = os.environ.get("STRUKTR_WEBHOOK_SECRET") or DEV_SECRETS["struktr"]
    run = uuid.uuid4().hex[:8]
    deliveries = []
    for index in range(count):
        payload = testing.sample("struktr", "batch.progress")
        payload["data"]["batch_id"] = f"batch_{run}_{index}"
        deliveries.append(testing.signed_delivery("struktr", secret, payload))
    return deliveries


def load(port: int, concurrency: int, requests: int, seconds: float) -> tuple[list[float], float]:
    """`concurrency` clients sending back to back; each answer's latency in ms, and the
    seconds the measured part took."""
    deliveries = iter(signed(requests + 3 * concurrency))
    lock = threading.Lock()
    latencies: list[float] = []
    start = threading.Barrier(concurrency)

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            for _ in range(2):  # warm up: the connection, and its server process
                with lock:
                    body, headers = next(deliveries)
                _post(connection, body, headers)
            start.wait()
            deadline = time.perf_counter() + seconds
            while time.perf_counter() < deadline:
                with lock:
                    if len(latencies) >= requests:
                        return
                    body, headers = next(deliveries)
                started = time.perf_counter()
                _post(connection, body, headers)
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    latencies.append(elapsed)
        finally:
            connection.close()

    began = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(client) for _ in range(concurrency)]:
            future.result()
    return latencies, time.perf_counter() - began


def _post(connection: http.client.HTTPConnection, body: bytes, headers: dict[str, str]) -> None:
    connection.request("POST", PATH, body=body, headers=headers)
    reply = connection.getresponse()
    text = reply.read()
    assert reply.status in (200, 202), text


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--requests", type=int, default=400, help="at most, per level")
    parser.add_argument("--seconds", type=float, default=8.0, help="at most, per level")
    parser.add_argument("--broker", nargs="+", choices=sorted(BROKERS), default=["redis"])
    parser.add_argument("--queue", nargs="+", choices=sorted(QUEUES), default=["celery"])
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker process")
    args = parser.parse_args()
    deferred = [
        f"{kind}/{broker}"
        for kind in args.queue
        for broker in args.broker
        if broker in QUEUES[kind]
    ]
    modes = ["inline", *deferred]
    results: dict[tuple[str, int], tuple[list[float], float]] = {}
    for mode in modes:
        with server(mode, args) as port:
            load(port, 2 * args.workers, 0, 0)  # warm up every server process
            for concurrency in args.concurrency:
                results[mode, concurrency] = load(port, concurrency, args.requests, args.seconds)
    print(
        f"gunicorn gthread, {args.workers} processes x {args.threads} threads; handler sleeps "
        f"200 ms; at most {args.requests} deliveries or {args.seconds:g} s per level; ms, and "
        "acknowledgements per second"
    )
    header = ["mode", "clients", "n", "p50", "p99", "per s", "p50 ratio", "p99 ratio"]
    print("| " + " | ".join(header) + " |")
    print("| --- | " + " | ".join(["---:"] * (len(header) - 1)) + " |")
    for mode in modes:
        for concurrency in args.concurrency:
            inline = results["inline", concurrency][0]
            base50, base99 = percentile(inline, 50), percentile(inline, 99)
            latencies, seconds = results[mode, concurrency]
            p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
            row = [mode, str(concurrency), str(len(latencies)), f"{p50:.1f}", f"{p99:.1f}"]
            row += [f"{len(latencies) / seconds:.0f}", f"{p50 / base50:.3f}", f"{p99 / base99:.3f}"]
            print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
