"""Failover: a Redis Cluster master SIGKILLed mid-run loses no delivery and doubles none.

Several "hosts" (threads, each with its own cluster client, store and `Receiver`) receive signed
struktr deliveries, claimed under their id and body digest (the multi-key Lua scripts), and
retry each one as a provider would until it is answered 200. Mid-run the master that serves the
store's hash slot is SIGKILLed; its replica is promoted (the scripts are not in its cache: the
client loads them again on NOSCRIPT) and the hosts go on. Every delivery must end in 200 with
its handler run; a handler may run twice only for a delivery whose `complete` could not reach
the store (answered 503, so the lease had to lapse before the retry ran it), and 503 answers
must fall within the failover.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from webhook_kit import Receiver, testing
from webhook_kit.idempotency.redis import AsyncRedisStore, RedisStore
from webhook_kit.receiver import Outcome

from .backends import async_cluster_client, cluster_client
from .cluster import running_cluster

SECRET = "struktr-failover-secret"
PREFIX = "wk-failover"
HOSTS = 4
PER_HOST = 50
#: Seconds a claim is exclusive: short, so a delivery whose complete failed is retried soon.
LEASE = 2.0
#: Seconds a handler takes: it widens the window between claim and complete that a kill can hit.
HANDLER_SECONDS = 0.005
#: The provider's pause between attempts at one delivery.
RETRY_PAUSE = 0.05
#: Seconds the whole run may take, failover included, before the test gives up.
RUN_LIMIT = 120.0
#: Seconds after the promotion in which a client may still be finding the new master.
SLACK = 1.0


@dataclass(frozen=True)
class Attempt:
    """One request of one delivery: when, what it answered, and whether the handler ran."""

    number: int
    started: float
    ended: float
    status: int
    answer: str
    ran: bool


class World:
    """What the hosts did: each delivery's handler runs, and every attempt's answer."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.runs: Counter[str] = Counter()
        self.attempts: list[Attempt] = []

    def handler(self, event: Any) -> None:
        """The application's handler: counts its runs per document id."""
        time.sleep(HANDLER_SECONDS)
        with self.lock:
            self.runs[event.data.id] += 1

    def processed(self) -> int:
        """How many deliveries have been answered 200 so far."""
        return sum(1 for attempt in list(self.attempts) if attempt.status == 200)


Post = Callable[[testing.Delivery], Outcome]


def _document(number: int) -> str:
    return f"doc_{number:04d}"


def _delivery(number: int) -> testing.Delivery:
    """A struktr delivery of its own document (so its own body digest) and id."""
    payload = testing.sample("struktr", "document.completed")
    payload["data"]["id"] = _document(number)
    return testing.signed_delivery("struktr", SECRET, payload, delivery_id=f"dlv_{number}")


def _open_host(mode: str, url: str, world: World) -> tuple[Post, Callable[[], None]]:
    """One host: its own cluster client, store and receiver; returns its post and close."""
    if mode == "sync":
        client = cluster_client(url)
        receiver = Receiver("struktr", secret=SECRET, store=RedisStore(client, prefix=PREFIX))
        receiver.lease = LEASE
        receiver.on_any(world.handler)
        return (lambda delivery: receiver.handle(delivery.body, delivery.headers)), client.close
    loop = asyncio.new_event_loop()
    aclient = async_cluster_client(url)
    areceiver = Receiver(
        "struktr", secret=SECRET, store=AsyncRedisStore(aclient, prefix=PREFIX), lease=LEASE
    )
    areceiver.on_any(world.handler)

    def post(delivery: testing.Delivery) -> Outcome:
        return loop.run_until_complete(areceiver.handle_async(delivery.body, delivery.headers))

    def close() -> None:
        loop.run_until_complete(aclient.aclose())
        loop.close()

    return post, close


def _deliver(post: Post, numbers: range, world: World, deadline: float) -> None:
    """Send each delivery, again and again as a provider does, until it is answered 200."""
    for number in numbers:
        delivery = _delivery(number)
        while True:
            before = world.runs[_document(number)]
            started = time.monotonic()
            outcome = post(delivery)
            answer = str(outcome.body.get("status") or outcome.body.get("error"))
            ran = world.runs[_document(number)] > before
            world.attempts.append(
                Attempt(number, started, time.monotonic(), outcome.status, answer, ran)
            )
            if outcome.status == 200:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"delivery {number} still answered {outcome.status}")
            time.sleep(RETRY_PAUSE)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_master_killed_mid_run_loses_and_doubles_nothing(mode: str, tmp_path: Path) -> None:
    """A master SIGKILLed mid-run: every delivery is processed, none twice unless answered 503.

    503 answers (the store unavailable: the provider retries) fall within the failover; after
    it, every delivery sent again is a duplicate, so no done marker was lost in the promotion.
    """
    with running_cluster(tmp_path) as cluster:
        victim = cluster.master_of(f"{{{PREFIX}}}")
        url = f"redis://127.0.0.1:{next(p for p in cluster.live_ports() if p != victim)}/0"
        world = World()
        hosts = [_open_host(mode, url, world) for _ in range(HOSTS)]
        errors: list[BaseException] = []
        deadline = time.monotonic() + RUN_LIMIT

        def work(post: Post, numbers: range) -> None:
            try:
                _deliver(post, numbers, world, deadline)
            except BaseException as exc:  # reported by the test thread
                errors.append(exc)

        threads = [
            threading.Thread(
                target=work, args=(post, range(host * PER_HOST, (host + 1) * PER_HOST))
            )
            for host, (post, _) in enumerate(hosts)
        ]
        try:
            for thread in threads:
                thread.start()
            while world.processed() < HOSTS * PER_HOST // 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            killed_at = time.monotonic()
            cluster.kill(victim)
            cluster.wait_for_failover(victim)
            healed_at = time.monotonic()
            for thread in threads:
                thread.join(timeout=max(1.0, deadline - time.monotonic()))
            assert not errors, errors
            assert not any(thread.is_alive() for thread in threads)
            runs_before = Counter(world.runs)
            redelivered = [hosts[0][0](_delivery(number)) for number in range(HOSTS * PER_HOST)]
        finally:
            for _, close in hosts:
                close()

    documents = [_document(number) for number in range(HOSTS * PER_HOST)]
    assert sorted(world.runs) == documents, "a delivery's handler never ran (lost)"
    by_number: dict[int, list[Attempt]] = {}
    for attempt in sorted(world.attempts, key=lambda attempt: attempt.started):
        by_number.setdefault(attempt.number, []).append(attempt)
    doubled = []
    for number, attempts in by_number.items():
        assert attempts[-1].status == 200, attempts
        assert all(a.status in (200, 409, 503) for a in attempts), attempts
        ran = [attempt for attempt in attempts if attempt.ran]
        assert len(ran) == world.runs[_document(number)]
        # Every run but the last was answered 503: its done marker could not be written, so
        # the provider had to retry, and the retry ran it once the lease lapsed.
        assert all(attempt.status == 503 for attempt in ran[:-1]), attempts
        if len(ran) > 1:
            doubled.append(number)
    unavailable = [attempt for attempt in world.attempts if attempt.status == 503]
    assert all(killed_at <= a.ended and a.started <= healed_at + SLACK for a in unavailable), (
        f"503 outside the failover ({killed_at:.2f} to {healed_at:.2f}): {unavailable}"
    )
    assert any(a.started > healed_at for a in world.attempts), "no delivery after the failover"
    assert any(a.ended < killed_at for a in world.attempts), "no delivery before the kill"
    assert [(o.status, o.body.get("status")) for o in redelivered] == [(200, "duplicate")] * len(
        documents
    ), "a done marker was lost in the failover"
    assert world.runs == runs_before
    assert len(doubled) <= len(unavailable)
