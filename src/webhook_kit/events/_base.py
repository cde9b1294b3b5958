"""The machinery every provider's event models share: base models, `UnknownEvent`, parsing.

A provider module declares its models and a discriminated union of them; `make_parser` turns
that union into a `parse(body)` that validates the raw bytes in one pass, falls back to
`UnknownEvent` for event types the library does not know, and raises `PayloadError` (never
anything else) for bodies that are not a valid event.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from ..errors import PayloadError

__all__ = ["EventModel", "UnknownEvent", "WebhookModel", "event_type_map", "make_parser"]

_T = TypeVar("_T")

_TAG_ERRORS = frozenset({"union_tag_invalid", "union_tag_not_found"})
_MAX_ERRORS = 5  # field errors listed in a PayloadError message; the rest are counted
_MAX_SEGMENT = 40  # characters of one path segment or event type quoted in a message


class WebhookModel(BaseModel):
    """Base of every model webhook-kit parses deliveries into, nested ones included.

    Unknown fields are kept (in `model_extra`) so a provider adding a field never breaks a
    receiver, instances are immutable like the delivery they describe, and float fields reject
    NaN and infinities, which JSON does not have.
    """

    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False)


class EventModel(WebhookModel):
    """Base of every typed event: adds `event_type`, the same attribute for every provider."""

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


_RAW_OBJECT: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])


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
            raise PayloadError(f"invalid {provider} payload: {problem}")
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
