"""Deferred processing: acknowledge a verified delivery once it is queued, run handlers later.

::

    receiver = Receiver("struktr", secret=secret, store=store, defer=CeleryDefer(celery_app, ...))

With `defer`, `Receiver.handle` verifies and parses the request as usual, then hands a
`QueuedDelivery` to the defer's `submit` and answers **202** once the queue has accepted it (or
**503** with Retry-After when it has not: `QueueUnavailableError`). A worker later calls
`Receiver.process` with the queued body and headers, which claims, dispatches and completes
exactly like the inline path.

A queued delivery is plain data that JSON carries: the provider's name, the raw body (base64 in
JSON, so the bytes the signature covers survive exactly), the headers needed to verify and
deduplicate it again (and only those: no cookies or credentials reach the queue), the time
it was received, and, for a receiver with `TenantSecrets`, the tenant whose keys verify it (a
``"tenant"`` key the message has only then: a worker of an earlier version reads the rest). When
the receiver is traced (`webhook_kit.otel`), the headers also carry the request's trace context
(W3C ``traceparent``, ``tracestate``), which the worker continues. No pickled model crosses the
queue; the worker parses the body with its own models.

This module is the queued message's format, below the receiver; the `Defer` interface (`attach`
and `submit`) is declared by the receiver that calls it, in `webhook_kit.receiver`.
`webhook_kit.celery` implements it on Celery; anything with `attach` and `submit` will do.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._headers import HeadersLike
from .errors import MalformedHeaderError
from .signatures import StandardWebhooksVerifier

if TYPE_CHECKING:
    from .providers import Provider
    from .signatures import Verifier

__all__ = ["QueuedDelivery", "keep_headers", "kept_header_names"]

#: The version of the message layout `QueuedDelivery.to_message` writes.
MESSAGE_VERSION = 1


@dataclass(frozen=True)
class QueuedDelivery:
    """One verified delivery as it travels through a queue: provider, raw body, some headers."""

    #: The receiver's provider name: the worker finds its receiver by it.
    provider: str
    #: The raw body, exactly as received and verified.
    body: bytes = field(repr=False)
    #: The headers needed to verify it again and find its delivery id.
    headers: Mapping[str, str] = field(repr=False)
    #: When the request was received (seconds since the epoch): verification runs as of then.
    received_at: float
    #: The tenant it is addressed to, for a receiver with `TenantSecrets`; else None.
    tenant: str | None = None

    def to_message(self) -> dict[str, Any]:
        """This delivery as JSON-ready data (the body in base64)."""
        message = {
            "v": MESSAGE_VERSION,
            "provider": self.provider,
            "body": base64.b64encode(self.body).decode("ascii"),
            "headers": dict(self.headers),
            "received_at": self.received_at,
        }
        if self.tenant is not None:
            message["tenant"] = self.tenant
        return message

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> QueuedDelivery:
        """Read what `to_message` wrote; `ValueError` if it is not such a message."""
        try:
            if message["v"] != MESSAGE_VERSION:
                raise ValueError(f"unknown queued delivery version {message['v']!r}")
            headers = message["headers"]
            if not isinstance(headers, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
            ):
                raise ValueError("headers must map strings to strings")
            tenant = message.get("tenant")
            if tenant is not None and not isinstance(tenant, str):
                raise ValueError("tenant must be a string")
            return cls(
                provider=str(message["provider"]),
                body=base64.b64decode(message["body"], validate=True),
                headers=dict(headers),
                received_at=float(message["received_at"]),
                tenant=tenant,
            )
        except (KeyError, TypeError, binascii.Error) as exc:
            raise ValueError(f"not a queued webhook delivery: {exc!r}") from exc


def kept_header_names(provider: Provider, verifier: Verifier) -> frozenset[str]:
    """The lower-case names of the headers a queued delivery keeps for `provider`'s deliveries.

    Those the verifier signs (found by signing an empty object: `Verifier.sign` returns exactly
    the headers `verify` reads), Standard Webhooks' ``svix-*`` spellings of ``webhook-*`` ones,
    and the provider's delivery id, event type and timestamp headers.
    """
    try:
        signed = verifier.sign(b"{}")
    except ValueError:
        if not isinstance(verifier, StandardWebhooksVerifier):
            raise
        # Only whpk_ public keys: it cannot sign, and reads what any Standard Webhooks one writes.
        signed = StandardWebhooksVerifier(b"header names only").sign(b"{}")
    names = {name.lower() for name in signed}
    names |= {
        "svix-" + name.removeprefix("webhook-") for name in names if name.startswith("webhook-")
    }
    optional = (provider.event_type_header, provider.timestamp_header)
    names |= {name.lower() for name in (*provider.delivery_id_headers, *optional) if name}
    return frozenset(names)


def keep_headers(headers: HeadersLike, names: Iterable[str]) -> dict[str, str]:
    """The headers among `names` (lower-case) that are present, under their lower-case names.

    What `get_header` finds for each name, but absent names cost one scan of `headers` in all,
    not one each: Standard Webhooks providers keep the ``svix-*`` spellings too, which are
    usually absent.
    """
    kept = {}
    missing = set()
    for name in names:
        value = headers.get(name)
        if value is None:
            missing.add(name)
        else:
            kept[name] = _text(name, value)
    if missing:
        for raw_key, item in headers.items():
            key = raw_key.decode("latin-1") if isinstance(raw_key, bytes) else raw_key
            if isinstance(key, str) and (lower := key.lower()) in missing:
                missing.discard(lower)  # the first one wins, as in `get_header`
                kept[lower] = _text(lower, item)
    return kept


def _text(name: str, value: object) -> str:
    """A header value as text, as `get_header` returns it (bytes are Latin-1)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("latin-1")
    raise MalformedHeaderError(name, f"expected text, got {type(value).__name__}")
