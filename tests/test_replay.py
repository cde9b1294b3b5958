"""Replays and hostile delivery ids, directly and through every framework adapter.

A delivery captured once (a proxy log, a leaked request dump) must never run a handler again:
not under a made-up delivery id, and, with ``max_age``, not after its record has expired. Any
delivery id, of any length or content, gets a documented answer from every store.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.idempotency.backends import sqlalchemy_url
from tests.receiving import CLIENTS, SECRETS, refused_by_server
from webhook_kit import MemoryStore, Receiver, SQLiteStore, providers, testing
from webhook_kit.idempotency.sql import SQLStore

from .test_receiver import FIRST_EVENT, make

NAMES = list(providers.PROVIDERS)
#: Every header any built-in provider reads a delivery id from.
ID_HEADERS = sorted({name for p in providers.PROVIDERS.values() for name in p.delivery_id_headers})
#: Every (provider, event type) with a documented time in its signed body.
TIMED_EVENTS = [
    (name, event_type)
    for name, provider in providers.PROVIDERS.items()
    for event_type in provider.event_types
    if provider.time_fields
]


@pytest.mark.parametrize("name", NAMES)
def test_captured_delivery_resent_under_a_new_id_never_runs_again(
    client_factory: Any, store: Any, name: str
) -> None:
    """Resending a processed delivery with made-up delivery ids is a duplicate (or, signed, 401)."""
    _, recorder, post = make(client_factory, name, store)
    body, headers = testing.signed_delivery(name, SECRETS[name], FIRST_EVENT[name])
    assert post(body, headers).status == 200
    for attempt in range(3):
        forged = {key: value for key, value in headers.items() if key not in ID_HEADERS}
        forged |= dict.fromkeys(ID_HEADERS, f"forged-{attempt}")
        reply = post(body, forged)
        signed_id = providers.get(name).delivery_id_signed
        expected = (401, "signature_mismatch") if signed_id else (200, "duplicate")
        assert (reply.status, reply.body.get("status") or reply.body["error"]) == expected
    assert len(recorder.events) == 1


def test_provider_retry_with_the_same_id_stays_a_duplicate(client_factory: Any, store: Any) -> None:
    """struktr's retry keeps the delivery id: a duplicate even if its bytes were re-serialised."""
    _, recorder, post = make(client_factory, "struktr", store)
    payload = testing.sample("struktr", "document.completed")
    first = testing.signed_delivery("struktr", SECRETS["struktr"], payload, delivery_id="d1")
    assert post(*first).body == {"status": "processed"}
    reserialised = testing.signed_delivery(
        "struktr", SECRETS["struktr"], {**payload, "extra": None}, delivery_id="d1"
    )
    assert post(*reserialised).body == {"status": "duplicate"}
    assert len(recorder.events) == 1


def test_failed_handler_runs_again_on_the_retry_with_both_keys(
    client_factory: Any, store: Any
) -> None:
    """A failing handler releases the id and the body key: the provider's retry runs it again."""
    _, recorder, post = make(client_factory, "struktr", store)
    recorder.failures_left = 1
    delivery = testing.signed_delivery(
        "struktr", SECRETS["struktr"], "document.failed", delivery_id="d1"
    )
    assert post(*delivery).status == 500
    assert post(*delivery).body == {"status": "processed"}
    assert (recorder.attempts, len(recorder.events)) == (2, 1)


# Hostile delivery ids: any length or content is a documented answer on every store.

WIRE_IDS = ["x" * 300, "y" * 10_000, "with spaces and : colons", "~!@#$%^&*()"]
DIRECT_IDS = [*WIRE_IDS, "nul\x00id", "lone \ud800", "emoji \U0001f389", "é"]


@pytest.fixture(params=["sqlite", "memory", "postgres", "mariadb"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Each kind of store a receiver is deployed with, the SQL ones on their real servers."""
    kind = request.param
    if kind == "memory":
        yield MemoryStore()
        return
    if kind == "sqlite":
        with SQLiteStore(tmp_path / "ids.sqlite3") as sqlite:
            yield sqlite
        return
    dsn = request.getfixturevalue("postgres_dsn" if kind == "postgres" else "mariadb_dsn")
    table = "wk_ids_" + uuid.uuid4().hex[:12]
    with SQLStore(sqlalchemy_url(dsn), table=table) as sql:
        sql.create_table()
        try:
            yield sql
        finally:
            sql.table.drop(sql.engine)


def _ids_for(client: str) -> list[str]:
    """Ids a client can carry: HTTP headers hold printable ASCII; direct calls take anything."""
    return DIRECT_IDS if client.startswith("core-") else WIRE_IDS


@pytest.mark.parametrize("client", list(CLIENTS))
def test_any_delivery_id_is_processed_then_a_duplicate(client: str, any_store: Any) -> None:
    """Ids longer than a key column, with NUL, lone surrogates or any text: 200, then duplicate.

    aiohttp's parser refuses a header over its `max_field_size` (8190 bytes by default) before the
    handler: that id is never stored, so its resend is refused the same way, not a duplicate.
    test_adapters shows it processed under a server with the limit raised.
    """
    _, recorder, post = make(CLIENTS[client], "pulse", any_store)
    refused = []
    for delivery_id in _ids_for(client):
        delivery = testing.signed_delivery(
            "pulse", SECRETS["pulse"], "job.completed", delivery_id=delivery_id
        )
        first = post(*delivery)
        if refused_by_server(first):
            assert refused_by_server(post(*delivery)), delivery_id
            refused.append(delivery_id)
            continue
        assert first.body == {"status": "processed"}, delivery_id
        assert post(*delivery).body == {"status": "duplicate"}, delivery_id
    assert len(recorder.events) == len(_ids_for(client)) - len(refused)


@pytest.mark.parametrize("client", list(CLIENTS))
def test_unsigned_hostile_ids_never_reach_the_store_raw(client: str, any_store: Any) -> None:
    """A struktr delivery id of any content is answered 200 once, never 500 (or, over aiohttp's
    header field limit, refused by its parser before the handler, and not stored)."""
    _, recorder, post = make(CLIENTS[client], "struktr", any_store)
    refused = 0
    for number, delivery_id in enumerate(_ids_for(client)):
        payload = {**testing.sample("struktr", "batch.progress"), "n": number}
        body, headers = testing.signed_delivery("struktr", SECRETS["struktr"], payload)
        headers["X-Struktr-Delivery"] = delivery_id
        reply = post(body, headers)
        if refused_by_server(reply):
            refused += 1
            continue
        assert reply.body == {"status": "processed"}, delivery_id
    assert len(recorder.events) == len(_ids_for(client)) - refused


# max_age: the signed body's own time bounds how old a delivery may be.


def _set_time(name: str, payload: dict[str, Any], when: datetime) -> dict[str, Any]:
    """`payload` with the time field `name`'s provider reads for its event type set to `when`."""
    provider = providers.get(name)
    event_type = payload.get("event") or payload.get("type")
    path = provider.time_field(str(event_type))
    assert path is not None, f"{name} reads no time for {event_type}"
    target = payload
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = when.isoformat().replace("+00:00", "Z")
    return payload


@pytest.mark.parametrize(("name", "event_type"), TIMED_EVENTS)
def test_max_age_refuses_old_bodies_per_event_type(
    client_factory: Any, store: Any, name: str, event_type: str
) -> None:
    """With max_age, a body whose signed time is older is 401; a recent one is processed."""
    _, recorder, post = make(client_factory, name, store, max_age=3600)
    now = datetime.now(timezone.utc)
    fresh = _set_time(name, testing.sample(name, event_type), now - timedelta(minutes=59))
    old = _set_time(name, testing.sample(name, event_type), now - timedelta(minutes=61))
    reply = post(*testing.signed_delivery(name, SECRETS[name], old))
    assert (reply.status, reply.body["error"]) == (401, "timestamp_out_of_tolerance")
    assert "old" in reply.body["message"]
    assert post(*testing.signed_delivery(name, SECRETS[name], fresh)).status == 200
    assert len(recorder.events) == 1


def test_max_age_refuses_a_body_without_a_signed_time(client_factory: Any, store: Any) -> None:
    """With max_age, an event type whose body carries no time cannot be shown recent: 401."""
    _, recorder, post = make(client_factory, "docextract", store, max_age=3600)
    payload = {"event": "extractor.archived", "data": {"id": "x"}}
    reply = post(*testing.signed_delivery("docextract", SECRETS["docextract"], payload))
    assert (reply.status, reply.body["error"]) == (401, "verification_failed")
    assert "no signed time" in reply.body["message"]
    assert recorder.attempts == 0


def test_max_age_reads_unknown_events_raw_time(client_factory: Any, store: Any) -> None:
    """An event type the library lacks is checked against its envelope's raw timestamp."""
    _, recorder, post = make(client_factory, "pulse", store, max_age=60)
    when = datetime.now(timezone.utc) - timedelta(seconds=120)
    payload = {"type": "job.archived", "timestamp": when.isoformat(), "data": {}}
    assert post(*testing.signed_delivery("pulse", SECRETS["pulse"], payload)).status == 401
    payload["timestamp"] = datetime.now(timezone.utc).isoformat()
    assert post(*testing.signed_delivery("pulse", SECRETS["pulse"], payload)).status == 200
    assert len(recorder.events) == 1


def test_max_age_is_checked_as_of_acceptance_in_a_worker() -> None:
    """`process` (a queued delivery) checks max_age as of `received_at`, not of the worker run."""
    receiver = Receiver("struktr", secret=SECRETS["struktr"], max_age=3600)
    now = datetime.now(timezone.utc)
    payload = _set_time("struktr", testing.sample("struktr", "batch.progress"), now)
    body, headers = testing.signed_delivery("struktr", SECRETS["struktr"], payload)
    assert receiver.process(body, headers, received_at=time.time()).status == 200
    later = time.time() + 7200
    assert receiver.process(body, headers, received_at=later).status == 401
    assert receiver.process(body, headers, received_at=later, verify=False).status == 200


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"max_age": 3600, "retain": 3600}, "retain"),
        ({"max_age": 0}, "positive"),
        ({"max_age": float("nan")}, "positive"),
    ],
)
def test_max_age_is_validated_at_construction(options: dict[str, Any], match: str) -> None:
    """max_age must be positive and shorter than retain (else a replay finds no record)."""
    with pytest.raises(ValueError, match=match):
        Receiver("struktr", secret="s", store=MemoryStore(), **options)


def test_max_age_needs_a_provider_with_signed_time() -> None:
    """ImgGo bodies carry no time every event has: max_age is refused, pointing to the docs."""
    with pytest.raises(ValueError, match=r"security\.md"):
        Receiver("imggo", secret="s", max_age=3600)
