"""The Django admin of `webhook_kit.django.admin`, rendered by the real admin site through the
test client, as a logged-in superuser (and a staff user without the replay permission).

Every query goes to a fresh PostgreSQL schema (`Router.alias`) with every app migrated: auth,
sessions and the admin's log next to the dead letters and idempotency records.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.test.utils import override_settings
from django.urls import path, reverse

from tests.django_settings import Router, URLConf, create_store_database, migrate_all, setup
from tests.receiving import SECRETS
from tests.test_deadletters import letter_of
from webhook_kit import Receiver
from webhook_kit.django.deadletters import DjangoDeadLetters
from webhook_kit.django.models import DeadLetterRecord, IdempotencyRecord
from webhook_kit.django.store import DjangoStore

setup()

#: The receivers ``WEBHOOK_KIT_RECEIVERS`` names while a test runs; each test sets its own.
RECEIVERS: dict[str, Receiver] = {}

LETTERS = "admin:webhook_kit_deadletterrecord_changelist"
RECORDS = "admin:webhook_kit_idempotencyrecord_changelist"


@pytest.fixture(scope="module")
def alias(postgres_dsn: str) -> Iterator[str]:
    """A fresh PostgreSQL schema every query is routed to, with every installed app migrated."""
    name = f"wk_admin_{uuid.uuid4().hex[:12]}"
    Router.alias = name
    try:
        drop = create_store_database(postgres_dsn, name)
        try:
            migrate_all(name)
            User.objects.create_superuser("root", "root@example.com", "not-a-secret")
            yield name
        finally:
            drop()
    finally:
        Router.alias = None
        ContentType.objects.clear_cache()


@pytest.fixture
def client(alias: str) -> Iterator[Client]:
    """A client logged in as the superuser, on the admin's URLs, with empty tables."""
    DeadLetterRecord.objects.all().delete()
    IdempotencyRecord.objects.all().delete()
    RECEIVERS.clear()
    urls = URLConf(path("admin/", admin.site.urls))
    with override_settings(ROOT_URLCONF=urls, WEBHOOK_KIT_RECEIVERS=f"{__name__}.RECEIVERS"):
        client = Client()
        client.force_login(User.objects.get(username="root"))
        yield client


def receiver(name: str, alias: str, calls: list[Any], *, fail: bool = False) -> Receiver:
    """A receiver of `name` on a `DjangoStore`, in `RECEIVERS`, whose handlers append or raise."""
    made = Receiver(name, secret=SECRETS[name], store=DjangoStore(using=alias))

    def handle(event: Any) -> None:
        if fail:
            raise RuntimeError("still broken")
        calls.append(event)

    for event_type in made.provider.event_types:
        made.on(event_type)(handle)
    RECEIVERS[name] = made
    return made


def replay_action(client: Client, action: str, *ids: str) -> Any:
    """Run an admin action on the letters `ids` from the change list, following the redirect."""
    return client.post(
        reverse(LETTERS), {"action": action, "_selected_action": list(ids)}, follow=True
    )


def messages_of(response: Any) -> list[str]:
    """The messages the rendered admin page shows, as text."""
    listed = re.search(r'<ul class="messagelist">(.*?)</ul>', response.content.decode(), re.S)
    items = re.findall(r"<li[^>]*>(.*?)</li>", listed.group(1), re.S) if listed else []
    return [html.unescape(item.strip()) for item in items]


def test_the_change_list_shows_the_letters_and_filters_by_provider(
    client: Client, alias: str
) -> None:
    """The list shows each letter's id, reason and attempts; the provider filter narrows it."""
    letters = DjangoDeadLetters(using=alias)
    letters.add(letter_of("struktr", SECRETS["struktr"], "s1", attempts=3))
    letters.add(letter_of("pulse", SECRETS["pulse"], "p1", reason="invalid_payload"))
    response = client.get(reverse(LETTERS))
    assert response.status_code == 200
    page = response.content.decode()
    assert "struktr:s1" in page
    assert "pulse:p1" in page
    assert "invalid_payload" in page
    assert 'value="replay_selected"' in page
    filtered = client.get(reverse(LETTERS), {"provider": "pulse"}).content.decode()
    assert ("pulse:p1" in filtered, "struktr:s1" in filtered) == (True, False)


def test_the_detail_page_shows_the_body_and_the_headers_as_kept(client: Client, alias: str) -> None:
    """A letter's page shows its error, its body and its headers, signature included, and offers
    no way to save changes."""
    letter = letter_of("struktr", SECRETS["struktr"], "d1", error="RuntimeError: ledger down")
    DjangoDeadLetters(using=alias).add(letter)
    url = reverse("admin:webhook_kit_deadletterrecord_change", args=[quote(letter.id)])
    response = client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assert "RuntimeError: ledger down" in page
    assert "document.completed" in page  # from the body
    assert letter.headers["x-struktr-signature"] in page
    assert 'name="_save"' not in page


def test_the_replay_action_processes_a_letter_and_removes_it(client: Client, alias: str) -> None:
    """Replaying runs the letter through its receiver once, removes it, records the delivery as
    done in the idempotency store, and says so."""
    calls: list[Any] = []
    receiver("struktr", alias, calls)
    letter = letter_of("struktr", SECRETS["struktr"], "r1")
    DjangoDeadLetters(using=alias).add(letter)
    response = replay_action(client, "replay_selected", letter.id)
    assert response.status_code == 200
    assert messages_of(response) == ["1 replayed and removed (1 processed)"]
    assert [event.event_type for event in calls] == ["document.completed"]
    assert DeadLetterRecord.objects.count() == 0
    assert IdempotencyRecord.objects.get(claim_key="webhook-kit:struktr:r1").done is True


def test_a_letter_that_fails_again_is_kept_with_its_new_error(client: Client, alias: str) -> None:
    """A handler still failing keeps the letter, one attempt more, and the message names it."""
    receiver("pulse", alias, [], fail=True)
    letter = letter_of("pulse", SECRETS["pulse"], "k1", attempts=2)
    DjangoDeadLetters(using=alias).add(letter)
    response = replay_action(client, "replay_selected", letter.id)
    assert messages_of(response) == [
        "1 kept: pulse:k1: handler_failed (RuntimeError: still broken)"
    ]
    kept = DeadLetterRecord.objects.get()
    assert (kept.attempts, kept.error) == (3, "RuntimeError: still broken")


def test_replaying_without_verifying_takes_a_rotated_away_secret(
    client: Client, alias: str
) -> None:
    """A letter signed with a secret since rotated away is refused by the verifying action, and
    processed by the one that skips the signature."""
    calls: list[Any] = []
    receiver("struktr", alias, calls)
    letter = letter_of("struktr", "the-old-secret", "old")
    DjangoDeadLetters(using=alias).add(letter)
    refused = replay_action(client, "replay_selected", letter.id)
    assert "signature_mismatch" in messages_of(refused)[0]
    assert (calls, DeadLetterRecord.objects.count()) == ([], 1)
    replayed = replay_action(client, "replay_selected_unverified", letter.id)
    assert messages_of(replayed) == ["1 replayed and removed (1 processed)"]
    assert (len(calls), DeadLetterRecord.objects.count()) == (1, 0)


def test_several_letters_at_once_are_each_replayed(client: Client, alias: str) -> None:
    """A selection of several providers' letters: each goes to its own receiver, once."""
    calls: list[Any] = []
    receiver("struktr", alias, calls)
    receiver("pulse", alias, calls)
    letters = DjangoDeadLetters(using=alias)
    ids = []
    for name, delivery_id in [("struktr", "a"), ("pulse", "b"), ("pulse", "c")]:
        letters.add(letter_of(name, SECRETS[name], delivery_id))
        ids.append(f"{name}:{delivery_id}")
    response = replay_action(client, "replay_selected", *ids)
    assert messages_of(response) == ["3 replayed and removed (3 processed)"]
    assert (len(calls), DeadLetterRecord.objects.count()) == (3, 0)


def test_without_the_setting_the_action_says_what_to_set(client: Client, alias: str) -> None:
    """Without WEBHOOK_KIT_RECEIVERS the action replays nothing and names the setting."""
    DjangoDeadLetters(using=alias).add(letter_of("struktr", SECRETS["struktr"], "n1"))
    with override_settings(WEBHOOK_KIT_RECEIVERS=None):
        response = replay_action(client, "replay_selected", "struktr:n1")
    [message] = messages_of(response)
    assert "WEBHOOK_KIT_RECEIVERS" in message
    assert DeadLetterRecord.objects.count() == 1


def test_a_letter_of_a_provider_without_a_receiver_is_kept(client: Client, alias: str) -> None:
    """A letter whose provider has no receiver in the setting stays, and the message says why."""
    receiver("pulse", alias, [])
    DjangoDeadLetters(using=alias).add(letter_of("struktr", SECRETS["struktr"], "x1"))
    response = replay_action(client, "replay_selected", "struktr:x1")
    assert messages_of(response) == ["1 kept: struktr:x1: no_receiver (no receiver for 'struktr')"]
    assert DeadLetterRecord.objects.count() == 1


def test_letters_cannot_be_added_or_edited_but_can_be_deleted(client: Client, alias: str) -> None:
    """No add page, a change POST is refused; deleting (giving a letter up) works."""
    letter = letter_of("struktr", SECRETS["struktr"], "e1")
    DjangoDeadLetters(using=alias).add(letter)
    pk = quote(letter.id)
    assert client.get(reverse("admin:webhook_kit_deadletterrecord_add")).status_code == 403
    change = reverse("admin:webhook_kit_deadletterrecord_change", args=[pk])
    assert client.post(change, {"reason": "edited"}).status_code == 403
    assert DeadLetterRecord.objects.get().reason == "handler_failed"
    delete = reverse("admin:webhook_kit_deadletterrecord_delete", args=[pk])
    assert client.post(delete, {"post": "yes"}).status_code == 302
    assert DeadLetterRecord.objects.count() == 0


def test_staff_without_the_replay_permission_gets_no_replay_action(
    client: Client, alias: str
) -> None:
    """A staff user who may only view letters sees them, is offered no replay, and posting the
    action anyway replays nothing."""
    calls: list[Any] = []
    receiver("struktr", alias, calls)
    DjangoDeadLetters(using=alias).add(letter_of("struktr", SECRETS["struktr"], "v1"))
    viewer = User.objects.create_user(f"viewer-{uuid.uuid4().hex[:6]}", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_deadletterrecord"))
    client.force_login(viewer)
    page = client.get(reverse(LETTERS))
    assert page.status_code == 200
    assert "struktr:v1" in page.content.decode()
    assert "replay_selected" not in page.content.decode()
    replay_action(client, "replay_selected", "struktr:v1")
    assert (calls, DeadLetterRecord.objects.count()) == ([], 1)


def test_idempotency_records_are_shown_read_only(client: Client, alias: str) -> None:
    """The records are listed and shown, without their owner token; adding, changing and deleting
    them (one by one or in bulk) is refused."""
    store = DjangoStore(using=alias)
    claim = store.claim("struktr:shown")
    store.complete(claim)
    record = IdempotencyRecord.objects.get()
    page = client.get(reverse(RECORDS))
    assert page.status_code == 200
    content = page.content.decode()
    assert record.claim_key in content
    assert record.owner not in content
    assert 'value="delete_selected"' not in content
    pk = quote(record.claim_key)
    detail = client.get(reverse("admin:webhook_kit_idempotencyrecord_change", args=[pk]))
    assert (detail.status_code, record.owner in detail.content.decode()) == (200, False)
    assert client.get(reverse("admin:webhook_kit_idempotencyrecord_add")).status_code == 403
    change = reverse("admin:webhook_kit_idempotencyrecord_change", args=[pk])
    assert client.post(change, {"done": ""}).status_code == 403
    delete = reverse("admin:webhook_kit_idempotencyrecord_delete", args=[pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    bulk = client.post(
        reverse(RECORDS), {"action": "delete_selected", "_selected_action": [record.claim_key]}
    )
    assert bulk.status_code in (200, 302)
    assert IdempotencyRecord.objects.get().done is True
