"""`DjangoDeadLetters` beyond the shared contract (in `test_deadletters.py`): its table is
`SQLDeadLetters`' own, purging, the receiver recording into it, and its signal."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from django.db import connections
from django.dispatch import receiver as listener

from tests.django_settings import create_store_database, setup
from tests.idempotency.backends import sqlalchemy_url
from tests.receiving import SECRETS
from tests.test_deadletters import letter_of
from webhook_kit import Receiver, StoreUnavailableError, testing
from webhook_kit.deadletters import DeadLetter
from webhook_kit.deadletters.sql import SQLDeadLetters
from webhook_kit.django.deadletters import DjangoDeadLetters
from webhook_kit.django.signals import delivery_dead_lettered

setup()

DAY = 24 * 60 * 60


@pytest.fixture
def alias(postgres_dsn: str) -> Iterator[str]:
    """A database alias on a fresh PostgreSQL schema, migrated, dropped after the test."""
    name = f"wk_dl_{uuid.uuid4().hex[:12]}"
    drop = create_store_database(postgres_dsn, name)
    yield name
    drop()


@pytest.fixture
def dead_lettered() -> Iterator[list[tuple[str, DeadLetter]]]:
    """The (sender, letter) of every `delivery_dead_lettered` sent during the test."""
    sent: list[tuple[str, DeadLetter]] = []

    @listener(delivery_dead_lettered)
    def record(sender: str, letter: DeadLetter, **kwargs: Any) -> None:
        sent.append((sender, letter))

    yield sent
    delivery_dead_lettered.disconnect(record)


def test_sql_dead_letters_read_the_django_table(postgres_dsn: str, alias: str) -> None:
    """A letter recorded through Django reads back whole through `SQLDeadLetters` (the CLI's
    ``--dead-letters URL``) on the same table, and the other way round."""
    letters = DjangoDeadLetters(using=alias)
    sql = SQLDeadLetters(sqlalchemy_url(postgres_dsn), schema=alias)
    try:
        mine = letter_of("struktr", SECRETS["struktr"], "from-django")
        letters.add(mine)
        assert sql.get(mine.id) == mine
        theirs = letter_of("pulse", SECRETS["pulse"], "from-sql")
        sql.add(theirs)
        assert letters.all(provider="pulse") == [theirs]
    finally:
        sql.close()


def test_purge_deletes_letters_not_recorded_for_that_long(alias: str) -> None:
    """`purge(older_than=)` deletes letters last recorded before then, and keeps newer ones."""
    letters = DjangoDeadLetters(using=alias)
    now = time.time()
    old = letter_of("struktr", SECRETS["struktr"], "old", created_at=now - 40 * DAY)
    letters.add(replace(old, updated_at=now - 31 * DAY))
    letters.add(letter_of("struktr", SECRETS["struktr"], "retried", updated_at=now - DAY))
    assert letters.purge(older_than=30 * DAY) == 1
    assert [letter.id for letter in letters.all()] == ["struktr:retried"]
    with pytest.raises(ValueError, match="older_than"):
        letters.purge(older_than=-1)


def test_an_error_with_a_nul_is_kept_readable(alias: str) -> None:
    """PostgreSQL text holds no NUL: the error keeps a replacement character instead of failing."""
    letters = DjangoDeadLetters(using=alias)
    letter = replace(letter_of("pulse", SECRETS["pulse"], "nul"), error="ValueError: a\x00b")
    letters.add(letter)
    stored = letters.get(letter.id)
    assert stored is not None
    assert stored.error == "ValueError: a\ufffdb"


def test_a_receiver_records_invalid_payloads_and_the_signal_is_sent(
    alias: str, dead_lettered: list[tuple[str, DeadLetter]]
) -> None:
    """An invalid delivery is recorded in the Django table, and `delivery_dead_lettered` names
    its provider and carries the letter; recording it again sends it again, attempts counted."""
    letters = DjangoDeadLetters(using=alias)
    receiver = Receiver("struktr", secret=SECRETS["struktr"], dead_letters=letters)
    body, headers = testing.signed_delivery(
        "struktr", SECRETS["struktr"], b'{"event": "document.completed", "data": 1}'
    )
    assert receiver.handle(body, headers).status == 400
    assert receiver.handle(body, headers).status == 400
    [stored] = letters.all()
    assert (stored.reason, stored.body, stored.attempts) == ("invalid_payload", body, 2)
    assert [(sender, letter.attempts) for sender, letter in dead_lettered] == [
        ("struktr", 1),
        ("struktr", 2),
    ]
    assert dead_lettered[-1][1].id == stored.id


def test_a_missing_table_is_unavailable_naming_the_command(alias: str) -> None:
    """Without the migration, recording raises `StoreUnavailableError` saying what to run, so the
    receiver answers 503 and the provider retries."""
    with connections[alias].cursor() as cursor:
        cursor.execute("DROP TABLE webhook_kit_dead_letters")
    letters = DjangoDeadLetters(using=alias)
    with pytest.raises(StoreUnavailableError, match=r"manage\.py migrate webhook_kit"):
        letters.add(letter_of("struktr", SECRETS["struktr"], "lost"))


def test_an_unknown_alias_is_refused() -> None:
    """A `using` that DATABASES does not define is refused at construction, naming it."""
    with pytest.raises(ValueError, match="'nowhere'"):
        DjangoDeadLetters(using="nowhere")
