"""The pytest plugin: signed deliveries, a frozen clock and isolated stores, as fixtures.

Installing webhook-kit registers it (the ``pytest11`` entry point named
``webhook_kit.pytest_plugin``), so every test can ask for these fixtures without an import:

========================  ==================================================================
fixture                   gives
========================  ==================================================================
``webhook_deliveries``    `Deliveries`: ``webhook_deliveries(receiver)`` is a `DeliveryFactory`
                          making signed deliveries that receiver accepts
``webhook_clock``         `FrozenClock`: the time every verifier and receiver reads, stopped
                          for the test; ``advance(seconds)`` and ``set(when)`` move it
``webhook_isolate``       `Isolate`: ``webhook_isolate(receiver)`` gives the receiver a fresh
                          store (and fresh dead letters) until the test ends
``webhook_store``         a fresh `MemoryStore`
``webhook_sqlite_store``  a fresh `SQLiteStore` in the test's ``tmp_path``
========================  ==================================================================

Where plugins are not loaded automatically (``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1``), turn it on
with ``-p webhook_kit.pytest_plugin``; ``-p no:webhook_kit.pytest_plugin`` turns it off. This
module imports pytest at its top; ``import webhook_kit`` never imports it.

It has no ``assert`` for pytest to rewrite, and says so (PYTEST_DONT_REWRITE), so that a
``conftest.py`` may import its types before pytest loads it without a warning.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar, overload

import pytest

from . import signatures
from .deadletters import DeadLetterStore, SQLiteDeadLetters
from .errors import PayloadError
from .idempotency import AsyncIdempotencyStore, IdempotencyStore, MemoryStore, SQLiteStore
from .providers import Provider, get
from .receiver import Receiver
from .signatures import Now, Secret, Verifier, _seconds
from .testing import _signed, sample

__all__ = [
    "Deliveries",
    "DeliveryFactory",
    "FrozenClock",
    "Isolate",
    "SignedDelivery",
]

# The top-level body field that makes each new delivery's body unique (see `DeliveryFactory`).
_MARKER = "webhook_kit_delivery"

_Store = TypeVar("_Store", bound="IdempotencyStore | AsyncIdempotencyStore")


# The clock


class FrozenClock:
    """The wall clock webhook-kit reads, stopped at one instant until the test moves it.

    While the ``webhook_clock`` fixture is active, every verifier (Pulse's timestamp tolerance),
    every `Receiver` (``max_age``, the times it records) and every signed delivery made without
    an explicit time read this clock. Calling it returns the time, in seconds since the epoch.
    It does not move idempotency leases or retention: `MemoryStore` measures those with
    `time.monotonic`, and the SQL stores with their database's own clock.
    """

    __slots__ = ("_now",)

    def __init__(self, now: Now) -> None:
        self._now = _finite(now)

    def __call__(self) -> float:
        return self._now

    def __repr__(self) -> str:
        return f"FrozenClock({_iso(self._now)})"

    @property
    def now(self) -> float:
        """The frozen time, in seconds since the Unix epoch."""
        return self._now

    @property
    def utc(self) -> datetime:
        """The frozen time as an aware `datetime` in UTC."""
        return datetime.fromtimestamp(self._now, tz=timezone.utc)

    def set(self, when: Now) -> None:
        """Stop the clock at `when`: seconds since the epoch, or an aware `datetime`."""
        self._now = _finite(when)

    def advance(self, seconds: float) -> None:
        """Move the clock `seconds` forward (backward if negative)."""
        self._now = _finite(self._now + seconds)


def _finite(when: Now) -> float:
    seconds = _seconds(when)  # refuses a naive datetime, saying so
    if not math.isfinite(seconds):
        raise ValueError(f"the clock needs a finite time, not {when!r}")
    return seconds


def _iso(seconds: float) -> str:
    """`seconds` since the epoch as ISO 8601 in UTC, to the second: ``2024-01-15T10:30:02Z``."""
    moment = datetime.fromtimestamp(math.floor(seconds), tz=timezone.utc)
    return moment.isoformat().replace("+00:00", "Z")


# Signed deliveries


@dataclass(frozen=True)
class SignedDelivery:
    """One delivery as the provider sends it (`body`, `headers`), and what it was made of.

    Post `body` exactly as it is (``data=`` for Flask's client, ``content=`` for httpx and
    FastAPI's), or hand both to `Receiver.handle`.
    """

    #: The raw request body.
    body: bytes = field(repr=False)
    #: Every header the provider sends, signature included.
    headers: dict[str, str] = field(repr=False)
    #: The delivery id: in the id header (struktr, Pulse) and, for a unique body, in its
    #: ``webhook_kit_delivery`` field.
    delivery_id: str
    #: When it was signed, in seconds since the epoch.
    sent_at: float
    #: The event type of the payload (a mapping's as parsed); None for raw bytes.
    event_type: str | None
    #: The factory that made it, which signs its retries.
    factory: DeliveryFactory = field(repr=False, compare=False)

    def __repr__(self) -> str:
        return (
            f"SignedDelivery({self.provider.name} {self.event_type!r}, "
            f"id={self.delivery_id!r}, sent={_iso(self.sent_at)}, {len(self.body)} bytes)"
        )

    @property
    def provider(self) -> Provider:
        """The provider that sends it."""
        return self.factory.provider

    @property
    def key(self) -> str:
        """What a receiver deduplicates it on first: the id header, else the body's SHA-256."""
        return self.provider.delivery_key(self.body, self.headers)

    @property
    def payload(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)

    def retry(self, *, now: Now | None = None, age: float | None = None) -> SignedDelivery:
        """The provider's retry of this delivery: the same body bytes and id, signed again.

        Signed at the current time by default (a retry is sent later), or at `now`, or `age`
        seconds ago; for struktr, File Conversion, ImgGo and DocExtract the signature is the
        same as the first one's. Once the first was processed, a receiver answers the retry
        ``{"status": "duplicate"}``.
        """
        return self.factory._sign(self.body, self.event_type, self.delivery_id, now, age)

    def tampered(self) -> SignedDelivery:
        """This delivery with one byte of the body changed after signing: a receiver says 401.

        The last digit is bumped (or a space appended), so the body stays valid JSON: a
        receiver that accepts it skipped the signature check rather than failed to parse.
        """
        from .cli.client import tamper  # noqa: PLC0415 - urllib is only needed here

        return SignedDelivery(
            tamper(self.body),
            dict(self.headers),
            self.delivery_id,
            self.sent_at,
            self.event_type,
            self.factory,
        )


class DeliveryFactory:
    """Makes signed deliveries of one provider, as a receiver configured with its secret expects.

    ``factory("document.completed")`` is a delivery of that event's documented sample;
    ``factory({...})`` one of your own payload (a mapping, sent as JSON); ``factory(b"...")``
    one of raw bytes, sent exactly as given. Each call is a *new* delivery, with a fresh id
    unless `delivery_id` is given; `SignedDelivery.retry` makes a retry of one.

    A receiver knows a struktr, File Conversion, ImgGo or DocExtract delivery by its body as
    well as (or instead of) its id, so for these providers the factory adds a top-level
    ``"webhook_kit_delivery": <delivery id>`` field to every sample or mapping payload: two new
    deliveries of one sample are two deliveries, not a delivery and its duplicate. Pass
    ``unique=False`` to send a payload without it. Pulse signs its ids, so its bodies are sent
    as given. Event models keep the field in ``model_extra``, like any field they do not know.

    A sample's signed time (the envelope's ``timestamp``, or DocExtract's per-event time) is
    set to the time the delivery is signed, so a `Receiver` with ``max_age`` accepts it and
    refuses one made with ``age=`` over its limit. Mappings and bytes are sent as given.
    """

    __slots__ = ("provider", "verifier")

    def __init__(self, provider: Provider, verifier: Verifier) -> None:
        self.provider = provider
        self.verifier = verifier

    def __repr__(self) -> str:
        return f"DeliveryFactory({self.provider.name!r})"

    def __call__(
        self,
        payload: str | Mapping[str, Any] | bytes,
        *,
        delivery_id: str | None = None,
        now: Now | None = None,
        age: float | None = None,
        unique: bool = True,
    ) -> SignedDelivery:
        """Return a new delivery of `payload`: an event type, a mapping, or raw bytes.

        `now` signs it at that time (seconds since the epoch or an aware `datetime`); `age`
        signs it that many seconds ago (``age=600`` makes a Pulse delivery stale). Without
        either it is signed at the current time, the frozen one under ``webhook_clock``.
        """
        sent_at = _sent_at(now, age)
        if delivery_id is None:
            delivery_id = "dlv_" + secrets.token_hex(12)
        if isinstance(payload, bytes):
            return self._sign(payload, None, delivery_id, sent_at, None)
        event_type: str | None = None
        if isinstance(payload, str):
            event_type, data = payload, sample(self.provider, payload)
            self._stamp(data, event_type, sent_at)
        elif isinstance(payload, Mapping):
            data = dict(payload)
        else:
            raise TypeError(
                "payload must be an event type (such as 'document.completed'), a mapping sent "
                f"as JSON, or raw bytes; got {type(payload).__name__}"
            )
        if unique and not self.provider.delivery_id_signed:
            data[_MARKER] = delivery_id
        body = json.dumps(data).encode()
        if event_type is None:
            event_type = self._event_type(body, data)
        return self._sign(body, event_type, delivery_id, sent_at, None)

    def _sign(
        self,
        body: bytes,
        event_type: str | None,
        delivery_id: str,
        now: Now | None,
        age: float | None,
    ) -> SignedDelivery:
        sent_at = _sent_at(now, age)
        body, headers = _signed(
            self.provider, self.verifier, body, event_type, now=sent_at, delivery_id=delivery_id
        )
        return SignedDelivery(body, headers, delivery_id, sent_at, event_type, self)

    def _stamp(self, data: dict[str, Any], event_type: str, sent_at: float) -> None:
        """Set the sample's signed time (`Provider.time_fields`) to when it is sent."""
        path = self.provider.time_field(event_type)
        if not path:
            return
        parent: Any = data
        for name in path[:-1]:
            parent = parent.get(name) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and path[-1] in parent:
            parent[path[-1]] = _iso(sent_at)

    def _event_type(self, body: bytes, data: Mapping[str, Any]) -> str | None:
        """The event type of a mapping payload: as parsed, else its ``event`` field, if any."""
        try:
            return str(self.provider.parse(body).event_type)
        except PayloadError:
            claimed = data.get("event")
            return claimed if isinstance(claimed, str) else None


def _sent_at(now: Now | None, age: float | None) -> float:
    """When to sign: at `now`, `age` seconds before the current time, or at the current time."""
    if age is None:
        return _seconds(now)
    if now is not None:
        raise TypeError("pass now= (when it is sent) or age= (how long ago), not both")
    if not math.isfinite(age):
        raise ValueError(f"age must be a finite number of seconds, not {age!r}")
    return _seconds(None) - age


class Deliveries:
    """The ``webhook_deliveries`` fixture: a `DeliveryFactory` for a receiver or a provider."""

    def __repr__(self) -> str:
        return "<webhook_deliveries fixture>"

    def __call__(
        self,
        target: Receiver | Provider | str,
        *,
        secret: Secret | Sequence[Secret] | None = None,
    ) -> DeliveryFactory:
        """Return the factory of deliveries `target` accepts.

        Given a `Receiver`, its own verifier signs (its first key valid now), so the deliveries
        pass whatever secret it was configured with. Given a provider (or its name), `secret` is
        the one the receiver under test uses.
        """
        if isinstance(target, Receiver):
            if secret is not None:
                raise TypeError(
                    "webhook_deliveries(receiver) signs with the receiver's own secret: "
                    "leave out secret=, or pass the provider's name with it"
                )
            if target.tenants is not None:
                raise TypeError(
                    "a receiver with TenantSecrets has a secret per tenant: pass the provider's "
                    f"name and the tenant's secret, webhook_deliveries({target.provider.name!r}, "
                    "secret=...)"
                )
            return DeliveryFactory(target.provider, target.verifier)
        provider = get(target) if isinstance(target, str) else target
        if not isinstance(provider, Provider):
            raise TypeError(
                "webhook_deliveries() takes a Receiver, a Provider or a provider name such as "
                f"'struktr', not {type(target).__name__}"
            )
        if secret is None:
            raise TypeError(
                f"webhook_deliveries({provider.name!r}) needs secret=, the one the receiver "
                "under test is configured with; or pass the receiver itself"
            )
        return DeliveryFactory(provider, provider.verifier(secret))


# Stores


class Isolate:
    """The ``webhook_isolate`` fixture: gives receivers fresh stores until the test ends.

    ``webhook_isolate(receiver)`` sets ``receiver.store`` to a new `MemoryStore` (or the
    `store` given) and, if the receiver keeps dead letters, ``receiver.dead_letters`` to new
    `SQLiteDeadLetters` in the test's ``tmp_path``. Both are put back when the test ends, pass
    or fail, so a receiver your application made at import time (with its own
    ``webhooks.sqlite3``) sees no delivery of another test, nor of another run.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        self._monkeypatch = monkeypatch
        self._tmp_path = tmp_path
        self._opened: list[SQLiteDeadLetters] = []

    def __repr__(self) -> str:
        return "<webhook_isolate fixture>"

    @overload
    def __call__(self, receiver: Receiver) -> MemoryStore: ...

    @overload
    def __call__(self, receiver: Receiver, store: _Store) -> _Store: ...

    def __call__(
        self, receiver: Receiver, store: IdempotencyStore | AsyncIdempotencyStore | None = None
    ) -> IdempotencyStore | AsyncIdempotencyStore:
        """Give `receiver` `store` (a new `MemoryStore` by default) for this test; return it."""
        if not isinstance(receiver, Receiver):
            raise TypeError(
                f"webhook_isolate() takes the Receiver to isolate, not {type(receiver).__name__}"
            )
        fresh = MemoryStore() if store is None else store
        self._monkeypatch.setattr(receiver, "store", fresh)
        if receiver.dead_letters is not None:
            self._monkeypatch.setattr(receiver, "dead_letters", self._dead_letters())
        return fresh

    def _dead_letters(self) -> DeadLetterStore:
        path = self._tmp_path / f"webhook-dead-letters-{len(self._opened) + 1}.sqlite3"
        letters = SQLiteDeadLetters(path)
        self._opened.append(letters)
        return letters

    def close(self) -> None:
        """Close the dead letters it opened (the fixture does, when the test ends)."""
        for letters in self._opened:
            letters.close()


# The fixtures


@pytest.fixture
def webhook_clock(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    """Freeze the time webhook-kit reads at the current whole second, for this test.

    Verifiers, receivers and signed deliveries all read it; ``webhook_clock.advance(600)``
    makes every delivery signed before it ten minutes old. Idempotency leases and retention
    keep their own clocks.
    """
    clock = FrozenClock(math.floor(_seconds(None)))
    monkeypatch.setattr(signatures, "_clock", clock)
    return clock


@pytest.fixture
def webhook_deliveries() -> Deliveries:
    """Make signed deliveries: ``webhook_deliveries(receiver)("document.completed")``.

    See `webhook_kit.pytest_plugin.DeliveryFactory` for payloads, ``age=``, ``delivery_id=``,
    ``.retry()`` and ``.tampered()``.
    """
    return Deliveries()


@pytest.fixture
def webhook_isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Isolate]:
    """Give a receiver a fresh store for this test: ``webhook_isolate(receiver)``.

    Its dead letters, if it has some, are swapped for new ones in ``tmp_path``; both are put
    back after the test.
    """
    isolate = Isolate(monkeypatch, tmp_path)
    yield isolate
    isolate.close()


@pytest.fixture
def webhook_store() -> MemoryStore:
    """A new, empty `MemoryStore` for this test."""
    return MemoryStore()


@pytest.fixture
def webhook_sqlite_store(tmp_path: Path) -> Iterator[SQLiteStore]:
    """A new, empty `SQLiteStore` in this test's ``tmp_path``, closed after the test."""
    with SQLiteStore(tmp_path / "webhooks.sqlite3") as store:
        yield store
