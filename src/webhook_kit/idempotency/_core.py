"""The idempotency contract: claim a delivery's key, then complete it or release it.

A receiver claims ``store_key(provider, delivery_id)`` before running the handler. The answer
is one of three states:

- ``ACQUIRED``: this caller holds a lease on the key and must run the handler, then call
  `complete` (success) or `release` (failure, so the provider's retry runs it again);
- ``IN_PROGRESS``: another worker holds an unexpired lease: answer so the provider retries later;
- ``DONE``: the delivery was processed: acknowledge it without running the handler again.

A delivery may need several keys at once: the receiver claims the sender's delivery id and, when
that id is not covered by the signature, the body's digest too (see `Receiver`). ``claim(key,
also=[...])`` takes every key or none, `complete` marks them all done or none, and `release`
gives back all of them: a crash can never leave one key done and another forgotten.

A lease that is never completed nor released (the worker was SIGKILLed, ran out of memory, lost
its host) expires after ``lease`` seconds, and the next claim acquires the key. Every acquired
claim carries a random owner token, and `complete` is fenced by it: a worker whose lease expired
and was taken over cannot overwrite the new owner's record (`LeaseLostError`).
"""

from __future__ import annotations

import enum
import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from os import urandom
from typing import NewType, Protocol

from ..errors import LeaseLostError

__all__ = [
    "DEFAULT_LEASE",
    "DEFAULT_PREFIX",
    "DEFAULT_RETAIN",
    "DEFAULT_TIMEOUT",
    "MAX_ID_LENGTH",
    "AsyncIdempotencyStore",
    "Claim",
    "ClaimState",
    "IdempotencyStore",
    "LeaseLostError",
    "StoreKey",
    "store_key",
]

DEFAULT_LEASE: float = 60.0
"""Seconds a claim stays exclusive: longer than a webhook handler should run (providers give up
on a request after 10 to 30 s), short enough that a crashed worker's delivery is retried soon."""

DEFAULT_RETAIN: float = 7 * 24 * 60 * 60.0
"""Seconds a done marker is kept: 7 days, longer than any provider's retry window (struktr
retries for about 15 hours, ImgGo and DocExtract 6 times), with room for a manual redelivery."""

DEFAULT_PREFIX = "webhook-kit"
"""What every stored key starts with, so several applications can share one Redis or table."""

DEFAULT_TIMEOUT: float = 2.0
"""Seconds a store may take to answer before `StoreUnavailableError`: far under the providers'
request timeouts, far over what a healthy store needs."""

StoreKey = NewType("StoreKey", str)
"""A key namespaced by provider, made by `store_key`; the only kind of key stores accept."""

MAX_ID_LENGTH = 100
"""Delivery ids up to this many printable ASCII characters are kept as they are in store keys;
any other id is replaced by its SHA-256, so every key fits every backend's key column."""

_PROVIDER = re.compile(r"[a-z0-9][a-z0-9._-]{0,39}\Z")
_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")


_PROVIDERS_SEEN: set[str] = set()  # valid provider slugs already checked: a receiver has one


def _provider_ok(provider: str) -> bool:
    """Whether `provider` is a valid slug; remembered (up to 1,000 of them) when it is."""
    if not _PROVIDER.match(provider):
        return False
    if len(_PROVIDERS_SEEN) < 1000:
        _PROVIDERS_SEEN.add(provider)
    return True


def _verbatim(delivery_id: str) -> bool:
    """Whether an id is kept as it is: 1 to `MAX_ID_LENGTH` of ``[!-~]`` (printable, no space).

    String methods rather than a regular expression: the receiver checks every key twice.
    """
    return (
        0 < len(delivery_id) <= MAX_ID_LENGTH
        and delivery_id.isascii()
        and delivery_id.isprintable()
        and " " not in delivery_id
    )


def store_key(provider: str, delivery_id: str) -> StoreKey:
    """Return the key of one delivery, namespaced by its provider: ``"struktr:evt_123"``.

    `provider` is a lower-case slug without ``:`` (up to 40 characters), so the first ``:``
    always ends it and a struktr key never equals a Pulse key, whatever the delivery ids contain.
    An id that is not 1 to `MAX_ID_LENGTH` printable ASCII characters (too long, spaces, control
    characters, NUL, any non-ASCII text, even a lone surrogate) is stored as
    ``sha256:<hex digest of its UTF-8 bytes>``, the form body digests take: any id gives a key
    of bounded size that every backend accepts.
    """
    if provider not in _PROVIDERS_SEEN and not _provider_ok(provider):
        raise ValueError(
            f"provider {provider!r} must be a lower-case slug of up to 40 characters (letters, "
            "digits, '.', '_', '-'), such as 'struktr' or 'pulse'"
        )
    if not delivery_id:
        raise ValueError(f"the delivery id is empty: pass the {provider} delivery's unique id")
    if not _verbatim(delivery_id):
        data = delivery_id.encode("utf-8", "surrogatepass")
        delivery_id = "sha256:" + hashlib.sha256(data).hexdigest()
    return StoreKey(f"{provider}:{delivery_id}")


class ClaimState(str, enum.Enum):
    """What a claim found: the caller must process, someone else is, or it was processed."""

    ACQUIRED = "acquired"
    IN_PROGRESS = "in_progress"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class Claim:
    """The answer to `claim`: the key(s), the state found, and the owner token when acquired."""

    key: StoreKey
    state: ClaimState
    #: A random token naming this lease; set only when `state` is `ClaimState.ACQUIRED`.
    owner: str | None = None
    #: The other keys claimed with `key` (``claim(key, also=...)``), held and completed with it.
    also: tuple[StoreKey, ...] = ()

    @property
    def acquired(self) -> bool:
        """Whether this caller holds the lease and must run the handler."""
        return self.state is ClaimState.ACQUIRED

    @property
    def keys(self) -> tuple[StoreKey, ...]:
        """Every key of this claim: `key`, then `also`."""
        return (self.key, *self.also)


class IdempotencyStore(Protocol):
    """Three atomic operations on delivery keys (plus `purge`), shared by every sync backend.

    A claim with ``also`` keys acquires all of them or none: it is `ClaimState.DONE` if any key
    is done, else `ClaimState.IN_PROGRESS` if any is held, and then holds nothing. `complete`
    writes every key's done marker or none (`LeaseLostError` if any was taken over); `release`
    deletes the keys the claim still holds.
    """

    def claim(
        self, key: StoreKey, *, lease: float = DEFAULT_LEASE, also: Sequence[StoreKey] = ()
    ) -> Claim:
        """Try to take `key` (and every `also` key) for `lease` seconds; say why not if not."""

    def complete(self, claim: Claim, *, retain: float = DEFAULT_RETAIN) -> None:
        """Mark an acquired claim's keys done for `retain` seconds; `LeaseLostError` if taken."""

    def release(self, claim: Claim) -> None:
        """Give an acquired, uncompleted claim's keys back so the next delivery processes it."""

    def purge(self) -> int:
        """Delete expired records; return how many (0 where the backend expires them itself)."""


class AsyncIdempotencyStore(Protocol):
    """`IdempotencyStore` for event loops: the same operations and semantics, awaited."""

    async def claim(
        self, key: StoreKey, *, lease: float = DEFAULT_LEASE, also: Sequence[StoreKey] = ()
    ) -> Claim:
        """Try to take `key` (and every `also` key) for `lease` seconds; say why not if not."""

    async def complete(self, claim: Claim, *, retain: float = DEFAULT_RETAIN) -> None:
        """Mark an acquired claim's keys done for `retain` seconds; `LeaseLostError` if taken."""

    async def release(self, claim: Claim) -> None:
        """Give an acquired, uncompleted claim's keys back so the next delivery processes it."""

    async def purge(self) -> int:
        """Delete expired records; return how many (0 where the backend expires them itself)."""


# Helpers the backends share; private to the package.


class WouldBlock(Exception):
    """An operation tried with ``_try_now`` would have had to wait: run it in a thread instead."""


def new_owner() -> str:
    """A fresh, unguessable owner token (32 hex digits): `secrets.token_hex(16)`, inlined."""
    return urandom(16).hex()


def check_key(key: str) -> StoreKey:
    """Return `key` if it is one `store_key` can make, else raise `ValueError`.

    A key built by hand with a NUL, non-ASCII text or over-long id is refused here, before it
    reaches a backend that would fail on it in its own way.
    """
    provider, colon, delivery_id = key.partition(":")
    valid_provider = provider in _PROVIDERS_SEEN or _provider_ok(provider)
    if not (colon and valid_provider and _verbatim(delivery_id)):
        raise ValueError(
            f"{key!r} is not a store key: build keys with store_key(provider, delivery_id), "
            "which namespaces them by provider and hashes ids a backend could not store"
        )
    return StoreKey(key)


def check_keys(key: str, also: Sequence[str]) -> tuple[StoreKey, tuple[StoreKey, ...]]:
    """Check a claim's keys; the `also` keys without duplicates (or `key` itself), in order."""
    first = check_key(key)
    extra: list[StoreKey] = []
    for other in also:
        checked = check_key(other)
        if checked != first and checked not in extra:
            extra.append(checked)
    return first, tuple(extra)


def fold_states(states: Sequence[ClaimState]) -> ClaimState:
    """The state of a claim on several keys from each key's state: done wins over in progress."""
    if ClaimState.DONE in states:
        return ClaimState.DONE
    if ClaimState.IN_PROGRESS in states:
        return ClaimState.IN_PROGRESS
    return ClaimState.ACQUIRED


def check_seconds(name: str, value: float) -> float:
    """Return `value` as a float if it is a positive, finite number of seconds."""
    seconds = float(value)
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(f"{name} must be a positive, finite number of seconds, not {value!r}")
    return seconds


def check_prefix(prefix: str) -> str:
    """Return `prefix` if it is a non-empty slug without ``:``, else raise `ValueError`."""
    if not _PREFIX.match(prefix):
        raise ValueError(
            f"prefix {prefix!r} must be letters, digits, '.', '_' or '-' (no ':'), "
            "such as 'webhook-kit' or 'billing'"
        )
    return prefix


def owner_of(claim: Claim) -> str:
    """The owner token of an acquired claim; `ValueError` for any other claim."""
    if claim.owner is None or claim.state is not ClaimState.ACQUIRED:
        raise ValueError(
            f"only an acquired claim can be completed or released; this one is "
            f"{claim.state.value}: skip the handler instead"
        )
    return claim.owner


def milliseconds(seconds: float) -> int:
    """Whole milliseconds, at least 1, for backends that count time in them."""
    return max(1, round(seconds * 1000))
