"""AWS Lambda integration: one handler for API Gateway, Function URLs and load balancer targets.

::

    # app.py, deployed with the handler setting ``app.handler``
    import os

    from webhook_kit import Receiver
    from webhook_kit.idempotency.redis import RedisStore
    from webhook_kit.aws_lambda import webhook_handler

    # Module level: built once per container, at its cold start, reused by every invocation.
    receiver = Receiver(
        "struktr",
        secret=os.environ["STRUKTR_WEBHOOK_SECRET"],
        store=RedisStore(os.environ["REDIS_URL"]),
    )
    handler = webhook_handler(receiver)

The handler takes the four event shapes AWS documents, told apart by their fields: API Gateway
REST APIs (payload format 1.0, ``httpMethod``), HTTP APIs (format 2.0, ``requestContext.http``),
Lambda Function URLs (the 2.0 shape) and Application Load Balancer targets
(``requestContext.elb``). It answers in the shape its caller reads: ``statusCode``, ``headers``,
``body`` and ``isBase64Encoded``; a load balancer also gets ``statusDescription`` (``"409
Conflict"``), and a request that came with ``multiValueHeaders`` (REST APIs, load balancers with
multi-value headers on) is answered with ``multiValueHeaders``.

The body is verified as the bytes that were sent: a body marked ``isBase64Encoded`` is decoded
to them (400 ``malformed_request`` if it is not valid base64), a text body is encoded back to
the UTF-8 it was. It is never parsed and re-serialised first, the classic serverless bug that
makes every signature fail. A body over the receiver's `max_body_size` is 413. Header names are
matched whatever their case; a header sent several times is read as its values joined by commas,
as HTTP APIs pass it. An event of another kind (a queue message, a test event) is 400.

A receiver with `TenantSecrets` is reached at ``/webhooks/<provider>/<tenant>``: the path's
last segment is the tenant (with one receiver, whatever comes before it), unless the receiver
reads it from its `tenant_header`. A missing or unknown tenant is answered like a wrong
signature (401), never 404. Routing several receivers: see `webhook_handler`.

The handler is synchronous, as Lambda's Python runtime calls it. With a synchronous store (or
none) each invocation runs `Receiver.handle`, and coroutine handlers each run to completion on
an event loop of their own, as in Flask. With an async store (`AsyncRedisStore`) or an async
tenant lookup (``TenantSecrets(async_lookup)``) it runs `Receiver.handle_async` on one event
loop kept for the container's life, made at the first such invocation, so the store's (or the
lookup's) connections, which belong to that loop, serve every invocation; synchronous handlers
then run in worker threads. Invocations on that loop run one at a time, as Lambda gives a
container one invocation at a time anyway.

Importing this module loads no web framework, only the standard library and the receiver.
"""

from __future__ import annotations

import base64
import binascii
import inspect
import logging
import threading
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypeVar

from ._adapters import Receivers
from ._serverless import NOT_FOUND, router
from .errors import MalformedRequestError, PayloadTooLargeError, WebhookError
from .receiver import Outcome, Receiver

if TYPE_CHECKING:
    import asyncio

__all__ = ["LambdaHandler", "webhook_handler"]

logger = logging.getLogger("webhook_kit")

LambdaHandler: TypeAlias = Callable[[Mapping[str, Any], Any], dict[str, Any]]
"""A Lambda handler: ``handler(event, context)`` returning the response document."""

_Source = Literal["rest", "http", "alb"]
_T = TypeVar("_T")


@dataclass(frozen=True)
class _Request:
    """What the handler reads from an event before it knows the receiver."""

    source: _Source
    method: str
    path: str
    headers: dict[str, str]
    #: Whether the event carried ``multiValueHeaders``: the response then uses them too.
    multi_value: bool


def webhook_handler(receivers: Receivers) -> LambdaHandler:
    """Return a Lambda handler that runs each HTTP event through its receiver.

    `receivers` is one receiver, which answers every path, or several (or a URL segment ->
    receiver mapping), each answering the paths whose last segment is its name
    (``/webhooks/struktr``); another path is 404. A receiver with `TenantSecrets` answers the
    paths ending with its name and the tenant (``/webhooks/struktr/acme``; the last segment
    alone with one receiver), or its name alone if it has a `tenant_header`. Call it once, at
    module level, next to the receivers, so that they and their store are built once per
    container.
    """
    route = router(receivers)

    def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:  # noqa: ARG001
        try:
            request = _request(event)
        except MalformedRequestError as error:
            logger.warning("webhook event refused: %s", error)
            return _response("rest", False, _rejected(error))
        found = route(request.path)
        if found is None:
            outcome = NOT_FOUND
        elif request.method != "POST":  # never decode a body we are going to refuse
            receiver, tenant = found
            outcome = receiver.handle(b"", request.headers, method=request.method, tenant=tenant)
        else:
            receiver, tenant = found
            try:
                body = _body(event, receiver)
            except (PayloadTooLargeError, MalformedRequestError) as error:
                outcome = _refused(receiver, error)
            else:
                outcome = _handle(receiver, body, request.headers, tenant)
        return _response(request.source, request.multi_value, outcome)

    return handler


def _request(event: Mapping[str, Any]) -> _Request:
    """The source, method, path and headers of an HTTP event; `MalformedRequestError` if none."""
    if not isinstance(event, Mapping):
        raise MalformedRequestError(f"the event is a {type(event).__name__}, not a JSON object")
    context = event.get("requestContext")
    context = context if isinstance(context, Mapping) else {}
    http = context.get("http")
    source: _Source
    if "elb" in context:
        source, method, path = "alb", event.get("httpMethod"), event.get("path")
    elif event.get("version") == "2.0" and isinstance(http, Mapping):
        source, method, path = "http", http.get("method"), event.get("rawPath", http.get("path"))
    elif "httpMethod" in event:
        source, method, path = "rest", event.get("httpMethod"), event.get("path")
    else:
        raise MalformedRequestError(
            "not an API Gateway, Function URL or load balancer event: "
            "webhook_handler answers HTTP requests only"
        )
    if not isinstance(method, str) or not method:
        raise MalformedRequestError("the event names no HTTP method")
    headers, multi_value = _headers(event)
    return _Request(
        source, method.upper(), path if isinstance(path, str) else "/", headers, multi_value
    )


def _headers(event: Mapping[str, Any]) -> tuple[dict[str, str], bool]:
    """Headers by lower-case name, several values of one joined by commas; and if multi-valued."""
    multi = event.get("multiValueHeaders")
    values: dict[str, list[str]] = {}
    if multi is not None:
        if not isinstance(multi, Mapping):
            raise MalformedRequestError("the event's multiValueHeaders is not an object")
        for name, items in multi.items():
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise MalformedRequestError(f"the values of header {name!r} are not a text list")
            values.setdefault(str(name).lower(), []).extend(items)
    else:
        single = event.get("headers") or {}
        if not isinstance(single, Mapping):
            raise MalformedRequestError("the event's headers is not an object")
        for name, value in single.items():
            if not isinstance(value, str):
                raise MalformedRequestError(f"the value of header {name!r} is not text")
            values.setdefault(str(name).lower(), []).append(value)
    return {name: ",".join(items) for name, items in values.items()}, multi is not None


def _body(event: Mapping[str, Any], receiver: Receiver) -> bytes:
    """The body's bytes as sent: base64 decoded, or text encoded back to UTF-8; size-checked."""
    body = event.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise MalformedRequestError("the event's body is not text")
    if event.get("isBase64Encoded"):
        # Four base64 characters hold three bytes: refuse a body over the limit undecoded.
        receiver.check_size(len(body) // 4 * 3 - 2)
        try:
            data = base64.b64decode(body, validate=True)
            # Strictly: Python accepts stray padding, and ignores what follows a padded end.
            canonical = base64.b64encode(data).decode("ascii") == body
        except (binascii.Error, ValueError):
            canonical = False
        if not canonical:
            raise MalformedRequestError(
                "the body is marked isBase64Encoded but is not valid base64"
            )
    else:
        try:
            data = body.encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedRequestError("the body is not valid UTF-8 text") from None
    receiver.check_size(len(data))
    return data


def _handle(
    receiver: Receiver, body: bytes, headers: Mapping[str, str], tenant: str | None
) -> Outcome:
    """`Receiver.handle`, or `handle_async` on the container's loop for an async store or
    tenant lookup (neither can be awaited by `handle`)."""
    store = receiver.store
    async_store = store is not None and inspect.iscoroutinefunction(store.claim)
    if async_store or (receiver.tenants is not None and receiver.tenants.is_async):
        return _LOOP.run(receiver.handle_async(body, headers, tenant=tenant))
    return receiver.handle(body, headers, tenant=tenant)


class _ContainerLoop:
    """One event loop for the container's life, made when first needed; one run at a time."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                import asyncio  # noqa: PLC0415 - only async stores need it: not at cold start

                self._loop = asyncio.new_event_loop()
            return self._loop.run_until_complete(coroutine)


_LOOP = _ContainerLoop()


def _rejected(error: WebhookError) -> Outcome:
    return Outcome(error.status_code, {"error": error.code, "message": str(error)})


def _refused(receiver: Receiver, error: WebhookError) -> Outcome:
    """The outcome of a body refused before it reached the receiver, logged like the others."""
    logger.info(
        "webhook provider=%s event=None key=None outcome=%s status=%d",
        receiver.provider.name,
        error.code,
        error.status_code,
    )
    return _rejected(error)


def _response(source: _Source, multi_value: bool, outcome: Outcome) -> dict[str, Any]:
    """The response document `source` reads: status, headers, the JSON body as text."""
    headers = {"Content-Type": "application/json", **outcome.headers}
    response: dict[str, Any] = {"statusCode": outcome.status}
    if source == "alb":
        try:
            phrase = HTTPStatus(outcome.status).phrase
        except ValueError:  # pragma: no cover - the receiver answers standard codes only
            phrase = ""
        response["statusDescription"] = f"{outcome.status} {phrase}".strip()
    if multi_value:
        response["multiValueHeaders"] = {name: [value] for name, value in headers.items()}
    else:
        response["headers"] = headers
    response["body"] = outcome.content().decode()
    response["isBase64Encoded"] = False
    return response
