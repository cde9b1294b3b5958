"""Per-tenant secrets: each tenant's keys, its own idempotency keys, and the refusals of others.

The receiver contract for tenants runs directly and through every adapter (`client_factory`):
a tenant receiver's route is ``/webhooks/<provider>/<tenant>``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tests import strategies
from tests.receiving import SECRETS, Reply
from tests.test_deadletters import letters  # noqa: F401  (every dead letter backend)
from tests.test_replay import any_store  # noqa: F401  (every idempotency backend)
from webhook_kit import (
    DeadLetter,
    QueuedDelivery,
    Receiver,
    SecretsUnavailableError,
    SignatureMismatchError,
    SigningKey,
    TenantSecrets,
    current_tenant,
    providers,
    replay,
    testing,
)
from webhook_kit import tenants as tenants_module
from webhook_kit.deadletters import DeadLetterStore, SQLiteDeadLetters
from webhook_kit.idempotency import MemoryStore, store_key
from webhook_kit.pytest_plugin import Deliveries
from webhook_kit.tenants import tenant_delivery_id, valid_tenant

#: Two tenants' secrets per provider, none equal to another's.
TENANT_SECRETS = {
    "acme": {
        name: "whsec_YWNtZS1wdWxzZS1zaWduaW5nLWtleQ==" if name == "pulse" else f"acme-{secret}"
        for name, secret in SECRETS.items()
    },
    "beta": {
        name: "whsec_YmV0YS1wdWxzZS1zaWduaW5nLWtleQ==" if name == "pulse" else f"beta-{secret}"
        for name, secret in SECRETS.items()
    },
}
FIRST_EVENT = {name: next(iter(p.event_types)) for name, p in providers.PROVIDERS.items()}


class Lookup:
    """A key store: tenant -> secret of one provider, counting the lookups made."""

    def __init__(self, name: str, *, fail: bool = False) -> None:
        self.name = name
        self.calls: list[str] = []
        self.fail = fail

    def __call__(self, tenant: str) -> str | None:
        self.calls.append(tenant)
        if self.fail:
            raise ConnectionError("tenants database at db.internal:5432 refused the connection")
        return TENANT_SECRETS.get(tenant, {}).get(self.name)


def tenant_receiver(name: str, store: Any = None, **options: Any) -> tuple[Receiver, list[Any]]:
    """A receiver of `name` with `TenantSecrets` over `Lookup`, recording every event."""
    lookup = options.pop("lookup", None) or Lookup(name)
    receiver = Receiver(name, secret=TenantSecrets(lookup), store=store, **options)
    seen: list[Any] = []
    for event_type in receiver.provider.event_types:
        receiver.on(event_type)(seen.append)
    receiver.on_unknown(seen.append)
    return receiver, seen


def delivery(name: str, tenant: str, delivery_id: str = "dlv_1", **extra: Any) -> testing.Delivery:
    """A delivery of `name`'s first event signed with `tenant`'s secret."""
    payload = testing.sample(name, FIRST_EVENT[name]) | extra
    secret = TENANT_SECRETS[tenant][name]
    return testing.signed_delivery(name, secret, payload, delivery_id=delivery_id)


def same(reply: Reply) -> tuple[int, Any, dict[str, str]]:
    """What a sender sees of a reply, less the headers that vary per response."""
    varying = {"date", "server", "content-length"}
    return reply.status, reply.body, {k: v for k, v in reply.headers.items() if k not in varying}


# The contract, through every way in


@pytest.mark.parametrize("name", list(providers.PROVIDERS))
def test_each_tenant_is_verified_with_its_own_keys(
    client_factory: Any, store: Any, name: str
) -> None:
    """A tenant's delivery is processed with its own secret and refused with another's."""
    receiver, seen = tenant_receiver(name, store)
    acme, beta = client_factory(receiver, "acme"), client_factory(receiver, "beta")
    accepted = acme(*delivery(name, "acme", "d-own"))
    assert (accepted.status, accepted.body) == (200, {"status": "processed"})
    refused = beta(*delivery(name, "acme", "d-other"))
    assert (refused.status, refused.body["error"]) == (401, "signature_mismatch")
    assert beta(*delivery(name, "beta", "d-own")).status == 200
    assert len(seen) == 2


def test_handlers_and_hooks_know_the_tenant(client_factory: Any, store: Any) -> None:
    """`current_tenant()` is the delivery's tenant in sync and async handlers and error hooks."""
    receiver = Receiver("imggo", secret=TenantSecrets(Lookup("imggo")), store=store)
    seen: list[tuple[str, str | None]] = []

    @receiver.on("job.completed")
    def sync_handler(event: Any) -> None:
        seen.append(("sync", current_tenant()))

    @receiver.on("job.completed")
    async def async_handler(event: Any) -> None:
        seen.append(("async", current_tenant()))
        raise RuntimeError("fails, so that the hook runs")

    @receiver.on_error
    def hook(event: Any, error: Exception) -> None:
        seen.append(("hook", current_tenant()))

    reply = client_factory(receiver, "beta")(*delivery("imggo", "beta"))
    assert reply.status == 500
    assert seen == [("sync", "beta"), ("async", "beta"), ("hook", "beta")]
    assert current_tenant() is None


def test_the_outcome_names_the_tenant() -> None:
    """`Outcome.tenant` is the tenant that verified the delivery; None when it was refused."""
    receiver, _ = tenant_receiver("pulse", MemoryStore())
    assert receiver.handle(*delivery("pulse", "acme"), tenant="acme").tenant == "acme"
    assert receiver.handle(*delivery("pulse", "acme"), tenant="beta").tenant is None


@pytest.mark.parametrize("name", ["struktr", "pulse", "docextract"])
def test_one_delivery_id_is_deduplicated_per_tenant(
    client_factory: Any, store: Any, name: str
) -> None:
    """The same id and body for two tenants run the handlers once each; a repeat is a duplicate."""
    receiver, seen = tenant_receiver(name, store)
    acme, beta = client_factory(receiver, "acme"), client_factory(receiver, "beta")
    assert acme(*delivery(name, "acme", "same-id")).body == {"status": "processed"}
    assert beta(*delivery(name, "beta", "same-id")).body == {"status": "processed"}
    assert acme(*delivery(name, "acme", "same-id")).body == {"status": "duplicate"}
    assert beta(*delivery(name, "beta", "same-id")).body == {"status": "duplicate"}
    assert len(seen) == 2


def test_tenant_keys_are_namespaced_in_every_store(any_store: Any) -> None:  # noqa: F811
    """Each backend keeps tenant A's delivery ids apart from tenant B's (``struktr:acme/...``)."""
    receiver, seen = tenant_receiver("struktr", any_store)
    for tenant in ("acme", "beta", "acme"):
        receiver.handle(*delivery("struktr", tenant, "shared-id"), tenant=tenant)
    assert len(seen) == 2
    claim = any_store.claim(store_key("struktr", "acme/shared-id"), also=())
    assert claim.state.value == "done"
    assert any_store.claim(store_key("struktr", "shared-id")).acquired  # the bare id is free


@given(
    first=st.tuples(strategies.tenant_ids, strategies.message_ids | st.text(min_size=1)),
    second=st.tuples(strategies.tenant_ids, strategies.message_ids),
)
def test_two_tenants_never_share_a_store_key(
    first: tuple[str, str], second: tuple[str, str]
) -> None:
    """Different (tenant, delivery id) pairs make different store keys, whatever the id holds."""
    assume(first != second)
    key = store_key("struktr", tenant_delivery_id(*first))
    assert key != store_key("struktr", tenant_delivery_id(*second))


@given(st.text(max_size=80))
def test_only_tenant_ids_are_valid(text: str) -> None:
    """`valid_tenant` accepts exactly 1 to 64 letters, digits, '.', '_' and '-'."""
    expected = 1 <= len(text) <= 64 and all(
        c.isascii() and (c.isalnum() or c in "._-") for c in text
    )
    assert valid_tenant(text) is expected


def _wrong_signature(client_factory: Any, receiver: Receiver, name: str) -> Reply:
    post = client_factory(receiver, "acme")
    reply: Reply = post(*delivery(name, "beta"))
    return reply


@pytest.mark.parametrize("name", list(providers.PROVIDERS))
@pytest.mark.parametrize("tenant", ["ghost", "x" * 65, "bad!id", "caf\u00e9"])
def test_an_unknown_tenant_is_answered_as_a_wrong_signature(
    client_factory: Any, store: Any, name: str, tenant: str
) -> None:
    """A tenant that does not exist (or is no tenant id) gets the very reply of a bad signature."""
    receiver, seen = tenant_receiver(name, store)
    unknown = client_factory(receiver, tenant)(*delivery(name, "acme"))
    assert same(unknown) == same(_wrong_signature(client_factory, receiver, name))
    assert unknown.status == 401
    assert seen == []


@pytest.mark.parametrize("name", ["struktr", "pulse"])
def test_an_unknown_tenant_without_headers_is_answered_as_an_unsigned_delivery(
    client_factory: Any, store: Any, name: str
) -> None:
    """Unsigned, an unknown tenant's request gets the missing-header reply of a known tenant."""
    receiver, _ = tenant_receiver(name, store)
    body = delivery(name, "acme").body
    unknown = client_factory(receiver, "ghost")(body, {"Content-Type": "application/json"})
    known = client_factory(receiver, "acme")(body, {"Content-Type": "application/json"})
    assert same(unknown) == same(known)
    assert unknown.body["error"] == "missing_header"


def test_a_failing_lookup_is_503_with_retry_after(
    client_factory: Any, store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The key store down is 503 with Retry-After, logged at ERROR with its cause; nothing runs."""
    receiver, seen = tenant_receiver(
        "struktr", store, lookup=Lookup("struktr", fail=True), retry_after=11
    )
    with caplog.at_level(logging.INFO, logger="webhook_kit"):
        reply = client_factory(receiver, "acme")(*delivery("struktr", "acme"))
    assert (reply.status, reply.body) == (503, {"error": "secrets_unavailable"})
    assert reply.headers["retry-after"] == "11"
    assert seen == []
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert any(r.exc_info and "refused the connection" in str(r.exc_info[1]) for r in errors)
    [line] = [r.getMessage() for r in errors if r.getMessage().startswith("webhook provider")]
    assert "tenant=acme" in line
    assert "status=503" in line
    assert "cause='the secrets of tenant acme could not be looked up" in line
    assert TENANT_SECRETS["acme"]["struktr"] not in caplog.text


def test_a_lookup_returning_unusable_keys_is_503(store: Any) -> None:
    """Keys no verifier accepts (an empty secret in the table) are an outage, not a refusal."""
    receiver = Receiver("imggo", secret=TenantSecrets(lambda _tenant: ""), store=store)
    outcome = receiver.handle(*delivery("imggo", "acme"), tenant="acme")
    assert (outcome.status, outcome.body) == (503, {"error": "secrets_unavailable"})


def test_the_tenant_can_come_from_a_header(client_factory: Any, store: Any) -> None:
    """With `tenant_header`, the route has no tenant and the header selects the keys."""
    receiver, seen = tenant_receiver("pulse", store, tenant_header="X-Tenant")
    post = client_factory(receiver)
    body, headers = delivery("pulse", "beta")
    assert post(body, {**headers, "X-Tenant": "beta"}).status == 200
    assert post(body, {**headers, "X-Tenant": "acme"}).body["error"] == "signature_mismatch"
    assert same(post(body, headers)) == same(post(body, {**headers, "X-Tenant": "acme"}))
    assert len(seen) == 1


def test_the_log_line_names_the_tenant_and_keeps_unknown_ones_server_side(
    store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """``tenant=`` is logged; an unknown one is a WARNING with cause='unknown tenant'."""
    receiver, _ = tenant_receiver("struktr", store)
    with caplog.at_level(logging.INFO, logger="webhook_kit"):
        receiver.handle(*delivery("struktr", "acme", "d-log"), tenant="acme")
        receiver.handle(*delivery("struktr", "acme", "d-log2"), tenant="ghost")
        receiver.handle(*delivery("struktr", "acme", "d-log3"), tenant="bad id\n")
    ok, ghost, bad = [r for r in caplog.records if r.getMessage().startswith("webhook provider")]
    assert "provider=struktr tenant=acme " in ok.getMessage()
    assert "key=struktr:acme/d-log " in ok.getMessage()
    assert ghost.levelno == bad.levelno == logging.WARNING
    assert "tenant=ghost " in ghost.getMessage()
    assert ghost.getMessage().endswith("cause='unknown tenant'")
    assert "tenant=- " in bad.getMessage()  # text from the request never reaches the log


# The cache


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The cache's clock, frozen."""
    frozen = Clock()
    monkeypatch.setattr(tenants_module, "time", SimpleNamespace(monotonic=frozen.monotonic))
    return frozen


def test_answers_are_cached_for_their_ttl(clock: Clock) -> None:
    """A known tenant is looked up once per `ttl`, an unknown one once per `negative_ttl`."""
    lookup = Lookup("imggo")
    receiver = Receiver("imggo", secret=TenantSecrets(lookup, ttl=60, negative_ttl=5))
    for _ in range(3):
        receiver.handle(*delivery("imggo", "acme"), tenant="acme")
        receiver.handle(*delivery("imggo", "acme"), tenant="ghost")
    assert lookup.calls == ["acme", "ghost"]
    clock.now += 5
    receiver.handle(*delivery("imggo", "acme"), tenant="ghost")
    receiver.handle(*delivery("imggo", "acme"), tenant="acme")
    assert lookup.calls == ["acme", "ghost", "ghost"]
    clock.now += 55
    receiver.handle(*delivery("imggo", "acme"), tenant="acme")
    assert lookup.calls == ["acme", "ghost", "ghost", "acme"]


def test_invalidate_forgets_one_tenant_or_all() -> None:
    """After `invalidate(tenant)` the next delivery of that tenant looks its keys up again."""
    keys = {"acme": "old-secret"}
    calls: list[str] = []

    def lookup(tenant: str) -> str | None:
        calls.append(tenant)
        return keys.get(tenant)

    secrets = TenantSecrets(lookup)
    receiver = Receiver("imggo", secret=secrets)
    old = testing.signed_delivery("imggo", "old-secret", "job.completed")
    new = testing.signed_delivery("imggo", "new-secret", "job.completed")
    assert receiver.handle(*old, tenant="acme").status == 200
    keys["acme"] = "new-secret"  # rotated in the key store
    assert receiver.handle(*new, tenant="acme").status == 401  # the cache has the old key
    secrets.invalidate("acme")
    assert receiver.handle(*new, tenant="acme").status == 200
    secrets.invalidate()
    assert receiver.handle(*new, tenant="acme").status == 200
    assert calls == ["acme", "acme", "acme"]


def test_made_up_tenants_never_evict_known_ones(clock: Clock) -> None:
    """Unknown tenants have their own bounded cache: a spray of them leaves known keys cached."""
    lookup = Lookup("imggo")
    secrets = TenantSecrets(lookup, max_size=4)
    Receiver("imggo", secret=secrets)
    assert secrets.verifier("acme") is not None
    for number in range(100):
        assert secrets.verifier(f"made-up-{number}") is None
    assert secrets.verifier("acme") is not None
    assert lookup.calls.count("acme") == 1
    assert len(secrets._unknown) == 4  # bounded whatever was sent
    for tenant in ("t1", "t2", "t3", "t4", "t5"):
        secrets.verifier(tenant)
    assert len(secrets._known) <= 4


def test_concurrent_misses_make_one_lookup() -> None:
    """Eight requests for an uncached tenant at once wait for one lookup, not eight."""
    started = threading.Event()
    calls: list[str] = []

    def slow(tenant: str) -> str:
        calls.append(tenant)
        started.set()
        time.sleep(0.2)
        return TENANT_SECRETS["acme"]["imggo"]

    secrets = TenantSecrets(slow)
    Receiver("imggo", secret=secrets)
    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda: results.append(secrets.verifier("acme"))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert calls == ["acme"]
    assert len(results) == 8
    assert len({id(result) for result in results}) == 1


def test_an_async_lookup_is_awaited_once_for_concurrent_misses() -> None:
    """On the async path a coroutine lookup is awaited, once for concurrent requests."""
    calls: list[str] = []

    async def lookup(tenant: str) -> str | None:
        calls.append(tenant)
        await asyncio.sleep(0.05)
        return TENANT_SECRETS.get(tenant, {}).get("pulse")

    receiver = Receiver("pulse", secret=TenantSecrets(lookup), store=MemoryStore())

    async def both() -> list[int]:
        outcomes = await asyncio.gather(
            receiver.handle_async(*delivery("pulse", "acme", "a1"), tenant="acme"),
            receiver.handle_async(*delivery("pulse", "acme", "a2"), tenant="acme"),
            receiver.handle_async(*delivery("pulse", "acme", "a3"), tenant="ghost"),
        )
        return [outcome.status for outcome in outcomes]

    assert asyncio.run(both()) == [200, 200, 401]
    assert sorted(calls) == ["acme", "ghost"]
    with pytest.raises(TypeError, match="handle_async"):
        receiver.handle(*delivery("pulse", "beta"), tenant="beta")


def test_verified_event_awaits_an_async_lookup() -> None:
    """`verified_event_async` awaits an async lookup; the sync `verified_event` refuses it."""

    async def lookup(tenant: str) -> str | None:
        return TENANT_SECRETS.get(tenant, {}).get("imggo")

    receiver = Receiver("imggo", secret=TenantSecrets(lookup))
    body, headers = delivery("imggo", "acme")
    event = asyncio.run(receiver.verified_event_async(body, headers, tenant="acme"))
    assert event.event_type == FIRST_EVENT["imggo"]
    with pytest.raises(SignatureMismatchError):
        asyncio.run(receiver.verified_event_async(body, headers, tenant="ghost"))
    with pytest.raises(TypeError, match="handle_async"):
        receiver.verified_event(body, headers, tenant="acme")  # cached, yet still refused


def test_a_tenant_receiver_without_a_tenant_refuses_as_for_a_wrong_signature() -> None:
    """Called with no tenant (and no tenant header), a tenant receiver answers 401 as usual."""
    receiver, seen = tenant_receiver("struktr", MemoryStore())
    body, headers = delivery("struktr", "acme")
    missing = receiver.handle(body, headers)
    wrong = receiver.handle(*delivery("struktr", "beta"), tenant="acme")
    assert (missing.status, missing.body, missing.headers) == (401, wrong.body, wrong.headers)
    assert seen == []


def test_a_sync_adapter_refuses_an_async_lookup() -> None:
    """A Flask or Django sync view of a receiver with an async lookup fails when it is made."""
    flask = pytest.importorskip("webhook_kit.flask")

    async def lookup(tenant: str) -> str | None:
        return None

    receiver = Receiver("imggo", secret=TenantSecrets(lookup))
    with pytest.raises(TypeError, match="async lookup"):
        flask.webhook_view(receiver)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: TenantSecrets("not callable"), TypeError, "function of a tenant id"),  # type: ignore[arg-type]
        (lambda: TenantSecrets(str, ttl=0), ValueError, "positive"),
        (lambda: TenantSecrets(str, max_size=0), ValueError, "max_size"),
        (
            lambda: Receiver("imggo", secret="s", tenant_header="X-Tenant"),
            ValueError,
            "TenantSecrets",
        ),
    ],
)
def test_configuration_errors_are_explained(make: Any, error: type[Exception], match: str) -> None:
    """A lookup that is no function, a zero ttl, or a tenant header without tenants is refused."""
    with pytest.raises(error, match=match):
        make()


def test_one_tenant_secrets_serves_one_receiver() -> None:
    """Two receivers cannot share a `TenantSecrets` (each builds its own provider's verifiers)."""
    secrets = TenantSecrets(Lookup("imggo"))
    Receiver("imggo", secret=secrets)
    with pytest.raises(ValueError, match="already serves a receiver"):
        Receiver("docextract", secret=secrets)


def test_a_plain_receiver_refuses_a_tenant() -> None:
    """`tenant=` on a receiver with its own secret is a mistake, not ignored."""
    receiver = Receiver("imggo", secret=SECRETS["imggo"])
    with pytest.raises(TypeError, match="TenantSecrets"):
        receiver.handle(
            *testing.signed_delivery("imggo", SECRETS["imggo"], "job.completed"), tenant="acme"
        )


def test_expired_keys_of_a_tenant() -> None:
    """`expired_keys(tenant=...)` lists that tenant's keys past their window."""
    keys = [SigningKey("new-key", id="2026-11"), SigningKey("old-key", id="2026-05", not_after=1)]
    receiver = Receiver(
        "imggo", secret=TenantSecrets(lambda tenant: keys if tenant == "acme" else None)
    )
    assert receiver.expired_keys(tenant="acme") == ("2026-05",)
    assert receiver.expired_keys(tenant="ghost") == ()
    with pytest.raises(ValueError, match="tenant="):
        receiver.expired_keys()


# Deferred deliveries and dead letters


class Queue:
    """A `Defer` that keeps what it is given, as a broker would."""

    def __init__(self) -> None:
        self.queued: list[QueuedDelivery] = []

    def attach(self, receiver: Receiver) -> None:
        pass

    def submit(self, delivery: QueuedDelivery) -> None:
        self.queued.append(QueuedDelivery.from_message(delivery.to_message()))


def test_a_queued_delivery_carries_its_tenant_to_the_worker() -> None:
    """The queued message names the tenant; the worker verifies with that tenant's keys."""
    queue = Queue()
    receiver, seen = tenant_receiver("struktr", MemoryStore(), defer=queue)
    assert receiver.handle(*delivery("struktr", "acme"), tenant="acme").status == 202
    [queued] = queue.queued
    assert queued.tenant == "acme"
    assert queued.to_message()["tenant"] == "acme"
    outcome = receiver.process(
        queued.body, queued.headers, received_at=queued.received_at, tenant=queued.tenant
    )
    assert (outcome.status, outcome.tenant) == (200, "acme")
    forged = receiver.process(queued.body, queued.headers, tenant="beta")
    assert forged.status == 401
    assert len(seen) == 1


def test_a_message_without_a_tenant_is_read_as_before() -> None:
    """A message of an earlier version (no ``tenant`` key) is read with tenant None."""
    message = QueuedDelivery("imggo", b"{}", {}, 1.0).to_message()
    assert "tenant" not in message
    assert QueuedDelivery.from_message(message).tenant is None
    with pytest.raises(ValueError, match="tenant"):
        QueuedDelivery.from_message(message | {"tenant": 7})


def test_dead_letters_keep_the_tenant(letters: DeadLetterStore) -> None:  # noqa: F811
    """Every dead letter store keeps a letter's tenant apart from its headers."""
    body, headers = delivery("pulse", "acme")
    letter = DeadLetter(
        id="pulse:acme/x",
        provider="pulse",
        body=body,
        headers=headers,
        reason="handler_failed",
        error="RuntimeError: boom",
        attempts=1,
        received_at=time.time(),
        tenant="acme",
    )
    letters.add(letter)
    kept = letters.get("pulse:acme/x")
    assert kept is not None
    assert (kept.tenant, dict(kept.headers)) == ("acme", headers)
    letters.add(DeadLetter(**{**letter.__dict__, "id": "pulse:plain", "tenant": None}))
    plain = letters.get("pulse:plain")
    assert plain is not None
    assert plain.tenant is None


@pytest.fixture
def sqlite_letters(tmp_path: Path) -> Iterator[SQLiteDeadLetters]:
    """Dead letters in a SQLite file."""
    store = SQLiteDeadLetters(tmp_path / "letters.sqlite3")
    yield store
    store.close()


def test_an_invalid_payload_is_kept_and_replayed_for_its_tenant(
    sqlite_letters: SQLiteDeadLetters,
) -> None:
    """A tenant's rejected payload is recorded with its tenant, and replayed with its keys."""
    receiver, seen = tenant_receiver("struktr", MemoryStore(), dead_letters=sqlite_letters)
    payload = testing.sample("struktr", "batch.progress")
    payload["data"] = {**payload["data"], "total": "five"}
    body, headers = testing.signed_delivery(
        "struktr", TENANT_SECRETS["beta"]["struktr"], payload, delivery_id="bad-1"
    )
    assert receiver.handle(body, headers, tenant="beta").status == 400
    [letter] = sqlite_letters.all()
    assert (letter.id, letter.tenant) == ("struktr:beta/bad-1", "beta")
    receiver.invalid_payloads = "accept"  # the models "fixed": handled as InvalidEvent
    receiver.on_invalid(seen.append)
    [result] = replay(receiver, sqlite_letters)
    assert (result.result, len(seen)) == ("processed", 1)
    assert sqlite_letters.all() == []


def test_replay_refuses_a_letter_moved_to_another_tenant(
    sqlite_letters: SQLiteDeadLetters,
) -> None:
    """A letter whose tenant was changed fails verification with the other tenant's keys."""
    receiver, seen = tenant_receiver("imggo", MemoryStore())
    body, headers = delivery("imggo", "acme")
    sqlite_letters.add(
        DeadLetter(
            "imggo:beta/x",
            "imggo",
            body,
            headers,
            "handler_failed",
            "e",
            1,
            time.time(),
            tenant="beta",
        )
    )
    [result] = replay(receiver, sqlite_letters)
    assert result.result == "signature_mismatch"
    assert seen == []


def test_secrets_unavailable_is_a_503_error() -> None:
    """The new error knows its status and code, like the store outage it resembles."""
    error = SecretsUnavailableError("down")
    assert (error.status_code, error.code) == (503, "secrets_unavailable")


def test_the_pytest_plugin_asks_for_the_tenants_secret() -> None:
    """`webhook_deliveries(tenant_receiver)` says to pass the tenant's secret instead."""
    receiver, _ = tenant_receiver("imggo")
    with pytest.raises(TypeError, match="secret per tenant"):
        Deliveries()(receiver)
    factory = Deliveries()("imggo", secret=TENANT_SECRETS["acme"]["imggo"])
    signed = factory("job.completed")
    assert receiver.handle(signed.body, signed.headers, tenant="acme").status == 200
