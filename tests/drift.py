"""Schema drift for the tests: documented events with one field changed as providers change them.

`DRIFTS` holds, for every provider, a documented event with a new status value, a null where a
value was, and a string where a number was. `fixed_provider` is the provider after "the models
were fixed": the same provider whose model for that event accepts anything at the drifted path,
as a maintainer's fix would, so that a replay can process what was refused.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, TypeAdapter, create_model

from webhook_kit import providers, testing
from webhook_kit.events import EventModel, make_parser
from webhook_kit.idempotency import store_key
from webhook_kit.providers import Provider


@dataclass(frozen=True)
class Drift:
    """One change to a documented event: the value at `path` becomes `value`."""

    provider: str
    event_type: str
    #: ``"status"`` (a new value of an open status), ``"null"`` or ``"string"``.
    kind: str
    path: str
    value: Any

    @property
    def id(self) -> str:
        """A readable test id."""
        return f"{self.provider}:{self.kind}:{self.path}"

    @property
    def loc(self) -> tuple[str | int, ...]:
        """The path as a pydantic location."""
        return tuple(int(part) if part.isdigit() else part for part in self.path.split("."))

    @property
    def tolerated(self) -> bool:
        """Whether today's models accept it (a new status value) rather than refuse it."""
        return self.kind == "status"

    def payload(self) -> dict[str, Any]:
        """The documented sample with the drift applied."""
        payload = testing.sample(self.provider, self.event_type)
        *parents, last = self.path.split(".")
        holder = payload
        for part in parents:
            holder = holder[part]
        holder[last] = self.value
        return payload

    def delivery(self, secret: str, delivery_id: str, **options: Any) -> testing.Delivery:
        """The drifted event as a signed delivery."""
        return testing.signed_delivery(
            self.provider, secret, self.payload(), delivery_id=delivery_id, **options
        )

    def key(self, delivery: testing.Delivery) -> str:
        """The delivery's idempotency key: the dead letter's id."""
        provider = providers.get(self.provider)
        return str(store_key(self.provider, provider.delivery_key(*delivery)))


_CASES = {
    "struktr": ("document.completed", "data.status", "data.pages", "data.pages", "three"),
    "file_conversion": (
        "document.completed",
        "data.status",
        "data.folder_id",
        "data.processing_time_ms",
        "5.2 s",
    ),
    "imggo": ("job.completed", "status", "result", "confidence", "high"),
    "docextract": (
        "job.completed",
        "data.status",
        "data.processing_time_ms",
        "data.cost_credits",
        "free",
    ),
    "pulse": (
        "job.completed",
        "data.status",
        "data.pages_processed",
        "data.processing_time",
        "12.5s",
    ),
}

DRIFTS = [
    drift
    for name, (event_type, status, null, string, text) in _CASES.items()
    for drift in (
        Drift(name, event_type, "status", status, "completed_with_warnings"),
        Drift(name, event_type, "null", null, None),
        Drift(name, event_type, "string", string, text),
    )
]
"""Three drifts of one documented event per provider."""

REFUSED = [drift for drift in DRIFTS if not drift.tolerated]
"""The drifts today's models refuse."""


def fixed_provider(drift: Drift) -> Provider:
    """The drift's provider after a model fix: its event accepts any value at the drifted path."""
    provider = providers.get(drift.provider)
    model = _loosened(provider.event_types[drift.event_type], drift.path.split("."))
    type_field = model.type_field if issubclass(model, EventModel) else "event"
    return dataclasses.replace(
        provider,
        parse=make_parser(drift.provider, TypeAdapter(model), type_field=type_field),
        event_types={**provider.event_types, drift.event_type: model},
    )


def _loosened(model: type[BaseModel], path: list[str]) -> type[BaseModel]:
    """A subclass of `model` whose field at `path` (through nested models) accepts anything."""
    name, rest = path[0], path[1:]
    field = model.model_fields[name]
    annotation: Any = Any
    if rest:
        nested = field.annotation
        assert isinstance(nested, type)
        assert issubclass(nested, BaseModel)
        annotation = _loosened(nested, rest)
    default = ... if field.is_required() else field.default
    fixed: type[BaseModel] = create_model(  # type: ignore[call-overload]
        model.__name__, __base__=model, **{name: (annotation, default)}
    )
    return fixed
