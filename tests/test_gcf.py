"""What `webhook_kit.gcf` promises beyond the receiver contract (run through the `gcf` client).

Sizes are driven through the WSGI interface of the app functions-framework builds, so what it
reads of a body is observable: functions-framework reads the rest of every request once it is
answered, and must not read a body refused as too large. Also: routing several receivers, the
async store refusal, and the message when the framework is missing.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder, run_wsgi_app

from tests.clients.gcf import app_for
from tests.receiving import SECRETS
from tests.test_adapters import _BLOCKED_IMPORT, ROOT, CountingInput
from webhook_kit import MemoryStore, Receiver, TenantSecrets, current_tenant, testing
from webhook_kit.gcf import webhook_function
from webhook_kit.idempotency.redis import AsyncRedisStore

LIMIT = 4096


def _send(
    receiver: Receiver, chunks: list[bytes], headers: Mapping[str, str], length: int | None
) -> tuple[int, dict[str, Any], int, int]:
    """POST `chunks` as gunicorn hands them over; the status, body, reads and bytes left unread."""
    app = app_for(webhook_function(receiver))
    stream = CountingInput(chunks)
    environ = EnvironBuilder(
        path="/webhooks/imggo", method="POST", headers=dict(headers)
    ).get_environ()
    environ["wsgi.input"] = io.BufferedReader(stream, 1024)
    environ.pop("CONTENT_LENGTH", None)
    if length is None:
        environ["wsgi.input_terminated"] = True
    else:
        environ["CONTENT_LENGTH"] = str(length)
    app_iter, status, _ = run_wsgi_app(app, environ, buffered=True)
    content = b"".join(app_iter)
    unread = sum(len(chunk) for chunk in stream.pending)
    return int(status.split()[0]), json.loads(content), stream.reads, unread


def _imggo(seen: list[Any]) -> Receiver:
    receiver = Receiver("imggo", secret=SECRETS["imggo"], store=MemoryStore(), max_body_size=LIMIT)
    receiver.on("job.completed")(seen.append)
    return receiver


def _chunks(body: bytes, size: int = 1000) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


def test_declared_length_over_the_limit_is_refused_and_left_unread() -> None:
    """A Content-Length over the limit is 413, and functions-framework reads none of the body."""
    seen: list[Any] = []
    body, headers = testing.signed_delivery("imggo", SECRETS["imggo"], b"{" + b" " * LIMIT + b"}")
    status, reply, reads, unread = _send(_imggo(seen), _chunks(body), headers, len(body))
    assert (status, reply["error"], reads, unread) == (413, "payload_too_large", 0, len(body))
    assert not seen


def test_chunked_body_over_the_limit_is_not_read_to_its_end() -> None:
    """A body streamed past the limit is 413 once over it; the rest stays unread."""
    seen: list[Any] = []
    payload = testing.sample("imggo", "job.completed") | {"pad": "p" * (LIMIT * 4)}
    body, headers = testing.signed_delivery("imggo", SECRETS["imggo"], payload)
    status, reply, _, unread = _send(_imggo(seen), _chunks(body), headers, None)
    assert (status, reply["error"]) == (413, "payload_too_large")
    assert unread > len(body) - LIMIT - 1000
    assert not seen


def test_a_delivery_under_the_limit_is_read_whole_and_processed() -> None:
    """A chunked body under the limit is read whole and processed once."""
    seen: list[Any] = []
    payload = testing.sample("imggo", "job.completed") | {"pad": "p" * 2500}
    body, headers = testing.signed_delivery("imggo", SECRETS["imggo"], payload)
    status, reply, _, unread = _send(_imggo(seen), _chunks(body), headers, None)
    assert (status, reply, unread) == (200, {"status": "processed"}, 0)
    assert len(seen) == 1


def test_several_receivers_are_routed_by_the_last_path_segment() -> None:
    """One function serves several receivers at /…/<name>; another path is 404."""
    seen: Counter[str] = Counter()
    receivers = {name: Receiver(name, secret=SECRETS[name]) for name in ("imggo", "pulse")}
    receivers["imggo"].on("job.completed")(lambda _e: seen.update(["imggo"]))
    receivers["pulse"].on("job.completed")(lambda _e: seen.update(["pulse"]))
    client = app_for(webhook_function(receivers)).test_client()
    body, headers = testing.signed_delivery("pulse", SECRETS["pulse"], "job.completed")
    assert client.post("/webhooks/pulse", data=body, headers=headers).status_code == 200
    missing = client.post("/webhooks/stripe", data=body, headers=headers)
    assert (missing.status_code, missing.get_json()["error"]) == (404, "not_found")
    assert client.post("/imggo", data=body, headers=headers).status_code == 401
    assert seen == Counter({"pulse": 1})


def test_one_receiver_answers_every_path() -> None:
    """A function of one receiver answers at its root and at any path, as deployed."""
    seen: list[Any] = []
    client = app_for(webhook_function(_imggo(seen))).test_client()
    for number, path in enumerate(("/", "/anything/at/all")):
        payload = testing.sample("imggo", "job.completed") | {"job_id": f"job-{number}"}
        body, headers = testing.signed_delivery("imggo", SECRETS["imggo"], payload)
        reply = client.post(path, data=body, headers=headers)
        assert (reply.status_code, reply.get_json()) == (200, {"status": "processed"})
    assert len(seen) == 2


def _counting(seen: Counter[str], name: str) -> Callable[[Any], None]:
    """A handler counting the deliveries of receiver `name` as ``<name>/<tenant>``."""

    def count(_event: Any) -> None:
        seen.update([f"{name}/{current_tenant()}"])

    return count


def test_a_tenant_receiver_among_several_is_reached_at_provider_then_tenant() -> None:
    """``/…/struktr/acme`` is struktr for acme; without a tenant it is the wrong-signature 401."""
    keys = {"acme": "acme-struktr-secret"}
    receivers: dict[str, Receiver[Any]] = {
        "imggo": Receiver("imggo", secret=SECRETS["imggo"]),
        "struktr": Receiver("struktr", secret=TenantSecrets(keys.get)),
    }
    seen: Counter[str] = Counter()
    for name, receiver in receivers.items():
        receiver.on_any(_counting(seen, name))
    client = app_for(webhook_function(receivers)).test_client()

    def post(path: str, number: int) -> Any:
        body, headers = testing.signed_delivery(
            "struktr", keys["acme"], "document.completed", delivery_id=f"d{number}"
        )
        return client.post(path, data=body, headers=headers)

    assert post("/webhooks/struktr/acme", 1).status_code == 200
    wrong = post("/webhooks/struktr/beta", 2)
    assert (wrong.status_code, wrong.get_json()["error"]) == (401, "signature_mismatch")
    for number, path in enumerate(("/webhooks/struktr", "/webhooks/struktr/", "/struktr/x y")):
        refused = post(path, 3 + number)
        assert (refused.status_code, refused.get_json()) == (wrong.status_code, wrong.get_json())
    missing = post("/webhooks/stripe/acme", 9)
    assert (missing.status_code, missing.get_json()["error"]) == (404, "not_found")
    imggo = testing.signed_delivery("imggo", SECRETS["imggo"], "job.completed")
    assert client.post("/webhooks/imggo", data=imggo.body, headers=imggo.headers).status_code == 200
    assert seen == Counter({"struktr/acme": 1, "imggo/None": 1})


def test_receivers_given_as_an_iterator_are_all_served() -> None:
    """A generator of receivers is read once: each of them is routed, none is lost."""
    names = ("imggo", "pulse")
    function = webhook_function(Receiver(name, secret=SECRETS[name]) for name in names)
    client = app_for(function).test_client()
    for name in names:
        body, headers = testing.signed_delivery(name, SECRETS[name], "job.completed")
        assert client.post(f"/webhooks/{name}", data=body, headers=headers).status_code == 200


def test_an_async_lookup_is_refused() -> None:
    """Cloud Functions run Flask views: an ``async def`` tenant lookup is a TypeError at once."""

    async def lookup(tenant: str) -> str | None:
        return None

    receivers: list[Receiver[Any]] = [
        Receiver("imggo", secret="s"),
        Receiver("pulse", secret=TenantSecrets(lookup)),
    ]
    with pytest.raises(TypeError, match="async lookup, and a Cloud Function"):
        webhook_function(receivers)


def test_an_async_store_is_refused() -> None:
    """Cloud Functions run Flask views: an async store is a TypeError naming its sync twin."""
    receiver = Receiver("imggo", secret="s", store=AsyncRedisStore("redis://127.0.0.1:1/0"))
    with pytest.raises(TypeError, match="RedisStore rather than AsyncRedisStore"):
        webhook_function(receiver)


def test_missing_framework_names_the_extra() -> None:
    """Importing webhook_kit.gcf without Flask raises ImportError naming the gcf extra."""
    code = _BLOCKED_IMPORT.format(framework="flask", module="gcf")
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'webhook-kit[gcf]'" in result.stdout, result.stdout
