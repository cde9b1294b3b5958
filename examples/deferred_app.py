"""Acknowledge fast, process later: a Flask app that queues deliveries, and its Celery workers.

Run the web app and a worker from the repository root, with a broker on loopback::

    WEBHOOK_KIT_BROKER_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/flask --app examples.deferred_app:app run
    WEBHOOK_KIT_BROKER_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/celery -A examples.deferred_app:celery_app worker --pool=solo -Q webhooks

Both import this module, so both build the same receivers on the same `CeleryDefer`: the web app
answers 202 once the broker has a delivery; the worker runs its handlers. Configuration, besides
that of ``examples/common.py`` (secrets, ``WEBHOOK_KIT_STORE``, ``WEBHOOK_KIT_EVENTS_DB``):

- ``WEBHOOK_KIT_BROKER_URL``: the Celery broker, ``redis://...`` or ``amqp://...`` (RabbitMQ,
  with publisher confirms turned on here);
- ``WEBHOOK_KIT_QUEUE``: the queue to publish to and consume from (default ``webhooks``);
- ``WEBHOOK_KIT_DEAD_LETTERS``: the SQLite file of dead letters (default ``dead-letters.sqlite3``).

Replay the dead letters, after fixing what made them fail::

    >>> from examples import deferred_app as d
    >>> d.replay(d.receivers, d.dead_letters)
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import flask
from celery import Celery
from examples.common import DEV_SECRETS, make_store, record

from webhook_kit import IdempotencyStore, Receiver, providers, replay
from webhook_kit.celery import CeleryDefer
from webhook_kit.deadletters import SQLiteDeadLetters
from webhook_kit.flask import webhook_blueprint
from webhook_kit.receiver import Defer

__all__ = ["make_app", "make_celery", "make_receivers", "replay"]

Handle = Callable[[str, Any], None]
"""A handler for every event of every provider: (provider name, event)."""


def make_celery(broker_url: str, *, queue: str = "webhooks") -> Celery:
    """A Celery app on `broker_url` set up for webhooks: JSON only, late acks, confirms."""
    celery = Celery("webhooks", broker=broker_url, set_as_current=False)
    celery.conf.update(
        task_default_queue=queue,
        accept_content=["json"],  # never unpickle what is on the broker
        task_serializer="json",
        task_acks_late=True,
        worker_prefetch_multiplier=1,  # with late acks, a worker holds one message at a time
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "confirm_publish": True,  # RabbitMQ: a publish returns once the broker has it
            "visibility_timeout": 3600,  # Redis: an unacknowledged message returns after this
            "socket_timeout": 2,  # Redis: a hung server cannot hold a request forever
            "socket_connect_timeout": 2,
        },
        broker_connection_timeout=2,
    )
    return celery


def make_receivers(
    defer: Defer | None,
    store: IdempotencyStore,
    *,
    handle: Handle = record,
    **options: Any,
) -> dict[str, Receiver]:
    """One receiver per provider on `defer` (None: inline), each passing events to `handle`."""
    receivers = {}
    for name, provider in providers.PROVIDERS.items():
        secret = os.environ.get(f"{name.upper()}_WEBHOOK_SECRET") or DEV_SECRETS[name]
        receiver = Receiver(provider, secret=secret, store=store, defer=defer, **options)

        def handler(event: Any, name: str = name) -> None:
            handle(name, event)

        for event_type in provider.event_types:
            receiver.on(event_type)(handler)
        receiver.on_unknown(handler)
        receivers[name] = receiver
    return receivers


def make_app(receivers: dict[str, Receiver]) -> flask.Flask:
    """A Flask app receiving every provider at ``/webhooks/<provider>``."""
    web = flask.Flask(__name__)
    web.register_blueprint(webhook_blueprint(receivers))
    return web


@functools.cache
def _from_environment() -> dict[str, Any]:
    celery = make_celery(
        os.environ.get("WEBHOOK_KIT_BROKER_URL", "redis://127.0.0.1:6379/0"),
        queue=os.environ.get("WEBHOOK_KIT_QUEUE", "webhooks"),
    )
    letters = SQLiteDeadLetters(os.environ.get("WEBHOOK_KIT_DEAD_LETTERS", "dead-letters.sqlite3"))
    deferred = CeleryDefer(celery, dead_letters=letters)
    made = make_receivers(deferred, make_store())
    return {
        "celery_app": celery,
        "dead_letters": letters,
        "defer": deferred,
        "receivers": made,
        "app": make_app(made),
    }


def __getattr__(name: str) -> Any:
    """`app`, `celery_app`, `receivers`, ...: built from the environment on first use.

    Importing the factories above therefore creates no app, file or connection.
    """
    if name in {"app", "celery_app", "dead_letters", "defer", "receivers"}:
        return _from_environment()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
