"""What the framework adapters promise beyond the receiver contract in `test_receiver.py`.

Raw bodies, streamed and declared sizes, the missing-framework message, FastAPI's OpenAPI
document and `verified_event` dependency, and Flask's endpoint names and store check. Streams are
driven through each framework's own server interface (WSGI environ, ASGI scope), so what the
app reads is observable.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import flask
import httpx
import pytest
from aiohttp import web
from fastapi import Depends, FastAPI, Request
from litestar import Litestar
from starlette.applications import Starlette
from werkzeug.test import EnvironBuilder, run_wsgi_app

from tests.clients.fastapi import request as fastapi_request
from tests.receiving import CLIENTS, SECRETS
from webhook_kit import MemoryStore, Receiver, TenantSecrets, providers, testing
from webhook_kit.aiohttp import webhook_routes as webhook_routes_aiohttp
from webhook_kit.deadletters import SQLiteDeadLetters
from webhook_kit.deadletters.sql import SQLDeadLetters
from webhook_kit.fastapi import openapi_request_body, verified_event, webhook_router
from webhook_kit.flask import webhook_blueprint, webhook_view
from webhook_kit.idempotency import AsyncThreadedStore
from webhook_kit.litestar import webhook_handlers
from webhook_kit.litestar import webhook_router as webhook_router_litestar
from webhook_kit.starlette import webhook_app, webhook_routes

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 4096
FIRST_EVENT = {name: testing.event_types(name)[0] for name in providers.PROVIDERS}


# Raw-body integrity, through every client


def _odd_key_order(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _odd_key_order(node[key]) for key in reversed(list(node))}
    if isinstance(node, list):
        return [_odd_key_order(item) for item in node]
    return node


def _with_note(payload: dict[str, Any], note: str) -> dict[str, Any]:
    return payload | {"note": note}


#: name -> (raw body from a sample, the value the handler must see in the extra field "note")
ODD_BODIES: dict[str, Callable[[dict[str, Any]], tuple[bytes, str]]] = {
    "spacing": lambda p: (
        json.dumps(_with_note(p, "x"), indent=3, separators=(" ,  ", " :\t")).encode() + b"\n",
        "x",
    ),
    "key-order": lambda p: (json.dumps(_odd_key_order(_with_note(p, "y"))).encode(), "y"),
    "non-ascii": lambda p: (
        json.dumps(_with_note(p, "Grüße — ñ 漢字 🎉"), ensure_ascii=False).encode(),
        "Grüße — ñ 漢字 🎉",
    ),
    "escaped": lambda p: (json.dumps(_with_note(p, "é ☃")).encode(), "é ☃"),
    "decimal": lambda p: (
        json.dumps(_with_note(p, "1547.50")).encode()[:-1] + b', "amount": 1547.50}',
        "1547.50",
    ),
}


@pytest.mark.parametrize("client", list(CLIENTS))
@pytest.mark.parametrize("variant", list(ODD_BODIES))
@pytest.mark.parametrize("provider", list(providers.PROVIDERS))
def test_raw_body_that_reserialises_differently_verifies(
    client: str, variant: str, provider: str
) -> None:
    """A signed body that JSON would re-serialise differently is verified as received: 200."""
    body, note = ODD_BODIES[variant](testing.sample(provider, FIRST_EVENT[provider]))
    # An adapter that verified a re-serialisation (JSON.stringify's form here) would fail.
    assert json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False) != body.decode()
    receiver = Receiver(provider, secret=SECRETS[provider], store=MemoryStore())
    seen: list[Any] = []
    receiver.on(FIRST_EVENT[provider])(seen.append)
    reply = CLIENTS[client](receiver)(*testing.signed_delivery(provider, SECRETS[provider], body))
    assert (reply.status, reply.body) == (200, {"status": "processed"})
    [event] = seen
    assert event.model_extra["note"] == note


@pytest.mark.parametrize("client", list(CLIENTS))
@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"])
def test_every_method_but_post_is_answered_405_by_the_receiver(client: str, method: str) -> None:
    """No framework answers a method itself (Litestar's automatic OPTIONS included): JSON 405."""
    receiver = Receiver("struktr", secret=SECRETS["struktr"], store=MemoryStore())
    reply = CLIENTS[client](receiver)(b"", {}, method)
    assert (reply.status, reply.headers.get("allow")) == (405, "POST")
    assert reply.body["error"] == "method_not_allowed"


# Streamed (chunked) and declared sizes, through each adapter's server interface


class Sent(NamedTuple):
    """What the app answered, and how many body chunks it pulled from the server."""

    status: int
    body: dict[str, Any]
    reads: int


#: Deliver `chunks` to the receiver's route with `headers`; `length` is the declared
#: Content-Length, or None to stream the body without one (chunked).
RawSend = Callable[[Receiver, list[bytes], Mapping[str, str], "int | None"], Sent]


class CountingInput(io.RawIOBase):
    """A WSGI input stream over `chunks` that counts the reads which returned body bytes."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.pending = list(chunks)
        self.reads = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self.pending:
            return 0
        chunk = self.pending.pop(0)
        size = min(len(buffer), len(chunk))
        buffer[:size] = chunk[:size]
        if size < len(chunk):
            self.pending.insert(0, chunk[size:])
        self.reads += 1
        return size


def flask_send(
    receiver: Receiver, chunks: list[bytes], headers: Mapping[str, str], length: int | None
) -> Sent:
    """The Flask blueprint, called as gunicorn calls it (chunked: ``wsgi.input_terminated``)."""
    app = flask.Flask(__name__)
    app.register_blueprint(webhook_blueprint(receiver))
    stream = CountingInput(chunks)
    environ = EnvironBuilder(
        path=f"/webhooks/{receiver.provider.name}", method="POST", headers=dict(headers)
    ).get_environ()
    environ["wsgi.input"] = io.BufferedReader(stream, 1024)
    environ.pop("CONTENT_LENGTH", None)
    if length is None:
        environ["wsgi.input_terminated"] = True
    else:
        environ["CONTENT_LENGTH"] = str(length)
    app_iter, status, _ = run_wsgi_app(app, environ, buffered=True)
    content = b"".join(app_iter)
    return Sent(int(status.split()[0]), json.loads(content), stream.reads)


def asgi_send(
    app: Any, path: str, chunks: list[bytes], headers: Mapping[str, str], length: int | None
) -> Sent:
    """Call an ASGI `app` as uvicorn calls it (chunked: no content-length header)."""
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    if length is None:
        raw_headers.append((b"transfer-encoding", b"chunked"))
    else:
        raw_headers.append((b"content-length", str(length).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": raw_headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    pending = list(chunks)
    reads = 0
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal reads
        if not pending:
            return {"type": "http.disconnect"}
        reads += 1
        return {"type": "http.request", "body": pending.pop(0), "more_body": bool(pending)}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    asyncio.run(app(scope, receive, send))
    [start] = [m for m in messages if m["type"] == "http.response.start"]
    content = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return Sent(start["status"], json.loads(content), reads)


def fastapi_send(
    receiver: Receiver, chunks: list[bytes], headers: Mapping[str, str], length: int | None
) -> Sent:
    """The FastAPI router, called as uvicorn calls it."""
    app = FastAPI()
    app.include_router(webhook_router(receiver))
    return asgi_send(app, f"/webhooks/{receiver.provider.name}", chunks, headers, length)


def starlette_send(
    receiver: Receiver, chunks: list[bytes], headers: Mapping[str, str], length: int | None
) -> Sent:
    """The Starlette routes, called as uvicorn calls them."""
    app = Starlette(routes=webhook_routes(receiver))
    return asgi_send(app, f"/webhooks/{receiver.provider.name}", chunks, headers, length)


def litestar_send(
    receiver: Receiver, chunks: list[bytes], headers: Mapping[str, str], length: int | None
) -> Sent:
    """The Litestar router, called as uvicorn calls it."""
    app = Litestar([webhook_router_litestar(receiver)], logging_config=None)
    return asgi_send(app, f"/webhooks/{receiver.provider.name}", chunks, headers, length)


@contextlib.asynccontextmanager
async def aiohttp_served(app: web.Application) -> AsyncIterator[int]:
    """`app` under aiohttp's own server on a free loopback port, set up as `web.run_app` does
    (a handler whose sender hung up runs on, rather than being cancelled); yields the port."""
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


def aiohttp_send(
    receiver: Receiver, chunks: list[bytes], headers: Mapping[str, str], length: int | None
) -> Sent:
    """The aiohttp routes under aiohttp's own server, fed over a raw loopback socket.

    The chunks go out one at a time (chunked framing without `length`); once the bytes declared
    or sent pass the receiver's limit, the client waits for the answer before sending more, so
    `reads` counts the chunks the server had to receive before it answered.
    """
    limit = receiver.max_body_size

    async def run() -> Sent:
        app = web.Application()
        app.add_routes(webhook_routes_aiohttp(receiver))
        async with aiohttp_served(app) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            framing = (
                "Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}"
            )
            head = [f"POST /webhooks/{receiver.provider.name} HTTP/1.1", "Host: 127.0.0.1"]
            head += [f"{name}: {value}" for name, value in headers.items()]
            writer.write(("\r\n".join([*head, framing]) + "\r\n\r\n").encode())
            answer = asyncio.ensure_future(reader.readuntil(b"\r\n\r\n"))
            reads = sent = 0
            waited = False  # a server reading on past the limit is waited for once, not per chunk
            for chunk in chunks:
                if max(sent, length or 0) > limit and not waited:
                    waited = True
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(answer), timeout=10)
                if answer.done():
                    break
                writer.write(chunk if length is not None else b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
                reads, sent = reads + 1, sent + len(chunk)
            else:
                if length is None:
                    writer.write(b"0\r\n\r\n")
            status_line, *lines = (await answer).decode("latin-1").split("\r\n")
            fields = dict(line.lower().split(": ", 1) for line in lines if line)
            content = await reader.readexactly(int(fields["content-length"]))
            writer.close()
            await writer.wait_closed()  # else the server lingers, reading the body it refused
            return Sent(int(status_line.split()[1]), json.loads(content), reads)

    return asyncio.run(run())


RAW: dict[str, RawSend] = {
    "flask": flask_send,
    "fastapi": fastapi_send,
    "starlette": starlette_send,
    "aiohttp": aiohttp_send,
    "litestar": litestar_send,
}


@pytest.fixture(params=list(RAW))
def raw_send(request: pytest.FixtureRequest) -> RawSend:
    """Each installed adapter, driven through its framework's server interface."""
    return RAW[request.param]


def _imggo(receiver_log: list[Any]) -> Receiver:
    receiver = Receiver("imggo", secret=SECRETS["imggo"], store=MemoryStore(), max_body_size=LIMIT)
    receiver.on("job.completed")(receiver_log.append)
    return receiver


def _chunks(body: bytes, size: int = 1000) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


def test_chunked_body_under_the_limit_is_read_whole(raw_send: RawSend) -> None:
    """A body streamed in several chunks without Content-Length is read whole and processed."""
    seen: list[Any] = []
    payload = testing.sample("imggo", "job.completed") | {"pad": "p" * 2500}
    body, headers = testing.signed_delivery("imggo", SECRETS["imggo"], payload)
    assert len(_chunks(body)) >= 3
    sent = raw_send(_imggo(seen), _chunks(body), headers, None)
    assert (sent.status, sent.body) == (200, {"status": "processed"})
    assert len(seen) == 1


def test_chunked_body_over_the_limit_is_413(raw_send: RawSend) -> None:
    """A body streamed without Content-Length is refused with 413 once it passes the limit."""
    seen: list[Any] = []
    payload = testing.sample("imggo", "job.completed") | {"pad": "p" * (LIMIT * 4)}
    body, headers = testing.signed_delivery("imggo", SECRETS["imggo"], payload)
    chunks = _chunks(body)
    sent = raw_send(_imggo(seen), chunks, headers, None)
    assert (sent.status, sent.body["error"]) == (413, "payload_too_large")
    assert sent.reads < len(chunks)  # it stopped reading past the limit
    assert not seen


def test_declared_length_over_the_limit_is_refused_before_reading(raw_send: RawSend) -> None:
    """A Content-Length over the limit is 413 without a single body read."""
    seen: list[Any] = []
    body, headers = testing.signed_delivery("imggo", SECRETS["imggo"], b"{" + b" " * LIMIT + b"}")
    sent = raw_send(_imggo(seen), _chunks(body), headers, len(body))
    assert (sent.status, sent.body["error"], sent.reads) == (413, "payload_too_large", 0)
    assert not seen


# The message when a framework is missing

_BLOCKED_IMPORT = """
import sys

class Missing:
    def find_spec(self, name, path=None, target=None):
        if name == {framework!r} or name.startswith({framework!r} + "."):
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, Missing())
import webhook_kit  # the root never needs a framework
try:
    import webhook_kit.{module}
except ImportError as exc:
    print(exc)
else:
    print("imported")
"""


@pytest.mark.parametrize(
    ("module", "framework", "extra"),
    [
        ("flask", "flask", "flask"),
        ("fastapi", "fastapi", "fastapi"),
        ("starlette", "starlette", "starlette"),
        ("aiohttp", "aiohttp", "aiohttp"),
        ("litestar", "litestar", "litestar"),
    ],
)
def test_missing_framework_names_the_extra(module: str, framework: str, extra: str) -> None:
    """Importing an adapter without its framework raises ImportError naming the extra."""
    code = _BLOCKED_IMPORT.format(framework=framework, module=module)
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert f"pip install 'webhook-kit[{extra}]'" in result.stdout, result.stdout


# FastAPI: the OpenAPI document and the verified_event dependency


def _walk(node: Any) -> Iterator[Any]:
    yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for child in children:
        yield from _walk(child)


def test_openapi_request_body_is_each_providers_event_union() -> None:
    """The OpenAPI document builds, and each route's body lists every event type of its provider."""
    app = FastAPI()
    app.include_router(
        webhook_router([Receiver(name, secret=SECRETS[name]) for name in providers.PROVIDERS])
    )
    document = app.openapi()
    for name, provider in providers.PROVIDERS.items():
        operations = document["paths"][f"/webhooks/{name}"]
        assert list(operations) == ["post"]  # the 405 methods stay out of the document
        schema = operations["post"]["requestBody"]["content"]["application/json"]["schema"]
        variants = schema.get("oneOf", [schema])
        type_field = next(iter(provider.event_types.values())).type_field
        listed = {variant["properties"][type_field]["const"] for variant in variants}
        assert listed == set(provider.event_types), name
    refs = {n["$ref"] for n in _walk(document) if isinstance(n, dict) and "$ref" in n}
    schemas = document.get("components", {}).get("schemas", {})
    assert {ref.removeprefix("#/components/schemas/") for ref in refs} <= set(schemas)


#: A user's own endpoint, written as in docs/fastapi.md: the dependency in a module-level alias.
USER_RECEIVER = Receiver("struktr", secret=SECRETS["struktr"], max_body_size=LIMIT)
VerifiedStruktrEvent = Annotated[Any, Depends(verified_event(USER_RECEIVER))]
user_app = FastAPI()


def post_user_app(body: bytes, headers: Mapping[str, str]) -> httpx.Response:
    """POST to the user's endpoint in-process, over httpx's ASGI transport."""

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=user_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.post("/hooks/struktr", content=body, headers=dict(headers))

    return asyncio.run(send())


@user_app.post("/hooks/struktr", openapi_extra=openapi_request_body("struktr"))
async def user_hook(event: VerifiedStruktrEvent) -> dict[str, str]:
    """The user's handler: it sees only verified, typed events."""
    return {"model": type(event).__name__, "id": event.data.id}


def test_verified_event_gives_the_endpoint_the_typed_event() -> None:
    """A user's endpoint with the dependency receives the verified event as its model."""
    body, headers = testing.signed_delivery("struktr", SECRETS["struktr"], "document.completed")
    response = post_user_app(body, headers)
    assert (response.status_code, response.json()) == (
        200,
        {"model": "DocumentCompleted", "id": "doc_abc123"},
    )
    user_app.openapi()  # the user's route documents the event union too


def _tampered() -> testing.Delivery:
    body, headers = testing.signed_delivery("struktr", SECRETS["struktr"], "document.completed")
    return testing.Delivery(body.replace(b"doc_abc123", b"doc_abc124"), headers)


def _invalid() -> testing.Delivery:
    return testing.signed_delivery("struktr", SECRETS["struktr"], b'{"event": "batch.progress"}')


def _too_large() -> testing.Delivery:
    body = json.dumps(testing.sample("struktr", "batch.progress") | {"pad": "p" * LIMIT})
    return testing.signed_delivery("struktr", SECRETS["struktr"], body.encode())


@pytest.mark.parametrize(
    ("make", "status", "code"),
    [
        (_tampered, 401, "signature_mismatch"),
        (lambda: testing.Delivery(b"{}", {}), 401, "missing_header"),
        (_invalid, 400, "invalid_payload"),
        (_too_large, 413, "payload_too_large"),
    ],
    ids=["tampered", "unsigned", "invalid", "too-large"],
)
def test_verified_event_refuses_bad_deliveries(
    make: Callable[[], testing.Delivery], status: int, code: str
) -> None:
    """Bad input never reaches the endpoint: 401/400/413 with detail {"error": code, ...}."""
    body, headers = make()
    response = post_user_app(body, headers)
    assert response.status_code == status
    detail = response.json()["detail"]
    assert detail["error"] == code
    assert detail["message"]
    assert SECRETS["struktr"] not in response.text


def drift_app(receiver: Receiver) -> FastAPI:
    """A user's endpoint that reads the raw body too, and reports what the dependency gave."""
    app = FastAPI()
    dependency = Depends(verified_event(receiver))

    @app.post("/hooks/struktr")
    async def hook(request: Request, event: Any = dependency) -> dict[str, Any]:
        body = await request.body()
        paths = getattr(event, "paths", [])
        return {"model": type(event).__name__, "paths": list(paths), "len": len(body)}

    return app


def post_to(app: FastAPI, delivery: testing.Delivery) -> httpx.Response:
    """POST `delivery` to `app` in-process."""

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.post(
                "/hooks/struktr", content=delivery.body, headers=dict(delivery.headers)
            )

    return asyncio.run(send())


def test_verified_event_leaves_the_raw_body_readable() -> None:
    """After the dependency streamed the body, the endpoint still reads it whole."""
    delivery = testing.signed_delivery("struktr", SECRETS["struktr"], "document.completed")
    response = post_to(drift_app(Receiver("struktr", secret=SECRETS["struktr"])), delivery)
    assert response.json() == {"model": "DocumentCompleted", "paths": [], "len": len(delivery.body)}


@pytest.mark.parametrize("policy", ["reject", "accept"])
def test_verified_event_follows_the_invalid_payload_policy(policy: str, tmp_path: Path) -> None:
    """Reject: 400 and a dead letter to replay; accept: the endpoint gets an InvalidEvent."""
    letters = SQLiteDeadLetters(tmp_path / "dead.sqlite3")
    receiver = Receiver(
        "struktr", secret=SECRETS["struktr"], dead_letters=letters, invalid_payloads=policy
    )
    drifted = testing.sample("struktr", "document.completed")
    drifted["data"]["pages"] = "many"
    delivery = testing.signed_delivery("struktr", SECRETS["struktr"], json.dumps(drifted).encode())
    response = post_to(drift_app(receiver), delivery)
    recorded = [(letter.reason, letter.body) for letter in letters.all()]
    if policy == "reject":
        assert (response.status_code, response.json()["detail"]["error"]) == (
            400,
            "invalid_payload",
        )
        assert recorded == [("invalid_payload", delivery.body)]
    else:
        assert response.json() == {
            "model": "InvalidEvent",
            "paths": ["data.pages"],
            "len": len(delivery.body),
        }
        assert recorded == []
    letters.close()


def test_verified_event_answers_503_when_the_dead_letter_cannot_be_kept(closed_port: int) -> None:
    """An invalid delivery that cannot be recorded is 503 with Retry-After, so it comes back."""
    letters = SQLDeadLetters(f"postgresql+psycopg://127.0.0.1:{closed_port}/db", timeout=1)
    receiver = Receiver("struktr", secret=SECRETS["struktr"], dead_letters=letters)
    response = post_to(drift_app(receiver), _invalid())
    letters.close()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert response.json()["detail"]["error"] == "store_unavailable"


# Flask: endpoint names, and the store check


def test_flask_url_for_finds_each_receiver() -> None:
    """`url_for("webhooks.<segment>")` gives each receiver's URL, for a name or a mapping."""

    app = flask.Flask(__name__)
    struktr = Receiver("struktr", secret=SECRETS["struktr"])
    app.register_blueprint(webhook_blueprint(struktr))
    app.register_blueprint(
        webhook_blueprint({"billing": struktr}, name="hooks", url_prefix="/in"),
    )
    with app.test_request_context():
        assert flask.url_for("webhooks.struktr") == "/webhooks/struktr"
        assert flask.url_for("hooks.billing") == "/in/billing"


def _mount_view(app: flask.Flask, receiver: Receiver, tenant: str) -> str:
    """Route `receiver` at ``/<tenant>/struktr`` with `webhook_view`; return its endpoint."""
    view = webhook_view(receiver)
    app.add_url_rule(f"/{tenant}/struktr", view_func=view)
    return view.__name__


def _mount_blueprint(app: flask.Flask, receiver: Receiver, tenant: str) -> str:
    """Route `receiver` at ``/<tenant>/struktr`` with `webhook_blueprint`; return its endpoint."""
    app.register_blueprint(webhook_blueprint(receiver, url_prefix=f"/{tenant}"))
    return f"{tenant}.struktr"


@pytest.mark.parametrize("mount", [_mount_view, _mount_blueprint], ids=["view", "blueprint"])
def test_flask_two_receivers_for_one_provider_coexist(
    mount: Callable[[flask.Flask, Receiver, str], str],
) -> None:
    """Two tenants' struktr receivers, as views or blueprints, each verify with their own secret."""
    app = flask.Flask(__name__)
    receivers = {
        tenant: Receiver("struktr", secret=f"{tenant}-secret") for tenant in ("acme", "globex")
    }
    endpoints = {tenant: mount(app, receiver, tenant) for tenant, receiver in receivers.items()}
    with app.test_request_context():
        urls = {tenant: flask.url_for(endpoint) for tenant, endpoint in endpoints.items()}
    assert urls == {"acme": "/acme/struktr", "globex": "/globex/struktr"}
    client = app.test_client()
    for tenant in receivers:
        body, headers = testing.signed_delivery("struktr", f"{tenant}-secret", "document.completed")
        for owner, url in urls.items():
            response = client.post(url, data=body, headers=headers)
            assert response.status_code == (200 if owner == tenant else 401), (tenant, url)


def test_flask_view_endpoint_names_the_route() -> None:
    """`webhook_view(..., endpoint=)` is the name `url_for` finds; without it names are unique."""
    app = flask.Flask(__name__)
    receiver = Receiver("struktr", secret=SECRETS["struktr"])
    app.add_url_rule("/hooks/acme", view_func=webhook_view(receiver, endpoint="acme_struktr"))
    first, second = webhook_view(receiver), webhook_view(receiver)
    with app.test_request_context():
        assert flask.url_for("acme_struktr") == "/hooks/acme"
    assert first.__name__ != second.__name__
    assert first.__name__.startswith("struktr_webhook")
    with pytest.raises(ValueError, match="endpoint"):
        webhook_view(receiver, endpoint="")


def test_flask_refuses_an_async_store() -> None:
    """An async store given to the Flask view or blueprint is a TypeError naming the fix."""
    receiver = Receiver(
        "struktr", secret=SECRETS["struktr"], store=AsyncThreadedStore(MemoryStore())
    )
    with pytest.raises(TypeError, match="synchronous counterpart"):
        webhook_view(receiver)
    with pytest.raises(TypeError, match="async store"):
        webhook_blueprint({"struktr": receiver})


def test_verified_event_reads_the_tenant_from_the_path() -> None:
    """`verified_event` of a tenant receiver verifies with the keys of the route's ``{tenant}``."""
    keys = {"acme": "acme-imggo-secret", "beta": "beta-imggo-secret"}
    receiver = Receiver("imggo", secret=TenantSecrets(keys.get))
    app = FastAPI()
    dependency = Depends(verified_event(receiver))

    @app.post("/hooks/imggo/{tenant}")
    async def hook(event: Any = dependency) -> dict[str, str]:
        return {"job": event.job_id}

    body, headers = testing.signed_delivery("imggo", keys["acme"], "job.completed")
    accepted = fastapi_request(app, "POST", "/hooks/imggo/acme", content=body, headers=headers)
    assert (accepted.status_code, accepted.json()) == (200, {"job": json.loads(body)["job_id"]})
    refused = fastapi_request(app, "POST", "/hooks/imggo/beta", content=body, headers=headers)
    assert (refused.status_code, refused.json()["detail"]["error"]) == (401, "signature_mismatch")


# Starlette: route names, and the plain ASGI app's other connection types


def test_starlette_url_for_finds_each_receiver() -> None:
    """`url_path_for("<name>.<segment>")` gives each receiver's path (a tenant's too)."""
    struktr = Receiver("struktr", secret=SECRETS["struktr"])
    tenants = Receiver("struktr", secret=TenantSecrets({"acme": "acme-secret"}.get))
    app = Starlette(
        routes=[
            *webhook_routes(struktr),
            *webhook_routes({"billing": struktr}, prefix="/in"),
            *webhook_routes(tenants, name="tenant_webhooks"),
        ]
    )
    assert app.url_path_for("webhooks.struktr") == "/webhooks/struktr"
    assert app.url_path_for("webhooks.billing") == "/in/billing"
    assert app.url_path_for("tenant_webhooks.struktr", tenant="acme") == "/webhooks/struktr/acme"


def test_plain_asgi_app_answers_lifespan_and_closes_websockets() -> None:
    """Served alone, the ASGI app completes startup and shutdown and refuses a WebSocket."""
    app = webhook_app(Receiver("struktr", secret=SECRETS["struktr"]))

    async def run(scope_type: str, incoming: list[str]) -> list[dict[str, Any]]:
        pending = [{"type": message} for message in incoming]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return pending.pop(0)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": scope_type, "asgi": {"version": "3.0"}, "path": "/", "headers": []}
        await asyncio.wait_for(app(scope, receive, send), timeout=5)
        return sent

    lifespan = asyncio.run(run("lifespan", ["lifespan.startup", "lifespan.shutdown"]))
    assert [m["type"] for m in lifespan] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    [closed] = asyncio.run(run("websocket", ["websocket.connect"]))
    assert closed["type"] == "websocket.close"


# aiohttp: route names


def test_aiohttp_route_names_find_each_receiver() -> None:
    """`app.router["<name>.<segment>"]` gives each receiver's URL (a tenant's too)."""
    struktr = Receiver("struktr", secret=SECRETS["struktr"])
    app = web.Application()
    app.add_routes(webhook_routes_aiohttp(struktr))
    app.add_routes(webhook_routes_aiohttp({"billing": struktr}, prefix="/in"))
    tenants = Receiver("struktr", secret=TenantSecrets({"acme": "acme-secret"}.get))
    app.add_routes(webhook_routes_aiohttp(tenants, name="tenant_webhooks"))
    assert str(app.router["webhooks.struktr"].url_for()) == "/webhooks/struktr"
    assert str(app.router["webhooks.billing"].url_for()) == "/in/billing"
    tenant_url = app.router["tenant_webhooks.struktr"].url_for(tenant="acme")
    assert str(tenant_url) == "/webhooks/struktr/acme"


# Litestar: its own body limit, route names, and the OpenAPI document


@pytest.mark.parametrize("length", [None, "declared"], ids=["chunked", "declared"])
def test_litestar_own_smaller_body_limit_is_respected(length: str | None) -> None:
    """An app's `request_max_body_size` below the receiver's limit refuses bodies over it: 413."""
    seen: list[Any] = []
    receiver = Receiver("imggo", secret=SECRETS["imggo"], store=MemoryStore())
    receiver.on("job.completed")(seen.append)
    app = Litestar(
        [webhook_router_litestar(receiver)], request_max_body_size=LIMIT, logging_config=None
    )
    payload = testing.sample("imggo", "job.completed") | {"pad": "p" * (LIMIT * 2)}
    body, headers = testing.signed_delivery("imggo", SECRETS["imggo"], payload)
    chunks = _chunks(body)
    sent = asgi_send(app, "/webhooks/imggo", chunks, headers, None if length is None else len(body))
    assert (sent.status, sent.body["error"]) == (413, "payload_too_large")
    assert f"{LIMIT} byte limit" in sent.body["message"]
    assert sent.reads < len(chunks)
    assert not seen
    small = testing.signed_delivery("imggo", SECRETS["imggo"], "job.completed")
    sent = asgi_send(app, "/webhooks/imggo", _chunks(small.body), small.headers, None)
    assert (sent.status, sent.body, len(seen)) == (200, {"status": "processed"}, 1)


def test_litestar_route_names_and_openapi_document() -> None:
    """`route_reverse("<name>.<segment>")` finds each route; only POST is documented."""
    struktr = Receiver("struktr", secret=SECRETS["struktr"])
    tenants = Receiver("struktr", secret=TenantSecrets({"beta": "beta-secret"}.get))
    app = Litestar(
        [
            webhook_router_litestar(struktr),
            webhook_router_litestar({"billing": struktr}, prefix="/in"),
            *webhook_handlers(struktr, "/hooks/acme", name="acme"),
            webhook_router_litestar(tenants, name="tenant_webhooks"),
        ],
        logging_config=None,
    )
    assert app.route_reverse("webhooks.struktr") == "/webhooks/struktr"
    assert app.route_reverse("webhooks.billing") == "/in/billing"
    assert app.route_reverse("acme") == "/hooks/acme"
    assert app.route_reverse("tenant_webhooks.struktr", tenant="beta") == "/webhooks/struktr/beta"
    paths = app.openapi_schema.to_schema()["paths"]
    for path in ("/webhooks/struktr", "/in/billing", "/hooks/acme"):
        assert list(paths[path]) == ["post"], path


# A sender that hangs up mid-body: nothing processed, no error logged


def test_starlette_sender_gone_mid_body_is_dropped_quietly() -> None:
    """A disconnect before the body ends runs nothing and answers nothing, raising nothing."""
    seen: list[Any] = []
    app = webhook_app(_imggo(seen))
    pending = [
        {"type": "http.request", "body": b'{"event": ', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return pending.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "method": "POST",
        "path": "/",
        "headers": [(b"transfer-encoding", b"chunked")],
    }
    asyncio.run(app(scope, receive, send))
    assert (sent, pending, seen) == ([], [], [])


def test_aiohttp_sender_gone_mid_body_is_dropped_quietly(caplog: pytest.LogCaptureFixture) -> None:
    """Under aiohttp's server, a sender hanging up mid-body runs nothing and logs no error."""
    seen: list[Any] = []

    async def run() -> None:
        finished = asyncio.Event()

        @web.middleware
        async def watch(request: web.Request, handler: Any) -> web.StreamResponse:
            try:
                return await handler(request)  # type: ignore[no-any-return]
            finally:
                finished.set()

        app = web.Application(middlewares=[watch])
        app.add_routes(webhook_routes_aiohttp(_imggo(seen)))
        async with aiohttp_served(app) as port:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                b"POST /webhooks/imggo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b'Content-Length: 1000\r\n\r\n{"event": '
            )
            await writer.drain()
            writer.close()
            await asyncio.wait_for(finished.wait(), timeout=10)
            await asyncio.sleep(0.1)  # aiohttp logs a handler's error right after it returns

    with caplog.at_level(logging.INFO):
        asyncio.run(run())
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert seen == []
