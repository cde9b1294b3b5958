"""The example apps as real servers: one per (app, store), started once per module."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.e2e.harness import APPS, Running, Server, ServerError
from tests.receiving import SECRETS

STORES = ("sqlite", "redis")


def _environment(workdir: Path, store: str, prefix: str) -> dict[str, str]:
    env = dict(os.environ)
    env |= {f"{name.upper()}_WEBHOOK_SECRET": secret for name, secret in SECRETS.items()}
    env["WEBHOOK_KIT_EVENTS_DB"] = str(workdir / "events.sqlite3")
    env["WEBHOOK_KIT_TENANTS_DB"] = str(workdir / "tenants.sqlite3")
    env["WEBHOOK_KIT_STORE"] = store
    env["WEBHOOK_KIT_STORE_PREFIX"] = prefix
    return env


def _delete_keys(redis_url: str, prefix: str) -> None:
    with redis.Redis.from_url(redis_url, socket_timeout=5) as client:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
        if keys:
            client.delete(*keys)


def _start(server: Server) -> str | None:
    """Start `server`; return why it failed, if it did."""
    try:
        server.start()
    except ServerError as error:
        return str(error)
    return None


def _stop(server: Server) -> str | None:
    """Stop `server`; return what was wrong, if anything."""
    try:
        server.stop()
    except ServerError as error:
        return str(error)
    return None


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(
            (app, store),
            id=f"{app}-{store}",
            marks=[pytest.mark.services] if store == "redis" else [],
        )
        for app in APPS
        for store in STORES
    ],
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    """An example app under its real server with a fresh SQLite store, or Redis keys of its own."""
    app, store = request.param
    workdir = tmp_path_factory.mktemp(f"{app}-{store}")
    prefix = f"e2e-{secrets.token_hex(6)}"  # this server's own Redis keys
    redis_url = request.getfixturevalue("redis_url") if store == "redis" else None
    location = redis_url or str(workdir / "idempotency.sqlite3")
    running = Server(APPS[app], _environment(workdir, location, prefix), workdir)
    failure = _start(running)
    if failure:
        pytest.fail(failure, pytrace=False)
    try:
        with httpx.Client(timeout=10) as client:
            yield Running(running, store, workdir / "events.sqlite3", client)
    finally:
        failure = _stop(running)
        if redis_url is not None:
            _delete_keys(redis_url, prefix)
        if failure:
            pytest.fail(failure, pytrace=False)
