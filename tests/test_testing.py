"""The test kit users call from their own suites: samples and signed deliveries."""

from __future__ import annotations

import json

import pytest

from webhook_kit import providers, testing


@pytest.mark.parametrize("name", list(providers.PROVIDERS))
def test_every_documented_event_has_a_sample(name: str) -> None:
    """The kit has a sample for exactly the event types each provider's models cover."""
    assert set(testing.event_types(name)) == set(providers.get(name).event_types)


def test_samples_are_fresh_copies() -> None:
    """Changing a returned sample does not change the next one."""
    first = testing.sample("struktr", "document.completed")
    first["data"]["id"] = "changed"
    assert testing.sample("struktr", "document.completed")["data"]["id"] == "doc_abc123"


def test_unknown_sample_names_the_known_ones() -> None:
    """Asking for an event without a sample fails with the list of those that exist."""
    with pytest.raises(KeyError, match=r"document\.completed"):
        testing.sample("struktr", "document.archived")


def test_raw_bytes_are_sent_as_they_are() -> None:
    """A bytes payload is signed and sent byte for byte, whitespace and all."""
    raw = b'{ "event": "job.completed",  "job_id": "j1" }'
    body, headers = testing.signed_delivery("imggo", "s", raw)
    assert body == raw
    providers.IMGGO.verifier("s").verify(body, headers)


def test_struktr_deliveries_carry_the_documented_headers() -> None:
    """struktr deliveries have the event, delivery, timestamp and signature headers."""
    body, headers = testing.signed_delivery("struktr", "s", "batch.progress", delivery_id="d1")
    assert headers["X-Struktr-Event"] == "batch.progress" == json.loads(body)["event"]
    assert headers["X-Struktr-Delivery"] == "d1"
    assert headers["X-Struktr-Timestamp"].endswith("Z")
    assert headers["X-Struktr-Signature"].startswith("sha256=")


def test_each_call_is_a_new_delivery_unless_the_id_is_fixed() -> None:
    """Two calls make two deliveries; the same `delivery_id` makes a retry of one."""
    a = testing.signed_delivery("pulse", b"key", "job.created")
    b = testing.signed_delivery("pulse", b"key", "job.created")
    assert a.headers["webhook-id"] != b.headers["webhook-id"]
    c = testing.signed_delivery("pulse", b"key", "job.created", delivery_id="msg_1")
    d = testing.signed_delivery("pulse", b"key", "job.created", delivery_id="msg_1")
    assert c.headers["webhook-id"] == d.headers["webhook-id"] == "msg_1"
