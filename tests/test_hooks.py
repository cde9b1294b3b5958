"""Hooks around the handlers: `on_any`, `on_error`, and deliveries that no handler takes.

Each test runs through every way into a receiver (`tests/receiving.py`: the core, sync and async,
and each framework adapter) and through `Receiver.process`, the worker's path: all must agree.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from tests.receiving import CLIENTS, SECRETS, ClientFactory, Post, Reply, reply_of
from webhook_kit import InvalidEvent, MemoryStore, UnknownEvent, providers, testing
from webhook_kit.idempotency import store_key
from webhook_kit.receiver import Receiver

FIRST_EVENT = {name: next(iter(p.event_types)) for name, p in providers.PROVIDERS.items()}


class Boom(Exception):
    """What the failing handlers raise."""


def worker(receiver: Receiver) -> Post:
    """`Receiver.process`, as a queue's worker runs it; the handler's own exception means 500."""

    def post(body: bytes, headers: Any, method: str = "POST") -> Reply:
        try:
            return reply_of(receiver.process(body, headers))
        except Boom:  # process raises the handler's exception, for the queue to retry
            return Reply(500, {"error": "handler_failed"}, {})

    return post


WAYS: dict[str, ClientFactory] = {**CLIENTS, "worker": worker}


@pytest.fixture(params=list(WAYS))
def client_factory(request: pytest.FixtureRequest) -> ClientFactory:
    """Each way into a receiver, the worker's `process` included."""
    return WAYS[request.param]


def _unknown(name: str) -> dict[str, Any]:
    """A well-formed body of `name` whose event type the library does not model."""
    payload = testing.sample(name, FIRST_EVENT[name])
    type_field = "type" if name == "pulse" else "event"
    return payload | {type_field: "something.new"}


def _invalid() -> bytes:
    """A struktr body that fails validation: a count sent as text."""
    return (
        b'{"event":"batch.progress","timestamp":"2024-01-15T10:32:00Z",'
        b'"data":{"batch_id":"b","total":"five","completed":2,"pending":3}}'
    )


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The receiver's one-per-delivery log lines."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "webhook_kit" and record.getMessage().startswith("webhook provider=")
    ]


@pytest.mark.parametrize("name", list(providers.PROVIDERS))
def test_on_any_runs_after_the_handlers_of_the_event_type(
    client_factory: ClientFactory, name: str
) -> None:
    """`on_any` gets the very event its type's handlers got, after them, in every way in."""
    receiver = Receiver(name, secret=SECRETS[name], store=MemoryStore())
    seen: list[tuple[str, Any]] = []
    receiver.on(FIRST_EVENT[name])(lambda event: seen.append(("typed", event)))
    receiver.on_any(lambda event: seen.append(("any", event)))
    reply = client_factory(receiver)(
        *testing.signed_delivery(name, SECRETS[name], FIRST_EVENT[name])
    )
    assert (reply.status, reply.body) == (200, {"status": "processed"})
    assert [kind for kind, _ in seen] == ["typed", "any"]
    assert seen[0][1] is seen[1][1]
    assert type(seen[1][1]) is receiver.provider.event_types[FIRST_EVENT[name]]


@pytest.mark.parametrize(
    ("kind", "payload", "model"),
    [("unknown", _unknown("struktr"), UnknownEvent), ("invalid", _invalid(), InvalidEvent)],
    ids=["unknown", "invalid"],
)
def test_on_any_gets_unknown_and_accepted_invalid_events(
    client_factory: ClientFactory, kind: str, payload: Any, model: type[Any]
) -> None:
    """An `UnknownEvent`, and an accepted `InvalidEvent`, reach `on_any` after their handlers."""
    receiver = Receiver("struktr", secret=SECRETS["struktr"], invalid_payloads="accept")
    seen: list[tuple[str, Any]] = []
    register = receiver.on_unknown if kind == "unknown" else receiver.on_invalid
    register(lambda event: seen.append((kind, event)))
    receiver.on_any(lambda event: seen.append(("any", event)))
    reply = client_factory(receiver)(
        *testing.signed_delivery("struktr", SECRETS["struktr"], payload)
    )
    assert reply.status == 200
    assert [k for k, _ in seen] == [kind, "any"]
    assert type(seen[1][1]) is model


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync-hook", "async-hook"])
def test_on_error_gets_the_event_and_the_exception_before_the_500(
    client_factory: ClientFactory, asynchronous: bool
) -> None:
    """A raising handler's event and exception reach `on_error` (sync or async) before the 500."""
    store = MemoryStore()
    receiver = Receiver("pulse", secret=SECRETS["pulse"], store=store)
    raised: list[Exception] = []
    reported: list[tuple[Any, Exception, bool]] = []
    after: list[Any] = []

    @receiver.on("job.failed")
    def failing(event: Any) -> None:
        raised.append(Boom("the handler failed"))
        raise raised[-1]

    receiver.on_any(after.append)  # after a failing handler: never reached

    def held(event: Any) -> bool:  # the delivery is still claimed: the 500 has not been sent
        return not store.claim(store_key("pulse", delivery[1]["webhook-id"])).acquired

    if asynchronous:

        @receiver.on_error
        async def alert(event: Any, error: Exception) -> None:
            reported.append((event, error, held(event)))

    else:

        @receiver.on_error
        def alert(event: Any, error: Exception) -> None:
            reported.append((event, error, held(event)))

    delivery = testing.signed_delivery("pulse", SECRETS["pulse"], "job.failed")
    reply = client_factory(receiver)(*delivery)
    assert (reply.status, reply.body) == (500, {"error": "handler_failed"})
    [(event, error, still_held)] = reported
    assert event.data.job_id == json.loads(delivery[0])["data"]["job_id"]
    assert error is raised[0]
    assert still_held
    assert after == []


def test_a_failing_on_any_fails_the_delivery_and_the_retry_runs_it(
    client_factory: ClientFactory,
) -> None:
    """`on_any` raising is a handler failure: on_error, 500, released; the retry processes it."""
    receiver = Receiver("imggo", secret=SECRETS["imggo"], store=MemoryStore())
    calls: list[str] = []
    errors: list[Exception] = []
    receiver.on("job.completed")(lambda _event: calls.append("typed"))

    @receiver.on_any
    def flaky(event: Any) -> None:
        calls.append("any")
        if calls.count("any") == 1:
            raise Boom("on_any failed once")

    receiver.on_error(lambda _event, error: errors.append(error))
    post = client_factory(receiver)
    delivery = testing.signed_delivery("imggo", SECRETS["imggo"], "job.completed")
    assert post(*delivery).status == 500
    assert post(*delivery).body == {"status": "processed"}
    assert post(*delivery).body == {"status": "duplicate"}
    assert calls == ["typed", "any", "typed", "any"]
    assert [type(error) for error in errors] == [Boom]


def test_an_exception_in_on_error_is_logged_and_never_masks_the_handlers(
    client_factory: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A raising `on_error` hook is logged with its traceback; the next hook still runs, and the
    delivery fails with the handler's own exception."""
    receiver = Receiver("docextract", secret=SECRETS["docextract"])
    reported: list[Exception] = []

    @receiver.on("job.failed")
    def failing(event: Any) -> None:
        raise Boom("the handler failed")

    @receiver.on_error
    def broken(event: Any, error: Exception) -> None:
        raise ValueError("the alerting service is down")

    receiver.on_error(lambda _event, error: reported.append(error))
    delivery = testing.signed_delivery("docextract", SECRETS["docextract"], "job.failed")
    with caplog.at_level(logging.INFO, logger="webhook_kit"):
        reply = client_factory(receiver)(*delivery)
    assert (reply.status, reply.body) == (500, {"error": "handler_failed"})
    assert [type(error) for error in reported] == [Boom]
    [hook_log] = [r for r in caplog.records if "on_error hook" in r.getMessage()]
    assert "broken" in hook_log.getMessage()
    assert "provider=docextract event=job.failed" in hook_log.getMessage()
    assert hook_log.exc_info is not None
    assert hook_log.exc_info[0] is ValueError


@pytest.mark.parametrize(
    ("typed", "on_any"),
    [(0, False), (0, True), (1, False), (2, True)],
    ids=["none", "on_any-only", "one", "two-and-on_any"],
)
def test_a_delivery_no_handler_takes_is_processed_and_logged_with_handlers_0(
    client_factory: ClientFactory, caplog: pytest.LogCaptureFixture, typed: int, on_any: bool
) -> None:
    """Without a handler for its type (`on_any` does not count) a delivery is still 200 processed
    and done, so its retry is a duplicate; its log line says ``handlers=0``."""
    receiver = Receiver("pulse", secret=SECRETS["pulse"], store=MemoryStore())
    seen: list[str] = []
    for _ in range(typed):
        receiver.on("job.completed")(lambda _event: seen.append("typed"))
    if on_any:
        receiver.on_any(lambda _event: seen.append("any"))
    post = client_factory(receiver)
    delivery = testing.signed_delivery("pulse", SECRETS["pulse"], "job.completed")
    with caplog.at_level(logging.INFO, logger="webhook_kit"):
        assert post(*delivery).body == {"status": "processed"}
        assert post(*delivery).body == {"status": "duplicate"}
    first, retry = _lines(caplog)
    assert "outcome=processed status=200 duration_ms=" in first
    assert first.endswith(f" handlers={typed}")
    assert "handlers=" not in retry
    assert seen == ["typed"] * typed + ["any"] * on_any


def test_an_unknown_event_without_on_unknown_logs_handlers_0(
    client_factory: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """An event type the library does not model, with no `on_unknown`, is processed: handlers=0."""
    receiver = Receiver("file_conversion", secret=SECRETS["file_conversion"], store=MemoryStore())
    receiver.on("document.completed")(lambda _event: None)
    body = _unknown("file_conversion")
    with caplog.at_level(logging.INFO, logger="webhook_kit"):
        reply = client_factory(receiver)(
            *testing.signed_delivery("file_conversion", SECRETS["file_conversion"], body)
        )
    assert (reply.status, reply.body) == (200, {"status": "processed"})
    [line] = _lines(caplog)
    assert "event=something.new" in line
    assert line.endswith(" handlers=0")


def test_an_accepted_invalid_payload_logs_its_handlers_and_paths(
    client_factory: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """An `InvalidEvent` handled by `on_invalid` logs both how many handlers ran and where."""
    receiver = Receiver(
        "struktr", secret=SECRETS["struktr"], store=MemoryStore(), invalid_payloads="accept"
    )
    receiver.on_invalid(lambda _event: None)
    payload = testing.sample("struktr", "batch.progress")
    payload["data"]["total"] = None
    with caplog.at_level(logging.INFO, logger="webhook_kit"):
        reply = client_factory(receiver)(
            *testing.signed_delivery("struktr", SECRETS["struktr"], payload)
        )
    assert (reply.status, reply.body) == (200, {"status": "processed"})
    [line] = _lines(caplog)
    assert " handlers=1" in line
    assert " invalid=data.total" in line


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync-hook", "async-hook"])
def test_on_processed_runs_once_the_delivery_is_done(
    client_factory: ClientFactory, asynchronous: bool
) -> None:
    """`on_processed` (sync or async) gets the event and the 200 once the store holds the delivery
    as done, in every way in; never for its duplicate."""
    store = MemoryStore()
    receiver = Receiver("pulse", secret=SECRETS["pulse"], store=store)
    handled: list[Any] = []
    seen: list[tuple[Any, Any, bool]] = []
    receiver.on("job.completed")(handled.append)

    def done() -> bool:  # the store answers "duplicate" for it already
        return store.claim(store_key("pulse", delivery[1]["webhook-id"])).state.name == "DONE"

    if asynchronous:

        @receiver.on_processed
        async def notify(event: Any, outcome: Any) -> None:
            seen.append((event, outcome, done()))

    else:

        @receiver.on_processed
        def notify(event: Any, outcome: Any) -> None:
            seen.append((event, outcome, done()))

    delivery = testing.signed_delivery("pulse", SECRETS["pulse"], "job.completed")
    post = client_factory(receiver)
    assert post(*delivery).body == {"status": "processed"}
    assert post(*delivery).body == {"status": "duplicate"}
    [(event, outcome, was_done)] = seen
    assert event is handled[0]
    assert (outcome.status, outcome.body, outcome.event) == (200, {"status": "processed"}, event)
    assert was_done


def test_on_processed_is_not_run_for_a_failed_delivery(client_factory: ClientFactory) -> None:
    """A delivery whose handler raised is not processed: the hook waits for the retry's success."""
    receiver = Receiver("imggo", secret=SECRETS["imggo"], store=MemoryStore())
    attempts: list[Any] = []
    seen: list[Any] = []

    @receiver.on("job.completed")
    def flaky(event: Any) -> None:
        attempts.append(event)
        if len(attempts) == 1:
            raise Boom("failed once")

    receiver.on_processed(lambda event, _outcome: seen.append(event))
    post = client_factory(receiver)
    delivery = testing.signed_delivery("imggo", SECRETS["imggo"], "job.completed")
    assert post(*delivery).status == 500
    assert seen == []
    assert post(*delivery).body == {"status": "processed"}
    assert seen == [attempts[1]]


def test_an_exception_in_on_processed_is_logged_and_the_delivery_stays_processed(
    client_factory: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A raising `on_processed` hook is logged with its traceback; the next hook runs, the answer
    is 200 and the retry is a duplicate."""
    receiver = Receiver("docextract", secret=SECRETS["docextract"], store=MemoryStore())
    seen: list[Any] = []

    @receiver.on_processed
    def broken(event: Any, outcome: Any) -> None:
        raise ValueError("the audit log is down")

    receiver.on_processed(lambda event, _outcome: seen.append(event))
    post = client_factory(receiver)
    delivery = testing.signed_delivery("docextract", SECRETS["docextract"], "job.failed")
    with caplog.at_level(logging.INFO, logger="webhook_kit"):
        assert post(*delivery).body == {"status": "processed"}
    assert post(*delivery).body == {"status": "duplicate"}
    assert len(seen) == 1
    [hook_log] = [r for r in caplog.records if "on_processed hook" in r.getMessage()]
    assert "broken" in hook_log.getMessage()
    assert "provider=docextract event=job.failed" in hook_log.getMessage()
    assert hook_log.exc_info is not None
    assert hook_log.exc_info[0] is ValueError
