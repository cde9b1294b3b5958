"""The deferred-processing contract, end to end, on every queue library and broker.

A Flask app queues deliveries on a real broker (Redis, RabbitMQ) through `CeleryDefer`,
`RQDefer` or `DramatiqDefer`; real worker processes (``celery worker``, ``rq worker``,
``dramatiq``) process them (``tests/queues.py``). Every test runs on each pair of `QUEUES`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import flask
import pytest
import redis
from examples.common import DEV_SECRETS, record
from examples.deferred_app import make_receivers

from tests.brokers import SilentServer, answered_within
from tests.queues import MAX_ATTEMPTS, QUEUES, Deployment, clean_queue, throwaway_redis
from webhook_kit import providers, replay, testing

#: What each queue library's worker logs when the task of the delivery `{}` fails for good.
FAILED = {
    "celery": "raised unexpected: DeadLetteredError('webhook delivery {} ",
    "rq": "DeadLetteredError: webhook delivery {} ",
    "dramatiq": "with expected exception DeadLetteredError",  # Dramatiq names the type only
}


@pytest.fixture(params=QUEUES, ids=[f"{kind}-{broker}" for kind, broker in QUEUES])
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    """A fresh queue of each library on each broker, with its files; cleaned up afterwards."""
    kind, broker = request.param
    deployment = Deployment(kind, str(request.getfixturevalue(f"{broker}_url")), tmp_path)
    yield deployment
    deployment.stop()
    deployment.clean()


def delivery(
    client: flask.testing.FlaskClient, name: str, event_type: str | None = None, **options: Any
) -> Callable[[], Any]:
    """A function that posts one signed delivery of `name`s first event (again) to the app."""
    secret = os.environ.get(f"{name.upper()}_WEBHOOK_SECRET") or DEV_SECRETS[name]
    event_type = event_type or next(iter(providers.get(name).event_types))
    body, headers = testing.signed_delivery(name, secret, event_type, **options)
    return lambda: client.post(f"/webhooks/{name}", data=body, headers=headers)


def test_deliveries_are_acknowledged_and_each_processed_once(deployment: Deployment) -> None:
    """Every delivery is answered 202; the worker runs each once, duplicates included."""
    client = deployment.web()
    posts = [delivery(client, name, delivery_id=f"d-{name}") for name in providers.PROVIDERS]
    replies = [send() for send in posts for _ in range(2)]  # each one, and the provider's retry
    assert {(r.status_code, r.get_json()["status"]) for r in replies} == {(202, "queued")}
    assert deployment.count() == 0  # acknowledged before any handler ran
    deployment.start_worker()
    # Another body: the same body under a new id would be a duplicate (a replay).
    sentinel = delivery(client, "struktr", "batch.progress", delivery_id="last")
    assert sentinel().status_code == 202
    deployment.wait_for(lambda: deployment.count() == len(posts) + 1)  # FIFO: all before it
    assert deployment.count("calls") == len(posts) + 1


@pytest.mark.parametrize("kind", ["celery", "rq", "dramatiq"])
def test_broker_down_is_503_and_the_retry_is_processed(kind: str, tmp_path: Path) -> None:
    """With the broker down the answer is 503 and nothing is queued; the retry is processed."""
    with throwaway_redis(tmp_path) as (url, restart):
        deployment = Deployment(kind, url, tmp_path)
        try:
            client = deployment.web()
            send = delivery(client, "pulse", delivery_id="msg-1")
            restart(down=True)
            started = time.monotonic()
            reply = send()
            assert (reply.status_code, reply.get_json()) == (503, {"error": "queue_unavailable"})
            assert reply.headers["Retry-After"] == "5"
            assert time.monotonic() - started < 5
            restart(down=False)
            assert redis.Redis.from_url(url).dbsize() == 0  # nothing was queued while down
            assert send().status_code == 202  # the provider's retry
            deployment.start_worker()
            deployment.wait_for(lambda: deployment.count() == 1)
            assert deployment.count("calls") == 1
        finally:
            deployment.stop()
            deployment.clean()


def test_failing_handler_is_dead_lettered_then_replayed_once(deployment: Deployment) -> None:
    """A handler that always fails is dead-lettered, its task failed; a replay runs it once."""
    client = deployment.web()
    assert delivery(client, "struktr", delivery_id="dlv-dead")().status_code == 202
    deployment.start_worker(WEBHOOK_KIT_TEST_BROKEN="1")
    failed = FAILED[deployment.kind].format("struktr:dlv-dead")
    deployment.wait_for(lambda: failed in deployment.logs())
    [letter] = deployment.dead_letters.all()
    assert (letter.id, letter.reason, letter.attempts) == ("struktr:dlv-dead", "handler_failed", 3)
    assert letter.error == "RuntimeError: the handler is broken"
    assert {"x-struktr-signature", "x-struktr-delivery"} <= set(letter.headers)
    assert (deployment.count("calls"), deployment.count()) == (MAX_ATTEMPTS, 0)

    # The fix is deployed: replay through receivers whose handler works, on the same store.
    fixed = make_receivers(None, deployment.store(), handle=record)
    os.environ["WEBHOOK_KIT_EVENTS_DB"] = str(deployment.events_db)
    try:
        [result] = replay(fixed, deployment.dead_letters)
        again = replay(fixed, deployment.dead_letters)
    finally:
        del os.environ["WEBHOOK_KIT_EVENTS_DB"]
    assert (result.id, result.result, again) == ("struktr:dlv-dead", "processed", [])
    assert deployment.count() == 1
    assert deployment.dead_letters.all() == []
    time.sleep(1.5)  # the failed task is not run again by its queue
    assert deployment.count("calls") == MAX_ATTEMPTS


def test_worker_killed_mid_task_is_redelivered_and_processed_once(
    deployment: Deployment,
) -> None:
    """A worker SIGKILLed inside the handler: the message comes back and is processed once."""
    client = deployment.web()
    first = deployment.start_worker(WEBHOOK_KIT_TEST_SLEEP="60")
    assert delivery(client, "imggo", delivery_id=None)().status_code == 202
    deployment.wait_for(lambda: deployment.count("started") == 1)
    deployment.kill(first)
    deployment.start_worker()
    # RQ notices a dead worker's job only once its heartbeat expired: about a minute.
    deployment.wait_for(lambda: deployment.count() == 1, timeout=120)
    time.sleep(1.5)  # a second run, if any, would show up now
    assert (deployment.count(), deployment.count("calls")) == (1, 2)


def test_broker_silent_on_an_open_connection_is_503_within_the_bound(
    deployment: Deployment,
) -> None:
    """A broker that stops answering on the pooled connection: 503 within the bound, then 202."""
    with SilentServer(deployment.broker_url) as server:
        defer = deployment.defer(server.via(deployment.broker_url), publish_retries=2)
        if deployment.kind == "celery":  # without the example's socket timeouts
            app = defer.app
            app.conf.broker_transport_options = {
                k: v
                for k, v in app.conf.broker_transport_options.items()
                if not k.startswith("socket_")
            }
            app.conf.broker_connection_timeout = 60
        client = deployment.web(defer)
        assert delivery(client, "pulse", delivery_id="before")().status_code == 202
        server.silence()
        reply, seconds = answered_within(15, delivery(client, "pulse", delivery_id="during"))
        assert (reply.status_code, reply.get_json()) == (503, {"error": "queue_unavailable"})
        assert reply.headers["Retry-After"] == "5"
        assert seconds < (1 + 2) * 1  # (publish_retries + 1) * publish_timeout
        server.speak()
        assert delivery(client, "pulse", delivery_id="after")().status_code == 202
    clean_queue(deployment.kind, deployment.broker_url, deployment.queue)
