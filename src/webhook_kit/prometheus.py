"""Prometheus metrics for receivers: deliveries, refusals, durations, queue and dead letters.

::

    from webhook_kit.prometheus import instrument, exposition

    instrument()           # every receiver of this process, in prometheus_client's registry
    instrument(receiver)   # or only this one

    body, content_type = exposition()   # what a /metrics route answers (see the docs page)

Under gunicorn (or any pre-forking server) set ``PROMETHEUS_MULTIPROC_DIR`` to an empty
directory before it starts: each worker then writes its counts there, and `exposition` adds up
every worker's, so one scrape sees the whole server.

Without ``PROMETHEUS_MULTIPROC_DIR``, the counts are plain Python numbers that one collector in
the registry turns into the usual metric families when scraped: a delivery costs one lock and a
few additions, not a prometheus_client call (and its lock) per counter. In multi-process mode
they are prometheus_client's own, written to the shared files.

Every label has a bounded set of values whatever a sender puts in a request: the provider is the
receiver's, an outcome or a refusal reason is one of the library's codes, an event type is one the
provider documents (else ``unknown`` or ``invalid``), a handler is a function of yours, a key id
one you configured, and a tenant only appears when you ask for it (``tenants=True``).
"""

from __future__ import annotations

import functools
import os
import re
import threading
import time
from bisect import bisect_left
from typing import TYPE_CHECKING, Any

try:
    from prometheus_client import (
        REGISTRY,
        CollectorRegistry,
        Counter,
        Histogram,
        metrics,
        multiprocess,
    )
    from prometheus_client.exposition import choose_encoder
    from prometheus_client.metrics_core import (
        CounterMetricFamily,
        HistogramMetricFamily,
        Metric,
    )
    from prometheus_client.samples import Sample
    from prometheus_client.utils import floatToGoString
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        "webhook_kit.prometheus needs prometheus-client, which is not installed: "
        "pip install 'webhook-kit[prometheus]'"
    ) from exc

from . import _observe
from ._headers import HeadersLike
from .receiver import Outcome, Receiver

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

__all__ = ["DURATION_BUCKETS", "Metrics", "exposition", "instrument", "uninstrument"]

DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Seconds: a webhook is answered in milliseconds, and providers give up after 10 to 30 s."""

# A label value made of the library's own codes; anything else is counted as "other".
_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")
_UNAVAILABLE = {"store_unavailable": "store", "queue_unavailable": "queue"}
_MAX_PLANS = 10_000


class Metrics:
    """The webhook metrics in one Prometheus registry, and the `Observer` that counts them.

    - ``webhook_kit_deliveries_total{provider, mode, outcome, status}``: every delivery, as
      answered (``mode`` is ``request`` in the web process, ``worker`` in a queue's worker or a
      replay); with ``tenants=True`` a ``tenant`` label too, from deliveries that have one.
    - ``webhook_kit_verification_failures_total{provider, reason}``: 401s by error code.
    - ``webhook_kit_duplicates_total{provider, state}``: ``done`` (200 duplicate) and
      ``in_progress`` (409) answers.
    - ``webhook_kit_delivery_duration_seconds{provider, mode}`` and
      ``webhook_kit_handler_duration_seconds{provider, event_type, handler}``: histograms.
    - ``webhook_kit_deferred_total{provider, result}``: ``published`` or ``failed`` publishes.
    - ``webhook_kit_unavailable_total{provider, dependency}``: 503s for the ``store`` or the
      ``queue``.
    - ``webhook_kit_dead_letters_total{provider, reason}`` and
      ``webhook_kit_replays_total{provider, result}``: letters recorded and replayed.
    - ``webhook_kit_signing_keys_total{provider, key_id}``: which key verified each delivery.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = REGISTRY,
        *,
        tenants: bool = False,
        buckets: Sequence[float] = DURATION_BUCKETS,
    ) -> None:
        self.tenants = tenants
        delivery_labels = ["provider", "mode", "outcome", "status"]
        if tenants:
            delivery_labels.append("tenant")

        # Multi-process mode: prometheus_client's values, which it keeps in files that every
        # worker writes and one scrape adds up. Otherwise our own numbers (`_Family`).
        self._shared = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        # Guards every count and every new series of this `Metrics` (see `_Family`).
        self._lock = threading.Lock()
        self._families: list[_Family] = []
        self._buckets = (*sorted(float(bound) for bound in buckets), float("inf"))

        def counter(name: str, text: str, labels: list[str]) -> Any:
            if self._shared:
                return Counter(name, text, labels, registry=registry)
            family = _Family(name, text, labels, None)
            self._families.append(family)
            return family

        def histogram(name: str, text: str, labels: list[str]) -> Any:
            if self._shared:
                return Histogram(name, text, labels, registry=registry, buckets=buckets)
            family = _Family(name, text, labels, self._buckets)
            self._families.append(family)
            return family

        self.deliveries = counter(
            "webhook_kit_deliveries",
            "Webhook deliveries by how they were answered.",
            delivery_labels,
        )
        self.verification_failures = counter(
            "webhook_kit_verification_failures",
            "Deliveries refused with 401, by reason.",
            ["provider", "reason"],
        )
        self.duplicates = counter(
            "webhook_kit_duplicates",
            "Duplicate deliveries: done (answered 200) or still in progress (409).",
            ["provider", "state"],
        )
        self.delivery_duration = histogram(
            "webhook_kit_delivery_duration_seconds",
            "Time to answer a delivery, from its arrival to its outcome.",
            ["provider", "mode"],
        )
        self.handler_duration = histogram(
            "webhook_kit_handler_duration_seconds",
            "Time each handler took.",
            ["provider", "event_type", "handler"],
        )
        self.deferred = counter(
            "webhook_kit_deferred",
            "Deliveries handed to a queue, by result.",
            ["provider", "result"],
        )
        self.unavailable = counter(
            "webhook_kit_unavailable",
            "Deliveries answered 503 because a dependency did not answer.",
            ["provider", "dependency"],
        )
        self.dead_letters = counter(
            "webhook_kit_dead_letters", "Dead letters recorded, by reason.", ["provider", "reason"]
        )
        self.replays = counter(
            "webhook_kit_replays", "Dead letters replayed, by result.", ["provider", "result"]
        )
        self.signing_keys = counter(
            "webhook_kit_signing_keys",
            "Verified deliveries by the id of the key that verified them.",
            ["provider", "key_id"],
        )
        if not self._shared and registry is not None:
            registry.register(_Collector(self._families, self._lock))
        # Labelled children by their label values: `labels()` validates on every call.
        self._children: dict[tuple[Any, ...], Any] = {}
        # What each kind of answer increments (see `_plan`), by its raw values.
        self._plans: dict[tuple[Any, ...], tuple[list[Any], Any]] = {}
        # A handler's duration series, by (provider, raw event type, valid, handler name).
        self._handler_series: dict[tuple[Any, ...], Any] = {}

    def _child(self, metric: Any, *values: str) -> Any:
        """The series of `metric` with label `values`: a prometheus_client child, or our slots."""
        key = (id(metric), *values)
        child = self._children.get(key)
        if child is None:
            if self._shared:
                child = metric.labels(*values)
            else:
                with self._lock:
                    child = metric.series_of(values)
            self._children[key] = child
        return child

    # The `Observer` interface (`webhook_kit._observe`)

    def start(self, receiver: Receiver, mode: str, headers: HeadersLike) -> _Counting:  # noqa: ARG002
        """Follow one delivery of `receiver` (called by the receiver); headers are not read."""
        return _Counting(self, receiver, mode)

    def dead_lettered(self, provider: str, reason: str) -> None:
        """Count a dead letter recorded."""
        self._count(self._child(self.dead_letters, provider, _code(reason)))

    def replayed(self, provider: str, result: str) -> None:
        """Count a dead letter replayed."""
        self._count(self._child(self.replays, provider, _code(result)))

    def _count(self, child: Any) -> None:
        """Add one to a counter's series, outside a delivery."""
        if self._shared:
            child.inc()
        else:
            with self._lock:
                child[0] += 1

    def _ended(
        self,
        receiver: Receiver,
        *,
        mode: str,
        outcome: Outcome,
        delivery: Any,
        duration: float,
        handlers: list[tuple[str, float]],
    ) -> None:
        provider = receiver.provider.name
        tenant = _tenant(delivery) if self.tenants else None
        result = outcome.body.get("status") or outcome.body.get("error")
        key = (provider, mode, result, outcome.status, outcome.key_id, tenant)
        plan = self._plans.get(key)
        if plan is None:
            if len(self._plans) > _MAX_PLANS:  # label values are bounded; these caches are too
                self._plans.clear()
            plan = self._plans[key] = self._plan(key)
        counters, histogram = plan
        timed = []
        if handlers:
            series = self._handler_series
            event = getattr(delivery, "event_type", None)
            valid = getattr(delivery, "invalid", None) is None
            for name, seconds in handlers:
                at = (provider, event if isinstance(event, str) else None, valid, name)
                child = series.get(at)
                if child is None:
                    if len(series) > _MAX_PLANS:  # made of request text: bounded
                        series.clear()
                    event_type = _event_type(receiver, delivery)
                    child = series[at] = self._child(
                        self.handler_duration, provider, event_type, name
                    )
                timed.append((child, seconds))
        if self._shared:  # prometheus_client's files: one call (and its lock) per series
            for counter in counters:
                counter.inc()
            histogram.observe(duration)
            for child, seconds in timed:
                child.observe(seconds)
            return
        bounds = self._buckets
        with self._lock:  # every count of the delivery at once (see `_Family`)
            for counter in counters:
                counter[0] += 1
            histogram[bisect_left(bounds, duration)] += 1
            histogram[-2] += duration
            for child, seconds in timed:
                child[bisect_left(bounds, seconds)] += 1
                child[-2] += seconds

    def _plan(self, key: tuple[Any, ...]) -> tuple[list[Any], Any]:
        """The counters one kind of answer increments, and its duration histogram.

        `key` is (provider, mode, result, status, key id, tenant or None), as `_ended` builds it.
        """
        provider, mode, result, status, key_id, tenant = key
        code = _code(result)
        labels = [provider, mode, code, str(status)]
        if tenant is not None:  # only with tenants=True
            labels.append(tenant)
        counters = [self._child(self.deliveries, *labels)]
        if status == 401:
            counters.append(self._child(self.verification_failures, provider, code))
        elif code == "duplicate" or status == 409:
            state = "done" if status == 200 else "in_progress"
            counters.append(self._child(self.duplicates, provider, state))
        elif status == 202:
            counters.append(self._child(self.deferred, provider, "published"))
        elif code in _UNAVAILABLE:
            if code == "queue_unavailable":
                counters.append(self._child(self.deferred, provider, "failed"))
            counters.append(self._child(self.unavailable, provider, _UNAVAILABLE[code]))
        if key_id is not None:
            counters.append(self._child(self.signing_keys, provider, _label(key_id)))
        return counters, self._child(self.delivery_duration, provider, mode)


class _Family:
    """One metric's series as plain numbers, for a process that is the only one counting.

    A counter's series is ``[value, created]``; a histogram's, one count per bucket (the last
    one +Inf), then the sum, then created. `Metrics` changes them only while holding its lock,
    once per delivery for all of that delivery's counts: an increment of a list item is several
    bytecodes, which another thread could interleave (and does, without the GIL), so a count
    could be lost without it; one uncontended lock per delivery costs far less than
    prometheus_client's lock and method calls per counter. `_Collector` reads them under the
    same lock.
    """

    __slots__ = ("buckets", "documentation", "labelnames", "name", "series")

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: list[str],
        buckets: tuple[float, ...] | None,
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = labelnames
        self.buckets = buckets  # with +Inf last; None for a counter
        self.series: dict[tuple[str, ...], list[float]] = {}

    def series_of(self, values: tuple[str, ...]) -> list[float]:
        """The numbers of the series with label `values`, made at zero (call under the lock)."""
        numbers = self.series.get(values)
        if numbers is None:
            counts = 1 if self.buckets is None else len(self.buckets) + 1  # the buckets, the sum
            numbers = self.series[values] = [*([0.0] * counts), time.time()]
        return numbers

    def collect(self, *, created: bool) -> Metric:
        """The metric family as prometheus_client would expose it (call under the lock)."""
        if self.buckets is None:
            counter = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
            for values, (value, made) in self.series.items():
                counter.add_metric(values, value, created=made if created else None)
            return counter
        histogram = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for values, numbers in self.series.items():
            cumulative = 0.0
            buckets = []
            for bound, count in zip(self.buckets, numbers, strict=False):
                cumulative += count
                buckets.append((floatToGoString(bound), cumulative))  # type: ignore[no-untyped-call]
            histogram.add_metric(values, buckets, numbers[-2])
            if created:
                labels = dict(zip(self.labelnames, values, strict=True))
                histogram.samples.append(Sample(self.name + "_created", labels, numbers[-1]))
        return histogram


class _Collector:
    """Yields the `_Family` metrics of one `Metrics` when its registry is scraped."""

    def __init__(self, families: list[_Family], lock: threading.Lock) -> None:
        self._families = families
        self._lock = lock

    def describe(self) -> list[Metric]:
        """The families without samples: the registry refuses a second set of these names."""
        return [
            _Family(f.name, f.documentation, f.labelnames, f.buckets).collect(created=False)
            for f in self._families
        ]

    def collect(self) -> Iterator[Metric]:
        """Every family with its series, as of now."""
        created = getattr(metrics, "_use_created", True)
        with self._lock:
            families = [family.collect(created=created) for family in self._families]
        yield from families


class _Counting:
    """One delivery as `Metrics` follows it: the handlers' times, then the counts at its end.

    Stages never nest (each is left before the next is entered), so only the one entered last
    is remembered, and only a handler's is timed: the others are in the delivery's duration, and
    the receiver does not tell them (`stages` is False) unless another observer follows them.
    """

    stages = False

    __slots__ = ("_handler", "_handlers", "_metrics", "_mode", "_receiver", "_started")

    def __init__(self, metrics: Metrics, receiver: Receiver, mode: str) -> None:
        self._metrics = metrics
        self._receiver = receiver
        self._mode = mode
        self._handler: str | None = None
        self._started = 0.0
        self._handlers: list[tuple[str, float]] = []

    def enter(self, stage: str, handler: str | None = None) -> None:
        if stage == "handler":
            self._handler, self._started = handler, time.perf_counter()

    def leave(self, error: BaseException | None = None) -> None:  # noqa: ARG002 - timed alike
        if self._handler is not None:
            self._handlers.append((self._handler, time.perf_counter() - self._started))
            self._handler = None

    def carrier(self) -> dict[str, str]:
        return {}

    def end(self, outcome: Outcome, delivery: Any, duration: float) -> None:
        try:
            self._metrics._ended(
                self._receiver,
                mode=self._mode,
                outcome=outcome,
                delivery=delivery,
                duration=duration,
                handlers=self._handlers,
            )
        except Exception:  # a full disk under PROMETHEUS_MULTIPROC_DIR: counts lost, not the answer
            _observe.failed()


def instrument(*receivers: Receiver, metrics: Metrics | None = None) -> Metrics:
    """Count the deliveries of `receivers`, or of every receiver if none is given.

    Without `metrics`, the metrics live in prometheus_client's default registry (created once
    per process, however often this is called). Returns the `Metrics`; ``webhook_kit.prometheus
    .uninstrument(metrics)`` stops it counting.
    """
    metrics = metrics or _default()
    _observe.attach(metrics, *receivers)
    return metrics


@functools.cache
def _default() -> Metrics:
    """The one `Metrics` in prometheus_client's default registry."""
    return Metrics()


def uninstrument(metrics: Metrics) -> None:
    """Stop `metrics` counting any receiver's deliveries (its counts stay in its registry)."""
    _observe.detach(metrics)


def exposition(
    accept: str | None = None, registry: CollectorRegistry | None = None
) -> tuple[bytes, str]:
    """The metrics to answer a scrape with, and their content type (for a ``/metrics`` route).

    `accept` is the request's Accept header (OpenMetrics when the scraper asks for it). In
    multi-process mode (``PROMETHEUS_MULTIPROC_DIR`` set), every worker's counts are added up;
    otherwise `registry` (prometheus_client's default) is read.
    """
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    elif registry is None:
        registry = REGISTRY
    encode, content_type = choose_encoder(accept or "")
    return encode(registry), content_type


def _code(value: object) -> str:
    """`value` if it is one of the library's codes (``signature_mismatch``), else ``other``."""
    return value if isinstance(value, str) and _CODE.match(value) else "other"


def _label(value: object) -> str:
    """A configured value (a key id, a tenant) as a label: ``""`` when absent, at most 64 chars."""
    return "" if value is None else str(value)[:64]


def _tenant(delivery: Any) -> str:
    """The delivery's tenant as a label, only once its lookup found it (else ``""``).

    A tenant id that no lookup knows is text from the request: it never becomes a label.
    """
    if getattr(delivery, "unknown_tenant", False):
        return ""
    return _label(getattr(delivery, "tenant", None))


def _event_type(receiver: Receiver, delivery: Any) -> str:
    """The delivery's event type if the provider documents it, else ``unknown`` or ``invalid``."""
    event_type = getattr(delivery, "event_type", None)
    if event_type in receiver.provider.event_types:
        return str(event_type)
    return "invalid" if getattr(delivery, "invalid", None) is not None else "unknown"
