"""The worker side every queue's `Defer` shares: process a queued delivery, retry it, or bury it.

`CeleryDefer`, `RQDefer` and `DramatiqDefer` differ in how they publish and how their queue runs a
message again; what a worker does with one is the same, and lives here. `QueueDefer.run` takes a
message (`QueuedDelivery.to_message`) and the number of failed attempts so far, runs it through
its receiver's `Receiver.process`, and ends in one of three ways:

- it returns the outcome (``"processed"``, ``"duplicate"``): the queue acknowledges the message;
- it raises `RetryLater`: the queue publishes the message again after `RetryLater.delay`
  seconds with `RetryLater.failures` failed attempts counted (a handler failed, the store is
  down, or another worker holds the delivery's lease, which is not counted as an attempt);
- it raises `DeadLetteredError` once the delivery is recorded in the dead letters (after
  `max_attempts` failures, or at once for a delivery that can never succeed): the queue records
  the message as failed, and nothing but `replay` runs it again.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NoReturn

from . import _observe
from .deadletters import DeadLetter, DeadLetterStore, describe
from .defer import QueuedDelivery
from .errors import QueueUnavailableError
from .idempotency import store_key
from .receiver import Receiver
from .tenants import tenant_delivery_id

__all__ = ["DeadLetteredError", "QueueDefer", "RetryLater", "unavailable"]

logger = logging.getLogger("webhook_kit")


class DeadLetteredError(Exception):
    """The task's delivery went to the dead letters: the queue records the task as failed.

    Raised by the worker after the dead letter is recorded, so that the queue logs the failure
    and its monitoring sees it (Celery: ``task-failed`` and the `task_failure` signal; RQ: the
    job in the ``FailedJobRegistry``; Dramatiq: the message in the queue's dead-letter queue).
    Nothing runs it again: only `replay` does. The message names the delivery's idempotency key,
    provider, event type, reason and last error; never its body or headers.
    """


class RetryLater(Exception):
    """Run `message` again after `delay` seconds, with `failures` failed attempts counted."""

    def __init__(self, message: dict[str, Any], failures: int, delay: float) -> None:
        super().__init__(f"retry in {delay:.1f} s after {failures} failed attempt(s)")
        self.message = message
        self.failures = failures
        self.delay = delay


class QueueDefer:
    """What every queue's `Defer` shares: its receivers, its retry policy, and `run`.

    - `dead_letters`: where deliveries go after `max_attempts` failed attempts.
    - `max_attempts`, `first_retry`, `max_retry`: a failing delivery is attempted up to
      `max_attempts` times, waiting `first_retry` seconds after the first failure, doubling each
      time, at most `max_retry`. Waiting for another worker's lease (409) is not an attempt.
    - `publish_timeout`, `publish_retries`: how long one attempt to publish may wait on the
      broker, and how many times a failed attempt is retried, before the request is answered 503:
      never later than ``(publish_retries + 1) * publish_timeout`` seconds.
    """

    #: The queue's name in messages: "the Celery broker did not accept the delivery".
    kind = "queue"

    def __init__(
        self,
        *,
        dead_letters: DeadLetterStore,
        max_attempts: int,
        first_retry: float,
        max_retry: float,
        publish_timeout: float,
        publish_retries: int,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0 < first_retry <= max_retry:
            raise ValueError("retry delays must be positive, with first_retry <= max_retry")
        if publish_timeout <= 0 or publish_retries < 0:
            raise ValueError("publish_timeout must be positive and publish_retries at least 0")
        self.dead_letters = dead_letters
        self.max_attempts = max_attempts
        self.first_retry = first_retry
        self.max_retry = max_retry
        self.publish_timeout = publish_timeout
        self.publish_retries = publish_retries
        self._receivers: dict[str, Receiver] = {}

    @property
    def receivers(self) -> Mapping[str, Receiver]:
        """The attached receivers by provider name (for `replay`)."""
        return MappingProxyType(self._receivers)

    @property
    def publish_deadline(self) -> float:
        """Seconds after which a publish has failed: ``(publish_retries + 1) * publish_timeout``."""
        return (self.publish_retries + 1) * self.publish_timeout

    def attach(self, receiver: Receiver) -> None:
        """Remember `receiver` under its provider's name, where the worker finds it."""
        name = receiver.provider.name
        if self._receivers.get(name, receiver) is not receiver:
            raise ValueError(
                f"a receiver for {name!r} is already attached to this {type(self).__name__}: "
                f"use one {type(self).__name__} (with its own queue) per receiver of the same "
                "provider"
            )
        self._receivers[name] = receiver

    def retry_delay(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failed attempt: doubling, capped."""
        return float(min(self.max_retry, self.first_retry * 2 ** (failures - 1)))

    # The worker side

    def run(self, message: dict[str, Any], failures: int = 0) -> str:
        """Process one queued message; return its outcome, or raise `RetryLater` or
        `DeadLetteredError` (see the module's docstring)."""
        delivery = QueuedDelivery.from_message(message)
        receiver = self._receivers.get(delivery.provider)
        try:
            if receiver is None:
                raise LookupError(
                    f"no receiver for {delivery.provider!r} is attached in this worker: start it "
                    "with the module that creates the receivers"
                )
            outcome = receiver.process(
                delivery.body,
                delivery.headers,
                received_at=delivery.received_at,
                tenant=delivery.tenant,
            )
        except Exception as exc:  # a handler failed: retry, until the last attempt
            attempts = failures + 1
            event_type = self._event_type(delivery) if attempts >= self.max_attempts else None
            self._failed(delivery, attempts, "handler_failed", describe(exc), event_type=event_type)
        reason = str(outcome.body.get("status") or outcome.body.get("error"))
        if outcome.status == 200:
            return reason
        if outcome.status == 409:  # another worker holds it (or took it over): look again later
            raise RetryLater(message, failures, receiver.retry_after)
        error = str(outcome.body.get("message", reason))
        event_type = getattr(outcome.event, "event_type", None)  # None unless verified and parsed
        if outcome.status >= 500:  # the idempotency store is down: retry, like a failure
            self._failed(delivery, failures + 1, reason, error, event_type=event_type)
        # Refused signature or payload: retrying cannot help; keep it for a replay after a fix.
        raise self._bury(delivery, reason, error, failures + 1, event_type=event_type)

    def _failed(
        self,
        delivery: QueuedDelivery,
        attempts: int,
        reason: str,
        error: str,
        *,
        event_type: str | None,
    ) -> NoReturn:
        if attempts >= self.max_attempts:
            raise self._bury(delivery, reason, error, attempts, event_type=event_type)
        delay = self.retry_delay(attempts)
        logger.warning(
            "webhook provider=%s attempt %d of %d failed (%s), retrying in %.1f s",
            delivery.provider,
            attempts,
            self.max_attempts,
            error,
            delay,
            extra={
                "provider": delivery.provider,
                "outcome": "retrying",
                "reason": reason,
                "attempts": attempts,
            },
        )
        raise RetryLater(delivery.to_message(), attempts, delay)

    def _bury(
        self,
        delivery: QueuedDelivery,
        reason: str,
        error: str,
        attempts: int,
        *,
        event_type: str | None,
    ) -> DeadLetteredError:
        """Record a dead letter, and return the error that fails the task.

        If it cannot be recorded, raise `RetryLater` instead: the message stays queued, and
        the last attempt runs again after `max_retry` seconds.
        """
        letter = DeadLetter(
            id=self._letter_id(delivery),
            provider=delivery.provider,
            body=delivery.body,
            headers=delivery.headers,
            reason=reason,
            error=error,
            attempts=attempts,
            received_at=delivery.received_at,
            tenant=delivery.tenant,
        )
        try:
            self.dead_letters.add(letter)
        except Exception as exc:  # not recorded: keep the message queued and try again later
            logger.exception("webhook dead letter %s could not be recorded", letter.id)
            raise RetryLater(delivery.to_message(), attempts - 1, self.max_retry) from exc
        if _observe.on:
            _observe.dead_lettered(
                self._receivers.get(delivery.provider), delivery.provider, reason
            )
        logger.error(
            "webhook provider=%s event=%s key=%s outcome=dead_letter reason=%s attempts=%d: %s",
            delivery.provider,
            event_type,
            letter.id,
            reason,
            attempts,
            error,
            extra={
                "provider": delivery.provider,
                "event_type": event_type,
                "key": letter.id,
                "outcome": "dead_letter",
                "reason": reason,
                "attempts": attempts,
            },
        )
        return DeadLetteredError(
            f"webhook delivery {letter.id} (provider {delivery.provider}, event {event_type}) "
            f"is in the dead letters after {attempts} attempt(s), {reason}: {error}; "
            "replay it once the cause is fixed"
        )

    def _event_type(self, delivery: QueuedDelivery) -> str | None:
        """The event type of a delivery its receiver verified, for the log; None if unknown."""
        receiver = self._receivers.get(delivery.provider)
        if receiver is None:
            return None
        try:
            return str(receiver.provider.parse(delivery.body).event_type)
        except Exception:  # a log line must not fail the task
            return None

    def _letter_id(self, delivery: QueuedDelivery) -> str:
        receiver = self._receivers.get(delivery.provider)
        tenant = delivery.tenant
        if receiver is not None:
            delivery_id = receiver.provider.delivery_key(delivery.body, delivery.headers)
            return str(store_key(receiver.provider.name, tenant_delivery_id(tenant, delivery_id)))
        digest = f"sha256:{hashlib.sha256(delivery.body).hexdigest()}"
        return f"{delivery.provider}:{tenant_delivery_id(tenant, digest)}"


def unavailable(
    defer: QueueDefer, delivery: QueuedDelivery, exc: BaseException
) -> QueueUnavailableError:
    """The `QueueUnavailableError` a failed publish answers (503), logged once.

    Whatever stopped the publish (refused connection, timeout, a nack), the broker does not have
    the message: the only safe answer is "not accepted".
    """
    logger.warning(
        "webhook provider=%s not queued: %s",
        delivery.provider,
        describe(exc),
        extra={"provider": delivery.provider, "outcome": "queue_unavailable"},
    )
    return QueueUnavailableError(
        f"the {defer.kind} broker did not accept the delivery ({describe(exc)}): "
        "is it running and reachable? The provider retries after Retry-After."
    )
