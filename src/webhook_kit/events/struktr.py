"""struktr events: document parsing results and batch progress.

Every delivery is ``{event, timestamp, data}``; ``X-Struktr-Event`` repeats the event type and
``X-Struktr-Delivery`` carries a unique delivery id. Use it as ``from webhook_kit.events import
struktr`` and ``struktr.parse(body)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import AwareDatetime, Field, JsonValue, TypeAdapter

from ._base import EventModel, Open, WebhookModel, event_type_map, make_parser

__all__ = [
    "EVENT_TYPES",
    "BatchCompleted",
    "BatchCompletedData",
    "BatchDocument",
    "BatchProgress",
    "BatchProgressData",
    "DocumentCompleted",
    "DocumentCompletedData",
    "DocumentFailed",
    "DocumentFailedData",
    "ErrorInfo",
    "ExtractedField",
    "Extraction",
    "StruktrEvent",
    "parse",
]


class ExtractedField(WebhookModel):
    """One extracted field: its value and how confident struktr is in it."""

    value: JsonValue
    confidence: float


class Extraction(WebhookModel):
    """What struktr extracted from a document: its type, fields, tables and text."""

    document_type: str
    confidence: float
    fields: dict[str, ExtractedField]
    #: Table objects as struktr sends them; their shape is not documented.
    tables: list[dict[str, Any]]
    raw_text: str


class DocumentCompletedData(WebhookModel):
    """The parsed document in a ``document.completed`` event."""

    id: str
    status: Open[Literal["completed"]]
    pages: int
    created_at: AwareDatetime
    completed_at: AwareDatetime
    data: Extraction


class ErrorInfo(WebhookModel):
    """Why struktr could not process a document."""

    code: str
    message: str
    details: dict[str, Any] | None = None


class DocumentFailedData(WebhookModel):
    """The document in a ``document.failed`` event."""

    id: str
    status: Open[Literal["failed"]]
    created_at: AwareDatetime
    error: ErrorInfo


class BatchDocument(WebhookModel):
    """One document's outcome in a ``batch.completed`` event."""

    id: str
    status: Open[Literal["completed", "failed"]]


class BatchCompletedData(WebhookModel):
    """The batch in a ``batch.completed`` event: counts and each document's outcome."""

    batch_id: str
    status: Open[Literal["completed"]]
    total: int
    succeeded: int
    failed: int
    documents: list[BatchDocument]


class BatchProgressData(WebhookModel):
    """The batch counters in a ``batch.progress`` event."""

    batch_id: str
    total: int
    completed: int
    pending: int


class _Event(EventModel):
    """The envelope every struktr event shares; `event` is narrowed by each subclass."""

    event: str
    timestamp: AwareDatetime


class DocumentCompleted(_Event):
    """``document.completed``: a document was processed successfully."""

    event: Literal["document.completed"] = "document.completed"
    data: DocumentCompletedData


class DocumentFailed(_Event):
    """``document.failed``: processing a document failed."""

    event: Literal["document.failed"] = "document.failed"
    data: DocumentFailedData


class BatchCompleted(_Event):
    """``batch.completed``: every document in a batch has been processed."""

    event: Literal["batch.completed"] = "batch.completed"
    data: BatchCompletedData


class BatchProgress(_Event):
    """``batch.progress``: a progress update while a batch is processed."""

    event: Literal["batch.progress"] = "batch.progress"
    data: BatchProgressData


StruktrEvent: TypeAlias = Annotated[
    DocumentCompleted | DocumentFailed | BatchCompleted | BatchProgress,
    Field(discriminator="event"),
]
"""Any event struktr documents, told apart by its ``event`` field."""

EVENT_TYPES: Mapping[str, type[EventModel]] = event_type_map(
    DocumentCompleted, DocumentFailed, BatchCompleted, BatchProgress
)
"""Event type string -> model class, in the order struktr documents them."""

_ADAPTER: TypeAdapter[StruktrEvent] = TypeAdapter(StruktrEvent)
parse = make_parser("struktr", _ADAPTER)
"""Validate a raw body into its event model, or `UnknownEvent` for a new event type.

Raises `PayloadError` if the body is not JSON, not an object, or a known event that fails
validation.
"""
