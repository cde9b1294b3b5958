"""A sample payload for every documented event of every provider, as the provider sends it.

Where a provider's document shows an example, the sample is that example, with placeholders
(``[...]``, ``"..."``, ids cut short with ``...``) replaced by realistic values. Events the
documents list without an example get a payload built from the provider's envelope and the
fields its other events carry. Events appear in the order each provider documents them.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["SAMPLES", "sample"]

_IMGGO_JOB = "550e8400-e29b-41d4-a716-446655440000"
_PULSE_JOB = "123e4567-e89b-12d3-a456-426614174000"

SAMPLES: dict[str, dict[str, dict[str, Any]]] = {
    "struktr": {
        "document.completed": {
            "event": "document.completed",
            "timestamp": "2024-01-15T10:30:02Z",
            "data": {
                "id": "doc_abc123",
                "status": "completed",
                "pages": 3,
                "created_at": "2024-01-15T10:30:00Z",
                "completed_at": "2024-01-15T10:30:02Z",
                "data": {
                    "document_type": "invoice",
                    "confidence": 0.95,
                    "fields": {
                        "vendor_name": {"value": "Acme Corporation", "confidence": 0.98},
                        "total": {"value": 1547.50, "confidence": 0.96},
                    },
                    "tables": [
                        {
                            "page": 1,
                            "headers": ["Description", "Quantity", "Amount"],
                            "rows": [
                                ["Consulting services", "10", "1250.00"],
                                ["Travel expenses", "1", "297.50"],
                            ],
                        }
                    ],
                    "raw_text": (
                        "Acme Corporation\nInvoice INV-2024-001\n"
                        "Consulting services 10 1250.00\nTravel expenses 1 297.50\n"
                        "Total 1547.50"
                    ),
                },
            },
        },
        "document.failed": {
            "event": "document.failed",
            "timestamp": "2024-01-15T10:30:05Z",
            "data": {
                "id": "doc_xyz789",
                "status": "failed",
                "created_at": "2024-01-15T10:30:00Z",
                "error": {
                    "code": "processing_failed",
                    "message": "Unable to extract text from the document",
                    "details": {"reason": "corrupt_file"},
                },
            },
        },
        "batch.completed": {
            "event": "batch.completed",
            "timestamp": "2024-01-15T10:35:00Z",
            "data": {
                "batch_id": "batch_abc123",
                "status": "completed",
                "total": 5,
                "succeeded": 4,
                "failed": 1,
                "documents": [
                    {"id": "doc_1", "status": "completed"},
                    {"id": "doc_2", "status": "completed"},
                    {"id": "doc_3", "status": "completed"},
                    {"id": "doc_4", "status": "completed"},
                    {"id": "doc_5", "status": "failed"},
                ],
            },
        },
        "batch.progress": {
            "event": "batch.progress",
            "timestamp": "2024-01-15T10:32:00Z",
            "data": {"batch_id": "batch_abc123", "total": 5, "completed": 2, "pending": 3},
        },
    },
    "file_conversion": {
        # No example in the document: built from the envelope and document.completed's fields.
        "document.uploaded": {
            "event": "document.uploaded",
            "timestamp": "2023-06-15T10:34:50Z",
            "data": {
                "document_id": 123,
                "filename": "important_document.pdf",
                "status": "uploaded",
                "content_type": "pdf",
                "folder_id": 1,
            },
        },
        "document.processing": {
            "event": "document.processing",
            "timestamp": "2023-06-15T10:34:55Z",
            "data": {
                "document_id": 123,
                "filename": "important_document.pdf",
                "status": "processing",
                "content_type": "pdf",
                "folder_id": 1,
            },
        },
        "document.completed": {
            "event": "document.completed",
            "timestamp": "2023-06-15T10:35:00Z",
            "data": {
                "document_id": 123,
                "filename": "important_document.pdf",
                "status": "completed",
                "processing_time_ms": 5200,
                "content_type": "pdf",
                "folder_id": 1,
            },
        },
        "document.error": {
            "event": "document.error",
            "timestamp": "2023-06-15T10:35:00Z",
            "data": {
                "document_id": 124,
                "filename": "corrupted_file.pdf",
                "status": "error",
                "error_message": (
                    "Failed to extract text from PDF: File is corrupted or password protected"
                ),
                "folder_id": 1,
            },
        },
        "document.deleted": {
            "event": "document.deleted",
            "timestamp": "2023-06-16T09:00:00Z",
            "data": {
                "document_id": 123,
                "filename": "important_document.pdf",
                "status": "deleted",
                "folder_id": 1,
            },
        },
    },
    "imggo": {
        "job.completed": {
            "event": "job.completed",
            "job_id": _IMGGO_JOB,
            "pattern_id": "pat_2gYc3kZ8mN",
            "status": "completed",
            "result": {
                "vendor_name": "Acme Corporation",
                "invoice_number": "INV-2024-001",
                "invoice_date": "2024-01-15",
                "total_amount": 1942.92,
            },
            "confidence": 0.97,
            "processing_time_ms": 3420,
            "created_at": "2024-01-21T10:30:00Z",
            "completed_at": "2024-01-21T10:30:18Z",
        },
        "job.failed": {
            "event": "job.failed",
            "job_id": _IMGGO_JOB,
            "pattern_id": "pat_2gYc3kZ8mN",
            "status": "failed",
            "error": {"code": "invalid_image", "message": "Image URL is not accessible"},
            "created_at": "2024-01-21T10:30:00Z",
            "failed_at": "2024-01-21T10:30:05Z",
        },
        # No example in the document: the flat envelope with the job's id and creation time.
        "job.queued": {
            "event": "job.queued",
            "job_id": _IMGGO_JOB,
            "pattern_id": "pat_2gYc3kZ8mN",
            "status": "queued",
            "created_at": "2024-01-21T10:30:00Z",
        },
    },
    "docextract": {
        "job.completed": {
            "event": "job.completed",
            "data": {
                "id": "job_abc123",
                "org_id": "org_xyz789",
                "extractor_id": "ext_def456",
                "status": "completed",
                "extracted_data": {
                    "invoice_number": "INV-2024-001",
                    "total_amount": 1250.50,
                    "invoice_date": "2024-11-15",
                },
                "confidence": {"invoice_number": 0.98, "total_amount": 0.95, "invoice_date": 0.99},
                "processing_time_ms": 4532,
                "cost_credits": 2,
                "metadata": {"customer_id": "cust_123", "source": "email"},
                "created_at": "2024-11-23T10:00:00Z",
                "completed_at": "2024-11-23T10:00:05Z",
            },
        },
        "job.failed": {
            "event": "job.failed",
            "data": {
                "id": "job_abc123",
                "org_id": "org_xyz789",
                "extractor_id": "ext_def456",
                "status": "failed",
                "error_details": {
                    "code": "document_unreadable",
                    "message": "Document quality is too low to extract text",
                    "suggestion": "Please provide a higher quality scan or image",
                },
                "processing_time_ms": 1200,
                "cost_credits": 0,
                "metadata": {"customer_id": "cust_123"},
                "created_at": "2024-11-23T10:00:00Z",
                "failed_at": "2024-11-23T10:00:01Z",
            },
        },
        "credits.low_balance": {
            "event": "credits.low_balance",
            "data": {
                "org_id": "org_xyz789",
                "current_balance": 50,
                "threshold": 100,
                "percentage_remaining": 2.5,
                "estimated_jobs_remaining": 25,
                "timestamp": "2024-11-23T10:00:00Z",
            },
        },
        "credits.depleted": {
            "event": "credits.depleted",
            "data": {
                "org_id": "org_xyz789",
                "depleted_at": "2024-11-23T10:00:00Z",
                "jobs_queued": 5,
            },
        },
        "webhook.test": {
            "event": "webhook.test",
            "data": {
                "message": "This is a test webhook event",
                "timestamp": "2024-11-23T10:00:00Z",
            },
        },
    },
    "pulse": {
        # No example in the document for created, processing and cancelled: the envelope with
        # the job id and a plausible status (Pulse does not document their status values).
        "job.created": {
            "type": "job.created",
            "timestamp": "2024-01-15T10:29:47Z",
            "data": {"job_id": _PULSE_JOB, "status": "pending"},
        },
        "job.processing": {
            "type": "job.processing",
            "timestamp": "2024-01-15T10:29:48Z",
            "data": {"job_id": _PULSE_JOB, "status": "processing"},
        },
        "job.completed": {
            "type": "job.completed",
            "timestamp": "2024-01-15T10:30:00Z",
            "data": {
                "job_id": _PULSE_JOB,
                "status": "completed",
                "pages_processed": 25,
                "processing_time": 12.5,
            },
        },
        "job.failed": {
            "type": "job.failed",
            "timestamp": "2024-01-15T10:30:00Z",
            "data": {
                "job_id": _PULSE_JOB,
                "status": "failed",
                "error": "Document processing failed: Invalid PDF structure",
            },
        },
        "job.cancelled": {
            "type": "job.cancelled",
            "timestamp": "2024-01-15T10:30:00Z",
            "data": {"job_id": _PULSE_JOB, "status": "cancelled"},
        },
    },
}
"""Provider name -> event type -> payload. Do not mutate: `sample` returns copies."""


def sample(provider: str, event_type: str) -> dict[str, Any]:
    """Return a deep copy of the sample payload of one event, safe to modify.

    Raises `KeyError` naming the known providers, or the provider's known event types.
    """
    try:
        events = SAMPLES[provider]
    except KeyError:
        known = ", ".join(SAMPLES)
        raise KeyError(f"no samples for provider {provider!r}; known providers: {known}") from None
    try:
        payload = events[event_type]
    except KeyError:
        known = ", ".join(events)
        raise KeyError(
            f"{provider} has no sample for event {event_type!r}; known events: {known}"
        ) from None
    return copy.deepcopy(payload)
