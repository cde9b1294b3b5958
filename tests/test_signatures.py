"""The signature verifiers: round trips, tampering, malformed input, rotation, header objects."""

from __future__ import annotations

import base64
import hashlib
import hmac
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pytest
from django.http.request import HttpHeaders
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy
from starlette.datastructures import Headers as StarletteHeaders
from werkzeug.datastructures import Headers as WerkzeugHeaders

from tests import strategies
from webhook_kit import (
    HexHmacVerifier,
    MalformedHeaderError,
    MissingHeaderError,
    Provider,
    Receiver,
    Secret,
    SignatureMismatchError,
    SigningKey,
    StandardWebhooksVerifier,
    TimestampOutOfToleranceError,
    VerificationError,
    Verifier,
    providers,
    testing,
)
from webhook_kit.pytest_plugin import FrozenClock

NOW = 1_704_067_200
BODY = b'{"event":"document.completed","data":{"id":"doc_abc123"}}'


@dataclass(frozen=True)
class Scheme:
    """One signature scheme under test: how to build its verifier, and its secrets."""

    name: str
    make: Callable[[Secret | Sequence[Secret]], Verifier]
    secrets: SearchStrategy[Any]
    header: str
    example_secret: Secret

    def __str__(self) -> str:
        return self.name


SCHEMES = [
    Scheme(
        "sha256-prefixed",
        lambda s: HexHmacVerifier(s, header="X-Struktr-Signature", prefix="sha256="),
        strategies.hex_secrets,
        "X-Struktr-Signature",
        "struktr-secret",
    ),
    Scheme(
        "bare-hex",
        lambda s: HexHmacVerifier(s, header="X-ImgGo-Signature"),
        strategies.hex_secrets,
        "X-ImgGo-Signature",
        "imggo-secret",
    ),
    Scheme(
        "standard-webhooks",
        StandardWebhooksVerifier,
        strategies.standard_secrets,
        "webhook-signature",
        "whsec_" + base64.b64encode(b"pulse-key-0123456789abcdef").decode(),
    ),
]

each_scheme = pytest.mark.parametrize("scheme", SCHEMES, ids=str)


def flip(value: bytes, index: int) -> bytes:
    """Return `value` with one byte changed at `index` (wrapped to its length)."""
    index %= len(value)
    return value[:index] + bytes([value[index] ^ 0x01]) + value[index + 1 :]


def flip_text(value: str, index: int) -> str:
    """Return `value` with the character at `index` (wrapped) replaced by a different digit."""
    index %= len(value)
    replacement = "0" if value[index] != "0" else "1"
    return value[:index] + replacement + value[index + 1 :]


# Round trips and tampering


@each_scheme
@given(data=st.data(), body=strategies.bodies)
def test_signed_body_verifies(scheme: Scheme, data: st.DataObject, body: bytes) -> None:
    """Whatever the body and secret, what sign() produces passes verify()."""
    verifier = scheme.make(data.draw(scheme.secrets))
    verifier.verify(body, verifier.sign(body, now=NOW), now=NOW)


@each_scheme
@given(data=st.data(), body=strategies.bodies.filter(bool), index=st.integers(min_value=0))
def test_any_changed_body_byte_is_rejected(
    scheme: Scheme, data: st.DataObject, body: bytes, index: int
) -> None:
    """Changing any single byte of the body makes verification fail with a mismatch."""
    verifier = scheme.make(data.draw(scheme.secrets))
    headers = verifier.sign(body, now=NOW)
    with pytest.raises(SignatureMismatchError):
        verifier.verify(flip(body, index), headers, now=NOW)


@each_scheme
@given(body=strategies.bodies, index=st.integers(min_value=0))
def test_any_changed_signature_character_is_rejected(
    scheme: Scheme, body: bytes, index: int
) -> None:
    """Changing any character of the signature value makes verification fail."""
    verifier = scheme.make(scheme.example_secret)
    headers = verifier.sign(body, now=NOW)
    value = headers[scheme.header]
    headers[scheme.header] = flip_text(value, index)
    with pytest.raises(VerificationError):
        verifier.verify(body, headers, now=NOW)


@pytest.mark.parametrize("field", ["webhook-id", "webhook-timestamp"])
@given(body=strategies.bodies, index=st.integers(min_value=0))
def test_standard_webhooks_changed_id_or_timestamp_is_rejected(
    field: str, body: bytes, index: int
) -> None:
    """The id and the timestamp are signed: changing either one fails verification."""
    verifier = StandardWebhooksVerifier(SCHEMES[2].example_secret)
    headers = verifier.sign(body, now=NOW, msg_id="msg_2Jv7pYGL7UwXqF3v6RjLVxQYPZG")
    value = headers[field]
    position = index % len(value)
    digit = "1" if value[position] != "1" else "2"
    headers[field] = value[:position] + digit + value[position + 1 :]
    with pytest.raises((SignatureMismatchError, TimestampOutOfToleranceError)):
        verifier.verify(body, headers, now=int(headers["webhook-timestamp"]))


@each_scheme
def test_wrong_secret_is_a_mismatch(scheme: Scheme) -> None:
    """A delivery signed with another secret is a mismatch, and says which header to check."""
    other = scheme.make(_other_secret(scheme))
    headers = other.sign(BODY, now=NOW)
    with pytest.raises(SignatureMismatchError) as caught:
        scheme.make(scheme.example_secret).verify(BODY, headers, now=NOW)
    assert caught.value.header == scheme.header
    assert caught.value.status_code == 401


# Rotation


@each_scheme
def test_any_configured_secret_verifies(scheme: Scheme) -> None:
    """During rotation a delivery signed with the old or the new secret passes."""
    old, new = scheme.example_secret, _other_secret(scheme)
    both = scheme.make([new, old])
    both.verify(BODY, scheme.make(old).sign(BODY, now=NOW), now=NOW)
    both.verify(BODY, scheme.make(new).sign(BODY, now=NOW), now=NOW)
    with pytest.raises(SignatureMismatchError) as caught:
        scheme.make([new]).verify(BODY, scheme.make(old).sign(BODY, now=NOW), now=NOW)
    assert caught.value.key_id is None  # no configured key made it


def test_first_secret_signs() -> None:
    """sign() uses the first secret of a rotation list: the current one."""
    rotated = HexHmacVerifier(["new", "old"], header="X-Webhook-Signature")
    assert rotated.sign(BODY) == HexHmacVerifier("new", header="X-Webhook-Signature").sign(BODY)
    standard = StandardWebhooksVerifier([b"new-key", b"old-key"])
    headers = standard.sign(BODY, now=NOW, msg_id="msg_1")
    assert headers == StandardWebhooksVerifier(b"new-key").sign(BODY, now=NOW, msg_id="msg_1")


def _other_secret(scheme: Scheme) -> Secret:
    if scheme.name == "standard-webhooks":
        return "whsec_" + base64.b64encode(b"another-key-9876543210").decode()
    return "another-secret"


# Key ids and validity windows

HOUR = 3600


def _plain_signer(scheme: Scheme, key: bytes) -> Verifier:
    """A verifier of `key` alone, without id or window: signs at any time."""
    return scheme.make(key)


@each_scheme
@given(keys=strategies.distinct_keys, data=st.data())
def test_verify_returns_the_id_of_the_key_that_signed(
    scheme: Scheme, keys: list[bytes], data: st.DataObject
) -> None:
    """With several keys, plain or named, verify() returns the id of the one that signed."""
    named = [data.draw(st.booleans()) for _ in keys]
    ring: list[Secret] = [
        SigningKey(key, id=f"key-{index}") if name else key
        for index, (key, name) in enumerate(zip(keys, named, strict=True))
    ]
    verifier = scheme.make(ring)
    for index, key in enumerate(keys):
        expected = f"key-{index}" if named[index] else verifier.key_ids[index]
        headers = _plain_signer(scheme, key).sign(BODY, now=NOW)
        assert verifier.verify(BODY, headers, now=NOW) == expected
    assert len(set(verifier.key_ids)) == len(keys)


@each_scheme
@given(keys=strategies.distinct_keys)
def test_a_plain_secret_is_known_by_a_stable_fingerprint(scheme: Scheme, keys: list[bytes]) -> None:
    """A plain secret's id is `fp:` and 8 hex digits, the same at any position of any list."""
    alone = [scheme.make(key).key_ids[0] for key in keys]
    assert scheme.make(keys).key_ids == tuple(alone)
    assert scheme.make(keys[::-1]).key_ids == tuple(alone[::-1])
    for key, key_id in zip(keys, alone, strict=True):
        assert key_id.startswith("fp:")
        assert len(key_id) == 11
        int(key_id[3:], 16)
        assert key_id[3:] != hashlib.sha256(key).hexdigest()[:8]  # labelled, not a bare hash


def test_a_fingerprint_names_the_key_whatever_its_notation() -> None:
    """`whsec_`, bare base64 and raw bytes of one Standard Webhooks key share one fingerprint."""
    key = b"0123456789abcdef"
    forms: list[Secret] = ["whsec_" + base64.b64encode(key).decode(), key]
    ids = {StandardWebhooksVerifier(form).key_ids for form in forms}
    assert ids == {HexHmacVerifier(key, header="X-Sig").key_ids}


@each_scheme
@pytest.mark.parametrize(
    ("offset", "passes"),
    [(-HOUR - 1, False), (-HOUR, True), (0, True), (HOUR - 1, True), (HOUR, False)],
)
def test_a_key_verifies_only_inside_its_window(scheme: Scheme, offset: int, passes: bool) -> None:
    """From not_before (included) until not_after (excluded); outside it, a mismatch naming it."""
    key = b"windowed-key-0123456789"
    window = SigningKey(key, id="w", not_before=NOW - HOUR, not_after=NOW + HOUR)
    verifier = scheme.make(window)
    at = NOW + offset
    headers = _plain_signer(scheme, key).sign(BODY, now=at)
    if passes:
        assert verifier.verify(BODY, headers, now=at) == "w"
    else:
        with pytest.raises(SignatureMismatchError, match="made with key w, which") as caught:
            verifier.verify(BODY, headers, now=at)
        assert caught.value.key_id == "w"
        assert "from 2023-12-31T23:00:00Z until 2024-01-01T01:00:00Z" in str(caught.value)


@each_scheme
def test_windows_follow_the_frozen_clock(scheme: Scheme, webhook_clock: FrozenClock) -> None:
    """Without `now`, windows are judged by the clock the pytest plugin freezes."""
    old, new = b"old-key-0123456789abc", b"new-key-0123456789abc"
    start = webhook_clock.now
    verifier = scheme.make(
        [
            SigningKey(new, id="2026-11", not_before=start + 60),
            SigningKey(old, id="2026-05", not_after=start + 120),
        ]
    )
    old_headers = _plain_signer(scheme, old).sign(BODY)
    assert verifier.verify(BODY, old_headers) == "2026-05"
    _plain_signer(scheme, old).verify(BODY, verifier.sign(BODY))  # new is not valid yet
    with pytest.raises(SignatureMismatchError):
        verifier.verify(BODY, _plain_signer(scheme, new).sign(BODY))
    webhook_clock.advance(60)
    _plain_signer(scheme, new).verify(BODY, verifier.sign(BODY))  # the first valid one
    assert verifier.verify(BODY, verifier.sign(BODY)) == "2026-11"
    assert verifier.expired_keys() == ()
    webhook_clock.advance(60)
    assert verifier.expired_keys() == ("2026-05",)
    with pytest.raises(SignatureMismatchError):
        verifier.verify(BODY, _plain_signer(scheme, old).sign(BODY))


@each_scheme
def test_datetime_and_epoch_windows_are_one_window(scheme: Scheme) -> None:
    """Aware datetimes and epoch seconds bound a window alike, whatever their time zone."""
    end = datetime.fromtimestamp(NOW, tz=timezone.utc).astimezone()  # local, still aware
    key = b"dated-key-0123456789"
    for not_after in (end, NOW):
        verifier = scheme.make(SigningKey(key, id="d", not_after=not_after))
        assert verifier.expired_keys(now=NOW - 1) == ()
        assert verifier.expired_keys(now=end) == ("d",)


@each_scheme
def test_sign_without_a_valid_key_says_which_windows_exist(scheme: Scheme) -> None:
    """sign() with no key valid at the time is a ValueError naming ids and windows, no secret."""
    secret = b"expired-key-0123456789"
    verifier = scheme.make(
        [SigningKey(secret, id="2025-11", not_after=NOW), SigningKey(secret, not_before=NOW + 9)]
    )
    with pytest.raises(ValueError, match="no signing key is valid") as caught:
        verifier.sign(BODY, now=NOW)
    message = str(caught.value)
    assert "2025-11 until 2024-01-01T00:00:00Z" in message
    assert "from 2024-01-01T00:00:09Z" in message
    assert secret.decode() not in message


@each_scheme
def test_expired_keys_lists_only_keys_past_not_after(scheme: Scheme) -> None:
    """expired_keys() names keys whose not_after passed; unbounded and future keys are kept."""
    verifier = scheme.make(
        [
            SigningKey(b"current-key-0123456789", id="current"),
            SigningKey(b"future-key-01234567890", id="future", not_before=NOW + HOUR),
            b"plain-key-0123456789ab",
            SigningKey(b"retired-key-0123456789", id="retired", not_after=NOW),
        ]
    )
    assert verifier.expired_keys(now=NOW - 1) == ()
    assert verifier.expired_keys(now=NOW) == ("retired",)
    assert verifier.expired_keys(now=NOW + 2 * HOUR) == ("retired",)


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: SigningKey("s", not_before=NOW, not_after=NOW), ValueError, "earlier than"),
        (lambda: SigningKey("s", not_before=NOW + 1, not_after=NOW), ValueError, "earlier than"),
        (lambda: SigningKey("s", not_after=datetime(2026, 11, 1)), ValueError, "timezone-aware"),
        (lambda: SigningKey("s", not_before=float("nan")), ValueError, "finite"),
        (lambda: SigningKey("s", not_after=float("inf")), ValueError, "finite"),
        (lambda: SigningKey("s", not_after=True), ValueError, "finite"),
        (lambda: SigningKey("s", not_after="2026-11-01"), ValueError, "aware datetime"),
        (lambda: SigningKey("s", id=""), ValueError, "1 to 64"),
        (lambda: SigningKey("s", id="key 2026"), ValueError, "without spaces"),
        (lambda: SigningKey("s", id="k\nkey_id=forged"), ValueError, "printable"),
        (lambda: SigningKey("s", id="x" * 65), ValueError, "64"),
        (lambda: SigningKey("s", id=2026), ValueError, "printable"),
        (lambda: SigningKey(None), TypeError, "str or bytes"),
        (lambda: SigningKey("2026-11", "s3cret"), TypeError, "positional"),
    ],
)
def test_a_bad_signing_key_is_refused_when_made(
    make: Callable[[], object], error: type[Exception], message: str
) -> None:
    """Windows in the wrong order, naive datetimes, odd numbers and unloggable ids are refused."""
    with pytest.raises(error, match=message):
        make()


@each_scheme
def test_one_id_for_two_keys_is_refused(scheme: Scheme) -> None:
    """Two different keys under one id are refused; one plain secret given twice is not."""
    with pytest.raises(ValueError, match="'k' names two different keys"):
        scheme.make(
            [
                SigningKey(b"first-key-0123456789", id="k"),
                SigningKey(b"second-key-01234567", id="k"),
            ]
        )
    assert len(set(scheme.make([b"same-key-0123456789", b"same-key-0123456789"]).key_ids)) == 1


@each_scheme
def test_a_signing_key_secret_is_checked_like_any_secret(scheme: Scheme) -> None:
    """A SigningKey's secret gets the plain secret's checks, the message naming its id."""
    with pytest.raises(
        ValueError, match=r"secret 2 of 2 \(id '2026-11'\) starts or ends"
    ) as caught:
        scheme.make([scheme.example_secret, SigningKey(f"{scheme.example_secret}\n", id="2026-11")])
    assert str(scheme.example_secret) not in str(caught.value)


@each_scheme
def test_signing_key_repr_and_errors_never_show_the_secret(scheme: Scheme) -> None:
    """The repr of a SigningKey, and a verifier's, show the id and window but never the secret."""
    key = SigningKey(scheme.example_secret, id="2026-11", not_after=NOW)
    assert repr(key) == f"SigningKey(id='2026-11', not_before=None, not_after={NOW})"
    assert str(scheme.example_secret) not in repr(scheme.make(key))


# Missing and malformed headers


@each_scheme
@pytest.mark.parametrize("value", [None, ""])
def test_missing_or_empty_signature_header(scheme: Scheme, value: str | None) -> None:
    """An absent or empty signature header is a MissingHeaderError naming the header."""
    verifier = scheme.make(scheme.example_secret)
    headers = verifier.sign(BODY, now=NOW)
    if value is None:
        del headers[scheme.header]
    else:
        headers[scheme.header] = value
    with pytest.raises(MissingHeaderError, match=scheme.header):
        verifier.verify(BODY, headers, now=NOW)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_standard_webhooks_needs_all_three_headers(missing: str) -> None:
    """Each of the three Standard Webhooks headers is required."""
    verifier = StandardWebhooksVerifier(SCHEMES[2].example_secret)
    headers = verifier.sign(BODY, now=NOW)
    del headers[missing]
    with pytest.raises(MissingHeaderError, match=missing):
        verifier.verify(BODY, headers, now=NOW)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("abc123", "expected 71 characters"),
        ("sha256=" + "g" * 64, "hexadecimal"),
        ("sha256=" + "a" * 30 + "  " + "a" * 32, "hexadecimal"),
        ("sha256=" + "é" * 64, "hexadecimal"),
        ("sha512=" + "a" * 64, "prefix"),
        ("a" * 71, "prefix"),
    ],
)
def test_hex_malformed_values(value: str, problem: str) -> None:
    """Wrong length, wrong prefix and non-hex digits are malformed, not mismatches."""
    verifier = SCHEMES[0].make("struktr-secret")
    with pytest.raises(MalformedHeaderError, match=problem):
        verifier.verify(BODY, {"X-Struktr-Signature": value})


def test_hex_digits_are_case_insensitive_and_whitespace_trimmed() -> None:
    """Upper-case hex and surrounding whitespace are accepted; the prefix itself is exact."""
    verifier = SCHEMES[0].make("struktr-secret")
    value = verifier.sign(BODY)["X-Struktr-Signature"]
    verifier.verify(BODY, {"X-Struktr-Signature": "sha256=" + value[7:].upper()})
    verifier.verify(BODY, {"X-Struktr-Signature": f" {value}\t"})
    with pytest.raises(MalformedHeaderError):
        verifier.verify(BODY, {"X-Struktr-Signature": "SHA256=" + value[7:]})


@pytest.mark.parametrize(
    "timestamp", ["", "abc", "-1704067200", "+1704067200", "1704067200.0", "١٧٠٤٠٦٧٢٠٠", "9" * 13]
)
def test_standard_webhooks_malformed_timestamp(timestamp: str) -> None:
    """A timestamp that is not plain decimal seconds is malformed (or missing if empty)."""
    verifier = StandardWebhooksVerifier(SCHEMES[2].example_secret)
    headers = verifier.sign(BODY, now=NOW) | {"webhook-timestamp": timestamp}
    with pytest.raises(MissingHeaderError if not timestamp else MalformedHeaderError):
        verifier.verify(BODY, headers, now=NOW)


@pytest.mark.parametrize(
    ("signature", "error"),
    [
        ("v2,abc", MalformedHeaderError),
        ("v1", MalformedHeaderError),
        ("v1,not base64!", MalformedHeaderError),
        ("v1," + "A" * 43 + "=", SignatureMismatchError),
        ("v1a," + "A" * 43 + "=", MalformedHeaderError),
        ("v1,ä" + "A" * 42 + "=", MalformedHeaderError),
    ],
)
def test_standard_webhooks_signature_header_forms(
    signature: str, error: type[VerificationError]
) -> None:
    """Only `v1,<base64 digest>` entries count; a well-formed wrong one is a mismatch."""
    verifier = StandardWebhooksVerifier(SCHEMES[2].example_secret)
    headers = verifier.sign(BODY, now=NOW) | {"webhook-signature": signature}
    with pytest.raises(error):
        verifier.verify(BODY, headers, now=NOW)


def test_standard_webhooks_any_listed_signature_may_match() -> None:
    """Several space-separated signatures are allowed; other versions are ignored."""
    verifier = StandardWebhooksVerifier(SCHEMES[2].example_secret)
    headers = verifier.sign(BODY, now=NOW)
    good = headers["webhook-signature"]
    for listed in (f"v1,{'A' * 43}= {good}", f"v2,xyz {good} v1a,b", f"{good} v1,{'B' * 43}="):
        verifier.verify(BODY, headers | {"webhook-signature": listed}, now=NOW)


def test_svix_header_names_are_accepted() -> None:
    """Svix's `svix-id`, `svix-timestamp` and `svix-signature` work like `webhook-*`."""
    verifier = StandardWebhooksVerifier(SCHEMES[2].example_secret)
    headers = {
        name.replace("webhook-", "svix-"): value
        for name, value in verifier.sign(BODY, now=NOW).items()
    }
    verifier.verify(BODY, headers, now=NOW)


@each_scheme
@given(data=st.data())
def test_header_garbage_raises_only_verification_errors(
    scheme: Scheme, data: st.DataObject
) -> None:
    """Arbitrary values in any of the scheme's headers raise VerificationError and nothing else."""
    verifier = scheme.make(scheme.example_secret)
    headers: dict[str, Any] = dict(verifier.sign(BODY, now=NOW))
    for name in list(headers):
        if data.draw(st.booleans()):
            headers[name] = data.draw(strategies.garbage_values)
    extra = data.draw(st.dictionaries(st.text(max_size=20), strategies.garbage_values, max_size=4))
    error: VerificationError | None = None
    try:
        verifier.verify(BODY, extra | headers, now=NOW)
    except VerificationError as exc:
        error = exc
    if error is not None:
        assert error.status_code == 401
        assert error.header is not None


# Timestamps


@pytest.mark.parametrize(
    ("offset", "passes"),
    [(0, True), (299, True), (300, True), (301, False), (-299, True), (-300, True), (-301, False)],
)
def test_tolerance_boundaries(offset: int, passes: bool) -> None:
    """The default 300 s window applies in both directions: 299 s passes, 301 s fails."""
    verifier = StandardWebhooksVerifier(SCHEMES[2].example_secret)
    headers = verifier.sign(BODY, now=NOW)
    if passes:
        verifier.verify(BODY, headers, now=NOW + offset)
    else:
        with pytest.raises(TimestampOutOfToleranceError) as caught:
            verifier.verify(BODY, headers, now=NOW + offset)
        assert caught.value.age == offset


def test_tolerance_is_configurable_and_now_accepts_datetime() -> None:
    """A custom tolerance is honoured, and `now` may be an aware datetime."""
    verifier = StandardWebhooksVerifier(SCHEMES[2].example_secret, tolerance=10)
    headers = verifier.sign(BODY, now=NOW)
    verifier.verify(BODY, headers, now=datetime.fromtimestamp(NOW + 10, tz=timezone.utc))
    with pytest.raises(TimestampOutOfToleranceError, match="11 s old"):
        verifier.verify(BODY, headers, now=NOW + 11)


def test_real_clock_is_used_by_default() -> None:
    """Without `now`, a fresh signature passes and a day-old one is refused."""
    verifier = StandardWebhooksVerifier(SCHEMES[2].example_secret)
    verifier.verify(BODY, verifier.sign(BODY))
    with pytest.raises(TimestampOutOfToleranceError):
        verifier.verify(BODY, verifier.sign(BODY, now=NOW))


# Header objects and body types


def _dict_lower(headers: dict[str, str]) -> Any:
    return {name.lower(): value for name, value in headers.items()}


def _dict_upper(headers: dict[str, str]) -> Any:
    return {name.upper(): value for name, value in headers.items()}


def _bytes_dict(headers: dict[str, str]) -> Any:
    return {name.lower().encode(): value.encode() for name, value in headers.items()}


def _werkzeug(headers: dict[str, str]) -> Any:
    return WerkzeugHeaders(list(headers.items()))


def _starlette(headers: dict[str, str]) -> Any:
    return StarletteHeaders(raw=[(k.lower().encode(), v.encode()) for k, v in headers.items()])


def _django(headers: dict[str, str]) -> Any:
    return HttpHeaders({"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()})


HEADER_FORMS = [dict, _dict_lower, _dict_upper, _bytes_dict, _werkzeug, _starlette, _django]


@each_scheme
@pytest.mark.parametrize("form", HEADER_FORMS, ids=lambda f: f.__name__.strip("_"))
def test_header_objects_and_case(scheme: Scheme, form: Callable[[dict[str, str]], Any]) -> None:
    """Dicts in any case, raw byte headers, and werkzeug, starlette and Django headers all work."""
    verifier = scheme.make(scheme.example_secret)
    headers = form(verifier.sign(BODY, now=NOW))
    verifier.verify(BODY, headers, now=NOW)
    with pytest.raises(SignatureMismatchError):
        verifier.verify(BODY + b" ", headers, now=NOW)


@each_scheme
@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview, str])
def test_body_types(scheme: Scheme, kind: Callable[[bytes], Any]) -> None:
    """bytes, bytearray and memoryview are verified as they are; a str is taken as UTF-8."""
    body = '{"name":"café"}'.encode()
    verifier = scheme.make(scheme.example_secret)
    given_body = body.decode() if kind is str else kind(body)
    verifier.verify(given_body, verifier.sign(body, now=NOW), now=NOW)


@each_scheme
def test_body_of_another_type_is_a_type_error(scheme: Scheme) -> None:
    """Passing a parsed dict instead of the raw body is a programming error, said plainly."""
    verifier = scheme.make(scheme.example_secret)
    with pytest.raises(TypeError, match="raw request bytes"):
        verifier.verify({"event": "x"}, verifier.sign(BODY, now=NOW), now=NOW)  # type: ignore[arg-type]


@each_scheme
def test_no_copy_of_a_large_body(scheme: Scheme) -> None:
    """Verifying a 50 MiB body allocates well under a fifth of its size on top of it."""
    body = b"x" * (50 * 1024 * 1024)
    verifier = scheme.make(scheme.example_secret)
    headers = verifier.sign(body, now=NOW)
    tracemalloc.start()
    try:
        verifier.verify(body, headers, now=NOW)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 0.2 * len(body)


# Secrets never leak


@each_scheme
def test_errors_and_repr_never_show_secret_or_expected_signature(scheme: Scheme) -> None:
    """Neither error messages nor the verifier's repr contain the secret or the right signature."""
    verifier = scheme.make(scheme.example_secret)
    right = verifier.sign(BODY, now=NOW)[scheme.header]
    digest = right.removeprefix("sha256=").removeprefix("v1,")
    secret = str(scheme.example_secret).removeprefix("whsec_")
    wrong = verifier.sign(b"other body", now=NOW)
    texts = [repr(verifier)]
    for body, headers in [(BODY, wrong), (BODY, {}), (BODY, {scheme.header: "zz"})]:
        with pytest.raises(VerificationError) as caught:
            verifier.verify(body, headers, now=NOW)
        texts += [str(caught.value), repr(caught.value)]
    for text in texts:
        assert secret not in text
        assert digest not in text
        assert digest.upper() not in text


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: HexHmacVerifier("", header="X-Sig"), "empty"),
        (lambda: HexHmacVerifier([], header="X-Sig"), "at least one"),
        (lambda: HexHmacVerifier("s", header=""), "header"),
        (lambda: StandardWebhooksVerifier("whsec_!!not-base64!!"), "base64"),
        (lambda: StandardWebhooksVerifier("whsec_"), "empty"),
        (lambda: StandardWebhooksVerifier(b"key", tolerance=-1), "tolerance"),
    ],
)
def test_bad_configuration_is_refused(make: Callable[[], object], message: str) -> None:
    """Empty secrets, bad base64 and negative tolerances fail at construction, not per request."""
    with pytest.raises(ValueError, match=message) as caught:
        make()
    assert "not-base64" not in str(caught.value)


#: Valid for every scheme: the hex providers use its UTF-8 bytes, Pulse decodes the base64.
SHARED_SECRET = "whsec_" + base64.b64encode(b"shared-signing-key-0123456789").decode()

#: Where a secret enters webhook-kit: a receiver, a provider's verifier, `verify_and_parse`.
SECRET_USERS: dict[str, Callable[[Provider, Any], object]] = {
    "Receiver": lambda provider, secret: Receiver(provider, secret=secret),
    "verifier": lambda provider, secret: provider.verifier(secret),
    "verify_and_parse": lambda provider, secret: provider.verify_and_parse(BODY, {}, secret=secret),
}


@pytest.mark.parametrize("use", SECRET_USERS.values(), ids=SECRET_USERS.keys())
@pytest.mark.parametrize("provider", providers.PROVIDERS.values(), ids=providers.PROVIDERS.keys())
@pytest.mark.parametrize(
    ("secret", "error", "message"),
    [
        pytest.param(None, TypeError, "secret is None", id="none"),
        pytest.param("", ValueError, "secret is empty", id="empty"),
        pytest.param(" \t\n", ValueError, "secret is only whitespace", id="whitespace"),
        pytest.param(
            SHARED_SECRET + "\n",
            ValueError,
            "secret starts or ends with whitespace",
            id="newline-from-a-file",
        ),
        pytest.param(
            " " + SHARED_SECRET, ValueError, "starts or ends with whitespace", id="leading-space"
        ),
        pytest.param([], ValueError, "at least one secret", id="empty-list"),
        pytest.param(
            [SHARED_SECRET, SHARED_SECRET + "\r\n"],
            ValueError,
            "secret 2 of 2 starts or ends with whitespace",
            id="rotation-entry-with-newline",
        ),
        pytest.param({SHARED_SECRET}, TypeError, "got set", id="unordered-set"),
    ],
)
def test_unusable_secret_is_refused_before_any_delivery(
    use: Callable[[Provider, Any], object],
    provider: Provider,
    secret: Any,
    error: type[Exception],
    message: str,
) -> None:
    """A secret that cannot work as given is a typed error naming the problem, never quoting it."""
    with pytest.raises(error, match=message) as caught:
        use(provider, secret)
    assert SHARED_SECRET.removeprefix("whsec_")[:12] not in str(caught.value)


@pytest.mark.parametrize("provider", providers.PROVIDERS.values(), ids=providers.PROVIDERS.keys())
def test_a_signing_key_goes_wherever_a_secret_goes(provider: Provider) -> None:
    """signed_delivery, verify_and_parse and Receiver take SigningKeys, alone or mixed in a list."""
    until = datetime(2999, 1, 1, tzinfo=timezone.utc)
    named = SigningKey(SHARED_SECRET, id="2026-11", not_after=until)
    event_type = next(iter(testing.event_types(provider)))
    body, headers = testing.signed_delivery(provider, named, event_type)
    for secret in (named, [named, "whsec_" + base64.b64encode(b"other-key-0123").decode()]):
        event = provider.verify_and_parse(body, headers, secret=secret)
        assert event.event_type == event_type
        assert Receiver(provider, secret=secret).handle(body, headers).key_id == "2026-11"


@pytest.mark.parametrize(
    "secret",
    [
        "whsec_" + base64.b64encode(b"0123456789abcdef").decode(),
        base64.b64encode(b"0123456789abcdef").decode(),
        base64.b64encode(b"0123456789abcdef").decode().rstrip("="),
        b"0123456789abcdef",
    ],
    ids=["whsec", "bare-base64", "unpadded", "raw-bytes"],
)
def test_standard_secret_forms_are_one_key(secret: Secret) -> None:
    """`whsec_<base64>`, bare base64 (padded or not) and raw bytes all name the same key."""
    reference = StandardWebhooksVerifier(b"0123456789abcdef").sign(BODY, now=NOW, msg_id="m")
    assert StandardWebhooksVerifier(secret).sign(BODY, now=NOW, msg_id="m") == reference


# The hex mode for Pulse's sample code


def pulse_sample_verify(payload: str, headers: dict[str, str], webhook_secret: str) -> bool:
    """Pulse's documented sample, verbatim but for the injected clock."""
    webhook_id = headers.get("webhook-id")
    webhook_timestamp = headers.get("webhook-timestamp")
    webhook_signature = headers.get("webhook-signature")
    if not (webhook_id and webhook_timestamp and webhook_signature):
        return False
    if abs(NOW - int(webhook_timestamp)) > 300:
        return False
    signed_content = f"{webhook_id}.{webhook_timestamp}.{payload}"
    signature = webhook_signature.split(",")[1] if "," in webhook_signature else webhook_signature
    key = webhook_secret.encode()
    expected = hmac.new(key, signed_content.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(signature, expected)


@given(body=strategies.text_bodies)
def test_hex_mode_matches_pulse_sample_code(body: str) -> None:
    """With encoding='hex', our signatures pass Pulse's sample and its signatures pass ours."""
    verifier = StandardWebhooksVerifier("pulse_plain_secret", encoding="hex")
    headers = verifier.sign(body, now=NOW)
    assert pulse_sample_verify(body, headers, "pulse_plain_secret")
    bare = headers | {"webhook-signature": headers["webhook-signature"].removeprefix("v1,")}
    verifier.verify(body.encode(), bare, now=NOW)
    with pytest.raises(MalformedHeaderError):
        StandardWebhooksVerifier(b"pulse_plain_secret").verify(body, headers, now=NOW)
