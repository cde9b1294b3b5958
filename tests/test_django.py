"""What only the Django adapter does: CSRF, Django's body limits, streams, URLs, its store.

The receiver contract itself runs through Django in `test_receiver.py` (clients
``django-sync`` and ``django-async``); these tests pin the Django-specific parts around it.
"""

from __future__ import annotations

import asyncio
import io
import json
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.handlers.wsgi import WSGIRequest
from django.core.management import call_command
from django.db import connections
from django.http import HttpResponse
from django.test import Client
from django.test.utils import override_settings
from django.urls import path, reverse

from tests.django_settings import (
    URLConf,
    add_database,
    create_store_database,
    remove_database,
    setup,
    split_headers,
    store_database,
)
from tests.receiving import SECRETS
from webhook_kit import Receiver, SQLiteStore, testing
from webhook_kit.django import async_webhook_view, webhook_urls, webhook_view
from webhook_kit.django.store import DjangoStore
from webhook_kit.idempotency import MemoryStore
from webhook_kit.idempotency.redis import AsyncRedisStore

setup()

ROOT = Path(__file__).resolve().parent.parent
PULSE = SECRETS["pulse"]


def _receiver(store: Any = None, **options: Any) -> tuple[Receiver, list[Any]]:
    """A Pulse receiver recording every event it handles."""
    receiver = Receiver("pulse", secret=PULSE, store=store, **options)
    seen: list[Any] = []
    receiver.on_unknown(seen.append)
    for event_type in receiver.provider.event_types:
        receiver.on(event_type)(seen.append)
    return receiver, seen


def _unknown_delivery(size: int = 0, message_id: str = "msg_1") -> tuple[bytes, dict[str, str]]:
    """A signed Pulse delivery of an unmodelled event type, padded to at least `size` bytes."""
    payload = {"type": "job.archived", "timestamp": "2024-01-15T10:30:00Z", "data": {}}
    padding = max(0, size - len(json.dumps(payload)))
    payload["data"] = {"padding": "x" * padding}
    return testing.signed_delivery("pulse", PULSE, payload, delivery_id=message_id)


def _post(client: Client, url: str, body: bytes, headers: Mapping[str, str]) -> Any:
    content_type, others = split_headers(headers)
    return client.post(url, data=body, content_type=content_type, headers=others)


@pytest.fixture
def routes() -> Callable[..., Iterator[Client]]:
    """Serve URL patterns as the root URLconf, for a `Client` with CSRF checks enforced."""

    def serve(*patterns: Any) -> Iterator[Client]:
        with override_settings(ROOT_URLCONF=URLConf(*patterns)):
            yield Client(enforce_csrf_checks=True)

    return serve


class _CountingStream(io.BytesIO):
    """A request body that counts the bytes the view reads from it."""

    consumed = 0

    def read(self, size: int | None = -1, /) -> bytes:
        data = super().read(size)
        self.consumed += len(data)
        return data


def _wsgi_request(
    body: bytes, headers: Mapping[str, str], *, declare: str | None, terminated: bool = False
) -> tuple[WSGIRequest, _CountingStream]:
    """A real `WSGIRequest` over a counting stream, with Content-Length `declare` (or none)."""
    content_type, others = split_headers(headers)
    stream = _CountingStream(body)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/webhooks/pulse",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "wsgi.input": stream,
        "CONTENT_TYPE": content_type,
    }
    environ |= {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in others.items()}
    if declare is not None:
        environ["CONTENT_LENGTH"] = declare
    if terminated:
        environ["wsgi.input_terminated"] = True
    return WSGIRequest(environ), stream


def test_views_are_csrf_exempt(routes: Callable[..., Iterator[Client]]) -> None:
    """With CSRF checks enforced, a token-less POST reaches the webhook view but not a plain one."""
    receiver, seen = _receiver()
    plain = path("plain", lambda _request: HttpResponse("ok"))
    for client in routes(*webhook_urls(receiver), plain):
        body, headers = _unknown_delivery()
        assert _post(client, "/webhooks/pulse", body, headers).status_code == 200
        assert client.post("/plain").status_code == 403  # the middleware does check others
    assert len(seen) == 1


def test_body_over_djangos_upload_limit_is_ours_to_accept(
    routes: Callable[..., Iterator[Client]],
) -> None:
    """A 3 MB body, over DATA_UPLOAD_MAX_MEMORY_SIZE but under our 10 MiB, is processed."""
    receiver, seen = _receiver()
    body, headers = _unknown_delivery(3 * 1024 * 1024)
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE < len(body) < receiver.max_body_size
    for client in routes(*webhook_urls(receiver)):
        response = _post(client, "/webhooks/pulse", body, headers)
        assert (response.status_code, response.json()) == (200, {"status": "processed"})
    assert len(seen) == 1


def test_body_over_our_limit_is_413_json(routes: Callable[..., Iterator[Client]]) -> None:
    """A body over the default 10 MiB limit is our 413 JSON, not Django's 400 page."""
    receiver, seen = _receiver()
    body, headers = _unknown_delivery(receiver.max_body_size + 1)
    for client in routes(*webhook_urls(receiver)):
        response = _post(client, "/webhooks/pulse", body, headers)
        assert response.status_code == 413
        assert response["Content-Type"] == "application/json"
        assert response.json()["error"] == "payload_too_large"
    assert seen == []


@pytest.mark.parametrize("view", [webhook_view, async_webhook_view])
def test_declared_oversize_is_refused_before_reading(view: Any) -> None:
    """A Content-Length over the limit is answered 413 without reading a byte of the body."""
    receiver, seen = _receiver(max_body_size=1000)
    request, stream = _wsgi_request(*_unknown_delivery(2000), declare="2000")
    response = _call(view(receiver), request)
    assert (response.status_code, stream.consumed) == (413, 0)
    assert seen == []


@pytest.mark.parametrize(("size", "status"), [(900, 200), (5000, 413)])
def test_body_without_length_is_read_up_to_the_limit(size: int, status: int) -> None:
    """A de-chunked body without Content-Length is read whole, or to one byte past the limit."""
    receiver, seen = _receiver(max_body_size=1000)
    body, headers = _unknown_delivery(size)
    request, stream = _wsgi_request(body, headers, declare=None, terminated=True)
    response = webhook_view(receiver)(request)
    assert response.status_code == status, response.content
    assert stream.consumed == min(len(body), receiver.max_body_size + 1)
    assert len(seen) == (status == 200)


def test_body_read_by_a_middleware_still_verifies(routes: Callable[..., Iterator[Client]]) -> None:
    """A middleware that read ``request.body`` first leaves the view the same raw bytes."""
    receiver, seen = _receiver()
    middleware = [*settings.MIDDLEWARE, f"{__name__}.read_body_middleware"]
    with override_settings(MIDDLEWARE=middleware):
        for client in routes(*webhook_urls(receiver)):
            body, headers = _unknown_delivery()
            assert _post(client, "/webhooks/pulse", body, headers).status_code == 200
    assert len(seen) == 1


def read_body_middleware(get_response: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A middleware that reads the whole body before the view, as some logging ones do."""

    def middleware(request: Any) -> Any:
        assert request.body
        return get_response(request)

    return middleware


def test_async_view_is_a_coroutine_view() -> None:
    """`async_webhook_view` is a coroutine function, so Django awaits it on the event loop."""
    receiver, _ = _receiver()
    assert asyncio.iscoroutinefunction(async_webhook_view(receiver))
    assert not asyncio.iscoroutinefunction(webhook_view(receiver))


def test_sync_view_refuses_an_async_store() -> None:
    """`webhook_view` refuses an async store with a hint; `async_webhook_view` takes it."""
    store = AsyncRedisStore("redis://127.0.0.1:6379/0")
    receiver, _ = _receiver(store)
    with pytest.raises(TypeError, match="async_webhook_view"):
        webhook_view(receiver)
    assert async_webhook_view(receiver).__name__ == "pulse_webhook"


def test_webhook_urls_are_named_and_prefixed(routes: Callable[..., Iterator[Client]]) -> None:
    """Each route is at ``<prefix><segment>`` and named ``webhooks-<segment>``."""
    pulse, _ = _receiver()
    struktr = Receiver("struktr", secret=SECRETS["struktr"])
    patterns = webhook_urls([pulse, struktr])
    assert [p.name for p in patterns] == ["webhooks-pulse", "webhooks-struktr"]
    for _ in routes(*patterns, *webhook_urls({"billing": pulse}, prefix="hooks/v2/")):
        assert reverse("webhooks-pulse") == "/webhooks/pulse"
        assert reverse("webhooks-struktr") == "/webhooks/struktr"
        assert reverse("webhooks-billing") == "/hooks/v2/billing"
    with pytest.raises(ValueError, match="two receivers for 'pulse'"):
        webhook_urls([pulse, _receiver()[0]])


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize(
    "url",
    ["/webhooks/pulse", "/webhooks/pulse/", "/hooks/v2/billing", "/hooks/v2/billing/"],
)
def test_a_trailing_slash_reaches_the_same_view(
    routes: Callable[..., Iterator[Client]], url: str, *, asynchronous: bool
) -> None:
    """A delivery with or without a trailing slash is processed, not a 404 or redirect."""
    receiver, seen = _receiver()
    patterns = [
        *webhook_urls(receiver, asynchronous=asynchronous),
        *webhook_urls({"billing": receiver}, prefix="hooks/v2/", asynchronous=asynchronous),
    ]
    with override_settings(APPEND_SLASH=True):
        for client in routes(*patterns):
            response = _post(client, url, *_unknown_delivery())
            assert response.status_code == 200
            assert response.json() == {"status": "processed"}
            assert reverse("webhooks-pulse") == "/webhooks/pulse"
    assert len(seen) == 1


def test_unknown_path_is_djangos_404(routes: Callable[..., Iterator[Client]]) -> None:
    """A provider nobody routed is Django's usual 404, not a receiver answer."""
    receiver, _ = _receiver()
    for client in routes(*webhook_urls(receiver)):
        assert client.post("/webhooks/struktr").status_code == 404


def test_missing_django_names_the_extra() -> None:
    """Importing `webhook_kit.django` without Django raises `ImportError` naming the extra."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'django' or name.startswith('django.'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import webhook_kit\n"
        "try:\n"
        "    import webhook_kit.django\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
        "else:\n"
        "    print('imported')\n"
    )
    result = _run(code)
    assert result.returncode == 0, result.stderr
    assert "pip install 'webhook-kit[django]'" in result.stdout


def test_package_root_does_not_import_django() -> None:
    """`import webhook_kit` (and its idempotency package) never loads Django."""
    result = _run(
        "import sys, webhook_kit, webhook_kit.idempotency; print('django' in sys.modules)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_migration_matches_the_model() -> None:
    """The checked-in migration describes the model exactly: makemigrations finds nothing new."""
    call_command("makemigrations", "webhook_kit", check=True, dry_run=True, verbosity=0)


# DjangoStore through the views, on the real PostgreSQL database.


@pytest.fixture
def store_alias(postgres_dsn: str, tmp_path: Path) -> Iterator[str]:
    """A database alias on a fresh PostgreSQL schema, migrated, dropped after the test."""
    name = f"wk_django_{uuid.uuid4().hex[:12]}"
    drop = create_store_database(postgres_dsn, name)
    yield name
    drop()


def test_django_store_deduplicates_through_the_view(
    store_alias: str, routes: Callable[..., Iterator[Client]]
) -> None:
    """With `DjangoStore`, a retried delivery is a duplicate and its handler runs once."""
    receiver, seen = _receiver(DjangoStore(using=store_alias, prefix="wk-test"))
    body, headers = _unknown_delivery(message_id="msg_dup")
    for client in routes(*webhook_urls(receiver)):
        assert _post(client, "/webhooks/pulse", body, headers).json() == {"status": "processed"}
        assert _post(client, "/webhooks/pulse", body, headers).json() == {"status": "duplicate"}
    assert len(seen) == 1


def test_views_run_outside_atomic_requests(
    postgres_dsn: str, store_alias: str, routes: Callable[..., Iterator[Client]]
) -> None:
    """With ATOMIC_REQUESTS on, handlers (and the store's claim) still run in autocommit."""
    atomic = f"{store_alias}_atomic"
    add_database(atomic, {**connections.settings[store_alias], "ATOMIC_REQUESTS": True})
    try:
        receiver, _ = _receiver(MemoryStore())
        in_block: list[bool] = []
        receiver.on_unknown(lambda _event: in_block.append(connections[atomic].in_atomic_block))
        for client in routes(*webhook_urls(receiver)):
            assert _post(client, "/webhooks/pulse", *_unknown_delivery()).status_code == 200
        assert in_block == [False]
    finally:
        remove_database(atomic)


def test_unreachable_django_database_is_503(routes: Callable[..., Iterator[Client]]) -> None:
    """A DjangoStore whose database refuses connections answers 503 with Retry-After."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    alias = f"wk_down_{uuid.uuid4().hex[:12]}"
    add_database(
        alias,
        {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "test",
            "USER": "postgres",
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "OPTIONS": {"connect_timeout": 2},
        },
    )
    try:
        receiver, seen = _receiver(DjangoStore(using=alias))
        for client in routes(*webhook_urls(receiver)):
            response = _post(client, "/webhooks/pulse", *_unknown_delivery())
            assert (response.status_code, response.json()) == (503, {"error": "store_unavailable"})
            assert response["Retry-After"] == "30"
        assert seen == []
    finally:
        remove_database(alias)


def test_django_store_names_a_missing_alias() -> None:
    """A `using` that DATABASES does not define is refused at construction, naming the alias."""
    with pytest.raises(ValueError, match="'nowhere'"):
        DjangoStore(using="nowhere")


def test_sqlite_store_works_under_the_async_view(tmp_path: Path) -> None:
    """The async view runs a sync store in threads and still deduplicates."""
    receiver, seen = _receiver(SQLiteStore(tmp_path / "idem.sqlite3"))
    body, headers = _unknown_delivery(message_id="msg_async")
    view = async_webhook_view(receiver)
    for _ in range(2):
        request, _stream = _wsgi_request(body, headers, declare=str(len(body)))
        assert _call(view, request).status_code == 200
    assert len(seen) == 1


def _call(view: Any, request: Any) -> Any:
    """Call a sync or coroutine view directly."""
    result = view(request)
    return asyncio.run(result) if asyncio.iscoroutine(result) else result


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )


@pytest.mark.parametrize("vendor", ["sqlite", "postgresql"])
def test_missing_migration_is_503_naming_the_command(
    vendor: str, request: pytest.FixtureRequest, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A `DjangoStore` whose table was never migrated answers 503, logging what to run."""
    name = "wk_unmigrated_" + uuid.uuid4().hex[:10]
    location = str(tmp_path / "db.sqlite3")
    if vendor == "postgresql":
        location = request.getfixturevalue("postgres_dsn")
    add_database(name, store_database(location, name))
    try:
        if vendor == "postgresql":
            with connections[name].cursor() as cursor:
                cursor.execute(f'CREATE SCHEMA "{name}"')
        receiver = Receiver("struktr", secret=SECRETS["struktr"], store=DjangoStore(using=name))
        body, headers = testing.signed_delivery("struktr", SECRETS["struktr"], "batch.progress")
        with caplog.at_level("ERROR", logger="webhook_kit"):
            outcome = receiver.handle(body, headers)
        assert (outcome.status, outcome.body) == (503, {"error": "store_unavailable"})
        assert "manage.py migrate webhook_kit" in caplog.text
    finally:
        if vendor == "postgresql":
            with connections[name].cursor() as cursor:
                cursor.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        remove_database(name)
