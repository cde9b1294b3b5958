"""Shared test set-up: hypothesis profiles and the real services on loopback.

Service-backed tests ask for a fixture below (`redis_url`, `postgres_dsn`, `mariadb_dsn`,
`rabbitmq_url`). When the service does not answer, the test is skipped with the reason, unless
`CI=true` or `WEBHOOK_KIT_REQUIRE_SERVICES=1`, where a missing service fails the test instead.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, settings

from tests.receiving import CLIENTS
from webhook_kit import SQLiteStore

settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=200
)
# CI runs are reproducible: the same examples every time, so a red run can be re-run locally.
settings.register_profile("ci", parent=settings.get_profile("default"), derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "default")


def services_required() -> bool:
    """Whether a missing service is a failure (CI) rather than a skip (a laptop without it)."""
    return (
        os.environ.get("CI", "").lower() == "true"
        or os.environ.get("WEBHOOK_KIT_REQUIRE_SERVICES") == "1"
    )


def require_binary(name: str) -> str:
    """The path of the program `name`; without it skip, or fail under CI."""
    path = shutil.which(name)
    if path is None:
        if services_required():
            pytest.fail(f"{name} is not installed; CI=true requires it", pytrace=False)
        pytest.skip(f"{name} is not installed; set CI=true to make this a failure")
    return path


def require_service(name: str, url: str, default_port: int) -> str:
    """Return `url` if its server accepts a TCP connection; otherwise skip, or fail under CI."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        with socket.create_connection((host, port), timeout=2):
            return url
    except OSError as exc:
        reason = f"{name} is not reachable at {host}:{port} ({exc})"
        if services_required():
            pytest.fail(f"{reason}; CI=true requires it", pytrace=False)
        pytest.skip(f"{reason}; set CI=true to make this a failure")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The shared Redis server (override with WEBHOOK_KIT_REDIS_URL)."""
    url = os.environ.get("WEBHOOK_KIT_REDIS_URL", "redis://127.0.0.1:6379/0")
    return require_service("Redis", url, 6379)


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    """The shared PostgreSQL database `test` (override with WEBHOOK_KIT_POSTGRES_DSN)."""
    url = os.environ.get("WEBHOOK_KIT_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    return require_service("PostgreSQL", url, 5432)


@pytest.fixture(scope="session")
def mariadb_dsn() -> str:
    """The shared MariaDB database `test` (override with WEBHOOK_KIT_MARIADB_DSN)."""
    url = os.environ.get("WEBHOOK_KIT_MARIADB_DSN", "mysql://root@127.0.0.1:3306/test")
    return require_service("MariaDB", url, 3306)


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    """The shared RabbitMQ broker (override with WEBHOOK_KIT_RABBITMQ_URL)."""
    url = os.environ.get("WEBHOOK_KIT_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
    return require_service("RabbitMQ", url, 5672)


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(params=list(CLIENTS))
def client_factory(request: pytest.FixtureRequest) -> Any:
    """Each way into a receiver: the core, sync and async, and each installed adapter."""
    return CLIENTS[request.param]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    """A fresh SQLite idempotency store, the embedded default (the store suite has its own)."""
    store = SQLiteStore(tmp_path / "idempotency.sqlite3")
    yield store
    store.close()
