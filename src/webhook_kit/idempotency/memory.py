"""`MemoryStore`: a dict under a lock, for tests and single-process applications.

Nothing leaves the process: a second worker process, or a restart, starts with an empty store.
Leases and retention are measured with `time.monotonic`, so wall-clock jumps do not move them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, NamedTuple, TypeVar

from ._core import (
    DEFAULT_LEASE,
    DEFAULT_RETAIN,
    Claim,
    ClaimState,
    LeaseLostError,
    StoreKey,
    check_keys,
    check_seconds,
    fold_states,
    new_owner,
    owner_of,
)

__all__ = ["MemoryStore"]

_T = TypeVar("_T")


class _Record(NamedTuple):
    owner: str
    done: bool
    expires_at: float


# Builds a `_Record` from a tuple in C, without the Python-level `__new__` of a NamedTuple.
_record = partial(tuple.__new__, _Record)


class MemoryStore:
    """An `IdempotencyStore` in this process's memory, safe to share between threads."""

    __slots__ = ("_lock", "_records")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, _Record] = {}

    def _try_now(self, operation: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
        """Run `operation` on the caller's thread: its lock is only ever held for microseconds."""
        return operation(*args, **kwargs)

    def claim(
        self, key: StoreKey, *, lease: float = DEFAULT_LEASE, also: Sequence[StoreKey] = ()
    ) -> Claim:
        """Take `key` (and the `also` keys) for `lease` seconds unless one of them is live."""
        key, also = check_keys(key, also)
        lease = check_seconds("lease", lease)
        keys = (key, *also)
        with self._lock:
            now = time.monotonic()
            states = []
            for each in keys:
                record = self._records.get(each)
                if record is not None and record.expires_at > now:
                    states.append(ClaimState.DONE if record.done else ClaimState.IN_PROGRESS)
            if states:
                return Claim(key, fold_states(states), also=also)
            owner = new_owner()
            for each in keys:
                self._records[each] = _record((owner, False, now + lease))
        return Claim(key, ClaimState.ACQUIRED, owner, also)

    def complete(self, claim: Claim, *, retain: float = DEFAULT_RETAIN) -> None:
        """Mark the keys done for `retain` seconds, unless another owner has claimed one since."""
        owner = owner_of(claim)
        retain = check_seconds("retain", retain)
        with self._lock:
            now = time.monotonic()
            for key in claim.keys:
                record = self._records.get(key)
                if record is not None and record.owner != owner and record.expires_at > now:
                    raise LeaseLostError(key)
            for key in claim.keys:
                self._records[key] = _record((owner, True, now + retain))

    def release(self, claim: Claim) -> None:
        """Forget the keys this claim still holds uncompleted; leave every other key alone."""
        owner = owner_of(claim)
        with self._lock:
            for key in claim.keys:
                record = self._records.get(key)
                if record is not None and record.owner == owner and not record.done:
                    del self._records[key]

    def purge(self) -> int:
        """Delete expired leases and done markers; return how many were deleted."""
        with self._lock:
            now = time.monotonic()
            expired = [key for key, record in self._records.items() if record.expires_at <= now]
            for key in expired:
                del self._records[key]
        return len(expired)
