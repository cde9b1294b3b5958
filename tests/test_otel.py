"""`webhook_kit.otel` with the OpenTelemetry SDK and its in-memory exporter: spans per delivery."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased
from opentelemetry.trace import StatusCode
from prometheus_client import CollectorRegistry

from webhook_kit import MemoryStore, Receiver, TenantSecrets, prometheus, replay, testing
from webhook_kit.deadletters import SQLiteDeadLetters
from webhook_kit.otel import Tracing, instrument, uninstrument
from webhook_kit.prometheus import Metrics

SECRET = "whsec_otel_test_secret"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    """Where the test's spans end up."""
    return InMemorySpanExporter()


@pytest.fixture
def tracing(exporter: InMemorySpanExporter) -> Iterator[Tracing]:
    """A `Tracing` on an SDK provider of the test's own, detached afterwards."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = Tracing(provider)
    yield tracing
    uninstrument(tracing)


def by_name(spans: tuple[ReadableSpan, ...]) -> dict[str, ReadableSpan]:
    """The spans by name (each name once in these tests)."""
    named = {span.name: span for span in spans}
    assert len(named) == len(spans), [span.name for span in spans]
    return named


def children(spans: dict[str, ReadableSpan], parent: ReadableSpan) -> set[str]:
    """The names of `parent`'s direct children."""
    own = parent.get_span_context().span_id
    return {name for name, span in spans.items() if span.parent and span.parent.span_id == own}


@pytest.mark.parametrize("metrics", [False, True], ids=["traces", "traces and metrics"])
def test_a_delivery_is_a_span_with_a_child_per_stage(
    tracing: Tracing,
    exporter: InMemorySpanExporter,
    metrics: bool,
) -> None:
    """verify, parse, claim, each handler and complete are children of the delivery's span.

    Metrics attached first follow only the handlers: the traces still hear of every stage.
    """
    receiver = Receiver("struktr", secret=SECRET, store=MemoryStore())
    registry = CollectorRegistry()
    counting = Metrics(registry)
    if metrics:
        prometheus.instrument(receiver, metrics=counting)
    instrument(receiver, tracing=tracing)
    tracer = tracing.tracer

    @receiver.on("document.completed")
    def store_document(_event: object) -> None:
        with tracer.start_as_current_span("my own work"):
            pass

    delivery = testing.signed_delivery(
        "struktr", SECRET, "document.completed", delivery_id="dlv_otel"
    )
    assert receiver.handle(delivery.body, delivery.headers).status == 200
    spans = by_name(exporter.get_finished_spans())
    root = spans["webhook struktr"]
    handler = spans[f"webhook handler {store_document.__qualname__}"]
    assert children(spans, root) == {
        "webhook verify",
        "webhook parse",
        "webhook claim",
        handler.name,
        "webhook complete",
    }
    assert children(spans, handler) == {"my own work"}
    assert dict(root.attributes or {}) == {
        "webhook.provider": "struktr",
        "webhook.mode": "request",
        "webhook.event_type": "document.completed",
        "webhook.delivery_key": "struktr:dlv_otel",
        "webhook.key_id": receiver.verifier.key_ids[0],
        "webhook.handlers": 1,
        "webhook.outcome": "processed",
        "http.response.status_code": 200,
    }
    assert root.parent is None
    every_value = " ".join(
        str(value) for span in spans.values() for value in (span.attributes or {}).values()
    )
    assert SECRET not in every_value
    assert delivery.body.decode() not in every_value
    prometheus.uninstrument(counting)
    timed = registry.get_sample_value(
        "webhook_kit_handler_duration_seconds_count",
        {"provider": "struktr", "event_type": "document.completed", "handler": handler.name[16:]},
    )
    assert timed == (1 if metrics else None)


def test_a_refused_delivery_ends_its_verify_span_in_error(
    tracing: Tracing, exporter: InMemorySpanExporter
) -> None:
    """A 401 closes the open verify span as an error and names the reason on the root."""
    receiver = Receiver("struktr", secret=SECRET, store=MemoryStore())
    instrument(receiver, tracing=tracing)
    delivery = testing.signed_delivery("struktr", "whsec_wrong", "document.completed")
    assert receiver.handle(delivery.body, delivery.headers).status == 401
    spans = by_name(exporter.get_finished_spans())
    assert set(spans) == {"webhook struktr", "webhook verify"}
    assert spans["webhook verify"].status.status_code is StatusCode.ERROR
    root = spans["webhook struktr"].attributes or {}
    assert (root["webhook.outcome"], root["http.response.status_code"]) == (
        "signature_mismatch",
        401,
    )


@pytest.mark.parametrize("path", ["handle", "handle_async"])
def test_a_failing_handler_records_its_exception(
    tracing: Tracing, exporter: InMemorySpanExporter, path: str
) -> None:
    """A handler that raises: its span holds the exception, the delivery's span is an error."""
    receiver = Receiver("struktr", secret=SECRET, store=MemoryStore())
    instrument(receiver, tracing=tracing)

    @receiver.on("document.completed")
    def explode(_event: object) -> None:
        raise RuntimeError("ledger unreachable")

    delivery = testing.signed_delivery("struktr", SECRET, "document.completed")
    if path == "handle":
        outcome = receiver.handle(delivery.body, delivery.headers)
    else:
        outcome = asyncio.run(receiver.handle_async(delivery.body, delivery.headers))
    assert outcome.status == 500
    spans = by_name(exporter.get_finished_spans())
    handler = spans[f"webhook handler {explode.__qualname__}"]
    assert handler.status.status_code is StatusCode.ERROR
    assert [event.name for event in handler.events] == ["exception"]
    assert spans["webhook struktr"].status.status_code is StatusCode.ERROR
    assert "webhook complete" not in spans
    assert trace.get_current_span() is trace.INVALID_SPAN  # no context left attached


def test_the_current_span_is_the_parent(tracing: Tracing, exporter: InMemorySpanExporter) -> None:
    """A delivery handled inside a span (the framework's request span) is its child."""
    receiver = Receiver("struktr", secret=SECRET)
    instrument(receiver, tracing=tracing)
    delivery = testing.signed_delivery("struktr", SECRET, "document.completed")
    with tracing.tracer.start_as_current_span("POST /webhooks/struktr") as request:
        receiver.handle(delivery.body, delivery.headers)
    spans = by_name(exporter.get_finished_spans())
    parent = spans["webhook struktr"].parent
    assert parent is not None
    assert parent.span_id == request.get_span_context().span_id


def test_a_replayed_dead_letter_links_back_to_its_delivery(
    tracing: Tracing, exporter: InMemorySpanExporter, tmp_path: Path
) -> None:
    """An invalid payload's letter keeps its trace context; its replay's span links to it."""
    letters = SQLiteDeadLetters(tmp_path / "letters.sqlite3")
    receiver = Receiver("struktr", secret=SECRET, store=MemoryStore(), dead_letters=letters)
    instrument(receiver, tracing=tracing)
    payload = testing.sample("struktr", "document.completed")
    del payload["data"]
    delivery = testing.signed_delivery("struktr", SECRET, payload)
    assert receiver.handle(delivery.body, delivery.headers).status == 400
    (original,) = exporter.get_finished_spans()[-1:]
    assert original.name == "webhook struktr"
    (letter,) = letters.all()
    assert "traceparent" in letter.headers
    exporter.clear()
    replay(receiver, letters)
    replayed = by_name(exporter.get_finished_spans())["webhook struktr"]
    assert (replayed.attributes or {})["webhook.mode"] == "worker"
    assert replayed.parent is None  # a trace of its own...
    assert [link.context.span_id for link in replayed.links] == [  # ...linked to the original
        original.get_span_context().span_id
    ]
    assert replayed.context.trace_id != original.context.trace_id


def test_a_sampled_out_delivery_records_nothing_and_its_handler_spans_follow(
    exporter: InMemorySpanExporter,
) -> None:
    """Sampled out: no span is exported, the handler's own spans inherit the decision."""
    provider = TracerProvider(sampler=ParentBased(ALWAYS_OFF))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = instrument(Receiver("struktr", secret=SECRET), tracing=Tracing(provider))
    receiver = Receiver("struktr", secret=SECRET)
    instrument(receiver, tracing=tracing)
    seen = []

    @receiver.on("document.completed")
    def work(_event: object) -> None:
        with tracing.tracer.start_as_current_span("my own work") as span:
            seen.append(span.is_recording())

    try:
        delivery = testing.signed_delivery("struktr", SECRET, "document.completed")
        assert receiver.handle(delivery.body, delivery.headers).status == 200
    finally:
        uninstrument(tracing)
    assert seen == [False]
    assert exporter.get_finished_spans() == ()
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_a_found_tenant_is_an_attribute_a_made_up_one_is_not(
    tracing: Tracing, exporter: InMemorySpanExporter
) -> None:
    """The tenant's id is on the delivery's span once its lookup found it, never otherwise."""
    receiver = Receiver("struktr", secret=TenantSecrets({"acme": SECRET}.get))
    instrument(receiver, tracing=tracing)
    delivery = testing.signed_delivery("struktr", SECRET, "document.completed")
    receiver.handle(delivery.body, delivery.headers, tenant="acme")
    receiver.handle(delivery.body, delivery.headers, tenant="madeup")
    roots = [s for s in exporter.get_finished_spans() if s.name == "webhook struktr"]
    assert [(s.attributes or {}).get("webhook.tenant") for s in roots] == ["acme", None]
    assert [(s.attributes or {})["http.response.status_code"] for s in roots] == [200, 401]
