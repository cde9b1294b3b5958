"""Celery integration: acknowledge webhooks once queued, run their handlers in Celery workers.

::

    from celery import Celery
    from webhook_kit import Receiver
    from webhook_kit.celery import CeleryDefer
    from webhook_kit.deadletters import SQLiteDeadLetters

    app = Celery("hooks", broker="amqp://...")
    app.conf.broker_transport_options = {"confirm_publish": True}  # RabbitMQ: publisher confirms
    defer = CeleryDefer(app, dead_letters=SQLiteDeadLetters("dead-letters.sqlite3"))
    receiver = Receiver("struktr", secret=secret, store=store, defer=defer)

The web process answers 202 once the broker has accepted the message, 503 (Retry-After) if it
has not, or has not answered in time (`publish_timeout`, `publish_retries`). Workers (``celery
-A yourmodule worker``) import the same module, so the same receivers attach to the same
`CeleryDefer`, and its task finds each delivery's receiver by provider name.

The task is registered on your app as ``webhook_kit.process`` with ``acks_late`` and
``reject_on_worker_lost``: a worker that dies mid-task leaves the message unacknowledged, the
broker delivers it again, and the idempotency store makes sure the handlers complete once. A
handler that raises is retried with exponential backoff, up to `max_attempts` attempts; then the
delivery goes to the dead letters (`webhook_kit.deadletters`), from where `replay` runs it again.
A delivery that can never succeed (its signature or payload is refused) goes there at once. Either
way the task then fails with `DeadLetteredError`, so that Celery reports it as failed.

Messages are JSON (provider name, base64 raw body, verification headers, receipt time): no
pickle, and the worker parses the body with its own models.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

try:
    import celery  # type: ignore[import-untyped]  # no stubs: `celery.Celery` is Any here
    from kombu.pools import ProducerPool
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        "webhook_kit.celery needs Celery, which is not installed: pip install 'webhook-kit[celery]'"
    ) from exc

from ._worker import DeadLetteredError, QueueDefer, RetryLater, unavailable
from .deadletters import DeadLetterStore
from .defer import QueuedDelivery

__all__ = ["DEFAULT_TASK_NAME", "CeleryDefer", "DeadLetteredError"]

DEFAULT_TASK_NAME = "webhook_kit.process"
"""The name the processing task is registered under on the Celery app."""

_AMQP_SCHEMES = {"amqp", "amqps", "pyamqp"}


@dataclass(frozen=True)
class _Publishing:
    """How `CeleryDefer` publishes, resolved once (per process) from the app's configuration."""

    name: str
    options: Mapping[str, Any]  # for `send_task_message`: route, timeouts, serializer
    retry_policy: Mapping[str, Any]  # for `send_task_message`, with a deadline added per publish
    create: Callable[..., Any]  # `app.amqp.create_task_message`
    send: Callable[..., Any]  # `app.amqp.send_task_message`
    sent_event: bool  # `task_send_sent_event`
    producers: Any  # a `kombu.pools.ProducerPool` on `_bounded_connection`
    acquire_timeout: float  # `broker_pool_acquire_timeout`, at most `publish_timeout`
    pid: int  # the process that opened `producers`: a forked child opens its own


class CeleryDefer(QueueDefer):
    """A `Defer` that publishes each verified delivery to Celery and processes it in a worker.

    - `dead_letters`: where deliveries go after `max_attempts` failed attempts.
    - `queue`: the Celery queue to publish to (default: the app's default queue).
    - `max_attempts`, `first_retry`, `max_retry`: a failing delivery is attempted up to
      `max_attempts` times, waiting `first_retry` seconds after the first failure, doubling each
      time, at most `max_retry`. Waiting for another worker's lease (409) is not an attempt.
    - `publish_timeout`, `publish_retries`: how long one attempt to publish may wait on the
      broker, and how many times a failed attempt is retried, before the request is answered
      503. On Redis and RabbitMQ every wait of an attempt (connecting, reading, writing, the
      publisher confirm, a free pooled connection) lasts at most `publish_timeout`, whatever the
      app's transport options, and no retry starts that could end after
      ``(publish_retries + 1) * publish_timeout`` seconds: a broker that accepts connections but
      never answers is answered 503 within that time. Keep it well under the providers' request
      timeouts (10 to 30 s).

    On RabbitMQ the app must enable publisher confirms (``broker_transport_options =
    {"confirm_publish": True}``), so that "accepted" means the broker has the message; without
    them `ValueError` is raised here. On Redis, accepted means the ``LPUSH`` was answered: the
    message is as durable as the server's persistence settings (see ``docs/deferred.md``).
    """

    kind = "Celery"

    def __init__(
        self,
        app: celery.Celery,
        *,
        dead_letters: DeadLetterStore,
        queue: str | None = None,
        task_name: str = DEFAULT_TASK_NAME,
        max_attempts: int = 5,
        first_retry: float = 10.0,
        max_retry: float = 600.0,
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
        _require_confirms(app)
        self.app = app
        self.queue = queue
        self._publishing: _Publishing | None = None  # resolved on the first delivery

        def process_delivery(task: Any, message: dict[str, Any], failures: int = 0) -> str:
            return self._run(task, message, failures)

        self.task: Any = app.task(
            name=task_name,
            bind=True,
            acks_late=True,  # acknowledged after it ran: a crash mid-task leaves it queued
            reject_on_worker_lost=True,  # prefork: a killed child's message is redelivered
            serializer="json",
            ignore_result=True,
            max_retries=None,  # attempts are counted by `failures`, so waits do not count
        )(process_delivery)

    def __repr__(self) -> str:
        return f"CeleryDefer({self.app.main!r}, receivers={sorted(self._receivers)!r})"

    def submit(self, delivery: QueuedDelivery) -> None:
        """Publish `delivery`; return once the broker accepted it, else `QueueUnavailableError`."""
        try:
            self._publish(delivery)
        except Exception as exc:
            raise unavailable(self, delivery, exc) from exc

    def _publish(self, delivery: QueuedDelivery) -> None:
        """Publish one message of the task, as `apply_async` would, minus its per-call setup.

        `apply_async` merges the task's options, routes, reads the configuration and
        ``saferepr``s the arguments for every message: about a third of the CPU time of a
        publish to Redis. Here the route and the publish options are resolved once, on the first
        delivery (as Celery reads its own publish defaults on its first publish), and the
        arguments' repr is the delivery's, without body and headers (which also keeps signatures
        out of monitoring tools). Celery still builds the message (`create_task_message`) and
        publishes it (`send_task_message`: declaring the queue, retries, publisher confirms, the
        publish signals), so the worker receives what `apply_async` would have sent.

        The producer comes from a pool of our own, on a connection whose every wait on the broker
        is bounded by `publish_timeout` (`_bounded_connection`), and no attempt starts that
        could end after the deadline of ``(publish_retries + 1) * publish_timeout`` seconds.
        """
        deadline = time.monotonic() + self.publish_deadline
        publishing = self._publishing
        if publishing is None or publishing.pid != os.getpid():
            publishing = self._publishing = self._prepare()
        app = self.app
        if app.conf.task_always_eager:  # the task runs here, as Celery does it (tests)
            self.task.apply_async((delivery.to_message(),), **self._options())
            return
        task_id = celery.uuid()
        message = publishing.create(
            task_id,
            publishing.name,
            (delivery.to_message(),),
            {},
            reply_to=app.thread_oid,
            create_sent_event=publishing.sent_event,
            ignore_result=True,
            argsrepr=f"({delivery!r},)",
            kwargsrepr="{}",
        )
        # kombu calls `errback` before each new attempt, reconnections included.
        retry_policy = {**publishing.retry_policy, "errback": self._give_up_after(deadline)}
        with publishing.producers.acquire(
            block=True, timeout=publishing.acquire_timeout
        ) as producer:
            try:
                publishing.send(
                    producer,
                    publishing.name,
                    message,
                    retry_policy=retry_policy,
                    **publishing.options,
                )
            except BaseException:
                # It may still hold a reply or a confirm meant for this message, which the next
                # publish on it would take for its own: never reuse it.
                producer.connection.collect()
                raise

    def _give_up_after(self, deadline: float) -> Callable[[BaseException, float], None]:
        """An errback for kombu's retries that stops them when an attempt could miss `deadline`."""
        timeout = self.publish_timeout

        def give_up(exc: BaseException, interval: float) -> None:
            if time.monotonic() + interval + timeout > deadline:
                raise exc

        return give_up

    def _options(self) -> dict[str, Any]:
        """The publish options: bounded in time, retried `publish_retries` times, JSON."""
        return {
            "queue": self.queue,
            "serializer": "json",
            "retry": True,
            "retry_policy": {
                "max_retries": self.publish_retries,
                "interval_start": 0,
                "interval_step": 0.2,
                "interval_max": 0.5,
            },
            "timeout": self.publish_timeout,
            "confirm_timeout": self.publish_timeout,
        }

    def _prepare(self) -> _Publishing:
        """What `_publish` needs, from the app's configuration: routed like `apply_async`."""
        app = self.app
        options = self._options()
        queue = options.pop("queue")
        destination = {"queue": queue} if queue else {}
        routed = {
            **options,
            **app.amqp.router.route(destination, self.task.name, (), {}, self.task),
        }
        limit = app.conf.broker_pool_limit
        return _Publishing(
            name=self.task.name,
            options=routed,
            retry_policy=routed.pop("retry_policy"),
            create=app.amqp.create_task_message,
            send=app.amqp.send_task_message,
            sent_event=bool(app.conf.task_send_sent_event),
            producers=ProducerPool(  # type: ignore[no-untyped-call]
                _bounded_connection(app, self.publish_timeout).Pool(limit), limit=limit
            ),
            acquire_timeout=_at_most(app.conf.broker_pool_acquire_timeout, self.publish_timeout),
            pid=os.getpid(),
        )

    # The worker side

    def _run(self, task: Any, message: dict[str, Any], failures: int) -> str:
        """Run the task: `QueueDefer.run`, its `RetryLater` as Celery's own retry."""
        try:
            return self.run(message, failures)
        except RetryLater as later:
            raise task.retry(args=(later.message, later.failures), countdown=later.delay) from later


def _bounded_connection(app: celery.Celery, timeout: float) -> Any:
    """The app's connection for publishing, on which no wait on the broker exceeds `timeout`.

    Only `CeleryDefer`'s publishes use it: the app's own connections, and its workers', keep the
    app's settings (a consumer's connection must wait for messages indefinitely).
    """
    connection = app.connection_for_write()
    options = dict(connection.transport_options)
    driver = connection.transport.driver_name
    if driver == "redis":
        names: tuple[str, ...] = ("socket_timeout", "socket_connect_timeout")
        options["retry_on_timeout"] = False  # the publish's own retries are counted instead
    elif driver == "py-amqp":
        names = ("read_timeout", "write_timeout")
    else:
        names = ()
    for name in names:
        options[name] = _at_most(options.get(name), timeout)
    return connection.clone(
        connect_timeout=_at_most(connection.connect_timeout, timeout), transport_options=options
    )


def _at_most(value: float | None, limit: float) -> float:
    """`value`, unless it is unset (None: no limit) or above `limit`."""
    return limit if value is None else min(float(value), limit)


def _require_confirms(app: celery.Celery) -> None:
    """Refuse a RabbitMQ app without publisher confirms: "accepted" would mean "sent"."""
    url = str(app.conf.broker_write_url or app.conf.broker_url or "amqp://")
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower()
    options = app.conf.broker_transport_options or {}
    if scheme in _AMQP_SCHEMES and not options.get("confirm_publish"):
        raise ValueError(
            "CeleryDefer on RabbitMQ needs publisher confirms, so that a delivery is acknowledged "
            'only once the broker has it: set broker_transport_options={"confirm_publish": True} '
            "on the Celery app before creating the CeleryDefer"
        )
