"""Standard Webhooks' asymmetric signatures: ``v1a,<base64 ed25519>`` over ``id.timestamp.body``.

`StandardWebhooksVerifier` takes the keys in its secret list, told apart by their prefix:
``whpk_<base64 32 bytes>`` is a public key it trusts, ``whsk_<base64>`` a secret key (the 32-byte
seed, or the 64-byte seed + public key form) that it trusts and, first in the list, signs with
(for tests). Keys a request carries are never trusted: only the configured ones verify.

ed25519 costs tens of microseconds per check against about two for the HMAC, and nothing in a
``v1a`` entry says which key made it, so every signature is tried with every key. A header that
could need more than `MAX_CHECKS` (``v1a`` entries x keys) checks is refused before it is even
split, as a `MalformedHeaderError`. `cryptography` is imported only when a key is configured.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from ._keys import fingerprint
from .errors import MalformedHeaderError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )
    from typing_extensions import Buffer

__all__ = ["MAX_CHECKS", "PREFIXES", "Ed25519Keys", "split_keys"]

#: The most ed25519 checks (v1a signatures in the header x configured keys) one request may cost.
MAX_CHECKS = 8

PUBLIC_PREFIX = "whpk_"
SECRET_PREFIX = "whsk_"  # noqa: S105 - the name of a key format, not a key
PREFIXES = (PUBLIC_PREFIX, SECRET_PREFIX)

_HEADER = "webhook-signature"
#: A v1a signature: 64 bytes in canonical standard base64 (the last digit's low bits zero).
_SIGNATURE = re.compile(r"[A-Za-z0-9+/]{85}[AQgw]==")
_INSTALL = "pip install 'webhook-kit[ed25519]'"


class Ed25519Keys:
    """The ed25519 keys of a verifier's secret list: those it trusts, and the one it signs with.

    `signs` is whether the list's first entry is an ed25519 key, so `sign()` makes ``v1a``
    signatures; `signer` is that key when it is a ``whsk_`` secret key (None for a public key).
    """

    __slots__ = ("_invalid", "ids", "public", "signer", "signs")

    def __init__(
        self, public: Sequence[Ed25519PublicKey], signer: Ed25519PrivateKey | None, *, signs: bool
    ) -> None:
        from cryptography.exceptions import InvalidSignature  # noqa: PLC0415 - optional extra

        self.public = tuple(public)
        #: Each public key's id, as the log and `Outcome.key_id` report it: its fingerprint.
        self.ids = tuple(fingerprint(key.public_bytes_raw()) for key in self.public)
        self.signer = signer
        self.signs = signs
        self._invalid = InvalidSignature

    def check_bound(self, header: str) -> None:
        """Refuse `header` if it has more ``v1a,`` entries than the checks allowed per request.

        At most ``limit + 1`` searches, before the header is split: a flood of thousands of
        entries costs a few microseconds.
        """
        limit = MAX_CHECKS // len(self.public)
        found = -1
        for _ in range(limit + 1):
            found = header.find("v1a,", found + 1)
            if found < 0:
                return
        raise MalformedHeaderError(
            _HEADER,
            f"more than {limit} v1a signatures: at most {MAX_CHECKS} ed25519 checks "
            f"(signatures x the {len(self.public)} configured key(s)) per request",
        )

    def verify(
        self, header: str, signed_prefix: bytes, message: Buffer
    ) -> str | Literal[False] | None:
        """The id of the key a ``v1a`` entry of `header` verifies with; None if there is no entry.

        False if there are well-formed ``v1a`` entries but none verifies. Entries in another
        form (urlsafe or unpadded base64, the wrong length) are skipped as malformed, before any
        ed25519 work. Call `check_bound` first: this tries every signature with every key.
        """
        signatures = [
            binascii.a2b_base64(entry[4:])
            for entry in header.split(" ")
            if entry[:4] == "v1a," and _SIGNATURE.fullmatch(entry, 4)
        ]
        if not signatures:
            return None
        signed = b"".join((signed_prefix, message))  # ed25519 reads its message twice: one buffer
        for signature in signatures:
            for key_id, key in zip(self.ids, self.public, strict=True):
                try:
                    key.verify(signature, signed)
                except self._invalid:
                    continue
                return key_id
        return False

    def sign(self, signed_prefix: bytes, message: Buffer) -> str:
        """Return ``v1a,<base64>`` for the message, signed with the first (``whsk_``) key."""
        if self.signer is None:
            raise ValueError(
                "the first secret is a whpk_ public key, which can only verify: put a whsk_ "
                "secret key (or a whsec_ secret) first to sign"
            )
        signature = self.signer.sign(b"".join((signed_prefix, message)))
        return "v1a," + base64.b64encode(signature).decode()


def split_keys(secret: Any) -> tuple[Any, Ed25519Keys | None]:
    """Split `secret` into the HMAC secrets (as given if there is no ed25519 key) and the keys.

    Only strings starting with ``whpk_`` or ``whsk_`` are ed25519 keys; everything else is left
    for the HMAC secrets' checks, which also refuse None, an empty list and wrong types.
    """
    if isinstance(secret, str):
        given: list[Any] = [secret]
    elif isinstance(secret, Sequence) and not isinstance(secret, bytes):
        given = list(secret)
    else:
        return secret, None
    if not any(_is_key(item) for item in given):
        return secret, None
    public: list[Ed25519PublicKey] = []
    signer = None
    rest = []
    for index, item in enumerate(given):
        if not _is_key(item):
            rest.append(item)
            continue
        which = "secret" if len(given) == 1 else f"secret {index + 1} of {len(given)}"
        private, key = _load(item, which)
        public.append(key)
        if index == 0:
            signer = private
    if len(public) > MAX_CHECKS:
        raise ValueError(f"at most {MAX_CHECKS} whpk_ or whsk_ keys, got {len(public)}")
    return rest, Ed25519Keys(public, signer, signs=_is_key(given[0]))


def _is_key(item: object) -> bool:
    return isinstance(item, str) and item.startswith(PREFIXES)


def _load(text: str, which: str) -> tuple[Ed25519PrivateKey | None, Ed25519PublicKey]:
    """The private key (None for a public one) and the public key `text` names."""
    ed25519 = _cryptography()
    prefix, encoded = text[:5], text[5:]
    if encoded != encoded.strip():
        raise ValueError(
            f"{which} starts or ends with whitespace, such as the newline at the end of a file: "
            "strip it where it is read"
        )
    try:
        raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{which} must be {prefix} followed by standard base64") from None
    if prefix == PUBLIC_PREFIX:
        if len(raw) != 32:
            raise ValueError(
                f"{which} is not an ed25519 public key: whpk_ must be followed by the base64 of "
                f"32 bytes, got {len(raw)}"
            )
        return None, ed25519.Ed25519PublicKey.from_public_bytes(raw)
    if len(raw) not in (32, 64):
        raise ValueError(
            f"{which} is not an ed25519 secret key: whsk_ must be followed by the base64 of "
            f"the 32-byte seed or of the 64-byte seed + public key, got {len(raw)} bytes"
        )
    private = ed25519.Ed25519PrivateKey.from_private_bytes(raw[:32])
    public = private.public_key()
    if len(raw) == 64 and public.public_bytes_raw() != raw[32:]:
        raise ValueError(
            f"{which} is not an ed25519 secret key: its last 32 bytes are not the public key "
            "of its first 32 (the seed)"
        )
    return private, public


def _cryptography() -> Any:
    """The `cryptography` ed25519 module, or an ImportError naming the extra to install."""
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: PLC0415
    except ImportError as exc:
        raise ImportError(
            "whpk_ and whsk_ keys (Standard Webhooks v1a signatures) need the cryptography "
            f"package, which is not installed: {_INSTALL}"
        ) from exc
    return ed25519
