"""Dead letters: the SQLite and SQL-database records, and `replay` through the current handlers."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.django_settings import create_store_database
from tests.idempotency.backends import sqlalchemy_url
from tests.processes import RACERS, race_in_processes
from tests.receiving import SECRETS
from webhook_kit import SQLiteStore, StoreUnavailableError, replay, testing
from webhook_kit.deadletters import DeadLetter, DeadLetterStore, SQLiteDeadLetters
from webhook_kit.deadletters.sql import SQLDeadLetters
from webhook_kit.django.deadletters import DjangoDeadLetters
from webhook_kit.idempotency import store_key
from webhook_kit.receiver import Receiver

SQL_SERVICES = {"postgres": "postgres_dsn", "mariadb": "mariadb_dsn"}
CREATE_ROUNDS = 8


def sql_letters(request: pytest.FixtureRequest, backend: str) -> Iterator[SQLDeadLetters]:
    """Dead letters in a fresh table of the shared `backend` database, dropped afterwards."""
    url = sqlalchemy_url(request.getfixturevalue(SQL_SERVICES[backend]))
    letters = SQLDeadLetters(url, table=f"dead_{uuid.uuid4().hex[:12]}")
    letters.create_table()
    yield letters
    letters.table.drop(letters.engine)
    letters.close()


def django_letters(location: str) -> Iterator[DjangoDeadLetters]:
    """`DjangoDeadLetters` on a fresh alias (a PostgreSQL schema or SQLite file), migrated."""
    name = f"wk_dead_{uuid.uuid4().hex[:12]}"
    drop = create_store_database(location, name)
    yield DjangoDeadLetters(using=name)
    drop()


@pytest.fixture(params=["sqlite", "postgres", "mariadb", "django-postgres", "django-sqlite"])
def letters(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DeadLetterStore]:
    """Dead letters in a fresh SQLite file, a fresh table of PostgreSQL or MariaDB, or the
    Django model's table in a fresh PostgreSQL schema or SQLite file."""
    if request.param == "sqlite":
        letters = SQLiteDeadLetters(tmp_path / "dead.sqlite3")
        yield letters
        letters.close()
    elif request.param == "django-postgres":
        yield from django_letters(request.getfixturevalue("postgres_dsn"))
    elif request.param == "django-sqlite":
        yield from django_letters(str(tmp_path / "django.sqlite3"))
    else:
        yield from sql_letters(request, request.param)


@pytest.fixture(params=list(SQL_SERVICES))
def sql(request: pytest.FixtureRequest) -> Iterator[SQLDeadLetters]:
    """Dead letters in a fresh PostgreSQL or MariaDB table."""
    yield from sql_letters(request, request.param)


def letter_of(name: str, secret: str, delivery_id: str, **fields: Any) -> DeadLetter:
    """A dead letter holding a real signed delivery of `name`, received an hour ago."""
    received = time.time() - 3600
    event = "job.failed" if name == "pulse" else "document.completed"
    body, headers = testing.signed_delivery(
        name, secret, event, delivery_id=delivery_id, now=received
    )
    options: dict[str, Any] = {
        "reason": "handler_failed",
        "error": "RuntimeError: boom",
        "attempts": 5,
    } | fields
    return DeadLetter(
        id=store_key(name, delivery_id),
        provider=name,
        body=body,
        headers={k.lower(): v for k, v in headers.items()},
        received_at=received,
        **options,
    )


def receiver_for(name: str, store: Any, calls: list[Any], *, fail: bool = False) -> Receiver:
    """A receiver whose handlers append to `calls`, or raise when `fail`."""
    receiver = Receiver(name, secret=SECRETS[name], store=store)

    def handle(event: Any) -> None:
        if fail:
            raise RuntimeError("still broken")
        calls.append(event)

    for event_type in receiver.provider.event_types:
        receiver.on(event_type)(handle)
    return receiver


def test_record_round_trip_and_replacement(letters: DeadLetterStore) -> None:
    """A letter reads back whole; recording it again replaces it and keeps its creation time."""
    letter = letter_of("struktr", SECRETS["struktr"], "d1", created_at=100.0, updated_at=100.0)
    letters.add(letter)
    assert letters.get(letter.id) == letter
    letters.add(DeadLetter(**{**letter.__dict__, "attempts": 6, "updated_at": 200.0}))
    [again] = letters.all()
    assert (again.attempts, again.created_at, again.updated_at) == (6, 100.0, 200.0)
    assert letters.all(provider="pulse") == []
    assert letters.remove(letter.id) is True
    assert (letters.remove(letter.id), letters.get(letter.id)) == (False, None)


def test_replay_runs_each_letter_once_and_removes_it(
    letters: DeadLetterStore, store: SQLiteStore
) -> None:
    """Replaying all letters runs each through the handlers once, then removes them."""
    for name, delivery_id in [("struktr", "a"), ("pulse", "b")]:
        letters.add(letter_of(name, SECRETS[name], delivery_id))
    calls: list[Any] = []
    receivers = [receiver_for(name, store, calls) for name in ("struktr", "pulse")]
    results = replay(receivers, letters)
    assert sorted((r.id, r.result, r.done) for r in results) == [
        ("pulse:b", "processed", True),
        ("struktr:a", "processed", True),
    ]
    assert (len(calls), letters.all(), replay(receivers, letters)) == (2, [], [])


def test_replay_of_a_delivery_processed_meanwhile_is_a_duplicate(
    letters: DeadLetterStore, store: SQLiteStore
) -> None:
    """A letter whose delivery the provider's retry already processed is not run again."""
    letter = letter_of("pulse", SECRETS["pulse"], "m1")
    letters.add(letter)
    calls: list[Any] = []
    receiver = receiver_for("pulse", store, calls)
    assert (
        receiver.process(letter.body, letter.headers, received_at=letter.received_at).status == 200
    )
    [result] = replay(receiver, letters, id="pulse:m1")
    assert (result.result, len(calls), letters.all()) == ("duplicate", 1, [])


def test_replay_that_fails_again_keeps_the_letter(
    letters: DeadLetterStore, store: SQLiteStore
) -> None:
    """A handler still failing leaves the letter, with one more attempt and the new error."""
    letters.add(letter_of("struktr", SECRETS["struktr"], "x"))
    [result] = replay({"struktr": receiver_for("struktr", store, [], fail=True)}, letters)
    assert (result.result, result.error) == ("handler_failed", "RuntimeError: still broken")
    [kept] = letters.all()
    assert (kept.attempts, kept.error) == (6, "RuntimeError: still broken")


def test_replay_verifies_unless_told_not_to(letters: DeadLetterStore, store: SQLiteStore) -> None:
    """A letter signed with a rotated-away secret is refused, and replayed with verify=False."""
    letters.add(letter_of("struktr", "the-old-secret", "r"))
    calls: list[Any] = []
    receiver = receiver_for("struktr", store, calls)
    [refused] = replay(receiver, letters)
    assert (refused.result, calls, len(letters.all())) == ("signature_mismatch", [], 1)
    [result] = replay(receiver, letters, verify=False)
    assert (result.result, len(calls), letters.all()) == ("processed", 1, [])


def test_replay_of_an_unknown_id_is_a_key_error(letters: DeadLetterStore) -> None:
    """Replaying an id that names no letter raises KeyError naming it."""
    with pytest.raises(KeyError, match="nope"):
        replay([], letters, id="struktr:nope")


def test_dead_letters_need_a_file() -> None:
    """An in-memory database would be invisible to the other processes, so it is refused."""
    with pytest.raises(ValueError, match="file"):
        SQLiteDeadLetters(":memory:")


def test_replay_of_one_provider_leaves_the_others(
    letters: DeadLetterStore, store: SQLiteStore
) -> None:
    """`provider=` replays that provider's letters only, and an id of another one is a KeyError."""
    for name, delivery_id in [("struktr", "a"), ("pulse", "b")]:
        letters.add(letter_of(name, SECRETS[name], delivery_id))
    calls: list[Any] = []
    receivers = [receiver_for(name, store, calls) for name in ("struktr", "pulse")]
    [result] = replay(receivers, letters, provider="pulse")
    assert (result.id, result.done, len(calls)) == ("pulse:b", True, 1)
    assert [letter.id for letter in letters.all()] == ["struktr:a"]
    with pytest.raises(KeyError, match="struktr:a"):
        replay(receivers, letters, id="struktr:a", provider="pulse")


def test_sql_dead_letters_keep_large_bodies(sql: SQLDeadLetters) -> None:
    """Every byte value and a NUL in the error survive; MySQL: as large as its packet allows."""
    size = 10 * 1024 * 1024  # the receiver's default limit
    if sql.engine.dialect.name == "mysql":
        with sql.engine.connect() as conn:
            packet = conn.execute(sa.text("SELECT @@max_allowed_packet")).scalar_one()
        size = min(size, (packet - 64 * 1024) // 2)
    body = (bytes(range(256)) * (size // 256 + 1))[:size]
    letter = letter_of("struktr", SECRETS["struktr"], "big")
    letter = DeadLetter(**{**letter.__dict__, "body": body, "error": "ValueError: a\x00b"})
    sql.add(letter)
    stored = sql.get(letter.id)
    assert stored is not None
    assert (stored.body == body, stored.error) == (True, "ValueError: a\ufffdb")


@pytest.mark.parametrize("sql", ["mariadb"], indirect=True)
def test_a_letter_over_mysqls_packet_size_names_the_setting(sql: SQLDeadLetters) -> None:
    """MariaDB would drop the connection; we refuse first, saying which setting to raise."""
    with sql.engine.connect() as conn:
        packet = conn.execute(sa.text("SELECT @@max_allowed_packet")).scalar_one()
    letter = letter_of("struktr", SECRETS["struktr"], "huge")
    letter = DeadLetter(**{**letter.__dict__, "body": b"x" * (packet // 2)})
    with pytest.raises(StoreUnavailableError, match="max_allowed_packet") as caught:
        sql.add(letter)
    assert caught.value.status_code == 503
    assert (sql.all(), sql.get(letter.id)) == ([], None)


def test_sql_dead_letters_tell_ids_apart_by_case(sql: SQLDeadLetters) -> None:
    """Ids are compared byte for byte, also where MySQL's default collation ignores case."""
    for delivery_id in ("Abc", "abc"):
        sql.add(letter_of("struktr", SECRETS["struktr"], delivery_id))
    assert sorted(letter.id for letter in sql.all()) == ["struktr:Abc", "struktr:abc"]


@pytest.mark.parametrize("scheme", ["postgresql+psycopg", "mysql+pymysql"])
def test_unreachable_sql_database_is_unavailable(scheme: str, closed_port: int) -> None:
    """A database that does not answer raises StoreUnavailableError, naming no password."""
    letters = SQLDeadLetters(f"{scheme}://user:hunter2@127.0.0.1:{closed_port}/db", timeout=1)
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="did not answer") as caught:
        letters.all()
    assert time.monotonic() - started < 5
    assert "hunter2" not in str(caught.value) + repr(letters)


def test_a_receiver_records_invalid_payloads_in_sql(
    sql: SQLDeadLetters, store: SQLiteStore
) -> None:
    """An invalid delivery lands in the SQL table, and replays once the models accept it."""
    receiver = Receiver("struktr", secret=SECRETS["struktr"], store=store, dead_letters=sql)
    body, headers = testing.signed_delivery(
        "struktr", SECRETS["struktr"], b'{"event": "document.completed", "data": 1}'
    )
    outcome = receiver.handle(body, headers)
    [letter] = sql.all()
    assert (outcome.status, letter.reason, letter.body) == (400, "invalid_payload", body)


def open_letters(location: str, table: str) -> SQLiteDeadLetters | SQLDeadLetters:
    """Dead letters in `table` of a SQLite file (made on opening) or a database URL."""
    if "://" in location:
        return SQLDeadLetters(location, table=table)
    return SQLiteDeadLetters(location, table=table)


def _create_table(wait: Callable[[], object], location: str, table: str) -> None:
    """Child process: get connected, then create the table together with the others."""
    if "://" not in location:
        wait()
        open_letters(location, table).close()
        return
    letters = SQLDeadLetters(location, table=table)
    try:
        letters.engine.connect().close()
        wait()
        letters.create_table()
    finally:
        letters.close()


@pytest.mark.parametrize("backend", ["sqlite", *SQL_SERVICES])
def test_8_processes_create_the_table_at_once(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """8 processes starting together on an empty database all succeed, and the table works."""
    tables = [f"dead_{uuid.uuid4().hex[:12]}" for _ in range(CREATE_ROUNDS)]
    if backend == "sqlite":
        rounds = [(str(tmp_path / f"{table}.sqlite3"), table) for table in tables]
    else:
        url = sqlalchemy_url(request.getfixturevalue(SQL_SERVICES[backend]))
        rounds = [(url, table) for table in tables]
        request.addfinalizer(lambda: _drop_tables(url, tables))
    outcomes = race_in_processes(_create_table, rounds)
    assert outcomes == [["ok"] * RACERS] * CREATE_ROUNDS
    letter = letter_of("struktr", SECRETS["struktr"], "after")
    for location, table in rounds:
        letters = open_letters(location, table)
        letters.add(letter)
        assert letters.get(letter.id) == letter
        letters.close()


def _drop_tables(url: str, tables: list[str]) -> None:
    engine = sa.create_engine(url)
    for table in tables:
        sa.Table(table, sa.MetaData()).drop(engine, checkfirst=True)
    engine.dispose()
