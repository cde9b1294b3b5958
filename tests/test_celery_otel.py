"""Traces through a real Celery worker: the worker's span continues the request's trace.

The web side runs in the test process with the SDK's in-memory exporter; the worker (a real
``celery worker`` process) exports its spans as JSON lines to a file with the SDK's console
exporter, which the test reads back.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from examples.common import DEV_SECRETS
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests import queues
from tests.queues import Deployment
from webhook_kit import SQLiteStore, replay, testing
from webhook_kit.otel import Tracing, instrument, uninstrument
from webhook_kit.receiver import Receiver


@functools.cache
def _worker_app() -> Celery:
    provider = TracerProvider()
    spans = open(os.environ["WEBHOOK_KIT_SPANS"], "a", buffering=1)  # noqa: SIM115 - the worker's
    exporter = ConsoleSpanExporter(
        out=spans, formatter=lambda span: span.to_json(indent=None) + "\n"
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrument(tracing=Tracing(provider))
    return queues.worker_defer().app


def __getattr__(name: str) -> Any:
    if name == "worker_app":  # built on first use, in the worker process only
        return _worker_app()
    raise AttributeError(name)


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """Every receiver of the test process traced into memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = instrument(tracing=Tracing(provider))
    yield exporter
    uninstrument(tracing)


@pytest.fixture
def deployment(redis_url: str, tmp_path: Path) -> Iterator[Deployment]:
    """A fresh queue on the real Redis, served by this module's traced worker app."""
    deployment = Deployment(
        "celery", redis_url, tmp_path, celery_app="tests.test_celery_otel:worker_app"
    )
    yield deployment
    deployment.stop()
    deployment.clean()


def worker_spans(path: Path) -> list[dict[str, Any]]:
    """The spans the worker exported so far."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def post(deployment: Deployment) -> None:
    """Post one struktr delivery to the web app, which queues it (202)."""
    body, headers = testing.signed_delivery("struktr", DEV_SECRETS["struktr"], "document.completed")
    reply = deployment.web().post("/webhooks/struktr", data=body, headers=headers)
    assert reply.status_code == 202


def request_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    """The one delivery span the web side finished."""
    (span,) = [span for span in exporter.get_finished_spans() if span.name == "webhook struktr"]
    return span


def test_the_workers_span_is_a_child_of_the_requests(
    deployment: Deployment, exporter: InMemorySpanExporter, tmp_path: Path
) -> None:
    """The trace context rides in the Celery message: the worker's delivery span is its child."""
    spans_file = tmp_path / "worker-spans.jsonl"
    post(deployment)
    request = request_span(exporter)
    names = {span.name for span in exporter.get_finished_spans()}
    assert {"webhook verify", "webhook parse", "webhook publish"} <= names
    deployment.start_worker(WEBHOOK_KIT_SPANS=str(spans_file))
    deployment.wait_for(lambda: deployment.count() == 1)
    deployment.wait_for(
        lambda: any(s["name"] == "webhook struktr" for s in worker_spans(spans_file))
    )
    spans = worker_spans(spans_file)
    (worker,) = [span for span in spans if span["name"] == "webhook struktr"]
    context = request.get_span_context()
    assert worker["context"]["trace_id"] == f"0x{context.trace_id:032x}"
    assert worker["parent_id"] == f"0x{context.span_id:016x}"
    assert worker["attributes"]["webhook.mode"] == "worker"
    assert worker["attributes"]["webhook.outcome"] == "processed"
    handler_spans = [s for s in spans if s["name"].startswith("webhook handler ")]
    assert [s["parent_id"] for s in handler_spans] == [worker["context"]["span_id"]]


def test_a_dead_letter_keeps_the_trace_and_its_replay_links_to_it(
    deployment: Deployment, exporter: InMemorySpanExporter, tmp_path: Path
) -> None:
    """A delivery buried by the worker keeps the trace context; replaying it links back."""
    post(deployment)
    request = request_span(exporter)
    deployment.start_worker(
        WEBHOOK_KIT_SPANS=str(tmp_path / "worker-spans.jsonl"), WEBHOOK_KIT_TEST_BROKEN="1"
    )
    deployment.wait_for(lambda: len(deployment.dead_letters.all()) == 1)
    (letter,) = deployment.dead_letters.all()
    trace_id = f"{request.get_span_context().trace_id:032x}"
    assert letter.headers["traceparent"].split("-")[1] == trace_id
    deployment.stop()
    exporter.clear()
    receiver = Receiver(
        "struktr", secret=DEV_SECRETS["struktr"], store=SQLiteStore(tmp_path / "r.sqlite3")
    )
    receiver.on("document.completed")(lambda _event: None)
    assert [result.result for result in replay(receiver, deployment.dead_letters)] == ["processed"]
    replayed = request_span(exporter)
    assert [link.context.span_id for link in replayed.links] == [request.get_span_context().span_id]
