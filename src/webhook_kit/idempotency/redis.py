"""`RedisStore` and `AsyncRedisStore`: one Redis (or Redis Cluster) shared by many hosts.

Each key is one Redis string, ``<prefix>:<provider>:<delivery id>``, whose value says the state
and names the owner (``in_progress:<token>`` or ``done:<token>``) and whose TTL is the lease or the
retention. Every operation is one round trip:

- claim: ``SET key in_progress:<token> NX PX <lease> GET`` (Redis 7.0 or later), which sets the key
  if it is absent and otherwise returns what holds it; a claim of several keys is a Lua script that
  sets all of them only if none is held;
- complete: a Lua script (``EVALSHA``) that writes ``done:<token>`` on every key of the claim with
  the retention as TTL, unless another owner's value is on any of them;
- release: a Lua script that deletes the keys that still hold this claim's in-progress value.

A script runs atomically, so several keys are taken, completed or released together. On Redis
Cluster a script's keys must share a hash slot: given a ``RedisCluster`` client, the store puts its
prefix in a hash tag (``{<prefix>}:<provider>:<delivery id>``), so all of one store's keys live
on one shard.

Expiry is Redis's own (key TTLs, counted by the server), so application hosts with skewed clocks
agree. `purge` returns 0: Redis deletes expired keys itself.

Given a URL, the store makes a client whose connect and read timeouts are half of `timeout` with
one immediate retry (a pooled connection that the server closed is replaced once), so an
operation raises `StoreUnavailableError` within about `timeout` seconds. Given your own client,
its timeouts and retry policy apply: redis-py retries 10 times with backoff by default.
"""

from __future__ import annotations

from collections.abc import Sequence
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
        RedisClusterException,
        ResponseError,
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
    check_keys,
    check_prefix,
    check_seconds,
    milliseconds,
    new_owner,
    owner_of,
)

__all__ = ["AsyncRedisStore", "RedisStore"]

# KEYS the claim's keys; ARGV[1] the in-progress value, ARGV[2] the lease in ms.
# Returns 0 when it set every key, else 2 if any key is done, 1 if any is in progress. A key
# holding ARGV[1] already is this claim's own (the client retried after losing the reply).
CLAIM_SCRIPT = """
local state = 0
for _, key in ipairs(KEYS) do
  local held = redis.call('GET', key)
  if held and held ~= ARGV[1] then
    if string.sub(held, 1, 5) == 'done:' then return 2 end
    state = 1
  end
end
if state == 0 then
  for _, key in ipairs(KEYS) do redis.call('SET', key, ARGV[1], 'PX', ARGV[2]) end
end
return state
"""

# KEYS the claim's keys; ARGV[1] its in-progress value, ARGV[2] its done value, ARGV[3] TTL ms.
# Written unless another owner's value is live on any key (an expired value is gone).
COMPLETE_SCRIPT = """
for _, key in ipairs(KEYS) do
  local held = redis.call('GET', key)
  if held and held ~= ARGV[1] and held ~= ARGV[2] then return 0 end
end
for _, key in ipairs(KEYS) do redis.call('SET', key, ARGV[2], 'PX', ARGV[3]) end
return 1
"""

# KEYS the claim's keys; ARGV[1] its in-progress value.
RELEASE_SCRIPT = """
local deleted = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then deleted = deleted + redis.call('DEL', key) end
end
return deleted
"""

#: `CLAIM_SCRIPT`'s answers.
_SCRIPT_STATES = (ClaimState.ACQUIRED, ClaimState.IN_PROGRESS, ClaimState.DONE)

#: Errors that mean "the store cannot answer now", as opposed to a programming error. On Redis
#: Cluster, `RedisClusterException` (not a `RedisError`) is what the client raises when no node
#: answers or no node serves the slot: our own few commands never misuse the client.
_UNAVAILABLE: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    ClusterError,
    RedisClusterException,
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


def _state(held: bytes | str | None, ours: str) -> ClaimState:
    """The state of a claim whose ``SET NX GET`` of `ours` returned `held` (None: we set it).

    `held` equal to `ours` is this claim's own lease: the client sent the ``SET`` again after
    a lost reply (a timeout, a dropped connection, a cluster failover), and the first one took.
    """
    if held is None:
        return ClaimState.ACQUIRED
    text = held.decode() if isinstance(held, bytes) else held
    if text == ours:
        return ClaimState.ACQUIRED
    return ClaimState.DONE if text.startswith(_DONE) else ClaimState.IN_PROGRESS


def _namespace(prefix: str, client: object) -> str:
    """What stored keys start with: the prefix, in a hash tag on Redis Cluster (one slot)."""
    clustered = isinstance(client, (redis.RedisCluster, redis.asyncio.RedisCluster))
    return f"{{{prefix}}}" if clustered else prefix


def _is_outage(exc: Exception) -> bool:
    """Whether `exc` means the store cannot answer now (so: 503, and the provider retries).

    Besides `_UNAVAILABLE`, a master configured with ``min-replicas-to-write`` refuses writes
    with ``NOREPLICAS`` while too few replicas are connected: redis-py raises a plain
    `ResponseError` for it (with the script's name after it when a script wrote).
    """
    if isinstance(exc, _UNAVAILABLE):
        return True
    return isinstance(exc, ResponseError) and str(exc).startswith("NOREPLICAS ")


def _unavailable(exc: Exception, timeout: float) -> StoreUnavailableError:
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

    __slots__ = (
        "_claim",
        "_client",
        "_complete",
        "_namespace",
        "_owns_client",
        "_release",
        "prefix",
        "timeout",
    )

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
        self._namespace = _namespace(self.prefix, self._client)
        self._claim = self._client.register_script(CLAIM_SCRIPT)
        self._complete = self._client.register_script(COMPLETE_SCRIPT)
        self._release = self._client.register_script(RELEASE_SCRIPT)

    def _stored(self, key: StoreKey) -> str:
        return f"{self._namespace}:{key}"

    def _stored_keys(self, claim: Claim) -> list[str]:
        return [self._stored(key) for key in claim.keys]

    def claim(
        self, key: StoreKey, *, lease: float = DEFAULT_LEASE, also: Sequence[StoreKey] = ()
    ) -> Claim:
        """Take `key` (and the `also` keys) for `lease` seconds unless one of them is live."""
        key, also = check_keys(key, also)
        owner = new_owner()
        px = milliseconds(check_seconds("lease", lease))
        try:
            if also:
                code = self._claim(
                    keys=[self._stored(each) for each in (key, *also)],
                    args=[_IN_PROGRESS + owner, px],
                )
                state = _SCRIPT_STATES[int(code)]
            else:
                held = self._client.set(
                    self._stored(key), _IN_PROGRESS + owner, px=px, nx=True, get=True
                )
                state = _state(held, _IN_PROGRESS + owner)  # type: ignore[arg-type]  # SET ... GET answers a value
        except Exception as exc:
            if not _is_outage(exc):
                raise
            raise _unavailable(exc, self.timeout) from exc
        if state is ClaimState.ACQUIRED:
            return Claim(key, state, owner, also)
        return Claim(key, state, also=also)

    def complete(self, claim: Claim, *, retain: float = DEFAULT_RETAIN) -> None:
        """Mark the keys done for `retain` seconds, unless another owner has claimed one since."""
        owner = owner_of(claim)
        px = milliseconds(check_seconds("retain", retain))
        try:
            written = self._complete(
                keys=self._stored_keys(claim), args=[_IN_PROGRESS + owner, _DONE + owner, px]
            )
        except Exception as exc:
            if not _is_outage(exc):
                raise
            raise _unavailable(exc, self.timeout) from exc
        if not written:
            raise LeaseLostError(claim.key)

    def release(self, claim: Claim) -> None:
        """Delete the keys this claim still holds uncompleted; leave every other key alone."""
        owner = owner_of(claim)
        try:
            self._release(keys=self._stored_keys(claim), args=[_IN_PROGRESS + owner])
        except Exception as exc:
            if not _is_outage(exc):
                raise
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

    __slots__ = (
        "_claim",
        "_client",
        "_complete",
        "_namespace",
        "_owns_client",
        "_release",
        "prefix",
        "timeout",
    )

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
        self._namespace = _namespace(self.prefix, self._client)
        self._claim = self._client.register_script(CLAIM_SCRIPT)
        self._complete = self._client.register_script(COMPLETE_SCRIPT)
        self._release = self._client.register_script(RELEASE_SCRIPT)

    def _stored(self, key: StoreKey) -> str:
        return f"{self._namespace}:{key}"

    def _stored_keys(self, claim: Claim) -> list[str]:
        return [self._stored(key) for key in claim.keys]

    async def claim(
        self, key: StoreKey, *, lease: float = DEFAULT_LEASE, also: Sequence[StoreKey] = ()
    ) -> Claim:
        """Take `key` (and the `also` keys) for `lease` seconds unless one of them is live."""
        key, also = check_keys(key, also)
        owner = new_owner()
        px = milliseconds(check_seconds("lease", lease))
        try:
            if also:
                code = await self._claim(
                    keys=[self._stored(each) for each in (key, *also)],
                    args=[_IN_PROGRESS + owner, px],
                )
                state = _SCRIPT_STATES[int(code)]
            else:
                held = await self._client.set(
                    self._stored(key), _IN_PROGRESS + owner, px=px, nx=True, get=True
                )
                state = _state(held, _IN_PROGRESS + owner)  # type: ignore[arg-type]  # SET ... GET answers a value
        except Exception as exc:
            if not _is_outage(exc):
                raise
            raise _unavailable(exc, self.timeout) from exc
        if state is ClaimState.ACQUIRED:
            return Claim(key, state, owner, also)
        return Claim(key, state, also=also)

    async def complete(self, claim: Claim, *, retain: float = DEFAULT_RETAIN) -> None:
        """Mark the keys done for `retain` seconds, unless another owner has claimed one since."""
        owner = owner_of(claim)
        px = milliseconds(check_seconds("retain", retain))
        try:
            written = await self._complete(
                keys=self._stored_keys(claim), args=[_IN_PROGRESS + owner, _DONE + owner, px]
            )
        except Exception as exc:
            if not _is_outage(exc):
                raise
            raise _unavailable(exc, self.timeout) from exc
        if not written:
            raise LeaseLostError(claim.key)

    async def release(self, claim: Claim) -> None:
        """Delete the keys this claim still holds uncompleted; leave every other key alone."""
        owner = owner_of(claim)
        try:
            await self._release(keys=self._stored_keys(claim), args=[_IN_PROGRESS + owner])
        except Exception as exc:
            if not _is_outage(exc):
                raise
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
