"""The receiver pipeline: one delivery in, one outcome out, the same in every framework.

A request flows top to bottom through this module: method -> body size -> verify -> parse ->
idempotency claim -> dispatch to the handlers -> complete (or release on failure). Adapters only
translate their framework's request into `Receiver.handle` (or `handle_async`) and the `Outcome`
back into a response.

Dispatch runs the handlers of the event's type, then the `on_any` ones; when one raises, the
`on_error` hooks get the event and the exception before the failure is answered. Once the store
records the delivery as done, the `on_processed` hooks get the event and the outcome.

A verified body that fails validation (schema drift: the provider changed its payload) follows
the receiver's `invalid_payloads` policy. ``"reject"`` (the default) answers 400 and, with
``dead_letters=``, records the raw delivery first, so that `webhook_kit.replay` can
run it again once the models are fixed. ``"accept"`` hands it to the `on_invalid` handlers as an
`InvalidEvent` and answers like any processed delivery (without such a handler it rejects).

With ``defer=`` (see `webhook_kit.defer`), the request stops after parse: the verified delivery
is handed to a task queue and acknowledged with 202 once the queue has accepted it. A worker then
runs the rest (claim -> dispatch -> complete or release) with `Receiver.process`.

The status codes tell the provider what to do next:

=====================================================  ======  ==============
situation                                              status  handlers run
=====================================================  ======  ==============
new delivery, handlers succeeded                       200     once
new delivery, no handler for its event type            200     none (``handlers=0`` logged)
duplicate of a processed delivery                      200     no
duplicate while the first is still being processed     409     no (Retry-After)
missing or invalid signature, stale timestamp          401     no
with ``max_age``: the body's signed time is older      401     no
invalid JSON or a payload that fails validation        400     no (recorded with dead_letters)
with ``invalid_payloads="accept"``: the same            200     on_invalid handlers, once
dead letters unreachable while recording an invalid    503     no (Retry-After)
body over the limit                                    413     no
idempotency store unreachable                          503     no (Retry-After)
a handler raised                                       500     once per attempt; released
method other than POST                                 405     no
with ``defer``: verified and accepted by the queue     202     later, in a worker
with ``defer``: the queue did not accept it            503     no (Retry-After)
with `TenantSecrets`: no such tenant (or none given)   401     no (as a wrong signature)
with `TenantSecrets`: the lookup failed                503     no (Retry-After)
=====================================================  ======  ==============

With ``secret=TenantSecrets(lookup)`` the keys depend on the tenant a delivery is addressed to
(the adapters take it from the route, ``/webhooks/<provider>/<tenant>``, or from a header named
by `tenant_header`): see ``docs/tenants.md``.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import math
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias, cast, overload

from typing_extensions import TypedDict, TypeVar, Unpack

from . import _observe
from ._headers import HeadersLike, get_header
from ._lazy import LazyModule
from ._on import On
from .deadletters import DeadLetter, DeadLetterStore
from .defer import QueuedDelivery, keep_headers, kept_header_names
from .errors import (
    PayloadError,
    PayloadTooLargeError,
    SignatureMismatchError,
    StoreUnavailableError,
    TimestampOutOfToleranceError,
    VerificationError,
    WebhookError,
)
from .events import InvalidEvent, UnknownEvent
from .idempotency import (
    DEFAULT_LEASE,
    DEFAULT_RETAIN,
    AsyncIdempotencyStore,
    AsyncThreadedStore,
    Claim,
    ClaimState,
    IdempotencyStore,
    StoreKey,
    store_key,
)
from .providers import EventT, Provider, get
from .signatures import Body, Now, Secret, Verifier, _seconds
from .tenants import (
    TenantSecrets,
    current_tenant,
    serving,
    tenant_delivery_id,
    valid_tenant,
)

if TYPE_CHECKING:
    import asyncio

    from .events import docextract, file_conversion, imggo, pulse, struktr
else:
    asyncio = LazyModule("asyncio")  # only the async paths need it: keep it off sync imports

__all__ = [
    "DEFAULT_MAX_BODY_SIZE",
    "Defer",
    "ErrorHook",
    "Handler",
    "InvalidPayloads",
    "Outcome",
    "ProcessedHook",
    "Receiver",
]

logger = logging.getLogger("webhook_kit")

DEFAULT_MAX_BODY_SIZE = 10 * 1024 * 1024
"""10 MiB: far above any documented payload, far below what would strain a worker."""

_T = TypeVar("_T", default=Any)

Handler: TypeAlias = Callable[[_T], "Awaitable[None] | None"]
"""A function (or coroutine function) taking one event (``Handler[struktr.DocumentFailed]``)."""

ErrorHook: TypeAlias = Callable[[_T, Exception], "Awaitable[None] | None"]
"""A function (or coroutine function) given an event and the exception its handler raised."""

ProcessedHook: TypeAlias = Callable[[_T, "Outcome"], "Awaitable[None] | None"]
"""A function (or coroutine function) given an event and its outcome once it is processed."""

_UnknownHandler = TypeVar("_UnknownHandler", bound=Handler[UnknownEvent])
_InvalidHandler = TypeVar("_InvalidHandler", bound=Handler[InvalidEvent])
_R = TypeVar("_R", bound="Awaitable[None] | None")

InvalidPayloads: TypeAlias = Literal["reject", "accept"]
"""What a receiver does with a verified body that fails validation: see `Receiver`."""

# The dead letter `reason` of a verified delivery that failed validation.
_INVALID_PAYLOAD = "invalid_payload"
_MAX_LOGGED_PATHS = 5

# The lease expires on its own, and the provider's retry processes the delivery then.
_RELEASE_FAILED = "could not release a failed delivery; it is retried once the lease expires"
# `json.dumps(..., separators=(",", ":"))` without building an encoder per answer.
_encode_json = json.JSONEncoder(separators=(",", ":")).encode
# The answers most deliveries get, encoded once.
_COMMON_BODIES = tuple(
    (body, _encode_json(body).encode())
    for body in ({"status": "processed"}, {"status": "duplicate"}, {"status": "queued"})
)
# What `_dispatch` runs its handlers in when there is no tenant to make current.
_NO_TENANT = contextlib.nullcontext()
# user:password@ in a URL inside a driver's message: never logged.
_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]*@")


@dataclass(frozen=True)
class Outcome:
    """What to answer: a status, a small JSON body, extra headers, and the event if parsed.

    `key_id` is the id of the signing key that verified the delivery (a `SigningKey`'s ``id``,
    or a plain secret's fingerprint, ``fp:1a2b3c4d``); None when it was not verified. `tenant`
    is the tenant it was verified for, with `TenantSecrets`; None otherwise, or if unverified.
    """

    status: int
    body: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)
    event: Any = field(default=None, repr=False, compare=False)
    key_id: str | None = field(default=None, compare=False)
    tenant: str | None = field(default=None, compare=False)

    def content(self) -> bytes:
        """The JSON body as bytes."""
        body = self.body
        for common, encoded in _COMMON_BODIES:  # most answers: skip the encoder
            if body == common:
                return encoded
        return _encode_json(body).encode()


class _Stop(Exception):  # control flow inside the pipeline, never escapes
    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome


class _Rejected(_Stop):  # a verified body that fails validation, refused with 400
    def __init__(self, outcome: Outcome, error: PayloadError) -> None:
        super().__init__(outcome)
        self.error = error


class _HandlerFailed(_Stop):  # a 500, carrying the handler's exception for `process`
    def __init__(self, error: Exception) -> None:
        super().__init__(Outcome(500, {"error": "handler_failed"}))
        self.error = error


@dataclass
class _Delivery:
    """What the pipeline knows about one request as it flows."""

    started: float
    #: When the request arrived (seconds since the epoch), for a dead letter.
    received_at: float = field(default_factory=lambda: _epoch(None))
    event_type: str | None = None
    key: str | None = None
    #: The other keys claimed with `key`: the body's digest when the delivery id is unsigned.
    also: tuple[StoreKey, ...] = ()
    event: Any = None
    #: Set when the body failed validation (whatever the policy), for the log line.
    invalid: InvalidEvent | None = None
    #: How many handlers its event type has, once dispatched (``handlers=`` in the log line).
    handlers: int | None = None
    #: The id of the key that verified it (``key_id=`` in the log line), once verified.
    key_id: str | None = None
    #: The tenant it is addressed to, if a valid tenant id (``tenant=`` in the log line).
    tenant: str | None = None
    #: Set when the tenant is unknown, invalid or missing: refused like a wrong signature.
    unknown_tenant: bool = False
    #: What the observers (metrics, traces) follow it with; None while none is attached.
    trace: _observe.Trace | None = None
    #: `trace` if it follows the stages besides the handlers' (`Trace.stages`: traces do,
    #: metrics do not), else None: a stage nobody follows costs one test.
    stages: _observe.Trace | None = None

    def observe(self, receiver: Receiver, mode: _observe.Mode, headers: HeadersLike) -> None:
        """Start the observers' trace of this delivery (while any observer is attached)."""
        trace = self.trace = _observe.start(receiver, mode, headers)
        if trace is not None and getattr(trace, "stages", True):  # an observer of old: all
            self.stages = trace


class _Options(TypedDict, total=False):
    """The keyword options of `Receiver` besides `secret`, for its overloads."""

    store: IdempotencyStore | AsyncIdempotencyStore | None
    max_body_size: int
    lease: float
    retain: float
    retry_after: int
    defer: Defer | None
    dead_letters: DeadLetterStore | None
    invalid_payloads: InvalidPayloads
    max_age: float | None
    tolerance: int | None
    encoding: Literal["base64", "hex"] | None
    tenant_header: str | None


class Defer(Protocol):
    """Where a receiver with `defer=` sends verified deliveries instead of running handlers."""

    def attach(self, receiver: Receiver) -> None:
        """Remember `receiver` (by provider name), so a worker can find it to process deliveries.

        `Receiver.__init__` calls it once; raise `ValueError` if the name is taken.
        """

    def submit(self, delivery: QueuedDelivery) -> None:
        """Queue `delivery` durably, returning only once the queue has accepted it.

        Raise `QueueUnavailableError` if it was not accepted: the receiver answers 503 and the
        provider retries. Called from a request thread (or a worker thread on async paths).
        """


class Receiver(On[EventT]):
    """Verifies, parses, deduplicates and dispatches one provider's deliveries.

    A receiver is generic in its provider's event union: ``Receiver("struktr", ...)`` is a
    ``Receiver[struktr.StruktrEvent]``, and type checkers check each handler registered with
    `on` against the model of its event type (see "Typed handlers" in ``docs/receiver.md``).

    Without a `store` there is no deduplication: every delivery, retries included, runs the
    handlers. Configure a store (`SQLiteStore` on one host) for exactly-once handling.

    With a `defer` (such as `webhook_kit.celery.CeleryDefer`), `handle` queues each verified
    delivery and answers 202; workers run the handlers with `process`. The store must then be
    one that the web and worker processes share (`SQLiteStore` on one host, `RedisStore`,
    `SQLStore`), and synchronous, since workers call `process`.

    A verified body that fails validation is answered 400 (``invalid_payloads="reject"``, the
    default); with `dead_letters` it is recorded there first (reason ``"invalid_payload"``), to
    be replayed once the models accept it. With ``invalid_payloads="accept"`` it goes, as an
    `InvalidEvent`, to the handlers registered with `on_invalid` (claimed, deduplicated and
    answered like any other delivery); if there are none, it is rejected.

    Each delivery is claimed under its delivery id and, when the signature does not cover that
    id (struktr's ``X-Struktr-Delivery``), under its body's digest as well: a captured delivery
    resent with a made-up id is a duplicate. With `max_age` (seconds), a delivery whose signed
    body says it is older than that is refused with 401, so a capture cannot be replayed once
    its record has expired either; `retain` must then be longer than `max_age`.

    `tolerance` and `encoding` go to the provider's signature verifier, for a scheme that has
    them (Pulse's Standard Webhooks: seconds the signed timestamp may be off, ``"base64"`` or
    ``"hex"``); passing one to a provider whose scheme lacks it raises `TypeError`.

    With ``secret=TenantSecrets(lookup)`` each delivery is verified with the keys of its tenant
    (``handle(..., tenant="acme")``, or the header named by `tenant_header`), and deduplicated
    under that tenant's ids only. An unknown, invalid or missing tenant is refused exactly like
    a wrong signature (401); a failing lookup is 503 with Retry-After (see ``docs/tenants.md``).
    """

    # One overload per built-in provider name: its receiver knows the provider's event types.
    @overload
    def __init__(
        self: Receiver[struktr.StruktrEvent],
        provider: Literal["struktr"],
        *,
        secret: Secret | Sequence[Secret] | TenantSecrets,
        **options: Unpack[_Options],
    ) -> None: ...
    @overload
    def __init__(
        self: Receiver[file_conversion.FileConversionEvent],
        provider: Literal["file_conversion"],
        *,
        secret: Secret | Sequence[Secret] | TenantSecrets,
        **options: Unpack[_Options],
    ) -> None: ...
    @overload
    def __init__(
        self: Receiver[imggo.ImgGoEvent],
        provider: Literal["imggo"],
        *,
        secret: Secret | Sequence[Secret] | TenantSecrets,
        **options: Unpack[_Options],
    ) -> None: ...
    @overload
    def __init__(
        self: Receiver[docextract.DocExtractEvent],
        provider: Literal["docextract"],
        *,
        secret: Secret | Sequence[Secret] | TenantSecrets,
        **options: Unpack[_Options],
    ) -> None: ...
    @overload
    def __init__(
        self: Receiver[pulse.PulseEvent],
        provider: Literal["pulse"],
        *,
        secret: Secret | Sequence[Secret] | TenantSecrets,
        **options: Unpack[_Options],
    ) -> None: ...
    # A `Provider[E]` makes a `Receiver[E]`; a name known only at run time a `Receiver[Any]`.
    @overload
    def __init__(
        self,
        provider: Provider[EventT] | str,
        *,
        secret: Secret | Sequence[Secret] | TenantSecrets,
        **options: Unpack[_Options],
    ) -> None: ...
    def __init__(
        self,
        provider: Provider[EventT] | str,
        *,
        secret: Secret | Sequence[Secret] | TenantSecrets,
        store: IdempotencyStore | AsyncIdempotencyStore | None = None,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        lease: float = DEFAULT_LEASE,
        retain: float = DEFAULT_RETAIN,
        retry_after: int = 30,
        defer: Defer | None = None,
        dead_letters: DeadLetterStore | None = None,
        invalid_payloads: InvalidPayloads = "reject",
        max_age: float | None = None,
        tolerance: int | None = None,
        encoding: Literal["base64", "hex"] | None = None,
        tenant_header: str | None = None,
    ) -> None:
        if max_body_size <= 0:
            raise ValueError("max_body_size must be a positive number of bytes")
        if invalid_payloads not in ("reject", "accept"):
            raise ValueError(
                f"invalid_payloads must be 'reject' or 'accept', not {invalid_payloads!r}"
            )
        self.provider: Provider[EventT] = get(provider) if isinstance(provider, str) else provider
        options = {"tolerance": tolerance, "encoding": encoding}
        given = {name: value for name, value in options.items() if value is not None}

        def build(secret: Secret | Sequence[Secret]) -> Verifier:
            return self.provider.verifier(secret, **given)

        if tenant_header is not None and not (
            isinstance(secret, TenantSecrets) and tenant_header.strip()
        ):
            raise ValueError(
                "tenant_header= names the header carrying the tenant id, for a receiver "
                "whose secret=TenantSecrets(...)"
            )
        #: The tenants' secrets with ``secret=TenantSecrets(...)``, else None.
        self.tenants = secret if isinstance(secret, TenantSecrets) else None
        #: The header naming the tenant, if not the route (with `TenantSecrets` only).
        self.tenant_header = tenant_header
        if self.tenants is None:
            self.verifier: Verifier = build(cast("Secret | Sequence[Secret]", secret))
        else:
            # With tenants, `verifier` holds a random key: it checks deliveries to unknown
            # tenants, so they cost what a wrong signature does, and fail the same way.
            self.verifier = build(secrets.token_bytes(32))
            self.tenants.bind(build)
        self.store = store
        self.max_body_size = max_body_size
        self.lease = lease
        self.retain = retain
        self.retry_after = retry_after
        self.max_age = self._check_max_age(max_age)
        self._handlers: dict[str, list[Handler]] = {}
        self._unknown: list[Handler] = []
        self._invalid: list[Handler] = []
        self._any: list[Handler] = []
        self._error_hooks: list[ErrorHook] = []
        self._processed_hooks: list[ProcessedHook] = []
        self.dead_letters = dead_letters
        self.invalid_payloads: InvalidPayloads = invalid_payloads
        self.defer = defer
        keeps = defer is not None or dead_letters is not None
        self._kept_headers = (
            kept_header_names(self.provider, self.verifier) if keeps else frozenset()
        )
        if defer is not None:
            defer.attach(self)  # last: the receiver is complete when a worker can find it

    def __repr__(self) -> str:
        return f"Receiver({self.provider.name!r}, store={self.store!r})"

    def expired_keys(self, *, now: Now | None = None, tenant: str | None = None) -> tuple[str, ...]:
        """The ids of the signing keys whose `not_after` has passed: they verify nothing now.

        Judged at `now`, else by the verifiers' clock. Empty when no key has expired, or when
        the verifier (a custom one) does not say. With `TenantSecrets`, those of `tenant`'s
        keys (looked up if not cached; empty for an unknown tenant).
        """
        verifier: Verifier | None = self.verifier
        if self.tenants is not None:
            if tenant is None or not valid_tenant(tenant):
                raise ValueError("expired_keys() of a tenant receiver needs a valid tenant=")
            verifier = self.tenants.verifier(tenant)
        expired = getattr(verifier, "expired_keys", None)
        return () if expired is None else tuple(expired(now=now))

    @property
    def store(self) -> IdempotencyStore | AsyncIdempotencyStore | None:
        """The idempotency store; assigning another one takes effect on both paths."""
        return self._store

    @store.setter
    def store(self, store: IdempotencyStore | AsyncIdempotencyStore | None) -> None:
        if store is not None and self.provider.delivery_id_headers:
            _check_multi_key(store, self.provider)
        self._store = store
        self._async_store = store is not None and inspect.iscoroutinefunction(store.claim)
        # The async path awaits a native async store, or runs a sync one in worker threads.
        self._aio_store: AsyncIdempotencyStore | None = (
            None
            if store is None
            else cast("AsyncIdempotencyStore", store)
            if self._async_store
            else AsyncThreadedStore(cast("IdempotencyStore", store))
        )

    def _check_max_age(self, max_age: float | None) -> float | None:
        """Validate `max_age` against the provider and `retain`; return it as a float."""
        if max_age is None:
            return None
        seconds = float(max_age)
        if not (seconds > 0 and math.isfinite(seconds)):
            raise ValueError(f"max_age must be a positive number of seconds, not {max_age!r}")
        if not self.provider.time_fields:
            raise ValueError(
                f"{self.provider.title} bodies carry no signed time every event has, so max_age "
                "cannot be checked: see 'Replays' in docs/security.md for what protects it"
            )
        if self.retain <= seconds:
            raise ValueError(
                f"retain ({self.retain:g} s) must be longer than max_age ({seconds:g} s): "
                "a delivery younger than max_age must still find its record to be a duplicate"
            )
        return seconds

    # Registration (`on`, typed per provider and event type, comes from `On`)

    def on_unknown(self, handler: _UnknownHandler) -> _UnknownHandler:
        """Register a handler for event types the library does not know (an `UnknownEvent`)."""
        self._unknown.append(handler)
        return handler

    def on_invalid(self, handler: _InvalidHandler) -> _InvalidHandler:
        """Register a handler for verified bodies that fail validation (an `InvalidEvent`).

        It runs only with ``invalid_payloads="accept"``; the receiver then answers 200 once it
        succeeded, so the handler is where such a delivery is kept or dealt with.
        """
        self._invalid.append(handler)
        return handler

    def on_any(
        self, handler: Callable[[EventT | UnknownEvent | InvalidEvent], _R]
    ) -> Callable[[EventT | UnknownEvent | InvalidEvent], _R]:
        """Register a handler for every event, run after the handlers of its type.

        It gets typed, unknown and accepted invalid events alike, and fails the delivery like
        any handler if it raises. It does not count in the log line's ``handlers=``.
        """
        self._any.append(handler)
        return handler

    def on_error(
        self, hook: Callable[[EventT | UnknownEvent | InvalidEvent, Exception], _R]
    ) -> Callable[[EventT | UnknownEvent | InvalidEvent, Exception], _R]:
        """Register a hook given the event and the exception when one of its handlers raises.

        For alerting: it runs before the delivery is answered 500 (or, in a worker, before the
        exception goes back to the queue, which may retry it or bury it in the dead letters).
        An exception inside the hook is logged and never replaces the handler's.
        """
        self._error_hooks.append(hook)
        return hook

    def on_processed(
        self, hook: Callable[[EventT | UnknownEvent | InvalidEvent, Outcome], _R]
    ) -> Callable[[EventT | UnknownEvent | InvalidEvent, Outcome], _R]:
        """Register a hook given the event and its 200 `Outcome` once a delivery is processed.

        It runs after the handlers succeeded and the store recorded the delivery as done, on
        every path (`handle`, `handle_async`, a worker's `process`, `replay`), never for a
        duplicate or a failure. For notifications (Django's signals): the delivery is done, so
        an exception inside the hook is logged and changes nothing.
        """
        self._processed_hooks.append(hook)
        return hook

    def handlers_for(self, event: Any) -> list[Handler]:
        """The handlers registered for `event`'s type, in registration order (not `on_any`'s)."""
        if isinstance(event, UnknownEvent):
            return self._unknown
        if isinstance(event, InvalidEvent):
            return self._invalid
        return self._handlers.get(event.event_type, [])

    # The pipeline, shared by both paths

    def check_size(self, content_length: int | None) -> None:
        """Raise `PayloadTooLargeError` if a declared length is over the limit (before reading)."""
        if content_length is not None and content_length > self.max_body_size:
            raise PayloadTooLargeError(self.max_body_size)

    def _check_request(self, method: str, body: Body) -> None:
        """Method and size: what is refused before any key is looked up."""
        if method.upper() != "POST":
            message = f"webhooks are delivered with POST, not {method.upper()[:16]}"
            raise _Stop(
                Outcome(
                    405, {"error": "method_not_allowed", "message": message}, {"Allow": "POST"}
                ),
            )
        if len(body) > self.max_body_size:
            raise PayloadTooLargeError(self.max_body_size)

    def _tenant_of(self, tenant: str | None, headers: HeadersLike, delivery: _Delivery) -> bool:
        """Find the delivery's tenant; whether there is one to look up (a valid tenant id)."""
        if self.tenants is None:
            if tenant is not None:
                raise TypeError(
                    "tenant= is for receivers made with secret=TenantSecrets(...); "
                    "this one has its own secret"
                )
            return False
        if tenant is None and self.tenant_header is not None:
            tenant = get_header(headers, self.tenant_header, self.tenant_header.lower())
        if valid_tenant(tenant):
            delivery.tenant = tenant
            return True
        delivery.unknown_tenant = True  # missing or not a tenant id: never looked up
        return False

    def _verifier(self, found: Verifier | None, delivery: _Delivery) -> Verifier:
        """The tenant's verifier, or for an unknown tenant the stand-in that fails like one."""
        if found is None:
            delivery.unknown_tenant = True
            return self.verifier
        return found

    def _resolve(self, tenant: str | None, headers: HeadersLike, delivery: _Delivery) -> Verifier:
        """The verifier of the delivery's tenant (or the receiver's own); may look it up."""
        if not self._tenant_of(tenant, headers, delivery):
            return self.verifier
        tenants = cast("TenantSecrets", self.tenants)
        return self._verifier(tenants.verifier(cast("str", delivery.tenant)), delivery)

    async def _resolve_async(
        self, tenant: str | None, headers: HeadersLike, delivery: _Delivery
    ) -> Verifier:
        """`_resolve` without blocking the loop."""
        if not self._tenant_of(tenant, headers, delivery):
            return self.verifier
        tenants = cast("TenantSecrets", self.tenants)
        return self._verifier(await tenants.averifier(cast("str", delivery.tenant)), delivery)

    def _admit(
        self,
        body: Body,
        headers: HeadersLike,
        delivery: _Delivery,
        verifier: Verifier,
        *,
        now: Now | None = None,
        verify: bool = True,
    ) -> None:
        """Signature and payload checks (after `_check_request`): everything before the store."""
        name = self.provider.name
        tenant = delivery.tenant
        # The body is hashed once, if at all; a tenant's ids are its own (``acme/dlv_1``).
        keys = [
            tenant_delivery_id(tenant, key) for key in self.provider.delivery_keys(body, headers)
        ]
        # Before verifying, so that a refused delivery's log line names it (unverified).
        delivery.key = store_key(name, keys[0])
        trace = delivery.stages
        if verify:
            if trace is not None:
                trace.enter("verify")
            delivery.key_id = verifier.verify(body, headers, now=now)
            if trace is not None:
                trace.leave()
        if delivery.unknown_tenant:  # the stand-in key cannot verify; never let it pass
            delivery.key_id = None
            if verify:
                raise SignatureMismatchError(_signature_header(verifier))
            raise VerificationError(f"there is no tenant {tenant!r} (its lookup returned None)")
        delivery.also = tuple(store_key(name, key) for key in keys[1:])
        if trace is not None:
            trace.enter("parse")
        try:
            event: Any = self.provider.parse(body)
            delivery.event, delivery.event_type = event, event.event_type
            self.provider.check_event_header(event, headers)
        except PayloadError as exc:
            self._invalid_payload(body, exc, delivery)
        if trace is not None:
            trace.leave()
        if verify and self.max_age is not None:
            self._check_age(delivery.event, now)

    def _check_age(self, event: Any, now: Now | None) -> None:
        """Refuse (401) an event whose signed time is more than `max_age` seconds ago."""
        max_age = cast("float", self.max_age)
        sent = self.provider.signed_time(event)
        if sent is None:
            raise VerificationError(
                f"this {self.provider.title} {event.event_type!r} body carries no signed time, "
                f"so it cannot be shown to be under max_age ({max_age:g} s) old"
            )
        age = _epoch(now) - sent.timestamp()
        if age > max_age:
            path = ".".join(self.provider.time_field(event.event_type) or ())
            raise TimestampOutOfToleranceError(
                f"the body's {path}", age=int(age), tolerance=int(max_age)
            )

    def _invalid_payload(self, body: Body, error: PayloadError, delivery: _Delivery) -> None:
        """Accept a verified body that fails validation as an `InvalidEvent`, or reject it."""
        invalid = InvalidEvent.from_error(
            self.provider.name,
            body,
            error,
            event_types=self.provider.event_types,
            event_type=delivery.event_type,
        )
        delivery.invalid, delivery.event_type = invalid, invalid.event_type
        if self.invalid_payloads == "accept" and self._invalid:
            delivery.event = invalid
            return
        raise _Rejected(self._failure(error), error) from error

    def _record(
        self, body: Body, headers: HeadersLike, delivery: _Delivery, rejected: _Rejected
    ) -> Outcome:
        """Keep a rejected delivery in the dead letters (if configured), then log the 400.

        If it cannot be kept, the answer is 503 so that the provider's retry brings it again.
        """
        try:
            self._keep(body, headers, delivery, rejected.error)
        except StoreUnavailableError as exc:
            return self._log(delivery, self._failure(exc), exc)
        return self._log(delivery, rejected.outcome, rejected.error)

    def _keep(
        self, body: Body, headers: HeadersLike, delivery: _Delivery, error: PayloadError
    ) -> None:
        """Record a rejected delivery in the dead letters, if configured.

        Raises `StoreUnavailableError` if it could not be recorded: only the provider's retry
        can then bring it back.
        """
        if self.dead_letters is None:
            return
        letter_id = cast("str", delivery.key)
        kept = keep_headers(headers, self._kept_headers)
        if delivery.trace is not None:  # a replay links back to this delivery's trace
            kept |= delivery.trace.carrier()
        try:
            previous = self.dead_letters.get(letter_id)
            self.dead_letters.add(
                DeadLetter(
                    id=letter_id,
                    provider=self.provider.name,
                    body=_bytes(body),
                    headers=kept,
                    reason=_INVALID_PAYLOAD,
                    error=str(error),
                    attempts=1 if previous is None else previous.attempts + 1,
                    received_at=delivery.received_at,
                    tenant=delivery.tenant,
                )
            )
        except Exception as exc:
            logger.exception("webhook dead letter %s could not be recorded", letter_id)
            raise StoreUnavailableError("the dead letters did not answer") from exc
        if _observe.on:
            _observe.dead_lettered(self, self.provider.name, _INVALID_PAYLOAD)

    def _outcome_of_claim(self, claim: Claim) -> None:
        if claim.state is ClaimState.DONE:
            raise _Stop(Outcome(200, {"status": "duplicate"}))
        if claim.state is ClaimState.IN_PROGRESS:
            message = "this delivery is being processed now; retry after Retry-After seconds"
            raise _Stop(
                Outcome(
                    409,
                    {"error": "in_progress", "message": message},
                    {"Retry-After": str(self.retry_after)},
                )
            )

    def _failure(self, exc: WebhookError) -> Outcome:
        retry = exc.status_code in (409, 503)  # lease lost, store down: try again later
        headers = {"Retry-After": str(self.retry_after)} if retry else {}
        body = {"error": exc.code}
        if exc.status_code < 500:  # the sender's own mistake: say what it was
            body["message"] = str(exc)
        return Outcome(exc.status_code, body, headers)

    def _log(
        self, delivery: _Delivery, outcome: Outcome, error: WebhookError | None = None
    ) -> Outcome:
        """Log one line per delivery: ERROR for 5xx, WARNING for 401 and drift, else INFO.

        ``key_id=`` names the signing key that verified the delivery (None if none did), so an
        operator sees when an old key stops being used.

        A refusal or an outage names its cause (the error's message, which never holds a
        secret or an expected signature; credentials in a URL are cut out); a wrong secret,
        where every delivery is 401, shows at WARNING.

        The record carries the same fields as attributes (`_fields`), for a JSON formatter; the
        delivery's observers hear here how it ended.
        """
        tenant = delivery.tenant if delivery.key_id is not None else None
        if (
            outcome.event is not delivery.event
            or outcome.key_id != delivery.key_id
            or outcome.tenant != tenant
        ):
            outcome = Outcome(
                outcome.status,
                outcome.body,
                outcome.headers,
                delivery.event,
                delivery.key_id,
                tenant,
            )
        duration = time.perf_counter() - delivery.started
        if delivery.trace is not None:
            delivery.trace.end(outcome, delivery, duration)
        result = outcome.body.get("status") or outcome.body.get("error")
        if outcome.status >= 500:
            level = logging.ERROR
        elif outcome.status == 401:
            level = logging.WARNING
        else:
            level = logging.INFO
        if delivery.invalid is not None:
            level = max(level, logging.WARNING)
        if not logger.isEnabledFor(level):  # nothing below is needed for a line not written
            return outcome
        extra = "" if delivery.handlers is None else f" handlers={delivery.handlers}"
        if delivery.invalid is not None:  # schema drift: say where, never what
            paths = delivery.invalid.paths
            extra += " invalid=" + ",".join(paths[:_MAX_LOGGED_PATHS])
            if len(paths) > _MAX_LOGGED_PATHS:
                extra += f",+{len(paths) - _MAX_LOGGED_PATHS}"
        if error is not None and level >= logging.WARNING:
            cause = repr(_CREDENTIALS.sub("***@", str(error)))
            if delivery.unknown_tenant and outcome.status == 401:  # made as costly as a refusal
                cause = "'unknown tenant'"
            extra += " cause=" + cause
        # A tenant is logged only once it is known to be a tenant id (no text from the request).
        provider = self.provider.name
        if self.tenants is not None:
            provider += f" tenant={delivery.tenant or '-'}"
        logger.log(
            level,
            "webhook provider=%s event=%s key=%s key_id=%s outcome=%s status=%d duration_ms=%.1f%s",
            provider,
            delivery.event_type,
            delivery.key,
            delivery.key_id,
            result,
            outcome.status,
            duration * 1000,
            extra,
            extra=self._fields(delivery, result, outcome.status, duration),
        )
        return outcome

    def _fields(
        self, delivery: _Delivery, outcome: object, status: int, duration: float
    ) -> dict[str, Any]:
        """A delivery's log line as record attributes, so a JSON formatter needs no parsing."""
        return {
            "provider": self.provider.name,
            "event_type": delivery.event_type,
            "key": delivery.key,
            "key_id": delivery.key_id,
            "outcome": outcome,
            "status": status,
            "duration_ms": round(duration * 1000, 3),
            "handlers": delivery.handlers,
            "tenant": delivery.tenant,
        }

    # The synchronous path (Flask, Django)

    def handle(
        self, body: Body, headers: HeadersLike, *, method: str = "POST", tenant: str | None = None
    ) -> Outcome:
        """Run one delivery through the pipeline and return what to answer.

        `tenant` is the tenant the delivery is addressed to, for a receiver with
        `TenantSecrets` (the adapters pass it from the route); else the `tenant_header`'s.
        """
        delivery = _Delivery(time.perf_counter())
        if _observe.on:
            delivery.observe(self, "request", headers)
        try:
            self._check_request(method, body)
            self._admit(body, headers, delivery, self._resolve(tenant, headers, delivery))
            if self.defer is not None:
                return self._log(delivery, self._submit(body, headers, delivery))
            return self._log(delivery, self._process(delivery))
        except _Rejected as rejected:
            return self._record(body, headers, delivery, rejected)
        except _Stop as stop:
            return self._log(delivery, stop.outcome)
        except WebhookError as exc:
            return self._log(delivery, self._failure(exc), exc)

    def verified_event(
        self, body: Body, headers: HeadersLike, *, tenant: str | None = None
    ) -> EventT | UnknownEvent | InvalidEvent:
        """Verify and parse one delivery as `handle` does, without the store or the handlers.

        For endpoints that are their own handler (`webhook_kit.fastapi.verified_event`).
        Raises the `WebhookError` `handle` would answer with. A verified body that fails
        validation follows `invalid_payloads`: ``"accept"`` returns it as an `InvalidEvent`;
        ``"reject"`` records it in `dead_letters` (if set) and raises its `PayloadError`, or
        `StoreUnavailableError` (503) if it could not be recorded, so the sender retries.
        """
        delivery = _Delivery(time.perf_counter())
        try:
            self._check_request("POST", body)
            self._admit(body, headers, delivery, self._resolve(tenant, headers, delivery))
        except _Rejected as rejected:
            if self.invalid_payloads == "accept":
                return cast("InvalidEvent", delivery.invalid)
            self._keep(body, headers, delivery, rejected.error)
            raise rejected.error from None
        return cast("EventT | UnknownEvent", delivery.event)

    async def verified_event_async(
        self, body: Body, headers: HeadersLike, *, tenant: str | None = None
    ) -> EventT | UnknownEvent | InvalidEvent:
        """`verified_event` without blocking the loop: an async `TenantSecrets` lookup is
        awaited; a sync one, and recording a dead letter, run in worker threads."""
        delivery = _Delivery(time.perf_counter())
        try:
            self._check_request("POST", body)
            verifier = await self._resolve_async(tenant, headers, delivery)
            self._admit(body, headers, delivery, verifier)
        except _Rejected as rejected:
            if self.invalid_payloads == "accept":
                return cast("InvalidEvent", delivery.invalid)
            if self.dead_letters is not None:
                await asyncio.to_thread(self._keep, body, headers, delivery, rejected.error)
            raise rejected.error from None
        return cast("EventT | UnknownEvent", delivery.event)

    def _submit(self, body: Body, headers: HeadersLike, delivery: _Delivery) -> Outcome:
        """Queue a verified delivery: 202 once accepted; the defer raises if it was not.

        With observers, its trace context goes with it, so the worker's trace continues it.
        """
        data = _bytes(body)
        kept = keep_headers(headers, self._kept_headers)
        if delivery.trace is not None:
            kept |= delivery.trace.carrier()
        stages = delivery.stages
        if stages is not None:
            stages.enter("publish")
        queued = QueuedDelivery(
            self.provider.name, data, kept, _epoch(None), tenant=delivery.tenant
        )
        cast("Defer", self.defer).submit(queued)
        if stages is not None:
            stages.leave()
        return Outcome(202, {"status": "queued"})

    def _process(self, delivery: _Delivery) -> Outcome:
        if self.store is None:
            self._dispatch(delivery)
            return self._processed(delivery)
        if self._async_store:
            raise TypeError("an async store needs handle_async(); use a sync store with handle()")
        store = cast("IdempotencyStore", self.store)
        key = cast("StoreKey", delivery.key)
        trace = delivery.stages
        if trace is not None:
            trace.enter("claim")
        if delivery.also:
            claim = store.claim(key, lease=self.lease, also=delivery.also)
        else:  # a store written before multi-key claims still works for one key
            claim = store.claim(key, lease=self.lease)
        if trace is not None:
            trace.leave()
        self._outcome_of_claim(claim)
        try:
            self._dispatch(delivery)
        except Exception:
            try:
                store.release(claim)
            except StoreUnavailableError:
                logger.warning(_RELEASE_FAILED)
            raise
        if trace is not None:
            trace.enter("complete")
        store.complete(claim, retain=self.retain)
        if trace is not None:
            trace.leave()
        return self._processed(delivery)

    def _processed(self, delivery: _Delivery) -> Outcome:
        """The 200 of a processed delivery, after running the `on_processed` hooks."""
        outcome = Outcome(
            200, {"status": "processed"}, event=delivery.event, key_id=delivery.key_id
        )
        for hook in self._processed_hooks:
            try:
                _run(hook, delivery.event, outcome)
            except Exception:
                self._processed_hook_failed(hook, delivery)
        return outcome

    async def _processed_async(self, delivery: _Delivery) -> Outcome:
        """`_processed` on the event loop: coroutine hooks awaited, others in threads."""
        outcome = Outcome(
            200, {"status": "processed"}, event=delivery.event, key_id=delivery.key_id
        )
        for hook in self._processed_hooks:
            try:
                await _run_async(hook, delivery.event, outcome)
            except Exception:
                self._processed_hook_failed(hook, delivery)
        return outcome

    def _dispatch(self, delivery: _Delivery) -> None:
        """Run the event's handlers, then the `on_any` ones; the first exception stops them.

        They (and the `on_error` hooks) find the delivery's tenant with `current_tenant`.
        """
        event = delivery.event
        handlers = self.handlers_for(event)
        delivery.handlers = len(handlers)
        trace = delivery.trace
        tenant = delivery.tenant
        # Without a tenant to serve (and none served around us), `current_tenant` is None already.
        with serving(tenant) if tenant is not None or current_tenant() is not None else _NO_TENANT:
            for handler in [*handlers, *self._any]:
                if trace is not None:
                    trace.enter("handler", _name(handler))
                try:
                    _run(handler, event)
                except Exception as exc:
                    if trace is not None:
                        trace.leave(exc)
                    self._handler_failed(handler, delivery)
                    for hook in self._error_hooks:
                        try:
                            _run(hook, event, exc)
                        except Exception:
                            self._hook_failed(hook, delivery)
                    raise _HandlerFailed(exc) from exc
                if trace is not None:
                    trace.leave()

    def _handler_failed(self, handler: Handler, delivery: _Delivery) -> None:
        """Log a handler's exception with its traceback, and which delivery it was handling."""
        logger.exception(
            "webhook handler %s raised: provider=%s event=%s key=%s "
            "(released: the sender's retry runs it again)",
            _name(handler),
            self.provider.name,
            delivery.event_type,
            delivery.key,
            extra=self._raised_fields(delivery, handler),
        )

    def _raised_fields(
        self, delivery: _Delivery, function: Callable[..., object]
    ) -> dict[str, Any]:
        """A raised handler's or hook's log record attributes, for a JSON formatter."""
        return {
            "provider": self.provider.name,
            "event_type": delivery.event_type,
            "key": delivery.key,
            "handler": _name(function),
        }

    def _hook_failed(self, hook: ErrorHook, delivery: _Delivery) -> None:
        """Log an `on_error` hook's own exception; the handler's is still the one raised."""
        logger.exception(
            "webhook on_error hook %s raised: provider=%s event=%s key=%s "
            "(the handler's exception is reported as before)",
            _name(hook),
            self.provider.name,
            delivery.event_type,
            delivery.key,
            extra=self._raised_fields(delivery, hook),
        )

    def _processed_hook_failed(self, hook: ProcessedHook, delivery: _Delivery) -> None:
        """Log an `on_processed` hook's own exception; the delivery stays processed."""
        logger.exception(
            "webhook on_processed hook %s raised: provider=%s event=%s key=%s "
            "(the delivery is processed all the same)",
            _name(hook),
            self.provider.name,
            delivery.event_type,
            delivery.key,
            extra=self._raised_fields(delivery, hook),
        )

    # The worker side of a deferred delivery

    def process(
        self,
        body: Body,
        headers: HeadersLike,
        *,
        received_at: Now | None = None,
        verify: bool = True,
        tenant: str | None = None,
    ) -> Outcome:
        """Run a queued delivery's handlers in a worker: claim, dispatch, complete or release.

        The signature is checked again as of `received_at`, when the request was accepted (the
        queue's retries may come long after the provider's timestamp tolerance), so a message
        forged on the queue is refused; `verify=False` skips it (replaying dead letters after
        the secret was rotated away). The outcome is what `handle` answers inline: 200
        processed or duplicate, 409 while another worker holds the delivery or took it over,
        503 if the store is down (retry those later), 401 or 400 for a message that can never
        succeed. A handler's exception is not turned into 500: it propagates, after the claim
        was released, so that the queue retries it.

        An invalid payload follows `invalid_payloads` as in `handle`, except that `process`
        records no dead letter: its caller does (the Celery task buries the 400 with reason
        ``"invalid_payload"``; `replay` keeps the letter). `tenant` is the queued delivery's
        (`QueuedDelivery.tenant`, `DeadLetter.tenant`), whose keys verify it again.
        """
        delivery = _Delivery(time.perf_counter())
        if _observe.on:
            delivery.observe(self, "worker", headers)
        try:
            self._check_request("POST", body)
            verifier = self._resolve(tenant, {}, delivery)
            self._admit(body, headers, delivery, verifier, now=received_at, verify=verify)
            return self._log(delivery, self._process(delivery))
        except _HandlerFailed as failed:
            self._log(delivery, failed.outcome)
            error = failed.error
        except _Stop as stop:
            return self._log(delivery, stop.outcome)
        except WebhookError as exc:
            return self._log(delivery, self._failure(exc), exc)
        raise error  # the handler's own exception and traceback, for the queue to retry

    # The asynchronous path (FastAPI, Starlette, async Django)

    async def handle_async(
        self, body: Body, headers: HeadersLike, *, method: str = "POST", tenant: str | None = None
    ) -> Outcome:
        """Like `handle`, without blocking the loop: sync stores, handlers and lookups run in
        threads; an async `TenantSecrets` lookup is awaited."""
        delivery = _Delivery(time.perf_counter())
        if _observe.on:
            delivery.observe(self, "request", headers)
        try:
            self._check_request(method, body)
            verifier = await self._resolve_async(tenant, headers, delivery)
            self._admit(body, headers, delivery, verifier)
            if self.defer is not None:  # publishing blocks: keep it off the event loop
                submitted = await asyncio.to_thread(self._submit, body, headers, delivery)
                return self._log(delivery, submitted)
            return self._log(delivery, await self._process_async(delivery))
        except _Rejected as rejected:  # the dead letters are synchronous: off the loop too
            return await asyncio.to_thread(self._record, body, headers, delivery, rejected)
        except _Stop as stop:
            return self._log(delivery, stop.outcome)
        except WebhookError as exc:
            return self._log(delivery, self._failure(exc), exc)

    async def _process_async(self, delivery: _Delivery) -> Outcome:
        store = self._aio_store
        if store is None:
            await self._dispatch_async(delivery)
            return await self._processed_async(delivery)
        key = cast("StoreKey", delivery.key)
        trace = delivery.stages
        if trace is not None:
            trace.enter("claim")
        if delivery.also:
            claim = await store.claim(key, lease=self.lease, also=delivery.also)
        else:
            claim = await store.claim(key, lease=self.lease)
        if trace is not None:
            trace.leave()
        self._outcome_of_claim(claim)
        try:
            await self._dispatch_async(delivery)
        except Exception:
            try:
                await store.release(claim)
            except StoreUnavailableError:
                logger.warning(_RELEASE_FAILED)
            raise
        if trace is not None:
            trace.enter("complete")
        await store.complete(claim, retain=self.retain)
        if trace is not None:
            trace.leave()
        return await self._processed_async(delivery)

    async def _dispatch_async(self, delivery: _Delivery) -> None:
        """`_dispatch` on the event loop: coroutine functions awaited, others in threads."""
        event = delivery.event
        handlers = self.handlers_for(event)
        delivery.handlers = len(handlers)
        trace = delivery.trace
        with serving(delivery.tenant):  # worker threads run in a copy of this context
            for handler in [*handlers, *self._any]:
                if trace is not None:
                    trace.enter("handler", _name(handler))
                try:
                    await _run_async(handler, event)
                except Exception as exc:
                    if trace is not None:
                        trace.leave(exc)
                    self._handler_failed(handler, delivery)
                    for hook in self._error_hooks:
                        try:
                            await _run_async(hook, event, exc)
                        except Exception:
                            self._hook_failed(hook, delivery)
                    raise _HandlerFailed(exc) from exc
                if trace is not None:
                    trace.leave()


def _run(function: Callable[..., Awaitable[None] | None], *args: Any) -> None:
    """Call a handler or hook; run a coroutine it returns to completion on a private loop."""
    result = function(*args)
    if result is not None and inspect.isawaitable(result):
        asyncio.run(_awaited(result))


async def _run_async(function: Callable[..., Awaitable[None] | None], *args: Any) -> None:
    """Await a coroutine function; run any other function in a worker thread."""
    if inspect.iscoroutinefunction(function):
        await function(*args)
    else:
        result = await asyncio.to_thread(function, *args)
        if inspect.isawaitable(result):
            await result


async def _awaited(result: Awaitable[None]) -> None:
    await result


def _check_multi_key(store: object, provider: Provider) -> None:
    """Refuse a store whose `claim` takes no ``also=`` for a provider whose deliveries need it."""
    if provider.delivery_id_signed:
        return
    try:
        parameters = inspect.signature(store.claim).parameters  # type: ignore[attr-defined]
    except (TypeError, ValueError):  # no signature to read: trust it
        return
    takes_also = "also" in parameters or any(
        parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters.values()
    )
    if not takes_also:
        raise TypeError(
            f"{type(store).__name__}.claim() takes no also= argument, but {provider.title} "
            "deliveries are claimed under their delivery id and their body's digest together "
            "(the id is not signed): see 'Writing your own store' in docs/idempotency.md"
        )


def _epoch(now: Now | None) -> float:
    """`now` as seconds since the Unix epoch; if None, the clock the verifiers read.

    That clock is the one `webhook_kit.pytest_plugin`'s ``webhook_clock`` freezes, so a test's
    frozen time is the time every check and record of the receiver sees.
    """
    if now is None:
        return _seconds(None)
    return now.timestamp() if isinstance(now, datetime) else float(now)


def _bytes(body: Body) -> bytes:
    return body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)


def _signature_header(verifier: Verifier) -> str:
    """The name of the header a verifier reads its signature from, for a mismatch error."""
    return str(getattr(verifier, "header", "webhook-signature"))


def _name(handler: Callable[..., object]) -> str:
    """A handler's name for traces and metrics: its qualified name, else its repr (made only
    then: a delivery observed pays no repr)."""
    name = getattr(handler, "__qualname__", None)
    return name if isinstance(name, str) else repr(handler)
