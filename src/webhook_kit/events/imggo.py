"""ImgGo events: image processing jobs queued, completed or failed.

ImgGo payloads are flat: ``event``, ``job_id`` and the job's fields sit at the top level, with
no ``data`` object. Only ``event`` and ``job_id`` (and the result or error) are required: the
document's own test payload sends nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import AwareDatetime, Field, TypeAdapter

from ._base import EventModel, Open, WebhookModel, event_type_map, make_parser

__all__ = [
    "EVENT_TYPES",
    "ErrorInfo",
    "ImgGoEvent",
    "JobCompleted",
    "JobFailed",
    "JobQueued",
    "parse",
]


class ErrorInfo(WebhookModel):
    """Why an ImgGo job failed."""

    code: str
    message: str


class _Event(EventModel):
    """The flat fields every ImgGo event shares; `event` is narrowed by each subclass."""

    event: str
    job_id: str
    pattern_id: str | None = None
    created_at: AwareDatetime | None = None


class JobCompleted(_Event):
    """``job.completed``: a job was processed; `result` holds the extracted data."""

    event: Literal["job.completed"] = "job.completed"
    status: Open[Literal["completed"]] | None = None
    #: The fields the job's pattern extracts; their names depend on the pattern.
    result: dict[str, Any]
    confidence: float | None = None
    processing_time_ms: int | None = None
    completed_at: AwareDatetime | None = None


class JobFailed(_Event):
    """``job.failed``: processing a job failed."""

    event: Literal["job.failed"] = "job.failed"
    status: Open[Literal["failed"]] | None = None
    error: ErrorInfo
    failed_at: AwareDatetime | None = None


class JobQueued(_Event):
    """``job.queued`` (optional event): a job was added to the queue.

    ImgGo says it carries an estimated time but does not name the field: it is kept in
    `model_extra` under whatever name ImgGo sends.
    """

    event: Literal["job.queued"] = "job.queued"
    #: Not documented for this event, so any string is accepted.
    status: str | None = None


ImgGoEvent: TypeAlias = Annotated[
    JobCompleted | JobFailed | JobQueued,
    Field(discriminator="event"),
]
"""Any event ImgGo documents, told apart by its ``event`` field."""

EVENT_TYPES: Mapping[str, type[EventModel]] = event_type_map(JobCompleted, JobFailed, JobQueued)
"""Event type string -> model class, in the order ImgGo documents them."""

_ADAPTER: TypeAdapter[ImgGoEvent] = TypeAdapter(ImgGoEvent)
parse = make_parser("imggo", _ADAPTER)
"""Validate a raw body into its event model, or `UnknownEvent` for a new event type.

Raises `PayloadError` if the body is not JSON, not an object, or a known event that fails
validation.
"""
