"""What every queue's `Defer` refuses or answers without a worker: one suite over the libraries.

The end-to-end contract, with real workers, is in ``tests/test_queues.py``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from rq import Queue
from rq.serializers import JSONSerializer

from tests.queues import close_defer, make_defer
from webhook_kit import Receiver
from webhook_kit.deadletters import SQLiteDeadLetters
from webhook_kit.defer import QueuedDelivery
from webhook_kit.dramatiq import DeadLetteredError, DramatiqDefer
from webhook_kit.errors import QueueUnavailableError
from webhook_kit.rq import RQDefer

#: Each library with a broker URL on a port nothing listens on.
UNREACHABLE = {
    "celery-redis": ("celery", "redis://127.0.0.1:{port}/0"),
    "celery-rabbitmq": ("celery", "amqp://guest:guest@127.0.0.1:{port}//"),
    "rq-redis": ("rq", "redis://127.0.0.1:{port}/0"),
    "dramatiq-redis": ("dramatiq", "redis://127.0.0.1:{port}/0"),
    "dramatiq-rabbitmq": ("dramatiq", "amqp://guest:guest@127.0.0.1:{port}//"),
}


@pytest.mark.parametrize("name", list(UNREACHABLE))
def test_unreachable_broker_raises_queue_unavailable_within_the_bound(
    name: str, closed_port: int, tmp_path: Path
) -> None:
    """submit on a closed port raises QueueUnavailableError within its publish bound."""
    kind, url = UNREACHABLE[name]
    defer = make_defer(
        kind,
        url.format(port=closed_port),
        f"wk-unreachable-{closed_port}",
        dead_letters=SQLiteDeadLetters(tmp_path / "dead.sqlite3"),
        publish_timeout=1,
        publish_retries=1,
    )
    try:
        started = time.monotonic()
        with pytest.raises(QueueUnavailableError, match="broker did not accept the delivery"):
            defer.submit(QueuedDelivery("struktr", b"{}", {}, time.time()))
        assert time.monotonic() - started < (1 + 1) * 1 + 0.5
    finally:
        close_defer(defer)


@pytest.mark.parametrize("kind", ["celery", "rq", "dramatiq"])
def test_two_receivers_of_one_provider_on_one_defer_are_refused(kind: str, tmp_path: Path) -> None:
    """The worker finds receivers by provider name, so a second one for a name is refused."""
    defer = make_defer(
        kind,
        "redis://127.0.0.1:1/0",
        f"wk-two-{kind}",
        dead_letters=SQLiteDeadLetters(tmp_path / "dead.sqlite3"),
    )
    Receiver("struktr", secret="a", defer=defer)
    with pytest.raises(ValueError, match="already attached"):
        Receiver("struktr", secret="b", defer=defer)
    assert list(defer.receivers) == ["struktr"]
    close_defer(defer)


def test_dramatiq_on_rabbitmq_without_publisher_confirms_is_refused(tmp_path: Path) -> None:
    """On RabbitMQ, DramatiqDefer needs confirm_delivery, or "accepted" would only mean "sent"."""
    letters = SQLiteDeadLetters(tmp_path / "dead.sqlite3")
    url = "amqp://guest:guest@127.0.0.1:1/%2F"
    with pytest.raises(ValueError, match="confirm_delivery=True"):
        DramatiqDefer(RabbitmqBroker(url=url), dead_letters=letters)
    defer = DramatiqDefer(RabbitmqBroker(url=url, confirm_delivery=True), dead_letters=letters)
    assert defer.receivers == {}
    assert defer.actor.options["throws"] == (DeadLetteredError,)  # never retried by Dramatiq


def test_rq_queue_must_carry_json(tmp_path: Path) -> None:
    """RQDefer refuses a queue that would pickle its jobs."""
    import redis  # noqa: PLC0415

    connection = redis.Redis(port=1)
    letters = SQLiteDeadLetters(tmp_path / "dead.sqlite3")
    with pytest.raises(ValueError, match="JSONSerializer"):
        RQDefer(Queue("hooks", connection=connection), dead_letters=letters)
    json_queue = Queue("hooks", connection=connection, serializer=JSONSerializer)
    assert RQDefer(json_queue, dead_letters=letters).receivers == {}
    connection.close()


@pytest.mark.parametrize("kind", ["celery", "rq", "dramatiq"])
@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"first_retry": 5.0, "max_retry": 1.0}, "first_retry <= max_retry"),
    ],
)
def test_retry_policy_is_checked(
    kind: str, options: dict[str, Any], error: str, tmp_path: Path
) -> None:
    """Every queue's Defer refuses a retry policy that cannot work, as it is created."""
    with pytest.raises(ValueError, match=error):
        make_defer(
            kind,
            "redis://127.0.0.1:1/0",
            f"wk-policy-{kind}",
            dead_letters=SQLiteDeadLetters(tmp_path / "dead.sqlite3"),
            **options,
        )
