"""Provider presets: verifier, parse and delivery key bundled per provider, and custom ones."""

from __future__ import annotations

import hashlib
from typing import Literal

import pytest
from pydantic import TypeAdapter

from tests.receiving import SECRETS
from webhook_kit import PayloadError, SignatureMismatchError, providers, testing
from webhook_kit.events import EventModel, UnknownEvent, WebhookModel, make_parser
from webhook_kit.providers import Provider
from webhook_kit.signatures import HexHmacVerifier

ALL_EVENTS = [
    (name, event_type)
    for name, provider in providers.PROVIDERS.items()
    for event_type in provider.event_types
]


@pytest.mark.parametrize(("name", "event_type"), ALL_EVENTS)
def test_signed_sample_verifies_and_parses(name: str, event_type: str) -> None:
    """A signed sample of every documented event goes from raw request to the right model."""
    provider = providers.get(name)
    body, headers = testing.signed_delivery(name, SECRETS[name], event_type)
    event = provider.verify_and_parse(body, headers, secret=SECRETS[name])
    assert type(event) is provider.event_types[event_type]
    assert event.event_type == event_type


@pytest.mark.parametrize("name", list(providers.PROVIDERS))
def test_tampered_delivery_is_refused(name: str) -> None:
    """The preset's verifier is really used: one changed byte is a signature mismatch."""
    provider = providers.get(name)
    event_type = next(iter(provider.event_types))
    body, headers = testing.signed_delivery(name, SECRETS[name], event_type)
    with pytest.raises(SignatureMismatchError):
        provider.verify_and_parse(body.replace(b"}", b" }", 1), headers, secret=SECRETS[name])


@pytest.mark.parametrize("name", list(providers.PROVIDERS))
def test_a_verifier_built_once_can_be_reused(name: str) -> None:
    """`verifier=` takes a verifier built once; calling without secret or verifier is refused."""
    provider = providers.get(name)
    verifier = provider.verifier([SECRETS[name], "old-secret" if name != "pulse" else b"old"])
    body, headers = testing.signed_delivery(name, SECRETS[name], next(iter(provider.event_types)))
    assert provider.verify_and_parse(body, headers, verifier=verifier) is not None
    with pytest.raises(TypeError, match="secret"):
        provider.verify_and_parse(body, headers)


def test_unknown_event_type_is_acknowledged_as_unknown_event() -> None:
    """A verified delivery of an event type we do not model parses into UnknownEvent."""
    payload = {"event": "document.archived", "timestamp": "2024-01-15T10:30:02Z", "data": {}}
    body, headers = testing.signed_delivery("struktr", SECRETS["struktr"], payload)
    event = providers.STRUKTR.verify_and_parse(body, headers, secret=SECRETS["struktr"])
    assert isinstance(event, UnknownEvent)
    assert event.payload == payload


def test_struktr_event_header_must_agree_with_the_body() -> None:
    """struktr's X-Struktr-Event header naming another event than the body is a PayloadError."""
    body, headers = testing.signed_delivery("struktr", SECRETS["struktr"], "document.completed")
    headers["X-Struktr-Event"] = "document.failed"
    with pytest.raises(PayloadError, match="X-Struktr-Event"):
        providers.STRUKTR.verify_and_parse(body, headers, secret=SECRETS["struktr"])


@pytest.mark.parametrize(
    ("name", "header"), [("struktr", "X-Struktr-Delivery"), ("pulse", "webhook-id")]
)
def test_delivery_key_is_the_senders_delivery_id(name: str, header: str) -> None:
    """struktr and Pulse deliveries are keyed by their delivery id header, stable across retries."""
    provider = providers.get(name)
    first = testing.signed_delivery(
        name,
        SECRETS[name],
        "job.completed" if name == "pulse" else "document.completed",
        delivery_id="dlv_1",
    )
    assert provider.delivery_key(*first) == "dlv_1" == first.headers[header]
    other = testing.signed_delivery(
        name, SECRETS[name], provider.parse(first.body).model_dump(mode="json", by_alias=True)
    )
    assert provider.delivery_key(*other) != "dlv_1"


def test_pulse_delivery_key_also_reads_svix_id() -> None:
    """A Pulse delivery sent with Svix's header names is keyed by `svix-id`."""
    assert providers.PULSE.delivery_key(b"{}", {"svix-id": "msg_1"}) == "msg_1"


@pytest.mark.parametrize("name", ["file_conversion", "imggo", "docextract"])
def test_delivery_key_without_a_delivery_id_is_the_body_hash(name: str) -> None:
    """Without a delivery id, retries (same bytes) share a key and other bodies do not."""
    provider = providers.get(name)
    event_type = next(iter(provider.event_types))
    body, headers = testing.signed_delivery(name, SECRETS[name], event_type)
    key = provider.delivery_key(body, headers)
    assert key.startswith("sha256:")
    assert key == provider.delivery_key(body, {})
    assert key != provider.delivery_key(body + b" ", headers)


def test_unknown_provider_name_lists_the_known_ones() -> None:
    """`providers.get` with a typo says which names exist."""
    with pytest.raises(KeyError, match="docextract, file_conversion, imggo, pulse, struktr"):
        providers.get("strukter")


class Order(WebhookModel):
    """An example custom payload."""

    id: str
    total: float


class OrderPaid(EventModel):
    """The one event of the example custom provider."""

    event: Literal["order.paid"]
    data: Order


def test_custom_provider_from_the_same_building_blocks() -> None:
    """A user-defined provider with its own header and model works like a built-in one."""
    acme = Provider(
        name="acme",
        title="Acme",
        make_verifier=lambda secret: HexHmacVerifier(secret, header="X-Acme-Signature"),
        parse=make_parser("acme", TypeAdapter(OrderPaid)),
        event_types={"order.paid": OrderPaid},
    )
    body = b'{"event":"order.paid","data":{"id":"o_1","total":12.5}}'
    headers = acme.verifier("acme-secret").sign(body)
    event = acme.verify_and_parse(body, headers, secret="acme-secret")
    assert isinstance(event, OrderPaid)
    assert event.data.total == 12.5


@pytest.mark.parametrize("name", list(providers.PROVIDERS))
def test_delivery_keys_add_the_body_digest_to_unsigned_ids(name: str) -> None:
    """An unsigned id header comes with the body's digest; a signed one or none stands alone."""
    preset = providers.get(name)
    body = b'{"event": "x"}'
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    assert preset.delivery_keys(body, {}) == (digest,)
    if preset.delivery_id_headers:
        with_id = {preset.delivery_id_headers[0]: "dlv_1"}
        expected = ("dlv_1",) if preset.delivery_id_signed else ("dlv_1", digest)
        assert preset.delivery_keys(body, with_id) == expected
        assert preset.delivery_key(body, with_id) == "dlv_1"
    assert preset.delivery_key(body, {}) == digest
