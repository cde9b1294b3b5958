"""RQ integration: acknowledge webhooks once queued in Redis, run their handlers in RQ workers.

::

    from redis import Redis
    from rq import Queue
    from rq.serializers import JSONSerializer
    from webhook_kit import Receiver
    from webhook_kit.deadletters import SQLiteDeadLetters
    from webhook_kit.rq import RQDefer

    queue = Queue("webhooks", connection=Redis.from_url(url), serializer=JSONSerializer)
    defer = RQDefer(queue, dead_letters=SQLiteDeadLetters("dead-letters.sqlite3"))
    receiver = Receiver("struktr", secret=secret, store=store, defer=defer)

The web process answers 202 once Redis has the job (one ``MULTI``/``EXEC`` round trip), 503
(Retry-After) if it has not, or has not answered in time (`publish_timeout`,
`publish_retries`). Start workers with the module that creates the receivers as their settings
module, JSON jobs and the scheduler (which runs retries at their time)::

    rq worker -c yourmodule -S json --with-scheduler webhooks

``-c`` imports the module in the worker's main process, before it forks a work horse per job,
so each job finds the receivers already attached: the job's function, `process`, finds its
`RQDefer` by the queue's name.

A handler that raises is retried with exponential backoff, up to `max_attempts` attempts (the
retry is a new job, scheduled); then the delivery goes to the dead letters
(`webhook_kit.deadletters`), from where `replay` runs it again, and the job fails with
`DeadLetteredError` (it stays in RQ's ``FailedJobRegistry``). A job whose worker died (SIGKILL,
a lost host) stays in RQ's ``StartedJobRegistry`` until its heartbeat expires; the next worker
to clean the registries then enqueues it again, up to `max_attempts` times (see
``docs/deferred.md`` for the time that takes and the settings that bound it), and the
idempotency store makes sure the handlers complete once.

Jobs carry JSON (the queue must use ``JSONSerializer``): provider name, base64 raw body,
verification headers, receipt time; their description, which RQ logs, names the delivery
without its body or headers.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

try:
    import redis
    import rq
    from redis.backoff import NoBackoff
    from redis.retry import Retry as RedisRetry
    from rq.job import Job, Retry
    from rq.serializers import JSONSerializer
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        "webhook_kit.rq needs RQ, which is not installed: pip install 'webhook-kit[rq]'"
    ) from exc

from ._worker import DeadLetteredError, QueueDefer, RetryLater, unavailable
from .deadletters import DeadLetterStore
from .defer import QueuedDelivery

__all__ = ["JOB_FUNCTION", "DeadLetteredError", "RQDefer", "process"]

JOB_FUNCTION = "webhook_kit.rq.process"
"""The import path of the function every job calls (`process`)."""

#: Seconds between two attempts to enqueue, times the number of attempts so far.
_PAUSE = 0.2


class RQDefer(QueueDefer):
    """A `Defer` that enqueues each verified delivery as an RQ job and processes it in a worker.

    - `queue`: the RQ queue, with ``serializer=JSONSerializer``; its connection is used with
      every wait bounded by `publish_timeout` (see below).
    - `dead_letters`, `max_attempts`, `first_retry`, `max_retry`: as for `CeleryDefer`: a
      failing delivery is attempted up to `max_attempts` times, waiting `first_retry` seconds
      after the first failure, doubling each time, at most `max_retry`; then it is a dead
      letter. Waiting for another worker's lease (409) is not an attempt. RQ schedules retries
      to the second: delays are rounded up.
    - `job_timeout`: seconds a job may run before RQ stops it (a failed attempt); default the
      queue's (RQ: 180 s). It also bounds how long a dead worker's job stays unnoticed.
    - `publish_timeout`, `publish_retries`: every wait of one attempt to enqueue (connecting,
      the reply) lasts at most `publish_timeout`, and no retry starts that could end after
      ``(publish_retries + 1) * publish_timeout`` seconds: then the request is answered 503.

    One `RQDefer` per queue name in a process: the worker finds it by the job's queue.
    """

    kind = "RQ"
    #: The live `RQDefer` of each queue name in this process, where `process` finds it.
    registry: ClassVar[dict[str, RQDefer]] = {}

    def __init__(
        self,
        queue: rq.Queue,
        *,
        dead_letters: DeadLetterStore,
        max_attempts: int = 5,
        first_retry: float = 10.0,
        max_retry: float = 600.0,
        job_timeout: int | None = None,
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
        if queue.serializer is not JSONSerializer:
            raise ValueError(
                "RQDefer needs a queue with serializer=rq.serializers.JSONSerializer, so that "
                "jobs are JSON (never pickle); start its workers with -S json"
            )
        self.queue = queue
        self.job_timeout = job_timeout
        self._publisher = rq.Queue(
            queue.name,
            connection=_bounded_connection(queue.connection, publish_timeout),
            serializer=JSONSerializer,
            default_timeout=queue._default_timeout,
            is_async=queue._is_async,
        )
        self.registry[queue.name] = self

    def __repr__(self) -> str:
        return f"RQDefer({self.queue.name!r}, receivers={sorted(self._receivers)!r})"

    def submit(self, delivery: QueuedDelivery) -> None:
        """Enqueue `delivery`; return once Redis has it, else `QueueUnavailableError`."""
        deadline = time.monotonic() + self.publish_deadline
        for attempt in range(self.publish_retries + 1):
            try:
                self._enqueue(self._publisher, delivery.to_message(), 0, delivery=delivery)
                return
            except redis.RedisError as exc:  # refused, reset, timed out: try again, in time
                pause = _PAUSE * attempt
                last = attempt == self.publish_retries
                if last or time.monotonic() + pause + self.publish_timeout > deadline:
                    raise unavailable(self, delivery, exc) from exc
                time.sleep(pause)
            except Exception as exc:
                raise unavailable(self, delivery, exc) from exc

    def _enqueue(
        self,
        queue: rq.Queue,
        message: dict[str, Any],
        failures: int,
        *,
        delivery: QueuedDelivery | None = None,
        delay: float = 0.0,
    ) -> Job:
        """Put one job on `queue` in one round trip (now, or in `delay` seconds)."""
        delivery = delivery or QueuedDelivery.from_message(message)
        job = queue.create_job(
            JOB_FUNCTION,
            args=(message, failures),
            timeout=self.job_timeout,
            description=f"webhook_kit {delivery!r} failures={failures}",
            # A worker's death leaves the job started: RQ enqueues it again while it has
            # retries left. Failures of the handlers are counted in `failures` instead.
            retry=Retry(max=self.max_attempts),
        )
        with queue.connection.pipeline() as pipeline:
            if delay > 0:
                when = datetime.now(timezone.utc) + timedelta(seconds=delay)
                queue.schedule_job(job, when, pipeline=pipeline)
            else:
                queue.enqueue_job(job, pipeline=pipeline)
            pipeline.execute()
        return job

    # The worker side

    def _run(self, job: Job, message: dict[str, Any], failures: int) -> str:
        """Run one job: `QueueDefer.run`, a `RetryLater` as a new scheduled job."""
        try:
            return self.run(message, failures)
        except RetryLater as later:
            queue = rq.Queue(job.origin, connection=job.connection, serializer=JSONSerializer)
            delay = float(max(1, -(-later.delay // 1)))  # RQ schedules to the second
            self._enqueue(queue, later.message, later.failures, delay=delay)
            return f"retry in {delay:.0f} s"
        except DeadLetteredError:
            job.retries_left = 0  # failed for good: RQ must not run it again
            raise


def process(message: dict[str, Any], failures: int = 0) -> str:
    """The function every job calls, in an RQ worker: process one queued delivery.

    Finds the job's `RQDefer` by the job's queue name, among those created in this process
    (``rq worker -c yourmodule`` creates them as it starts).
    """
    job = rq.get_current_job()
    if job is None:
        raise RuntimeError("webhook_kit.rq.process runs in an RQ worker, as a job")
    defer = RQDefer.registry.get(job.origin)
    if defer is None:
        raise LookupError(
            f"no RQDefer for queue {job.origin!r} in this worker: start it with the module that "
            "creates it and its receivers, rq worker -c yourmodule -S json --with-scheduler"
        )
    return defer._run(job, message, failures)


def _bounded_connection(connection: redis.Redis, timeout: float) -> redis.Redis:
    """A client on the same server as `connection`, on which no wait exceeds `timeout` seconds.

    Only `RQDefer`'s enqueues use it; the queue's own connection, and its workers' (which wait
    for jobs in blocking pops), keep their settings. It does not retry by itself: `submit`
    counts the retries against its deadline.
    """
    options = dict(connection.connection_pool.connection_kwargs)
    for name in ("socket_timeout", "socket_connect_timeout"):
        value = options.get(name)
        options[name] = timeout if value is None else min(float(value), timeout)
    options["retry_on_timeout"] = False
    options["retry"] = RedisRetry(NoBackoff(), 0)
    pool = connection.connection_pool.__class__(
        connection_class=connection.connection_pool.connection_class, **options
    )
    return redis.Redis(connection_pool=pool)
