"""webhook-kit: receive webhooks safely.

Verify signatures over the raw bytes, parse typed events, run each delivery's handler once.
Framework adapters live in their own submodules (`webhook_kit.flask`, ...) and are never
imported from here, so ``import webhook_kit`` needs only pydantic. Each public name below is
imported the first time it is read, so a serverless function pays for what it uses.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # what typing.TYPE_CHECKING is, without importing typing
if TYPE_CHECKING:
    from typing import Any

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

#: Where each public name lives: it is imported on first use, so that ``import webhook_kit`` costs
#: next to nothing and a receiver loads only what it needs (see "Cold start" in
#: docs/performance.md).
_SOURCES = {
    "AsyncIdempotencyStore": ".idempotency",
    "Body": ".signatures",
    "DeadLetter": ".deadletters",
    "DeadLetterStore": ".deadletters",
    "Defer": ".receiver",
    "EventModel": ".events",
    "HeadersLike": ".signatures",
    "HexHmacVerifier": ".signatures",
    "IdempotencyStore": ".idempotency",
    "InvalidEvent": ".events",
    "LeaseLostError": ".errors",
    "MalformedHeaderError": ".errors",
    "MemoryStore": ".idempotency",
    "MissingHeaderError": ".errors",
    "Outcome": ".receiver",
    "PayloadError": ".errors",
    "PayloadTooLargeError": ".errors",
    "Provider": ".providers",
    "QueueUnavailableError": ".errors",
    "QueuedDelivery": ".defer",
    "Receiver": ".receiver",
    "Replayed": ".replays",
    "SQLiteDeadLetters": ".deadletters",
    "SQLiteStore": ".idempotency",
    "Secret": ".signatures",
    "SecretsUnavailableError": ".errors",
    "SignatureMismatchError": ".errors",
    "SigningKey": ".signatures",
    "StandardWebhooksVerifier": ".signatures",
    "StoreUnavailableError": ".errors",
    "TenantSecrets": ".tenants",
    "TimestampOutOfToleranceError": ".errors",
    "UnknownEvent": ".events",
    "VerificationError": ".errors",
    "Verifier": ".signatures",
    "WebhookError": ".errors",
    "current_tenant": ".tenants",
    "replay": ".replays",
}

#: The submodules that ``webhook_kit.<name>`` reaches without importing them first.
_SUBMODULES = frozenset(
    {
        "deadletters",
        "defer",
        "errors",
        "events",
        "idempotency",
        "providers",
        "receiver",
        "replays",
        "signatures",
        "tenants",
        "testing",
    }
)


def __getattr__(name: str) -> Any:
    """Import a public name (or a core submodule) the first time it is read."""
    source = _SOURCES.get(name)
    if source is not None:
        value = getattr(importlib.import_module(source, __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later reads are plain attribute lookups
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__} - {"TYPE_CHECKING"})
