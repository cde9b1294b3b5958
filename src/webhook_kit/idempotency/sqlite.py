"""`SQLiteStore`: the embedded default, one SQLite file shared by the processes of one host.

Only the standard library's `sqlite3` is needed. The file is put in WAL mode (readers never
block the writer) with ``synchronous=NORMAL``; every operation is one statement in autocommit
mode (a claim, completion or release of several keys is one ``BEGIN IMMEDIATE`` transaction),
so each claim is atomic across threads and processes, and a process killed mid-handler
leaves nothing locked. When another process holds the write lock, SQLite's busy handler waits up
to `timeout` seconds, then the operation raises `StoreUnavailableError`.

Time comes from SQLite's ``julianday('now')``, the host's wall clock, which every process on the
host shares. The file must be on a local disk: SQLite's locking is unreliable on network file
systems, so several hosts need `RedisStore` or `SQLStore` instead.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ..errors import StoreUnavailableError
from ._core import (
    DEFAULT_LEASE,
    DEFAULT_PREFIX,
    DEFAULT_RETAIN,
    DEFAULT_TIMEOUT,
    Claim,
    ClaimState,
    LeaseLostError,
    StoreKey,
    WouldBlock,
    check_keys,
    check_prefix,
    check_seconds,
    fold_states,
    new_owner,
    owner_of,
)
from ._sql import statements

__all__ = ["SQLiteStore"]

_T = TypeVar("_T")
#: Primary result codes of "another connection has the lock".
_BUSY_CODES = {5, 6}  # SQLITE_BUSY, SQLITE_LOCKED

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

if sqlite3.sqlite_version_info < (3, 35, 0):  # pragma: no cover - depends on the build
    raise ImportError(
        f"SQLiteStore needs SQLite 3.35 or later for RETURNING; this Python links "
        f"{sqlite3.sqlite_version}: use a newer Python build, or MemoryStore / RedisStore"
    )


class SQLiteStore:
    """An `IdempotencyStore` in one SQLite file, safe across threads and processes of one host.

    The table is created when the store opens the file, by any number of processes at once.
    Call `purge` now and then (say daily) to delete expired rows; nothing else removes them.
    """

    __slots__ = ("_conn", "_lock", "_path", "_pid", "_sql", "prefix", "table", "timeout")

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        table: str = "webhook_kit_idempotency",
        prefix: str = DEFAULT_PREFIX,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._path = os.fspath(path)
        if self._path in {"", ":memory:"} or "mode=memory" in self._path:
            raise ValueError(
                "SQLiteStore needs a file that every process can open; "
                "for an in-memory store use MemoryStore"
            )
        if not _IDENTIFIER.match(table):
            raise ValueError(f"table {table!r} must be a plain SQL identifier")
        self.table = table
        self.prefix = check_prefix(prefix)
        self.timeout = check_seconds("timeout", timeout)
        self._sql = statements("sqlite", f'"{table}"')
        self._lock = threading.RLock()  # `_try_now` holds it around an operation
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        with self._lock:
            self._connection()

    def _connection(self) -> sqlite3.Connection:
        """This process's connection, opened (and the schema made) on first use or after fork.

        A connection inherited across `os.fork` must not be used by the child, so a new one is
        opened when the process id changes; the parent's is left alone.
        """
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        try:
            conn = _connect_wal(self._path, self.timeout)
            try:
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(
                    f'CREATE TABLE IF NOT EXISTS "{self.table}" ('
                    "claim_key TEXT PRIMARY KEY NOT NULL, owner TEXT NOT NULL, "
                    "done BOOLEAN NOT NULL, expires_at REAL NOT NULL) WITHOUT ROWID"
                )
            except BaseException:
                conn.close()
                raise
        except sqlite3.OperationalError as exc:
            raise self._unavailable(exc) from exc
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _unavailable(self, exc: sqlite3.Error) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"SQLite file {self._path!r} did not answer within {self.timeout} s ({exc}): "
            "is another process holding a long write transaction, or is the disk full or "
            "read-only?"
        )

    def _run(self, sql: str, params: dict[str, Any]) -> sqlite3.Cursor:
        with self._lock:
            try:
                return self._connection().execute(sql, params)
            except sqlite3.OperationalError as exc:
                raise self._unavailable(exc) from exc

    def _fetch(self, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """The first row `sql` returns, if any, after running it to the end (and commit)."""
        with self._lock:
            try:
                rows: list[tuple[Any, ...]] = self._connection().execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                raise self._unavailable(exc) from exc
        return rows[0] if rows else None

    def _try_now(self, operation: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
        """Run `operation` (a method of this store) only if it need not wait; else `WouldBlock`.

        `AsyncThreadedStore` calls it on the event loop to save a thread hop for the usual
        uncontended statement. It gives up at once, having written nothing, if another thread
        holds this store or another connection holds the file's write lock.
        """
        if not self._lock.acquire(blocking=False):
            raise WouldBlock
        try:
            conn = self._connection()
            conn.execute("PRAGMA busy_timeout = 0")
            try:
                return operation(*args, **kwargs)
            except StoreUnavailableError as exc:
                if _busy(exc.__cause__):
                    raise WouldBlock from exc
                raise
            finally:
                conn.execute(f"PRAGMA busy_timeout = {round(self.timeout * 1000)}")
        finally:
            self._lock.release()

    def _transaction(self, steps: Callable[[sqlite3.Connection], tuple[_T, bool]]) -> _T:
        """Run `steps` in one write transaction; it returns its result and whether to commit.

        ``BEGIN IMMEDIATE`` takes the file's write lock first, so the statements of a
        multi-key operation are never interleaved with another process's.
        """
        with self._lock:
            try:
                conn = self._connection()
                conn.execute("BEGIN IMMEDIATE")
                commit = False
                try:
                    result, commit = steps(conn)
                finally:
                    if conn.in_transaction:
                        conn.execute("COMMIT" if commit else "ROLLBACK")
            except sqlite3.OperationalError as exc:
                raise self._unavailable(exc) from exc
        return result

    def _stored(self, key: str) -> str:
        return f"{self.prefix}:{key}"

    def claim(
        self, key: StoreKey, *, lease: float = DEFAULT_LEASE, also: Sequence[StoreKey] = ()
    ) -> Claim:
        """Take `key` (and the `also` keys) for `lease` seconds unless one of them is live."""
        key, also = check_keys(key, also)
        lease = check_seconds("lease", lease)
        owner = new_owner()
        if not also:
            row = self._fetch(
                self._sql.claim, {"key": self._stored(key), "owner": owner, "lease": lease}
            )
            state = _state(row, owner)
        else:

            def claim_all(conn: sqlite3.Connection) -> tuple[ClaimState, bool]:
                states = [
                    _state(
                        conn.execute(
                            self._sql.claim,
                            {"key": self._stored(each), "owner": owner, "lease": lease},
                        ).fetchone(),
                        owner,
                    )
                    for each in (key, *also)
                ]
                folded = fold_states(states)
                return folded, folded is ClaimState.ACQUIRED

            state = self._transaction(claim_all)
        if state is ClaimState.ACQUIRED:
            return Claim(key, state, owner, also)
        return Claim(key, state, also=also)

    def complete(self, claim: Claim, *, retain: float = DEFAULT_RETAIN) -> None:
        """Mark the keys done for `retain` seconds, unless another owner has claimed one since."""
        owner = owner_of(claim)
        retain = check_seconds("retain", retain)

        def complete_all(conn: sqlite3.Connection) -> tuple[StoreKey | None, bool]:
            for key in claim.keys:
                params = {"key": self._stored(key), "owner": owner, "retain": retain}
                if conn.execute(self._sql.complete, params).fetchone() is None:
                    return key, False
            return None, True

        if not claim.also:
            params = {"key": self._stored(claim.key), "owner": owner, "retain": retain}
            lost = claim.key if self._fetch(self._sql.complete, params) is None else None
        else:
            lost = self._transaction(complete_all)
        if lost is not None:
            raise LeaseLostError(lost)

    def release(self, claim: Claim) -> None:
        """Delete the keys' rows this claim still holds uncompleted; leave every other row."""
        owner = owner_of(claim)
        for key in claim.keys:
            self._run(self._sql.release, {"key": self._stored(key), "owner": owner})

    def purge(self) -> int:
        """Delete the rows whose lease or retention has passed; return how many."""
        return self._run(self._sql.purge, {}).rowcount

    def close(self) -> None:
        """Close this process's connection; the store reopens it if used again."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _state(row: tuple[Any, ...] | None, owner: str) -> ClaimState:
    """What a claim statement's returned row says: the upsert returns the row it kept."""
    if row is not None and row[0] == owner:
        return ClaimState.ACQUIRED
    return ClaimState.DONE if row and row[1] else ClaimState.IN_PROGRESS


def _connect_wal(path: str, timeout: float) -> sqlite3.Connection:
    """Open `path` in autocommit mode, usable from any thread, with the file in WAL mode.

    Turning a new file to WAL upgrades a read lock to the write lock, which SQLite refuses at
    once ("database is locked", without its busy handler) while another process opening the
    file holds a read lock; so the switch is retried for up to `timeout` seconds.
    """
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    deadline = time.monotonic() + timeout
    delay = 0.001
    try:
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                return conn
            except sqlite3.OperationalError as exc:
                if not _busy(exc) or time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay)
            delay = min(2 * delay, 0.05)
    except BaseException:
        conn.close()
        raise


def _busy(exc: BaseException | None) -> bool:
    """Whether `exc` is SQLite's "another connection holds the lock" (busy or locked)."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    if code is not None:
        return code & 0xFF in _BUSY_CODES
    return "locked" in str(exc) or "busy" in str(exc)
