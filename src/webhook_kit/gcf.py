"""Google Cloud Functions integration: an HTTP function for functions-framework.

::

    # main.py, deployed with --entry-point webhook
    import os

    from webhook_kit import Receiver
    from webhook_kit.idempotency.redis import RedisStore
    from webhook_kit.gcf import webhook_function

    # Module level: built once per instance, at its cold start, reused by every request.
    receiver = Receiver(
        "struktr",
        secret=os.environ["STRUKTR_WEBHOOK_SECRET"],
        store=RedisStore(os.environ["REDIS_URL"]),
    )
    webhook = webhook_function(receiver)

Run it locally with ``functions-framework --target webhook --source main.py``. functions-framework
serves the function with Flask, and hands it each request as a ``flask.Request``; the function
answers through `webhook_kit.flask.webhook_view`, so everything that view promises holds: the raw
bytes are verified (never ``request.get_json()``), a declared Content-Length over the limit is
413 before the body is read (functions-framework, which reads the rest of every request once
it is answered, is kept from reading a refused one), and every method but POST is the
receiver's 405. As in Flask, give the receiver a synchronous store; coroutine handlers each run
to completion on their own event loop.

One function answers every path of its URL. Pass several receivers (or a URL segment ->
receiver mapping) to serve them from one function, each at the paths ending in its name
(``/webhooks/struktr``); another path is 404. A receiver with `TenantSecrets` is reached at
``/webhooks/<provider>/<tenant>``, the path's last segment being the tenant (with one receiver,
whatever comes before it), unless it reads the tenant from its `tenant_header`; a missing or
unknown tenant is answered like a wrong signature (401). Its lookup must be a plain function:
an ``async def`` one is refused, as by the Flask view.
"""

from __future__ import annotations

from collections.abc import Callable

try:
    import flask
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        "webhook_kit.gcf needs functions-framework (and its Flask), which is not installed: "
        "pip install 'webhook-kit[gcf]'"
    ) from exc

from ._adapters import Receivers, by_segment, check_sync
from ._serverless import NOT_FOUND, router
from .errors import PayloadTooLargeError
from .flask import webhook_view

__all__ = ["HttpFunction", "webhook_function"]

HttpFunction = Callable[[flask.Request], flask.Response]
"""An HTTP Cloud Function: a ``flask.Request`` in, a ``flask.Response`` out."""


def webhook_function(receivers: Receivers) -> HttpFunction:
    """Return an HTTP Cloud Function that runs each request through its receiver.

    `receivers` is one receiver, which answers every path, or several, each answering the paths
    whose last segment is its name (a tenant receiver: its name, then the tenant). Call it
    once, at module level, next to the receivers. Raises `TypeError` for a receiver with an
    async store or an async tenant lookup, as `webhook_view` does.
    """
    segments = by_segment(receivers)
    for receiver in segments.values():
        check_sync(receiver, "a Cloud Function (a Flask view)")
    route = router(segments)  # once: `receivers` may be an iterator
    views = {id(r): webhook_view(r, endpoint=s) for s, r in segments.items()}

    def webhook(request: flask.Request) -> flask.Response:
        found = route(request.path)
        if found is None:
            response: flask.Response = flask.current_app.response_class(
                NOT_FOUND.content(), status=NOT_FOUND.status, mimetype="application/json"
            )
            return response
        response = views[id(found.receiver)](tenant=found.tenant)
        if response.status_code == PayloadTooLargeError.status_code:
            return _unread(response)
        return response

    return webhook


def _unread(response: flask.Response) -> flask.Response:
    """`response` as a streamed one, so that functions-framework leaves the body unread.

    After every response that is not streamed, functions-framework reads the whole request
    body (its ``read_request`` hook): for a body refused as too large, that would read in
    exactly what the refusal was meant to spare.
    """
    content = response.get_data()
    streamed: flask.Response = flask.current_app.response_class(
        iter([content]), status=response.status_code, headers=response.headers
    )
    streamed.headers["Content-Length"] = str(len(content))
    return streamed
