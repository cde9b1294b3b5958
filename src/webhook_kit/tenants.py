"""Per-tenant secrets: look up the keys of the tenant a delivery is addressed to, and cache them.

::

    def lookup(tenant: str) -> list[SigningKey] | None:
        row = db.execute("SELECT secret FROM tenants WHERE id = ?", (tenant,)).fetchone()
        return None if row is None else [SigningKey(row[0], id=f"{tenant}-1")]

    receiver = Receiver("struktr", secret=TenantSecrets(lookup), store=store)
    receiver.handle(body, headers, tenant="acme")  # the adapters pass it from the route

`lookup` (a function, or a coroutine function on the async path) takes a tenant id and returns
that tenant's secret(s), as ``secret=`` takes them, or None when there is no such tenant. Its
answers are kept in a bounded in-process cache: known tenants for `ttl` seconds, unknown ones
for `negative_ttl` seconds in a cache of their own, so that requests for made-up tenants never
evict a real tenant's keys. Concurrent misses for one tenant make one lookup; `invalidate`
forgets one tenant (after rotating its keys) or all of them. Handlers, shared by every tenant,
read the tenant of the delivery they run for with `current_tenant`.

A lookup that raises, or returns keys no verifier accepts, is `SecretsUnavailableError` (503,
retried by the provider), logged with its traceback: never "no such tenant".
"""

from __future__ import annotations

import inspect
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, TypeAlias, cast

from ._lazy import LazyModule
from .errors import SecretsUnavailableError
from .signatures import Secret, Verifier

if TYPE_CHECKING:
    import asyncio
else:
    asyncio = LazyModule("asyncio")  # only async lookups need it: keep it off sync imports

__all__ = [
    "Lookup",
    "TenantSecrets",
    "current_tenant",
    "serving",
    "tenant_delivery_id",
    "valid_tenant",
]

logger = logging.getLogger("webhook_kit")

Keys: TypeAlias = "Secret | Sequence[Secret] | None"
"""What a lookup returns: the tenant's secret(s), as ``secret=`` takes them, or None if unknown."""

Lookup: TypeAlias = Callable[[str], "Keys | Awaitable[Keys]"]
"""A function (or coroutine function) from a tenant id to its secret(s), or None if unknown."""

_TENANT = re.compile(r"[A-Za-z0-9._-]{1,64}\Z")
_MISS = object()
_CURRENT: ContextVar[str | None] = ContextVar("webhook_kit_tenant", default=None)


def current_tenant() -> str | None:
    """The tenant of the delivery whose handlers are running (in a handler or `on_error` hook).

    None outside a handler, and for a receiver without `TenantSecrets`. A handler shared by
    every tenant reads it to act on the right account::

        @receiver.on("document.completed")
        def completed(event):
            accounts[current_tenant()].store(event.data.id)
    """
    return _CURRENT.get()


@contextmanager
def serving(tenant: str | None) -> Iterator[None]:
    """Make `tenant` the `current_tenant` of the code run inside (the receiver's dispatch)."""
    token = _CURRENT.set(tenant)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def valid_tenant(tenant: object) -> bool:
    """Whether `tenant` is a tenant id: 1 to 64 letters, digits, ``.``, ``_`` or ``-``.

    Anything else (empty, too long, a ``/``, spaces, non-ASCII) is never looked up and is
    answered like an unknown tenant; a valid id is safe in a log line and a store key.
    """
    return isinstance(tenant, str) and _TENANT.match(tenant) is not None


def tenant_delivery_id(tenant: str | None, delivery_id: str) -> str:
    """The id a tenant's delivery is deduplicated under: ``acme/dlv_1`` (unchanged without one).

    A tenant id holds no ``/``, so the first one ends it: tenant A's ids never equal tenant B's.
    """
    return delivery_id if tenant is None else f"{tenant}/{delivery_id}"


class TenantSecrets:
    """A receiver's secret given per tenant: a lookup and a bounded cache of its answers.

    - `lookup`: tenant id -> secret(s) (str, bytes, `SigningKey`, or a list of them), or None
      when the tenant does not exist. A coroutine function works only with `handle_async` (and
      the async adapters); a plain function runs in a worker thread there.
    - `ttl`: seconds a tenant's keys are used before they are looked up again.
    - `negative_ttl`: seconds an unknown tenant stays unknown without a lookup (at most `ttl`).
    - `max_size`: how many known, and how many unknown, tenants are kept (least recently used
      ones are dropped first): memory stays bounded whatever tenant ids requests carry.

    One `TenantSecrets` serves one receiver, which builds one verifier per cached tenant.
    """

    def __init__(
        self,
        lookup: Lookup,
        *,
        ttl: float = 60.0,
        negative_ttl: float = 5.0,
        max_size: int = 1024,
    ) -> None:
        given: object = lookup  # checked as any object: callers may not be type-checked
        if not callable(given):
            raise TypeError(f"lookup must be a function of a tenant id, not {type(given)!r}")
        if not (ttl > 0 and negative_ttl > 0):
            raise ValueError("ttl and negative_ttl must be positive numbers of seconds")
        size: object = max_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"max_size must be a positive number of tenants, not {max_size!r}")
        self.lookup = lookup
        self.ttl = float(ttl)
        self.negative_ttl = min(float(negative_ttl), self.ttl)
        self.max_size = max_size
        #: Whether `lookup` is a coroutine function (then only the async path can call it).
        self.is_async = inspect.iscoroutinefunction(lookup)
        self._build: Callable[[Secret | Sequence[Secret]], Verifier] | None = None
        self._known: OrderedDict[str, tuple[float, Verifier]] = OrderedDict()
        self._unknown: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()
        self._flights: dict[str, threading.Lock] = {}
        self._tasks: dict[str, asyncio.Task[Verifier | None]] = {}

    def __repr__(self) -> str:
        name = getattr(self.lookup, "__qualname__", repr(self.lookup))
        return f"TenantSecrets({name}, ttl={self.ttl:g}, max_size={self.max_size})"

    def bind(self, build: Callable[[Secret | Sequence[Secret]], Verifier]) -> None:
        """Make verifiers with `build` (the receiver's provider and options); once only."""
        if self._build is not None:
            raise ValueError(
                "this TenantSecrets already serves a receiver: give each receiver its own "
                "(their lookups may share one key store)"
            )
        self._build = build

    def invalidate(self, tenant: str | None = None) -> None:
        """Forget `tenant`'s cached keys (or every tenant's): the next delivery looks them up.

        Call it after adding, rotating or removing a tenant's keys, in every process that
        receives (or let `ttl` pass).
        """
        with self._lock:
            if tenant is None:
                self._known.clear()
                self._unknown.clear()
            else:
                self._known.pop(tenant, None)
                self._unknown.pop(tenant, None)

    def _cached(self, tenant: str, now: float) -> object:
        """The cached verifier (None: unknown tenant), or `_MISS`; call with `_lock` held."""
        known = self._known.get(tenant)
        if known is not None:
            if known[0] > now:
                self._known.move_to_end(tenant)
                return known[1]
            del self._known[tenant]
        until = self._unknown.get(tenant)
        if until is not None:
            if until > now:
                self._unknown.move_to_end(tenant)
                return None
            del self._unknown[tenant]
        return _MISS

    def _remember(self, tenant: str, verifier: Verifier | None) -> None:
        now = time.monotonic()
        with self._lock:
            if verifier is None:
                cache: OrderedDict[str, object] = cast("OrderedDict[str, object]", self._unknown)
                cache[tenant] = now + self.negative_ttl
            else:
                cache = cast("OrderedDict[str, object]", self._known)
                cache[tenant] = (now + self.ttl, verifier)
            cache.move_to_end(tenant)
            while len(cache) > self.max_size:
                cache.popitem(last=False)

    def _verifier_of(self, tenant: str, keys: object) -> Verifier | None:
        """The verifier of a lookup's answer; None for an unknown tenant (None or no keys)."""
        if keys is None:
            return None
        if isinstance(keys, Sequence) and not isinstance(keys, str | bytes) and not keys:
            return None
        if self._build is None:
            raise TypeError("this TenantSecrets serves no receiver: pass it as Receiver(secret=)")
        try:
            return self._build(cast("Secret | Sequence[Secret]", keys))
        except (TypeError, ValueError) as exc:  # their messages never quote a secret
            raise self._failed(tenant, exc, "returned keys no verifier accepts") from exc

    def _failed(self, tenant: str, exc: Exception, what: str) -> SecretsUnavailableError:
        logger.error("webhook tenant=%s secrets lookup %s", tenant, what, exc_info=exc)
        return SecretsUnavailableError(
            f"the secrets of tenant {tenant} could not be looked up: "
            f"the lookup {what} ({type(exc).__name__})"
        )

    def verifier(self, tenant: str) -> Verifier | None:
        """`tenant`'s verifier (None if there is no such tenant), from the cache or a lookup.

        Raises `SecretsUnavailableError` if the lookup failed, and `TypeError` if it is a
        coroutine function (use `averifier`).
        """
        if self.is_async:  # even when cached: a configuration error shows on the first request
            raise TypeError(
                "an async lookup needs handle_async() (and an async adapter view); "
                "use a synchronous lookup function with handle()"
            )
        with self._lock:
            hit = self._cached(tenant, time.monotonic())
            if hit is not _MISS:
                return cast("Verifier | None", hit)
            flight = self._flights.setdefault(tenant, threading.Lock())
        try:
            with flight:  # one lookup per tenant at a time; the others find its answer
                with self._lock:
                    hit = self._cached(tenant, time.monotonic())
                if hit is not _MISS:
                    return cast("Verifier | None", hit)
                try:
                    keys = self.lookup(tenant)
                except Exception as exc:
                    raise self._failed(tenant, exc, "raised") from exc
                verifier = self._verifier_of(tenant, keys)
                self._remember(tenant, verifier)
                return verifier
        finally:
            with self._lock:
                if self._flights.get(tenant) is flight:
                    del self._flights[tenant]

    async def averifier(self, tenant: str) -> Verifier | None:
        """`verifier` without blocking the loop: a sync lookup runs in a worker thread."""
        with self._lock:
            hit = self._cached(tenant, time.monotonic())
        if hit is not _MISS:
            return cast("Verifier | None", hit)
        if not self.is_async:
            return await asyncio.to_thread(self.verifier, tenant)
        loop = asyncio.get_running_loop()
        task = self._tasks.get(tenant)
        if task is None or task.get_loop() is not loop or task.done():
            task = self._tasks[tenant] = loop.create_task(self._alookup(tenant))
        try:
            return await asyncio.shield(task)  # one waiter cancelled never cancels the others
        finally:
            if task.done() and self._tasks.get(tenant) is task:
                del self._tasks[tenant]

    async def _alookup(self, tenant: str) -> Verifier | None:
        try:
            keys = await cast("Awaitable[Keys]", self.lookup(tenant))
        except Exception as exc:
            raise self._failed(tenant, exc, "raised") from exc
        verifier = self._verifier_of(tenant, keys)
        self._remember(tenant, verifier)
        return verifier
