"""Flask integration: a view per receiver, and a blueprint for several at ``/webhooks/<name>``.

::

    from flask import Flask
    from webhook_kit.flask import webhook_blueprint

    app = Flask(__name__)
    app.register_blueprint(webhook_blueprint({"struktr": receiver}))  # POST /webhooks/struktr

A receiver with `TenantSecrets` is routed at ``/webhooks/<name>/<tenant>``, and its view passes
the ``tenant`` URL variable on (unless the receiver reads it from its `tenant_header`).

The view runs the whole pipeline with `Receiver.handle` and answers with the outcome's status,
JSON body and headers. It reads the raw bytes (never `request.json`, which would re-serialise
them), refuses a declared Content-Length over the receiver's limit before reading anything, and
reads a body without one (chunked) only up to one byte past the limit. It accepts every standard
method so that the receiver, not Flask's HTML page, answers 405 to anything but POST.

Flask views are synchronous: give the receiver a synchronous store (`SQLiteStore`, `RedisStore`,
`SQLStore`). Async handlers are fine; each runs to completion on its own event loop.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable

try:
    import flask
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        "webhook_kit.flask needs Flask, which is not installed: pip install 'webhook-kit[flask]'"
    ) from exc

from ._adapters import METHODS, Receivers, by_segment, check_sync, refused, tenant_route
from .errors import PayloadTooLargeError
from .receiver import Outcome, Receiver

__all__ = ["METHODS", "webhook_blueprint", "webhook_view"]

_CHUNK = 64 * 1024

View = Callable[..., flask.Response]

_views_made: Counter[str] = Counter()  # default view names handed out, per provider
_views_lock = threading.Lock()


def webhook_view(receiver: Receiver, *, endpoint: str | None = None) -> View:
    """Return a Flask view function that runs each request through `receiver`.

    The function carries its `methods` (every one in `METHODS`) and its ``__name__``, which Flask
    takes as the endpoint, so ``app.add_url_rule("/hooks/struktr", view_func=view)`` is enough.
    The name is `endpoint` if given; otherwise it is unique in the process, so that views of two
    receivers for one provider (two tenants) coexist: ``struktr_webhook`` for the first view of
    a provider, then ``struktr_webhook_2``, and so on. Pass `endpoint` to ``url_for`` a view.

    For a receiver with `TenantSecrets`, route it with a ``<tenant>`` variable
    (``/hooks/struktr/<tenant>``): the view passes it to `Receiver.handle`.
    """
    if endpoint == "":
        raise ValueError("endpoint must be a non-empty name, e.g. 'acme_struktr_webhook'")
    check_sync(receiver, "a Flask view")

    def view(tenant: str | None = None) -> flask.Response:
        request = flask.request
        if request.method != "POST":  # never read a body we are going to refuse
            outcome = receiver.handle(b"", request.headers, method=request.method, tenant=tenant)
            return _response(outcome)
        try:
            body = _read_body(receiver, request)
        except PayloadTooLargeError as error:
            return _response(refused(receiver, error))
        return _response(receiver.handle(body, request.headers, tenant=tenant))

    view.__name__ = view.__qualname__ = endpoint or _default_name(receiver.provider.name)
    view.__doc__ = f"Receive {receiver.provider.title} webhooks."
    view.methods = list(METHODS)  # type: ignore[attr-defined]
    view.provide_automatic_options = False  # type: ignore[attr-defined]
    return view


def webhook_blueprint(
    receivers: Receivers,
    *,
    name: str | None = None,
    url_prefix: str = "/webhooks",
) -> flask.Blueprint:
    """Return a blueprint with one route per receiver, at ``<url_prefix>/<segment>``.

    A receiver with `TenantSecrets` is at ``<url_prefix>/<segment>/<tenant>`` instead (unless
    it reads the tenant from its `tenant_header`): ``url_for("webhooks.struktr", tenant="acme")``.

    `receivers` is one receiver, several (each at its provider's name: ``/webhooks/struktr``),
    or a mapping from URL segment to receiver. Each route's endpoint is ``<name>.<segment>``,
    so ``url_for("webhooks.struktr")`` finds it; unknown segments are Flask's usual 404.

    The blueprint's `name` defaults to the URL prefix as a name (``webhooks`` for
    ``/webhooks``, ``acme_webhooks`` for ``/acme/webhooks``), so blueprints at different
    prefixes, such as one per tenant for the same provider, register side by side.
    """
    if name is None:
        name = re.sub(r"[^0-9A-Za-z_-]+", "_", url_prefix).strip("_") or "webhooks"
    blueprint = flask.Blueprint(name, __name__, url_prefix=url_prefix)
    for segment, receiver in by_segment(receivers).items():
        view = webhook_view(receiver, endpoint=segment)
        rule = f"/{segment}/<tenant>" if tenant_route(receiver) else f"/{segment}"
        blueprint.add_url_rule(rule, endpoint=segment, view_func=view)
    return blueprint


def _default_name(provider: str) -> str:
    """``<provider>_webhook`` the first time, then ``<provider>_webhook_2``, ``_3``, ..."""
    with _views_lock:
        _views_made[provider] += 1
        count = _views_made[provider]
    return f"{provider}_webhook" if count == 1 else f"{provider}_webhook_{count}"


def _read_body(receiver: Receiver, request: flask.Request) -> bytes:
    """The raw body, refused (`PayloadTooLargeError`) once it is known to be over the limit."""
    receiver.check_size(request.content_length)  # declared too large: refuse before reading
    if request.content_length is not None:
        return request.get_data(cache=False)
    # No Content-Length (chunked): stop one byte past the limit rather than read it all.
    limit = receiver.max_body_size
    stream = request.stream
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = stream.read(min(_CHUNK, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise PayloadTooLargeError(limit)
    return b"".join(chunks)


def _response(outcome: Outcome) -> flask.Response:
    response: flask.Response = flask.current_app.response_class(
        outcome.content(),
        status=outcome.status,
        headers=dict(outcome.headers),
        mimetype="application/json",
    )
    return response
