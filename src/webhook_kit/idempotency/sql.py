"""`SQLStore`: one table in the application's own database, through SQLAlchemy Core.

Tested on PostgreSQL (psycopg 3) and MariaDB (PyMySQL); MySQL 8 and SQLite work the same way.
Every operation is one statement in autocommit mode, one round trip:

- claim: ``INSERT ... ON CONFLICT (claim_key) DO UPDATE ... RETURNING`` on PostgreSQL and SQLite,
  ``INSERT ... ON DUPLICATE KEY UPDATE`` on MySQL/MariaDB; an existing row is taken over only if
  its expiry has passed (a compare-and-set under the row lock), so exactly one concurrent caller
  acquires;
- complete: the same upsert, writing the done marker unless another owner holds a live row;
- release: ``DELETE ... WHERE claim_key = ... AND owner = ... AND NOT done``;
- purge: ``DELETE ... WHERE expires_at <= <now>``.

Time is the database server's: ``now()`` on PostgreSQL, ``UTC_TIMESTAMP(6)`` on MySQL/MariaDB
(the column holds UTC, whatever the session time zone), ``julianday('now')`` on SQLite. The
statements are in `webhook_kit.idempotency._sql`; the DDL is in ``docs/idempotency.md``.

Given a URL, the store makes its engine in autocommit mode with `timeout` applied to the pool
wait, the connection attempt and (PostgreSQL) each statement or (PyMySQL) each socket read and
write. Given your own `Engine`, its settings apply; create it with
``isolation_level="AUTOCOMMIT", skip_autocommit_rollback=True`` for one round trip per
operation (without them PyMySQL adds a ``ROLLBACK`` and two ``SET autocommit`` per operation).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

try:
    import sqlalchemy as sa
    from sqlalchemy.dialects import mysql
    from sqlalchemy.engine import Engine, make_url
    from sqlalchemy.engine.default import DefaultDialect
    from sqlalchemy.engine.interfaces import DBAPICursor, Dialect
    from sqlalchemy.engine.url import URL
    from sqlalchemy.pool import PoolProxiedConnection
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "webhook_kit.idempotency.sql needs SQLAlchemy: pip install 'webhook-kit[sql]'"
    ) from exc

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
    check_keys,
    check_prefix,
    check_seconds,
    fold_states,
    new_owner,
    owner_of,
)
from ._ddl import create_table
from ._sql import is_deadlock, statements

__all__ = ["SQLStore", "idempotency_table"]

DEFAULT_TABLE = "webhook_kit_idempotency"
_T = TypeVar("_T")
_MAX_KEY_BYTES = 255
#: How many times a multi-key transaction the database aborted as a deadlock is tried.
_DEADLOCK_ATTEMPTS = 3
#: How each family opens an explicit transaction on an autocommit connection.
_BEGIN = {"postgresql": "BEGIN", "mysql": "START TRANSACTION", "sqlite": "BEGIN IMMEDIATE"}
_FAMILIES = {"postgresql": "postgresql", "mysql": "mysql", "mariadb": "mysql", "sqlite": "sqlite"}
#: `skip_autocommit_rollback` came with SQLAlchemy 2.0.43.
_CAN_SKIP_ROLLBACK = "skip_autocommit_rollback" in inspect.signature(DefaultDialect).parameters


def idempotency_table(
    metadata: sa.MetaData, *, name: str = DEFAULT_TABLE, schema: str | None = None
) -> sa.Table:
    """Define the store's table in `metadata`, for Alembic autogenerate or ``create_all``.

    ``claim_key`` is ``<prefix>:<provider>:<delivery id>``, compared byte for byte (MySQL:
    ``VARBINARY``, since the default collations ignore case); ``owner`` is the lease's token;
    ``done`` tells a done marker from a lease; ``expires_at`` is when either lapses.
    """
    on_mysql = ("mysql", "mariadb")
    return sa.Table(
        name,
        metadata,
        sa.Column(
            "claim_key",
            sa.String(_MAX_KEY_BYTES).with_variant(mysql.VARBINARY(_MAX_KEY_BYTES), *on_mysql),
            primary_key=True,
        ),
        sa.Column("owner", sa.String(32), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column(
            "expires_at",
            sa.DateTime(timezone=True)
            .with_variant(mysql.DATETIME(fsp=6), *on_mysql)
            .with_variant(sa.Float(), "sqlite"),
            nullable=False,
        ),
        schema=schema,
    )


def _engine_options(url: URL, timeout: float) -> dict[str, Any]:
    """`create_engine` options: autocommit, and `timeout` wherever the driver takes one."""
    backend, driver = url.get_backend_name(), url.get_driver_name()
    connect_args: dict[str, Any] = {}
    if backend == "postgresql" and driver in ("psycopg", "psycopg2"):
        # libpq counts whole seconds, at least 2.
        connect_args["connect_timeout"] = max(2, math.ceil(timeout))
        connect_args["options"] = f"-c statement_timeout={math.ceil(timeout * 1000)}"
    elif backend in ("mysql", "mariadb") and driver == "pymysql":
        connect_args.update(connect_timeout=timeout, read_timeout=timeout, write_timeout=timeout)
    elif backend == "sqlite":
        connect_args["timeout"] = timeout
    options: dict[str, Any] = {
        "isolation_level": "AUTOCOMMIT",
        "pool_timeout": timeout,
        "connect_args": connect_args,
    }
    if _CAN_SKIP_ROLLBACK and driver in ("psycopg", "psycopg2", "pymysql", "mysqldb", "pysqlite"):
        options["skip_autocommit_rollback"] = True
    return options


class _Statement:
    """One statement compiled once for the engine's driver: its SQL and parameter order."""

    __slots__ = ("order", "sql")

    def __init__(self, sql: str, dialect: Dialect) -> None:
        compiled = sa.text(sql).compile(dialect=dialect)
        self.sql = compiled.string
        #: Parameter names in order for positional paramstyles (``%s``, ``?``); None if named.
        self.order = tuple(compiled.positiontup or ()) if compiled.positional else None

    def bind(self, params: dict[str, Any]) -> dict[str, Any] | tuple[Any, ...]:
        if self.order is None:
            return params
        return tuple(params[name] for name in self.order)


class _Runner:
    """Runs statements (or bare transaction-control commands) on one cursor, noting the last."""

    __slots__ = ("cursor", "sql")

    def __init__(self, cursor: DBAPICursor) -> None:
        self.cursor = cursor
        #: The statement run last, for the error message if it fails.
        self.sql = ""

    def __call__(self, statement: _Statement | str, params: dict[str, Any]) -> DBAPICursor:
        if isinstance(statement, str):
            self.sql = statement
            self.cursor.execute(statement)
        else:
            self.sql = statement.sql
            self.cursor.execute(statement.sql, statement.bind(params))
        return self.cursor


class SQLStore:
    """An `IdempotencyStore` in a SQL table, for receivers on several hosts sharing a database.

    `engine` is a SQLAlchemy `Engine` or a URL such as
    ``postgresql+psycopg://user@host/db`` or ``mysql+pymysql://user@host/db``. Create the table
    once with `create_table`, or with your migrations (see `idempotency_table`), and run `purge`
    now and then (say daily) to delete expired rows.

    Statements run on the engine's pooled DBAPI connections (`Engine.raw_connection`), compiled
    once for its driver: the per-operation cost is the pool checkout and the round trip.
    """

    __slots__ = (
        "_claim",
        "_complete",
        "_dbapi",
        "_dialect",
        "_engine",
        "_family",
        "_owns_engine",
        "_purge",
        "_release",
        "prefix",
        "table",
        "timeout",
    )

    def __init__(
        self,
        engine: Engine | URL | str,
        *,
        table: str = DEFAULT_TABLE,
        schema: str | None = None,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.prefix = check_prefix(prefix)
        self.timeout = check_seconds("timeout", timeout)
        self._owns_engine = not isinstance(engine, Engine)
        if not isinstance(engine, Engine):
            url = make_url(engine)
            engine = sa.create_engine(url, **_engine_options(url, self.timeout))
        family = _FAMILIES.get(engine.dialect.name)
        if family is None:
            raise ValueError(
                f"SQLStore supports PostgreSQL, MySQL/MariaDB and SQLite, not {engine.dialect.name}"
            )
        self._family = family
        self._engine = engine
        self._dialect = engine.dialect
        self._dbapi = engine.dialect.loaded_dbapi
        #: The SQLAlchemy `Table`, e.g. to drop it or to add it to your own metadata.
        self.table = idempotency_table(sa.MetaData(), name=table, schema=schema)
        sql = statements(family, engine.dialect.identifier_preparer.format_table(self.table))
        self._claim = _Statement(sql.claim, self._dialect)
        self._complete = _Statement(sql.complete, self._dialect)
        self._release = _Statement(sql.release, self._dialect)
        self._purge = _Statement(sql.purge, self._dialect)

    @property
    def engine(self) -> Engine:
        """The engine whose connection pool the store uses."""
        return self._engine

    def create_table(self) -> None:
        """Create the table if it does not exist (the DDL in ``docs/idempotency.md``).

        Every worker may call it as it starts: concurrent calls on an empty database take turns,
        so one creates the table and the others find it.
        """
        create_table(self._engine, self.table, timeout=self.timeout)

    def _execute(
        self, statement: _Statement, params: dict[str, Any], fetch: Callable[[DBAPICursor], _T]
    ) -> _T:
        """Run one statement on a pooled connection and return `fetch(cursor)`."""

        def one(run: _Runner) -> tuple[_T, bool]:
            return fetch(run(statement, params)), True

        return self._session(one, transaction=False)

    def _session(self, steps: Callable[[_Runner], tuple[_T, bool]], *, transaction: bool) -> _T:
        """Run `steps` on one pooled connection and return its result.

        `steps` gets a function that runs a statement and returns the cursor; it returns its
        result and whether to commit. With `transaction`, the statements run in one transaction
        (retried from the start if the database broke a deadlock by aborting it). A connection
        not in autocommit mode (your engine's choice) is committed after the statements, which
        costs a round trip. "Cannot answer now" errors become `StoreUnavailableError`, and a
        connection the driver reports dead leaves the pool.
        """
        for attempt in range(_DEADLOCK_ATTEMPTS):
            try:
                return self._attempt(steps, transaction=transaction)
            except _Deadlock as deadlock:
                if attempt == _DEADLOCK_ATTEMPTS - 1:
                    raise self._translate(deadlock.error, deadlock.sql) from deadlock.error
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, steps: Callable[[_Runner], tuple[_T, bool]], *, transaction: bool) -> _T:
        try:
            conn = self._engine.raw_connection()
        except (self._dbapi.Error, sa.exc.TimeoutError) as exc:
            raise self._translate(exc, "") from exc
        cursor: DBAPICursor | None = None
        run: _Runner | None = None
        began = False
        try:
            cursor = conn.cursor()
            run = _Runner(cursor)
            autocommit = self._autocommit(conn)
            if transaction and autocommit:
                run(_BEGIN[self._family], {})
                began = True
            result, commit = steps(run)
            if began or not autocommit:
                _end(run if began else None, conn, commit=commit)
                began = False
            return result
        except self._dbapi.Error as exc:
            disconnected = self._dialect.is_disconnect(exc, conn.dbapi_connection, cursor)
            if disconnected:
                conn.invalidate(exc)
            else:
                _rollback(cursor if began else None, conn)
            sql = run.sql if run is not None else ""
            if transaction and not disconnected and is_deadlock(exc):
                raise _Deadlock(exc, sql) from exc
            raise self._translate(exc, sql) from exc
        except BaseException:
            _rollback(cursor if began else None, conn)
            raise
        finally:
            try:
                if cursor is not None:
                    cursor.close()
            finally:
                conn.close()  # back to the pool

    def _autocommit(self, conn: PoolProxiedConnection) -> bool:
        dbapi_connection = conn.dbapi_connection
        if dbapi_connection is None:
            return False
        try:
            return bool(self._dialect.detect_autocommit_setting(dbapi_connection))
        except NotImplementedError:  # SQLAlchemy < 2.0.43, or a driver that cannot tell
            return False

    def _translate(
        self, exc: Exception, sql: str, params: dict[str, Any] | None = None
    ) -> Exception:
        """`StoreUnavailableError` for "cannot answer now", SQLAlchemy's wrapper for the rest.

        Connection refused or lost, timeouts, a lock wait or deadlock given up on are
        unavailability; a missing table or a syntax error is a bug to see as such.
        """
        unavailable = (
            self._dbapi.OperationalError,
            self._dbapi.InterfaceError,
            sa.exc.TimeoutError,
        )
        if not isinstance(exc, unavailable):
            return sa.exc.DBAPIError.instance(sql, params, exc, self._dbapi.Error)
        detail = " ".join(str(exc).split())  # driver messages span several lines
        return StoreUnavailableError(
            f"the {self._dialect.name} database did not answer within {self.timeout} s "
            f"({exc.__class__.__name__}: {detail}): "
            "check that it is up and reachable from this host"
        )

    def _key(self, key: str) -> str:
        return f"{self.prefix}:{key}"

    def _seconds(self, seconds: float) -> float | int:
        """A duration as the statements take it: seconds, or MySQL's integer microseconds."""
        return round(seconds * 1_000_000) if self._family == "mysql" else seconds

    def _claim_state(
        self, run: _Runner, key: StoreKey, owner: str, lease: float | int
    ) -> ClaimState:
        """Run the claim statement for one key and say what it found."""
        params = {"key": self._key(key), "owner": owner, "lease": lease}
        cursor = run(self._claim, params)
        if self._family == "mysql":
            code = _lastrowid(cursor)
            if code in (0, 1):
                return ClaimState.ACQUIRED
            return ClaimState.DONE if code == 3 else ClaimState.IN_PROGRESS
        row = _first_row(cursor)
        if row is not None and row[0] == owner:
            return ClaimState.ACQUIRED
        return ClaimState.DONE if row is not None and row[1] else ClaimState.IN_PROGRESS

    def _completed(self, run: _Runner, key: StoreKey, owner: str, retain: float | int) -> bool:
        """Run the complete statement for one key; whether it wrote the done marker."""
        cursor = run(self._complete, {"key": self._key(key), "owner": owner, "retain": retain})
        if self._family == "mysql":
            return _lastrowid(cursor) != 2
        return _first_row(cursor) is not None

    def claim(
        self, key: StoreKey, *, lease: float = DEFAULT_LEASE, also: Sequence[StoreKey] = ()
    ) -> Claim:
        """Take `key` (and the `also` keys) for `lease` seconds unless one of them is live.

        Several keys are claimed in one transaction, in sorted order (so that two claims of
        the same keys cannot deadlock), and rolled back unless every one was acquired.
        """
        key, also = check_keys(key, also)
        owner = new_owner()
        seconds = self._seconds(check_seconds("lease", lease))

        def claim_all(run: _Runner) -> tuple[ClaimState, bool]:
            states = [self._claim_state(run, each, owner, seconds) for each in sorted((key, *also))]
            folded = fold_states(states)
            return folded, folded is ClaimState.ACQUIRED

        state = self._session(claim_all, transaction=bool(also))
        if state is ClaimState.ACQUIRED:
            return Claim(key, state, owner, also)
        return Claim(key, state, also=also)

    def complete(self, claim: Claim, *, retain: float = DEFAULT_RETAIN) -> None:
        """Mark the keys done for `retain` seconds, unless another owner has claimed one since."""
        owner = owner_of(claim)
        seconds = self._seconds(check_seconds("retain", retain))

        def complete_all(run: _Runner) -> tuple[StoreKey | None, bool]:
            for key in sorted(claim.keys):
                if not self._completed(run, key, owner, seconds):
                    return key, False
            return None, True

        lost = self._session(complete_all, transaction=bool(claim.also))
        if lost is not None:
            raise LeaseLostError(lost)

    def release(self, claim: Claim) -> None:
        """Delete the keys' rows this claim still holds uncompleted; leave every other row."""
        owner = owner_of(claim)
        for key in claim.keys:
            self._execute(self._release, {"key": self._key(key), "owner": owner}, _rowcount)

    def purge(self) -> int:
        """Delete the rows whose lease or retention has passed; return how many."""
        return self._execute(self._purge, {}, _rowcount)

    def close(self) -> None:
        """Dispose of the engine if the store made it from a URL; yours stays open."""
        if self._owns_engine:
            self._engine.dispose()

    def __enter__(self) -> SQLStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _Deadlock(Exception):
    """The database aborted a transaction to break a deadlock: run it again."""

    def __init__(self, error: Exception, sql: str) -> None:
        super().__init__(str(error))
        self.error = error
        self.sql = sql


def _end(run: _Runner | None, conn: PoolProxiedConnection, *, commit: bool) -> None:
    """Commit or roll back: with SQL on an autocommit connection (`run`), else the DBAPI's."""
    if run is not None:
        run("COMMIT" if commit else "ROLLBACK", {})
    elif commit:
        conn.commit()
    else:
        conn.rollback()


def _rollback(cursor: DBAPICursor | None, conn: PoolProxiedConnection) -> None:
    """Roll back after an error, best effort: the connection may already be unusable."""
    try:
        if cursor is not None:
            cursor.execute("ROLLBACK")
        else:
            conn.rollback()
    except Exception:  # noqa: S110 - the original error is what the caller needs to see
        pass


def _first_row(cursor: DBAPICursor) -> Any:
    rows = cursor.fetchall()  # to the end, so SQLite finishes (and commits) the statement
    return rows[0] if rows else None


def _lastrowid(cursor: DBAPICursor) -> int:
    return int(cursor.lastrowid)


def _rowcount(cursor: DBAPICursor) -> int:
    return int(cursor.rowcount)
