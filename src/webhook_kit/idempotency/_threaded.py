"""`AsyncThreadedStore`: any sync store, awaited from an event loop through worker threads.

Each operation runs in the event loop's default thread pool (`asyncio.to_thread`), so a slow
database never blocks the loop. It costs a thread hop (tens of microseconds) per operation, and
the pool's size caps how many operations run at once (``min(32, cpus + 4)`` threads by
default). Use `webhook_kit.idempotency.redis.AsyncRedisStore` for a native async Redis store.
"""

from __future__ import annotations

import asyncio

from ._core import DEFAULT_LEASE, DEFAULT_RETAIN, Claim, IdempotencyStore, StoreKey

__all__ = ["AsyncThreadedStore"]


class AsyncThreadedStore:
    """An `AsyncIdempotencyStore` that runs a sync `IdempotencyStore` in worker threads.

    The wrapped store must be safe to share between threads; every store here is.
    If the awaiting task is cancelled, the operation still finishes in its thread: a claim
    acquired that way is never completed and lapses after its lease, like a crashed worker's.
    """

    __slots__ = ("store",)

    def __init__(self, store: IdempotencyStore) -> None:
        #: The sync store doing the work.
        self.store = store

    async def claim(self, key: StoreKey, *, lease: float = DEFAULT_LEASE) -> Claim:
        """`IdempotencyStore.claim`, in a worker thread."""
        return await asyncio.to_thread(self.store.claim, key, lease=lease)

    async def complete(self, claim: Claim, *, retain: float = DEFAULT_RETAIN) -> None:
        """`IdempotencyStore.complete`, in a worker thread."""
        await asyncio.to_thread(self.store.complete, claim, retain=retain)

    async def release(self, claim: Claim) -> None:
        """`IdempotencyStore.release`, in a worker thread."""
        await asyncio.to_thread(self.store.release, claim)

    async def purge(self) -> int:
        """`IdempotencyStore.purge`, in a worker thread."""
        return await asyncio.to_thread(self.store.purge)
