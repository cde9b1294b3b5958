"""What the event tests are parametrised over: providers, their documented events, and helpers."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from types import ModuleType
from typing import Any

import pytest
from pydantic import BaseModel

from webhook_kit._samples import SAMPLES, sample
from webhook_kit.events import WebhookModel, docextract, file_conversion, imggo, pulse, struktr

MODULES: dict[str, ModuleType] = {
    "struktr": struktr,
    "file_conversion": file_conversion,
    "imggo": imggo,
    "docextract": docextract,
    "pulse": pulse,
}

#: The events each provider's document lists, in its order: copied from the documents, so a
#: model or sample that goes missing (or appears unasked) fails the tests.
DOCUMENTED: dict[str, list[str]] = {
    "struktr": ["document.completed", "document.failed", "batch.completed", "batch.progress"],
    "file_conversion": [
        "document.uploaded",
        "document.processing",
        "document.completed",
        "document.error",
        "document.deleted",
    ],
    "imggo": ["job.completed", "job.failed", "job.queued"],
    "docextract": [
        "job.completed",
        "job.failed",
        "credits.low_balance",
        "credits.depleted",
        "webhook.test",
    ],
    "pulse": ["job.created", "job.processing", "job.completed", "job.failed", "job.cancelled"],
}

#: The JSON field holding the event type.
TYPE_FIELD: dict[str, str] = dict.fromkeys(MODULES, "event") | {"pulse": "type"}

EVENTS = [
    pytest.param(provider, event_type, id=f"{provider}:{event_type}")
    for provider, event_types in DOCUMENTED.items()
    for event_type in event_types
]
PROVIDERS = [pytest.param(provider, id=provider) for provider in MODULES]

#: One nested model per event where there is one, as a path from the event (for extras, frozen).
NESTED: dict[tuple[str, str], str] = {
    ("struktr", "document.completed"): "data.data.fields.total",
    ("struktr", "document.failed"): "data.error",
    ("struktr", "batch.completed"): "data.documents.0",
    ("struktr", "batch.progress"): "data",
    ("imggo", "job.failed"): "error",
    ("docextract", "job.failed"): "data.error_details",
} | {
    (provider, event_type): "data"
    for provider in ("file_conversion", "docextract", "pulse")
    for event_type in DOCUMENTED[provider]
    if (provider, event_type) != ("docextract", "job.failed")
}
NESTED_EVENTS = [
    pytest.param(provider, event_type, path, id=f"{provider}:{event_type}:{path}")
    for (provider, event_type), path in NESTED.items()
]


def parse(provider: str, body: Any) -> Any:
    """Parse `body` with the provider's `parse`."""
    return MODULES[provider].parse(body)


def encode(payload: Any) -> bytes:
    """The body a provider would send for `payload`."""
    return json.dumps(payload).encode()


def parsed_sample(provider: str, event_type: str) -> Any:
    """The sample of one event, parsed from its JSON bytes."""
    return parse(provider, encode(sample(provider, event_type)))


def dig(value: Any, path: str) -> Any:
    """Follow a dotted path through models (attributes), dicts (keys) and lists (indexes)."""
    for part in path.split(".") if path else []:
        if isinstance(value, Mapping):
            value = value[part]
        elif isinstance(value, list):
            value = value[int(part)]
        else:
            value = getattr(value, part)
    return value


def set_at(payload: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Set the value at a dotted path of a JSON payload, in place; return the payload."""
    *parents, last = path.split(".")
    container = dig(payload, ".".join(parents))
    if isinstance(container, list):
        container[int(last)] = value
    else:
        container[last] = value
    return payload


def delete_at(payload: dict[str, Any], path: str) -> dict[str, Any]:
    """Remove the key at a dotted path of a JSON payload, in place; return the payload."""
    *parents, last = path.split(".")
    del dig(payload, ".".join(parents))[last]
    return payload


def required_paths(model: type[BaseModel], payload: Mapping[str, Any]) -> Iterator[str]:
    """Dotted paths of the required fields of `model`, descending into nested models."""
    for name, field in model.model_fields.items():
        if field.is_required():
            yield name
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, WebhookModel):
            nested = payload.get(name)
            if isinstance(nested, Mapping):
                yield from (f"{name}.{path}" for path in required_paths(annotation, nested))


REQUIRED = [
    pytest.param(provider, event_type, path, id=f"{provider}:{event_type}:{path}")
    for provider, event_types in DOCUMENTED.items()
    for event_type in event_types
    for path in required_paths(
        MODULES[provider].EVENT_TYPES[event_type], SAMPLES[provider][event_type]
    )
]
