"""webhook-kit: receive webhooks safely.

Verify signatures over the raw bytes, parse typed events, run each delivery's handler once.
Framework adapters live in their own submodules (`webhook_kit.flask`, ...) and are never
imported from here, so ``import webhook_kit`` needs only pydantic.
"""

from __future__ import annotations

from .deadletters import DeadLetter, DeadLetterStore, SQLiteDeadLetters
from .defer import QueuedDelivery
from .errors import (
    LeaseLostError,
    MalformedHeaderError,
    MissingHeaderError,
    PayloadError,
    PayloadTooLargeError,
    QueueUnavailableError,
    SecretsUnavailableError,
    SignatureMismatchError,
    StoreUnavailableError,
    TimestampOutOfToleranceError,
    VerificationError,
    WebhookError,
)
from .events import EventModel, InvalidEvent, UnknownEvent
from .idempotency import AsyncIdempotencyStore, IdempotencyStore, MemoryStore, SQLiteStore
from .providers import Provider
from .receiver import Defer, Outcome, Receiver
from .replays import Replayed, replay
from .signatures import (
    Body,
    HeadersLike,
    HexHmacVerifier,
    Secret,
    SigningKey,
    StandardWebhooksVerifier,
    Verifier,
)
from .tenants import TenantSecrets, current_tenant

__all__ = [
    "AsyncIdempotencyStore",
    "Body",
    "DeadLetter",
    "DeadLetterStore",
    "Defer",
    "EventModel",
    "HeadersLike",
    "HexHmacVerifier",
    "IdempotencyStore",
    "InvalidEvent",
    "LeaseLostError",
    "MalformedHeaderError",
    "MemoryStore",
    "MissingHeaderError",
    "Outcome",
    "PayloadError",
    "PayloadTooLargeError",
    "Provider",
    "QueueUnavailableError",
    "QueuedDelivery",
    "Receiver",
    "Replayed",
    "SQLiteDeadLetters",
    "SQLiteStore",
    "Secret",
    "SecretsUnavailableError",
    "SignatureMismatchError",
    "SigningKey",
    "StandardWebhooksVerifier",
    "StoreUnavailableError",
    "TenantSecrets",
    "TimestampOutOfToleranceError",
    "UnknownEvent",
    "VerificationError",
    "Verifier",
    "WebhookError",
    "current_tenant",
    "replay",
]
