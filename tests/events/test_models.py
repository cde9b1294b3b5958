"""The event models: one per documented event, the documents' values, extras, immutability."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from tests.events.cases import (
    DOCUMENTED,
    EVENTS,
    MODULES,
    NESTED_EVENTS,
    PROVIDERS,
    TYPE_FIELD,
    dig,
    encode,
    parse,
    parsed_sample,
)
from webhook_kit import events
from webhook_kit._samples import SAMPLES, sample
from webhook_kit.events import EventModel, UnknownEvent, WebhookModel

EXTRA = {"added_later": {"nested": [1, "two", None]}}


def test_every_documented_event_has_a_model_and_a_sample() -> None:
    """Each provider's `EVENT_TYPES` and samples list exactly its documented events, in order."""
    assert list(SAMPLES) == list(DOCUMENTED)
    for provider, documented in DOCUMENTED.items():
        assert list(MODULES[provider].EVENT_TYPES) == documented
        assert list(SAMPLES[provider]) == documented


@pytest.mark.parametrize(("provider", "event_type"), EVENTS)
def test_sample_parses_into_its_model(provider: str, event_type: str) -> None:
    """A documented sample becomes its own model class, whose `event_type` is the type string."""
    event = parsed_sample(provider, event_type)
    assert type(event) is MODULES[provider].EVENT_TYPES[event_type]
    assert isinstance(event, EventModel)
    assert event.event_type == event_type
    assert getattr(event, TYPE_FIELD[provider]) == event_type


SPOT_CHECKS = [
    ("struktr", "document.completed", "data.id", "doc_abc123"),
    ("struktr", "document.completed", "data.pages", 3),
    ("struktr", "document.completed", "data.data.confidence", 0.95),
    ("struktr", "document.completed", "data.data.fields.total.value", 1547.50),
    ("struktr", "document.completed", "data.data.fields.total.confidence", 0.96),
    ("struktr", "document.completed", "data.data.fields.vendor_name.value", "Acme Corporation"),
    ("struktr", "document.completed", "data.data.tables.0.page", 1),
    ("struktr", "document.failed", "data.error.code", "processing_failed"),
    ("struktr", "document.failed", "data.error.details", {"reason": "corrupt_file"}),
    ("struktr", "batch.completed", "data.documents.4.status", "failed"),
    ("struktr", "batch.completed", "data.succeeded", 4),
    ("struktr", "batch.progress", "data.pending", 3),
    ("file_conversion", "document.completed", "data.document_id", 123),
    ("file_conversion", "document.completed", "data.processing_time_ms", 5200),
    ("file_conversion", "document.error", "data.document_id", 124),
    ("file_conversion", "document.uploaded", "data.document_id", 123),
    ("imggo", "job.completed", "job_id", "550e8400-e29b-41d4-a716-446655440000"),
    ("imggo", "job.completed", "result.total_amount", 1942.92),
    ("imggo", "job.completed", "confidence", 0.97),
    ("imggo", "job.failed", "error.code", "invalid_image"),
    ("docextract", "job.completed", "data.confidence.total_amount", 0.95),
    ("docextract", "job.completed", "data.metadata.customer_id", "cust_123"),
    ("docextract", "job.failed", "data.error_details.code", "document_unreadable"),
    ("docextract", "credits.low_balance", "data.percentage_remaining", 2.5),
    ("docextract", "credits.depleted", "data.jobs_queued", 5),
    ("pulse", "job.completed", "data.pages_processed", 25),
    ("pulse", "job.completed", "data.processing_time", 12.5),
    ("pulse", "job.failed", "data.error", "Document processing failed: Invalid PDF structure"),
]


@pytest.mark.parametrize(
    ("provider", "event_type", "path", "expected"),
    [pytest.param(*case, id=f"{case[0]}:{case[1]}:{case[2]}") for case in SPOT_CHECKS],
)
def test_values_match_the_document(
    provider: str, event_type: str, path: str, expected: Any
) -> None:
    """A parsed sample holds the document's value, with the document's JSON type, at `path`."""
    value = dig(parsed_sample(provider, event_type), path)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(("provider", "event_type"), EVENTS)
def test_timestamps_are_timezone_aware(provider: str, event_type: str) -> None:
    """Every event carries at least one timestamp, and all of them are timezone-aware."""
    found = list(_datetimes(parsed_sample(provider, event_type)))
    assert found
    assert all(moment.utcoffset() is not None for moment in found)


def test_timestamp_offsets_are_kept() -> None:
    """A timestamp with an offset keeps it and denotes the same instant as the UTC form."""
    payload = sample("struktr", "batch.progress")
    payload["timestamp"] = "2024-01-15T12:32:00+02:00"
    event = parse("struktr", encode(payload))
    assert isinstance(event, EventModel)
    moment = dig(event, "timestamp")
    assert moment.utcoffset() == timedelta(hours=2)
    assert moment == datetime(2024, 1, 15, 10, 32, tzinfo=timezone.utc)


@pytest.mark.parametrize(("provider", "event_type"), EVENTS)
def test_round_trip_through_json(provider: str, event_type: str) -> None:
    """`model_dump_json(by_alias=True)` parses back to an equal model of the same class."""
    event = parsed_sample(provider, event_type)
    again = parse(provider, event.model_dump_json(by_alias=True))
    assert type(again) is type(event)
    assert again == event


@pytest.mark.parametrize(("provider", "event_type"), EVENTS)
def test_dump_reproduces_the_provider_json(provider: str, event_type: str) -> None:
    """Dumping the fields that were sent gives back the provider's JSON, field names included."""
    event = parsed_sample(provider, event_type)
    assert event.model_dump(mode="json", exclude_unset=True) == sample(provider, event_type)


@pytest.mark.parametrize(("provider", "event_type"), EVENTS)
def test_unknown_top_level_fields_are_kept(provider: str, event_type: str) -> None:
    """A field the model does not declare is kept in `model_extra` and survives a round trip."""
    payload = sample(provider, event_type) | EXTRA
    event = parse(provider, encode(payload))
    assert event.model_extra == EXTRA
    assert parse(provider, event.model_dump_json(by_alias=True)) == event


@pytest.mark.parametrize(("provider", "event_type", "path"), NESTED_EVENTS)
def test_unknown_nested_fields_are_kept(provider: str, event_type: str, path: str) -> None:
    """A field a nested model does not declare is kept in that model's `model_extra`."""
    payload = sample(provider, event_type)
    dig(payload, path).update(EXTRA)
    nested = dig(parse(provider, encode(payload)), path)
    assert isinstance(nested, WebhookModel)
    assert nested.model_extra == EXTRA


@pytest.mark.parametrize(("provider", "event_type"), EVENTS)
def test_events_are_frozen(provider: str, event_type: str) -> None:
    """Assigning to an event's field raises, and the event keeps its value."""
    event = parsed_sample(provider, event_type)
    field = TYPE_FIELD[provider]
    with pytest.raises(ValidationError, match="frozen"):
        setattr(event, field, "something.else")
    assert event.event_type == event_type


@pytest.mark.parametrize(("provider", "event_type", "path"), NESTED_EVENTS)
def test_nested_models_are_frozen(provider: str, event_type: str, path: str) -> None:
    """Assigning to a nested model's field raises too."""
    nested = dig(parsed_sample(provider, event_type), path)
    name = next(iter(type(nested).model_fields))
    with pytest.raises(ValidationError, match="frozen"):
        setattr(nested, name, None)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_model_keeps_extras_and_is_frozen(provider: str) -> None:
    """Every model class a provider module defines allows extra fields and is frozen."""
    models = _models(provider)
    assert len(models) >= len(DOCUMENTED[provider])
    for model in models:
        assert model.model_config.get("extra") == "allow", model
        assert model.model_config.get("frozen") is True, model


def test_unknown_event_is_frozen_and_keeps_extras() -> None:
    """`UnknownEvent` follows the same rules as the typed models."""
    assert UnknownEvent.model_config.get("extra") == "allow"
    event = UnknownEvent(provider="struktr", event_type=None, payload={})
    with pytest.raises(ValidationError, match="frozen"):
        event.event_type = "x"  # type: ignore[misc]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_event_models_can_be_built_in_python(provider: str) -> None:
    """An event built from keyword arguments fills in its own type and equals the parsed one."""
    for event_type, model in MODULES[provider].EVENT_TYPES.items():
        fields = sample(provider, event_type)
        del fields[TYPE_FIELD[provider]]
        built = model(**fields)
        assert built.event_type == event_type
        assert built == parsed_sample(provider, event_type)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_json_schema_requires_the_type_field(provider: str) -> None:
    """Each event's JSON Schema requires its type field, which validation still fills in."""
    field = TYPE_FIELD[provider]
    for event_type, model in MODULES[provider].EVENT_TYPES.items():
        schema = model.model_json_schema()
        assert field in schema["required"], model
        assert schema["properties"][field]["const"] == event_type
        without = sample(provider, event_type)
        del without[field]
        assert model.model_validate(without).event_type == event_type


def test_event_types_is_read_only() -> None:
    """`EVENT_TYPES` cannot be modified by a caller."""
    with pytest.raises(TypeError):
        MODULES["struktr"].EVENT_TYPES["x"] = EventModel  # type: ignore[index]


def test_events_package_exports_are_pinned() -> None:
    """`webhook_kit.events.__all__` is the shared pieces, sorted, all resolvable."""
    assert events.__all__ == [
        "EventModel",
        "FieldError",
        "InvalidEvent",
        "Open",
        "UnknownEvent",
        "WebhookModel",
        "event_type_map",
        "make_parser",
    ]
    assert all(getattr(events, name) is not None for name in events.__all__)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_provider_module_exports(provider: str) -> None:
    """A provider module exports `parse`, `EVENT_TYPES`, its union and every model it defines."""
    module = MODULES[provider]
    exported = set(module.__all__)
    assert len(exported) == len(module.__all__)
    assert {"parse", "EVENT_TYPES"} <= exported
    assert sum(name.endswith("Event") for name in exported) == 1  # the union
    assert {model.__name__ for model in _models(provider)} <= exported
    assert all(getattr(module, name) is not None for name in exported)


def _models(provider: str) -> list[type[BaseModel]]:
    """The public pydantic model classes defined in a provider module."""
    module = MODULES[provider]
    return [
        value
        for name, value in vars(module).items()
        if inspect.isclass(value)
        and issubclass(value, BaseModel)
        and value.__module__ == module.__name__
        and not name.startswith("_")
    ]


def _datetimes(value: Any) -> Iterator[datetime]:
    """Every datetime in a model tree."""
    if isinstance(value, datetime):
        yield value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _datetimes(getattr(value, name))
    elif isinstance(value, dict):
        for item in value.values():
            yield from _datetimes(item)
    elif isinstance(value, list):
        for item in value:
            yield from _datetimes(item)
