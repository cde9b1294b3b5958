"""DocExtract events: extraction jobs, credit balance alerts, and the test event.

Every delivery is ``{event, data}``, with no top-level timestamp; ``webhook.test`` is what the
"send a test event" endpoint delivers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import AwareDatetime, Field, TypeAdapter

from ._base import EventModel, Open, WebhookModel, event_type_map, make_parser

__all__ = [
    "EVENT_TYPES",
    "CreditsDepleted",
    "CreditsDepletedData",
    "CreditsLowBalance",
    "CreditsLowBalanceData",
    "DocExtractEvent",
    "ErrorDetails",
    "JobCompleted",
    "JobCompletedData",
    "JobFailed",
    "JobFailedData",
    "WebhookTest",
    "WebhookTestData",
    "parse",
]


class JobCompletedData(WebhookModel):
    """The finished job in a ``job.completed`` event, with the extracted data."""

    id: str
    org_id: str
    extractor_id: str
    status: Open[Literal["completed"]]
    #: The fields the extractor defines, by name.
    extracted_data: dict[str, Any]
    #: Confidence per extracted field, from 0 to 1.
    confidence: dict[str, float]
    processing_time_ms: int
    cost_credits: int
    #: What you attached to the job; DocExtract's own handlers treat it as optional.
    metadata: dict[str, Any] | None = None
    created_at: AwareDatetime
    completed_at: AwareDatetime


class ErrorDetails(WebhookModel):
    """Why a DocExtract job failed, and what to do about it."""

    code: str
    message: str
    suggestion: str | None = None


class JobFailedData(WebhookModel):
    """The failed job in a ``job.failed`` event."""

    id: str
    org_id: str
    extractor_id: str
    status: Open[Literal["failed"]]
    error_details: ErrorDetails
    processing_time_ms: int
    cost_credits: int
    metadata: dict[str, Any] | None = None
    created_at: AwareDatetime
    failed_at: AwareDatetime


class CreditsLowBalanceData(WebhookModel):
    """The balance and threshold in a ``credits.low_balance`` event."""

    org_id: str
    current_balance: int
    threshold: int
    percentage_remaining: float
    estimated_jobs_remaining: int
    timestamp: AwareDatetime


class CreditsDepletedData(WebhookModel):
    """When credits ran out, and how many jobs wait, in a ``credits.depleted`` event."""

    org_id: str
    depleted_at: AwareDatetime
    jobs_queued: int


class WebhookTestData(WebhookModel):
    """The content of a ``webhook.test`` event."""

    message: str
    timestamp: AwareDatetime


class _Event(EventModel):
    """The envelope every DocExtract event shares; `event` is narrowed by each subclass."""

    event: str


class JobCompleted(_Event):
    """``job.completed``: an extraction job finished successfully."""

    event: Literal["job.completed"] = "job.completed"
    data: JobCompletedData


class JobFailed(_Event):
    """``job.failed``: an extraction job failed."""

    event: Literal["job.failed"] = "job.failed"
    data: JobFailedData


class CreditsLowBalance(_Event):
    """``credits.low_balance``: the credit balance fell below the configured threshold."""

    event: Literal["credits.low_balance"] = "credits.low_balance"
    data: CreditsLowBalanceData


class CreditsDepleted(_Event):
    """``credits.depleted``: the credit balance reached zero."""

    event: Literal["credits.depleted"] = "credits.depleted"
    data: CreditsDepletedData


class WebhookTest(_Event):
    """``webhook.test``: a test delivery sent on request to check the endpoint."""

    event: Literal["webhook.test"] = "webhook.test"
    data: WebhookTestData


DocExtractEvent: TypeAlias = Annotated[
    JobCompleted | JobFailed | CreditsLowBalance | CreditsDepleted | WebhookTest,
    Field(discriminator="event"),
]
"""Any event DocExtract documents, told apart by its ``event`` field."""

EVENT_TYPES: Mapping[str, type[EventModel]] = event_type_map(
    JobCompleted, JobFailed, CreditsLowBalance, CreditsDepleted, WebhookTest
)
"""Event type string -> model class, in the order DocExtract documents them."""

_ADAPTER: TypeAdapter[DocExtractEvent] = TypeAdapter(DocExtractEvent)
parse = make_parser("docextract", _ADAPTER)
"""Validate a raw body into its event model, or `UnknownEvent` for a new event type.

Raises `PayloadError` if the body is not JSON, not an object, or a known event that fails
validation.
"""
