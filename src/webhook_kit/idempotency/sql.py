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
from collections.abc import Callable
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
    check_key,
    check_prefix,
    check_seconds,
    new_owner,
    owner_of,
)
from ._ddl import create_table
from ._sql import statements

__all__ = ["SQLStore", "idempotency_table"]

DEFAULT_TABLE = "webhook_kit_idempotency"
_T = TypeVar("_T")
_MAX_KEY_BYTES = 255
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
        """Run one statement on a pooled connection and return `fetch(cursor)`.

        A connection that is not in autocommit mode (your engine's choice) is committed after
        the statement, which costs a second round trip. "Cannot answer now" errors become
        `StoreUnavailableError`, and a connection the driver reports dead leaves the pool.
        """
        try:
            conn = self._engine.raw_connection()
        except (self._dbapi.Error, sa.exc.TimeoutError) as exc:
            raise self._translate(exc, statement, params) from exc
        cursor: DBAPICursor | None = None
        try:
            cursor = conn.cursor()
            cursor.execute(statement.sql, statement.bind(params))
            result = fetch(cursor)
            if not self._autocommit(conn):
                conn.commit()
            return result
        except self._dbapi.Error as exc:
            if self._dialect.is_disconnect(exc, conn.dbapi_connection, cursor):
                conn.invalidate(exc)
            raise self._translate(exc, statement, params) from exc
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
        self, exc: Exception, statement: _Statement, params: dict[str, Any]
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
            return sa.exc.DBAPIError.instance(statement.sql, params, exc, self._dbapi.Error)
        detail = " ".join(str(exc).split())  # driver messages span several lines
        return StoreUnavailableError(
            f"the {self._dialect.name} database did not answer within {self.timeout} s "
            f"({exc.__class__.__name__}: {detail}): "
            "check that it is up and reachable from this host"
        )

    def _key(self, key: str) -> str:
        stored = f"{self.prefix}:{key}"
        if len(stored.encode()) > _MAX_KEY_BYTES:
            raise ValueError(
                f"the stored key {stored[:40]!r}... is over {_MAX_KEY_BYTES} bytes: "
                "use a shorter prefix or delivery id"
            )
        return stored

    def _seconds(self, seconds: float) -> float | int:
        """A duration as the statements take it: seconds, or MySQL's integer microseconds."""
        return round(seconds * 1_000_000) if self._family == "mysql" else seconds

    def claim(self, key: StoreKey, *, lease: float = DEFAULT_LEASE) -> Claim:
        """Take `key` for `lease` seconds unless a live lease or done marker holds it."""
        key = check_key(key)
        owner = new_owner()
        params = {
            "key": self._key(key),
            "owner": owner,
            "lease": self._seconds(check_seconds("lease", lease)),
        }
        if self._family == "mysql":
            code = self._execute(self._claim, params, _lastrowid)
            acquired, done = code in (0, 1), code == 3
        else:
            row = self._execute(self._claim, params, _first_row)
            acquired = row is not None and row[0] == owner
            done = row is not None and bool(row[1])
        if acquired:
            return Claim(key, ClaimState.ACQUIRED, owner)
        return Claim(key, ClaimState.DONE if done else ClaimState.IN_PROGRESS)

    def complete(self, claim: Claim, *, retain: float = DEFAULT_RETAIN) -> None:
        """Mark the key done for `retain` seconds, unless another owner has claimed it since."""
        params = {
            "key": self._key(claim.key),
            "owner": owner_of(claim),
            "retain": self._seconds(check_seconds("retain", retain)),
        }
        if self._family == "mysql":
            written = self._execute(self._complete, params, _lastrowid) != 2
        else:
            written = self._execute(self._complete, params, _first_row) is not None
        if not written:
            raise LeaseLostError(claim.key)

    def release(self, claim: Claim) -> None:
        """Delete the key's row if this claim still holds it uncompleted; otherwise do nothing."""
        params = {"key": self._key(claim.key), "owner": owner_of(claim)}
        self._execute(self._release, params, _rowcount)

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


def _first_row(cursor: DBAPICursor) -> Any:
    rows = cursor.fetchall()  # to the end, so SQLite finishes (and commits) the statement
    return rows[0] if rows else None


def _lastrowid(cursor: DBAPICursor) -> int:
    return int(cursor.lastrowid)


def _rowcount(cursor: DBAPICursor) -> int:
    return int(cursor.rowcount)
