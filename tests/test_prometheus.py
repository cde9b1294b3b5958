"""`webhook_kit.prometheus` against the real prometheus_client: what each delivery counts."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import celery
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from webhook_kit import MemoryStore, Receiver, SigningKey, TenantSecrets, replay, testing
from webhook_kit.celery import CeleryDefer
from webhook_kit.deadletters import SQLiteDeadLetters
from webhook_kit.defer import QueuedDelivery
from webhook_kit.errors import StoreUnavailableError
from webhook_kit.prometheus import Metrics, exposition, instrument, uninstrument

SECRET = "whsec_prometheus_test_secret"


@pytest.fixture
def registry() -> CollectorRegistry:
    """A registry of the test's own, so counts start at zero."""
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> Iterator[Metrics]:
    """Metrics in the test's registry, detached from every receiver afterwards."""
    metrics = Metrics(registry)
    yield metrics
    uninstrument(metrics)


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """One sample's value (0 when absent), read back as a scraper would."""
    found = registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


def deliver(receiver: Receiver, payload: object = "document.completed", **kw: str) -> int:
    """Sign `payload` for struktr and post it to `receiver`; return the status."""
    delivery = testing.signed_delivery("struktr", SECRET, payload, **kw)  # type: ignore[arg-type]
    return receiver.handle(delivery.body, delivery.headers).status


def test_deliveries_are_counted_by_outcome_and_status(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    """Processed, duplicate and refused deliveries each add one to their own series."""
    receiver = Receiver("struktr", secret=SECRET, store=MemoryStore())
    instrument(receiver, metrics=metrics)
    assert deliver(receiver, delivery_id="dlv_1") == 200
    assert deliver(receiver, delivery_id="dlv_1") == 200  # the retry: a duplicate
    delivery = testing.signed_delivery("struktr", "whsec_someone_else", "document.completed")
    assert receiver.handle(delivery.body, delivery.headers).status == 401
    name = "webhook_kit_deliveries_total"
    common = {"provider": "struktr", "mode": "request"}
    assert value(registry, name, **common, outcome="processed", status="200") == 1
    assert value(registry, name, **common, outcome="duplicate", status="200") == 1
    assert value(registry, name, **common, outcome="signature_mismatch", status="401") == 1
    assert (
        value(
            registry,
            "webhook_kit_verification_failures_total",
            provider="struktr",
            reason="signature_mismatch",
        )
        == 1
    )
    assert value(registry, "webhook_kit_duplicates_total", provider="struktr", state="done") == 1
    labels = {"provider": "struktr", "mode": "request"}
    assert value(registry, "webhook_kit_delivery_duration_seconds_count", **labels) == 3


def test_handler_duration_and_failures(registry: CollectorRegistry, metrics: Metrics) -> None:
    """Each handler's time is observed under its name and event type; a failure is a 500."""
    receiver = Receiver("struktr", secret=SECRET, store=MemoryStore())
    instrument(receiver, metrics=metrics)
    calls = []

    @receiver.on("document.completed")
    def record(event: object) -> None:
        calls.append(event)

    @receiver.on("document.failed")
    def explode(_event: object) -> None:
        raise RuntimeError("boom")

    assert deliver(receiver) == 200
    assert deliver(receiver, "document.failed") == 500
    histogram = "webhook_kit_handler_duration_seconds_count"
    completed = {"provider": "struktr", "event_type": "document.completed"}
    failed = {"provider": "struktr", "event_type": "document.failed"}
    assert value(registry, histogram, **completed, handler=record.__qualname__) == 1
    assert value(registry, histogram, **failed, handler=explode.__qualname__) == 1
    assert (
        value(
            registry,
            "webhook_kit_deliveries_total",
            provider="struktr",
            mode="request",
            outcome="handler_failed",
            status="500",
        )
        == 1
    )
    assert len(calls) == 1


def test_key_id_in_progress_and_store_outage(registry: CollectorRegistry, metrics: Metrics) -> None:
    """The verifying key's id is counted; a 409 is in progress; a store outage is a 503."""

    class DownStore(MemoryStore):
        def claim(self, *_args: object, **_kwargs: object) -> object:  # type: ignore[override]
            raise StoreUnavailableError("the store did not answer")

    store = MemoryStore()
    receiver = Receiver(
        "struktr", secret=[SigningKey(SECRET, id="2026-key"), "whsec_old"], store=store
    )
    instrument(receiver, metrics=metrics)
    delivery = testing.signed_delivery("struktr", SECRET, "document.completed")
    keys = receiver.provider.delivery_keys(delivery.body, delivery.headers)
    store.claim(receiver.provider.name + ":" + keys[0], lease=60)  # another worker holds it
    assert receiver.handle(delivery.body, delivery.headers).status == 409
    receiver.store = DownStore()
    assert deliver(receiver) == 503
    labels = {"provider": "struktr"}
    assert value(registry, "webhook_kit_signing_keys_total", **labels, key_id="2026-key") == 2
    assert value(registry, "webhook_kit_duplicates_total", **labels, state="in_progress") == 1
    assert value(registry, "webhook_kit_unavailable_total", **labels, dependency="store") == 1


def test_dead_letters_and_replays(
    registry: CollectorRegistry, metrics: Metrics, tmp_path: Path
) -> None:
    """An invalid payload recorded as a dead letter, then replayed, counts once each."""
    letters = SQLiteDeadLetters(tmp_path / "letters.sqlite3")
    receiver = Receiver("struktr", secret=SECRET, store=MemoryStore(), dead_letters=letters)
    instrument(receiver, metrics=metrics)
    payload = testing.sample("struktr", "document.completed")
    del payload["data"]
    assert deliver(receiver, payload) == 400
    assert [result.result for result in replay(receiver, letters)] == ["invalid_payload"]
    labels = {"provider": "struktr"}
    assert value(registry, "webhook_kit_dead_letters_total", **labels, reason="invalid_payload")
    assert value(registry, "webhook_kit_replays_total", **labels, result="invalid_payload") == 1
    worker = {"provider": "struktr", "mode": "worker", "outcome": "invalid_payload"}
    assert value(registry, "webhook_kit_deliveries_total", **worker, status="400") == 1


def test_attacker_controlled_values_stay_out_of_labels(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    """Thousands of forged, oddly typed deliveries add no series beyond the fixed few."""
    receiver = Receiver("struktr", secret=SECRET, store=MemoryStore())
    instrument(receiver, metrics=metrics)
    for number in range(200):
        headers = {
            "X-Struktr-Signature": f"t=1,v1={number:064x}",
            "X-Struktr-Delivery": f"dlv_{number}",
            "X-Struktr-Event": f"evil.{number}",
        }
        receiver.handle(f'{{"type":"evil.{number}"}}'.encode(), headers)
        receiver.handle(b"x", {}, method=f"GET{number}")
    # A signed delivery of an undocumented type: its handler's label is "unknown", not the type.
    receiver.on_unknown(lambda _event: None)
    for number in range(20):
        assert deliver(receiver, {"type": f"made.up.{number}", "data": {}}) == 200
    series = {
        (family.name, tuple(sorted(sample.labels.items())))
        for family in text_string_to_metric_families(exposition(registry=registry)[0].decode())
        for sample in family.samples
        if family.name.startswith("webhook_kit")
    }
    values = {value for _, labels in series for _, value in labels}
    assert not any("evil" in text or "made.up" in text or "GET" in text for text in values)
    assert len(series) < 80  # counters, histogram buckets: a fixed handful, not one per request


def test_tenant_label_only_when_asked_and_only_for_known_tenants(
    registry: CollectorRegistry,
) -> None:
    """With ``tenants=True`` a found tenant is a label; tenant ids no lookup knows are not."""
    metrics = Metrics(registry, tenants=True)
    keys = {"acme": SECRET}
    try:
        receiver = Receiver("struktr", secret=TenantSecrets(keys.get), store=MemoryStore())
        instrument(receiver, metrics=metrics)
        delivery = testing.signed_delivery("struktr", SECRET, "document.completed")
        assert receiver.handle(delivery.body, delivery.headers, tenant="acme").status == 200
        for number in range(30):  # made-up tenants: refused like a wrong signature
            made_up = receiver.handle(delivery.body, delivery.headers, tenant=f"evil{number}")
            assert made_up.status == 401
        labels = {"provider": "struktr", "mode": "request"}
        name = "webhook_kit_deliveries_total"
        processed = {**labels, "outcome": "processed", "status": "200"}
        refused = {**labels, "outcome": "signature_mismatch", "status": "401"}
        assert value(registry, name, **processed, tenant="acme") == 1
        assert value(registry, name, **refused, tenant="") == 30
        assert b"evil" not in exposition(registry=registry)[0]
    finally:
        uninstrument(metrics)


def test_instrument_every_receiver_and_async_path(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    """`instrument()` without receivers counts every receiver's, on `handle_async` too."""
    first = Receiver("struktr", secret=SECRET)
    instrument(metrics=metrics)
    second = Receiver("struktr", secret=SECRET)  # made after: counted as well
    assert deliver(first) == 200
    delivery = testing.signed_delivery("struktr", SECRET, "document.completed")
    assert asyncio.run(second.handle_async(delivery.body, delivery.headers)).status == 200
    labels = {"provider": "struktr", "mode": "request", "outcome": "processed", "status": "200"}
    assert value(registry, "webhook_kit_deliveries_total", **labels) == 2
    uninstrument(metrics)
    assert deliver(first) == 200
    assert value(registry, "webhook_kit_deliveries_total", **labels) == 2


def test_exposition_is_prometheus_text(registry: CollectorRegistry, metrics: Metrics) -> None:
    """`exposition` answers in the text format, or OpenMetrics when the scraper asks for it."""
    receiver = Receiver("struktr", secret=SECRET)
    instrument(receiver, metrics=metrics)
    deliver(receiver)
    body, content_type = exposition(registry=registry)
    assert content_type.startswith("text/plain")
    assert b"webhook_kit_deliveries_total{" in body
    body, content_type = exposition("application/openmetrics-text", registry=registry)
    assert content_type.startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")


def test_log_records_carry_their_fields(caplog: pytest.LogCaptureFixture) -> None:
    """The delivery's log record has provider, event type, key, outcome, status... as attributes."""
    receiver = Receiver("struktr", secret=SECRET, store=MemoryStore())
    receiver.on("document.completed")(lambda _event: None)
    with caplog.at_level(logging.INFO, logger="webhook_kit"):
        deliver(receiver, delivery_id="dlv_fields")
    (record,) = [r for r in caplog.records if r.getMessage().startswith("webhook provider=")]
    fields = {
        name: getattr(record, name)
        for name in ("provider", "event_type", "key", "outcome", "status", "handlers")
    }
    assert fields == {
        "provider": "struktr",
        "event_type": "document.completed",
        "key": "struktr:dlv_fields",
        "outcome": "processed",
        "status": 200,
        "handlers": 1,
    }
    assert isinstance(record.duration_ms, float)
    assert record.duration_ms >= 0


_WITHOUT = """
import sys

class Missing:
    def find_spec(self, name, path=None, target=None):
        if name == {library!r} or name.startswith({library!r} + "."):
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, Missing())
import webhook_kit
from webhook_kit import testing
receiver = webhook_kit.Receiver("struktr", secret="s")
body, headers = testing.signed_delivery("struktr", "s", "document.completed")
assert receiver.handle(body, headers).status == 200  # receiving needs neither library
try:
    import webhook_kit.{module}
except ImportError as exc:
    print(exc)
"""


@pytest.mark.parametrize(
    ("module", "library", "extra"),
    [("prometheus", "prometheus_client", "prometheus"), ("otel", "opentelemetry", "otel")],
)
def test_without_the_library_receiving_works_and_the_module_names_the_extra(
    module: str, library: str, extra: str
) -> None:
    """Without the library, receivers work; importing the integration names the extra."""
    code = _WITHOUT.format(library=library, module=module)
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert f"pip install 'webhook-kit[{extra}]'" in result.stdout, result.stdout


def test_deferred_publishes_failures_and_buried_deliveries(
    registry: CollectorRegistry, metrics: Metrics, tmp_path: Path
) -> None:
    """A publish accepted (202), one refused (503: queue) and a worker's dead letter are counted."""
    letters = SQLiteDeadLetters(tmp_path / "letters.sqlite3")
    accepting = celery.Celery("accepting", broker="memory://", set_as_current=False)
    queue = "webhook-kit-prometheus-test"  # the memory broker is one per process: not "celery"
    defer = CeleryDefer(accepting, dead_letters=letters, max_attempts=1, queue=queue)
    receiver = Receiver("struktr", secret=SECRET, store=MemoryStore(), defer=defer)
    instrument(receiver, metrics=metrics)

    @receiver.on("document.completed")
    def broken(_event: object) -> None:
        raise RuntimeError("the handler is broken")

    delivery = testing.signed_delivery("struktr", SECRET, "document.completed")
    assert receiver.handle(delivery.body, delivery.headers).status == 202
    with accepting.connection_for_read() as connection:  # leave the shared broker empty
        assert connection.SimpleQueue(queue, no_ack=True).get(timeout=1).headers["task"]
    down = celery.Celery("down", broker="redis://127.0.0.1:1/0", set_as_current=False)
    down.conf.broker_connection_timeout = 1
    refusing = CeleryDefer(down, dead_letters=letters, task_name="down", publish_retries=0)
    refused = Receiver("struktr", secret=SECRET, defer=refusing)
    instrument(refused, metrics=metrics)
    assert deliver(refused) == 503
    queued = QueuedDelivery(
        "struktr", delivery.body, {k.lower(): v for k, v in delivery.headers.items()}, 0.0
    )
    assert defer.task.apply(args=(queued.to_message(),)).failed()  # buried at once
    labels = {"provider": "struktr"}
    assert value(registry, "webhook_kit_deferred_total", **labels, result="published") == 1
    assert value(registry, "webhook_kit_deferred_total", **labels, result="failed") == 1
    assert value(registry, "webhook_kit_unavailable_total", **labels, dependency="queue") == 1
    assert value(registry, "webhook_kit_dead_letters_total", **labels, reason="handler_failed") == 1
    worker = {"provider": "struktr", "mode": "worker", "outcome": "handler_failed"}
    assert value(registry, "webhook_kit_deliveries_total", **worker, status="500") == 1


def test_metrics_that_cannot_be_written_never_change_the_answer(tmp_path: Path) -> None:
    """Multi-process files that cannot be written: logged, and the delivery is answered as ever."""
    code = f"""
import os, shutil, logging
from pathlib import Path
directory = Path({str(tmp_path / "multiproc")!r})
directory.mkdir()
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
logging.basicConfig(level=logging.ERROR)
from webhook_kit import Receiver, testing
from webhook_kit.prometheus import instrument
receiver = Receiver("struktr", secret="s")
instrument(receiver)
shutil.rmtree(directory)  # the directory went away under the server
body, headers = testing.signed_delivery("struktr", "s", "document.completed")
print(receiver.handle(body, headers).status)
"""
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["200"]
    assert "webhook observer failed; the delivery is handled all the same" in result.stderr


def test_counts_from_many_threads_add_up_exactly(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    """Eight threads delivering at once, while another scrapes, lose no count and no observation."""
    receiver = Receiver("struktr", secret=SECRET, store=MemoryStore())
    instrument(receiver, metrics=metrics)

    @receiver.on("document.completed")
    def noop(_event: object) -> None:
        pass

    threads, each = 8, 150
    sample = testing.sample("struktr", "document.completed")
    batches = [
        [
            testing.signed_delivery(
                "struktr", SECRET, sample | {"n": f"{t}.{n}"}, delivery_id=f"{t}.{n}"
            )
            for n in range(each)
        ]
        for t in range(threads)
    ]
    done = threading.Event()

    def scrape() -> None:
        while not done.is_set():
            exposition(registry=registry)

    def deliver_all(batch: list[testing.Delivery]) -> None:
        for delivery in batch:
            assert receiver.handle(delivery.body, delivery.headers).status == 200
            metrics.dead_lettered("struktr", "handler_failed")

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as CPython allows
    try:
        scraper = threading.Thread(target=scrape)
        scraper.start()
        workers = [threading.Thread(target=deliver_all, args=(batch,)) for batch in batches]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        done.set()
        scraper.join()
    finally:
        sys.setswitchinterval(old)
    labels = {"provider": "struktr", "mode": "request"}
    processed = {**labels, "outcome": "processed", "status": "200"}
    assert value(registry, "webhook_kit_deliveries_total", **processed) == threads * each
    assert (
        value(registry, "webhook_kit_delivery_duration_seconds_count", **labels) == threads * each
    )
    infinity = value(registry, "webhook_kit_delivery_duration_seconds_bucket", **labels, le="+Inf")
    assert infinity == threads * each
    handler = {
        "provider": "struktr",
        "event_type": "document.completed",
        "handler": noop.__qualname__,
    }
    assert (
        value(registry, "webhook_kit_handler_duration_seconds_count", **handler) == threads * each
    )
    letters = value(
        registry, "webhook_kit_dead_letters_total", provider="struktr", reason="handler_failed"
    )
    assert letters == threads * each
