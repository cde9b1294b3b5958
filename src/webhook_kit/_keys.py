"""Signing keys: a secret with an id and a validity window, and the prepared keys verifiers use.

A plain secret (``"s3cret"``) is a key valid at all times whose id is its fingerprint: the first
eight hex digits of a SHA-256 of the decoded key bytes, behind a fixed label, shown as
``fp:1a2b3c4d``. It is stable (the same key in any notation, at any position of a rotation list,
has the same id), says nothing a signed delivery does not already say, and cannot be turned back
into the secret. A `SigningKey` names its key (``id="2026-11"``) and bounds when it verifies.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime, timezone

from ._hmac import HmacKey

__all__ = ["PreparedKey", "SigningKey", "expired", "fingerprint", "prepare", "signing_key"]

_ID = re.compile(r"[!-~]{1,64}")  # printable ASCII without spaces: safe in a log line
_LABEL = b"webhook-kit key fingerprint\x00"


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A secret with an id, and optionally the window in which it verifies and signs.

    Use it anywhere a secret is accepted, alone or in a rotation list mixed with plain secrets::

        SigningKey(os.environ["STRUKTR_WEBHOOK_SECRET"], id="2026-11")

    `id` is what outcomes and log lines report when this key matched (``key_id=2026-11``); it is
    1 to 64 printable ASCII characters without spaces, and never the secret. Without it, the id
    is the key's fingerprint (``fp:1a2b3c4d``). `not_before` and `not_after` are aware datetimes or
    seconds since the Unix epoch: the key verifies and signs from `not_before` (included) until
    `not_after` (excluded), judged by the verifier's clock. Outside that window it verifies
    nothing. All but the secret are keyword-only, and `repr()` never shows the secret.
    """

    secret: str | bytes = field(repr=False)
    _: KW_ONLY  # an id given in the secret's place would be logged: name everything else
    id: str | None = None
    not_before: datetime | float | None = None
    not_after: datetime | float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.secret, str | bytes):
            raise TypeError(
                f"SigningKey secret must be str or bytes, got {type(self.secret).__name__}"
            )
        key_id: object = self.id  # checked as any object: callers may not be type-checked
        if key_id is not None and not (isinstance(key_id, str) and _ID.fullmatch(key_id)):
            raise ValueError(  # not quoting it: it could be a secret given in the wrong place
                "SigningKey id must be 1 to 64 printable ASCII characters without spaces, "
                "such as '2026-11'"
            )
        start = _epoch("not_before", self.not_before)
        end = _epoch("not_after", self.not_after)
        if start >= end:
            raise ValueError("SigningKey not_before must be earlier than not_after")


def _epoch(name: str, value: object) -> float:
    """`value` as seconds since the epoch (None is unbounded); refuse what cannot be one."""
    if value is None:
        return -math.inf if name == "not_before" else math.inf
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(
                f"SigningKey {name} must be a timezone-aware datetime "
                "(datetime(..., tzinfo=timezone.utc)) or seconds since the epoch"
            )
        return value.timestamp()
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(
            f"SigningKey {name} must be an aware datetime or a finite number of seconds "
            f"since the epoch, not {value!r}"
        )
    return float(value)


def fingerprint(key: bytes) -> str:
    """The id of a key given without one: ``fp:`` and 8 hex digits of a labelled SHA-256."""
    return "fp:" + hashlib.sha256(_LABEL + key).hexdigest()[:8]


class PreparedKey(HmacKey):
    """An `HmacKey` that knows its id and the window (epoch seconds, bounds) it is valid in."""

    __slots__ = ("id", "not_after", "not_before")

    def __init__(
        self,
        key: bytes,
        algorithm: str = "sha256",
        *,
        id: str,
        not_before: float = -math.inf,
        not_after: float = math.inf,
    ) -> None:
        super().__init__(key, algorithm)
        self.id = id
        self.not_before = not_before
        self.not_after = not_after

    def valid_at(self, now: float) -> bool:
        """Whether the key verifies and signs at `now` (seconds since the epoch)."""
        return self.not_before <= now < self.not_after

    def window(self) -> str:
        """The window in words, for error messages: ``from ... until ...`` in UTC."""
        parts = []
        if self.not_before > -math.inf:
            parts.append("from " + _iso(self.not_before))
        if self.not_after < math.inf:
            parts.append("until " + _iso(self.not_after))
        return " ".join(parts) or "at all times"


def prepare(
    entries: Sequence[tuple[bytes, SigningKey | None]], algorithm: str = "sha256"
) -> tuple[PreparedKey, ...]:
    """Prepare each decoded key with its id and window; refuse one id naming two keys."""
    keys = []
    seen: dict[str, bytes] = {}
    for key, given in entries:
        key_id = given.id if given is not None and given.id is not None else fingerprint(key)
        if seen.setdefault(key_id, key) != key:
            raise ValueError(f"key id {key_id!r} names two different keys: give each its own id")
        if given is None:
            keys.append(PreparedKey(key, algorithm, id=key_id))
        else:
            start = _epoch("not_before", given.not_before)
            end = _epoch("not_after", given.not_after)
            keys.append(PreparedKey(key, algorithm, id=key_id, not_before=start, not_after=end))
    return tuple(keys)


def signing_key(keys: Sequence[PreparedKey], now: float) -> PreparedKey:
    """The first key valid at `now`; a `ValueError` naming each key's window if none is."""
    for key in keys:
        if key.valid_at(now):
            return key
    windows = "; ".join(f"{key.id} {key.window()}" for key in keys)
    raise ValueError(
        f"no signing key is valid at {_iso(now)} (keys: {windows}): "
        "add a current key, or sign with now= inside a key's window"
    )


def expired(keys: Sequence[PreparedKey], now: float) -> tuple[str, ...]:
    """The ids of the keys whose `not_after` is `now` or earlier: they verify nothing any more."""
    return tuple(key.id for key in keys if key.not_after <= now)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat().replace("+00:00", "Z")
