"""Dead letters: deliveries that could not be processed, kept whole so they can be replayed.

::

    from webhook_kit import replay
    from webhook_kit.deadletters import SQLiteDeadLetters

    dead_letters = SQLiteDeadLetters("dead-letters.sqlite3")  # or, shared by several hosts:
    # dead_letters = webhook_kit.deadletters.sql.SQLDeadLetters("postgresql+psycopg://...")
    for letter in dead_letters.all():
        print(letter.id, letter.reason, letter.attempts, letter.error)
    replay(receivers, dead_letters)               # every one, through today's handlers
    replay(receivers, dead_letters, id="struktr:dlv_42")
    replay(receivers, dead_letters, provider="pulse")

A `DeadLetter` keeps what is needed to run the delivery again: the raw body, the headers that
verify it and carry its delivery id, and when it was received; and why it is here: a stable
`reason` code (``"handler_failed"``, ``"invalid_payload"``, ...), the last `error` and the number
of `attempts`. Its `id` is the delivery's idempotency key (``"struktr:dlv_42"``, a tenant's
``"struktr:acme/dlv_42"``), so a delivery that fails again replaces its own record instead of
adding a second one. A tenant's letter keeps its `tenant`, so that `replay` verifies it with
that tenant's keys; the stores keep it inside the stored headers (under ``:tenant``, a name no
HTTP header can have), so tables made by earlier versions need no migration.

Two producers write them: the Celery task (`webhook_kit.celery`) buries deliveries whose handlers
kept failing (``"handler_failed"``) or that the worker refused; a `Receiver` with
``dead_letters=`` records verified deliveries that fail validation (``"invalid_payload"``)
before answering 400, so schema drift loses nothing.

This module is storage only, below the receiver (which records letters here); `replay`, which
runs letters through a `Receiver`, sits above it in `webhook_kit.replays`.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import StoreUnavailableError
from ..idempotency import DEFAULT_TIMEOUT
from ..idempotency.sqlite import _connect_wal

__all__ = ["DeadLetter", "DeadLetterStore", "SQLiteDeadLetters", "describe"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class DeadLetter:
    """One delivery that could not be processed, with everything needed to replay it."""

    #: The delivery's idempotency key, ``"<provider>:<delivery id>"``: one record per delivery.
    id: str
    #: The provider's name, to find the receiver that replays it.
    provider: str
    #: The raw body, exactly as received.
    body: bytes = field(repr=False)
    #: The headers needed to verify the body again and find its delivery id.
    headers: Mapping[str, str] = field(repr=False)
    #: Why it is here, a stable code: ``"handler_failed"``, ``"invalid_payload"``, ...
    reason: str
    #: The last error, for a human: ``"RuntimeError: ledger unreachable"``.
    error: str
    #: How many times processing was attempted.
    attempts: int
    #: When the request was received (seconds since the epoch).
    received_at: float
    #: When it was first, and last, recorded here.
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    #: The tenant it was addressed to, for a receiver with `TenantSecrets`; else None.
    tenant: str | None = None


class DeadLetterStore(Protocol):
    """Where dead letters are kept; every operation is one atomic step."""

    def add(self, letter: DeadLetter) -> None:
        """Record `letter`, replacing the record with the same id (its `created_at` is kept)."""

    def get(self, id: str) -> DeadLetter | None:
        """The letter with this id, or None."""

    def all(self, *, provider: str | None = None) -> list[DeadLetter]:
        """Every letter (of one provider, if given), oldest first."""

    def remove(self, id: str) -> bool:
        """Delete the letter with this id; return whether there was one."""


class SQLiteDeadLetters:
    """A `DeadLetterStore` in a SQLite file (it may be the idempotency store's own file).

    Safe across the threads and processes of one host, like `SQLiteStore`: WAL mode, one
    autocommit statement per operation, a new connection after `fork`. An unreachable or locked
    file raises `StoreUnavailableError` after `timeout` seconds.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        table: str = "webhook_kit_dead_letters",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._path = os.fspath(path)
        if self._path in {"", ":memory:"} or "mode=memory" in self._path:
            raise ValueError("SQLiteDeadLetters needs a file that every process can open")
        if not _IDENTIFIER.match(table):
            raise ValueError(f"table {table!r} must be a plain SQL identifier")
        self.table = table
        self.timeout = timeout
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        quoted = f'"{table}"'  # a checked identifier: the statements below are constants
        self._insert = (
            f"INSERT INTO {quoted} VALUES (:id, :provider, :body, :headers, :reason, "  # noqa: S608
            ":error, :attempts, :received_at, :created_at, :updated_at) "
            "ON CONFLICT (id) DO UPDATE SET body = excluded.body, headers = excluded.headers, "
            "reason = excluded.reason, error = excluded.error, attempts = excluded.attempts, "
            "received_at = excluded.received_at, updated_at = excluded.updated_at"
        )
        self._select = f"SELECT * FROM {quoted} "  # noqa: S608
        self._delete = f"DELETE FROM {quoted} WHERE id = :id RETURNING id"  # noqa: S608
        self._run("SELECT 1", {})  # open the file and make the table now, not on first failure

    def __repr__(self) -> str:
        return f"SQLiteDeadLetters({self._path!r}, table={self.table!r})"

    def _connection(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        conn = _connect_wal(self._path, self.timeout)
        try:
            conn.execute(
                f'CREATE TABLE IF NOT EXISTS "{self.table}" ('
                "id TEXT PRIMARY KEY NOT NULL, provider TEXT NOT NULL, body BLOB NOT NULL, "
                "headers TEXT NOT NULL, reason TEXT NOT NULL, error TEXT NOT NULL, "
                "attempts INTEGER NOT NULL, received_at REAL NOT NULL, "
                "created_at REAL NOT NULL, updated_at REAL NOT NULL)"
            )
        except BaseException:
            conn.close()
            raise
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _run(self, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                rows: list[tuple[Any, ...]] = self._connection().execute(sql, params).fetchall()
                return rows
            except sqlite3.OperationalError as exc:
                raise StoreUnavailableError(
                    f"dead letters in SQLite file {self._path!r} did not answer within "
                    f"{self.timeout} s ({exc}): is the disk full or read-only, or the file locked?"
                ) from exc

    def add(self, letter: DeadLetter) -> None:
        """Record `letter`, replacing the record with the same id (its `created_at` is kept)."""
        self._run(
            self._insert,
            {
                "id": letter.id,
                "provider": letter.provider,
                "body": letter.body,
                "headers": _stored_headers(letter),
                "reason": letter.reason,
                "error": letter.error,
                "attempts": letter.attempts,
                "received_at": letter.received_at,
                "created_at": letter.created_at,
                "updated_at": letter.updated_at,
            },
        )

    def get(self, id: str) -> DeadLetter | None:
        """The letter with this id, or None."""
        rows = self._run(self._select + "WHERE id = :id", {"id": id})
        return _letter(rows[0]) if rows else None

    def all(self, *, provider: str | None = None) -> list[DeadLetter]:
        """Every letter (of one provider, if given), oldest first."""
        where = "" if provider is None else "WHERE provider = :provider "
        rows = self._run(self._select + where + "ORDER BY created_at, id", {"provider": provider})
        return [_letter(row) for row in rows]

    def remove(self, id: str) -> bool:
        """Delete the letter with this id; return whether there was one."""
        rows = self._run(self._delete, {"id": id})
        return bool(rows)

    def close(self) -> None:
        """Close this process's connection; it is reopened if the store is used again."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None


def _letter(row: tuple[Any, ...]) -> DeadLetter:
    id_, provider, body, headers, reason, error, attempts, received, created, updated = row
    kept, tenant = _headers_of(headers)
    return DeadLetter(
        id=id_,
        provider=provider,
        body=bytes(body),
        headers=kept,
        tenant=tenant,
        reason=reason,
        error=error,
        attempts=int(attempts),
        received_at=float(received),
        created_at=float(created),
        updated_at=float(updated),
    )


_TENANT = ":tenant"  # a colon is not allowed in an HTTP header name: never a real header


def _stored_headers(letter: DeadLetter) -> str:
    """The headers column of `letter`: its headers as JSON, and its tenant, if any, among them."""
    headers = dict(letter.headers)
    if letter.tenant is not None:
        headers[_TENANT] = letter.tenant
    return json.dumps(headers)


def _headers_of(column: str) -> tuple[dict[str, str], str | None]:
    """The headers and the tenant of a letter, from what `_stored_headers` wrote."""
    headers: dict[str, str] = json.loads(column)
    return headers, headers.pop(_TENANT, None)


def _letter_of_row(row: Any) -> DeadLetter:
    """The `DeadLetter` a row of the SQL table holds (a SQLAlchemy row or a Django instance)."""
    headers, tenant = _headers_of(row.headers)
    return DeadLetter(
        id=row.id,
        provider=row.provider,
        body=bytes(row.body),
        headers=headers,
        tenant=tenant,
        reason=row.reason,
        error=row.error,
        attempts=int(row.attempts),
        received_at=float(row.received_at),
        created_at=float(row.created_at),
        updated_at=float(row.updated_at),
    )


def describe(error: BaseException) -> str:
    """A one-line description of an exception for a dead letter: ``"RuntimeError: boom"``."""
    return f"{type(error).__name__}: {error}"
