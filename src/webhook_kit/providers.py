"""Provider presets: the right verifier, event models and delivery key for each service.

A `Provider` bundles what differs between webhook senders, so the rest of webhook-kit (the
receiver, the adapters, the test kit) treats them all alike::

    from webhook_kit import providers

    event = providers.STRUKTR.verify_and_parse(body, headers, secret=secret)
    providers.get("pulse").delivery_key(body, headers)

Define your own with the same building blocks: a verifier factory, a `parse` function (see
`webhook_kit.events.make_parser`) and, if the sender has one, the header carrying a unique
delivery id.

A provider is generic in the union of its event models (``Provider[struktr.StruktrEvent]``), so
that type checkers know what `parse` returns and which handler each `Receiver.on` takes.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, partial
from types import ModuleType
from typing import TYPE_CHECKING, Any, Generic, cast

from pydantic import TypeAdapter, ValidationError
from typing_extensions import TypeVar

from ._headers import HeadersLike, get_header
from .errors import PayloadError
from .events import InvalidEvent, UnknownEvent
from .signatures import Body, HexHmacVerifier, Now, Secret, StandardWebhooksVerifier, Verifier

if TYPE_CHECKING:
    from .events import docextract, file_conversion, imggo, pulse, struktr

__all__ = [
    "DOCEXTRACT",
    "FILE_CONVERSION",
    "IMGGO",
    "PROVIDERS",
    "PULSE",
    "STRUKTR",
    "Provider",
    "get",
]

EventT = TypeVar("EventT", default=Any)
"""The union of one provider's event models; `Any` where the type checker does not know it."""


@dataclass(frozen=True)
class Provider(Generic[EventT]):
    """Everything webhook-kit needs to know about one webhook sender."""

    #: A lower-case slug, used in URLs, store keys and logs: ``"struktr"``.
    name: str
    #: The human name: ``"File Conversion System"``.
    title: str
    #: Builds a verifier from one secret or a rotation list (and the `verifier_options`).
    make_verifier: Callable[[Secret | Sequence[Secret]], Verifier] = field(repr=False)
    #: Validates raw body bytes into a typed event (or `UnknownEvent`); raises `PayloadError`.
    parse: Callable[[Body], EventT | UnknownEvent] = field(repr=False)
    #: Event type string -> model class, for every event this provider documents.
    event_types: Mapping[str, type[Any]] = field(repr=False)
    #: Headers holding a unique id per delivery, reused on retries (the first present wins).
    delivery_id_headers: tuple[str, ...] = ()
    #: A header repeating the event type; if present it must agree with the body.
    event_type_header: str | None = None
    #: An unsigned header with the send time; informational only, never trusted.
    timestamp_header: str | None = None
    #: Whether the signature covers the delivery id header (Pulse's ``webhook-id``). When it
    #: does not, anyone who captured a delivery could resend it under a new id, so the receiver
    #: deduplicates on the body's digest as well (see `delivery_keys`).
    delivery_id_signed: bool = False
    #: Where the signed body says when the event happened, per event type (``"*"`` for every
    #: type): a path of field names, such as ``("timestamp",)`` or ``("data", "completed_at")``.
    #: Empty when the provider's bodies carry no time every event has (`Receiver` ``max_age``).
    time_fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    #: The keyword options `make_verifier` takes besides the secret, which `Receiver` passes on
    #: (Pulse's ``tolerance`` and ``encoding``). Empty when the provider fixes its whole scheme.
    verifier_options: tuple[str, ...] = ()

    def verifier(self, secret: Secret | Sequence[Secret], **options: Any) -> Verifier:
        """Return this provider's verifier for `secret` (one secret, or several for rotation).

        `options` are the scheme's own (``tolerance=60`` for Pulse); one the scheme does not have
        raises `TypeError`, naming the ones it has.
        """
        unknown = [name for name in options if name not in self.verifier_options]
        if unknown:
            raise TypeError(self._no_such_options(unknown))
        if not options:
            return self.make_verifier(secret)
        # The options it lists are keyword arguments `make_verifier` takes besides the secret.
        return cast("Callable[..., Verifier]", self.make_verifier)(secret, **options)

    def _no_such_options(self, unknown: Sequence[str]) -> str:
        """Say which options the scheme lacks, which it has, and what to use for freshness."""
        message = f"{self.title} signatures take no " + " or ".join(f"{n}=" for n in unknown)
        if self.verifier_options:
            message += " option; they take " + ", ".join(f"{n}=" for n in self.verifier_options)
        else:
            message += " option: the provider fixes its whole scheme"
        if "tolerance" in unknown:
            message += f". {self.title} signs no timestamp header" + (
                ", but max_age= refuses deliveries whose signed body is older"
                if self.time_fields
                else " and its bodies carry no signed time: see 'Replays' in docs/security.md"
            )
        return message

    def delivery_key(self, body: Body, headers: HeadersLike) -> str:
        """Return the id that is the same for every retry of one delivery, and only for it.

        The sender's delivery id header when it has one (struktr's ``X-Struktr-Delivery``,
        Pulse's ``webhook-id``). Otherwise the SHA-256 of the raw body: providers without a
        delivery id resend the same bytes on every retry, so equal bodies are one delivery.
        """
        return self._header_id(headers) or _digest(body)

    def _header_id(self, headers: HeadersLike) -> str | None:
        """The first delivery id header present (and not empty), if any."""
        for name in self.delivery_id_headers:
            value = get_header(headers, name, name.lower())
            if value:
                return value
        return None

    def delivery_keys(self, body: Body, headers: HeadersLike) -> tuple[str, ...]:
        """The ids a verified delivery is deduplicated on: one or two, claimed together.

        The `delivery_key` always; and, when it is an id header the signature does not cover
        (struktr's ``X-Struktr-Delivery``), the body's SHA-256 too. The provider's retries keep
        the id and the body, so they are duplicates either way; a captured delivery resent under
        a made-up id has a body already processed, so it is a duplicate as well.
        """
        header_id = self._header_id(headers)
        digest = _digest(body) if header_id is None or not self.delivery_id_signed else None
        if header_id is None:
            return (cast("str", digest),)
        return (header_id,) if digest is None or header_id == digest else (header_id, digest)

    def time_field(self, event_type: str | None) -> tuple[str, ...] | None:
        """The path of the signed time in a body of `event_type`, from `time_fields`, if any."""
        return self.time_fields.get(event_type or "") or self.time_fields.get("*")

    def signed_time(self, event: Any) -> datetime | None:
        """When the signed body says `event` happened, or None if it does not say.

        Read from `time_fields` for the event's type: on the typed model, or in the raw payload
        of an `UnknownEvent` or `InvalidEvent`.
        """
        path = self.time_field(event.event_type)
        if path is None:
            return None
        value: Any = event.payload if isinstance(event, (UnknownEvent, InvalidEvent)) else event
        for name in path:
            value = value.get(name) if isinstance(value, dict) else getattr(value, name, None)
        if isinstance(value, datetime):
            return value
        try:
            return _aware().validate_python(value) if isinstance(value, str) else None
        except ValidationError:
            return None

    def check_event_header(self, event: Any, headers: HeadersLike) -> None:
        """Raise `PayloadError` if the event type header disagrees with the parsed body."""
        name = self.event_type_header
        if name is None:
            return
        claimed = get_header(headers, name, name.lower())
        if not claimed or self.event_types.get(claimed) is type(event):
            return  # absent, or naming the type of this very model: the usual case
        if claimed != event.event_type:
            raise PayloadError(
                f"the {self.event_type_header} header says {claimed!r} "
                f"but the body is a {event.event_type!r} event"
            )

    def verify_and_parse(
        self,
        body: Body,
        headers: HeadersLike,
        *,
        secret: Secret | Sequence[Secret] | None = None,
        verifier: Verifier | None = None,
        now: Now | None = None,
    ) -> EventT | UnknownEvent:
        """Verify a raw delivery and return its typed event: the one call from request to model.

        Pass a `verifier` built once with `verifier()` on hot paths; `secret` builds one per call.
        Raises `VerificationError` (401) or `PayloadError` (400).
        """
        if verifier is None:
            if secret is None:
                raise TypeError(
                    "verify_and_parse() needs secret= or verifier=; secret is None "
                    "(is the environment variable it comes from set?)"
                )
            verifier = self.make_verifier(secret)
        verifier.verify(body, headers, now=now)
        event = self.parse(body)
        if self.event_type_header is not None:
            self.check_event_header(event, headers)
        return event


_ENVELOPE_TIME: Mapping[str, tuple[str, ...]] = {"*": ("timestamp",)}


@cache
def _aware() -> TypeAdapter[datetime]:
    """A validator of timezone-aware datetimes, built on first use: only `max_age` needs it."""
    from pydantic import AwareDatetime  # noqa: PLC0415 - pydantic.types is slow to import

    return TypeAdapter(AwareDatetime)


class _Models:
    """A built-in provider's event module (``webhook_kit.events.struktr``), imported on first use.

    Building a provider's pydantic models and union is most of what importing it costs, so
    ``import webhook_kit`` builds none: each provider builds its own the first time one of its
    deliveries is parsed or its event types are read.
    """

    __slots__ = ("_module", "_parse", "event_types", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._module: ModuleType | None = None
        self._parse: Callable[[Body], Any] | None = None
        #: The module's `EVENT_TYPES`, read through once it is imported.
        self.event_types: Mapping[str, type[Any]] = _EventTypes(self)

    @property
    def module(self) -> ModuleType:
        """The event module, imported (and its models built) by the first read."""
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(f"webhook_kit.events.{self.name}")
        return module

    def parse(self, body: Body) -> Any:
        """The module's `parse`, imported by the first call."""
        parse = self._parse
        if parse is None:
            parse = self._parse = self.module.parse
        return parse(body)


class _EventTypes(Mapping[str, type[Any]]):
    """A provider's `event_types`, read from its event module once that is imported."""

    __slots__ = ("_loaded", "_models")

    def __init__(self, models: _Models) -> None:
        self._models = models
        self._loaded: Mapping[str, type[Any]] | None = None

    @property
    def _types(self) -> Mapping[str, type[Any]]:
        types = self._loaded
        if types is None:
            types = self._loaded = self._models.module.EVENT_TYPES
        return types

    def __getitem__(self, event_type: str) -> type[Any]:
        return self._types[event_type]

    def get(self, event_type: str, default: Any = None) -> Any:
        return (self._loaded or self._types).get(event_type, default)  # one call once loaded

    def __iter__(self) -> Iterator[str]:
        return iter(self._types)

    def __len__(self) -> int:
        return len(self._types)

    def __repr__(self) -> str:
        return repr(dict(self._types))


_STRUKTR = _Models("struktr")
_FILE_CONVERSION = _Models("file_conversion")
_IMGGO = _Models("imggo")
_DOCEXTRACT = _Models("docextract")
_PULSE = _Models("pulse")


def _digest(body: Body) -> str:
    data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    return "sha256:" + hashlib.sha256(data).hexdigest()


STRUKTR: Provider[struktr.StruktrEvent] = Provider(
    name="struktr",
    title="struktr",
    make_verifier=partial(HexHmacVerifier, header="X-Struktr-Signature", prefix="sha256="),
    parse=_STRUKTR.parse,
    event_types=_STRUKTR.event_types,
    delivery_id_headers=("X-Struktr-Delivery",),
    event_type_header="X-Struktr-Event",
    timestamp_header="X-Struktr-Timestamp",
    time_fields=_ENVELOPE_TIME,
)
"""struktr: `sha256=<hex>` in `X-Struktr-Signature`, delivery id in `X-Struktr-Delivery`."""

FILE_CONVERSION: Provider[file_conversion.FileConversionEvent] = Provider(
    name="file_conversion",
    title="File Conversion System",
    make_verifier=partial(HexHmacVerifier, header="X-Webhook-Signature"),
    parse=_FILE_CONVERSION.parse,
    event_types=_FILE_CONVERSION.event_types,
    time_fields=_ENVELOPE_TIME,
)
"""File Conversion System: bare hex in `X-Webhook-Signature`; no delivery id."""

IMGGO: Provider[imggo.ImgGoEvent] = Provider(
    name="imggo",
    title="ImgGo",
    make_verifier=partial(HexHmacVerifier, header="X-ImgGo-Signature"),
    parse=_IMGGO.parse,
    event_types=_IMGGO.event_types,
)
"""ImgGo: bare hex in `X-ImgGo-Signature`; a flat payload, no delivery id."""

DOCEXTRACT: Provider[docextract.DocExtractEvent] = Provider(
    name="docextract",
    title="DocExtract",
    make_verifier=partial(HexHmacVerifier, header="X-DocExtract-Signature"),
    parse=_DOCEXTRACT.parse,
    event_types=_DOCEXTRACT.event_types,
    # No envelope time: each documented event has its own required one (an unknown type none).
    time_fields={
        "job.completed": ("data", "completed_at"),
        "job.failed": ("data", "failed_at"),
        "credits.low_balance": ("data", "timestamp"),
        "credits.depleted": ("data", "depleted_at"),
        "webhook.test": ("data", "timestamp"),
    },
)
"""DocExtract: bare hex in `X-DocExtract-Signature`; no delivery id, no envelope time."""

PULSE: Provider[pulse.PulseEvent] = Provider(
    name="pulse",
    title="Pulse",
    make_verifier=StandardWebhooksVerifier,
    parse=_PULSE.parse,
    event_types=_PULSE.event_types,
    delivery_id_headers=("webhook-id", "svix-id"),
    delivery_id_signed=True,
    time_fields=_ENVELOPE_TIME,
    verifier_options=("tolerance", "encoding"),
)
"""Pulse: Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`)."""

PROVIDERS: Mapping[str, Provider] = {
    provider.name: provider for provider in (STRUKTR, FILE_CONVERSION, IMGGO, DOCEXTRACT, PULSE)
}
"""Every built-in provider by name."""


def get(name: str) -> Provider:
    """Return the built-in provider called `name` (``"struktr"``, ``"pulse"``, ...)."""
    try:
        return PROVIDERS[name]
    except KeyError:
        known = ", ".join(sorted(PROVIDERS))
        raise KeyError(f"unknown provider {name!r}; the built-in ones are: {known}") from None
