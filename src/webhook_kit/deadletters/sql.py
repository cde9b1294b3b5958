"""`SQLDeadLetters`: dead letters in a table of the application's own database, via SQLAlchemy.

For receivers and Celery workers on several hosts, which cannot share a SQLite file: every host
records into, and `replay` reads from, the same PostgreSQL or MySQL/MariaDB table (SQLite works
too). Dead letters are rare, so each operation is a plain SQLAlchemy Core statement in its own
transaction; recording one is a single upsert that keeps the first `created_at`.

The table holds bodies up to the receiver's limit (``BYTEA`` on PostgreSQL, ``LONGBLOB`` on
MySQL/MariaDB). On MySQL/MariaDB a statement must fit the server's ``max_allowed_packet`` (16 MiB
by default on MariaDB 10.11, 64 MiB on MySQL 8), and PyMySQL sends bytes as hex, twice their size:
for the default 10 MiB body limit, raise it to 32 MiB or more. A letter too large for it raises
`StoreUnavailableError` naming the setting (so the receiver answers 503 and the provider retries
while you fix it), not a dropped connection. Create the table with `create_table`, or from your
migrations with `dead_letters_table`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

try:
    import sqlalchemy as sa
    from sqlalchemy.dialects import mysql, postgresql, sqlite
    from sqlalchemy.engine import Engine, make_url
    from sqlalchemy.engine.url import URL
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "webhook_kit.deadletters.sql needs SQLAlchemy: pip install 'webhook-kit[sql]'"
    ) from exc

from ..errors import StoreUnavailableError
from ..idempotency import DEFAULT_TIMEOUT
from ..idempotency._ddl import create_table
from ..idempotency.sql import _engine_options
from . import DeadLetter, _letter_of_row, _stored_headers

__all__ = ["SQLDeadLetters", "dead_letters_table"]

DEFAULT_TABLE = "webhook_kit_dead_letters"
_MAX_ID = 255
_MYSQL = ("mysql", "mariadb")
_UPSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def dead_letters_table(
    metadata: sa.MetaData, *, name: str = DEFAULT_TABLE, schema: str | None = None
) -> sa.Table:
    """Define the dead-letter table in `metadata`, for Alembic autogenerate or ``create_all``.

    ``id`` is the delivery's idempotency key (MySQL: a binary collation, so case counts);
    times are seconds since the epoch as double-precision floats, as `DeadLetter` holds them.
    """
    return sa.Table(
        name,
        metadata,
        sa.Column(
            "id",
            sa.String(_MAX_ID).with_variant(
                mysql.VARCHAR(_MAX_ID, charset="utf8mb4", collation="utf8mb4_bin"), *_MYSQL
            ),
            primary_key=True,
        ),
        sa.Column("provider", sa.String(64), nullable=False, index=True),
        sa.Column("body", sa.LargeBinary().with_variant(mysql.LONGBLOB(), *_MYSQL), nullable=False),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.Double(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        schema=schema,
    )


class SQLDeadLetters:
    """A `DeadLetterStore` in a SQL table, shared by every host that reaches the database.

    `engine` is a SQLAlchemy `Engine` or a URL such as ``postgresql+psycopg://user@host/db`` or
    ``mysql+pymysql://user@host/db``; from a URL the engine gets `timeout` on the pool wait, the
    connection and (PostgreSQL, PyMySQL) each statement, as `SQLStore`'s does. A database that
    does not answer raises `StoreUnavailableError`.
    """

    def __init__(
        self,
        engine: Engine | URL | str,
        *,
        table: str = DEFAULT_TABLE,
        schema: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.timeout = timeout
        self._owns_engine = not isinstance(engine, Engine)
        if not isinstance(engine, Engine):
            url = make_url(engine)
            engine = sa.create_engine(url, **_engine_options(url, timeout))
        if engine.dialect.name not in (*_UPSERTS, *_MYSQL):
            raise ValueError(
                "SQLDeadLetters supports PostgreSQL, MySQL/MariaDB and SQLite, "
                f"not {engine.dialect.name}"
            )
        self._engine = engine
        self._max_packet: int | None = None  # MySQL's max_allowed_packet, read once
        #: The SQLAlchemy `Table`, e.g. to drop it or to add it to your own metadata.
        self.table = dead_letters_table(sa.MetaData(), name=table, schema=schema)

    def __repr__(self) -> str:
        url = self._engine.url.render_as_string(hide_password=True)
        return f"SQLDeadLetters({url!r}, table={self.table.name!r})"

    @property
    def engine(self) -> Engine:
        """The engine whose connection pool the store uses."""
        return self._engine

    def create_table(self) -> None:
        """Create the table (and its provider index) if it does not exist.

        Every worker may call it as it starts: concurrent calls on an empty database take turns,
        so one creates the table and the others find it.
        """
        with self._unavailable():
            create_table(self._engine, self.table, timeout=self.timeout)

    def _run(self, work: Any) -> Any:
        """`work(connection)` in one transaction; "cannot answer now" is `StoreUnavailableError`."""
        with self._unavailable(), self._engine.begin() as conn:
            return work(conn)

    @contextmanager
    def _unavailable(self) -> Iterator[None]:
        """Raise the database's "cannot answer now" errors as `StoreUnavailableError`."""
        try:
            yield
        except (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError) as exc:
            detail = " ".join(str(getattr(exc, "orig", None) or exc).split())
            raise StoreUnavailableError(
                f"dead letters in the {self._engine.dialect.name} database did not answer within "
                f"{self.timeout} s ({detail}): check that it is up and reachable from this host"
            ) from exc

    def add(self, letter: DeadLetter) -> None:
        """Record `letter`, replacing the record with the same id (its `created_at` is kept)."""
        row = {
            "id": letter.id,
            "provider": letter.provider,
            "body": letter.body,
            "headers": _stored_headers(letter),
            "reason": letter.reason,
            "error": letter.error.replace("\x00", "\ufffd"),  # PostgreSQL text has no NUL
            "attempts": letter.attempts,
            "received_at": letter.received_at,
            "created_at": letter.created_at,
            "updated_at": letter.updated_at,
        }
        replaced = [name for name in row if name not in ("id", "created_at")]
        statement: Any
        if self._engine.dialect.name in _MYSQL:
            self._check_packet(letter)
            statement = mysql.insert(self.table).values(row)
            statement = statement.on_duplicate_key_update(
                {name: statement.inserted[name] for name in replaced}
            )
        else:
            statement = _UPSERTS[self._engine.dialect.name](self.table).values(row)
            statement = statement.on_conflict_do_update(
                index_elements=["id"], set_={name: statement.excluded[name] for name in replaced}
            )
        self._run(lambda conn: conn.execute(statement))

    def _check_packet(self, letter: DeadLetter) -> None:
        """Refuse, clearly, a letter MySQL would reject by dropping the connection."""
        if self._max_packet is None:
            query = sa.text("SELECT @@max_allowed_packet")
            self._max_packet = int(self._run(lambda conn: conn.execute(query).scalar_one()))
        needed = 2 * len(letter.body) + 64 * 1024  # bytes travel as hex; headers, error, SQL
        if needed > self._max_packet:
            raise StoreUnavailableError(
                f"a dead letter of {len(letter.body):,} bytes needs the server's "
                f"max_allowed_packet to be at least {needed:,} bytes (it is "
                f"{self._max_packet:,}): raise it, e.g. SET GLOBAL max_allowed_packet = "
                f"{1 << max(needed - 1, 1).bit_length()}"
            )

    def get(self, id: str) -> DeadLetter | None:
        """The letter with this id, or None."""
        query = self.table.select().where(self.table.c.id == id)
        rows = self._run(lambda conn: conn.execute(query).all())
        return _letter_of_row(rows[0]) if rows else None

    def all(self, *, provider: str | None = None) -> list[DeadLetter]:
        """Every letter (of one provider, if given), oldest first."""
        query = self.table.select().order_by(self.table.c.created_at, self.table.c.id)
        if provider is not None:
            query = query.where(self.table.c.provider == provider)
        return [_letter_of_row(row) for row in self._run(lambda conn: conn.execute(query).all())]

    def remove(self, id: str) -> bool:
        """Delete the letter with this id; return whether there was one."""
        statement = self.table.delete().where(self.table.c.id == id)
        return bool(self._run(lambda conn: conn.execute(statement).rowcount))

    def close(self) -> None:
        """Dispose of the engine if the store made it from a URL; yours stays open."""
        if self._owns_engine:
            self._engine.dispose()
