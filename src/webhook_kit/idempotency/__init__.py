"""Run each delivery's handler once: claim its key, then complete or release it.

::

    from webhook_kit.idempotency import SQLiteStore, store_key

    store = SQLiteStore("idempotency.sqlite3")
    claim = store.claim(store_key("struktr", delivery_id))
    if claim.acquired:
        try:
            handle(event)
        except Exception:
            store.release(claim)  # the provider's retry will run it again
            raise
        store.complete(claim)
    # ClaimState.IN_PROGRESS: another worker has it (answer 409, the provider retries);
    # ClaimState.DONE: processed already (answer 200).

Always available here: the protocols, `MemoryStore`, `SQLiteStore` and the thread-pool adapter
`AsyncThreadedStore`. The networked backends import their client, so they live in their own
modules: `webhook_kit.idempotency.redis` (`RedisStore`, `AsyncRedisStore`; extra ``[redis]``) and
`webhook_kit.idempotency.sql` (`SQLStore`; extra ``[sql]``). See ``docs/idempotency.md``.
"""

from __future__ import annotations

from ..errors import StoreUnavailableError
from ._core import (
    DEFAULT_LEASE,
    DEFAULT_PREFIX,
    DEFAULT_RETAIN,
    DEFAULT_TIMEOUT,
    MAX_ID_LENGTH,
    AsyncIdempotencyStore,
    Claim,
    ClaimState,
    IdempotencyStore,
    LeaseLostError,
    StoreKey,
    store_key,
)
from ._threaded import AsyncThreadedStore
from .memory import MemoryStore
from .sqlite import SQLiteStore

__all__ = [
    "DEFAULT_LEASE",
    "DEFAULT_PREFIX",
    "DEFAULT_RETAIN",
    "DEFAULT_TIMEOUT",
    "MAX_ID_LENGTH",
    "AsyncIdempotencyStore",
    "AsyncThreadedStore",
    "Claim",
    "ClaimState",
    "IdempotencyStore",
    "LeaseLostError",
    "MemoryStore",
    "SQLiteStore",
    "StoreKey",
    "StoreUnavailableError",
    "store_key",
]
