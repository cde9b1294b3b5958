"""Schema drift: verified deliveries that fail validation are recorded or accepted, never lost.

Every provider gets a documented event with a new status value, a null where a value was, and a
string where a number was (`tests.drift.DRIFTS`), under both policies of `invalid_payloads`.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.drift import DRIFTS, REFUSED, Drift, fixed_provider
from tests.receiving import CLIENTS, SECRETS
from webhook_kit import InvalidEvent, PayloadError, providers, replay, testing
from webhook_kit.deadletters import SQLiteDeadLetters
from webhook_kit.defer import QueuedDelivery
from webhook_kit.events import struktr
from webhook_kit.receiver import Receiver

POLICIES = ["reject", "accept"]
DIRECT = ["core-sync", "core-async"]


class Seen:
    """Handlers that record what they received: typed events and invalid ones apart."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.invalid: list[InvalidEvent] = []
        self.failures_left = 0

    def event(self, event: Any) -> None:
        self.events.append(event)

    def invalid_event(self, event: InvalidEvent) -> None:
        if self.failures_left:
            self.failures_left -= 1
            raise RuntimeError("on_invalid failed on purpose")
        self.invalid.append(event)


@pytest.fixture
def letters(tmp_path: Path) -> Iterator[SQLiteDeadLetters]:
    """Dead letters in a fresh SQLite file."""
    letters = SQLiteDeadLetters(tmp_path / "dead.sqlite3", timeout=0.2)
    yield letters
    letters.close()


def receiver_for(
    name: str | Any, store: Any, letters: Any, seen: Seen, policy: str = "reject", **options: Any
) -> Receiver:
    """A receiver with a recording handler on every event type and, under accept, on_invalid."""
    provider = providers.get(name) if isinstance(name, str) else name
    receiver = Receiver(
        provider,
        secret=SECRETS[provider.name],
        store=store,
        dead_letters=letters,
        invalid_payloads=policy,  # type: ignore[arg-type]
        **options,
    )
    for event_type in provider.event_types:
        receiver.on(event_type)(seen.event)
    if policy == "accept":
        receiver.on_invalid(seen.invalid_event)
    return receiver


@pytest.mark.parametrize("client", DIRECT)
@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("drift", DRIFTS, ids=lambda drift: drift.id)
def test_drifted_delivery_under_each_policy(
    drift: Drift, policy: str, client: str, store: Any, letters: SQLiteDeadLetters
) -> None:
    """A new status is processed as typed; a refused drift is recorded (reject) or accepted."""
    seen = Seen()
    post = CLIENTS[client](receiver_for(drift.provider, store, letters, seen, policy))
    delivery = drift.delivery(SECRETS[drift.provider], "dlv_drift")
    reply = post(*delivery)
    if drift.tolerated:  # an open status: the typed handler gets the new value
        assert (reply.status, reply.body, letters.all(), seen.invalid) == (
            200,
            {"status": "processed"},
            [],
            [],
        )
        [event] = seen.events
        assert type(event) is providers.get(drift.provider).event_types[drift.event_type]
        assert event.model_dump(mode="json", exclude_unset=True) == drift.payload()
    elif policy == "reject":
        assert (reply.status, reply.body["error"], seen.events) == (400, "invalid_payload", [])
        [letter] = letters.all()
        assert (letter.id, letter.provider, letter.reason, letter.attempts) == (
            drift.key(delivery),
            drift.provider,
            "invalid_payload",
            1,
        )
        assert letter.body == delivery.body
        assert f"{drift.event_type} event: {drift.path}: " in letter.error
        assert abs(letter.received_at - time.time()) < 60
        providers.get(drift.provider).verifier(SECRETS[drift.provider]).verify(
            letter.body, letter.headers, now=letter.received_at
        )
    else:
        assert (reply.status, reply.body, seen.events, letters.all()) == (
            200,
            {"status": "processed"},
            [],
            [],
        )
        [invalid] = seen.invalid
        assert (invalid.provider, invalid.event_type, invalid.payload) == (
            drift.provider,
            drift.event_type,
            drift.payload(),
        )
        assert [error["loc"] for error in invalid.errors] == [drift.loc]
        assert invalid.paths == (drift.path,)
    retry = post(*drift.delivery(SECRETS[drift.provider], "dlv_drift"))
    assert (retry.status, len(seen.events) + len(seen.invalid)) == (
        (400, 0) if policy == "reject" and not drift.tolerated else (200, 1)
    )


@pytest.mark.parametrize("drift", REFUSED, ids=lambda drift: drift.id)
def test_replay_after_a_model_fix_processes_the_letter_once(
    drift: Drift, store: Any, letters: SQLiteDeadLetters
) -> None:
    """A recorded drift replays through the fixed model once; later retries are duplicates."""
    before = Seen()
    receiver = receiver_for(drift.provider, store, letters, before)
    delivery = drift.delivery(SECRETS[drift.provider], "dlv_replayed")
    assert receiver.handle(*delivery).status == 400
    [refused] = replay(receiver, letters)  # the models are not fixed yet: the letter stays
    assert (refused.result, len(letters.all()), letters.all()[0].attempts) == (
        "invalid_payload",
        1,
        2,
    )

    after = Seen()
    fixed = receiver_for(fixed_provider(drift), store, letters, after)
    [result] = replay(fixed, letters, provider=drift.provider)
    assert (result.result, result.done, letters.all()) == ("processed", True, [])
    [event] = after.events
    assert event.event_type == drift.event_type
    assert event.model_dump(mode="json", exclude_unset=True) == drift.payload()
    assert replay(fixed, letters) == []
    retry = fixed.handle(*drift.delivery(SECRETS[drift.provider], "dlv_replayed"))
    assert (retry.status, retry.body, len(after.events), before.events) == (
        200,
        {"status": "duplicate"},
        1,
        [],
    )


@pytest.mark.parametrize("client", list(CLIENTS))
@pytest.mark.parametrize("policy", POLICIES)
def test_every_adapter_follows_the_policy(
    client: str, policy: str, store: Any, letters: SQLiteDeadLetters
) -> None:
    """Through every adapter, a refused drift is 400 and recorded, or 200 and accepted."""
    seen = Seen()
    drift = REFUSED[0]
    post = CLIENTS[client](receiver_for(drift.provider, store, letters, seen, policy))
    reply = post(*drift.delivery(SECRETS[drift.provider], "dlv_adapter"))
    expected = (400, 1, 0) if policy == "reject" else (200, 0, 1)
    assert (reply.status, len(letters.all()), len(seen.invalid)) == expected


def test_accept_without_an_on_invalid_handler_rejects(
    store: Any, letters: SQLiteDeadLetters
) -> None:
    """With nothing registered to take an invalid delivery, "accept" behaves as "reject"."""
    receiver = Receiver(
        "pulse",
        secret=SECRETS["pulse"],
        store=store,
        dead_letters=letters,
        invalid_payloads="accept",
    )
    drift = REFUSED[-1]
    assert receiver.handle(*drift.delivery(SECRETS["pulse"], "msg_1")).status == 400
    assert [letter.reason for letter in letters.all()] == ["invalid_payload"]


def test_reject_without_dead_letters_is_a_plain_400(store: Any) -> None:
    """Without a dead-letter store, rejecting is the 400 it always was."""
    seen = Seen()
    receiver = receiver_for("docextract", store, None, seen)
    drift = next(d for d in REFUSED if d.provider == "docextract")
    reply = receiver.handle(*drift.delivery(SECRETS["docextract"], "x"))
    assert (reply.status, reply.body["error"], seen.events) == (400, "invalid_payload", [])


#: Signed bodies that are not events: (body, InvalidEvent.payload, its error type).
REFUSED_BODIES = {
    "not JSON": (b"{not json", None, "json_invalid"),
    "an array": (b"[1, 2]", [1, 2], "dict_type"),
    "a number as event type": (b'{"event": 5}', {"event": 5}, "string_type"),
}


@pytest.mark.parametrize(
    ("body", "payload", "error_type"), REFUSED_BODIES.values(), ids=REFUSED_BODIES.keys()
)
@pytest.mark.parametrize("policy", POLICIES)
def test_verified_bodies_that_are_not_events_are_kept_too(
    policy: str, body: bytes, payload: Any, error_type: str, letters: SQLiteDeadLetters
) -> None:
    """A signed body that is not JSON or not an event object is recorded or accepted alike."""
    seen = Seen()
    receiver = receiver_for("imggo", None, letters, seen, policy)
    reply = receiver.handle(*testing.signed_delivery("imggo", SECRETS["imggo"], body))
    if policy == "reject":
        [letter] = letters.all()
        assert (reply.status, letter.body, letter.reason) == (400, body, "invalid_payload")
        return
    [invalid] = seen.invalid
    assert (reply.status, invalid.event_type, invalid.payload) == (200, None, payload)
    assert [error["type"] for error in invalid.errors] == [error_type]


def test_a_struktr_event_header_disagreeing_with_the_body_is_recorded(
    store: Any, letters: SQLiteDeadLetters
) -> None:
    """A body that parses but contradicts its signed event header is kept like any refused one."""
    receiver = receiver_for("struktr", store, letters, Seen())
    body, headers = testing.signed_delivery("struktr", SECRETS["struktr"], "batch.progress")
    reply = receiver.handle(body, {**headers, "X-Struktr-Event": "batch.completed"})
    [letter] = letters.all()
    assert (reply.status, letter.reason) == (400, "invalid_payload")
    assert "X-Struktr-Event" in letter.error


@pytest.mark.parametrize("policy", POLICIES)
def test_unverified_invalid_deliveries_are_not_recorded(
    policy: str, store: Any, letters: SQLiteDeadLetters
) -> None:
    """An invalid body with a bad signature is 401: nothing recorded, no handler run."""
    seen = Seen()
    receiver = receiver_for("struktr", store, letters, seen, policy)
    drift = REFUSED[0]
    reply = receiver.handle(*drift.delivery("not-the-secret", "forged"))
    assert (reply.status, letters.all(), seen.invalid, seen.events) == (401, [], [], [])


def test_dead_letters_unreachable_answers_503_so_the_provider_retries(
    store: Any, letters: SQLiteDeadLetters, tmp_path: Path
) -> None:
    """If the refused delivery cannot be recorded, the answer is 503 and the retry records it."""
    receiver = receiver_for("struktr", store, letters, Seen(), retry_after=11)
    drift = REFUSED[0]
    blocker = sqlite3.connect(tmp_path / "dead.sqlite3", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        reply = receiver.handle(*drift.delivery(SECRETS["struktr"], "dlv_locked"))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert (reply.status, reply.body, reply.headers) == (
        503,
        {"error": "store_unavailable"},
        {"Retry-After": "11"},
    )
    assert receiver.handle(*drift.delivery(SECRETS["struktr"], "dlv_locked")).status == 400
    assert len(letters.all()) == 1


def test_a_failing_on_invalid_handler_is_500_and_the_retry_runs_it(store: Any) -> None:
    """An accepted invalid delivery follows the handler rules: released on failure, run once."""
    seen = Seen()
    seen.failures_left = 1
    receiver = receiver_for("pulse", store, None, seen, "accept")
    drift = REFUSED[-1]
    assert receiver.handle(*drift.delivery(SECRETS["pulse"], "msg_f")).status == 500
    assert receiver.handle(*drift.delivery(SECRETS["pulse"], "msg_f")).status == 200
    assert receiver.handle(*drift.delivery(SECRETS["pulse"], "msg_f")).body == {
        "status": "duplicate"
    }
    assert len(seen.invalid) == 1


@pytest.mark.parametrize("policy", POLICIES)
def test_invalid_delivery_logs_one_warning_with_paths_and_no_values(
    policy: str, store: Any, letters: SQLiteDeadLetters, caplog: pytest.LogCaptureFixture
) -> None:
    """Each invalid delivery logs one WARNING naming provider, event type and fields, no body."""
    receiver = receiver_for("docextract", store, letters, Seen(), policy)
    payload = testing.sample("docextract", "job.completed")
    payload["data"]["cost_credits"] = "sk_live_not_a_number"
    payload["data"]["processing_time_ms"] = None
    body, headers = testing.signed_delivery("docextract", SECRETS["docextract"], payload)
    with caplog.at_level(logging.INFO, logger="webhook_kit"):
        receiver.handle(body, headers)
    [record] = caplog.records
    line = record.getMessage()
    assert record.levelno == logging.WARNING
    for part in (
        "provider=docextract",
        "event=job.completed",
        "invalid=data.processing_time_ms,data.cost_credits",
    ):
        assert part in line
    assert "sk_live" not in line
    assert "cust_123" not in line


def test_invalid_payloads_must_be_reject_or_accept() -> None:
    """A typo in the policy fails at start-up."""
    with pytest.raises(ValueError, match="'reject' or 'accept'"):
        Receiver("struktr", secret="s", invalid_payloads="ignore")  # type: ignore[arg-type]


class ListDefer:
    """A `Defer` that keeps what it accepts in a list."""

    def __init__(self) -> None:
        self.queued: list[QueuedDelivery] = []

    def attach(self, receiver: Receiver) -> None:
        self.receiver = receiver

    def submit(self, delivery: QueuedDelivery) -> None:
        self.queued.append(delivery)


@pytest.mark.parametrize("policy", POLICIES)
def test_deferred_invalid_delivery_is_recorded_or_queued(
    policy: str, store: Any, letters: SQLiteDeadLetters
) -> None:
    """With defer, reject records at the web side; accept queues it and the worker hands it over."""
    seen, defer = Seen(), ListDefer()
    receiver = receiver_for("imggo", store, letters, seen, policy, defer=defer)
    drift = next(d for d in REFUSED if d.provider == "imggo")
    reply = receiver.handle(*drift.delivery(SECRETS["imggo"], "x"))
    if policy == "reject":
        assert (reply.status, defer.queued, len(letters.all())) == (400, [], 1)
        return
    assert (reply.status, letters.all()) == (202, [])
    [queued] = defer.queued
    outcome = receiver.process(queued.body, queued.headers, received_at=queued.received_at)
    assert (outcome.status, [event.event_type for event in seen.invalid]) == (
        200,
        ["job.completed"],
    )


def test_a_celery_worker_refusing_a_payload_leaves_one_invalid_payload_letter(
    store: Any, letters: SQLiteDeadLetters
) -> None:
    """A delivery the web side recorded and a worker then refuses stays one letter, same reason."""
    celery = pytest.importorskip("celery")
    from webhook_kit.celery import CeleryDefer, DeadLetteredError  # noqa: PLC0415 - celery extra

    app = celery.Celery("drift", broker="redis://127.0.0.1:1/0", set_as_current=False)
    defer = CeleryDefer(app, dead_letters=letters)
    receiver = receiver_for("struktr", store, letters, Seen(), defer=defer)
    drift = REFUSED[0]
    delivery = drift.delivery(SECRETS["struktr"], "dlv_celery")
    assert receiver.handle(*delivery).status == 400
    headers = {name.lower(): value for name, value in delivery.headers.items()}
    message = QueuedDelivery("struktr", delivery.body, headers, time.time()).to_message()
    result = defer.task.apply(args=(message,))  # buried: the task fails, for monitors to see
    assert result.failed()
    assert isinstance(result.result, DeadLetteredError)
    assert "invalid_payload" in str(result.result)
    [letter] = letters.all()
    assert (letter.id, letter.reason) == (drift.key(delivery), "invalid_payload")


def test_invalid_event_from_error_never_keeps_input_values() -> None:
    """`InvalidEvent.from_error` keeps the payload once, and errors carry paths, not values."""
    payload = testing.sample("struktr", "batch.progress")
    payload["data"]["total"] = "sk_live_secret"
    body = json.dumps(payload).encode()
    with pytest.raises(PayloadError) as caught:
        struktr.parse(body)
    invalid = InvalidEvent.from_error(
        "struktr", body, caught.value, event_types=struktr.EVENT_TYPES
    )
    assert invalid.event_type == "batch.progress"
    assert invalid.errors == (
        {
            "loc": ("data", "total"),
            "msg": "Input should be a valid integer, unable to parse string as an integer",
            "type": "int_parsing",
        },
    )
    assert "sk_live" not in json.dumps(invalid.errors)
    assert invalid.payload == payload
