"""OpenTelemetry traces for receivers: a span per delivery, a child span per stage.

::

    from webhook_kit.otel import instrument

    instrument()           # every receiver, with the global tracer provider
    instrument(receiver)   # or only this one

This module needs only ``opentelemetry-api``; which SDK and exporter record the spans is the
application's choice (without an SDK, the spans cost next to nothing and go nowhere).

Each delivery is a span ``webhook <provider>`` (a child of the current span: the framework's
request span when it is instrumented) with the children ``webhook verify``, ``webhook parse``,
``webhook claim``, ``webhook handler <name>`` (current while the handler runs, so the handler's
own spans nest in it), ``webhook complete`` and, with ``defer=``, ``webhook publish``. Its
attributes name the provider, event type, outcome, HTTP status, delivery key and signing key id:
never a secret, a signature or the body.

A deferred delivery carries its span's context (W3C ``traceparent``) in the queued message, so
the worker's span is a child of the request's; a dead letter keeps it, and a replay's span links
back to the original delivery.
"""

from __future__ import annotations

import functools
from typing import Any

try:
    from opentelemetry import context, propagate, trace
    from opentelemetry.trace import Link, SpanKind, Status, StatusCode, TracerProvider
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        "webhook_kit.otel needs opentelemetry-api, which is not installed: "
        "pip install 'webhook-kit[otel]'"
    ) from exc

from . import _observe
from ._headers import HeadersLike
from .receiver import Outcome, Receiver

__all__ = ["Tracing", "instrument", "uninstrument"]


#: The span name of each stage but a handler's (``webhook handler <name>``).
_STAGES = {
    stage: f"webhook {stage}" for stage in ("verify", "parse", "claim", "complete", "publish")
}


class Tracing:
    """The `Observer` that traces deliveries with a tracer of `tracer_provider` (the global one).

    The worker side (``mode="worker"``: a queue's worker, a replay) continues the trace context
    queued with the delivery.
    """

    def __init__(self, tracer_provider: TracerProvider | None = None) -> None:
        self.tracer = trace.get_tracer("webhook_kit", tracer_provider=tracer_provider)
        # A delivery span's name and first attributes, by (provider, mode): made once, not per
        # delivery (the SDK copies them into each span it records).
        self._roots: dict[tuple[str, str], tuple[str, dict[str, str]]] = {}

    def start(self, receiver: Receiver, mode: str, headers: HeadersLike) -> _Spans:
        """Start the span of one delivery of `receiver` (called by the receiver)."""
        parent = None
        links: list[Link] = []
        if mode == "worker":  # headers from our own queue or dead letters, not from a request
            carrier = _observe.context_headers(headers)
            if carrier:
                queued = propagate.extract(carrier)
                if _observe.is_replay():  # a new trace, linked to the original delivery's
                    links.append(Link(trace.get_current_span(queued).get_span_context()))
                else:
                    parent = queued
        provider = receiver.provider.name
        root = self._roots.get((provider, mode))
        if root is None:
            attributes = {"webhook.provider": provider, "webhook.mode": mode}
            root = self._roots[provider, mode] = (f"webhook {provider}", attributes)
        name, attributes = root
        span = self.tracer.start_span(
            name,
            context=parent,
            kind=SpanKind.CONSUMER if mode == "worker" else SpanKind.INTERNAL,
            attributes=attributes,
            links=links,
        )
        return _Spans(self.tracer, span, recording=span.is_recording())

    def dead_lettered(self, provider: str, reason: str) -> None:
        """Note a dead letter on the current span, if one is recording."""
        span = trace.get_current_span()
        if span.is_recording():
            span.add_event("webhook.dead_letter", {"webhook.provider": provider, "reason": reason})

    def replayed(self, provider: str, result: str) -> None:
        """Note a replay's result on the current span, if one is recording."""
        span = trace.get_current_span()
        if span.is_recording():
            span.add_event("webhook.replayed", {"webhook.provider": provider, "result": result})


class _Spans:
    """One delivery's span and the stage spans open under it.

    A delivery sampled out makes no stage span and builds no attribute: its only cost past the
    sampler's decision is making its span current while each handler runs (so the handler's own
    spans are sampled out with it).
    """

    __slots__ = ("_open", "_parent", "_recording", "_root", "_tracer")

    stages = True

    def __init__(self, tracer: trace.Tracer, root: trace.Span, *, recording: bool) -> None:
        self._tracer = tracer
        self._root = root
        # A delivery sampled out gets no stage spans (a parent-based sampler drops them anyway).
        self._recording = recording
        # The context whose current span is the delivery's: the stages' parent, made once.
        self._parent = trace.set_span_in_context(root)
        self._open: list[tuple[trace.Span | None, object | None]] = []

    def enter(self, stage: str, handler: str | None = None) -> None:
        if not self._recording:
            if stage == "handler":  # the handler's own spans are sampled out with the delivery
                self._open.append((None, context.attach(self._parent)))
            else:
                self._open.append((None, None))
            return
        if stage != "handler":
            span = self._tracer.start_span(_STAGES.get(stage) or f"webhook {stage}", self._parent)
            self._open.append((span, None))
            return
        name = handler or ""
        span = self._tracer.start_span(
            f"webhook handler {name}", self._parent, attributes={"webhook.handler": name}
        )
        # Current while the handler runs: the handler's own spans are its children.
        self._open.append((span, context.attach(trace.set_span_in_context(span))))

    def leave(self, error: BaseException | None = None) -> None:
        span, token = self._open.pop()
        if token is not None:
            context.detach(token)  # type: ignore[arg-type]
        if span is None:
            return
        if error is not None:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        span.end()

    def carrier(self) -> dict[str, str]:
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=self._parent)
        return {name: carrier[name] for name in _observe.CONTEXT_HEADERS if name in carrier}

    def end(self, outcome: Outcome, delivery: Any, duration: float) -> None:  # noqa: ARG002
        try:
            self._end(outcome, delivery)
        except Exception:  # spans lost, never the delivery's answer
            _observe.failed()

    def _end(self, outcome: Outcome, delivery: Any) -> None:
        code = str(outcome.body.get("status") or outcome.body.get("error"))
        while self._open:  # stages an exception left open: they failed with the delivery
            span, token = self._open.pop()
            if token is not None:
                context.detach(token)  # type: ignore[arg-type]
            if span is not None:
                span.set_status(Status(StatusCode.ERROR, code))
                span.end()
        root = self._root
        if not self._recording:
            root.end()
            return
        attributes = {
            "webhook.event_type": getattr(delivery, "event_type", None),
            "webhook.delivery_key": getattr(delivery, "key", None),
            "webhook.key_id": outcome.key_id,
            "webhook.handlers": getattr(delivery, "handlers", None),
            # A tenant's id once its lookup found it; never one the request made up.
            "webhook.tenant": None
            if getattr(delivery, "unknown_tenant", False)
            else getattr(delivery, "tenant", None),
            "webhook.outcome": code,
            "http.response.status_code": outcome.status,
        }
        root.set_attributes({name: v for name, v in attributes.items() if v is not None})
        if outcome.status >= 500:
            root.set_status(Status(StatusCode.ERROR, code))
        root.end()


def instrument(*receivers: Receiver, tracing: Tracing | None = None) -> Tracing:
    """Trace the deliveries of `receivers`, or of every receiver if none is given.

    Without `tracing`, spans go to the global tracer provider (one `Tracing` per process).
    Returns the `Tracing`; `uninstrument` stops it.
    """
    tracing = tracing or _default()
    _observe.attach(tracing, *receivers)
    return tracing


@functools.cache
def _default() -> Tracing:
    """The one `Tracing` on the global tracer provider."""
    return Tracing()


def uninstrument(tracing: Tracing) -> None:
    """Stop `tracing` following any receiver's deliveries."""
    _observe.detach(tracing)
