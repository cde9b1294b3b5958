"""What the example apps share: secrets, the store, and handlers with a visible effect.

Every example receives all five providers at ``/webhooks/<provider>`` with one secret each, and
at ``/webhooks/<provider>/<tenant>`` with each tenant's own secret, looked up in a table
(`make_tenant_receivers`). Configuration comes from the environment:

- ``<PROVIDER>_WEBHOOK_SECRET`` (``STRUKTR_WEBHOOK_SECRET``, ``PULSE_WEBHOOK_SECRET``, ...): each
  provider's secret. Unset ones fall back to an obviously fake development value, with a warning.
- ``WEBHOOK_KIT_STORE``: the idempotency store. A path (default ``webhooks.sqlite3``) for
  `SQLiteStore`, a ``redis://`` URL for `RedisStore` (`AsyncRedisStore` in the FastAPI example),
  or a SQLAlchemy URL (``postgresql+psycopg://...``, ``mysql+pymysql://...``) for `SQLStore`.
- ``WEBHOOK_KIT_STORE_PREFIX``: the store's key prefix (default ``webhook-kit``), so several
  applications (or test runs) can share one Redis or table; `store_prefix` reads it for stores
  made elsewhere (the Django project's `DjangoStore`).
- ``WEBHOOK_KIT_EVENTS_DB``: the SQLite file the handlers append each event to (default
  ``events.sqlite3``), so you (and the end-to-end tests) can see what was processed.

- ``WEBHOOK_KIT_LEASE``: seconds a delivery stays claimed while its handler runs (default 60).
- ``WEBHOOK_KIT_TENANTS_DB``: the SQLite file whose ``tenant_secrets`` table holds each tenant's
  secret per provider (default ``tenants.sqlite3``): add a row (`add_tenant`), and
  ``/webhooks/<provider>/<tenant>`` accepts that tenant's deliveries at once (an unknown tenant
  is remembered as unknown for 5 seconds); a changed secret is read again within
  ``WEBHOOK_KIT_TENANT_TTL`` seconds (default 60).

A handler fails on purpose, once, for a payload carrying ``"fail_once": "<token>"``, and hangs for
a minute, once, for ``"hang_once": "<token>"``: the end-to-end tests use them to show that a failed
delivery, or one whose worker was killed, is processed by the provider's retry.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from contextlib import closing
from functools import partial
from typing import Any

from webhook_kit import (
    AsyncIdempotencyStore,
    IdempotencyStore,
    Receiver,
    SQLiteStore,
    TenantSecrets,
    UnknownEvent,
    current_tenant,
    providers,
)
from webhook_kit.idempotency import DEFAULT_LEASE, DEFAULT_PREFIX

__all__ = [
    "DEV_SECRETS",
    "add_tenant",
    "make_async_store",
    "make_receivers",
    "make_store",
    "make_tenant_receivers",
    "record",
    "store_prefix",
]

logger = logging.getLogger("examples")

#: Development-only secrets, used when the environment names none. Never use them in production.
DEV_SECRETS = {
    "struktr": "dev-struktr-secret",
    "file_conversion": "dev-file-conversion-secret",
    "imggo": "dev-imggo-secret",
    "docextract": "dev-docextract-secret",
    "pulse": "whsec_ZGV2LXB1bHNlLXNpZ25pbmcta2V5",
}

_lock = threading.Lock()


def _store_url(url: str | None) -> str:
    return url or os.environ.get("WEBHOOK_KIT_STORE", "webhooks.sqlite3")


def store_prefix() -> str:
    """The store's key prefix: ``WEBHOOK_KIT_STORE_PREFIX``, else ``webhook-kit``."""
    return os.environ.get("WEBHOOK_KIT_STORE_PREFIX") or DEFAULT_PREFIX


def _is_redis(url: str) -> bool:
    return url.startswith(("redis://", "rediss://"))


def make_store(url: str | None = None) -> IdempotencyStore:
    """The store named by `url` or ``WEBHOOK_KIT_STORE``: SQLite by default."""
    url = _store_url(url)
    if _is_redis(url):
        from webhook_kit.idempotency.redis import RedisStore

        return RedisStore(url, prefix=store_prefix())
    if "://" in url:
        from webhook_kit.idempotency.sql import SQLStore

        store = SQLStore(url, prefix=store_prefix())
        store.create_table()
        return store
    return SQLiteStore(url, prefix=store_prefix())


def make_async_store(url: str | None = None) -> IdempotencyStore | AsyncIdempotencyStore:
    """Like `make_store`, but Redis gets the native `AsyncRedisStore` (for async frameworks).

    SQLite and SQL stores stay synchronous: `Receiver.handle_async` runs them in worker threads.
    """
    url = _store_url(url)
    if _is_redis(url):
        from webhook_kit.idempotency.redis import AsyncRedisStore

        return AsyncRedisStore(url, prefix=store_prefix())
    return make_store(url)


def _events_db() -> sqlite3.Connection:
    path = os.environ.get("WEBHOOK_KIT_EVENTS_DB", "events.sqlite3")
    connection = sqlite3.connect(path, timeout=30, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(
        "CREATE TABLE IF NOT EXISTS events (provider TEXT, event_type TEXT, payload TEXT)"
    )
    connection.execute("CREATE TABLE IF NOT EXISTS failures (token TEXT PRIMARY KEY)")
    return connection


def _first_time(token: str) -> bool:
    """Whether `token` is seen for the first time (by any process sharing the events file)."""
    with _lock, closing(_events_db()) as connection:
        return bool(
            connection.execute("INSERT OR IGNORE INTO failures VALUES (?)", (token,)).rowcount
        )


def record(provider: str, event: Any) -> None:
    """Append `event` to the events table, failing once first if the payload asks for it."""
    payload = event.payload if isinstance(event, UnknownEvent) else event.model_dump(mode="json")
    hang = payload.get("hang_once")
    if hang is not None and _first_time(f"hang:{hang}"):
        _first_time(f"pid:{hang}:{os.getpid()}")  # which worker to kill
        time.sleep(60)  # until the test kills this worker
    fail = payload.get("fail_once")
    if fail is not None and _first_time(str(fail)):
        raise RuntimeError(f"failing once on purpose for {fail!r}")
    with _lock, closing(_events_db()) as connection:
        connection.execute(
            "INSERT INTO events VALUES (?, ?, ?)",
            (provider, event.event_type, repr(payload)),
        )
    logger.info("%s %s processed", provider, event.event_type)


def make_receivers(
    store: IdempotencyStore | AsyncIdempotencyStore | None = None,
) -> dict[str, Receiver]:
    """One receiver per provider, sharing `store`, each recording every event it receives.

    Without a `store`, `make_store` picks one from the environment.
    """
    store = store if store is not None else make_store()
    receivers = {}
    for name in providers.PROVIDERS:
        variable = f"{name.upper()}_WEBHOOK_SECRET"
        secret = os.environ.get(variable)
        if not secret:
            logger.warning("%s is not set: using a development secret", variable)
            secret = DEV_SECRETS[name]
        receivers[name] = _recording(Receiver(name, secret=secret, store=store, lease=_lease()))
    return receivers


def make_tenant_receivers(
    store: IdempotencyStore | AsyncIdempotencyStore | None = None,
) -> dict[str, Receiver]:
    """One receiver per provider whose secrets are per tenant, from ``WEBHOOK_KIT_TENANTS_DB``.

    The adapters route them at ``/webhooks/<provider>/<tenant>``; their events are recorded
    under ``<provider>/<tenant>``. Without a `store`, `make_store` picks one.
    """
    store = store if store is not None else make_store()
    ttl = float(os.environ.get("WEBHOOK_KIT_TENANT_TTL", "60"))
    receivers = {}
    for name in providers.PROVIDERS:
        secrets = TenantSecrets(partial(_tenant_secret, name), ttl=ttl)
        receivers[name] = _recording(Receiver(name, secret=secrets, store=store, lease=_lease()))
    return receivers


def add_tenant(tenant: str, provider: str, secret: str) -> None:
    """Store `tenant`'s `secret` for `provider` (replacing the one it had)."""
    with closing(_tenants_db()) as connection:
        connection.execute(
            "INSERT OR REPLACE INTO tenant_secrets VALUES (?, ?, ?)", (tenant, provider, secret)
        )


def _tenants_db() -> sqlite3.Connection:
    path = os.environ.get("WEBHOOK_KIT_TENANTS_DB", "tenants.sqlite3")
    connection = sqlite3.connect(path, timeout=5, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(
        "CREATE TABLE IF NOT EXISTS tenant_secrets (tenant TEXT NOT NULL, provider TEXT NOT NULL, "
        "secret TEXT NOT NULL, PRIMARY KEY (tenant, provider))"
    )
    return connection


def _tenant_secret(provider: str, tenant: str) -> str | None:
    """The lookup of `provider`'s `TenantSecrets`: the tenant's secret, or None if unknown."""
    with closing(_tenants_db()) as connection:
        row = connection.execute(
            "SELECT secret FROM tenant_secrets WHERE tenant = ? AND provider = ?",
            (tenant, provider),
        ).fetchone()
    return None if row is None else str(row[0])


def _lease() -> float:
    return float(os.environ.get("WEBHOOK_KIT_LEASE", DEFAULT_LEASE))


def _recording(receiver: Receiver) -> Receiver:
    """`receiver`, recording every event under its provider (and tenant, if it has tenants)."""
    name = receiver.provider.name

    def handle(event: Any) -> None:
        tenant = current_tenant()
        record(name if tenant is None else f"{name}/{tenant}", event)

    for event_type in receiver.provider.event_types:
        receiver.on(event_type)(handle)
    receiver.on_unknown(handle)
    return receiver
