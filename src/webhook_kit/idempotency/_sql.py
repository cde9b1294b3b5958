"""The SQL both SQL backends run: one statement per operation, time taken from the database.

`SQLiteStore` (stdlib `sqlite3`) and `SQLStore` (SQLAlchemy, any of PostgreSQL, MySQL/MariaDB,
SQLite) run the statements built here, so their semantics are identical by construction.

Every statement is a single atomic statement in autocommit mode, one round trip:

- claim: ``INSERT ... ON CONFLICT DO UPDATE`` (MySQL: ``ON DUPLICATE KEY UPDATE``) that takes the
  row over only if it has expired, and reports the row's owner and done flag (MySQL: a state code
  through ``LAST_INSERT_ID(expr)``, which the server returns with the OK packet);
- complete: the same upsert, writing the done marker unless another owner holds a live row;
- release: ``DELETE`` of the row if it still names this owner and is not done;
- purge: ``DELETE`` of every expired row.
"""

# Table names are identifiers quoted by the dialect (or checked by SQLiteStore); every value is a
# bound parameter.
# ruff: noqa: S608

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["COLUMNS", "Statements", "is_deadlock", "statements"]

#: Column names of the one table, in DDL order.
COLUMNS = ("claim_key", "owner", "done", "expires_at")

#: Expiry instants per dialect: PostgreSQL ``timestamptz`` from ``now()``; MySQL/MariaDB
#: ``DATETIME(6)`` in UTC from ``UTC_TIMESTAMP(6)`` (independent of the session time zone);
#: SQLite seconds since the Unix epoch from ``julianday('now')`` (the host's clock).
_NOW = {
    "postgresql": "now()",
    "mysql": "UTC_TIMESTAMP(6)",
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
}


def _later(dialect: str, param: str) -> str:
    """SQL for "now plus the seconds in bind parameter `param`" (MySQL: microseconds)."""
    if dialect == "postgresql":
        return f"now() + make_interval(secs => :{param})"
    if dialect == "mysql":
        return f"DATE_ADD(UTC_TIMESTAMP(6), INTERVAL :{param} MICROSECOND)"
    return f"{_NOW['sqlite']} + :{param}"


@dataclass(frozen=True)
class Statements:
    """The four statements for one table, with named parameters.

    Parameters: ``key``, ``owner``, and ``lease`` / ``retain`` in seconds (MySQL: integer
    microseconds). `claim` returns ``(owner, done)`` (MySQL: nothing; ``lastrowid`` is 0 for a
    fresh row, 1 for a take-over, 2 for in progress, 3 for done); `complete` returns one row when
    it wrote the marker (MySQL: ``lastrowid`` 0 or 1 when written, 2 when fenced off).
    """

    claim: str
    complete: str
    release: str
    purge: str


def statements(dialect: str, table: str) -> Statements:
    """Build the statements for `dialect` ("postgresql", "mysql" or "sqlite") on `table`.

    `table` must already be quoted for the dialect (schema included).
    """
    now = _NOW[dialect]
    columns = ", ".join(COLUMNS)
    if dialect == "mysql":
        expired = f"expires_at <= {now}"
        claim = (
            f"INSERT INTO {table} ({columns}) "
            f"VALUES (:key, :owner, FALSE, {_later(dialect, 'lease')}) "
            "ON DUPLICATE KEY UPDATE "
            # Assignments run left to right on the updated row, so expires_at comes last and the
            # state code is taken from the old values first.
            f"owner = IF(LAST_INSERT_ID(IF({expired}, 1, IF(done, 3, 2))) = 1, :owner, owner), "
            f"done = IF({expired}, FALSE, done), "
            f"expires_at = IF({expired}, {_later(dialect, 'lease')}, expires_at)"
        )
        writable = f"(owner = :owner OR {expired})"
        complete = (
            f"INSERT INTO {table} ({columns}) "
            f"VALUES (:key, :owner, TRUE, {_later(dialect, 'retain')}) "
            "ON DUPLICATE KEY UPDATE "
            f"done = IF(LAST_INSERT_ID(IF({writable}, 1, 2)) = 1, TRUE, done), "
            f"owner = IF({writable}, :owner, owner), "
            f"expires_at = IF({writable}, {_later(dialect, 'retain')}, expires_at)"
        )
    else:
        # The target is aliased `cur` (the row already there); `excluded` is the proposed row.
        expired = f"cur.expires_at <= {now}"
        claim = (
            f"INSERT INTO {table} AS cur ({columns}) "
            f"VALUES (:key, :owner, FALSE, {_later(dialect, 'lease')}) "
            "ON CONFLICT (claim_key) DO UPDATE SET "
            f"owner = CASE WHEN {expired} THEN excluded.owner ELSE cur.owner END, "
            f"done = CASE WHEN {expired} THEN FALSE ELSE cur.done END, "
            f"expires_at = CASE WHEN {expired} THEN excluded.expires_at ELSE cur.expires_at END "
            "RETURNING owner, done"
        )
        complete = (
            f"INSERT INTO {table} AS cur ({columns}) "
            f"VALUES (:key, :owner, TRUE, {_later(dialect, 'retain')}) "
            "ON CONFLICT (claim_key) DO UPDATE SET "
            "owner = excluded.owner, done = TRUE, expires_at = excluded.expires_at "
            f"WHERE cur.owner = excluded.owner OR {expired} "
            "RETURNING done"
        )
    release = f"DELETE FROM {table} WHERE claim_key = :key AND owner = :owner AND done = FALSE"
    purge = f"DELETE FROM {table} WHERE expires_at <= {now}"
    return Statements(claim, complete, release, purge)


def is_deadlock(exc: BaseException | None) -> bool:
    """Whether `exc` (or the driver error it wraps) is the database breaking a deadlock.

    PostgreSQL's SQLSTATE 40P01 (or 40001, a serialization failure) and MySQL/MariaDB's error
    1213: the transaction was rolled back and can simply run again.
    """
    while exc is not None:
        code = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
        if code in ("40P01", "40001"):
            return True
        args: tuple[object, ...] = getattr(exc, "args", ())
        if len(args) > 0 and args[0] == 1213:
            return True
        exc = exc.__cause__
    return False
