"""Fixtures for the idempotency tests: a fresh, isolated store of each kind, cleaned up after.

Every test gets its own key prefix, SQLite file and SQL table, so runs in parallel (and the
other suites on the shared servers) never see each other's keys.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from tests.django_settings import create_store_database
from webhook_kit.idempotency import IdempotencyStore
from webhook_kit.idempotency.sql import SQLStore

from .backends import CONTRACT_KINDS, Spec, close_store, open_store, sqlalchemy_url
from .cluster import Cluster, running_cluster

SERVICE_FIXTURES = {"redis": "redis_url", "postgres": "postgres_dsn", "mariadb": "mariadb_dsn"}


def _unique(stem: str) -> str:
    return f"{stem}{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_spec(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Spec]]:
    """A factory of fresh specs by kind, whose tables and keys are removed after the test.

    ``make(kind, created=False)`` leaves a SQL table to the test to create.
    """
    cleanups: list[Callable[[], None]] = []

    def make(kind: str, *, created: bool = True) -> Spec:
        backend = kind.removeprefix("threaded-").removeprefix("async-")
        prefix = _unique("wk-test-")
        if backend == "memory":
            return Spec(kind, prefix)
        if backend == "sqlite":
            return Spec(kind, prefix, str(tmp_path / f"{prefix}.sqlite3"))
        if backend == "redis":
            url = request.getfixturevalue("redis_url")
            cleanups.append(lambda: _delete_redis_keys(url, prefix))
            return Spec(kind, prefix, url)
        if backend == "redis-cluster":
            cluster = request.getfixturevalue("redis_cluster")
            cleanups.append(lambda: _delete_cluster_keys(cluster, prefix))
            return Spec(kind, prefix, cluster.url)
        if backend.startswith("django-"):
            location = str(tmp_path / f"{prefix}.sqlite3")
            if backend == "django-postgres":
                location = request.getfixturevalue("postgres_dsn")
            name = _unique("wk_django_")
            cleanups.append(create_store_database(location, name))
            return Spec(kind, prefix, location, name)
        if backend == "sql-sqlite":
            url = f"sqlite:///{tmp_path / f'{prefix}.sqlite3'}"
        else:
            url = sqlalchemy_url(request.getfixturevalue(SERVICE_FIXTURES[backend]))
        table = _unique("wk_idem_")
        cleanups.append(lambda: _drop_table(url, table))
        if created:
            with SQLStore(url, table=table) as admin:
                admin.create_table()
        return Spec(kind, prefix, url, table)

    yield make
    for cleanup in reversed(cleanups):
        cleanup()


def _delete_redis_keys(url: str, prefix: str) -> None:
    with redis.Redis.from_url(url) as client:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)


def _delete_cluster_keys(cluster: Cluster, prefix: str) -> None:
    """Delete a test's keys on the cluster: its prefix (and longer ones) in a hash tag.

    Each master is scanned on its own (the cluster client's `scan_iter` leaves a connection
    open), and keys are deleted one by one (several keys in one `DEL` must share a slot).
    """
    for port, role in cluster.roles().items():
        if role == "master":
            with redis.Redis(port=port) as node:
                for key in list(node.scan_iter(match=f"{{{prefix}*", count=1000)):
                    node.delete(key)


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A throwaway Redis Cluster (3 masters, 3 replicas) shared by the session's tests.

    Tests that kill a node start their own (`running_cluster`), so this one stays whole.
    """
    with running_cluster(tmp_path_factory.mktemp("redis-cluster")) as cluster:
        yield cluster


def _drop_table(url: str, table: str) -> None:
    with SQLStore(url, table=table) as admin:
        admin.table.drop(admin.engine, checkfirst=True)


@pytest.fixture(params=CONTRACT_KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    """Each form of store the contract suite runs on."""
    return str(request.param)


@pytest.fixture
def spec(kind: str, make_spec: Callable[[str], Spec]) -> Spec:
    """A fresh spec of the current kind."""
    return make_spec(kind)


@pytest.fixture
def store(spec: Spec) -> Iterator[IdempotencyStore]:
    """A fresh store of the current kind, closed after the test."""
    built = open_store(spec)
    yield built
    close_store(built)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts TCP connections and never answers: a hung server."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]
