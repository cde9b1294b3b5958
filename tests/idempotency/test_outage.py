"""Outage: a store that cannot answer raises `StoreUnavailableError` within its bound.

A refused connection (a closed port) must fail fast; a hung server (a port that accepts and
never answers) must fail once `timeout` has passed, never report acquired or done.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
import redis.asyncio
import sqlalchemy as sa

from webhook_kit.errors import StoreUnavailableError, WebhookError
from webhook_kit.idempotency import Claim, ClaimState, IdempotencyStore, SQLiteStore, store_key
from webhook_kit.idempotency.redis import AsyncRedisStore, RedisStore
from webhook_kit.idempotency.sql import SQLStore

from .backends import (
    CLUSTER_CLIENT_OPTIONS,
    CLUSTER_RETRIES,
    BlockingView,
    Spec,
    async_cluster_client,
    close_store,
    cluster_client,
    open_store,
    sqlalchemy_url,
)
from .cluster import Cluster, running_cluster

KEY = store_key("struktr", "evt_outage")
#: An acquired claim, as if made before the outage, to complete and release during it.
HELD = Claim(KEY, ClaimState.ACQUIRED, "0" * 32)
BODY = store_key("struktr", "sha256:" + "0e" * 32)
OTHER_BODY = store_key("struktr", "sha256:" + "0d" * 32)
SLACK = 0.75  # scheduling, process start-up of the client, one refused retry

OPERATIONS: dict[str, Callable[[IdempotencyStore], object]] = {
    "claim": lambda store: store.claim(KEY),
    "complete": lambda store: store.complete(HELD),
    "release": lambda store: store.release(HELD),
}


def _assert_unavailable_within(bound: float, operation: Callable[[], object]) -> None:
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError) as caught:
        operation()
    elapsed = time.monotonic() - started
    assert elapsed < bound + SLACK, f"took {elapsed:.2f} s, bound {bound} s"
    assert caught.value.status_code == 503
    assert isinstance(caught.value, WebhookError)
    assert "did not answer within" in caught.value.message


def _sql_url(scheme: str, port: int) -> str:
    if scheme == "postgresql":
        return f"postgresql+psycopg://postgres@127.0.0.1:{port}/test"
    return f"mysql+pymysql://root@127.0.0.1:{port}/test"


@pytest.mark.parametrize("operation", OPERATIONS)
def test_redis_refusing_raises_at_once(closed_port: int, operation: str) -> None:
    """Redis on a closed port: every operation raises `StoreUnavailableError` within the bound."""
    with RedisStore(f"redis://127.0.0.1:{closed_port}/0", timeout=1.0) as store:
        _assert_unavailable_within(1.0, lambda: OPERATIONS[operation](store))


def test_redis_hung_raises_after_timeout(silent_port: int) -> None:
    """A Redis that accepts and never answers raises once `timeout` has passed."""
    with RedisStore(f"redis://127.0.0.1:{silent_port}/0", timeout=0.6) as store:
        _assert_unavailable_within(0.6, lambda: store.claim(KEY))


@pytest.mark.parametrize("port_fixture", ["closed_port", "silent_port"])
def test_async_redis_unreachable_raises_within_timeout(
    request: pytest.FixtureRequest, port_fixture: str
) -> None:
    """`AsyncRedisStore` on a refusing or hung port raises within `timeout`."""
    port = request.getfixturevalue(port_fixture)

    async def main() -> None:
        async with AsyncRedisStore(f"redis://127.0.0.1:{port}/0", timeout=0.6) as store:
            started = time.monotonic()
            with pytest.raises(StoreUnavailableError):
                await store.claim(KEY)
            assert time.monotonic() - started < 0.6 + SLACK

    asyncio.run(main())


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
@pytest.mark.parametrize("operation", OPERATIONS)
def test_sql_refusing_raises_at_once(closed_port: int, scheme: str, operation: str) -> None:
    """PostgreSQL or MariaDB on a closed port: every operation raises within the bound."""
    with SQLStore(_sql_url(scheme, closed_port), timeout=1.0) as store:
        _assert_unavailable_within(1.0, lambda: OPERATIONS[operation](store))


@pytest.mark.parametrize(("scheme", "timeout"), [("postgresql", 2.0), ("mysql", 0.6)])
def test_sql_hung_raises_after_timeout(silent_port: int, scheme: str, timeout: float) -> None:
    """A database that accepts and never answers raises once `timeout` has passed.

    PostgreSQL's connect timeout counts whole seconds and at least 2 (libpq's rule).
    """
    with SQLStore(_sql_url(scheme, silent_port), timeout=timeout) as store:
        _assert_unavailable_within(timeout, lambda: store.claim(KEY))


def test_sqlite_locked_raises_after_timeout(tmp_path: Path) -> None:
    """A SQLite file whose write lock another process keeps raises once `timeout` has passed."""
    path = tmp_path / "locked.sqlite3"
    with SQLiteStore(path, timeout=0.3) as store:
        holder = sqlite3.connect(path, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            _assert_unavailable_within(0.3, lambda: store.claim(KEY))
            holder.execute("ROLLBACK")
            assert store.claim(KEY).state is ClaimState.ACQUIRED
        finally:
            holder.close()


def test_postgres_statement_timeout_bounds_a_lock_wait(postgres_dsn: str) -> None:
    """A claim stuck behind another transaction's row lock gives up after `timeout`."""
    url = sqlalchemy_url(postgres_dsn)
    table = f"wk_idem_lock_{time.monotonic_ns()}"
    with SQLStore(url, table=table, timeout=0.5) as store:
        store.create_table()
        try:
            blocker = sa.create_engine(url)
            with blocker.connect() as conn:
                conn.execute(
                    sa.text(f"INSERT INTO {table} VALUES (:key, 'x', false, now())"),  # noqa: S608
                    {"key": f"{store.prefix}:{KEY}"},
                )  # the transaction stays open, holding the new row's lock
                _assert_unavailable_within(1.0, lambda: store.claim(KEY))
                conn.rollback()
            blocker.dispose()
        finally:
            store.table.drop(store.engine)


@contextmanager
def _cluster_stores(url: str) -> Iterator[list[IdempotencyStore]]:
    """A `RedisStore` and an `AsyncRedisStore` (behind a `BlockingView`) on the cluster at `url`."""
    client = cluster_client(url)
    aclient = async_cluster_client(url)
    stores = [
        RedisStore(client, prefix="wk-outage"),
        BlockingView(AsyncRedisStore(aclient, prefix="wk-outage"), aclient),
    ]
    try:
        yield stores
    finally:
        for store in stores:
            close_store(store)
        client.close()


def test_redis_cluster_with_every_node_down_raises(tmp_path: Path) -> None:
    """A Redis Cluster none of whose nodes answers: every operation is `StoreUnavailableError`.

    The cluster client then raises `RedisClusterException` ("cannot be connected"), which is
    not a `RedisError`: it must become the 503 that makes the provider retry, not a 500.
    """
    with running_cluster(tmp_path) as cluster, _cluster_stores(cluster.url) as stores:
        for number, store in enumerate(stores):
            assert store.claim(store_key("struktr", f"evt_before_{number}")).acquired
        for port in cluster.live_ports():
            cluster.kill(port)
        for store in stores:
            for operation in OPERATIONS.values():
                _assert_unavailable_within(2.0, lambda: operation(store))  # noqa: B023
            _assert_unavailable_within(2.0, lambda: store.claim(KEY, also=[BODY]))  # noqa: B023


def test_redis_cluster_master_hung_answers_within_the_client_bound(tmp_path: Path) -> None:
    """A master that hangs (SIGSTOP): a claim returns or raises within the advised client's bound.

    With ``socket_timeout`` and ``retry`` set as docs/scaling.md advises, each attempt waits at
    most the socket timeout: `StoreUnavailableError` within ``(retries + 1) * socket_timeout``,
    or the claim acquires on the promoted replica if the failover was quicker. (Sync only:
    redis-py's asyncio cluster client leaves the hung node's connections unclosed when the
    failover replaces it, which the strict warning filter would report.)
    """
    bound = (CLUSTER_RETRIES + 1) * CLUSTER_CLIENT_OPTIONS["socket_timeout"]
    with running_cluster(tmp_path) as cluster:
        master = cluster.master_of("{wk-outage}")
        url = f"redis://127.0.0.1:{next(p for p in cluster.live_ports() if p != master)}/0"
        with cluster_client(url) as client:
            store = RedisStore(client, prefix="wk-outage")
            assert store.claim(store_key("struktr", "evt_before")).acquired  # slot map loaded
            cluster.processes[master].send_signal(signal.SIGSTOP)
            started = time.monotonic()
            try:
                outcome = store.claim(KEY).state.value
            except StoreUnavailableError as exc:
                outcome = type(exc).__name__
            finally:
                elapsed = time.monotonic() - started
                cluster.processes[master].send_signal(signal.SIGCONT)
    assert outcome in ("acquired", "StoreUnavailableError"), outcome
    assert elapsed < bound + SLACK, f"took {elapsed:.2f} s, bound {bound} s"


@pytest.mark.parametrize("kind", ["redis-cluster", "async-redis-cluster"])
def test_redis_master_short_of_replicas_raises(
    kind: str, make_spec: Callable[[str], Spec], redis_cluster: Cluster
) -> None:
    """A master with ``min-replicas-to-write`` above its replicas refuses writes: 503, not 500.

    Redis answers ``NOREPLICAS`` to the `SET` and to each script that writes; once replicas
    suffice again, the same operations go through.
    """
    spec = make_spec(kind)
    store = open_store(spec)
    master = redis.Redis(port=redis_cluster.master_of(f"{{{spec.prefix}}}"))
    try:
        held = store.claim(KEY, also=[BODY])
        master.config_set("min-replicas-to-write", 2)  # each master has one replica
        try:
            for operation in (
                lambda: store.claim(store_key("struktr", "evt_other")),
                lambda: store.claim(store_key("struktr", "evt_other"), also=[OTHER_BODY]),
                lambda: store.complete(held),
                lambda: store.release(held),
            ):
                _assert_unavailable_within(2.0, operation)
        finally:
            master.config_set("min-replicas-to-write", 0)
        store.complete(held)
        assert store.claim(BODY).state is ClaimState.DONE
    finally:
        master.close()
        close_store(store)
