"""What `webhook_kit.aws_lambda` promises beyond the receiver contract (run through every shape).

The event shapes, the response each caller reads, base64 bodies (exact bytes, malformed, over
the limit), mixed-case and multi-value headers, routing several receivers, async stores on the
container's loop, concurrent copies of one delivery, what importing the module loads, and the
example handler loaded by its handler string in processes that stand in for Lambda containers.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.clients.aws_lambda import (
    SHAPES,
    LambdaContext,
    alb_event,
    http_v2_event,
    reply_of,
    rest_v1_event,
)
from tests.receiving import SECRETS, Reply
from webhook_kit import (
    MemoryStore,
    Receiver,
    SQLiteStore,
    TenantSecrets,
    aws_lambda,
    current_tenant,
    testing,
)
from webhook_kit.aws_lambda import webhook_handler
from webhook_kit.idempotency import store_key
from webhook_kit.idempotency.redis import AsyncRedisStore

ROOT = Path(__file__).resolve().parent.parent
PATH = "/webhooks/imggo"


def _receiver(store: Any = None, **options: Any) -> tuple[Receiver, list[Any]]:
    receiver = Receiver("imggo", secret=SECRETS["imggo"], store=store, **options)
    seen: list[Any] = []
    receiver.on("job.completed")(seen.append)
    return receiver, seen


def _delivery(**extra: Any) -> testing.Delivery:
    payload = testing.sample("imggo", "job.completed") | extra
    return testing.signed_delivery("imggo", SECRETS["imggo"], payload)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SQLiteStore]:
    """A SQLite store shared by the threads of one test."""
    store = SQLiteStore(tmp_path / "idempotency.sqlite3")
    yield store
    store.close()


# The response document each caller reads


def test_alb_without_multi_value_headers_is_answered_with_headers() -> None:
    """A load balancer event with plain headers gets plain headers back, and statusDescription."""
    receiver, seen = _receiver(MemoryStore())
    event = alb_event(*_delivery(), "POST", PATH, multi_value=False)
    assert "multiValueHeaders" not in event
    response = webhook_handler(receiver)(event, LambdaContext())
    keys = frozenset({"statusCode", "statusDescription", "headers", "body", "isBase64Encoded"})
    reply = reply_of(response, keys, multi_value=False)
    assert (reply.status, response["statusDescription"]) == (200, "200 OK")
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("status", "description"),
    [(401, "401 Unauthorized"), (405, "405 Method Not Allowed"), (409, "409 Conflict")],
)
def test_alb_status_description_names_the_status(status: int, description: str) -> None:
    """The load balancer's statusDescription is the status and its reason phrase."""
    receiver, _ = _receiver(MemoryStore(), retry_after=3)
    handler = webhook_handler(receiver)
    body, headers = _delivery()
    if status == 401:
        body = body.replace(b"{", b"{ ", 1)
    if status == 409:
        assert receiver.store is not None
        receiver.store.claim(store_key("imggo", receiver.provider.delivery_key(body, headers)))
    method = "GET" if status == 405 else "POST"
    response = handler(alb_event(body, headers, method, PATH), LambdaContext())
    assert (response["statusCode"], response["statusDescription"]) == (status, description)
    if status == 409:
        assert response["multiValueHeaders"]["Retry-After"] == ["3"]
    if status == 405:
        assert response["multiValueHeaders"]["Allow"] == ["POST"]


# Bodies: base64 decoded to the exact bytes, malformed, or over the limit


@pytest.mark.parametrize("name", list(SHAPES))
def test_base64_body_is_verified_as_the_exact_bytes(name: str) -> None:
    """A base64 body with bytes JSON would not round-trip (spacing, escapes, 1547.50) verifies."""
    receiver, seen = _receiver(MemoryStore())
    raw = json.dumps(testing.sample("imggo", "job.completed"), indent=1).encode()
    raw = raw[:-1] + b', "amount": 1547.50, "note": "\\u00e9 \xc3\xa9"}'
    body, headers = testing.signed_delivery("imggo", SECRETS["imggo"], raw)
    headers = {k: v for k, v in headers.items() if k != "Content-Type"}  # binary: base64
    shape = SHAPES[name][0]
    event = shape(body, headers, "POST", PATH)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body
    response = webhook_handler(receiver)(event, LambdaContext())
    assert json.loads(response["body"]) == {"status": "processed"}
    assert seen[0].model_extra["note"] == "é é"


@pytest.mark.parametrize("name", list(SHAPES))
@pytest.mark.parametrize(
    "encoded",
    ["not base64!", "YWJj=", "YWJjZA", "YQ==YWJj", "YWJj\nZGVm", "YWI="[:3] + "\u00e9"],
    ids=["chars", "stray-pad", "no-pad", "after-pad", "newline", "non-ascii"],
)
def test_invalid_base64_is_400_not_500(name: str, encoded: str) -> None:
    """A body marked isBase64Encoded that is not valid base64 is 400 malformed_request."""
    receiver, seen = _receiver(MemoryStore())
    event = SHAPES[name][0](*_delivery(), "POST", PATH)
    event["body"], event["isBase64Encoded"] = encoded, True
    response = webhook_handler(receiver)(event, LambdaContext())
    body = json.loads(response["body"])
    assert (response["statusCode"], body["error"]) == (400, "malformed_request")
    assert "isBase64Encoded" in body["message"]
    assert not seen


def test_base64_body_over_the_limit_is_413_without_decoding_it() -> None:
    """A base64 body whose decoded size is over the limit is 413, even when it is not base64."""
    receiver, _ = _receiver(MemoryStore(), max_body_size=300)
    handler = webhook_handler(receiver)
    event = rest_v1_event(b"", {}, "POST", PATH)
    event["body"], event["isBase64Encoded"] = "!" * 404, True  # would decode to 303 bytes
    response = handler(event, LambdaContext())
    assert (response["statusCode"], json.loads(response["body"])["error"]) == (
        413,
        "payload_too_large",
    )


@pytest.mark.parametrize("size", [599, 600, 601])
@pytest.mark.parametrize("name", list(SHAPES))
def test_decoded_body_is_judged_by_its_own_size(name: str, size: int) -> None:
    """Bodies of exactly the limit (whatever their base64 padding) pass; one byte more is 413."""
    receiver, seen = _receiver(MemoryStore(), max_body_size=600)
    sample = json.dumps(testing.sample("imggo", "job.completed")).encode()
    raw = sample[:-1] + b', "pad": "' + b"p" * (size - len(sample) - 11) + b'"}'
    assert len(raw) == size
    body, headers = testing.signed_delivery("imggo", SECRETS["imggo"], raw)
    event = SHAPES[name][0](
        body, {k: v for k, v in headers.items() if k != "Content-Type"}, "POST", PATH
    )
    response = webhook_handler(receiver)(event, LambdaContext())
    assert response["statusCode"] == (413 if size > 600 else 200)
    assert len(seen) == (0 if size > 600 else 1)


def test_text_body_is_encoded_back_to_its_utf8() -> None:
    """A REST API without binary media types passes JSON as text: its UTF-8 bytes verify."""
    receiver, seen = _receiver(MemoryStore())
    body, headers = _delivery(note="Grüße — 漢字 🎉")
    event = rest_v1_event(body, headers, "POST", PATH)
    event["body"], event["isBase64Encoded"] = body.decode("utf-8"), False
    response = webhook_handler(receiver)(event, LambdaContext())
    assert response["statusCode"] == 200, response
    assert seen[0].model_extra["note"] == "Grüße — 漢字 🎉"


# Headers: any case, several values


def test_mixed_case_and_multi_value_headers_are_read() -> None:
    """Header names in any case are found; a repeated header is read as its values joined."""
    receiver, seen = _receiver(MemoryStore())
    body, headers = _delivery()
    odd = {
        "".join(c.upper() if i % 2 else c.lower() for i, c in enumerate(k)): v
        for k, v in headers.items()
    }
    event = rest_v1_event(body, odd, "POST", PATH)
    event["multiValueHeaders"]["Accept"] = ["application/json", "text/plain"]
    event["headers"]["Accept"] = "text/plain"
    response = webhook_handler(receiver)(event, LambdaContext())
    assert response["statusCode"] == 200, response
    assert len(seen) == 1


def test_a_signature_header_in_both_spellings_is_one_header() -> None:
    """The same header sent in two spellings is one header of two values: not a match."""
    receiver, seen = _receiver(MemoryStore())
    body, headers = _delivery()
    event = rest_v1_event(body, headers, "POST", PATH)
    [name] = [k for k in headers if k.lower().endswith("signature")]
    event["multiValueHeaders"][name.lower()] = [headers[name]]
    response = webhook_handler(receiver)(event, LambdaContext())
    assert response["statusCode"] == 401  # "sig,sig" is no signature: never one value dropped
    assert not seen


# Events that are not HTTP requests


@pytest.mark.parametrize(
    "event",
    [
        {"Records": [{"eventSource": "aws:sqs", "body": "{}"}]},
        {"version": "2.0", "rawPath": "/"},
        {"httpMethod": None, "path": "/"},
        {"httpMethod": "POST", "headers": {"X-Count": 3}, "body": "{}"},
        {"httpMethod": "POST", "multiValueHeaders": {"X-A": "not a list"}, "body": "{}"},
        {"httpMethod": "POST", "headers": {}, "body": {"json": "object"}},
        ["not", "an", "object"],
    ],
    ids=["sqs", "no-http", "no-method", "header-int", "multi-not-list", "body-object", "list"],
)
def test_an_event_that_is_no_http_request_is_400(event: Any) -> None:
    """An event of another kind, or a malformed one, is answered 400 malformed_request."""
    receiver, seen = _receiver(MemoryStore())
    response = webhook_handler(receiver)(event, LambdaContext())
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"] == "malformed_request"
    assert not seen


# Several receivers in one function


def test_several_receivers_are_routed_by_the_last_path_segment() -> None:
    """With several receivers, /…/<name> reaches its receiver; another path is 404."""
    receivers = {name: Receiver(name, secret=SECRETS[name]) for name in ("imggo", "pulse")}
    seen: Counter[str] = Counter()
    receivers["imggo"].on("job.completed")(lambda _e: seen.update(["imggo"]))
    receivers["pulse"].on("job.completed")(lambda _e: seen.update(["pulse"]))
    handler = webhook_handler(receivers)
    pulse = testing.signed_delivery("pulse", SECRETS["pulse"], "job.completed")
    ok = handler(http_v2_event(*pulse, "POST", "/prod/webhooks/pulse/"), LambdaContext())
    assert ok["statusCode"] == 200
    assert seen == Counter({"pulse": 1})
    missing = handler(http_v2_event(*pulse, "POST", "/webhooks/stripe"), LambdaContext())
    assert (missing["statusCode"], json.loads(missing["body"])["error"]) == (404, "not_found")
    wrong = handler(http_v2_event(*pulse, "POST", "/webhooks/imggo"), LambdaContext())
    assert wrong["statusCode"] == 401
    assert seen == Counter({"pulse": 1})


# Tenant receivers: the tenant from the path's end, or from a header

TENANT_KEYS = {"acme": "acme-struktr-secret", "beta": "beta-struktr-secret"}


def _counting(seen: Counter[str], name: str) -> Callable[[Any], None]:
    """A handler counting the deliveries of receiver `name` as ``<name>/<tenant>``."""

    def count(_event: Any) -> None:
        seen.update([f"{name}/{current_tenant()}"])

    return count


def _tenant_receivers() -> tuple[dict[str, Receiver], Counter[str]]:
    """imggo with one secret, struktr with tenants in the path, pulse with a tenant header."""
    receivers: dict[str, Receiver[Any]] = {
        "imggo": Receiver("imggo", secret=SECRETS["imggo"]),
        "struktr": Receiver("struktr", secret=TenantSecrets(TENANT_KEYS.get)),
        "pulse": Receiver(
            "pulse", secret=TenantSecrets({"acme": SECRETS["pulse"]}.get), tenant_header="X-Tenant"
        ),
    }
    seen: Counter[str] = Counter()
    for name, receiver in receivers.items():
        receiver.on_any(_counting(seen, name))
    return receivers, seen


def _struktr(tenant: str, delivery_id: str) -> testing.Delivery:
    return testing.signed_delivery(
        "struktr", TENANT_KEYS[tenant], "document.completed", delivery_id=delivery_id
    )


@pytest.mark.parametrize("name", list(SHAPES))
def test_a_tenant_receiver_among_several_is_reached_at_provider_then_tenant(name: str) -> None:
    """``/…/struktr/acme`` is struktr for acme; a wrong tenant is 401; an unknown provider 404."""
    receivers, seen = _tenant_receivers()
    handler = webhook_handler(receivers)
    shape, keys, multi_value = SHAPES[name]

    def post(delivery: testing.Delivery, path: str, **extra: str) -> Reply:
        event = shape(delivery.body, {**delivery.headers, **extra}, "POST", path)
        return reply_of(handler(event, LambdaContext()), keys, multi_value)

    assert post(_struktr("acme", "d1"), "/prod/webhooks/struktr/acme").status == 200
    assert post(_struktr("beta", "d2"), "/webhooks/struktr/beta/").status == 200
    wrong = post(_struktr("acme", "d3"), "/webhooks/struktr/beta")
    assert (wrong.status, wrong.body["error"]) == (401, "signature_mismatch")
    imggo = testing.signed_delivery("imggo", SECRETS["imggo"], "job.completed")
    assert post(imggo, "/webhooks/imggo").status == 200
    pulse = testing.signed_delivery("pulse", SECRETS["pulse"], "job.completed")
    assert post(pulse, "/webhooks/pulse", **{"X-Tenant": "acme"}).status == 200
    for path in ("/webhooks/stripe", "/webhooks/stripe/acme", "/"):
        missing = post(_struktr("acme", "d4"), path)
        assert (missing.status, missing.body["error"]) == (404, "not_found")
    assert seen == Counter({"struktr/acme": 1, "struktr/beta": 1, "imggo/None": 1, "pulse/acme": 1})


@pytest.mark.parametrize("name", list(SHAPES))
@pytest.mark.parametrize(
    "path",
    ["/webhooks/struktr", "/webhooks/struktr/", "/webhooks/struktr/ghost", "/x/struktr/a%62"],
)
def test_a_missing_or_unknown_tenant_in_the_path_is_a_wrong_signature(name: str, path: str) -> None:
    """A tenant route without a (known) tenant gets the very reply of a wrong signature, not 404."""
    receivers, seen = _tenant_receivers()
    handler = webhook_handler(receivers)
    shape, keys, multi_value = SHAPES[name]
    delivery = _struktr("acme", "d1")

    def post(path: str) -> Reply:
        event = shape(*delivery, "POST", path)
        return reply_of(handler(event, LambdaContext()), keys, multi_value)

    refused = post(path)
    assert refused == post("/webhooks/struktr/beta")  # acme's delivery, beta's keys
    assert (refused.status, refused.body["error"]) == (401, "signature_mismatch")
    assert not seen


def test_the_tenant_route_wins_over_a_receiver_named_like_the_tenant() -> None:
    """``/webhooks/struktr/imggo`` is struktr's tenant ``imggo``, not the imggo receiver."""
    receivers, seen = _tenant_receivers()
    handler = webhook_handler(receivers)
    imggo = testing.signed_delivery("imggo", SECRETS["imggo"], "job.completed")
    reply = handler(http_v2_event(*imggo, "POST", "/webhooks/struktr/imggo"), LambdaContext())
    assert reply["statusCode"] == 401
    assert not seen


def test_one_tenant_receiver_takes_the_last_segment_as_its_tenant() -> None:
    """Alone, a tenant receiver answers every path, its last segment naming the tenant."""
    receivers, seen = _tenant_receivers()
    handler = webhook_handler(receivers["struktr"])
    for number, path in enumerate(("/acme", "/prod/hooks/acme", "/webhooks/struktr/acme/")):
        event = http_v2_event(*_struktr("acme", f"d{number}"), "POST", path)
        assert handler(event, LambdaContext())["statusCode"] == 200
    for path in ("/", "/webhooks/struktr"):
        refused = handler(http_v2_event(*_struktr("acme", "dx"), "POST", path), LambdaContext())
        assert (refused["statusCode"], json.loads(refused["body"])["error"]) == (
            401,
            "signature_mismatch",
        )
    assert seen == Counter({"struktr/acme": 3})


def test_an_async_lookup_is_awaited_on_the_containers_loop() -> None:
    """An ``async def`` lookup runs on the container's loop, the same one for every invocation."""
    loops: list[asyncio.AbstractEventLoop] = []

    async def lookup(tenant: str) -> str | None:
        loops.append(asyncio.get_running_loop())
        await asyncio.sleep(0)
        return TENANT_KEYS.get(tenant)

    receiver = Receiver("struktr", secret=TenantSecrets(lookup), store=MemoryStore())
    handler = webhook_handler(receiver)
    statuses = [
        handler(http_v2_event(*_struktr(tenant, "d1"), "POST", path), LambdaContext())["statusCode"]
        for tenant, path in (("acme", "/acme"), ("beta", "/beta"), ("acme", "/ghost"))
    ]
    assert statuses == [200, 200, 401]
    assert len(loops) == 3  # acme, beta, ghost: each looked up once
    assert set(loops) == {aws_lambda._LOOP._loop}
    get = handler(http_v2_event(b"", {}, "GET", "/acme"), LambdaContext())
    assert get["statusCode"] == 405


# Async stores and handlers


@pytest.mark.services
@pytest.mark.parametrize("name", list(SHAPES))
def test_an_async_store_is_awaited_on_the_containers_loop(redis_url: str, name: str) -> None:
    """With AsyncRedisStore, invocations share one loop: its connections serve each of them."""
    prefix = f"lambda-{secrets.token_hex(6)}"
    store = AsyncRedisStore(redis_url, prefix=prefix)
    receiver = Receiver("imggo", secret=SECRETS["imggo"], store=store)
    seen: list[Any] = []

    @receiver.on("job.completed")
    async def record(event: Any) -> None:
        seen.append(event)

    handler = webhook_handler(receiver)
    shape, keys, multi_value = SHAPES[name]
    first, second = _delivery(), _delivery(job_id="660e8400-e29b-41d4-a716-446655440001")
    replies = [
        reply_of(handler(shape(*delivery, "POST", PATH), LambdaContext()), keys, multi_value)
        for delivery in (first, second, first)
    ]
    assert [r.body for r in replies] == [
        {"status": "processed"},
        {"status": "processed"},
        {"status": "duplicate"},
    ]
    assert len(seen) == 2
    aws_lambda._LOOP.run(store.aclose())  # its connections belong to the container's loop
    with redis.Redis.from_url(redis_url) as client:
        client.delete(*client.scan_iter(match=f"{prefix}:*"))


# Concurrent copies of one delivery

COPIES = 50


@pytest.mark.parametrize("name", list(SHAPES))
def test_concurrent_copies_of_one_delivery_run_the_handler_once(
    sqlite_store: SQLiteStore, name: str
) -> None:
    """50 copies of one event handled at once are processed once; the rest duplicate or 409."""
    receiver, seen = _receiver(sqlite_store)
    handler = webhook_handler(receiver)
    shape, keys, multi_value = SHAPES[name]
    event = shape(*_delivery(), "POST", PATH)
    barrier = threading.Barrier(COPIES)

    def invoke(_: int) -> str:
        barrier.wait()
        reply = reply_of(handler(json.loads(json.dumps(event)), LambdaContext()), keys, multi_value)
        return f"{reply.status} {reply.body.get('status') or reply.body.get('error')}"

    with ThreadPoolExecutor(COPIES) as pool:
        answers = Counter(pool.map(invoke, range(COPIES)))
    assert answers["200 processed"] == 1, answers
    assert set(answers) <= {"200 processed", "200 duplicate", "409 in_progress"}, answers
    assert len(seen) == 1


# Cold start: what importing the module loads

_IMPORTS = """
import sys
import webhook_kit.receiver
for name in [m for m in sys.modules if m.split(".")[0] == "asyncio"]:
    del sys.modules[name]  # as if the receiver had not loaded it: does the adapter?
before = set(sys.modules)
import webhook_kit.aws_lambda
added = {name.split(".")[0] for name in set(sys.modules) - before}
print(sorted(added - sys.stdlib_module_names), "asyncio" in added)
"""

FRAMEWORKS = (
    "flask",
    "werkzeug",
    "fastapi",
    "starlette",
    "django",
    "aiohttp",
    "litestar",
    "functions_framework",
    "uvicorn",
    "gunicorn",
    "redis",
    "sqlalchemy",
)


def test_importing_the_adapter_loads_no_framework() -> None:
    """`import webhook_kit.aws_lambda` loads no web framework or client; beyond the receiver, only
    the standard library, and not asyncio (only an async store needs it)."""
    code = (
        "import sys, webhook_kit.aws_lambda; "
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(FRAMEWORKS)!r}))"
    )
    loaded = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert loaded.stdout.strip() == "[]"
    added = subprocess.run(  # noqa: S603
        [sys.executable, "-c", _IMPORTS], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert added.stdout.strip() == "['webhook_kit'] False"  # asyncio waits for an async store


# The example handler, loaded by its handler string as Lambda's runtime loads it


def _containers(
    count: int, env: dict[str, str], handler: str = "examples.aws_lambda_app.handler"
) -> list[subprocess.Popen[str]]:
    """Start `count` runtime processes (cold starts) and wait until each has loaded `handler`."""
    processes = [
        subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "tests.lambda_runtime", handler],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    for process in processes:
        assert process.stdout is not None
        ready = process.stdout.readline()
        assert json.loads(ready or "null") == {"ready": handler}, process.communicate(timeout=30)
    return processes


def _invoke_all(
    processes: list[subprocess.Popen[str]], events: list[list[dict[str, Any]]]
) -> list[list[dict[str, Any]]]:
    """Give each process its events at once; return what each invocation returned, in order."""

    def run(process: subprocess.Popen[str], batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        lines = "".join(json.dumps(event) + "\n" for event in batch)
        out, err = process.communicate(lines, timeout=120)
        assert process.returncode == 0, err
        return [json.loads(line) for line in out.splitlines()]

    with ThreadPoolExecutor(len(processes)) as pool:
        return list(pool.map(run, processes, events))


def _example_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env |= {f"{name.upper()}_WEBHOOK_SECRET": secret for name, secret in SECRETS.items()}
    env["WEBHOOK_KIT_STORE"] = str(tmp_path / "idempotency.sqlite3")
    env["WEBHOOK_KIT_EVENTS_DB"] = str(tmp_path / "events.sqlite3")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    return env


def test_the_example_handler_serves_every_shape_in_a_runtime_process(tmp_path: Path) -> None:
    """Loaded by its handler string in a fresh process, the example answers each event shape."""
    env = _example_env(tmp_path)
    [process] = _containers(1, env)
    events = []
    for name in SHAPES:
        body, headers = testing.signed_delivery("pulse", SECRETS["pulse"], "job.completed")
        events.append(SHAPES[name][0](body, headers, "POST", "/webhooks/pulse"))
    [responses] = _invoke_all([process], [events])
    for name, response in zip(SHAPES, responses, strict=True):
        _, keys, multi_value = SHAPES[name]
        assert reply_of(response, keys, multi_value).body == {"status": "processed"}, name


def test_concurrent_copies_across_containers_run_the_handler_once(tmp_path: Path) -> None:
    """50 copies of one delivery spread over 5 runtime processes sharing a store: processed once."""
    env = _example_env(tmp_path)
    processes = _containers(5, env)
    delivery = testing.signed_delivery("struktr", SECRETS["struktr"], "document.completed")
    names = list(SHAPES)
    batches = [
        [SHAPES[names[i % len(names)]][0](*delivery, "POST", "/webhooks/struktr")] * (COPIES // 5)
        for i in range(5)
    ]
    statuses = Counter(
        json.loads(response["body"]).get("status") or json.loads(response["body"])["error"]
        for responses in _invoke_all(processes, batches)
        for response in responses
    )
    assert sum(statuses.values()) == COPIES
    assert statuses["processed"] == 1, statuses
    assert set(statuses) <= {"processed", "duplicate", "in_progress"}, statuses
    with sqlite3.connect(tmp_path / "events.sqlite3") as connection:
        [(count,)] = connection.execute("SELECT count(*) FROM events").fetchall()
    assert count == 1


def test_a_handler_string_that_does_not_load_fails_like_the_runtime(tmp_path: Path) -> None:
    """A handler string naming no function fails the cold start, with the runtime's error type."""
    process = subprocess.run(
        [sys.executable, "-m", "tests.lambda_runtime", "examples.aws_lambda_app.nope"],
        cwd=ROOT,
        env=_example_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert process.returncode == 1
    assert json.loads(process.stdout)["errorType"] == "Runtime.HandlerNotFound"


def test_the_example_tries_each_shape_as_a_script(tmp_path: Path) -> None:
    """``python examples/aws_lambda_app.py`` answers one delivery per shape: processed once."""
    result = subprocess.run(  # noqa: S603
        [sys.executable, str(ROOT / "examples" / "aws_lambda_app.py")],
        cwd=tmp_path,
        env=_example_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line.split(": ", 1)[1]) for line in result.stdout.splitlines()]
    assert [json.loads(a["body"])["status"] for a in answers] == [
        "processed",
        "duplicate",
        "duplicate",
    ]
    assert answers[2]["statusDescription"] == "200 OK"
