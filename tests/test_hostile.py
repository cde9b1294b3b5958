"""Hostile requests: whatever arrives, the answer is a documented 4xx and no handler runs for it.

A webhook URL is public. These properties throw random and mutated headers, bodies and methods at
every provider preset, directly and through every installed adapter, with a bounded budget per
run. `benchmarks/fuzz.py` runs the same properties with a much larger budget outside CI.
"""

from __future__ import annotations

import ast
import hmac
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import strategies as ws
from tests.receiving import CLIENTS, SECRETS, refused_by_server
from webhook_kit import MemoryStore, Receiver, providers, signatures, testing

NAMES = list(providers.PROVIDERS)

#: What an unverified request may be answered with: never 200, never 5xx.
UNVERIFIED = {401, 405, 413}
#: What a correctly signed but arbitrary body may be answered with.
SIGNED = {200, 400, 413}

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


class Counter:
    """A handler that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, _event: Any) -> None:
        self.calls += 1


def receiver_for(name: str, **options: Any) -> tuple[Receiver, Counter]:
    """A receiver for `name` with a counting handler on every event type, known or not."""
    receiver = Receiver(name, secret=SECRETS[name], store=MemoryStore(), **options)
    counter = Counter()
    for event_type in receiver.provider.event_types:
        receiver.on(event_type)(counter)
    receiver.on_unknown(counter)
    return receiver, counter


def header_names(name: str) -> list[str]:
    """The header names `name`'s verifier and preset read, in several spellings."""
    headers = testing.signed_delivery(name, SECRETS[name], next(iter(testing.event_types(name))))[1]
    return [spelling for header in headers for spelling in (header, header.lower(), header.upper())]


def hostile_headers(name: str, sendable: bool) -> st.SearchStrategy[dict[str, Any]]:
    """Headers with the provider's names (and random ones) set to garbage.

    `sendable` keeps values to what every test client puts on the wire (printable ASCII); the
    direct clients get anything, non-ASCII, bytes and NUL included.
    """
    values = (
        st.text(
            alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E),
            max_size=300,
        )
        | st.text(alphabet="v1,=+/ abcdefABCDEF0123456789", max_size=300)
        | st.just("v1," + "A" * 44 + " ").map(lambda v: v * 200)
        if sendable
        else ws.garbage_values
    )
    names = st.sampled_from(header_names(name)) | st.sampled_from(["Content-Type", "X-Other"])
    return st.dictionaries(names, values, max_size=6)


METHODS = st.sampled_from(["POST", "POST", "POST", "GET", "PUT", "DELETE", "PATCH"])


@pytest.mark.parametrize("client", list(CLIENTS))
@pytest.mark.parametrize("name", NAMES)
def test_unsigned_garbage_is_refused(client: str, name: str) -> None:
    """Random bodies, headers and methods get 401, 405 or 413, never 200 or 5xx; no handler runs.

    Requests aiohttp's parser refuses (a header field over its `max_field_size`) never reach the
    receiver: its own 400 is accepted for those, and only those (see tests/clients/aiohttp.py).
    """
    receiver, counter = receiver_for(name, max_body_size=4096)
    post = CLIENTS[client](receiver)
    sendable = not client.startswith("core")

    @FUZZ
    @given(body=ws.bodies, headers=hostile_headers(name, sendable), method=METHODS)
    def check(body: bytes, headers: dict[str, Any], method: str) -> None:
        reply = post(body, headers, method)
        if refused_by_server(reply):
            return  # aiohttp's parser refused a header over its field limit: no handler ran
        assert reply.status in UNVERIFIED, (reply.status, reply.body)
        assert set(reply.body) <= {"error", "message"}

    check()
    assert counter.calls == 0


#: JSON-ish bodies: valid JSON of any shape, documented samples with mutations, huge numbers.
def json_bodies(name: str) -> st.SearchStrategy[bytes]:
    """Bodies a sender might sign: random JSON, mutated samples, deep nesting, wrong types."""
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
    documents = st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=20,
    )
    samples = st.sampled_from(sorted(testing.event_types(name))).map(
        lambda event_type: testing.sample(name, event_type)
    )

    def mutate(sample: dict[str, Any], key: str, value: Any) -> bytes:
        mutated = dict(sample)
        mutated[key] = value
        return json.dumps(mutated).encode()

    mutated = st.builds(
        mutate,
        samples,
        st.sampled_from(["event", "type", "data", "timestamp", "status", "job_id", "id"]),
        documents,
    )
    nesting = st.integers(1, 5000).map(lambda depth: b"[" * depth + b"]" * depth)
    huge = st.integers(300, 5000).map(lambda digits: b'{"event": ' + b"9" * digits + b"}")
    return (
        documents.map(lambda doc: json.dumps(doc).encode()) | mutated | nesting | huge | ws.bodies
    )


@pytest.mark.parametrize("client", list(CLIENTS))
@pytest.mark.parametrize("name", NAMES)
def test_signed_garbage_is_a_clean_4xx(client: str, name: str) -> None:
    """Correctly signed but arbitrary bodies get 200, 400 or 413, never 5xx; 400 runs no handler."""
    receiver, counter = receiver_for(name, max_body_size=32 * 1024)
    post = CLIENTS[client](receiver)

    @FUZZ
    @given(body=json_bodies(name))
    def check(body: bytes) -> None:
        before = counter.calls
        reply = post(*testing.signed_delivery(name, SECRETS[name], body))
        assert reply.status in SIGNED, (reply.status, reply.body)
        ran = counter.calls - before
        assert ran == (1 if reply.body.get("status") == "processed" else 0)

    check()


@pytest.mark.parametrize("name", NAMES)
def test_any_mutation_of_a_signed_delivery_is_refused(name: str) -> None:
    """Changing any byte of the body, or any signature header, of a valid delivery gives 401."""
    receiver, counter = receiver_for(name)
    post = CLIENTS["core-sync"](receiver)
    body, headers = testing.signed_delivery(
        name, SECRETS[name], next(iter(testing.event_types(name)))
    )
    signature_header = next(h for h in headers if "signature" in h.lower())

    @FUZZ
    @given(index=st.integers(0, len(body) - 1), flip=st.integers(1, 255), in_header=st.booleans())
    def check(index: int, flip: int, in_header: bool) -> None:
        if in_header:
            value = headers[signature_header]
            position = index % len(value)
            changed = chr((ord(value[position]) ^ flip) % 0x80 or 0x41)
            if changed.lower() == value[position].lower():
                return  # hex signatures are case-insensitive: not a different signature
            forged = {
                **headers,
                signature_header: value[:position] + changed + value[position + 1 :],
            }
            reply = post(body, forged)
        else:
            reply = post(body[:index] + bytes([body[index] ^ flip]) + body[index + 1 :], headers)
        assert reply.status == 401, reply.body

    check()
    assert counter.calls == 0


@pytest.mark.parametrize("client", list(CLIENTS))
@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000],
    ids=["arrays", "objects"],
)
def test_deep_nesting_is_a_payload_error(client: str, body: bytes) -> None:
    """JSON nested far past any real payload is a 400, not a RecursionError or a 500."""
    receiver, counter = receiver_for("struktr")
    reply = CLIENTS[client](receiver)(*testing.signed_delivery("struktr", SECRETS["struktr"], body))
    assert (reply.status, reply.body["error"]) == (400, "invalid_payload")
    assert counter.calls == 0


@pytest.mark.parametrize("name", NAMES)
def test_many_signatures_in_one_header_are_bounded_work(name: str) -> None:
    """A header with thousands of candidate signatures is refused like any other forgery."""
    receiver, counter = receiver_for(name)
    body, headers = testing.signed_delivery(
        name, SECRETS[name], next(iter(testing.event_types(name)))
    )
    signature_header = next(h for h in headers if "signature" in h.lower())
    forged = " ".join(["v1," + "A" * 43 + "="] * 5000 + ["sha256=" + "0" * 64] * 5000)
    reply = CLIENTS["core-sync"](receiver)(body, {**headers, signature_header: forged})
    assert reply.status == 401
    assert counter.calls == 0


# Timing: signature material is compared only with hmac.compare_digest, on equal-length values.

#: Names that hold computed or received signature material in the verifier modules.
SECRET_NAMES = {"digest", "mac", "expected", "received", "candidate", "candidates", "signature"}
_DIGEST_CALLS = {"digest", "hexdigest", "digest_one", "digest_two"}


def _touches_signature(node: ast.AST) -> bool:
    for child in ast.walk(node):
        if isinstance(child, ast.Name) and child.id in SECRET_NAMES:
            return True
        if isinstance(child, ast.Call):
            func = child.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in _DIGEST_CALLS:
                return True
    return False


def _equality_on_signatures(source: str) -> list[str]:
    """The `==`, `!=`, `in` comparisons whose operands hold signature material (not lengths)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare):
            continue
        if not any(isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn) for op in node.ops):
            continue
        operands = [node.left, *node.comparators]
        # Comparing a length, or a fixed version prefix slice, says nothing about the digest.
        risky = [
            operand
            for operand in operands
            if _touches_signature(operand)
            and not (isinstance(operand, ast.Call) and getattr(operand.func, "id", "") == "len")
            and not (isinstance(operand, ast.Subscript) and isinstance(operand.slice, ast.Slice))
        ]
        if risky:
            found.append(ast.unparse(node))
    return found


@pytest.mark.parametrize(
    "path",
    [Path(signatures.__file__), Path(signatures.__file__).with_name("_hmac.py")],
    ids=lambda path: path.name,
)
def test_no_equality_operator_compares_signature_material(path: Path) -> None:
    """The verifier modules never use ==, != or `in` on digests or received signatures."""
    assert _equality_on_signatures(path.read_text()) == []


def test_the_equality_scan_catches_a_leaky_comparison() -> None:
    """The scan above flags the comparisons it exists to forbid."""
    leaky = "if key.digest_one(message) == received:\n    pass\nok = digest != expected\n"
    assert len(_equality_on_signatures(leaky)) == 2


@pytest.mark.parametrize("name", NAMES)
def test_only_compare_digest_on_equal_lengths_decides(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every comparison that decides a signature goes through compare_digest, on equal lengths."""
    calls: list[tuple[int, int]] = []

    def recording(a: Any, b: Any) -> bool:
        calls.append((len(a), len(b)))
        return hmac.compare_digest(a, b)

    monkeypatch.setattr(signatures, "compare_digest", recording)
    receiver, _ = receiver_for(name)
    body, headers = testing.signed_delivery(
        name, SECRETS[name], next(iter(testing.event_types(name)))
    )
    signature_header = next(h for h in headers if "signature" in h.lower())
    value = headers[signature_header]
    # Right in every byte but the last: a leaky comparison would take longer on this one.
    nearly = value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1]
    assert receiver.handle(body, {**headers, signature_header: nearly}).status == 401
    assert receiver.handle(body, headers).status == 200
    assert calls, "compare_digest was never called"
    assert all(left == right for left, right in calls), calls


def test_a_50_mib_delivery_peaks_under_twice_its_size() -> None:
    """Verifying, parsing and dispatching a 50 MiB body allocates under 2x the body at peak."""
    payload = testing.sample("struktr", "document.completed")
    payload["data"]["data"]["raw_text"] = "x" * (50 * 1024 * 1024)
    body, headers = testing.signed_delivery("struktr", SECRETS["struktr"], payload)
    receiver, counter = receiver_for("struktr", max_body_size=64 * 1024 * 1024)
    tracemalloc.start()
    try:
        status = receiver.handle(body, headers).status
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (status, counter.calls) == (200, 1)
    assert peak < 2 * len(body), f"peak {peak / len(body):.2f}x the body"
