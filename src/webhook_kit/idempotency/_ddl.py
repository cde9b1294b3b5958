"""Creating a table when any number of processes start at once on an empty database.

Workers that check for the table and then create it fail ("already exists") if they checked
before the first one's table was there; ``CREATE TABLE IF NOT EXISTS`` fails the same way on
PostgreSQL (a duplicate ``pg_type`` row), and a table's indexes are separate statements anyway.
So `create_table` makes the check and the creation one step, and the first caller creates the
table while the others wait for it and then find it:

- PostgreSQL: a transaction-level advisory lock named after the table, then the check and the
  DDL in the same ``READ COMMITTED`` transaction (PostgreSQL's DDL is transactional, so a waiter
  sees the whole table or none); the commit releases the lock;
- MySQL/MariaDB: a ``GET_LOCK`` named after the table around the check and the DDL (MySQL's
  DDL commits itself); it is released at the end, or when the connection is lost;
- SQLite: ``CREATE TABLE IF NOT EXISTS`` and ``CREATE INDEX IF NOT EXISTS``, each one atomic
  statement under the database's write lock.

No error is caught: a missing privilege, a full disk or an unreachable server raises as it is.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..errors import StoreUnavailableError

__all__ = ["create_table"]

#: MySQL's longest lock name; a longer one is cut, which at worst makes two tables wait in turn.
_MAX_LOCK_NAME = 64


def create_table(engine: Engine, table: sa.Table, *, timeout: float) -> None:
    """Create `table` and its indexes unless the table exists, safely from many processes at once.

    `timeout` bounds the wait for another process's MySQL lock; PostgreSQL's and SQLite's waits
    are bounded by the engine's own statement and busy timeouts.
    """
    lock = f"webhook_kit.create_table:{table.fullname}"
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            # READ COMMITTED: the check after the wait must see a table committed during it.
            conn.execution_options(isolation_level="READ COMMITTED")
            with conn.begin():
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _key(lock)})
                table.create(conn, checkfirst=True)
        elif engine.dialect.name in ("mysql", "mariadb"):
            conn.execution_options(isolation_level="AUTOCOMMIT")
            name = lock[:_MAX_LOCK_NAME]
            _get_lock(conn, name, timeout)
            try:
                table.create(conn, checkfirst=True)
            finally:
                conn.execute(sa.text("DO RELEASE_LOCK(:name)"), {"name": name})
        else:
            with conn.begin():
                conn.execute(sa.schema.CreateTable(table, if_not_exists=True))
                for index in table.indexes:
                    conn.execute(sa.schema.CreateIndex(index, if_not_exists=True))


def _key(name: str) -> int:
    """PostgreSQL's advisory lock key for `name`: a signed 64-bit hash of it."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _get_lock(conn: Connection, name: str, timeout: float) -> None:
    """Take MySQL's named lock `name`, waiting up to about `timeout` seconds for its holder.

    The wait stops a little short of `timeout`, so that the answer comes before the driver's
    read timeout, which an engine made from a URL sets to `timeout` too.
    """
    wait = 0.9 * timeout
    got = conn.execute(
        sa.text("SELECT GET_LOCK(:name, :wait)"), {"name": name, "wait": wait}
    ).scalar()
    if got != 1:
        raise StoreUnavailableError(
            f"another process held the lock {name!r} for over {wait:g} s while creating the "
            "table: look for a long-running DDL statement or a stuck connection in "
            "SHOW PROCESSLIST"
        )
