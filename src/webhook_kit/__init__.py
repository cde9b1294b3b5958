"""webhook-kit: receive webhooks safely.

Verify signatures over the raw bytes, parse typed events, run each delivery's handler once.
Framework adapters live in their own submodules (`webhook_kit.flask`, ...) and are never
imported from here, so ``import webhook_kit`` needs only pydantic.
"""

from __future__ import annotations

from .errors import (
    MalformedHeaderError,
    MissingHeaderError,
    PayloadError,
    SignatureMismatchError,
    StoreUnavailableError,
    TimestampOutOfToleranceError,
    VerificationError,
    WebhookError,
)
from .events import EventModel, UnknownEvent
from .providers import Provider
from .signatures import (
    Body,
    HeadersLike,
    HexHmacVerifier,
    Secret,
    StandardWebhooksVerifier,
    Verifier,
)

__all__ = [
    "Body",
    "EventModel",
    "HeadersLike",
    "HexHmacVerifier",
    "MalformedHeaderError",
    "MissingHeaderError",
    "PayloadError",
    "Provider",
    "Secret",
    "SignatureMismatchError",
    "StandardWebhooksVerifier",
    "StoreUnavailableError",
    "TimestampOutOfToleranceError",
    "UnknownEvent",
    "VerificationError",
    "Verifier",
    "WebhookError",
]
