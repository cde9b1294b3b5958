"""A local receiver on the standard library's threaded HTTP server: no web framework needed.

`ReceiverServer` puts one `Receiver` per provider at ``/webhooks/<provider>`` and reports every
request it answered as a `Delivered` record (to a callback, and in `deliveries`)::

    from webhook_kit.cli.server import ReceiverServer, make_receivers

    receivers = make_receivers({"struktr": "test-secret"}, store=None)
    with ReceiverServer(receivers, port=0) as server:  # port 0: a free port
        print(server.endpoint("struktr"))  # http://127.0.0.1:<port>/webhooks/struktr

It is what ``webhook-kit serve`` and the demo run. It is meant for development and tests: in
production, mount a `Receiver` in your web framework with its adapter.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, cast

from ..errors import PayloadTooLargeError
from ..events import InvalidEvent, UnknownEvent
from ..idempotency import IdempotencyStore
from ..providers import get
from ..receiver import Outcome, Receiver
from ..signatures import Secret

__all__ = ["Delivered", "ReceiverServer", "key_fields", "make_receivers"]

_PREFIX = "/webhooks/"
_MAX_FIELDS = 3
_MAX_VALUE = 40


@dataclass(frozen=True)
class Delivered:
    """One request the server answered: where it went, what came back, what the handlers saw."""

    #: The provider the path named, or None for a path with no receiver.
    provider: str | None
    method: str
    path: str
    #: The HTTP status of the reply.
    status: int
    #: ``"processed"``, ``"duplicate"`` or the error code (``"signature_mismatch"``, ...).
    result: str
    #: The event type of the parsed body, if it got that far.
    event_type: str | None
    #: A few identifying fields of the event (``{"id": "doc_abc123", "status": "completed"}``).
    fields: Mapping[str, str]
    #: The event types the handlers received for this request: empty if no handler ran.
    handled: tuple[str, ...]
    #: The error message of a 4xx reply.
    message: str | None
    #: When the reply was sent (local time).
    at: datetime


def key_fields(event: Any) -> dict[str, str]:
    """Return up to three identifying fields of `event`: ids and the status, top level first."""
    if isinstance(event, UnknownEvent | InvalidEvent):
        payload: Any = event.payload
    elif hasattr(event, "model_dump"):
        payload = event.model_dump(mode="json")
    else:
        return {}
    scopes = [payload, payload.get("data")] if isinstance(payload, dict) else []
    found: dict[str, str] = {}
    for scope in scopes:
        if not isinstance(scope, dict):
            continue
        for name, value in scope.items():
            wanted = name in ("id", "status") or name.endswith("_id")
            if wanted and isinstance(value, str | int | float) and not isinstance(value, bool):
                found.setdefault(str(name), str(value)[:_MAX_VALUE])
    return dict(list(found.items())[:_MAX_FIELDS])


def make_receivers(
    secrets: Mapping[str, Secret | Sequence[Secret]],
    *,
    store: IdempotencyStore | None,
) -> dict[str, Receiver]:
    """One `Receiver` per provider named in `secrets`, sharing `store`, with no handler yet.

    `ReceiverServer` registers its own recording handler on each; add yours with `Receiver.on`.
    """
    return {
        get(name).name: Receiver(name, secret=secret, store=store)
        for name, secret in secrets.items()
    }


class ReceiverServer:
    """A threaded HTTP server answering ``POST /webhooks/<provider>`` with that provider's receiver.

    Each receiver gets a handler for every event type (and for unknown ones) that records which
    events the handlers saw, so each `Delivered` says whether the delivery was handled. Binds
    127.0.0.1 by default; ``port=0`` picks a free port (read it back from `port` or `url`).
    """

    def __init__(
        self,
        receivers: Mapping[str, Receiver],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        on_delivery: Callable[[Delivered], None] | None = None,
    ) -> None:
        if not receivers:
            raise ValueError("ReceiverServer needs at least one receiver")
        self.receivers = dict(receivers)
        self.on_delivery = on_delivery
        self.deliveries: list[Delivered] = []
        self._seen = threading.local()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        for receiver in self.receivers.values():
            for event_type in receiver.provider.event_types:
                receiver.on(event_type)(self._record)
            receiver.on_unknown(self._record)
        self._httpd = _HTTPServer((host, port), _RequestHandler)
        self._httpd.app = self

    def __repr__(self) -> str:
        return f"ReceiverServer({self.url!r}, providers={sorted(self.receivers)!r})"

    @property
    def host(self) -> str:
        """The address the server is bound to."""
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        """The port the server listens on (the one picked, when created with ``port=0``)."""
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The base URL, ``http://127.0.0.1:<port>``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def endpoint(self, provider: str) -> str:
        """The URL that receives `provider`'s deliveries."""
        return f"{self.url}{_PREFIX}{get(provider).name}"

    # Running

    def serve_forever(self) -> None:
        """Answer requests in this thread until `shutdown` is called from another one."""
        self._httpd.serve_forever(poll_interval=0.1)

    def start(self) -> ReceiverServer:
        """Answer requests in a background thread; return self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self.serve_forever, name="webhook-kit-server", daemon=True
            )
            self._thread.start()
        return self

    def shutdown(self) -> None:
        """Stop answering, wait for the serving thread, and close the socket."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> ReceiverServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.shutdown()

    # Per request

    def _record(self, event: Any) -> None:
        seen: list[str] | None = getattr(self._seen, "events", None)
        if seen is not None:
            seen.append(str(event.event_type))

    @contextmanager
    def _watching(self) -> Iterator[list[str]]:
        seen: list[str] = []
        self._seen.events = seen
        try:
            yield seen
        finally:
            self._seen.events = None

    def answer(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Outcome:
        """Run one request through the receiver its path names, report it, return the outcome."""
        name = path.split("?", 1)[0].removeprefix(_PREFIX) if path.startswith(_PREFIX) else None
        receiver = self.receivers.get(name) if name is not None else None
        handled: list[str] = []
        if receiver is None:
            known = ", ".join(_PREFIX + provider for provider in self.receivers)
            outcome = Outcome(404, {"error": "not_found", "message": f"receivers are at: {known}"})
        else:
            with self._watching() as handled:
                outcome = receiver.handle(body, headers, method=method)
        self._report(name if receiver is not None else None, method, path, outcome, handled)
        return outcome

    def _report(
        self,
        provider: str | None,
        method: str,
        path: str,
        outcome: Outcome,
        handled: list[str],
    ) -> None:
        event = outcome.event
        result = outcome.body.get("status") or outcome.body.get("error") or ""
        message = outcome.body.get("message")
        delivered = Delivered(
            provider=provider,
            method=method,
            path=path,
            status=outcome.status,
            result=str(result),
            event_type=None if event is None else event.event_type,
            fields=key_fields(event) if event is not None else {},
            handled=tuple(handled),
            message=None if message is None else str(message),
            at=datetime.now(),
        )
        with self._lock:
            self.deliveries.append(delivered)
            if self.on_delivery is not None:
                self.on_delivery(delivered)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    app: ReceiverServer


class _RequestHandler(BaseHTTPRequestHandler):
    server_version = "webhook-kit"
    error_content_type = "application/json"
    error_message_format = '{"error": "bad_request", "message": "%(message)s"}'

    def do_POST(self) -> None:
        self._answer("POST")

    def do_GET(self) -> None:
        self._answer("GET")

    def do_PUT(self) -> None:
        self._answer("PUT")

    def do_PATCH(self) -> None:
        self._answer("PATCH")

    def do_DELETE(self) -> None:
        self._answer("DELETE")

    def _answer(self, method: str) -> None:
        app = cast("_HTTPServer", self.server).app
        declared = self.headers.get("Content-Length")
        try:
            length = int(declared) if declared else 0
        except ValueError:
            length = -1
        if length < 0:
            self._send(Outcome(400, {"error": "bad_request", "message": "invalid Content-Length"}))
            return
        name = self.path.removeprefix(_PREFIX).split("?", 1)[0]
        receiver = app.receivers.get(name)
        if receiver is not None and length > receiver.max_body_size:
            error = PayloadTooLargeError(receiver.max_body_size)
            outcome = Outcome(413, {"error": error.code, "message": str(error)})
            app._report(name, method, self.path, outcome, [])  # its own server
            self._send(outcome)
            self.close_connection = True  # the body is left unread
            return
        body = self.rfile.read(length) if length else b""
        headers = dict(self.headers.items())
        self._send(app.answer(method, self.path, headers, body))

    def _send(self, outcome: Outcome) -> None:
        content = outcome.content()
        self.send_response(outcome.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(content)))
        for name, value in outcome.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the server reports each request through `Delivered` instead."""
