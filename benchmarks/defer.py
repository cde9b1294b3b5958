"""Time to acknowledge: deferred to Celery vs inline, for a handler that sleeps 200 ms.

Run with ``.venv/bin/python -m benchmarks.defer`` (about 30 s; needs the Redis of
``tests/conftest.py``, override with ``WEBHOOK_KIT_REDIS_URL``). For each mode it starts the
example Flask app (``examples/deferred_app.py``) under gunicorn on loopback (one process, 32
threads), sends `--requests` signed struktr deliveries from `--concurrency` client threads, and
prints the p50 and p99 of the time from sending a request to reading its answer.

- inline: the receiver runs the handler in the request, so the answer waits for it;
- defer: the receiver publishes to Celery (Redis broker) and answers 202 once it is accepted. No
  worker runs during the measurement: the queue is deleted afterwards.

The target is a deferred p99 under 20 ms.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import flask
import httpx
import redis
from examples.common import DEV_SECRETS
from examples.deferred_app import make_app, make_celery, make_receivers

from webhook_kit import SQLiteStore, testing
from webhook_kit.celery import CeleryDefer
from webhook_kit.deadletters import SQLiteDeadLetters

REDIS_URL = os.environ.get("WEBHOOK_KIT_REDIS_URL", "redis://127.0.0.1:6379/0")
ROOT = Path(__file__).resolve().parent.parent


def slow_handler(provider: str, event: Any) -> None:  # noqa: ARG001
    """A handler that takes 200 ms, like a call to a slow API."""
    time.sleep(0.2)


def create() -> flask.Flask:
    """The app gunicorn serves, configured by the environment the benchmark sets."""
    folder = Path(os.environ["BENCH_DIR"])
    store = SQLiteStore(folder / "idempotency.sqlite3")
    defer = None
    if os.environ["BENCH_MODE"] == "defer":
        queue = os.environ["BENCH_QUEUE"]
        celery = make_celery(REDIS_URL, queue=queue)
        celery.conf.broker_transport_options = {
            **celery.conf.broker_transport_options,
            "global_keyprefix": f"{queue}:",
        }
        defer = CeleryDefer(celery, dead_letters=SQLiteDeadLetters(folder / "dead.sqlite3"))
    return make_app(make_receivers(defer, store, handle=slow_handler))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def measure(mode: str, requests: int, concurrency: int) -> list[float]:
    """Start the server in `mode`, send the deliveries, return each one's latency in ms."""
    port, queue = free_port(), f"wk-bench-{uuid.uuid4().hex[:12]}"
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "BENCH_MODE": mode, "BENCH_DIR": folder, "BENCH_QUEUE": queue}
        server = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                *("-m", "gunicorn", "-k", "gthread", "--threads", "32", "-w", "1"),
                *("-b", f"127.0.0.1:{port}", "--log-level", "warning"),
                "benchmarks.defer:create()",
            ],
            cwd=ROOT,
            env=env,
        )
        try:
            url = f"http://127.0.0.1:{port}/webhooks/struktr"
            _wait_until_up(port)
            deliveries = [
                testing.signed_delivery("struktr", DEV_SECRETS["struktr"], "batch.progress")
                for _ in range(requests + concurrency)
            ]
            with httpx.Client(limits=httpx.Limits(max_connections=concurrency)) as client:

                def send(delivery: tuple[bytes, dict[str, str]]) -> float:
                    started = time.perf_counter()
                    reply = client.post(url, content=delivery[0], headers=delivery[1])
                    elapsed = (time.perf_counter() - started) * 1000
                    assert reply.status_code in (200, 202), reply.text
                    return elapsed

                with ThreadPoolExecutor(concurrency) as pool:
                    list(pool.map(send, deliveries[:concurrency]))  # warm up the connections
                    return list(pool.map(send, deliveries[concurrency:]))
        finally:
            server.terminate()
            server.wait(timeout=10)
            if mode == "defer":  # drop the queued messages: no worker ever runs them
                client = redis.Redis.from_url(REDIS_URL)
                for key in client.scan_iter(f"{queue}:*"):
                    client.delete(key)
                client.close()


def _wait_until_up(port: int) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    results = {mode: measure(mode, args.requests, args.concurrency) for mode in ("inline", "defer")}
    print(f"{args.requests} deliveries, {args.concurrency} concurrent, handler sleeps 200 ms")
    print("| mode | p50 ms | p99 ms |")
    print("| --- | ---: | ---: |")
    for mode, latencies in results.items():
        p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
        print(f"| {mode} | {p50:.1f} | {p99:.1f} |")


if __name__ == "__main__":
    main()
