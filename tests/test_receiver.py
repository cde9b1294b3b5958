"""The receiver's status contract, run directly and through every framework adapter."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import socket
import time
from typing import Any

import pytest

from tests.receiving import CLIENTS, SECRETS, Post
from webhook_kit import SigningKey, StandardWebhooksVerifier, UnknownEvent, providers, testing
from webhook_kit.idempotency import MemoryStore, store_key
from webhook_kit.idempotency.redis import RedisStore
from webhook_kit.pytest_plugin import FrozenClock
from webhook_kit.receiver import Receiver

ALL_EVENTS = [
    (name, event_type)
    for name, provider in providers.PROVIDERS.items()
    for event_type in provider.event_types
]
FIRST_EVENT = {name: next(iter(p.event_types)) for name, p in providers.PROVIDERS.items()}


class Recorder:
    """A handler that records the events it saw, and can be told to fail its next calls."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.attempts = 0
        self.failures_left = 0

    def __call__(self, event: Any) -> None:
        self.attempts += 1
        if self.failures_left:
            self.failures_left -= 1
            raise RuntimeError("handler failed on purpose")
        self.events.append(event)


def make(
    client_factory: Any, name: str, store: Any, **options: Any
) -> tuple[Receiver, Recorder, Post]:
    """A receiver for `name` with one recording handler on every event, and a client for it."""
    secret = options.pop("secret", SECRETS[name])
    receiver = Receiver(name, secret=secret, store=store, **options)
    recorder = Recorder()
    for event_type in receiver.provider.event_types:
        receiver.on(event_type)(recorder)
    receiver.on_unknown(recorder)
    return receiver, recorder, client_factory(receiver)


@pytest.mark.parametrize(("name", "event_type"), ALL_EVENTS)
def test_new_delivery_runs_its_handler_once(
    client_factory: Any, store: Any, name: str, event_type: str
) -> None:
    """Every documented event is answered 200 and reaches its handler once, as its model."""
    receiver, recorder, post = make(client_factory, name, store)
    reply = post(*testing.signed_delivery(name, SECRETS[name], event_type))
    assert (reply.status, reply.body["status"]) == (200, "processed")
    assert [type(event) for event in recorder.events] == [receiver.provider.event_types[event_type]]


@pytest.mark.parametrize("name", list(providers.PROVIDERS))
def test_duplicate_of_a_processed_delivery(client_factory: Any, store: Any, name: str) -> None:
    """A retry of a processed delivery is acknowledged with 200 without running the handler."""
    _, recorder, post = make(client_factory, name, store)
    delivery = testing.signed_delivery(name, SECRETS[name], FIRST_EVENT[name], delivery_id="d-1")
    assert post(*delivery).status == 200
    retry = testing.signed_delivery(name, SECRETS[name], FIRST_EVENT[name], delivery_id="d-1")
    reply = post(*retry)
    assert (reply.status, reply.body) == (200, {"status": "duplicate"})
    assert len(recorder.events) == 1


def test_duplicate_while_in_progress(client_factory: Any, store: Any) -> None:
    """While another worker holds the delivery, the answer is 409 with Retry-After."""
    receiver, recorder, post = make(client_factory, "struktr", store, retry_after=7)
    delivery = testing.signed_delivery("struktr", SECRETS["struktr"], "batch.progress")
    key = store_key("struktr", receiver.provider.delivery_key(*delivery))
    assert store.claim(key).acquired
    reply = post(*delivery)
    assert (reply.status, reply.body["error"], reply.headers["retry-after"]) == (
        409,
        "in_progress",
        "7",
    )
    assert "retry" in reply.body["message"]
    assert recorder.attempts == 0


def _tampered(name: str) -> tuple[bytes, dict[str, str]]:
    body, headers = testing.signed_delivery(name, SECRETS[name], FIRST_EVENT[name])
    return body.replace(b"{", b"{ ", 1), headers


def _unsigned(name: str) -> tuple[bytes, dict[str, str]]:
    return json.dumps(testing.sample(name, FIRST_EVENT[name])).encode(), {}


def _wrong_secret(name: str) -> tuple[bytes, dict[str, str]]:
    other = "whsec_b3RoZXItc2lnbmluZy1rZXk=" if name == "pulse" else "another-secret"
    return testing.signed_delivery(name, other, FIRST_EVENT[name])


def _stale(name: str) -> tuple[bytes, dict[str, str]]:
    return testing.signed_delivery(name, SECRETS[name], FIRST_EVENT[name], now=time.time() - 301)


@pytest.mark.parametrize(
    ("name", "make_request", "code"),
    [
        *[(name, _tampered, "signature_mismatch") for name in providers.PROVIDERS],
        *[(name, _unsigned, "missing_header") for name in providers.PROVIDERS],
        *[(name, _wrong_secret, "signature_mismatch") for name in providers.PROVIDERS],
        ("pulse", _stale, "timestamp_out_of_tolerance"),
    ],
    ids=lambda value: getattr(value, "__name__", value),
)
def test_unverified_delivery_is_401(
    client_factory: Any, store: Any, name: str, make_request: Any, code: str
) -> None:
    """A missing or wrong signature, or a stale timestamp, is 401 naming why; no handler runs."""
    _, recorder, post = make(client_factory, name, store)
    reply = post(*make_request(name))
    assert (reply.status, reply.body["error"]) == (401, code)
    assert SECRETS[name] not in json.dumps(reply.body)
    assert recorder.attempts == 0


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (
            b'{"event":"batch.progress","timestamp":"2024-01-15T10:32:00Z",'
            b'"data":{"batch_id":"b","total":"five","completed":2,"pending":3}}',
            "data.total",
        ),
    ],
    ids=["not-json", "not-an-object", "invalid-field"],
)
def test_invalid_payload_is_400(
    client_factory: Any, store: Any, payload: bytes, fragment: str
) -> None:
    """A verified body that is not a valid event is 400 naming the field; no handler runs."""
    _, recorder, post = make(client_factory, "struktr", store)
    reply = post(*testing.signed_delivery("struktr", SECRETS["struktr"], payload))
    assert (reply.status, reply.body["error"]) == (400, "invalid_payload")
    assert fragment in reply.body["message"]
    assert recorder.attempts == 0


def test_body_over_the_limit_is_413(client_factory: Any, store: Any) -> None:
    """A body larger than max_body_size is refused with 413 before verification."""
    _, recorder, post = make(client_factory, "imggo", store, max_body_size=100)
    reply = post(*testing.signed_delivery("imggo", SECRETS["imggo"], b"{" + b" " * 200 + b"}"))
    assert (reply.status, reply.body["error"]) == (413, "payload_too_large")
    assert recorder.attempts == 0


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_store_is_503(client_factory: Any) -> None:
    """With the store down the answer is 503 with Retry-After, and no handler runs."""
    store = RedisStore(f"redis://127.0.0.1:{_closed_port()}/0", timeout=0.5)
    _, recorder, post = make(client_factory, "docextract", store)
    reply = post(*testing.signed_delivery("docextract", SECRETS["docextract"], "job.completed"))
    assert reply.status == 503
    assert reply.body == {"error": "store_unavailable"}  # no internal addresses for the sender
    assert "retry-after" in reply.headers
    assert recorder.attempts == 0


def test_failed_handler_is_500_and_the_retry_processes_it(client_factory: Any, store: Any) -> None:
    """A handler that raises gives 500 and releases the delivery; the retry runs it once more."""
    _, recorder, post = make(client_factory, "pulse", store)
    recorder.failures_left = 1
    delivery = testing.signed_delivery("pulse", SECRETS["pulse"], "job.failed", delivery_id="m1")
    reply = post(*delivery)
    assert (reply.status, reply.body) == (500, {"error": "handler_failed"})
    assert post(*delivery).status == 200
    assert post(*delivery).body == {"status": "duplicate"}
    assert (recorder.attempts, len(recorder.events)) == (2, 1)


def test_method_other_than_post_is_405(client_factory: Any, store: Any) -> None:
    """GET (or any method but POST) is 405 with Allow: POST."""
    _, recorder, post = make(client_factory, "struktr", store)
    reply = post(b"", {}, "GET")
    assert (reply.status, reply.headers.get("allow")) == (405, "POST")
    assert reply.body == {
        "error": "method_not_allowed",
        "message": "webhooks are delivered with POST, not GET",
    }
    assert recorder.attempts == 0


def test_unknown_event_type_is_acknowledged(client_factory: Any, store: Any) -> None:
    """An event type the library does not model is 200 and goes to the on_unknown handler."""
    _, recorder, post = make(client_factory, "pulse", store)
    payload = {"type": "job.archived", "timestamp": "2024-01-15T10:30:00Z", "data": {"x": 1}}
    reply = post(*testing.signed_delivery("pulse", SECRETS["pulse"], payload))
    assert reply.status == 200
    [event] = recorder.events
    assert isinstance(event, UnknownEvent)
    assert (event.event_type, event.payload) == ("job.archived", payload)


def test_raw_body_is_verified_as_received(client_factory: Any, store: Any) -> None:
    """Spacing, key order, non-ASCII text and `1547.50` survive: the raw bytes are verified."""
    _, recorder, post = make(client_factory, "struktr", store)
    body = (
        '{ "timestamp" : "2024-01-15T10:30:05Z",\n  "event": "document.failed", "data": {'
        '"status":"failed","id":"doc_é","created_at":"2024-01-15T10:30:00Z","amount":1547.50,'
        '"error":{"message":"Kein Text gefunden — ñ","code":"processing_failed"}}}'
    ).encode()
    reply = post(*testing.signed_delivery("struktr", SECRETS["struktr"], body))
    assert reply.status == 200, reply.body
    assert recorder.events[0].data.id == "doc_é"


def test_handlers_run_in_order_and_all_must_succeed(client_factory: Any, store: Any) -> None:
    """Several handlers run in registration order; one failing makes the delivery fail."""
    receiver, recorder, post = make(client_factory, "imggo", store)
    order: list[str] = []

    @receiver.on("job.completed")
    def second(event: Any) -> None:
        order.append("second")
        if len(order) == 1:
            raise RuntimeError("fails the first time")

    delivery = testing.signed_delivery("imggo", SECRETS["imggo"], "job.completed")
    assert post(*delivery).status == 500
    assert post(*delivery).status == 200
    assert order == ["second", "second"]
    assert len(recorder.events) == 2  # the first handler ran on both attempts


def test_async_handlers_are_awaited(client_factory: Any, store: Any) -> None:
    """A coroutine handler is awaited on both paths."""
    receiver = Receiver("imggo", secret=SECRETS["imggo"], store=store)
    seen: list[str] = []

    @receiver.on("job.failed")
    async def record(event: Any) -> None:
        seen.append(event.job_id)

    post = client_factory(receiver)
    body, headers = testing.signed_delivery("imggo", SECRETS["imggo"], "job.failed")
    assert post(body, headers).status == 200
    assert seen == [json.loads(body)["job_id"]]


def test_without_a_store_every_delivery_runs(client_factory: Any) -> None:
    """No store means no deduplication: a retry runs the handler again."""
    _, recorder, post = make(client_factory, "struktr", None)
    delivery = testing.signed_delivery("struktr", SECRETS["struktr"], "batch.progress")
    assert post(*delivery).status == post(*delivery).status == 200
    assert len(recorder.events) == 2


def test_registering_an_unknown_event_type_is_refused() -> None:
    """A typo in `on()` fails at start-up with the provider's known event types."""
    receiver = Receiver("struktr", secret="s")
    with pytest.raises(ValueError, match=r"document\.completed"):
        receiver.on("document.complete")


def test_one_log_line_per_delivery_without_secrets(
    store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Each delivery logs provider, event type, key and outcome, never the secret or signature."""
    _, _, post = make(CLIENTS["core-sync"], "struktr", store)
    body, headers = testing.signed_delivery(
        "struktr", SECRETS["struktr"], "document.completed", delivery_id="dlv_42"
    )
    with caplog.at_level(logging.INFO, logger="webhook_kit"):
        post(body, headers)
    [record] = caplog.records
    line = record.getMessage()
    for part in ("provider=struktr", "event=document.completed", "dlv_42", "outcome=processed"):
        assert part in line
    assert SECRETS["struktr"] not in line
    assert headers["X-Struktr-Signature"][7:] not in line


def test_a_store_assigned_later_applies_on_every_path(client_factory: Any) -> None:
    """`receiver.store = ...` after construction deduplicates on the sync and async paths."""
    receiver, recorder, post = make(client_factory, "pulse", None)
    receiver.store = MemoryStore()
    delivery = testing.signed_delivery("pulse", SECRETS["pulse"], "job.completed")
    assert post(*delivery).body == {"status": "processed"}
    assert post(*delivery).body == {"status": "duplicate"}
    assert len(recorder.events) == 1


def _record(caplog: pytest.LogCaptureFixture) -> logging.LogRecord:
    [record] = [r for r in caplog.records if r.name == "webhook_kit"]
    return record


def test_a_refused_signature_is_a_warning_naming_the_delivery(
    store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A 401 is logged at WARNING with the (unverified) delivery key and the cause."""
    _, _, post = make(CLIENTS["core-sync"], "struktr", store)
    body, headers = testing.signed_delivery("struktr", "wrong-secret", "batch.progress")
    with caplog.at_level(logging.INFO, logger="webhook_kit"):
        post(body, headers)
    record = _record(caplog)
    line = record.getMessage()
    assert record.levelno == logging.WARNING
    assert f"key=struktr:{headers['X-Struktr-Delivery']}" in line
    assert "cause='X-Struktr-Signature does not match the body" in line
    assert headers["X-Struktr-Signature"][7:] not in line


def test_an_unreachable_store_is_an_error_naming_the_cause(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 503 is logged at ERROR with why the store did not answer, without its password."""
    store = RedisStore(f"redis://user:hunter2@127.0.0.1:{_closed_port()}/0", timeout=0.5)
    _, _, post = make(CLIENTS["core-sync"], "docextract", store)
    delivery = testing.signed_delivery("docextract", SECRETS["docextract"], "job.completed")
    with caplog.at_level(logging.INFO, logger="webhook_kit"):
        post(*delivery)
    record = _record(caplog)
    assert record.levelno == logging.ERROR
    assert "status=503 " in record.getMessage()
    assert "cause='Redis did not answer" in record.getMessage()
    assert "hunter2" not in caplog.text


def test_a_failing_handler_is_logged_with_its_delivery(
    client_factory: Any, store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A handler's exception is logged with its traceback, provider, event type and key."""
    _, recorder, post = make(client_factory, "pulse", store)
    recorder.failures_left = 1
    delivery = testing.signed_delivery("pulse", SECRETS["pulse"], "job.failed", delivery_id="m9")
    with caplog.at_level(logging.INFO, logger="webhook_kit"):
        post(*delivery)
    [failure] = [r for r in caplog.records if r.exc_info is not None]
    message = failure.getMessage()
    for part in ("Recorder", "provider=pulse", "event=job.failed", "key=pulse:m9"):
        assert part in message


class _SingleKeyStore:
    """A store written before multi-key claims: `claim` takes no `also`."""

    def claim(self, key: str, *, lease: float = 60.0) -> Any:
        raise NotImplementedError

    def complete(self, claim: Any, *, retain: float = 60.0) -> None:
        raise NotImplementedError

    def release(self, claim: Any) -> None:
        raise NotImplementedError

    def purge(self) -> int:
        raise NotImplementedError


def test_a_store_without_multi_key_claims_is_refused_where_needed() -> None:
    """A store whose claim takes no `also=` is refused for struktr, accepted where one key does."""
    with pytest.raises(TypeError, match="also="):
        Receiver("struktr", secret="s", store=_SingleKeyStore())  # type: ignore[arg-type]
    for name in ("pulse", "imggo"):
        Receiver(name, secret=SECRETS[name], store=_SingleKeyStore())  # type: ignore[arg-type]


def test_tolerance_reaches_the_verifier(client_factory: Any, store: Any) -> None:
    """`Receiver(..., tolerance=30)` refuses a Pulse delivery signed 60 s ago (300 s would not)."""
    delivery = testing.signed_delivery(
        "pulse", SECRETS["pulse"], "job.completed", now=time.time() - 60
    )
    strict = client_factory(Receiver("pulse", secret=SECRETS["pulse"], store=store, tolerance=30))
    reply = strict(*delivery)
    assert (reply.status, reply.body["error"]) == (401, "timestamp_out_of_tolerance")
    assert "outside the 30 s tolerance" in reply.body["message"]
    default = client_factory(Receiver("pulse", secret=SECRETS["pulse"], store=store))
    assert default(*delivery).status == 200


def test_encoding_reaches_the_verifier(client_factory: Any, store: Any) -> None:
    """`Receiver(..., encoding="hex")` verifies the hex signatures of Pulse's sample code."""
    signer = StandardWebhooksVerifier("plain-pulse-secret", encoding="hex")
    body = json.dumps(testing.sample("pulse", "job.completed")).encode()
    headers = signer.sign(body)
    receiver = Receiver("pulse", secret="plain-pulse-secret", store=store, encoding="hex")
    assert client_factory(receiver)(body, headers).status == 200
    base64 = Receiver("pulse", secret=SECRETS["pulse"], store=store)
    assert client_factory(base64)(body, headers).body["error"] == "malformed_header"


@pytest.mark.parametrize(
    ("name", "options", "says"),
    [
        *[
            (name, {"tolerance": 60}, "max_age= refuses")
            for name in ("struktr", "file_conversion", "docextract")
        ],
        ("imggo", {"tolerance": 60}, "carry no signed time"),
        *[
            (name, {"encoding": "hex"}, "fixes its whole scheme")
            for name in providers.PROVIDERS
            if name != "pulse"
        ],
    ],
)
def test_a_verifier_option_the_scheme_lacks_is_a_type_error(
    name: str, options: dict[str, Any], says: str
) -> None:
    """An option the provider's signature scheme does not have fails at construction, naming it."""
    [option] = options
    with pytest.raises(TypeError, match=f"take no {option}= option") as raised:
        Receiver(name, secret=SECRETS[name], **options)
    assert says in str(raised.value)


def test_a_provider_lists_the_verifier_options_it_takes() -> None:
    """A custom provider passes the options it declares on to its verifier, and names them."""
    acme = dataclasses.replace(
        providers.PULSE, name="acme", title="Acme", verifier_options=("tolerance",)
    )
    assert Receiver(acme, secret=SECRETS["pulse"], tolerance=5).verifier.tolerance == 5
    with pytest.raises(
        TypeError, match="Acme signatures take no encoding= option; they take tolerance="
    ):
        Receiver(acme, secret=SECRETS["pulse"], encoding="hex")


# Which key verified a delivery

#: A second secret per provider, the new key of a rotation (Pulse's in the `whsec_` form).
NEW_SECRETS = {
    name: "whsec_bmV3LXB1bHNlLXNpZ25pbmcta2V5" if name == "pulse" else f"new-{secret}"
    for name, secret in SECRETS.items()
}


def _rotation(name: str, **window: Any) -> list[Any]:
    """The new key with an id, first, and the old one: plain, or a `SigningKey` with `window`."""
    old = SigningKey(SECRETS[name], id="2026-05", **window) if window else SECRETS[name]
    return [SigningKey(NEW_SECRETS[name], id="2026-11"), old]


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("webhook provider")]


@pytest.mark.parametrize("name", list(providers.PROVIDERS))
def test_the_log_line_names_the_key_that_verified(
    client_factory: Any, store: Any, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Every way in logs `key_id=`: a SigningKey's id, a plain secret's fingerprint, None on 401."""
    receiver, _, post = make(client_factory, name, store, secret=_rotation(name))
    new = testing.signed_delivery(name, NEW_SECRETS[name], FIRST_EVENT[name])
    old = testing.signed_delivery(name, SECRETS[name], FIRST_EVENT[name])
    old_id = receiver.verifier.verify(*old)
    assert old_id is not None
    assert old_id.startswith("fp:")
    with caplog.at_level(logging.INFO, logger="webhook_kit"):
        assert post(*new).status == post(*old).status == 200
        assert post(*_wrong_secret(name)).status == 401
    lines = _lines(caplog)
    assert [line.split(" key_id=")[1].split()[0] for line in lines] == ["2026-11", old_id, "None"]
    for line in lines:
        assert SECRETS[name] not in line
        assert NEW_SECRETS[name] not in line


@pytest.mark.parametrize("way", ["handle", "handle_async", "process"])
@pytest.mark.parametrize("name", list(providers.PROVIDERS))
def test_the_outcome_names_the_key_that_verified(name: str, way: str) -> None:
    """`Outcome.key_id` is the matched key's id on every path, and None when nothing verified."""
    receiver = Receiver(name, secret=_rotation(name), store=MemoryStore())

    def run(body: bytes, headers: dict[str, str]) -> Any:
        if way == "handle_async":
            return asyncio.run(receiver.handle_async(body, headers))
        return getattr(receiver, way)(body, headers)

    new = testing.signed_delivery(name, NEW_SECRETS[name], FIRST_EVENT[name])
    outcome = run(*new)
    assert (outcome.status, outcome.key_id) == (200, "2026-11")
    assert run(*_wrong_secret(name)).key_id is None
    assert outcome == dataclasses.replace(outcome, key_id=None)  # outcomes compare as before


@pytest.mark.parametrize("name", ["struktr", "pulse"])
def test_an_expired_key_verifies_nothing_and_is_reported(
    client_factory: Any, name: str, webhook_clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The old key verifies until not_after, then its deliveries are 401, and it is listed."""
    rotation = _rotation(name, not_after=webhook_clock.now + 60)
    receiver, recorder, post = make(client_factory, name, None, secret=rotation)
    assert receiver.expired_keys() == ()
    webhook_clock.advance(59)
    with caplog.at_level(logging.INFO, logger="webhook_kit"):
        assert post(*testing.signed_delivery(name, SECRETS[name], FIRST_EVENT[name])).status == 200
        webhook_clock.advance(1)
        reply = post(*testing.signed_delivery(name, SECRETS[name], FIRST_EVENT[name]))
        assert (
            post(*testing.signed_delivery(name, NEW_SECRETS[name], FIRST_EVENT[name])).status == 200
        )
    assert (reply.status, reply.body["error"]) == (401, "signature_mismatch")
    assert "made with key 2026-05, which verifies nothing" in reply.body["message"]
    assert receiver.expired_keys() == ("2026-05",)
    assert receiver.expired_keys(now=webhook_clock.now - 1) == ()
    assert [line.split(" key_id=")[1].split()[0] for line in _lines(caplog)] == [
        "2026-05",
        "None",
        "2026-11",
    ]
    assert len(recorder.events) == 2


def test_a_worker_judges_windows_when_the_delivery_was_received(
    webhook_clock: FrozenClock,
) -> None:
    """`process(received_at=...)` accepts a key that was valid on receipt and has expired since."""
    receiver = Receiver(
        "pulse", secret=_rotation("pulse", not_after=webhook_clock.now + 60), store=MemoryStore()
    )
    received = webhook_clock.now
    delivery = testing.signed_delivery("pulse", SECRETS["pulse"], "job.completed")
    webhook_clock.advance(3600)
    outcome = receiver.process(*delivery, received_at=received)
    assert (outcome.status, outcome.key_id) == (200, "2026-05")
