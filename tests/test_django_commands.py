"""The management commands ``webhook_kit_purge`` and ``webhook_kit_replay``, run by Django's own
`call_command` on a fresh PostgreSQL schema (``--database``)."""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test.utils import override_settings

from tests.django_settings import create_store_database, setup
from tests.receiving import SECRETS
from tests.test_deadletters import letter_of
from webhook_kit import Receiver
from webhook_kit.django.deadletters import DjangoDeadLetters
from webhook_kit.django.models import IdempotencyRecord
from webhook_kit.django.store import DjangoStore

setup()

#: The receivers ``WEBHOOK_KIT_RECEIVERS`` names while a test runs.
RECEIVERS: list[Receiver] = []
DAY = 24 * 60 * 60


@pytest.fixture
def alias(postgres_dsn: str) -> Iterator[str]:
    """A database alias on a fresh PostgreSQL schema, migrated, with this module's receivers."""
    name = f"wk_cmd_{uuid.uuid4().hex[:12]}"
    drop = create_store_database(postgres_dsn, name)
    RECEIVERS.clear()
    with override_settings(WEBHOOK_KIT_RECEIVERS=f"{__name__}.RECEIVERS"):
        yield name
    drop()


def run(command: str, *args: str) -> str:
    """Run a management command, returning what it printed."""
    out = io.StringIO()
    call_command(command, *args, stdout=out, no_color=True)
    return out.getvalue()


def receivers(alias: str, calls: list[Any], *, fail: bool = False) -> None:
    """A struktr and a Pulse receiver on a `DjangoStore`, whose handlers append or raise."""
    for name in ("struktr", "pulse"):
        made = Receiver(name, secret=SECRETS[name], store=DjangoStore(using=alias))

        def handle(event: Any) -> None:
            if fail:
                raise RuntimeError("still broken")
            calls.append(event)

        for event_type in made.provider.event_types:
            made.on(event_type)(handle)
        RECEIVERS.append(made)


def test_purge_deletes_expired_records_only(alias: str) -> None:
    """Expired idempotency records go, live ones stay; the count is printed."""
    store = DjangoStore(using=alias)
    store.claim("struktr:lapsed", lease=0.05)
    store.complete(store.claim("struktr:kept"))
    time.sleep(0.2)
    assert run("webhook_kit_purge", "--database", alias) == "1 expired idempotency record deleted\n"
    [kept] = IdempotencyRecord.objects.using(alias).all()
    assert kept.claim_key.endswith("struktr:kept")


def test_purge_deletes_dead_letters_only_when_asked(alias: str) -> None:
    """Dead letters stay unless ``--dead-letters-older-than`` is given; then the older ones go."""
    letters = DjangoDeadLetters(using=alias)
    now = time.time()
    letters.add(letter_of("struktr", SECRETS["struktr"], "old", updated_at=now - 8 * DAY))
    letters.add(letter_of("struktr", SECRETS["struktr"], "new", updated_at=now - DAY))
    run("webhook_kit_purge", "--database", alias)
    assert len(letters.all()) == 2
    out = run("webhook_kit_purge", "--database", alias, "--dead-letters-older-than", "7")
    assert out.splitlines()[-1] == "1 dead letter older than 7 days deleted"
    assert [letter.id for letter in letters.all()] == ["struktr:new"]
    with pytest.raises(CommandError, match="0 or more days"):
        run("webhook_kit_purge", "--database", alias, "--dead-letters-older-than", "-1")


def test_replay_by_id_runs_that_letter_only(alias: str) -> None:
    """Named ids are replayed and removed; the others stay; each result is printed."""
    calls: list[Any] = []
    receivers(alias, calls)
    letters = DjangoDeadLetters(using=alias)
    for name, delivery_id in [("struktr", "a"), ("pulse", "b"), ("pulse", "c")]:
        letters.add(letter_of(name, SECRETS[name], delivery_id))
    out = run("webhook_kit_replay", "struktr:a", "pulse:c", "--database", alias)
    assert out.splitlines() == [
        "processed           struktr:a",
        "processed           pulse:c",
        "2 replayed: 2 done, 0 kept",
    ]
    assert (len(calls), [letter.id for letter in letters.all()]) == (2, ["pulse:b"])


def test_replay_of_a_provider_or_all(alias: str) -> None:
    """``--provider`` replays that provider's letters; ``--all`` the rest."""
    calls: list[Any] = []
    receivers(alias, calls)
    letters = DjangoDeadLetters(using=alias)
    for name, delivery_id in [("struktr", "a"), ("pulse", "b")]:
        letters.add(letter_of(name, SECRETS[name], delivery_id))
    run("webhook_kit_replay", "--provider", "pulse", "--database", alias)
    assert [letter.id for letter in letters.all()] == ["struktr:a"]
    run("webhook_kit_replay", "--all", "--database", alias)
    assert (len(calls), letters.all()) == (2, [])


def test_replay_that_fails_again_keeps_the_letter_and_fails(alias: str) -> None:
    """A letter still failing is kept with one more attempt, and the command exits with an error."""
    receivers(alias, [], fail=True)
    letters = DjangoDeadLetters(using=alias)
    letters.add(letter_of("pulse", SECRETS["pulse"], "k", attempts=1))
    with pytest.raises(CommandError, match="1 dead letter kept"):
        run("webhook_kit_replay", "--all", "--database", alias)
    [kept] = letters.all()
    assert (kept.attempts, kept.error) == (2, "RuntimeError: still broken")


def test_replay_without_verifying(alias: str) -> None:
    """``--no-verify`` replays a letter signed with a secret since rotated away."""
    calls: list[Any] = []
    receivers(alias, calls)
    letters = DjangoDeadLetters(using=alias)
    letters.add(letter_of("struktr", "the-old-secret", "old"))
    with pytest.raises(CommandError, match="kept"):
        run("webhook_kit_replay", "--all", "--database", alias)
    run("webhook_kit_replay", "--all", "--no-verify", "--database", alias)
    assert (len(calls), letters.all()) == (1, [])


def test_replay_refuses_unknown_ids_and_an_empty_selection_before_running_any(alias: str) -> None:
    """An id that names no letter (of the provider given) stops the command before any letter
    runs; naming none, without --provider or --all, is refused too."""
    calls: list[Any] = []
    receivers(alias, calls)
    letters = DjangoDeadLetters(using=alias)
    letters.add(letter_of("struktr", SECRETS["struktr"], "a"))
    with pytest.raises(CommandError, match="no dead letter 'struktr:nope'"):
        run("webhook_kit_replay", "struktr:a", "struktr:nope", "--database", alias)
    with pytest.raises(CommandError, match="of 'pulse'"):
        run("webhook_kit_replay", "struktr:a", "--provider", "pulse", "--database", alias)
    with pytest.raises(CommandError, match="--all"):
        run("webhook_kit_replay", "--database", alias)
    assert (calls, len(letters.all())) == ([], 1)


def test_replay_list_lists_without_replaying(alias: str) -> None:
    """``--list`` prints each letter (of the provider, if given) and runs none."""
    letters = DjangoDeadLetters(using=alias)
    letters.add(letter_of("struktr", SECRETS["struktr"], "a", error="RuntimeError: boom"))
    letters.add(replace(letter_of("pulse", SECRETS["pulse"], "b"), reason="invalid_payload"))
    lines = run("webhook_kit_replay", "--list", "--database", alias).splitlines()
    assert lines[-1] == "2 dead letters"
    assert lines[0].startswith("struktr:a  handler_failed  attempts=5  received ")
    assert lines[0].endswith("RuntimeError: boom")
    only = run("webhook_kit_replay", "--list", "-p", "pulse", "--database", alias).splitlines()
    assert (len(only), only[0].split()[:2]) == (2, ["pulse:b", "invalid_payload"])
    assert len(letters.all()) == 2


def test_replay_without_the_setting_names_it(alias: str) -> None:
    """Without WEBHOOK_KIT_RECEIVERS the command says what to set, and runs nothing."""
    DjangoDeadLetters(using=alias).add(letter_of("struktr", SECRETS["struktr"], "a"))
    with (
        override_settings(WEBHOOK_KIT_RECEIVERS=None),
        pytest.raises(CommandError, match="WEBHOOK_KIT_RECEIVERS"),
    ):
        run("webhook_kit_replay", "--all", "--database", alias)
    with (
        override_settings(WEBHOOK_KIT_RECEIVERS="tests.nowhere.receivers"),
        pytest.raises(CommandError, match=r"cannot import 'tests\.nowhere\.receivers'"),
    ):
        run("webhook_kit_replay", "--all", "--database", alias)
