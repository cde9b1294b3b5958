"""Django integration: a view per receiver, URL patterns for several, and a database store.

::

    # urls.py
    from webhook_kit.django import webhook_urls

    urlpatterns = [*webhook_urls([struktr_receiver, pulse_receiver])]  # POST /webhooks/struktr

A receiver with `TenantSecrets` is routed at ``webhooks/<name>/<tenant>``, and its view passes
the ``tenant`` URL argument on (unless the receiver reads it from its `tenant_header`).

`webhook_view` runs the whole pipeline with `Receiver.handle` (`async_webhook_view` awaits
`Receiver.handle_async`, for ASGI) and answers with the outcome's status, JSON body and headers.
The view is exempt from CSRF checks (a provider has no CSRF token: the signature is the proof),
runs outside ``ATOMIC_REQUESTS`` transactions (a claim must be visible to concurrent retries at
once), and accepts every method so that the receiver, not Django, answers 405 to all but POST.

Bodies are read as raw bytes from the request stream, never through ``request.body``, so Django's
``DATA_UPLOAD_MAX_MEMORY_SIZE`` (2.5 MB) does not apply: the receiver's ``max_body_size`` does. A
declared Content-Length over it is refused (413) before anything is read; a body without one
(chunked, de-chunked by the WSGI server) is read only up to one byte past the limit. Under ASGI,
Django buffers the whole body before any view runs: bound it at the server or proxy too.

Each view's receiver sends `webhook_kit.django.signals.delivery_processed`.

Add ``"webhook_kit.django"`` to ``INSTALLED_APPS`` only for its models: the idempotency store
(`webhook_kit.django.store.DjangoStore`) and the dead letters
(`webhook_kit.django.deadletters.DjangoDeadLetters`) in your own database, with their admin and
management commands; the views need no app.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

try:
    from django.http import HttpRequest, HttpResponse  # type: ignore[import-untyped]
    from django.urls import URLPattern, re_path  # type: ignore[import-untyped]
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        "webhook_kit.django needs Django, which is not installed: pip install 'webhook-kit[django]'"
    ) from exc

from .._adapters import Receivers, by_segment, check_sync, content_length, refused, tenant_route
from ..errors import PayloadTooLargeError
from ..receiver import Outcome, Receiver
from .signals import send_signals

__all__ = ["async_webhook_view", "webhook_urls", "webhook_view"]

_CHUNK = 64 * 1024

View = Callable[..., HttpResponse]
"""A synchronous Django view."""

AsyncView = Callable[..., Awaitable[HttpResponse]]
"""A coroutine Django view (Django runs it on the event loop under ASGI)."""


_V = TypeVar("_V", bound=Callable[..., Any])


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def webhook_view(receiver: Receiver) -> View:
    """Return a synchronous Django view that runs each request through `receiver`.

    Route it with ``path("hooks/struktr", webhook_view(receiver))``; its ``__name__`` is
    ``struktr_webhook``. Give the receiver a synchronous store (`SQLiteStore`, `RedisStore`,
    `SQLStore`, `DjangoStore`); async handlers are fine, each runs on its own event loop.
    For a receiver with `TenantSecrets`, route it with a ``tenant`` argument
    (``path("hooks/struktr/<tenant>", ...)``): the view passes it to `Receiver.handle`.
    """
    check_sync(receiver, "webhook_view (use async_webhook_view)")
    send_signals(receiver)

    def view(request: HttpRequest, tenant: str | None = None) -> HttpResponse:
        if request.method != "POST":  # never read a body we are going to refuse
            outcome = receiver.handle(b"", request.headers, method=request.method, tenant=tenant)
            return _response(outcome)
        try:
            body = _read_body(receiver, request)
        except PayloadTooLargeError as error:
            return _response(refused(receiver, error))
        return _response(receiver.handle(body, request.headers, tenant=tenant))

    return _exempt(view, receiver)


def async_webhook_view(receiver: Receiver) -> AsyncView:
    """Return a coroutine Django view that awaits `Receiver.handle_async` for each request.

    Use it under ASGI: async stores (`AsyncRedisStore`) and async handlers are awaited on the
    server's event loop; synchronous stores and handlers run in worker threads.
    """
    send_signals(receiver)

    async def view(request: HttpRequest, tenant: str | None = None) -> HttpResponse:
        if request.method != "POST":
            outcome = await receiver.handle_async(
                b"", request.headers, method=request.method, tenant=tenant
            )
            return _response(outcome)
        try:
            body = _read_body(receiver, request)  # ASGI: Django has buffered the body already
        except PayloadTooLargeError as error:
            return _response(refused(receiver, error))
        return _response(await receiver.handle_async(body, request.headers, tenant=tenant))

    return _exempt(view, receiver)


def webhook_urls(
    receivers: Receivers,
    prefix: str = "webhooks/",
    *,
    asynchronous: bool = False,
) -> list[URLPattern]:
    """Return one route per receiver, at ``<prefix><segment>``, named ``webhooks-<segment>``.

    `receivers` is one receiver, several (each at its provider's name: ``webhooks/struktr``), or
    a mapping from URL segment to receiver; ``reverse("webhooks-struktr")`` finds a route. With
    ``asynchronous=True`` the routes use `async_webhook_view`, otherwise `webhook_view`.

    Each route matches with or without a trailing slash (``webhooks/struktr/`` too): a URL
    configured either way at the provider reaches the view, and ``APPEND_SLASH`` never redirects
    a delivery (a redirected POST loses its body). `prefix` and the segments are literal text.

    A receiver with `TenantSecrets` is at ``<prefix><segment>/<tenant>`` instead (unless it
    reads the tenant from its `tenant_header`): ``reverse("webhooks-struktr", args=["acme"])``.
    """
    make: Callable[[Receiver], Callable[..., Any]] = (
        async_webhook_view if asynchronous else webhook_view
    )
    return [
        re_path(
            rf"^{re.escape(prefix)}{re.escape(segment)}{_tenant(receiver)}/?\Z",
            make(receiver),
            name=f"webhooks-{segment}",
        )
        for segment, receiver in by_segment(receivers).items()
    ]


# Any segment: the receiver, not the URL resolver, refuses what is not a tenant id (with a 401
# like an unknown tenant's, so no answer tells ids that exist from ids that cannot).
def _tenant(receiver: Receiver) -> str:
    return "/(?P<tenant>[^/]+)" if tenant_route(receiver) else ""


def _exempt(function: _V, receiver: Receiver) -> _V:
    """Name `function` after the provider, exempt it from CSRF checks and request transactions."""
    view: Any = function
    view.__name__ = view.__qualname__ = f"{receiver.provider.name}_webhook"
    view.__doc__ = f"Receive {receiver.provider.title} webhooks."
    # What `csrf_exempt` and `transaction.non_atomic_requests` set, for every database alias,
    # without their wrappers (which hide a coroutine view on Django 4.2) or reading settings.
    view.csrf_exempt = True
    view._non_atomic_requests = _EveryAlias()
    return function


class _EveryAlias(set[str]):
    """The aliases whose ``ATOMIC_REQUESTS`` Django skips for a view: all, even ones added later."""

    def __contains__(self, alias: object) -> bool:
        return True


def _read_body(receiver: Receiver, request: HttpRequest) -> bytes:
    """The raw body, refused (`PayloadTooLargeError`) once it is known to be over the limit."""
    declared = content_length(request.META.get("CONTENT_LENGTH"))
    receiver.check_size(declared)  # declared too large: refuse before reading
    limit = receiver.max_body_size
    if hasattr(request, "_body"):  # a middleware read ``request.body`` before us
        body: bytes = request.body
        if len(body) > limit:
            raise PayloadTooLargeError(limit)
        return body
    # Without a Content-Length Django's WSGI stream reads nothing; a server that de-chunked the
    # body says so with ``wsgi.input_terminated``, and its input ends where the body does.
    stream: _Readable = request
    if declared is None and request.META.get("wsgi.input_terminated"):
        stream = request.META["wsgi.input"]
    # `HttpRequest.read` skips ``DATA_UPLOAD_MAX_MEMORY_SIZE``; stop one byte past our limit.
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


def _response(outcome: Outcome) -> HttpResponse:
    return HttpResponse(
        outcome.content(),
        status=outcome.status,
        headers=dict(outcome.headers),
        content_type="application/json",
    )
