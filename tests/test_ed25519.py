"""Standard Webhooks v1a: ed25519 signatures verified against the configured public keys."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from tests import strategies
from webhook_kit import (
    MalformedHeaderError,
    Receiver,
    SignatureMismatchError,
    StandardWebhooksVerifier,
    TimestampOutOfToleranceError,
    VerificationError,
    testing,
)
from webhook_kit._ed25519 import MAX_CHECKS
from webhook_kit._keys import fingerprint
from webhook_kit.cli import cli
from webhook_kit.deadletters import SQLiteDeadLetters
from webhook_kit.defer import kept_header_names

ROOT = Path(__file__).resolve().parent.parent

#: The Standard Webhooks libraries' test message. The spec gives no v1a key pair for it (its one
#: v1a example is for another message and comes without the public key), so the key pair and
#: signature below were made once with `cryptography`; ed25519 signatures are deterministic.
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_PUBLIC_KEY = "whpk_uuQ+1isi+a6jTz8JO/zV5NhWaBnfxoPLmbQYqMFxhgQ="
SPEC_SIGNATURE = (
    "v1a,ebFhiRxYcEgFTDetM68MbrMEC1VzT7ro3jqhfw24y6OvlVpRgYKHP5kw6QQhYbkEzlMT86e3j8Sx7M8O+VL7BA=="
)
SPEC_HEADERS = {
    "webhook-id": SPEC_ID,
    "webhook-timestamp": str(SPEC_TIMESTAMP),
    "webhook-signature": SPEC_SIGNATURE,
}

NOW = 1_704_067_200
BODY = b'{"type":"job.completed","data":{"job_id":"123"}}'
HMAC_SECRET = "whsec_" + base64.b64encode(b"pulse-hmac-key-0123456789ab").decode()


def keys(seed: bytes) -> tuple[str, str, str]:
    """The `whsk_` seed form, the 64-byte seed + public form, and the `whpk_` key of `seed`."""
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    return (
        "whsk_" + base64.b64encode(seed).decode(),
        "whsk_" + base64.b64encode(seed + public).decode(),
        "whpk_" + base64.b64encode(public).decode(),
    )


SECRET_KEY, SECRET_KEY_64, PUBLIC_KEY = keys(bytes(range(32)))
_, _, OTHER_PUBLIC_KEY = keys(bytes(range(1, 33)))


def signed(body: bytes, seed: bytes, msg_id: str = "msg_1", timestamp: int = NOW) -> dict[str, str]:
    """Headers signed with `cryptography` directly, as an independent sender would."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    signature = Ed25519PrivateKey.from_private_bytes(seed).sign(content)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1a," + base64.b64encode(signature).decode(),
    }


# The spec's message, and signatures made elsewhere


def test_spec_message_verifies_with_its_public_key() -> None:
    """The v1a vector for the spec's test message verifies with the public key alone."""
    verifier = StandardWebhooksVerifier(SPEC_PUBLIC_KEY)
    verifier.verify(SPEC_BODY, SPEC_HEADERS, now=SPEC_TIMESTAMP)
    with pytest.raises(SignatureMismatchError):
        StandardWebhooksVerifier(PUBLIC_KEY).verify(SPEC_BODY, SPEC_HEADERS, now=SPEC_TIMESTAMP)


@pytest.mark.parametrize("field", ["body", "webhook-id", "webhook-timestamp", "signature"])
@given(index=st.integers(min_value=0), bit=st.integers(min_value=0, max_value=7))
def test_spec_message_with_any_byte_changed_fails(field: str, index: int, bit: int) -> None:
    """Changing any byte of the body, id, timestamp or signature makes verification fail."""
    verifier = StandardWebhooksVerifier(SPEC_PUBLIC_KEY)
    body, headers = SPEC_BODY, dict(SPEC_HEADERS)
    if field == "body":
        body = _flip(body, index, bit)
    elif field == "signature":
        raw = base64.b64decode(SPEC_SIGNATURE[4:])
        headers["webhook-signature"] = "v1a," + base64.b64encode(_flip(raw, index, bit)).decode()
    else:
        headers[field] = _flip(headers[field].encode(), index, bit).decode("latin-1")
    with pytest.raises(VerificationError):
        verifier.verify(body, headers, now=SPEC_TIMESTAMP)


def _flip(value: bytes, index: int, bit: int) -> bytes:
    index %= len(value)
    return value[:index] + bytes([value[index] ^ (1 << bit)]) + value[index + 1 :]


@given(
    seed=strategies.ed25519_seeds,
    body=strategies.bodies,
    msg_id=strategies.message_ids,
)
def test_signatures_made_with_cryptography_verify(seed: bytes, body: bytes, msg_id: str) -> None:
    """A signature `cryptography` makes over id.timestamp.body passes with the whpk_ key."""
    headers = signed(body, seed, msg_id)
    StandardWebhooksVerifier(keys(seed)[2]).verify(body, headers, now=NOW)
    with pytest.raises(SignatureMismatchError):
        StandardWebhooksVerifier(OTHER_PUBLIC_KEY).verify(body, headers, now=NOW)


# Round trips


@given(seed=strategies.ed25519_seeds, body=strategies.bodies, form=st.sampled_from([0, 1]))
def test_signed_body_verifies_with_the_public_key(seed: bytes, body: bytes, form: int) -> None:
    """sign() with either whsk_ form passes a verifier holding only the matching whpk_ key."""
    secret_key, public_key = keys(seed)[form], keys(seed)[2]
    headers = StandardWebhooksVerifier(secret_key).sign(body, now=NOW)
    assert headers["webhook-signature"].startswith("v1a,")
    StandardWebhooksVerifier(public_key).verify(body, headers, now=NOW)
    StandardWebhooksVerifier(secret_key).verify(body, headers, now=NOW)


@given(
    seed=strategies.ed25519_seeds,
    body=strategies.bodies.filter(bool),
    index=st.integers(min_value=0),
    bit=st.integers(min_value=0, max_value=7),
)
def test_any_changed_body_byte_is_a_mismatch(
    seed: bytes, body: bytes, index: int, bit: int
) -> None:
    """Changing one bit of a signed body fails with a mismatch, not another error."""
    headers = StandardWebhooksVerifier(keys(seed)[0]).sign(body, now=NOW)
    with pytest.raises(SignatureMismatchError):
        StandardWebhooksVerifier(keys(seed)[2]).verify(_flip(body, index, bit), headers, now=NOW)


def test_both_secret_key_forms_sign_alike() -> None:
    """The 32-byte seed and the 64-byte seed + public form of a whsk_ key are one key."""
    one = StandardWebhooksVerifier(SECRET_KEY).sign(BODY, now=NOW, msg_id="msg_1")
    assert StandardWebhooksVerifier(SECRET_KEY_64).sign(BODY, now=NOW, msg_id="msg_1") == one
    assert one == signed(BODY, bytes(range(32)))


# v1 and v1a together


def _both(body: bytes) -> str:
    """A header with a v1 (HMAC) and a v1a (ed25519) signature of `body`, as a sender rotating."""
    v1 = StandardWebhooksVerifier(HMAC_SECRET).sign(body, now=NOW, msg_id="msg_1")
    v1a = StandardWebhooksVerifier(SECRET_KEY).sign(body, now=NOW, msg_id="msg_1")
    return f"{v1['webhook-signature']} {v1a['webhook-signature']}"


@pytest.mark.parametrize(
    "secret",
    [HMAC_SECRET, PUBLIC_KEY, [HMAC_SECRET, PUBLIC_KEY], [PUBLIC_KEY, HMAC_SECRET]],
    ids=["v1-only", "v1a-only", "hmac-first", "public-first"],
)
def test_v1_and_v1a_together_either_valid_one_passes(secret: Any) -> None:
    """With both kinds in the header, a verifier holding either kind of key passes."""
    headers = signed(BODY, bytes(range(32)), "msg_1") | {"webhook-signature": _both(BODY)}
    verifier = StandardWebhooksVerifier(secret)
    verifier.verify(BODY, headers, now=NOW)
    with pytest.raises(SignatureMismatchError):
        verifier.verify(BODY + b" ", headers, now=NOW)


@pytest.mark.parametrize("broken", [0, 1], ids=["v1-broken", "v1a-broken"])
def test_one_valid_signature_of_either_kind_is_enough(broken: int) -> None:
    """A wrong v1 beside a right v1a passes, and a wrong v1a beside a right v1."""
    entries = _both(BODY).split(" ")
    entries[broken] = ["v1," + "A" * 43 + "=", "v1a," + "A" * 86 + "=="][broken]
    headers = signed(BODY, bytes(range(32)), "msg_1") | {"webhook-signature": " ".join(entries)}
    StandardWebhooksVerifier([HMAC_SECRET, PUBLIC_KEY]).verify(BODY, headers, now=NOW)


def test_keys_in_headers_are_never_trusted() -> None:
    """A delivery signed with a key of the sender's choosing fails, whatever headers name it."""
    attacker = bytes(range(100, 132))
    headers = signed(BODY, attacker) | {
        "webhook-public-key": keys(attacker)[2],
        "webhook-key": keys(attacker)[2],
    }
    with pytest.raises(SignatureMismatchError):
        StandardWebhooksVerifier(PUBLIC_KEY).verify(BODY, headers, now=NOW)


def test_timestamp_window_applies_to_v1a() -> None:
    """A v1a delivery outside the tolerance is refused like a v1 one."""
    headers = StandardWebhooksVerifier(SECRET_KEY).sign(BODY, now=NOW)
    with pytest.raises(TimestampOutOfToleranceError):
        StandardWebhooksVerifier(PUBLIC_KEY).verify(BODY, headers, now=NOW + 301)


# Malformed entries and the work bound


class CountingKey:
    """A public key that counts its verify() calls."""

    def __init__(self, key: Any) -> None:
        self.key = key
        self.calls = 0

    def verify(self, signature: bytes, data: bytes) -> None:
        """Verify with the wrapped key, counting the call."""
        self.calls += 1
        self.key.verify(signature, data)


def counting(verifier: StandardWebhooksVerifier) -> list[CountingKey]:
    """Wrap the verifier's public keys so that a test can count the ed25519 checks."""
    wrapped = [CountingKey(key) for key in verifier._v1a.public]  # type: ignore[union-attr]
    verifier._v1a.public = tuple(wrapped)  # type: ignore[union-attr, assignment]
    return wrapped


GOOD = SPEC_SIGNATURE[4:]  # has both a + and a /, for the urlsafe case


@pytest.mark.parametrize(
    "entry",
    [
        "v1a," + GOOD.replace("+", "-").replace("/", "_"),  # urlsafe alphabet
        "v1a," + GOOD.rstrip("="),  # unpadded
        "v1a," + GOOD[:-3] + "B==",  # non-canonical: the last digit's unused bits set
        "v1a," + GOOD[:-4] + "==",  # too short
        "v1a," + GOOD + "AAAA",  # too long
        "v1a " + GOOD,
        "V1A," + GOOD,
        "v1a," + GOOD[:40] + "é" + GOOD[41:],
    ],
    ids=["urlsafe", "unpadded", "non-canonical", "short", "long", "space", "upper", "non-ascii"],
)
def test_malformed_v1a_entries_are_refused_without_any_check(entry: str) -> None:
    """A v1a entry not in standard, padded, canonical base64 of 64 bytes is malformed, unchecked."""
    verifier = StandardWebhooksVerifier(SPEC_PUBLIC_KEY)
    counted = counting(verifier)
    headers = SPEC_HEADERS | {"webhook-signature": entry}
    with pytest.raises(MalformedHeaderError, match=r"v1a,<base64>"):
        verifier.verify(SPEC_BODY, headers, now=SPEC_TIMESTAMP)
    assert counted[0].calls == 0


@pytest.mark.parametrize("count", [MAX_CHECKS + 1, 5000])
def test_too_many_v1a_signatures_are_refused_before_any_check(count: int) -> None:
    """More signatures x keys than the bound is a 401 MalformedHeaderError, with no ed25519 work."""
    verifier = StandardWebhooksVerifier(PUBLIC_KEY)
    counted = counting(verifier)
    right = signed(BODY, bytes(range(32)))
    listed = " ".join(["v1a," + "A" * 86 + "=="] * (count - 1) + [right["webhook-signature"]])
    with pytest.raises(
        MalformedHeaderError, match=f"at most {MAX_CHECKS} ed25519 checks"
    ) as caught:
        verifier.verify(BODY, right | {"webhook-signature": listed}, now=NOW)
    assert caught.value.status_code == 401
    assert counted[0].calls == 0


def test_the_bound_counts_signatures_times_keys() -> None:
    """With two keys, half the signatures reach the bound; at the bound every pair is tried."""
    verifier = StandardWebhooksVerifier([OTHER_PUBLIC_KEY, PUBLIC_KEY])
    counted = counting(verifier)
    wrong = "v1a," + "A" * 86 + "=="
    at_bound = " ".join([wrong] * (MAX_CHECKS // 2))
    headers = signed(BODY, bytes(range(32)))
    with pytest.raises(SignatureMismatchError):
        verifier.verify(BODY, headers | {"webhook-signature": at_bound}, now=NOW)
    assert sum(key.calls for key in counted) == MAX_CHECKS
    right = headers["webhook-signature"]
    verifier.verify(BODY, headers | {"webhook-signature": f"{at_bound[5:]} {right}"}, now=NOW)
    with pytest.raises(MalformedHeaderError):
        verifier.verify(BODY, headers | {"webhook-signature": f"{at_bound} {right}"}, now=NOW)


def test_hmac_only_verifier_ignores_v1a_entries() -> None:
    """Without a whpk_ key, v1a entries are skipped like any other version: no ed25519 work."""
    headers = StandardWebhooksVerifier(SECRET_KEY).sign(BODY, now=NOW)
    with pytest.raises(MalformedHeaderError, match=r"v1,<base64>"):
        StandardWebhooksVerifier(HMAC_SECRET).verify(BODY, headers, now=NOW)


@given(data=st.data())
def test_header_garbage_raises_only_verification_errors(data: st.DataObject) -> None:
    """Arbitrary values in the three headers raise VerificationError and nothing else."""
    verifier = StandardWebhooksVerifier([HMAC_SECRET, SPEC_PUBLIC_KEY])
    headers: dict[str, Any] = dict(SPEC_HEADERS)
    for name in list(headers):
        if data.draw(st.booleans()):
            headers[name] = data.draw(
                st.one_of(strategies.garbage_values, st.just(" ".join(["v1a," + GOOD] * 20)))
            )
    error: VerificationError | None = None
    try:
        verifier.verify(SPEC_BODY, headers, now=SPEC_TIMESTAMP)
    except VerificationError as exc:
        error = exc
    if error is not None:
        assert error.status_code == 401


# Configuration


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("whpk_" + base64.b64encode(bytes(31)).decode(), "32 bytes, got 31"),
        ("whpk_" + base64.b64encode(bytes(64)).decode(), "32 bytes, got 64"),
        ("whsk_" + base64.b64encode(bytes(48)).decode(), "got 48 bytes"),
        ("whsk_" + base64.b64encode(bytes(65)).decode(), "got 65 bytes"),
        ("whsk_" + base64.b64encode(bytes(range(32)) + bytes(32)).decode(), "not the public key"),
        ("whpk_!!not-base64!!", "standard base64"),
        (SPEC_PUBLIC_KEY.replace("+", "-"), "standard base64"),
        (PUBLIC_KEY + "\n", "whitespace"),
        ([HMAC_SECRET, PUBLIC_KEY + "\n"], "secret 2 of 2 starts or ends with whitespace"),
        ([PUBLIC_KEY] * (MAX_CHECKS + 1), f"at most {MAX_CHECKS}"),
    ],
    ids=[
        "public-short",
        "public-long",
        "secret-48",
        "secret-65",
        "secret-64-wrong-public-half",
        "not-base64",
        "urlsafe",
        "newline",
        "newline-in-list",
        "too-many",
    ],
)
def test_unusable_keys_are_refused_when_configured(secret: Any, message: str) -> None:
    """A whpk_ or whsk_ key of the wrong size or form is a ValueError naming the problem."""
    with pytest.raises(ValueError, match=message) as caught:
        StandardWebhooksVerifier(secret)
    assert PUBLIC_KEY[5:20] not in str(caught.value)


def test_public_key_cannot_sign() -> None:
    """sign() with a whpk_ key first is a ValueError saying to put a whsk_ key first."""
    with pytest.raises(ValueError, match="put a whsk_ secret key"):
        StandardWebhooksVerifier([PUBLIC_KEY, HMAC_SECRET]).sign(BODY)
    headers = StandardWebhooksVerifier([HMAC_SECRET, PUBLIC_KEY]).sign(BODY, now=NOW)
    assert headers["webhook-signature"].startswith("v1,")


def test_hex_encoding_refuses_ed25519_keys() -> None:
    """Pulse's hex mode has no v1a: a whpk_ key there is refused, not used as an HMAC key."""
    with pytest.raises(ValueError, match="encoding='base64'"):
        StandardWebhooksVerifier(PUBLIC_KEY, encoding="hex")


def test_pulse_receiver_takes_public_keys() -> None:
    """A Pulse Receiver with only a whpk_ key accepts a v1a delivery and refuses a forged one."""
    receiver = Receiver("pulse", secret=PUBLIC_KEY)
    seen: list[str] = []
    receiver.on("job.completed")(lambda event: seen.append(event.data.job_id))
    body, headers = testing.signed_delivery("pulse", SECRET_KEY, "job.completed")
    assert receiver.handle(body, headers).status == 200
    assert seen == ["123e4567-e89b-12d3-a456-426614174000"]
    forged = testing.signed_delivery("pulse", keys(bytes(32))[0], "job.completed")
    assert receiver.handle(forged.body, forged.headers).status == 401


def test_public_keys_only_receiver_keeps_the_signed_headers(tmp_path: Path) -> None:
    """A receiver that cannot sign still knows which headers a dead letter must keep."""
    letters = SQLiteDeadLetters(tmp_path / "dead.sqlite3")
    receiver = Receiver("pulse", secret=[PUBLIC_KEY], dead_letters=letters)
    kept = kept_header_names(receiver.provider, receiver.verifier)
    assert {"webhook-id", "webhook-timestamp", "webhook-signature", "svix-signature"} <= kept
    letters.close()


# The command line


def test_cli_signs_with_a_secret_key_and_verifies_with_the_public_key(tmp_path: Path) -> None:
    """`webhook-kit sign` with a whsk_ key makes a v1a delivery `verify` passes with whpk_."""
    body = tmp_path / "body.json"
    body.write_bytes(json.dumps(testing.sample("pulse", "job.completed")).encode())
    signing = CliRunner().invoke(cli, ["sign", str(body), "-p", "pulse", "-s", SECRET_KEY])
    assert signing.exit_code == 0, signing.output
    assert "webhook-signature: v1a," in signing.output
    headers = tmp_path / "headers.txt"
    headers.write_text(signing.output)
    command = ["verify", "-p", "pulse", "--headers", str(headers), "--body", str(body)]
    assert CliRunner().invoke(cli, [*command, "-s", PUBLIC_KEY]).exit_code == 0
    assert CliRunner().invoke(cli, [*command, "-s", OTHER_PUBLIC_KEY]).exit_code == 1


def test_cli_refuses_to_sign_with_a_public_key(tmp_path: Path) -> None:
    """`webhook-kit sign` with a whpk_ key is a usage error saying to put a whsk_ key first."""
    body = tmp_path / "body.json"
    body.write_bytes(b"{}")
    result = CliRunner().invoke(cli, ["sign", str(body), "-p", "pulse", "-s", PUBLIC_KEY])
    assert result.exit_code == 2
    assert "cannot sign" in result.output
    assert "put a whsk_ secret key" in result.output


# Without the extra

#: Code run first in a child process: cryptography cannot be imported, as without the extra.
_BLOCK_CRYPTOGRAPHY = """
import sys

class Missing:
    def find_spec(self, name, path=None, target=None):
        if name == "cryptography" or name.startswith("cryptography."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Missing())
"""

_WITHOUT_CRYPTOGRAPHY = (
    _BLOCK_CRYPTOGRAPHY
    + """
from webhook_kit import StandardWebhooksVerifier  # the root never needs cryptography
StandardWebhooksVerifier("whsec_a2V5LWtleS1rZXkta2V5LWtleS1rZXk=").sign(b"{}")
try:
    StandardWebhooksVerifier(%r)
except ImportError as exc:
    print(exc)
else:
    print("configured")
"""
)

_CLI_WITHOUT_CRYPTOGRAPHY = (
    _BLOCK_CRYPTOGRAPHY
    + """
from webhook_kit.cli import main
sys.argv = ["webhook-kit", "sign", "-", "-p", "pulse", "-s", %r]
main()
"""
)


def test_missing_extra_names_it() -> None:
    """Without cryptography, webhook_kit imports; a whpk_ key is an ImportError naming the extra."""
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", _WITHOUT_CRYPTOGRAPHY % PUBLIC_KEY],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'webhook-kit[ed25519]'" in result.stdout, result.stdout


def test_cli_without_the_extra_names_it() -> None:
    """Without cryptography, `webhook-kit sign` with a whsk_ key says which extra to install."""
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", _CLI_WITHOUT_CRYPTOGRAPHY % SECRET_KEY],
        capture_output=True,
        text=True,
        input="{}",
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 1, result.stderr
    assert "pip install 'webhook-kit[ed25519]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_matched_public_key_is_reported_by_its_fingerprint() -> None:
    """A v1a delivery reports which public key verified it (a fingerprint), as v1 ones do."""
    verifier = StandardWebhooksVerifier([HMAC_SECRET, OTHER_PUBLIC_KEY, PUBLIC_KEY])
    key_id = verifier.verify(BODY, signed(BODY, bytes(range(32))), now=NOW)
    public = base64.b64decode(PUBLIC_KEY.removeprefix("whpk_"))
    assert key_id == fingerprint(public)
    assert key_id not in verifier.key_ids  # the HMAC keys' ids; this one is the ed25519 key's
    receiver = Receiver("pulse", secret=[PUBLIC_KEY])
    outcome = receiver.process(BODY, signed(BODY, bytes(range(32))), received_at=NOW)
    assert outcome.key_id == key_id
