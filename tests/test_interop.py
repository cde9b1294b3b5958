"""Interoperability with independent implementations: the providers' samples and real peers."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timezone

import pytest
import standardwebhooks
import svix.webhooks
from hypothesis import given

from tests import strategies
from webhook_kit import HexHmacVerifier, SignatureMismatchError, StandardWebhooksVerifier

NOW = 1_704_067_200


def struktr_sample_verify(payload: str, signature: str, secret: str) -> bool:
    """struktr's documented Python sample, verbatim."""
    expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"sha256={expected}", signature)


def bare_hex_sample_sign(payload: bytes, secret: str) -> str:
    """What File Conversion, ImgGo and DocExtract document: the bare hex HMAC of the body."""
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


@given(body=strategies.text_bodies, secret=strategies.text_secrets)
def test_struktr_sample_code_agrees(body: str, secret: str) -> None:
    """Signatures we make pass struktr's sample; signatures its formula makes pass us."""
    verifier = HexHmacVerifier(secret, header="X-Struktr-Signature", prefix="sha256=")
    ours = verifier.sign(body.encode())["X-Struktr-Signature"]
    assert struktr_sample_verify(body, ours, secret)
    theirs = "sha256=" + bare_hex_sample_sign(body.encode(), secret)
    verifier.verify(body.encode(), {"X-Struktr-Signature": theirs})


@pytest.mark.parametrize(
    "header", ["X-Webhook-Signature", "X-ImgGo-Signature", "X-DocExtract-Signature"]
)
@given(body=strategies.bodies)
def test_bare_hex_providers_agree_with_documented_formula(header: str, body: bytes) -> None:
    """The three bare-hex providers' formula verifies with us, and we sign the same value."""
    verifier = HexHmacVerifier("provider-secret", header=header)
    theirs = bare_hex_sample_sign(body, "provider-secret")
    verifier.verify(body, {header: theirs})
    assert verifier.sign(body) == {header: theirs}


PEERS = {
    "standardwebhooks": standardwebhooks.Webhook,
    "svix": svix.webhooks.Webhook,
}


@pytest.mark.parametrize("peer", PEERS)
@given(
    body=strategies.text_bodies,
    secret=strategies.standard_secrets,
    msg_id=strategies.message_ids,
)
def test_peer_signatures_verify_with_us(peer: str, body: str, secret: str, msg_id: str) -> None:
    """A signature made by the standardwebhooks or svix package passes our verifier."""
    signer = PEERS[peer](secret)
    when = datetime.fromtimestamp(NOW, tz=timezone.utc)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(NOW),
        "webhook-signature": signer.sign(msg_id, when, body),
    }
    verifier = StandardWebhooksVerifier(secret)
    verifier.verify(body.encode(), headers, now=NOW)
    with pytest.raises(SignatureMismatchError):
        verifier.verify(body.encode() + b"!", headers, now=NOW)


@pytest.mark.parametrize("peer", PEERS)
@given(
    body=strategies.text_bodies,
    secret=strategies.standard_secrets,
    msg_id=strategies.message_ids,
)
def test_our_signatures_verify_with_peers(peer: str, body: str, secret: str, msg_id: str) -> None:
    """A signature we make passes the standardwebhooks and svix verifiers, byte for byte."""
    headers = StandardWebhooksVerifier(secret).sign(body.encode(), msg_id=msg_id)
    checker = PEERS[peer](secret)
    if isinstance(checker, standardwebhooks.Webhook):
        checker.verify(body.encode(), headers, json_parse=False)
    else:
        checker.verify(body.encode(), headers)
    when = datetime.fromtimestamp(int(headers["webhook-timestamp"]), tz=timezone.utc)
    assert headers["webhook-signature"] == checker.sign(msg_id, when, body)


def test_pulse_documented_header_shape() -> None:
    """Pulse's documented header example has the shape our signatures have: v1 + 44 base64."""
    documented = "v1,g0hM9SsE+OTPJTjfm/kBRBOlqPmYFYpwTEFfQK6UHdI="
    ours = StandardWebhooksVerifier(b"key").sign(b"{}", now=NOW)["webhook-signature"]
    assert len(ours) == len(documented)
    assert ours[:3] == documented[:3]
