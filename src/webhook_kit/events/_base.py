"""The machinery every provider's event models share: base models, `UnknownEvent`, parsing.

A provider module declares its models and a discriminated union of them; `make_parser` turns
that union into a `parse(body)` that validates the raw bytes in one pass, falls back to
`UnknownEvent` for event types the library does not know, and raises `PayloadError` (never
anything else) for bodies that are not a valid event. `InvalidEvent.from_error` describes such a
body for a receiver that accepts it anyway. `Open` marks the enum-like fields where providers
add values: the documented ones are listed, any other string is kept.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Collection, Mapping
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Literal, TypeAlias, TypeVar

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails, InitErrorDetails, core_schema
from typing_extensions import TypedDict

from ..errors import PayloadError

__all__ = [
    "EventModel",
    "FieldError",
    "InvalidEvent",
    "Open",
    "UnknownEvent",
    "WebhookModel",
    "event_type_map",
    "make_parser",
]

_T = TypeVar("_T")
_Known = TypeVar("_Known")

_TAG_ERRORS = frozenset({"union_tag_invalid", "union_tag_not_found"})
_MAX_ERRORS = 5  # field errors listed in a PayloadError message; the rest are counted
_MAX_SEGMENT = 40  # characters of one path segment or event type quoted in a message


class WebhookModel(BaseModel):
    """Base of every model webhook-kit parses deliveries into, nested ones included.

    Unknown fields are kept (in `model_extra`) so a provider adding a field never breaks a
    receiver, instances are immutable like the delivery they describe, and float fields reject
    NaN and infinities, which JSON does not have. Validators are built on first use
    (``defer_build``), so that importing webhook-kit builds none; a provider's union builds
    what it needs when its module is imported.
    """

    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False, defer_build=True)


def _require_type_field(schema: dict[str, Any], model: type[Any]) -> None:
    """List an event's type field as required in its JSON Schema.

    Each model gives its type field a default (its one value), so pydantic leaves it out of
    ``required``; but every delivery carries it, and OpenAPI wants a discriminated union's
    property required in every variant. Validation is unchanged: the schema only.
    """
    field = getattr(model, "type_field", None)
    properties = schema.get("properties", {})
    required = set(schema.get("required", ()))
    if field in properties and field not in required:
        schema["required"] = [name for name in properties if name == field or name in required]


class EventModel(WebhookModel):
    """Base of every typed event: adds `event_type`, the same attribute for every provider.

    Its JSON Schema lists the type field as required (a delivery always has it), although the
    model fills it in when built in Python without it.
    """

    model_config = ConfigDict(json_schema_extra=_require_type_field)

    #: The JSON field holding the provider's event type string (``"type"`` for Pulse).
    type_field: ClassVar[str] = "event"

    @property
    def event_type(self) -> str:
        """The provider's event type string (``"document.completed"``), whatever its field."""
        value: str = getattr(self, self.type_field)
        return value


class UnknownEvent(WebhookModel):
    """A well-formed delivery whose event type this library does not model (yet).

    Not an error: providers add event types, and a receiver should acknowledge them rather
    than make the provider retry. The whole payload is kept for handlers that want it.
    """

    #: The provider the delivery came from (``"struktr"``).
    provider: str
    #: The event type string from the body, or None if the body has none.
    event_type: str | None
    #: The JSON object exactly as received.
    payload: dict[str, Any]


class FieldError(TypedDict):
    """One reason a payload failed validation, like pydantic's error details without the input."""

    #: Where, from the top of the body: ``("data", "documents", 0, "status")``; ``()``: all of it.
    loc: tuple[int | str, ...]
    #: What is wrong, for a human: ``"Input should be a valid integer"``. Never quotes the body.
    msg: str
    #: A stable code: pydantic's error type (``"int_parsing"``, ``"missing"``, ``"json_invalid"``).
    type: str


class InvalidEvent(WebhookModel):
    """A verified delivery that fails validation, for a receiver with ``invalid_payloads="accept"``.

    The provider signed it, so it is genuine; the models refuse it, usually because the provider
    changed its payload (a field that became null, a number sent as a string). The receiver
    acknowledges it and passes it to the handlers registered with `Receiver.on_invalid`, which
    can keep the payload for later, alert someone, or make do with what is there.
    """

    #: The provider the delivery came from (``"struktr"``).
    provider: str
    #: The documented event type that failed validation, or None if the body was not even an
    #: object with a known event type (not JSON, an array, a non-string type field).
    event_type: str | None
    #: The parsed JSON body (any JSON value), or None if the body is not JSON.
    payload: Any = None
    #: Why it failed, one entry per failing field, without the values.
    errors: tuple[FieldError, ...]

    @property
    def paths(self) -> tuple[str, ...]:
        """The failing fields as dotted paths (``"data.pages"``; ``"(body)"`` for the whole body).

        Keys come from the sender, so long or unprintable ones are shortened and escaped.
        """
        return tuple(_path(error["loc"]) for error in self.errors)

    @classmethod
    def from_error(
        cls,
        provider: str,
        body: bytes | bytearray | memoryview | str,
        error: PayloadError,
        *,
        event_types: Collection[str] = (),
        event_type: str | None = None,
    ) -> InvalidEvent:
        """Describe a body that `parse` refused with `error`.

        `event_types` are the provider's documented event types: a failure inside one of them
        names it in `event_type` (otherwise `event_type` is used, for a body that parsed but was
        refused afterwards). The body is parsed again as plain JSON for `payload`: this is the
        cold path.
        """
        cause = error.__cause__
        errors: list[FieldError] = []
        if isinstance(cause, ValidationError):
            for detail in cause.errors(include_url=False, include_input=False):
                loc = tuple(detail["loc"])
                if loc and isinstance(loc[0], str) and loc[0] in event_types:
                    event_type, loc = loc[0], loc[1:]  # the tagged union's tag comes first
                errors.append(FieldError(loc=loc, msg=detail["msg"], type=detail["type"]))
        else:  # refused without pydantic's help: too deep, or a header disagreeing with the body
            errors.append(FieldError(loc=(), msg=str(error), type=error.code))
        data = bytes(body) if isinstance(body, memoryview) else body
        try:
            payload = _RAW_JSON.validate_json(data)
        except (ValidationError, RecursionError):
            payload = None
        return cls(provider=provider, event_type=event_type, payload=payload, errors=tuple(errors))


class _OpenValues:
    """Validates an `Open` field as any string; its JSON Schema lists the documented values."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        known = [
            value
            for arg in typing.get_args(source)
            if typing.get_origin(arg) is Literal
            for value in typing.get_args(arg)
        ]
        return core_schema.str_schema(metadata={"pydantic_js_updates": {"examples": known}})

    def __repr__(self) -> str:
        return "Open"


Open: TypeAlias = Annotated[_Known | str, _OpenValues()]
"""An open enum: ``status: Open[Literal["completed", "failed"]]``.

The ``Literal`` lists the values the provider documents (the JSON Schema shows them as examples);
any other string is kept as sent instead of failing validation, because providers add statuses
without warning. Type checkers see a `str`: compare with ``==`` and keep a fallback branch.
"""


def event_type_map(*models: type[EventModel]) -> Mapping[str, type[EventModel]]:
    """Return a read-only map from each model's event type string to the model class.

    Each model's type field must be a one-value ``Literal``: that value is its event type.
    """
    mapping: dict[str, type[EventModel]] = {}
    for model in models:
        annotation = model.model_fields[model.type_field].annotation
        values = typing.get_args(annotation)
        if typing.get_origin(annotation) is not typing.Literal or len(values) != 1:
            raise TypeError(f"{model.__name__}.{model.type_field} must be a one-value Literal")
        mapping[values[0]] = model
    return MappingProxyType(mapping)


# Built on first use, like the models: only unknown and invalid bodies need them.
_RAW_OBJECT: TypeAdapter[dict[str, Any]] = TypeAdapter(
    dict[str, Any], config=ConfigDict(defer_build=True)
)
_RAW_JSON: TypeAdapter[Any] = TypeAdapter(Any, config=ConfigDict(defer_build=True))


def make_parser(
    provider: str, adapter: TypeAdapter[_T], *, type_field: str = "event"
) -> Callable[[bytes | bytearray | memoryview | str], _T | UnknownEvent]:
    """Return a `parse(body)` for one provider's discriminated union of event models.

    `adapter` wraps the union (discriminated on `type_field`); build it once, at import. The
    returned function validates the raw body straight from JSON. Only when the event type is
    missing or unknown does it parse the body a second time, into an `UnknownEvent`.
    """

    def parse(body: bytes | bytearray | memoryview | str) -> _T | UnknownEvent:
        data = bytes(body) if isinstance(body, memoryview) else body
        try:
            try:
                return adapter.validate_json(data)
            except ValidationError as exc:
                if not _is_unknown_tag(exc):
                    raise
            payload = _RAW_OBJECT.validate_json(data)  # cold path: an event type we lack
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False)
            raise PayloadError(_describe(provider, errors)) from exc
        except RecursionError:
            raise PayloadError(f"{provider} payload is nested too deeply") from None
        event_type = payload.get(type_field)
        if event_type is not None and not isinstance(event_type, str):
            problem = f"{type_field}: Input should be a valid string"
            detail = InitErrorDetails(type="string_type", loc=(type_field,), input=event_type)
            cause = ValidationError.from_exception_data(provider, [detail])
            raise PayloadError(f"invalid {provider} payload: {problem}") from cause
        return UnknownEvent(provider=provider, event_type=event_type, payload=payload)

    parse.__doc__ = f"Validate a raw {provider} delivery body into its typed event."
    return parse


def _is_unknown_tag(exc: ValidationError) -> bool:
    """Whether the only problem is a missing or unknown event type (not a malformed event)."""
    if exc.error_count() != 1:
        return False
    error = exc.errors(include_url=False, include_input=False)[0]
    return error["type"] in _TAG_ERRORS and error["loc"] == ()


def _describe(provider: str, errors: list[ErrorDetails]) -> str:
    """Say what is wrong with a body, naming the failing fields but quoting none of its data."""
    first = errors[0]
    if first["type"] == "json_invalid":
        reason = first.get("ctx", {}).get("error", "cannot be parsed")
        return f"{provider} payload is not valid JSON: {reason}"
    if first["type"] == "string_unicode":
        return f"{provider} payload is not valid Unicode text"
    if not first["loc"]:
        if first["type"] in {"dict_type", "model_type", "model_attributes_type"}:
            return f"{provider} payload must be a JSON object"
        return f"invalid {provider} payload: {first['msg']}"
    # A tagged union puts the event type first in every location: "document.completed".
    event_type = _segment(first["loc"][0])
    problems = [f"{_path(error['loc'][1:])}: {error['msg']}" for error in errors[:_MAX_ERRORS]]
    if len(errors) > _MAX_ERRORS:
        problems.append(f"and {len(errors) - _MAX_ERRORS} more")
    return f"invalid {provider} {event_type} event: " + "; ".join(problems)


def _path(loc: tuple[int | str, ...]) -> str:
    """Render a location as ``data.documents.0.status`` (or ``(body)`` for the whole body)."""
    return ".".join(_segment(part) for part in loc) or "(body)"


def _segment(part: int | str) -> str:
    """One path segment, shortened and escaped: keys come from the sender, so bound them."""
    text = str(part)
    if len(text) > _MAX_SEGMENT:
        text = text[:_MAX_SEGMENT] + "..."
    return text if text.isprintable() else repr(text)
