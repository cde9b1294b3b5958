"""Signature verifiers for the schemes webhook providers use.

Two classes cover the five providers:

- `HexHmacVerifier`: HMAC-SHA256 of the raw body, hex-encoded in one header, optionally behind a
  prefix. struktr sends ``X-Struktr-Signature: sha256=<hex>``; File Conversion, ImgGo and
  DocExtract send bare hex.
- `StandardWebhooksVerifier`: the Svix / Standard Webhooks scheme Pulse uses, an HMAC over
  ``id.timestamp.body`` sent as ``webhook-signature: v1,<base64>`` with a replay window; with
  ``whpk_`` public keys among its secrets, also ed25519 ``v1a`` signatures (see `_ed25519`).

Both verify the raw request bytes exactly as received, accept several secrets (rotation), compare
with `hmac.compare_digest` on equal-length values, raise only `VerificationError` subclasses on bad
input, and can `sign()` a body so tests can make deliveries that pass. Both refuse, when made, a
secret that could never verify as configured: None, empty, or text with surrounding whitespace.

A secret may be a `SigningKey`, which gives it an id and a validity window. `verify` returns the
id of the key that matched (a plain secret's is its fingerprint, ``fp:1a2b3c4d``); a key outside
its window at the verification time (`now`, else the clock) verifies nothing, and `sign` uses
the first key valid then.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from binascii import b2a_base64
from collections.abc import Sequence
from datetime import datetime
from hmac import compare_digest
from os import urandom
from time import time as _clock  # the wall clock; the pytest plugin's webhook_clock swaps it
from typing import Any, Literal, Protocol, TypeAlias

from . import _ed25519
from ._headers import HeadersLike, get_header
from ._keys import PreparedKey, SigningKey, expired, prepare, signing_key
from .errors import (
    MalformedHeaderError,
    MissingHeaderError,
    SignatureMismatchError,
    TimestampOutOfToleranceError,
    VerificationError,
)

__all__ = [
    "Body",
    "HeadersLike",
    "HexHmacVerifier",
    "Secret",
    "SigningKey",
    "StandardWebhooksVerifier",
    "Verifier",
]

Body: TypeAlias = "bytes | bytearray | memoryview | str"
"""A raw request body. A `str` is encoded as UTF-8 first; pass bytes to avoid that copy."""

Secret: TypeAlias = "str | bytes | SigningKey"  # noqa: S105
"""One signing secret, or a `SigningKey` giving one an id and a validity window; verifiers also
take a sequence of them, the first one valid at the time signing."""

Now: TypeAlias = "float | datetime"
"""An injected clock: seconds since the Unix epoch, or an aware `datetime`."""


class Verifier(Protocol):
    """What every verifier offers: check a delivery, or make the headers of one."""

    def verify(self, body: Body, headers: HeadersLike, *, now: Now | None = None) -> str | None:
        """Return the matched key's id if `body` is validly signed per `headers`, else raise.

        Raise `VerificationError`. A verifier without key ids may return None.
        """

    def sign(self, body: Body, *, now: Now | None = None) -> dict[str, str]:
        """Return the headers that make `verify(body, headers)` pass, using the first valid key."""


class _Keys:
    """The prepared keys of a verifier, and what it can say about them without their secrets."""

    __slots__ = ("_keys", "_windowed")

    _keys: tuple[PreparedKey, ...]
    _windowed: bool  # whether any key has a window: if none does, verify checks no time

    def _set_keys(self, keys: tuple[PreparedKey, ...]) -> None:
        self._keys = keys
        self._windowed = any(key.not_before > -math.inf or key.not_after < math.inf for key in keys)

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The ids of the keys, in the order given: a `SigningKey`'s own, else its fingerprint."""
        return tuple(key.id for key in self._keys)

    def expired_keys(self, *, now: Now | None = None) -> tuple[str, ...]:
        """The ids of the keys whose `not_after` has passed (at `now`): safe to delete."""
        return expired(self._keys, _seconds(now))


class HexHmacVerifier(_Keys):
    """HMAC of the raw body, sent hex-encoded in one header, optionally after a fixed prefix.

    The prefix (struktr's ``sha256=``) is required when configured and compared exactly. The hex
    digits are compared case-insensitively: they are decoded to the digest bytes first, since the
    case of a hex digit carries no information.
    """

    __slots__ = ("_length", "_lower", "_size", "header", "prefix")

    def __init__(
        self,
        secret: Secret | Sequence[Secret],
        *,
        header: str,
        prefix: str = "",
        algorithm: str = "sha256",
    ) -> None:
        if not header:
            raise ValueError("header must name the signature header, e.g. 'X-Struktr-Signature'")
        self.header = header
        self.prefix = prefix
        self._lower = header.lower()
        self._set_keys(prepare(_secrets(secret, _utf8), algorithm))
        self._size = self._keys[0].digest_size
        self._length = len(prefix) + 2 * self._size

    def __repr__(self) -> str:
        return f"HexHmacVerifier(header={self.header!r}, prefix={self.prefix!r})"

    def verify(self, body: Body, headers: HeadersLike, *, now: Now | None = None) -> str:
        """Return the id of the key whose signature of `body` `headers` hold; else raise.

        Raise `VerificationError`. `now` only matters for keys with a window.
        """
        value = get_header(headers, self.header, self._lower)
        if not value:
            raise MissingHeaderError(self.header)
        received = self._decode(value)
        message = _buffer(body)
        outside = None
        for key in self._keys:
            if compare_digest(key.digest_one(message), received):
                if not self._windowed or key.valid_at(_seconds(now)):
                    return key.id
                outside = key  # the signature is right, the time is not: say so
        raise _mismatch(self.header, outside)

    def sign(self, body: Body, *, now: Now | None = None) -> dict[str, str]:
        """Return ``{header: prefix + hex}`` for `body`, signed with the first key valid `now`.

        Raise `ValueError` if no key is valid then.
        """
        key = signing_key(self._keys, _seconds(now))
        return {self.header: self.prefix + key.digest_one(_buffer(body)).hex()}

    def _decode(self, value: str) -> bytes:
        if len(value) != self._length:
            value = value.strip(" \t")
            if len(value) != self._length:
                raise MalformedHeaderError(
                    self.header, f"expected {self._length} characters, got {len(value)}"
                )
        if self.prefix:
            if not value.startswith(self.prefix):
                raise MalformedHeaderError(self.header, f"expected the {self.prefix!r} prefix")
            value = value[len(self.prefix) :]
        try:
            received = bytes.fromhex(value)
        except ValueError:
            received = b""
        # fromhex skips whitespace, so a right-length value with spaces decodes short.
        if len(received) != self._size:
            raise MalformedHeaderError(self.header, "expected hexadecimal digits")
        return received


_ID = ("webhook-id", "svix-id")
_TIMESTAMP = ("webhook-timestamp", "svix-timestamp")
_SIGNATURE = ("webhook-signature", "svix-signature")
_BASE64_DIGEST = re.compile(rb"[A-Za-z0-9+/]{43}=")
_HEX_DIGEST = re.compile(rb"[0-9a-fA-F]{64}")
_MAX_DIGITS = 12  # seconds since the epoch, good until the year 33658


class StandardWebhooksVerifier(_Keys):
    """The Standard Webhooks (Svix) scheme: HMAC-SHA256 over ``id.timestamp.body``.

    The secret is ``whsec_<base64>`` (or bare base64, or the raw key bytes); the key is the
    decoded bytes. ``webhook-signature`` holds space-separated ``v1,<base64>`` entries, any of which
    may match; other versions are ignored. ``svix-*`` header names are accepted as well. The
    timestamp must be within `tolerance` seconds of now, in either direction.

    ``whpk_`` public and ``whsk_`` secret keys in the secret list verify the asymmetric
    ``v1a,<base64 ed25519>`` entries (they need the ``ed25519`` extra); a list may mix them with
    HMAC secrets, and its first entry signs.

    ``encoding="hex"`` follows Pulse's sample code instead: the secret string itself is the key
    and signatures are hex digests (``v1,<hex>`` or bare). Only use it if a sender really signs so.
    """

    __slots__ = ("_base64", "_digest_length", "_pattern", "_v1a", "encoding", "tolerance")

    def __init__(
        self,
        secret: Secret | Sequence[Secret],
        *,
        tolerance: int = 300,
        encoding: Literal["base64", "hex"] = "base64",
    ) -> None:
        if tolerance < 0:
            raise ValueError("tolerance must be zero or more seconds")
        if encoding not in ("base64", "hex"):
            raise ValueError("encoding must be 'base64' or 'hex'")
        self.tolerance = tolerance
        self.encoding = encoding
        decode = _standard_secret if encoding == "base64" else _utf8
        secret, self._v1a = _ed25519.split_keys(secret)  # whpk_ and whsk_ keys, for v1a entries
        if self._v1a is not None and encoding != "base64":
            raise ValueError("whpk_ and whsk_ keys (v1a signatures) need encoding='base64'")
        hmac_secrets = _secrets(secret, decode) if self._v1a is None or secret else []
        self._set_keys(prepare(hmac_secrets))
        self._base64 = encoding == "base64"
        self._pattern = _BASE64_DIGEST if self._base64 else _HEX_DIGEST
        self._digest_length = 44 if self._base64 else 64

    def __repr__(self) -> str:
        return f"StandardWebhooksVerifier(tolerance={self.tolerance!r}, encoding={self.encoding!r})"

    def verify(self, body: Body, headers: HeadersLike, *, now: Now | None = None) -> str:
        """Return the id of the key that signed `body` validly and in time; raise if none did."""
        get = headers.get  # one lookup per header for the usual mapping with canonical names
        msg_id, timestamp, signature = get(_ID[0]), get(_TIMESTAMP[0]), get(_SIGNATURE[0])
        if not (str is msg_id.__class__ is timestamp.__class__ is signature.__class__) or not (
            msg_id and timestamp and signature
        ):
            msg_id, timestamp, signature = _standard_headers(headers)
        if not (timestamp.isdigit() and timestamp.isascii() and len(timestamp) <= _MAX_DIGITS):
            raise MalformedHeaderError(_TIMESTAMP[0], "expected whole seconds since the Unix epoch")
        current = _clock() if now is None else _seconds(now)
        age = current - int(timestamp)
        if not -self.tolerance <= age <= self.tolerance:
            raise TimestampOutOfToleranceError(
                _TIMESTAMP[0], age=int(age), tolerance=self.tolerance
            )
        signed_prefix = f"{msg_id}.{timestamp}.".encode("utf-8", "surrogatepass")
        message = body if body.__class__ is bytes else _buffer(body)
        if self._v1a is not None:
            self._v1a.check_bound(signature)  # before any parsing: a flood of entries is cheap
        if self._base64 and len(signature) == 47 and signature[:3] == "v1," and signature.isascii():
            candidates = [signature[3:].encode()]  # the usual case: one signature, one secret
        else:
            candidates = self._candidates(signature.encode("utf-8", "surrogatepass"))
        outside = None
        for key in self._keys if candidates else ():  # only v1a entries: no HMAC to compute
            mac = key.digest_two(signed_prefix, message)
            digest = b2a_base64(mac, newline=False) if self._base64 else mac.hex().encode()
            for candidate in candidates:
                if compare_digest(digest, candidate):
                    if not self._windowed or key.not_before <= current < key.not_after:
                        return key.id
                    outside = key
        v1a = None if self._v1a is None else self._v1a.verify(signature, signed_prefix, message)
        if v1a:
            return v1a  # the id of the ed25519 key that verified
        raise self._refusal(
            outside, well_formed=v1a is False or any(map(self._pattern.fullmatch, candidates))
        )

    def _refusal(self, outside: PreparedKey | None, *, well_formed: bool) -> VerificationError:
        """Why nothing verified: a mismatch if some entry had our form, else a malformed header."""
        if outside is not None or well_formed:
            return _mismatch(_SIGNATURE[0], outside)
        form = "v1,<base64>" if self.encoding == "base64" else "v1,<hex>"
        if self._v1a is not None:
            form += " or v1a,<base64>"
        return MalformedHeaderError(_SIGNATURE[0], f"expected space-separated {form} entries")

    def sign(
        self, body: Body, *, now: Now | None = None, msg_id: str | None = None
    ) -> dict[str, str]:
        """Return the three ``webhook-*`` headers for `body`, signed with the first key valid now.

        A ``whsk_`` key first makes a ``v1a`` signature; a ``whpk_`` key first cannot sign
        (`ValueError`), nor can a list with no key valid at `now`.
        """
        msg_id = msg_id if msg_id is not None else "msg_" + urandom(12).hex()  # token_hex(12)
        current = _seconds(now)
        timestamp = str(int(current))
        prefix = f"{msg_id}.{timestamp}.".encode("utf-8", "surrogatepass")
        if self._v1a is not None and self._v1a.signs:
            signature = self._v1a.sign(prefix, _buffer(body))
            return {_ID[0]: msg_id, _TIMESTAMP[0]: timestamp, _SIGNATURE[0]: signature}
        mac = signing_key(self._keys, current).digest_two(prefix, _buffer(body))
        digest = base64.b64encode(mac).decode() if self._base64 else mac.hex()
        return {_ID[0]: msg_id, _TIMESTAMP[0]: timestamp, _SIGNATURE[0]: "v1," + digest}

    def _candidates(self, header: bytes) -> list[bytes]:
        """The signatures in `header` that claim our version and have our digest's length.

        Only equal-length values reach `compare_digest`; non-ASCII text can never match.
        """
        found = []
        for entry in header.split(b" "):
            version, comma, signature = entry.partition(b",")
            if not comma and self.encoding == "hex":
                signature, version = version, b"v1"
            if version == b"v1" and len(signature) == self._digest_length:
                found.append(signature.lower() if self.encoding == "hex" else signature)
        return found


def _mismatch(header: str, outside: PreparedKey | None) -> SignatureMismatchError:
    """The mismatch error; naming the key when one made the signature outside its window."""
    if outside is None:
        return SignatureMismatchError(header)
    return SignatureMismatchError(header, key_id=outside.id, window=outside.window())


def _standard_headers(headers: HeadersLike) -> tuple[str, str, str]:
    """Return the id, timestamp and signature headers, under `webhook-*` or `svix-*` names."""
    return _required(headers, _ID), _required(headers, _TIMESTAMP), _required(headers, _SIGNATURE)


def _required(headers: HeadersLike, names: tuple[str, str]) -> str:
    for name in names:
        value = get_header(headers, name, name)
        if value:
            return value
    raise MissingHeaderError(names[0])


def _buffer(body: Body) -> bytes | bytearray | memoryview:
    if isinstance(body, _BUFFERS):
        return body
    if isinstance(body, str):
        return body.encode("utf-8", "surrogatepass")
    raise TypeError(f"body must be the raw request bytes, got {type(body).__name__}")


def _seconds(now: Now | None) -> float:
    if now is None:
        return _clock()
    if isinstance(now, datetime):
        if now.tzinfo is None:
            raise ValueError("now must be a timezone-aware datetime")
        return now.timestamp()
    return float(now)


_BUFFERS = (bytes, bytearray, memoryview)


def _utf8(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def _standard_secret(secret: str | bytes) -> bytes:
    """Decode ``whsec_<base64>`` or bare base64 (padding optional); bytes are the key itself."""
    if isinstance(secret, bytes):
        return secret
    text = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            "must be 'whsec_' followed by base64, bare base64, or the raw key bytes"
        ) from None


def _secrets(
    secret: Secret | Sequence[Secret], decode: _Decode
) -> list[tuple[bytes, SigningKey | None]]:
    """The HMAC keys of `secret` (each with its `SigningKey`, if given as one), or an error
    saying what is wrong with it (never quoting it).

    A string secret is refused when it is empty, only whitespace, or starts or ends with
    whitespace: the newline that ends a secrets file would otherwise become part of the key and
    fail every delivery with 401. Bytes are the key itself and are only refused when empty.
    """
    if secret is None:
        raise TypeError(
            "secret is None: pass a str or bytes, or a list of them "
            "(is the environment variable it comes from set?)"
        )
    if isinstance(secret, str | bytes | SigningKey):
        given: list[Any] = [secret]
    elif isinstance(secret, Sequence):
        given = list(secret)
    else:
        raise TypeError(
            "secret must be a str, bytes or SigningKey, or a list of them (the first valid one "
            f"signs), got {type(secret).__name__}"
        )
    if not given:
        raise ValueError("at least one secret is required, got an empty list")
    keys = []
    for index, entry in enumerate(given):
        which = "secret" if len(given) == 1 else f"secret {index + 1} of {len(given)}"
        signing = entry if isinstance(entry, SigningKey) else None
        item = entry if signing is None else signing.secret
        if signing is not None and signing.id is not None:
            which += f" (id {signing.id!r})"
        if not isinstance(item, str | bytes):
            raise TypeError(f"{which} must be str, bytes or SigningKey, got {type(item).__name__}")
        if isinstance(item, str) and item != item.strip():
            problem = (
                "is only whitespace"
                if item.strip() == ""
                else "starts or ends with whitespace, such as the newline at the end of a file: "
                "strip it where it is read"
            )
            raise ValueError(f"{which} {problem}")
        try:
            key = decode(item)
        except ValueError as exc:
            raise ValueError(f"{which} {exc}") from None
        if not key:
            raise ValueError(f"{which} is empty")
        keys.append((key, signing))
    return keys


class _Decode(Protocol):
    def __call__(self, secret: str | bytes, /) -> bytes: ...
