"""The receiver's observation seam: where metrics and traces hear about each delivery.

An `Observer` (`webhook_kit.prometheus.Metrics`, `webhook_kit.otel.Tracing`) is attached to one
receiver or to all of them with `attach`. While none is attached, `on` is False and the receiver
pays one test per delivery; otherwise each delivery gets a `Trace` from every observer of its
receiver, told when each stage starts and ends (``verify``, ``parse``, ``claim``, ``handler``,
``complete``, ``publish``; only ``handler`` if its `Trace.stages` is False) and how the delivery
ended.

Stages are entered and left in order; a stage left open by an exception is closed by `end`, with
the delivery's outcome. Dead letters and replays, which happen outside a delivery, are told with
`dead_lettered` and `replayed`.

The trace context of a delivery travels as W3C ``traceparent``/``tracestate`` headers: the
receiver adds `Trace.carrier` to the headers it queues or keeps in a dead letter, and a worker's
or a replay's trace reads them back (`replaying` tells a replay from a worker's retry).
"""

from __future__ import annotations

import contextlib
import logging
import weakref
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

from ._headers import HeadersLike

logger = logging.getLogger("webhook_kit")

if TYPE_CHECKING:
    from .receiver import Outcome, Receiver

__all__ = [
    "CONTEXT_HEADERS",
    "Mode",
    "Observer",
    "Trace",
    "attach",
    "context_headers",
    "dead_lettered",
    "detach",
    "failed",
    "is_replay",
    "on",
    "replayed",
    "replaying",
    "start",
]

#: The headers that carry a delivery's trace context through a queue and a dead letter.
CONTEXT_HEADERS = ("traceparent", "tracestate")

Mode = str
"""``"request"`` (`Receiver.handle`) or ``"worker"`` (`Receiver.process`: a queue's worker or a
replay)."""


class Trace(Protocol):
    """One observer's view of one delivery, from `Observer.start` to `end`."""

    #: Whether it follows every stage; if False, the receiver enters and leaves only handlers.
    stages: bool

    def enter(self, stage: str, handler: str | None = None) -> None:
        """A stage starts: ``verify``, ``parse``, ``claim``, ``handler`` (named), ..."""

    def leave(self, error: BaseException | None = None) -> None:
        """The stage entered last ends; `error` if it raised (a handler's exception)."""

    def carrier(self) -> dict[str, str]:
        """This delivery's trace context as headers to queue with it (empty if none)."""

    def end(self, outcome: Outcome, delivery: Any, duration: float) -> None:
        """The delivery ended with `outcome` after `duration` seconds; close open stages.

        `delivery` is the receiver's record of it: ``event_type``, ``key``, ``key_id``,
        ``handlers`` (and ``tenant`` where deliveries have one).
        """


class Observer(Protocol):
    """Something that watches deliveries: metrics, traces."""

    def start(self, receiver: Receiver, mode: Mode, headers: HeadersLike) -> Trace:
        """A delivery starts: return the `Trace` that follows it."""

    def dead_lettered(self, provider: str, reason: str) -> None:
        """A delivery of `provider` was recorded in the dead letters, with `reason`."""

    def replayed(self, provider: str, result: str) -> None:
        """A dead letter of `provider` was replayed, with `result` (``processed``, ...)."""


#: Whether any observer is attached: the receiver's one test per delivery.
on = False

_everywhere: list[Observer] = []
_per_receiver: weakref.WeakKeyDictionary[Receiver, list[Observer]] = weakref.WeakKeyDictionary()
_replaying: ContextVar[bool] = ContextVar("webhook_kit_replaying", default=False)


def attach(observer: Observer, *receivers: Receiver) -> None:
    """Let `observer` watch the deliveries of `receivers`, or of every receiver if none."""
    global on  # noqa: PLW0603 - the one flag the hot path reads
    for observers in [_per_receiver.setdefault(r, []) for r in receivers] or [_everywhere]:
        if observer not in observers:
            observers.append(observer)
    on = True


def detach(observer: Observer) -> None:
    """Stop `observer` watching any receiver."""
    global on  # noqa: PLW0603
    with contextlib.suppress(ValueError):
        _everywhere.remove(observer)
    for observers in _per_receiver.values():
        with contextlib.suppress(ValueError):
            observers.remove(observer)
    on = bool(_everywhere) or any(_per_receiver.values())


def _observers(receiver: Receiver | None) -> list[Observer]:
    own = _per_receiver.get(receiver, []) if receiver is not None else []
    if not own:
        return _everywhere
    return [*_everywhere, *(observer for observer in own if observer not in _everywhere)]


def start(receiver: Receiver, mode: Mode, headers: HeadersLike) -> Trace | None:
    """The trace of a delivery starting now, or None if no observer watches `receiver`.

    An observer that fails is logged, and the delivery goes on unobserved: watching deliveries
    must never refuse one.
    """
    own = _per_receiver.get(receiver)
    observers = _observers(receiver) if own and _everywhere else own or _everywhere
    if not observers:
        return None
    try:
        if len(observers) == 1:
            return observers[0].start(receiver, mode, headers)
        return _Traces([observer.start(receiver, mode, headers) for observer in observers])
    except Exception:
        failed()
        return None


def failed() -> None:
    """Log an observer's own exception (metrics or traces lost, never the delivery)."""
    logger.exception("webhook observer failed; the delivery is handled all the same")


def dead_lettered(receiver: Receiver | None, provider: str, reason: str) -> None:
    """Tell the observers of `receiver` (and the global ones) that a dead letter was recorded."""
    for observer in _observers(receiver):
        try:
            observer.dead_lettered(provider, reason)
        except Exception:
            failed()


def replayed(receiver: Receiver | None, provider: str, result: str) -> None:
    """Tell the observers of `receiver` (and the global ones) that a dead letter was replayed."""
    for observer in _observers(receiver):
        try:
            observer.replayed(provider, result)
        except Exception:
            failed()


@contextlib.contextmanager
def replaying() -> Iterator[None]:
    """Within it, `Receiver.process` replays a dead letter: its trace links to the original."""
    token = _replaying.set(True)
    try:
        yield
    finally:
        _replaying.reset(token)


def is_replay() -> bool:
    """Whether the current delivery is a replay of a dead letter (see `replaying`)."""
    return _replaying.get()


def context_headers(headers: HeadersLike) -> dict[str, str]:
    """The trace context headers among `headers` (queued or dead-letter headers, lower-case)."""
    found = {name: headers.get(name) for name in CONTEXT_HEADERS}
    return {name: value for name, value in found.items() if isinstance(value, str)}


class _Traces:
    """Several observers' traces of one delivery, told the same things in turn."""

    __slots__ = ("_traces", "stages")

    def __init__(self, traces: list[Trace]) -> None:
        self._traces = traces
        self.stages = any(trace.stages for trace in traces)

    def enter(self, stage: str, handler: str | None = None) -> None:
        for trace in self._traces:
            trace.enter(stage, handler)

    def leave(self, error: BaseException | None = None) -> None:
        for trace in reversed(self._traces):
            trace.leave(error)

    def carrier(self) -> dict[str, str]:
        carrier: dict[str, str] = {}
        for trace in self._traces:
            carrier |= trace.carrier()
        return carrier

    def end(self, outcome: Outcome, delivery: Any, duration: float) -> None:
        for trace in reversed(self._traces):
            trace.end(outcome, delivery, duration)
