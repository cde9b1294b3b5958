"""File Conversion System events: a document's life from upload to deletion.

Every delivery is ``{event, timestamp, data}`` and ``data.document_id`` is an integer. Only
``document.completed`` and ``document.error`` have documented examples; the other events are
modelled from the envelope, so beyond ``document_id`` their fields are optional.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal, TypeAlias

from pydantic import AwareDatetime, Field, TypeAdapter

from ._base import EventModel, Open, WebhookModel, event_type_map, make_parser

__all__ = [
    "EVENT_TYPES",
    "DocumentCompleted",
    "DocumentCompletedData",
    "DocumentData",
    "DocumentDeleted",
    "DocumentError",
    "DocumentErrorData",
    "DocumentProcessing",
    "DocumentUploaded",
    "FileConversionEvent",
    "parse",
]


class DocumentData(WebhookModel):
    """The document in an event without a documented example (uploaded, processing, deleted).

    Only the id is certain; the other fields are those the documented events carry.
    """

    document_id: int
    filename: str | None = None
    #: Not documented for these events, so any string is accepted.
    status: str | None = None
    content_type: str | None = None
    folder_id: int | None = None


class DocumentCompletedData(WebhookModel):
    """The converted document in a ``document.completed`` event."""

    document_id: int
    filename: str
    status: Open[Literal["completed"]]
    processing_time_ms: int
    content_type: str
    folder_id: int


class DocumentErrorData(WebhookModel):
    """The document that failed, and why, in a ``document.error`` event."""

    document_id: int
    filename: str
    status: Open[Literal["error"]]
    error_message: str
    folder_id: int


class _Event(EventModel):
    """The envelope every File Conversion event shares; `event` is narrowed by each subclass."""

    event: str
    timestamp: AwareDatetime


class DocumentUploaded(_Event):
    """``document.uploaded``: a new document was uploaded."""

    event: Literal["document.uploaded"] = "document.uploaded"
    data: DocumentData


class DocumentProcessing(_Event):
    """``document.processing``: processing of a document began."""

    event: Literal["document.processing"] = "document.processing"
    data: DocumentData


class DocumentCompleted(_Event):
    """``document.completed``: a document was processed successfully."""

    event: Literal["document.completed"] = "document.completed"
    data: DocumentCompletedData


class DocumentError(_Event):
    """``document.error``: processing a document failed."""

    event: Literal["document.error"] = "document.error"
    data: DocumentErrorData


class DocumentDeleted(_Event):
    """``document.deleted``: a document was deleted."""

    event: Literal["document.deleted"] = "document.deleted"
    data: DocumentData


FileConversionEvent: TypeAlias = Annotated[
    DocumentUploaded | DocumentProcessing | DocumentCompleted | DocumentError | DocumentDeleted,
    Field(discriminator="event"),
]
"""Any event the File Conversion System documents, told apart by its ``event`` field."""

EVENT_TYPES: Mapping[str, type[EventModel]] = event_type_map(
    DocumentUploaded, DocumentProcessing, DocumentCompleted, DocumentError, DocumentDeleted
)
"""Event type string -> model class, in the order the File Conversion System documents them."""

_ADAPTER: TypeAdapter[FileConversionEvent] = TypeAdapter(FileConversionEvent)
parse = make_parser("file_conversion", _ADAPTER)
"""Validate a raw body into its event model, or `UnknownEvent` for a new event type.

Raises `PayloadError` if the body is not JSON, not an object, or a known event that fails
validation.
"""
