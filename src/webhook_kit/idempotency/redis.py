"""`RedisStore` and `AsyncRedisStore`: one Redis (or Redis Cluster) shared by many hosts.

Each key is one Redis string, ``<prefix>:<provider>:<delivery id>``, whose value says the state
and names the owner (``in_progress:<token>`` or ``done:<token>``) and whose TTL is the lease or the
retention. Every operation is one round trip on one key, so it works unchanged on Redis Cluster:

- claim: ``SET key in_progress:<token> NX PX <lease> GET`` (Redis 7.0 or later), which sets the key
  if it is absent and otherwise returns what holds it;
- complete: a Lua script (``EVALSHA``) that writes ``done:<token>`` with the retention as TTL
  unless another owner's value is there;
- release: a Lua script that deletes the key if it still holds this claim's in-progress value.

Expiry is Redis's own (key TTLs, counted by the server), so application hosts with skewed clocks
agree. `purge` returns 0: Redis deletes expired keys itself.

Given a URL, the store makes a client whose connect and read timeouts are half of `timeout` with
one immediate retry (a pooled connection that the server closed is replaced once), so an
operation raises `StoreUnavailableError` within about `timeout` seconds. Given your own client,
its timeouts and retry policy apply: redis-py retries 10 times with backoff by default.
"""

from __future__ import annotations

from typing import Any

try:
    import redis
    import redis.asyncio
    from redis.asyncio.retry import Retry as AsyncRetry
    from redis.backoff import NoBackoff
    from redis.exceptions import (
        ClusterError,
        OutOfMemoryError,
        ReadOnlyError,
        RedisError,
        TryAgainError,
    )
    from redis.retry import Retry
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "webhook_kit.idempotency.redis needs redis-py: pip install 'webhook-kit[redis]'"
    ) from exc

from ..errors import StoreUnavailableError
from ._core import (
    DEFAULT_LEASE,
    DEFAULT_PREFIX,
    DEFAULT_RETAIN,
    DEFAULT_TIMEOUT,
    Claim,
    ClaimState,
    LeaseLostError,
    StoreKey,
    check_key,
    check_prefix,
    check_seconds,
    milliseconds,
    new_owner,
    owner_of,
)

__all__ = ["AsyncRedisStore", "RedisStore"]

# KEYS[1] the key; ARGV[1] this claim's in-progress value, ARGV[2] its done value, ARGV[3] TTL ms.
# Written unless another owner's value is live (an expired value is gone, so it cannot block).
COMPLETE_SCRIPT = """
local held = redis.call('GET', KEYS[1])
if held and held ~= ARGV[1] and held ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""

# KEYS[1] the key; ARGV[1] this claim's in-progress value.
RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

#: Errors that mean "the store cannot answer now", as opposed to a programming error.
_UNAVAILABLE: tuple[type[RedisError], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    ClusterError,
    ReadOnlyError,
    TryAgainError,
    OutOfMemoryError,
)

_IN_PROGRESS = "in_progress:"
_DONE = "done:"


def _client_options(timeout: float) -> dict[str, Any]:
    """Client settings that bound one operation to about `timeout` seconds."""
    return {
        "socket_timeout": timeout / 2,
        "socket_connect_timeout": timeout / 2,
        "retry": Retry(NoBackoff(), 1),
    }


def _async_client_options(timeout: float) -> dict[str, Any]:
    """`_client_options` for ``redis.asyncio``, whose `Retry` class is its own."""
    return {**_client_options(timeout), "retry": AsyncRetry(NoBackoff(), 1)}


def _state(held: bytes | str | None) -> ClaimState:
    """The state of a claim whose ``SET NX GET`` returned `held` (None: we set the key)."""
    if held is None:
        return ClaimState.ACQUIRED
    text = held.decode() if isinstance(held, bytes) else held
    return ClaimState.DONE if text.startswith(_DONE) else ClaimState.IN_PROGRESS


def _unavailable(exc: RedisError, timeout: float) -> StoreUnavailableError:
    return StoreUnavailableError(
        f"Redis did not answer within {timeout} s ({exc.__class__.__name__}: {exc}): "
        "check that the server is up and reachable from this host"
    )


class RedisStore:
    """An `IdempotencyStore` in Redis, for receivers on several hosts.

    `client` is a ``redis.Redis`` or ``redis.cluster.RedisCluster``, or a URL
    (``redis://host:6379/0``, ``rediss://...``) from which the store makes, and later closes, its
    own client with timeouts derived from `timeout`.
    """

    __slots__ = ("_client", "_complete", "_owns_client", "_release", "prefix", "timeout")

    def __init__(
        self,
        client: redis.Redis | redis.RedisCluster | str,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.prefix = check_prefix(prefix)
        self.timeout = check_seconds("timeout", timeout)
        self._owns_client = isinstance(client, str)
        self._client: redis.Redis | redis.RedisCluster = (
            redis.Redis.from_url(client, **_client_options(self.timeout))
            if isinstance(client, str)
            else client
        )
        self._complete = self._client.register_script(COMPLETE_SCRIPT)
        self._release = self._client.register_script(RELEASE_SCRIPT)

    def claim(self, key: StoreKey, *, lease: float = DEFAULT_LEASE) -> Claim:
        """Take `key` for `lease` seconds unless a live lease or done marker holds it."""
        key = check_key(key)
        owner = new_owner()
        px = milliseconds(check_seconds("lease", lease))
        try:
            held = self._client.set(
                f"{self.prefix}:{key}", _IN_PROGRESS + owner, px=px, nx=True, get=True
            )
        except _UNAVAILABLE as exc:
            raise _unavailable(exc, self.timeout) from exc
        state = _state(held)  # type: ignore[arg-type]  # SET ... GET answers a value, not a bool
        return Claim(key, state, owner if state is ClaimState.ACQUIRED else None)

    def complete(self, claim: Claim, *, retain: float = DEFAULT_RETAIN) -> None:
        """Mark the key done for `retain` seconds, unless another owner has claimed it since."""
        owner = owner_of(claim)
        px = milliseconds(check_seconds("retain", retain))
        try:
            written = self._complete(
                keys=[f"{self.prefix}:{claim.key}"], args=[_IN_PROGRESS + owner, _DONE + owner, px]
            )
        except _UNAVAILABLE as exc:
            raise _unavailable(exc, self.timeout) from exc
        if not written:
            raise LeaseLostError(claim.key)

    def release(self, claim: Claim) -> None:
        """Delete the key if this claim still holds it uncompleted; otherwise do nothing."""
        owner = owner_of(claim)
        try:
            self._release(keys=[f"{self.prefix}:{claim.key}"], args=[_IN_PROGRESS + owner])
        except _UNAVAILABLE as exc:
            raise _unavailable(exc, self.timeout) from exc

    def purge(self) -> int:
        """Return 0: Redis deletes keys whose TTL has passed by itself."""
        return 0

    def close(self) -> None:
        """Close the client if the store made it from a URL; a client you passed stays open."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> RedisStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncRedisStore:
    """An `AsyncIdempotencyStore` on ``redis.asyncio``: the same keys, values and scripts as
    `RedisStore` (the two can share a Redis), without a thread per operation.

    `client` is a ``redis.asyncio.Redis`` or ``redis.asyncio.RedisCluster``, or a URL.
    """

    __slots__ = ("_client", "_complete", "_owns_client", "_release", "prefix", "timeout")

    def __init__(
        self,
        client: redis.asyncio.Redis | redis.asyncio.RedisCluster | str,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.prefix = check_prefix(prefix)
        self.timeout = check_seconds("timeout", timeout)
        self._owns_client = isinstance(client, str)
        self._client: redis.asyncio.Redis | redis.asyncio.RedisCluster = (
            redis.asyncio.Redis.from_url(client, **_async_client_options(self.timeout))
            if isinstance(client, str)
            else client
        )
        self._complete = self._client.register_script(COMPLETE_SCRIPT)
        self._release = self._client.register_script(RELEASE_SCRIPT)

    async def claim(self, key: StoreKey, *, lease: float = DEFAULT_LEASE) -> Claim:
        """Take `key` for `lease` seconds unless a live lease or done marker holds it."""
        key = check_key(key)
        owner = new_owner()
        px = milliseconds(check_seconds("lease", lease))
        try:
            held = await self._client.set(
                f"{self.prefix}:{key}", _IN_PROGRESS + owner, px=px, nx=True, get=True
            )
        except _UNAVAILABLE as exc:
            raise _unavailable(exc, self.timeout) from exc
        state = _state(held)  # type: ignore[arg-type]  # SET ... GET answers a value, not a bool
        return Claim(key, state, owner if state is ClaimState.ACQUIRED else None)

    async def complete(self, claim: Claim, *, retain: float = DEFAULT_RETAIN) -> None:
        """Mark the key done for `retain` seconds, unless another owner has claimed it since."""
        owner = owner_of(claim)
        px = milliseconds(check_seconds("retain", retain))
        try:
            written = await self._complete(
                keys=[f"{self.prefix}:{claim.key}"], args=[_IN_PROGRESS + owner, _DONE + owner, px]
            )
        except _UNAVAILABLE as exc:
            raise _unavailable(exc, self.timeout) from exc
        if not written:
            raise LeaseLostError(claim.key)

    async def release(self, claim: Claim) -> None:
        """Delete the key if this claim still holds it uncompleted; otherwise do nothing."""
        owner = owner_of(claim)
        try:
            await self._release(keys=[f"{self.prefix}:{claim.key}"], args=[_IN_PROGRESS + owner])
        except _UNAVAILABLE as exc:
            raise _unavailable(exc, self.timeout) from exc

    async def purge(self) -> int:
        """Return 0: Redis deletes keys whose TTL has passed by itself."""
        return 0

    async def aclose(self) -> None:
        """Close the client if the store made it from a URL; a client you passed stays open."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> AsyncRedisStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
