"""The receiver's `defer` option and its worker side, `Receiver.process`, without a broker.

`ListDefer` is the simplest real `Defer`: it keeps what it accepts in a list (or refuses
everything, like a broker that is down). The Celery implementation runs on real brokers in
``tests/test_queues.py``.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import celery
import pytest

from tests.brokers import SilentServer, answered_within
from tests.receiving import CLIENTS, SECRETS, reply_of
from webhook_kit import TenantSecrets, providers, testing
from webhook_kit._headers import get_header
from webhook_kit.celery import CeleryDefer, DeadLetteredError
from webhook_kit.deadletters import SQLiteDeadLetters
from webhook_kit.defer import QueuedDelivery, keep_headers
from webhook_kit.errors import QueueUnavailableError
from webhook_kit.receiver import Defer, Receiver


class ListDefer:
    """A `Defer` that accepts into a list, or refuses every delivery while `down`."""

    def __init__(self) -> None:
        self.queued: list[QueuedDelivery] = []
        self.receivers: dict[str, Receiver] = {}
        self.down = False

    def attach(self, receiver: Receiver) -> None:
        self.receivers[receiver.provider.name] = receiver

    def submit(self, delivery: QueuedDelivery) -> None:
        if self.down:
            raise QueueUnavailableError("the list is down")
        self.queued.append(delivery)


def receiver_with(name: str, store: Any, defer: Defer | None, calls: list[Any]) -> Receiver:
    """A receiver for `name` whose every handler appends the event to `calls`."""
    receiver = Receiver(name, secret=SECRETS[name], store=store, defer=defer, retry_after=9)
    for event_type in receiver.provider.event_types:
        receiver.on(event_type)(calls.append)
    return receiver


@pytest.mark.parametrize("client", list(CLIENTS))
@pytest.mark.parametrize("name", ["struktr", "pulse", "imggo"])
def test_deferred_delivery_is_202_and_queued_whole(client: str, name: str, store: Any) -> None:
    """Through every adapter, a verified delivery is queued with its raw body and answered 202."""
    defer, calls = ListDefer(), []
    post = CLIENTS[client](receiver_with(name, store, defer, calls))
    event_type = next(iter(providers.get(name).event_types))
    body, headers = testing.signed_delivery(name, SECRETS[name], event_type)
    reply = post(body, {**headers, "Cookie": "session=secret", "Authorization": "Bearer x"})
    assert (reply.status, reply.body) == (202, {"status": "queued"})
    [queued] = defer.queued
    assert (queued.provider, queued.body, calls) == (name, body, [])
    assert abs(queued.received_at - time.time()) < 5
    signed = {k.lower(): v for k, v in headers.items() if k.lower() != "content-type"}
    assert signed.items() <= queued.headers.items()
    assert not {"cookie", "authorization", "content-type"} & set(queued.headers)


@pytest.mark.parametrize("client", list(CLIENTS))
def test_queue_down_is_503_with_retry_after(client: str, store: Any) -> None:
    """When the queue does not accept the delivery, the answer is 503 with Retry-After."""
    defer, calls = ListDefer(), []
    defer.down = True
    post = CLIENTS[client](receiver_with("docextract", store, defer, calls))
    reply = post(*testing.signed_delivery("docextract", SECRETS["docextract"], "job.completed"))
    assert (reply.status, reply.body, reply.headers["retry-after"]) == (
        503,
        {"error": "queue_unavailable"},
        "9",
    )
    assert (defer.queued, calls) == ([], [])


def test_unverified_delivery_is_not_queued(store: Any) -> None:
    """A delivery with a wrong signature is 401 and never reaches the queue."""
    defer = ListDefer()
    receiver = receiver_with("struktr", store, defer, [])
    body, headers = testing.signed_delivery("struktr", "another-secret", "batch.progress")
    assert receiver.handle(body, headers).status == 401
    assert defer.queued == []


def test_process_runs_the_handlers_once(store: Any) -> None:
    """The worker side runs a queued delivery's handlers once; its duplicate is not run again."""
    defer, calls = ListDefer(), []
    receiver = receiver_with("pulse", store, defer, calls)
    receiver.handle(*testing.signed_delivery("pulse", SECRETS["pulse"], "job.failed"))
    [queued] = defer.queued
    outcomes = [
        receiver.process(queued.body, queued.headers, received_at=queued.received_at)
        for _ in range(2)
    ]
    assert [o.body["status"] for o in outcomes] == ["processed", "duplicate"]
    assert [event.event_type for event in calls] == ["job.failed"]


def test_process_lets_a_handler_error_propagate_and_releases(store: Any) -> None:
    """A failing handler's own exception reaches the queue, and the next attempt runs again."""
    receiver = Receiver("imggo", secret=SECRETS["imggo"], store=store)
    attempts: list[int] = []

    @receiver.on("job.completed")
    def flaky(event: Any) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise LookupError("first attempt fails")

    body, headers = testing.signed_delivery("imggo", SECRETS["imggo"], "job.completed")
    with pytest.raises(LookupError, match="first attempt fails"):
        receiver.process(body, headers)
    assert receiver.process(body, headers).body == {"status": "processed"}
    assert len(attempts) == 2


def test_process_verifies_as_of_receipt(store: Any) -> None:
    """An hour-old Pulse delivery verifies as of its receipt, and a forged body never does."""
    calls: list[Any] = []
    receiver = receiver_with("pulse", store, None, calls)
    received = time.time() - 3600
    body, headers = testing.signed_delivery("pulse", SECRETS["pulse"], "job.failed", now=received)
    assert receiver.process(body, headers).status == 401  # stale, as of now
    forged = body.replace(b"{", b"{ ", 1)
    assert receiver.process(forged, headers, received_at=received).status == 401
    assert receiver.process(body, headers, received_at=received).status == 200
    assert len(calls) == 1


def test_queued_delivery_survives_json() -> None:
    """A queued delivery goes through JSON and back byte for byte, non-UTF-8 bytes included."""
    queued = QueuedDelivery("struktr", b'{"a":"\xc3\xa9"}\xff', {"x-struktr-delivery": "d"}, 1.5)
    assert QueuedDelivery.from_message(json.loads(json.dumps(queued.to_message()))) == queued
    with pytest.raises(ValueError, match="not a queued webhook delivery"):
        QueuedDelivery.from_message({"v": 1, "provider": "struktr"})


def test_two_receivers_of_one_provider_on_one_defer_are_refused(tmp_path: Path) -> None:
    """The worker finds receivers by provider name, so a second one for a name is refused."""
    app = celery.Celery("t", broker="redis://127.0.0.1:1/0", set_as_current=False)
    defer = CeleryDefer(app, dead_letters=SQLiteDeadLetters(tmp_path / "dead.sqlite3"))
    Receiver("struktr", secret="a", defer=defer)
    with pytest.raises(ValueError, match="already attached"):
        Receiver("struktr", secret="b", defer=defer)


def test_rabbitmq_without_publisher_confirms_is_refused(tmp_path: Path) -> None:
    """On RabbitMQ, CeleryDefer needs confirm_publish, or "accepted" would only mean "sent"."""
    app = celery.Celery("t", broker="amqp://guest:guest@127.0.0.1:1//", set_as_current=False)
    letters = SQLiteDeadLetters(tmp_path / "dead.sqlite3")
    with pytest.raises(ValueError, match="confirm_publish"):
        CeleryDefer(app, dead_letters=letters)
    app.conf.broker_transport_options = {"confirm_publish": True}
    assert CeleryDefer(app, dead_letters=letters).receivers == {}


def test_unreachable_broker_raises_queue_unavailable_quickly(tmp_path: Path) -> None:
    """CeleryDefer.submit on a closed port raises QueueUnavailableError within its time limits."""
    app = celery.Celery("t", broker="redis://127.0.0.1:1/0", set_as_current=False)
    app.conf.broker_connection_timeout = 1
    defer = CeleryDefer(
        app, dead_letters=SQLiteDeadLetters(tmp_path / "dead.sqlite3"), publish_retries=1
    )
    started = time.monotonic()
    with pytest.raises(QueueUnavailableError, match="did not accept"):
        defer.submit(QueuedDelivery("struktr", b"{}", {}, time.time()))
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    "url",
    ["redis://127.0.0.1:{port}/0", "amqp://guest:guest@127.0.0.1:{port}//"],
    ids=["redis", "amqp"],
)
def test_silent_broker_is_503_within_the_publish_bound(
    url: str, tmp_path: Path, store: Any
) -> None:
    """A broker that accepts connections but never answers is 503 within the publish bound."""
    with SilentServer() as server:
        app = celery.Celery("t", broker=url.format(port=server.port), set_as_current=False)
        app.conf.broker_transport_options = {"confirm_publish": True}  # no socket timeouts
        app.conf.broker_connection_timeout = 60
        defer = CeleryDefer(
            app,
            dead_letters=SQLiteDeadLetters(tmp_path / "dead.sqlite3"),
            publish_timeout=1,
            publish_retries=2,
        )
        calls: list[Any] = []
        receiver = receiver_with("struktr", store, defer, calls)
        delivery = testing.signed_delivery("struktr", SECRETS["struktr"], "batch.progress")
        outcome, seconds = answered_within(15, lambda: receiver.handle(*delivery))
    reply = reply_of(outcome)
    assert (reply.status, reply.body, reply.headers["retry-after"]) == (
        503,
        {"error": "queue_unavailable"},
        "9",
    )
    assert seconds < (1 + 2) * 1  # (publish_retries + 1) * publish_timeout
    assert calls == []


@pytest.mark.parametrize("reason", ["signature_mismatch", "handler_failed"])
def test_dead_lettered_task_fails_in_celery_and_says_so_at_error(
    reason: str, tmp_path: Path, store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A task whose delivery ends in the dead letters fails, logged at ERROR without secrets."""
    app = celery.Celery("t", broker="memory://", set_as_current=False)
    dead_letters = SQLiteDeadLetters(tmp_path / "dead.sqlite3")
    defer = CeleryDefer(app, dead_letters=dead_letters, max_attempts=2)
    receiver = Receiver("struktr", secret=SECRETS["struktr"], store=store, defer=defer)

    @receiver.on("batch.progress")
    def broken(event: Any) -> None:
        raise RuntimeError("the handler is broken")

    secret = "another-secret" if reason == "signature_mismatch" else SECRETS["struktr"]
    body, headers = testing.signed_delivery(
        "struktr", secret, "batch.progress", delivery_id="dlv-dead"
    )
    queued = QueuedDelivery("struktr", body, {k.lower(): v for k, v in headers.items()}, 0.0)
    with caplog.at_level(logging.ERROR, logger="webhook_kit"):
        result = defer.task.apply(args=(queued.to_message(), 1))  # the last of 2 attempts
    assert (result.state, type(result.result)) == ("FAILURE", DeadLetteredError)
    [letter] = dead_letters.all()
    assert (letter.id, letter.reason, letter.attempts) == ("struktr:dlv-dead", reason, 2)
    [logged] = [r for r in caplog.records if "outcome=dead_letter" in r.getMessage()]
    event_type = "batch.progress" if reason == "handler_failed" else "None"  # verified ones only
    for text in (logged.getMessage(), str(result.result)):
        assert "struktr:dlv-dead" in text
        assert f"event {event_type}" in text or f"event={event_type}" in text
        assert headers["X-Struktr-Signature"] not in text
        assert body.decode() not in text
    assert logged.levelno == logging.ERROR


def _published(app: celery.Celery, publish: Any) -> dict[str, Any]:
    """What Celery hands to kombu when `publish()` runs: `before_task_publish`'s arguments."""
    seen: list[dict[str, Any]] = []

    def record(**kwargs: Any) -> None:
        seen.append(kwargs)

    celery.signals.before_task_publish.connect(record, weak=False)
    try:
        publish()
    finally:
        celery.signals.before_task_publish.disconnect(record)
    [published] = seen
    return published


@pytest.mark.parametrize("queue", [None, "hooks"])
def test_submit_publishes_what_apply_async_would(tmp_path: Path, queue: str | None) -> None:
    """submit's prepared publish sends apply_async's message, routed alike, minus the args' repr."""
    app = celery.Celery("t", broker="memory://", set_as_current=False)
    defer = CeleryDefer(app, dead_letters=SQLiteDeadLetters(tmp_path / "d.sqlite3"), queue=queue)
    delivery = QueuedDelivery("struktr", b'{"a":1}\xff', {"x-struktr-delivery": "d1"}, 1.5)
    options = defer._options()
    ours = _published(app, lambda: defer.submit(delivery))
    theirs = _published(app, lambda: defer.task.apply_async((delivery.to_message(),), **options))
    assert callable(ours["retry_policy"].pop("errback"))  # the publish's deadline
    assert ours["headers"]["argsrepr"] == f"({delivery!r},)"
    assert "d1" not in ours["headers"]["argsrepr"]  # no body or header in monitoring tools
    for sent in (ours, theirs):
        for key in ("id", "root_id", "argsrepr"):
            del sent["headers"][key]
        del sent["properties"]["correlation_id"]
        sent["properties"] = {k: v for k, v in sent["properties"].items() if v is not None}
    assert ours == theirs
    body = ours["body"]
    assert QueuedDelivery.from_message(json.loads(json.dumps(body))[0][0]) == delivery
    with app.connection_for_read() as connection:
        message = connection.SimpleQueue(queue or "celery", no_ack=True).get(timeout=1)
    assert message.headers["task"] == "webhook_kit.process"
    assert QueuedDelivery.from_message(message.decode()[0][0]) == delivery


def test_submit_runs_the_task_in_process_when_eager(tmp_path: Path, store: Any) -> None:
    """With task_always_eager, submit runs the task at once, as apply_async does in tests."""
    app = celery.Celery("t", broker="redis://127.0.0.1:1/0", set_as_current=False)
    app.conf.task_always_eager = True
    defer = CeleryDefer(app, dead_letters=SQLiteDeadLetters(tmp_path / "d.sqlite3"))
    calls: list[Any] = []
    receiver = Receiver("struktr", secret=SECRETS["struktr"], store=store, defer=defer)
    receiver.on("batch.progress")(calls.append)
    reply = receiver.handle(
        *testing.signed_delivery("struktr", SECRETS["struktr"], "batch.progress")
    )
    assert (reply.status, len(calls)) == (202, 1)


@pytest.mark.parametrize(
    "headers",
    [
        {"Webhook-Id": "i", "webhook-signature": "s", "X-Other": "o"},
        {b"webhook-id": b"i", b"Webhook-Signature": b"s", b"x-other": b"o"},
        {"webhook-id": "i", "Webhook-Signature": "s", "WEBHOOK-SIGNATURE": "later"},
    ],
    ids=["mixed-case", "bytes", "duplicate"],
)
def test_keep_headers_finds_what_get_header_finds(headers: dict[Any, Any]) -> None:
    """keep_headers keeps, for each name asked, what get_header finds: any case, bytes, first."""
    names = ["webhook-id", "webhook-signature", "svix-id", "webhook-timestamp"]
    expected = {name: get_header(headers, name, name) for name in names}
    assert keep_headers(headers, names) == {k: v for k, v in expected.items() if v is not None}
    assert keep_headers(headers, names) == {"webhook-id": "i", "webhook-signature": "s"}


def test_a_tenant_delivery_goes_through_celery_with_its_tenant(tmp_path: Path, store: Any) -> None:
    """Eager Celery processes a tenant's delivery with its keys, and buries it with its tenant."""
    app = celery.Celery("t", broker="redis://127.0.0.1:1/0", set_as_current=False)
    app.conf.task_always_eager = True
    letters = SQLiteDeadLetters(tmp_path / "d.sqlite3")
    defer = CeleryDefer(app, dead_letters=letters, max_attempts=1)
    keys = {"acme": "acme-secret", "beta": "beta-secret"}
    receiver = Receiver("struktr", secret=TenantSecrets(keys.get), store=store, defer=defer)
    calls: list[Any] = []

    @receiver.on("batch.progress")
    def handle(event: Any) -> None:
        calls.append(event)
        if len(calls) > 1:
            raise RuntimeError("the second one fails")

    for delivery_id in ("dlv_1", "dlv_2"):
        payload = testing.sample("struktr", "batch.progress") | {"marker": delivery_id}
        delivery = testing.signed_delivery(
            "struktr", "acme-secret", payload, delivery_id=delivery_id
        )
        assert receiver.handle(*delivery, tenant="acme").status == 202
    [letter] = letters.all()
    assert (letter.id, letter.tenant, letter.reason) == (
        "struktr:acme/dlv_2",
        "acme",
        "handler_failed",
    )
    assert len(calls) == 2
