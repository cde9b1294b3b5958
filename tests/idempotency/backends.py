"""The stores under test, built from a picklable `Spec` so child processes can build them too."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import redis
import redis.asyncio
import sqlalchemy as sa
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.django_settings import close_connections, open_django_store
from webhook_kit.django.store import DjangoStore
from webhook_kit.idempotency import (
    DEFAULT_LEASE,
    DEFAULT_RETAIN,
    AsyncIdempotencyStore,
    AsyncThreadedStore,
    Claim,
    IdempotencyStore,
    MemoryStore,
    SQLiteStore,
    StoreKey,
)
from webhook_kit.idempotency.redis import AsyncRedisStore, RedisStore
from webhook_kit.idempotency.sql import SQLStore

T = TypeVar("T")

#: Every form the contract suite runs on: the sync backends, and the async forms.
CONTRACT_KINDS = [
    "memory",
    "sqlite",
    "redis",
    "postgres",
    "mariadb",
    "sql-sqlite",
    "redis-cluster",
    "async-redis",
    "async-redis-cluster",
    "threaded-memory",
    "threaded-sqlite",
    "threaded-postgres",
    "django-postgres",
    "django-sqlite",
]
#: Forms whose storage outlives the store object, so two stores can share it.
SHARED_KINDS = [kind for kind in CONTRACT_KINDS if "memory" not in kind]
#: Backends that claim to be safe across processes (and hosts, but for SQLite).
MULTIPROCESS_KINDS = ["sqlite", "redis", "redis-cluster", "postgres", "mariadb", "django-postgres"]
#: Forms whose server deletes expired records itself, so `purge` has nothing to count.
SELF_EXPIRING_KINDS = {"redis", "async-redis", "redis-cluster", "async-redis-cluster"}

#: The cluster client settings docs/scaling.md advises: an operation on a node that died or hangs
#: fails within seconds (the store then raises `StoreUnavailableError`) instead of retrying ten
#: times (redis-py's default) with no timeout.
CLUSTER_CLIENT_OPTIONS: dict[str, Any] = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}
CLUSTER_RETRIES = 2
#: The cluster clients the tests made for a store, by the store's id, to close with it.
_CLUSTER_CLIENTS: dict[int, redis.RedisCluster] = {}


@dataclass(frozen=True)
class Spec:
    """How to build one store: its kind, key prefix, and where its data lives."""

    kind: str
    prefix: str
    location: str = ""  # a file path, or a server URL (SQLAlchemy form for SQL servers)
    table: str = ""


def sqlalchemy_url(dsn: str) -> str:
    """The SQLAlchemy URL of a conftest DSN: pick the drivers we test with."""
    for scheme, driver in (
        ("postgresql://", "postgresql+psycopg://"),
        ("mysql://", "mysql+pymysql://"),
    ):
        if dsn.startswith(scheme):
            return driver + dsn[len(scheme) :]
    return dsn


class BlockingView:
    """A sync view of an async store, running each call on its own event loop (tests only)."""

    def __init__(
        self,
        store: AsyncIdempotencyStore,
        client: redis.asyncio.RedisCluster | None = None,
    ) -> None:
        self.store = store
        self._loop = asyncio.new_event_loop()
        #: A cluster client the test made for the store (which does not close clients it got).
        self.clients = {id(store): client} if client is not None else {}

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._loop.run_until_complete(coro)

    def claim(
        self, key: StoreKey, *, lease: float = DEFAULT_LEASE, also: Sequence[StoreKey] = ()
    ) -> Claim:
        return self._run(self.store.claim(key, lease=lease, also=also))

    def complete(self, claim: Claim, *, retain: float = DEFAULT_RETAIN) -> None:
        self._run(self.store.complete(claim, retain=retain))

    def release(self, claim: Claim) -> None:
        self._run(self.store.release(claim))

    def purge(self) -> int:
        return self._run(self.store.purge())

    def close(self) -> None:
        if isinstance(self.store, AsyncRedisStore):
            self._run(self.store.aclose())
            client = self.clients.pop(id(self.store), None)
            if client is not None:
                self._run(client.aclose())
        elif isinstance(self.store, AsyncThreadedStore):
            close_store(self.store.store)
        self._run(self._loop.shutdown_default_executor())
        self._loop.close()


def cluster_client(url: str) -> redis.RedisCluster:
    """A `RedisCluster` client reaching the cluster through `url`, with the advised settings."""
    return redis.RedisCluster.from_url(
        url, retry=Retry(NoBackoff(), CLUSTER_RETRIES), **CLUSTER_CLIENT_OPTIONS
    )


def async_cluster_client(url: str) -> redis.asyncio.RedisCluster:
    """`cluster_client` for ``redis.asyncio``, whose `Retry` class is its own."""
    return redis.asyncio.RedisCluster.from_url(
        url, retry=AsyncRetry(NoBackoff(), CLUSTER_RETRIES), **CLUSTER_CLIENT_OPTIONS
    )


def open_store(spec: Spec, *, pool_size: int | None = None) -> IdempotencyStore:
    """Build the store `spec` describes (async forms behind a `BlockingView`).

    SQL stores are built from their URL, as most users will, unless `pool_size` asks for an
    engine with that many connections (the 32-thread race).
    """
    kind = spec.kind
    store: IdempotencyStore
    if kind == "memory":
        store = MemoryStore()
    elif kind == "sqlite":
        store = SQLiteStore(spec.location, prefix=spec.prefix)
    elif kind == "redis":
        store = RedisStore(spec.location, prefix=spec.prefix)
    elif kind in ("postgres", "mariadb", "sql-sqlite"):
        engine: sa.Engine | str = spec.location
        if pool_size is not None:
            engine = sa.create_engine(
                spec.location,
                pool_size=pool_size,
                max_overflow=0,
                isolation_level="AUTOCOMMIT",
                skip_autocommit_rollback=True,
            )
        store = SQLStore(engine, table=spec.table, prefix=spec.prefix)
    elif kind == "redis-cluster":
        cluster = cluster_client(spec.location)
        store = RedisStore(cluster, prefix=spec.prefix)
        _CLUSTER_CLIENTS[id(store)] = cluster
    elif kind == "async-redis":
        store = BlockingView(AsyncRedisStore(spec.location, prefix=spec.prefix))
    elif kind == "async-redis-cluster":
        async_cluster = async_cluster_client(spec.location)
        store = BlockingView(AsyncRedisStore(async_cluster, prefix=spec.prefix), async_cluster)
    elif kind.startswith("django-"):  # table: the test's own database alias (and schema)
        store = open_django_store(spec.location, spec.table, spec.prefix)
    elif kind.startswith("threaded-"):
        inner = open_store(replace(spec, kind=kind.removeprefix("threaded-")))
        store = BlockingView(AsyncThreadedStore(inner))
    else:
        raise ValueError(f"unknown store kind {kind!r}")
    return store


def close_store(store: object) -> None:
    """Close a store if it has anything to close (engines, clients, files, event loops)."""
    close = getattr(store, "close", None)
    if close is not None:
        close()
    cluster = _CLUSTER_CLIENTS.pop(id(store), None)
    if cluster is not None:
        cluster.close()
    if isinstance(store, SQLStore):
        store.engine.pool.dispose()  # also the engines the tests made themselves
    if isinstance(store, DjangoStore):  # its connections, in every thread that used it
        close_connections(store.using)
