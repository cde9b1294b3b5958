"""Pulse events: the status changes of an asynchronous extraction job.

Every delivery is ``{type, timestamp, data}``: the event type is in ``type``, not ``event``
(`event_type` reads it like any other provider's). Pulse delivers through Svix, so deliveries
are signed the Standard Webhooks way and carry a ``webhook-id`` header.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, ClassVar, Literal, TypeAlias

from pydantic import AwareDatetime, Field, TypeAdapter

from ._base import EventModel, Open, WebhookModel, event_type_map, make_parser

__all__ = [
    "EVENT_TYPES",
    "JobCancelled",
    "JobCompleted",
    "JobCompletedData",
    "JobCreated",
    "JobData",
    "JobFailed",
    "JobFailedData",
    "JobProcessing",
    "PulseEvent",
    "parse",
]


class JobData(WebhookModel):
    """The job in an event without a documented example (created, processing, cancelled)."""

    job_id: str
    #: Not documented for these events, so any string is accepted.
    status: str | None = None


class JobCompletedData(WebhookModel):
    """The finished job in a ``job.completed`` event; fetch its result with the Pulse API."""

    job_id: str
    status: Open[Literal["completed"]]
    pages_processed: int
    #: A float; the document gives no unit (its example says 12.5 for 25 pages).
    processing_time: float


class JobFailedData(WebhookModel):
    """The failed job in a ``job.failed`` event."""

    job_id: str
    status: Open[Literal["failed"]]
    #: A message, not an object; Pulse's own handlers treat it as possibly absent.
    error: str | None = None


class _Event(EventModel):
    """The envelope every Pulse event shares; `type` is narrowed by each subclass."""

    type_field: ClassVar[str] = "type"

    type: str
    timestamp: AwareDatetime
    #: The event id Pulse's idempotency example reads (``event.get('id')``), when sent.
    id: str | None = None


class JobCreated(_Event):
    """``job.created``: a new asynchronous job was created."""

    type: Literal["job.created"] = "job.created"
    data: JobData


class JobProcessing(_Event):
    """``job.processing``: a job started processing."""

    type: Literal["job.processing"] = "job.processing"
    data: JobData


class JobCompleted(_Event):
    """``job.completed``: a job completed successfully."""

    type: Literal["job.completed"] = "job.completed"
    data: JobCompletedData


class JobFailed(_Event):
    """``job.failed``: a job failed with an error."""

    type: Literal["job.failed"] = "job.failed"
    data: JobFailedData


class JobCancelled(_Event):
    """``job.cancelled``: a job was cancelled."""

    type: Literal["job.cancelled"] = "job.cancelled"
    data: JobData


PulseEvent: TypeAlias = Annotated[
    JobCreated | JobProcessing | JobCompleted | JobFailed | JobCancelled,
    Field(discriminator="type"),
]
"""Any event Pulse documents, told apart by its ``type`` field."""

EVENT_TYPES: Mapping[str, type[EventModel]] = event_type_map(
    JobCreated, JobProcessing, JobCompleted, JobFailed, JobCancelled
)
"""Event type string -> model class, in the order Pulse documents them."""

_ADAPTER: TypeAdapter[PulseEvent] = TypeAdapter(PulseEvent)
parse = make_parser("pulse", _ADAPTER, type_field="type")
"""Validate a raw body into its event model, or `UnknownEvent` for a new event type.

Raises `PayloadError` if the body is not JSON, not an object, or a known event that fails
validation.
"""
