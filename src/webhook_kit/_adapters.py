"""What the framework adapters share: naming routes, and refusing an oversized body."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable, Mapping

from .errors import PayloadTooLargeError
from .receiver import Outcome, Receiver

logger = logging.getLogger("webhook_kit")

Receivers = Receiver | Mapping[str, Receiver] | Iterable[Receiver]
"""One receiver, several (each routed at its provider's name), or a URL segment -> receiver map."""

METHODS = ("POST", "GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
"""Every standard method, so that the receiver, not the framework, answers 405 to all but POST."""


def by_segment(receivers: Receivers) -> dict[str, Receiver]:
    """Map each receiver to its URL segment: its provider's name unless a mapping says otherwise."""
    if isinstance(receivers, Receiver):
        return {receivers.provider.name: receivers}
    if isinstance(receivers, Mapping):
        return dict(receivers)
    named: dict[str, Receiver] = {}
    for receiver in receivers:
        if receiver.provider.name in named:
            raise ValueError(
                f"two receivers for {receiver.provider.name!r}: pass a mapping to give each "
                "its own URL segment"
            )
        named[receiver.provider.name] = receiver
    return named


def tenant_route(receiver: Receiver) -> bool:
    """Whether `receiver`'s route ends with the tenant: `TenantSecrets` without `tenant_header`."""
    return receiver.tenants is not None and receiver.tenant_header is None


def check_sync(receiver: Receiver, view: str) -> None:
    """Refuse a receiver with an async store or tenant lookup for a synchronous `view`."""
    store = receiver.store
    if store is not None and inspect.iscoroutinefunction(store.claim):
        raise TypeError(
            f"{store!r} is an async store, and {view} is synchronous: use its synchronous "
            "counterpart (RedisStore rather than AsyncRedisStore)"
        )
    if receiver.tenants is not None and receiver.tenants.is_async:
        raise TypeError(
            f"{receiver.tenants!r} has an async lookup, and {view} is synchronous: "
            "give TenantSecrets a plain function"
        )


def refused(receiver: Receiver, error: PayloadTooLargeError) -> Outcome:
    """The 413 outcome for a body refused before it reached the receiver, logged like others."""
    logger.info(
        "webhook provider=%s event=None key=None outcome=%s status=%d",
        receiver.provider.name,
        error.code,
        error.status_code,
    )
    return Outcome(error.status_code, {"error": error.code, "message": str(error)})


def content_length(value: str | None) -> int | None:
    """A declared Content-Length, or None when absent (chunked) or malformed."""
    if value is None or not value.strip().isdigit():
        return None
    return int(value)
