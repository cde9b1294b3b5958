"""Dramatiq integration: acknowledge webhooks once queued, run their handlers in Dramatiq workers.

::

    from dramatiq.brokers.rabbitmq import RabbitmqBroker
    from webhook_kit import Receiver
    from webhook_kit.deadletters import SQLiteDeadLetters
    from webhook_kit.dramatiq import DramatiqDefer

    broker = RabbitmqBroker(url="amqp://...", confirm_delivery=True)  # publisher confirms
    defer = DramatiqDefer(broker, dead_letters=SQLiteDeadLetters("dead-letters.sqlite3"))
    receiver = Receiver("struktr", secret=secret, store=store, defer=defer)

The web process answers 202 once the broker has accepted the message (RabbitMQ: confirmed; Redis:
the enqueue script ran), 503 (Retry-After) if it has not, or has not answered in time
(`publish_timeout`, `publish_retries`). Workers (``dramatiq yourmodule:broker``) import the same
module, so the same receivers attach to the same `DramatiqDefer`, whose actor
(``webhook_kit.process`` on the queue ``webhooks`` by default) finds each delivery's receiver by
provider name.

Dramatiq acknowledges a message after its actor ran: a worker that dies mid-task leaves it
unacknowledged, and the broker delivers it again (RabbitMQ as soon as the dead worker's
connection closes; Redis once its heartbeat is older than ``heartbeat_timeout``, see
``docs/deferred.md``). The idempotency store makes sure the handlers complete once. A handler that
raises is retried with exponential backoff (a new, delayed message), up to `max_attempts`
attempts; then the delivery goes to the dead letters (`webhook_kit.deadletters`), from where
`replay` runs it again, and the actor fails with `DeadLetteredError`, which the actor ``throws``:
Dramatiq does not retry it, and the message goes to the queue's dead-letter queue.

Messages are Dramatiq's JSON (the global encoder must be `dramatiq.JSONEncoder`): provider name,
base64 raw body, verification headers, receipt time.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

try:
    import dramatiq
    from dramatiq.brokers.rabbitmq import RabbitmqBroker
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        "webhook_kit.dramatiq needs Dramatiq, which is not installed: "
        "pip install 'webhook-kit[dramatiq]'"
    ) from exc

from ._worker import DeadLetteredError, QueueDefer, RetryLater, unavailable
from .deadletters import DeadLetterStore
from .defer import QueuedDelivery

__all__ = ["DEFAULT_ACTOR_NAME", "DEFAULT_QUEUE", "DeadLetteredError", "DramatiqDefer"]

DEFAULT_ACTOR_NAME = "webhook_kit.process"
"""The name the processing actor is declared under on the broker."""

DEFAULT_QUEUE = "webhooks"
"""The queue the actor's messages go to, unless told otherwise."""

#: Threads that publish for one `DramatiqDefer` (each with its own broker connection).
_PUBLISHERS = 8
#: Seconds between two attempts to publish, times the number of attempts so far.
_PAUSE = 0.2


class DramatiqDefer(QueueDefer):
    """A `Defer` that sends each verified delivery to a Dramatiq actor and processes it there.

    - `broker`: a `RabbitmqBroker` with ``confirm_delivery=True`` (without it `ValueError` is
      raised here: "accepted" would only mean "sent"), or a `RedisBroker`.
    - `queue`, `actor_name`: where the messages go, and the actor's name on the broker.
    - `dead_letters`, `max_attempts`, `first_retry`, `max_retry`: as for `CeleryDefer`: a
      failing delivery is attempted up to `max_attempts` times, waiting `first_retry` seconds
      after the first failure, doubling each time, at most `max_retry`; then it is a dead
      letter. Waiting for another worker's lease (409) is not an attempt.
    - `time_limit`: seconds an attempt may run before Dramatiq interrupts it (a failed
      attempt); default Dramatiq's (10 minutes).
    - `publish_timeout`, `publish_retries`: one attempt to publish waits at most
      `publish_timeout` seconds, and no retry starts that could end after
      ``(publish_retries + 1) * publish_timeout`` seconds: then the request is answered 503.
      Publishes run on threads of their own, so a broker that never answers holds one of
      those, never the request.
    """

    kind = "Dramatiq"

    def __init__(
        self,
        broker: dramatiq.Broker,
        *,
        dead_letters: DeadLetterStore,
        queue: str = DEFAULT_QUEUE,
        actor_name: str = DEFAULT_ACTOR_NAME,
        max_attempts: int = 5,
        first_retry: float = 10.0,
        max_retry: float = 600.0,
        time_limit: float | None = None,
        publish_timeout: float = 2.0,
        publish_retries: int = 2,
    ) -> None:
        super().__init__(
            dead_letters=dead_letters,
            max_attempts=max_attempts,
            first_retry=first_retry,
            max_retry=max_retry,
            publish_timeout=publish_timeout,
            publish_retries=publish_retries,
        )
        if isinstance(broker, RabbitmqBroker) and not broker.confirm_delivery:
            raise ValueError(
                "DramatiqDefer on RabbitMQ needs publisher confirms, so that a delivery is "
                "acknowledged only once the broker has it: RabbitmqBroker(..., "
                "confirm_delivery=True)"
            )
        if not isinstance(dramatiq.get_encoder(), dramatiq.JSONEncoder):
            raise ValueError("DramatiqDefer sends JSON: keep dramatiq's JSONEncoder")
        self.broker = broker
        self.queue = queue
        options: dict[str, Any] = {
            # A dead-lettered delivery fails for good: its message goes to the dead-letter queue.
            "throws": (DeadLetteredError,),
            # Handlers' failures are retried by `run`, counted in `failures`; Dramatiq's own
            # retries only cover what went wrong around them (a retry that could not be sent).
            "max_retries": max_attempts,
            "min_backoff": int(first_retry * 1000),
            "max_backoff": int(max_retry * 1000),
        }
        if time_limit is not None:
            options["time_limit"] = int(time_limit * 1000)

        def process_delivery(message: dict[str, Any], failures: int = 0) -> str:
            return self._run(message, failures)

        self.actor: dramatiq.Actor[..., str] = dramatiq.Actor(
            process_delivery,
            broker=broker,
            actor_name=actor_name,
            queue_name=queue,
            priority=0,
            options=options,
        )
        self._lock = threading.Lock()
        self._publishers: ThreadPoolExecutor | None = None
        self._pid = 0

    def __repr__(self) -> str:
        return f"DramatiqDefer({self.queue!r}, receivers={sorted(self._receivers)!r})"

    def submit(self, delivery: QueuedDelivery) -> None:
        """Send `delivery`; return once the broker accepted it, else `QueueUnavailableError`."""
        deadline = time.monotonic() + self.publish_deadline
        message = self.actor.message_with_options(args=(delivery.to_message(), 0))
        for attempt in range(self.publish_retries + 1):
            started = time.monotonic()
            future = self._executor().submit(self.broker.enqueue, message)
            try:
                future.result(timeout=max(0.0, min(self.publish_timeout, deadline - started)))
                return
            except Exception as exc:
                if isinstance(exc, FutureTimeout) and not future.cancel():
                    # Still publishing: if it gets through after all, the provider's retry is
                    # a duplicate, which the worker recognises.
                    future.add_done_callback(_ignore)
                pause = _PAUSE * attempt
                last = attempt == self.publish_retries
                if last or time.monotonic() + pause + self.publish_timeout > deadline:
                    raise unavailable(self, delivery, _described(exc)) from exc
                time.sleep(pause)

    def close(self) -> None:
        """Stop the publishing threads and close the broker's connections (at shutdown)."""
        with self._lock:
            if self._publishers is not None:
                self._publishers.shutdown(wait=True, cancel_futures=True)
                self._publishers = None
        self.broker.close()

    def _executor(self) -> ThreadPoolExecutor:
        """The publishing threads, started on first use in this process (a fork starts anew)."""
        with self._lock:
            if self._publishers is None or self._pid != os.getpid():
                self._publishers = ThreadPoolExecutor(
                    _PUBLISHERS, thread_name_prefix="webhook-kit-publish"
                )
                self._pid = os.getpid()
            return self._publishers

    # The worker side

    def _run(self, message: dict[str, Any], failures: int) -> str:
        """Run the actor: `QueueDefer.run`, a `RetryLater` as a new, delayed message."""
        try:
            return self.run(message, failures)
        except RetryLater as later:
            self.actor.send_with_options(
                args=(later.message, later.failures), delay=int(later.delay * 1000)
            )
            return f"retry in {later.delay:.1f} s"


def _ignore(future: Future[Any]) -> None:
    """Collect the outcome of a publish nobody waits for any longer."""
    future.exception()


def _described(exc: BaseException) -> BaseException:
    if isinstance(exc, FutureTimeout):
        return TimeoutError("the broker did not answer in time")
    return exc
