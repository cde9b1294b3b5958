"""`AsyncThreadedStore`: any sync store, awaited from an event loop without blocking it.

Each operation runs in the event loop's default thread pool (`asyncio.to_thread`), so a slow
database never blocks the loop. A thread hop costs a few hundred microseconds of CPU, more than
the operation itself for the embedded stores: `MemoryStore` operations, and `SQLiteStore` ones
that need not wait (no other thread in the store, no other process writing the file), run on the
loop instead, and only the others go to a thread. The pool's size caps how many operations run
at once (``min(32, cpus + 4)`` threads by default). Use
`webhook_kit.idempotency.redis.AsyncRedisStore` for a native async Redis store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .._lazy import LazyModule
from ._core import DEFAULT_LEASE, DEFAULT_RETAIN, Claim, IdempotencyStore, StoreKey, WouldBlock

if TYPE_CHECKING:
    import asyncio
else:
    asyncio = LazyModule("asyncio")  # every receiver wraps its sync store: import only if awaited

_T = TypeVar("_T")

__all__ = ["AsyncThreadedStore"]


class AsyncThreadedStore:
    """An `AsyncIdempotencyStore` that runs a sync `IdempotencyStore` in worker threads.

    The wrapped store must be safe to share between threads; every store here is. A store
    with a ``_try_now(operation, *args, **kwargs)`` method (`MemoryStore`, `SQLiteStore`) is first
    asked to run the operation on the loop, and raises `WouldBlock` if it would have to wait.
    If the awaiting task is cancelled, the operation still finishes in its thread: a claim
    acquired that way is never completed and lapses after its lease, like a crashed worker's.
    """

    __slots__ = ("_try_now", "store")

    def __init__(self, store: IdempotencyStore) -> None:
        #: The sync store doing the work.
        self.store = store
        self._try_now: Callable[..., Any] | None = getattr(store, "_try_now", None)

    async def _call(self, operation: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
        if self._try_now is not None:
            try:
                result: _T = self._try_now(operation, *args, **kwargs)
                return result
            except WouldBlock:
                pass
        return await asyncio.to_thread(operation, *args, **kwargs)

    async def claim(
        self, key: StoreKey, *, lease: float = DEFAULT_LEASE, also: Sequence[StoreKey] = ()
    ) -> Claim:
        """`IdempotencyStore.claim`, without blocking the loop."""
        if also:  # a store written before multi-key claims still works for one key
            return await self._call(self.store.claim, key, lease=lease, also=also)
        return await self._call(self.store.claim, key, lease=lease)

    async def complete(self, claim: Claim, *, retain: float = DEFAULT_RETAIN) -> None:
        """`IdempotencyStore.complete`, without blocking the loop."""
        await self._call(self.store.complete, claim, retain=retain)

    async def release(self, claim: Claim) -> None:
        """`IdempotencyStore.release`, without blocking the loop."""
        await self._call(self.store.release, claim)

    async def purge(self) -> int:
        """`IdempotencyStore.purge`, in a worker thread (it may delete many rows)."""
        return await asyncio.to_thread(self.store.purge)
