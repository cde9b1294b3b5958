"""The pytest plugin: its fixtures, in this session and in real test files run by pytester.

This module loads the plugin itself (``pytest_plugins``), as a project without autoloading would,
so that the fixtures are tested here whether or not the installed distribution has the entry point;
the pytester runs pass ``-p webhook_kit.pytest_plugin`` for the same reason.
"""

from __future__ import annotations

import ast
import asyncio
import importlib.metadata
import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

import webhook_kit.pytest_plugin as plugin
from webhook_kit import (
    MemoryStore,
    QueuedDelivery,
    Receiver,
    SQLiteDeadLetters,
    SQLiteStore,
    providers,
    signatures,
    testing,
)
from webhook_kit.idempotency import ClaimState, store_key
from webhook_kit.pytest_plugin import Deliveries, FrozenClock, Isolate

pytest_plugins = ["pytester", "webhook_kit.pytest_plugin"]

ROOT = Path(__file__).resolve().parent.parent
MARKER = "webhook_kit_delivery"
PLUGIN = "webhook_kit.pytest_plugin"
FIXTURES = {
    "webhook_clock",
    "webhook_deliveries",
    "webhook_isolate",
    "webhook_sqlite_store",
    "webhook_store",
}
SECRETS = {
    "struktr": "test-secret",
    "file_conversion": "test-secret",
    "imggo": "test-secret",
    "docextract": "test-secret",
    "pulse": "whsec_dGVzdC1zZWNyZXQ=",
}
#: Providers whose receivers know a delivery by its body: their new deliveries need distinct ones.
BY_BODY = [name for name, preset in providers.PROVIDERS.items() if not preset.delivery_id_signed]
#: Providers whose bodies carry a signed time, which `Receiver(max_age=...)` checks.
TIMED = [name for name, preset in providers.PROVIDERS.items() if preset.time_fields]


def receiver_of(name: str, **options: object) -> Receiver:
    """A receiver of `name` with its test secret and a fresh store (unless `options` say)."""
    options.setdefault("store", MemoryStore())
    return Receiver(name, secret=SECRETS[name], **options)  # type: ignore[arg-type]


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Run pytest on the pytester directory with the plugin, warnings as errors."""
    return pytester.runpytest("-p", PLUGIN, "-W", "error", *args)


# Deliveries, parametrised over the five providers


@pytest.mark.parametrize("name", list(providers.PROVIDERS))
def test_new_deliveries_are_processed_and_retries_are_duplicates(
    name: str, webhook_deliveries: Deliveries
) -> None:
    """Each event's new deliveries are processed, a retry is a duplicate, a tampered one a 401."""
    receiver = receiver_of(name)
    make = webhook_deliveries(receiver)
    for event_type in testing.event_types(name):
        first, second = make(event_type), make(event_type)
        retry = first.retry()
        assert retry.body == first.body
        assert receiver.handle(first.body, first.headers).body == {"status": "processed"}
        assert receiver.handle(second.body, second.headers).body == {"status": "processed"}
        assert receiver.handle(retry.body, retry.headers).body == {"status": "duplicate"}
        forged = first.tampered()
        assert forged.body != first.body
        assert receiver.handle(forged.body, forged.headers).status == 401


@pytest.mark.parametrize("name", list(providers.PROVIDERS))
def test_a_fixed_delivery_id_makes_one_delivery(
    name: str, webhook_deliveries: Deliveries, webhook_clock: FrozenClock
) -> None:
    """Two deliveries made with one `delivery_id` at one time are a delivery and its duplicate."""
    receiver = receiver_of(name)
    make = webhook_deliveries(receiver)
    event_type = testing.event_types(name)[0]
    once, again = make(event_type, delivery_id="dlv_1"), make(event_type, delivery_id="dlv_1")
    assert (once.body, once.headers) == (again.body, again.headers)
    assert once.delivery_id == "dlv_1"
    assert receiver.handle(once.body, once.headers).body == {"status": "processed"}
    assert receiver.handle(again.body, again.headers).body == {"status": "duplicate"}


@pytest.mark.parametrize("name", list(providers.PROVIDERS))
def test_a_mapping_is_sent_as_json_marked_where_the_body_is_the_key(
    name: str, webhook_deliveries: Deliveries
) -> None:
    """A mapping is sent as JSON, with the unique field only for providers that key on the body."""
    receiver = receiver_of(name)
    payload = testing.sample(name, testing.event_types(name)[-1])
    delivery = webhook_deliveries(receiver)(payload)
    sent = json.loads(delivery.body)
    marked = sent.pop(MARKER, None)
    assert sent == payload
    assert marked == (delivery.delivery_id if name in BY_BODY else None)
    event = receiver.provider.verify_and_parse(
        delivery.body, delivery.headers, secret=SECRETS[name]
    )
    assert delivery.event_type == event.event_type == testing.event_types(name)[-1]
    assert (event.model_extra or {}).get(MARKER) == marked


@pytest.mark.parametrize("name", BY_BODY)
def test_without_the_unique_field_equal_payloads_are_one_delivery(
    name: str, webhook_deliveries: Deliveries
) -> None:
    """With ``unique=False`` the payload goes as given, so two new deliveries of it are one."""
    receiver = receiver_of(name)
    make = webhook_deliveries(receiver)
    payload = testing.sample(name, testing.event_types(name)[0])
    first, second = make(payload, unique=False), make(payload, unique=False)
    assert json.loads(first.body) == payload
    assert receiver.handle(first.body, first.headers).body == {"status": "processed"}
    assert receiver.handle(second.body, second.headers).body == {"status": "duplicate"}


@pytest.mark.parametrize("name", list(providers.PROVIDERS))
def test_raw_bytes_are_sent_exactly(name: str, webhook_deliveries: Deliveries) -> None:
    """A bytes payload is signed and sent byte for byte, and has no event type of its own."""
    raw = json.dumps(testing.sample(name, testing.event_types(name)[0]), indent=2).encode()
    delivery = webhook_deliveries(name, secret=SECRETS[name])(raw)
    assert delivery.body == raw
    assert delivery.event_type is None
    providers.get(name).verifier(SECRETS[name]).verify(delivery.body, delivery.headers)


@pytest.mark.parametrize("name", TIMED)
def test_a_samples_signed_time_is_when_it_is_sent(
    name: str, webhook_deliveries: Deliveries
) -> None:
    """Each sample's signed time is the moment given with `now`, to the second."""
    make = webhook_deliveries(name, secret=SECRETS[name])
    moment = datetime(2030, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    for event_type in testing.event_types(name):
        delivery = make(event_type, now=moment)
        event = providers.get(name).parse(delivery.body)
        assert providers.get(name).signed_time(event) == moment
        assert delivery.sent_at == moment.timestamp()


@pytest.mark.parametrize("name", TIMED)
def test_age_makes_a_body_older_than_max_age_refused(
    name: str, webhook_deliveries: Deliveries
) -> None:
    """Under ``max_age=300``, a delivery made with ``age=310`` is refused, ``age=290`` is not."""
    receiver = receiver_of(name, max_age=300)
    make = webhook_deliveries(receiver)
    event_type = testing.event_types(name)[0]
    old, recent = make(event_type, age=310), make(event_type, age=290)
    refused = receiver.handle(old.body, old.headers)
    assert (refused.status, refused.body["error"]) == (401, "timestamp_out_of_tolerance")
    assert receiver.handle(recent.body, recent.headers).status == 200


def test_a_pulse_delivery_older_than_the_tolerance_is_refused(
    webhook_deliveries: Deliveries,
) -> None:
    """A Pulse delivery made with ``age=310`` is refused; its retry, signed now, is not."""
    receiver = receiver_of("pulse")
    old = webhook_deliveries(receiver)("job.completed", age=310)
    assert receiver.handle(old.body, old.headers).status == 401
    retry = old.retry()
    assert retry.sent_at > old.sent_at
    assert retry.headers["webhook-id"] == old.headers["webhook-id"]
    assert receiver.handle(retry.body, retry.headers).status == 200


def test_a_receiver_with_rotated_secrets_signs_with_the_first(
    webhook_deliveries: Deliveries,
) -> None:
    """Deliveries made for a receiver pass whichever secrets it has; the first one signs."""
    receiver = Receiver("struktr", secret=["new-secret", "old-secret"])
    delivery = webhook_deliveries(receiver)("document.completed")
    providers.STRUKTR.verifier("new-secret").verify(delivery.body, delivery.headers)
    assert receiver.handle(delivery.body, delivery.headers).status == 200


def test_misuse_is_explained(webhook_deliveries: Deliveries) -> None:
    """Every wrong call says what to pass instead."""
    with pytest.raises(TypeError, match=r"needs secret=.*or pass the receiver itself"):
        webhook_deliveries("struktr")
    with pytest.raises(TypeError, match=r"signs with the receiver's own secret"):
        webhook_deliveries(receiver_of("imggo"), secret="other")
    with pytest.raises(TypeError, match=r"takes a Receiver, a Provider or a provider name"):
        webhook_deliveries(42)  # type: ignore[arg-type]
    with pytest.raises(KeyError, match=r"unknown provider 'strucktr'"):
        webhook_deliveries("strucktr", secret="s")
    make = webhook_deliveries("struktr", secret="s")
    with pytest.raises(KeyError, match=r"known events: document\.completed"):
        make("document.archived")
    with pytest.raises(TypeError, match=r"an event type .*, a mapping .*, or raw bytes"):
        make(["document.completed"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"now= .* or age= .*, not both"):
        make("document.completed", now=0, age=1)
    with pytest.raises(ValueError, match=r"age must be a finite number"):
        make("document.completed", age=float("nan"))


def test_a_delivery_shows_itself_without_its_body(webhook_clock: FrozenClock) -> None:
    """A delivery's repr names provider, event, id, time and size, so failures stay readable."""
    webhook_clock.set(datetime(2024, 1, 15, 10, 30, 2, tzinfo=timezone.utc))
    delivery = Deliveries()("struktr", secret="s")("document.completed", delivery_id="dlv_7")
    assert repr(delivery) == (
        "SignedDelivery(struktr 'document.completed', id='dlv_7', sent=2024-01-15T10:30:02Z, "
        f"{len(delivery.body)} bytes)"
    )
    assert delivery.key == "dlv_7"
    assert delivery.payload["data"]["id"] == "doc_abc123"
    assert repr(webhook_clock) == "FrozenClock(2024-01-15T10:30:02Z)"


# The clock


def test_the_clock_is_what_verifiers_and_deliveries_read(
    webhook_clock: FrozenClock, webhook_deliveries: Deliveries
) -> None:
    """Frozen at a whole second, the clock signs deliveries and ages them as it moves."""
    assert webhook_clock.now == int(webhook_clock.now)
    assert abs(webhook_clock.now - time.time()) < 2
    assert signatures._seconds(None) == webhook_clock.now
    receiver = receiver_of("pulse")
    delivery = webhook_deliveries(receiver)("job.created")
    assert delivery.headers["webhook-timestamp"] == str(int(webhook_clock.now))
    webhook_clock.advance(300)
    assert receiver.handle(delivery.body, delivery.headers).status == 200
    webhook_clock.advance(1)
    assert receiver.handle(delivery.body, delivery.headers).status == 401
    webhook_clock.set(webhook_clock.utc.replace(year=2001))
    assert webhook_clock.utc.year == 2001
    assert receiver.handle(delivery.body, delivery.headers).status == 401  # from the future


def test_the_clock_refuses_a_naive_or_infinite_time(webhook_clock: FrozenClock) -> None:
    """Setting a naive `datetime` or an infinite time fails and says why."""
    with pytest.raises(ValueError, match="timezone-aware"):
        webhook_clock.set(datetime(2024, 1, 15))
    with pytest.raises(ValueError, match="finite time"):
        webhook_clock.advance(float("inf"))


def test_a_receiver_records_the_frozen_time(
    webhook_clock: FrozenClock, webhook_deliveries: Deliveries, tmp_path: Path
) -> None:
    """Dead letters and queued deliveries say they arrived at the clock's frozen time."""
    webhook_clock.set(1_700_000_000)
    queued: list[QueuedDelivery] = []

    class Queue:
        def attach(self, receiver: Receiver) -> None:
            """Nothing to set up."""

        def submit(self, delivery: QueuedDelivery) -> None:
            """Keep the delivery."""
            queued.append(delivery)

    deferred = receiver_of("struktr", defer=Queue())
    delivery = webhook_deliveries(deferred)("document.completed")
    assert deferred.handle(delivery.body, delivery.headers).status == 202
    assert queued[0].received_at == 1_700_000_000
    letters = SQLiteDeadLetters(tmp_path / "letters.sqlite3")
    keeping = receiver_of("struktr", dead_letters=letters)
    invalid = webhook_deliveries(keeping)({"event": "document.completed", "data": {}})
    assert keeping.handle(invalid.body, invalid.headers).status == 400
    (letter,) = letters.all()
    letters.close()
    assert letter.received_at == 1_700_000_000


# Stores


def test_isolate_swaps_the_store_on_both_paths(
    webhook_isolate: Isolate, webhook_deliveries: Deliveries, tmp_path: Path
) -> None:
    """An isolated receiver claims in the new store, through `handle` and `handle_async` alike."""
    with SQLiteStore(tmp_path / "app.sqlite3") as original:
        receiver = receiver_of("docextract", store=original)
        store = webhook_isolate(receiver)
        assert isinstance(store, MemoryStore)
        assert receiver.store is store
        make = webhook_deliveries(receiver)
        sync, not_sync = make("job.completed"), make("job.completed")
        assert receiver.handle(sync.body, sync.headers).body == {"status": "processed"}
        outcome = asyncio.run(receiver.handle_async(not_sync.body, not_sync.headers))
        assert outcome.body == {"status": "processed"}
        for delivery in (sync, not_sync):
            key = store_key("docextract", delivery.key)
            assert store.claim(key).state is ClaimState.DONE
            assert original.claim(key).state is ClaimState.ACQUIRED  # never seen there


def test_isolate_takes_the_store_given_and_swaps_dead_letters(
    webhook_isolate: Isolate, webhook_sqlite_store: SQLiteStore, tmp_path: Path
) -> None:
    """With a store given, the receiver gets it; its dead letters become new ones in tmp_path."""
    letters = SQLiteDeadLetters(tmp_path / "app-letters.sqlite3")
    receiver = receiver_of("struktr", dead_letters=letters)
    assert webhook_isolate(receiver, webhook_sqlite_store) is webhook_sqlite_store
    assert receiver.store is webhook_sqlite_store
    assert receiver.dead_letters is not letters
    assert str(tmp_path) in repr(receiver.dead_letters)
    letters.close()


def test_isolate_refuses_what_is_not_a_receiver(webhook_isolate: Isolate) -> None:
    """Isolating anything but a `Receiver` fails and says what it takes."""
    with pytest.raises(TypeError, match="takes the Receiver to isolate, not MemoryStore"):
        webhook_isolate(MemoryStore())  # type: ignore[call-overload]


def test_the_stores_are_new_and_in_tmp_path(
    webhook_store: MemoryStore, webhook_sqlite_store: SQLiteStore, tmp_path: Path
) -> None:
    """The store fixtures are empty, and the SQLite one lives in this test's tmp_path."""
    key = store_key("struktr", "dlv_1")
    assert webhook_store.claim(key).state is ClaimState.ACQUIRED
    assert webhook_sqlite_store.claim(key).state is ClaimState.ACQUIRED
    assert (tmp_path / "webhooks.sqlite3").exists()


# Real test files, run by pytester

FLASK_TESTS = """
    import pytest
    from flask import Flask

    from webhook_kit import Receiver, SQLiteStore
    from webhook_kit.flask import webhook_blueprint

    SECRETS = {secrets!r}
    receivers = [
        Receiver(name, secret=secret, store=SQLiteStore("webhooks.sqlite3"))
        for name, secret in SECRETS.items()
    ]
    ORIGINAL = [receiver.store for receiver in receivers]
    app = Flask(__name__)
    app.register_blueprint(webhook_blueprint(receivers))


    @pytest.fixture(scope="module", autouse=True)
    def the_stores_are_put_back():
        yield
        assert [receiver.store for receiver in receivers] == ORIGINAL
        for store in ORIGINAL:
            store.close()


    if {isolate!r}:
        @pytest.fixture(autouse=True)
        def isolated(webhook_isolate):
            for receiver in receivers:
                assert webhook_isolate(receiver) is receiver.store


    @pytest.mark.parametrize("receiver", receivers, ids=lambda receiver: receiver.provider.name)
    def test_a_delivery_is_processed_once(receiver, webhook_deliveries, webhook_clock):
        webhook_clock.set(1_700_000_000)  # the same bytes on every run
        client = app.test_client()
        url = "/webhooks/" + receiver.provider.name
        make = webhook_deliveries(receiver)
        event_type = next(iter(receiver.provider.event_types))
        delivery = make(event_type, delivery_id="dlv_1")
        for sent, status in [
            (delivery, "processed"),
            (delivery.retry(), "duplicate"),
            (make(event_type), "processed"),
        ]:
            response = client.post(url, data=sent.body, headers=sent.headers)
            assert response.get_json() == {{"status": status}}
        forged = delivery.tampered()
        assert client.post(url, data=forged.body, headers=forged.headers).status_code == 401
"""


@pytest.mark.parametrize("isolate", [True, False], ids=["isolated", "shared"])
def test_a_flask_apps_tests_pass_on_every_run_when_isolated(
    pytester: pytest.Pytester, isolate: bool
) -> None:
    """With `webhook_isolate`, a Flask app's tests pass twice and leave its SQLite file empty."""
    pytester.makepyfile(test_app=FLASK_TESTS.format(secrets=SECRETS, isolate=isolate))
    run(pytester).assert_outcomes(passed=len(SECRETS))
    again = run(pytester)
    rows = sqlite3.connect(pytester.path / "webhooks.sqlite3").execute(
        "SELECT count(*) FROM webhook_kit_idempotency"
    )
    if isolate:
        again.assert_outcomes(passed=len(SECRETS))
        assert rows.fetchone() == (0,)
    else:  # what isolation prevents: the previous run's deliveries are still there
        again.assert_outcomes(failed=len(SECRETS))
        again.stdout.fnmatch_lines(["*'status': 'duplicate'*"])
        assert rows.fetchone() > (0,)


FASTAPI_TESTS = """
    import asyncio
    from datetime import datetime, timezone

    import httpx
    import pytest
    from fastapi import FastAPI

    from webhook_kit import Receiver
    from webhook_kit.fastapi import webhook_router
    from webhook_kit.idempotency import ClaimState, store_key

    pulse = Receiver("pulse", secret={pulse!r})
    struktr = Receiver("struktr", secret="test-secret", max_age=300)
    app = FastAPI()
    app.include_router(webhook_router([pulse, struktr]))


    def post(delivery):
        async def send():
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                url = "/webhooks/" + delivery.provider.name
                return await client.post(url, content=delivery.body, headers=delivery.headers)

        return asyncio.run(send())


    @pytest.fixture(autouse=True)
    def isolated(webhook_isolate):
        webhook_isolate(pulse)
        webhook_isolate(struktr)


    def test_a_stale_delivery_is_refused_and_its_retry_processed_once(
        webhook_clock, webhook_deliveries
    ):
        delivery = webhook_deliveries(pulse)("job.completed")
        webhook_clock.advance(301)
        assert post(delivery).json()["error"] == "timestamp_out_of_tolerance"
        retry = delivery.retry()
        assert post(retry).json() == {{"status": "processed"}}
        assert post(retry).json() == {{"status": "duplicate"}}


    def test_an_old_body_is_refused_under_max_age(webhook_deliveries):
        make = webhook_deliveries(struktr)
        assert post(make("document.completed", age=310)).status_code == 401
        assert post(make("document.completed", age=290)).status_code == 200


    def test_the_clock_set_to_the_samples_moment(webhook_clock, webhook_deliveries):
        webhook_clock.set(datetime(2024, 1, 15, 10, 30, 2, tzinfo=timezone.utc))
        for receiver in (pulse, struktr):
            delivery = webhook_deliveries(receiver)(next(iter(receiver.provider.event_types)))
            assert delivery.payload["timestamp"] == "2024-01-15T10:30:02Z"
            assert post(delivery).json() == {{"status": "processed"}}


    def test_the_async_path_claims_in_the_isolated_store(webhook_isolate, webhook_deliveries):
        store = webhook_isolate(pulse)
        delivery = webhook_deliveries(pulse)("job.created")
        assert post(delivery).json() == {{"status": "processed"}}
        assert store.claim(store_key("pulse", delivery.key)).state is ClaimState.DONE
"""


def test_a_fastapi_apps_tests_freeze_time_and_isolate_the_async_path(
    pytester: pytest.Pytester,
) -> None:
    """A FastAPI app's tests freeze the receiver's clock and isolate its store; both come back."""
    pytester.makepyfile(test_app=FASTAPI_TESTS.format(pulse=SECRETS["pulse"]))
    run(pytester).assert_outcomes(passed=4)
    assert signatures._clock is time.time


PLAIN_TESTS = """
    import pytest

    from webhook_kit import Receiver, SQLiteDeadLetters

    stores = []
    LETTERS = SQLiteDeadLetters("dead-letters.sqlite3")
    keeping = Receiver("struktr", secret="test-secret", dead_letters=LETTERS)


    @pytest.mark.parametrize("attempt", [1, 2])
    def test_each_test_has_a_new_memory_store(attempt, webhook_store, webhook_deliveries):
        stores.append(webhook_store)
        receiver = Receiver("imggo", secret="test-secret", store=webhook_store)
        delivery = webhook_deliveries(receiver)("job.completed", delivery_id="dlv_1")
        assert receiver.handle(delivery.body, delivery.headers).body == {{"status": "processed"}}
        assert len(set(map(id, stores))) == attempt


    def test_the_sqlite_store_is_in_tmp_path(webhook_sqlite_store, tmp_path, webhook_deliveries):
        assert (tmp_path / "webhooks.sqlite3").exists()
        receiver = Receiver("docextract", secret="test-secret", store=webhook_sqlite_store)
        delivery = webhook_deliveries(receiver)("credits.depleted")
        assert receiver.handle(delivery.body, delivery.headers).body == {{"status": "processed"}}
        assert receiver.handle(delivery.body, delivery.headers).body == {{"status": "duplicate"}}


    def test_dead_letters_are_isolated(webhook_isolate, webhook_deliveries):
        webhook_isolate(keeping)
        invalid = webhook_deliveries(keeping)({{"event": "document.completed", "data": {{}}}})
        assert keeping.handle(invalid.body, invalid.headers).status == 400
        assert len(keeping.dead_letters.all()) == 1
        assert LETTERS.all() == []


    def test_the_dead_letters_are_back(tmp_path):
        assert keeping.dead_letters is LETTERS
        LETTERS.close()


    def test_a_misuse_fails_with_its_reason(webhook_deliveries):
        webhook_deliveries("pulse")
"""


def test_a_plain_receivers_tests_get_fresh_stores(pytester: pytest.Pytester) -> None:
    """Store fixtures are new per test, dead letters are isolated, and misuse reads clearly."""
    pytester.makepyfile(test_plain=PLAIN_TESTS.format())
    result = run(pytester)
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines(
        ["*TypeError: webhook_deliveries('pulse') needs secret=, the one the receiver under*"]
    )


def test_the_fixtures_are_listed_with_their_documentation(pytester: pytest.Pytester) -> None:
    """``pytest --fixtures`` shows every webhook_ fixture with the first line of its docstring."""
    result = run(pytester, "--fixtures")
    for name in sorted(FIXTURES):
        summary = (getattr(plugin, name).__doc__ or "").strip().splitlines()[0]
        result.stdout.fnmatch_lines([f"{name} -- *", f"    {summary}"], consecutive=True)


# Packaging: the entry point


def test_pyproject_declares_the_pytest11_entry_point() -> None:
    """pyproject.toml names the plugin's module as its own pytest11 entry point."""
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["pytest11"] == {PLUGIN: PLUGIN}


def test_the_installed_distribution_declares_the_entry_point() -> None:
    """The installed webhook-kit has the pytest11 entry point, so pytest loads the plugin itself."""
    entry_points = importlib.metadata.distribution("webhook-kit").entry_points
    declared = {point.name: point.value for point in entry_points if point.group == "pytest11"}
    assert declared == {PLUGIN: PLUGIN}, (
        "the installed webhook-kit predates its pytest11 entry point: reinstall it "
        "(pip install -e '.[dev]', or make test)"
    )


def test_the_entry_point_loads_the_plugin_with_or_without_p(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An installed entry point makes the fixtures available, and ``-p`` with it is no clash."""
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = [f"{name} = {value}" for name, value in project["entry-points"]["pytest11"].items()]
    site = pytester.mkdir("site")
    info = site / "webhook_kit_entry_point-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: webhook-kit-entry-point\n")
    (info / "entry_points.txt").write_text("[pytest11]\n" + "\n".join(lines) + "\n")
    pytester.makepyfile(
        test_clock="""
        def test_the_fixture_is_there(webhook_clock):
            assert webhook_clock.now > 0
        """
    )
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), str(ROOT / "src")]))
    pytester.runpytest_subprocess("-W", "error").assert_outcomes(passed=1)
    pytester.runpytest_subprocess("-W", "error", "-p", PLUGIN).assert_outcomes(passed=1)


# The module itself


def test_the_public_names_are_pinned() -> None:
    """`__all__` is sorted and, with the fixtures, is every public name the module defines."""
    assert plugin.__all__ == sorted(plugin.__all__)
    tree = ast.parse(Path(plugin.__file__).read_text(encoding="utf-8"))
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.ClassDef)}
    defined |= {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert {name for name in defined if not name.startswith("_")} == {*plugin.__all__, *FIXTURES}


def test_importing_webhook_kit_does_not_import_pytest() -> None:
    """The package root and `webhook_kit.testing` load without pytest."""
    code = "import sys, webhook_kit, webhook_kit.testing; print('pytest' in sys.modules)"
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
