"""Helpers for testing your own webhook receivers, without hand-rolling HMAC.

Every documented event of every provider has a sample payload, and `signed_delivery` turns a
sample (or your own payload) into the exact bytes and headers the provider would send::

    from webhook_kit import testing

    body, headers = testing.signed_delivery("struktr", "test-secret", "document.completed")
    response = client.post("/webhooks/struktr", data=body, headers=headers)
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, NamedTuple

from ._samples import SAMPLES
from ._samples import sample as _sample
from .providers import Provider, get
from .signatures import Now, Secret, StandardWebhooksVerifier, Verifier, _seconds

__all__ = ["Delivery", "event_types", "sample", "signed_delivery"]


class Delivery(NamedTuple):
    """A delivery as it arrives: the raw body and the headers, signature included."""

    body: bytes
    headers: dict[str, str]


def sample(provider: str | Provider, event_type: str) -> dict[str, Any]:
    """Return a fresh copy of the documented sample payload of one event."""
    return _sample(_name(provider), event_type)


def event_types(provider: str | Provider) -> list[str]:
    """Return the event types that have a sample, in the order the provider documents them."""
    return list(SAMPLES[_name(provider)])


def signed_delivery(
    provider: str | Provider,
    secret: Secret | Sequence[Secret],
    payload: str | Mapping[str, Any] | bytes,
    *,
    now: Now | None = None,
    delivery_id: str | None = None,
) -> Delivery:
    """Return the body and headers `provider` would send for `payload`, signed with `secret`.

    `payload` is an event type with a sample (``"document.completed"``), a JSON-able mapping, or
    raw bytes sent as they are. `delivery_id` fixes the delivery id where the provider sends one
    (struktr, Pulse), so that two calls make a retry of one delivery; by default each call has a
    new id. A receiver also knows a struktr delivery by its body (its id is not signed), so two
    calls with the same payload are one delivery there, whatever their ids.
    """
    preset = get(provider) if isinstance(provider, str) else provider
    if isinstance(payload, str):
        payload = sample(preset, payload)
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    event_type = payload.get("event") if isinstance(payload, Mapping) else None
    return _signed(
        preset,
        preset.verifier(secret),
        body,
        event_type if isinstance(event_type, str) else None,
        now=now,
        delivery_id=delivery_id or "dlv_" + secrets.token_hex(12),
    )


def _signed(
    preset: Provider,
    verifier: Verifier,
    body: bytes,
    event_type: str | None,
    *,
    now: Now | None,
    delivery_id: str,
) -> Delivery:
    """Sign `body` with `verifier` and add every header `preset` sends with a delivery."""
    headers = {"Content-Type": "application/json"}
    if preset.event_type_header and event_type is not None:
        headers[preset.event_type_header] = event_type
    if preset.timestamp_header:
        when = datetime.fromtimestamp(_seconds(now), tz=timezone.utc)
        headers[preset.timestamp_header] = when.isoformat().replace("+00:00", "Z")
    if isinstance(verifier, StandardWebhooksVerifier):
        headers |= verifier.sign(body, now=now, msg_id=delivery_id)  # the id is signed
    else:
        if preset.delivery_id_headers:
            headers[preset.delivery_id_headers[0]] = delivery_id
        headers |= verifier.sign(body, now=now)
    return Delivery(body, headers)


def _name(provider: str | Provider) -> str:
    return get(provider).name if isinstance(provider, str) else provider.name
