"""Verification cost: our verifiers beside the raw `hmac` floor and the peer libraries.

Run with ``make bench`` (or ``.venv/bin/python -m benchmarks.verify``; ``--save`` keeps the figures
in ``benchmarks/results/verify.json`` for ``benchmarks.plot``). For each body size it prints
nanoseconds per successful verification and each row's ratio to the floor of its scheme:
``hmac.digest`` + ``compare_digest`` for the hex schemes, and the incremental
``hmac.new(key, "id.timestamp.") / update(body) / digest`` + ``compare_digest`` for the
timestamped schemes (Standard Webhooks and Stripe). The best of several repeats is reported.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import time
import timeit
from collections.abc import Callable
from datetime import datetime, timezone
from importlib.metadata import version
from typing import Any

import standardwebhooks
import stripe
import svix.webhooks

from benchmarks import results
from webhook_kit import HexHmacVerifier, StandardWebhooksVerifier

SIZES = {"1 KiB": 1024, "64 KiB": 64 * 1024, "1 MiB": 1024 * 1024}
HEX_SECRET = "struktr_webhook_secret_0123456789"
KEY = b"pulse-signing-key-0123456789abcd"
WHSEC = "whsec_" + base64.b64encode(KEY).decode()
MSG_ID = "msg_2Jv7pYGL7UwXqF3v6RjLVxQYPZG"
PEERS = {"standardwebhooks 1.x", "svix", "stripe WebhookSignature.verify_header"}


def make_body(size: int) -> bytes:
    """A JSON-looking ASCII body of exactly `size` bytes (peers need valid UTF-8)."""
    head = b'{"event":"document.completed","data":{"raw_text":"'
    return head + b"x" * (size - len(head) - 3) + b'"}}'


def cases(body: bytes) -> list[tuple[str, str, Callable[[], object]]]:
    """(scheme, row name, one successful verification) for every contender."""
    now = int(time.time())
    text = body.decode()

    # Hex schemes: struktr's `sha256=<hex>` and the bare hex of the other three.
    hex_key = HEX_SECRET.encode()
    received = hmac.digest(hex_key, body, "sha256")
    struktr = HexHmacVerifier(HEX_SECRET, header="X-Struktr-Signature", prefix="sha256=")
    struktr_headers = struktr.sign(body)
    bare = HexHmacVerifier(HEX_SECRET, header="X-ImgGo-Signature")
    bare_headers = bare.sign(body)

    # Timestamped schemes: Standard Webhooks (Pulse) and Stripe's.
    prefix = f"{MSG_ID}.{now}.".encode()
    expected = hmac.new(KEY, prefix, hashlib.sha256)
    expected.update(body)
    received_swh = expected.digest()
    ours = StandardWebhooksVerifier(WHSEC)
    swh_headers = ours.sign(body, msg_id=MSG_ID, now=now)
    peer_swh = standardwebhooks.Webhook(WHSEC)
    peer_svix = svix.webhooks.Webhook(WHSEC)
    when = datetime.fromtimestamp(now, tz=timezone.utc)
    assert swh_headers["webhook-signature"] == peer_swh.sign(MSG_ID, when, text)
    stripe_secret = "whsec_stripe_test_secret"
    stripe_mac = hmac.new(stripe_secret.encode(), f"{now}.".encode() + body, hashlib.sha256)
    stripe_header = f"t={now},v1={stripe_mac.hexdigest()}"

    def floor_hex() -> bool:
        return hmac.compare_digest(hmac.digest(hex_key, body, "sha256"), received)

    def floor_incremental() -> bool:
        mac = hmac.new(KEY, prefix, "sha256")
        mac.update(body)
        return hmac.compare_digest(mac.digest(), received_swh)

    return [
        ("hex", "floor: hmac.digest + compare_digest", floor_hex),
        (
            "hex",
            "webhook-kit HexHmacVerifier sha256=",
            lambda: struktr.verify(body, struktr_headers),
        ),
        ("hex", "webhook-kit HexHmacVerifier bare", lambda: bare.verify(body, bare_headers)),
        ("ts", "floor: incremental hmac + compare_digest", floor_incremental),
        ("ts", "webhook-kit StandardWebhooksVerifier", lambda: ours.verify(body, swh_headers)),
        (
            "ts",
            "standardwebhooks 1.x",
            lambda: peer_swh.verify(body, swh_headers, json_parse=False),
        ),
        ("ts", "svix", lambda: peer_svix.verify(body, swh_headers)),
        (
            "ts",
            "stripe WebhookSignature.verify_header",
            lambda: stripe.WebhookSignature.verify_header(text, stripe_header, stripe_secret, 300),
        ),
    ]


def measure(func: Callable[[], object], budget: float) -> float:
    """Best-of-5 nanoseconds per call, each repeat running for about `budget` seconds."""
    func()
    timer = timeit.Timer(func)
    number, elapsed = 1, 0.0
    while elapsed < budget / 10:
        number *= 2
        elapsed = timer.timeit(number)
    number = max(1, int(number * budget / elapsed))
    return min(timer.repeat(repeat=5, number=number)) / number * 1e9


#: Peer rows: the package whose installed version names the row in the saved figures.
PEER_PACKAGES = {
    "standardwebhooks 1.x": ("standardwebhooks", ""),
    "svix": ("svix", ""),
    "stripe WebhookSignature.verify_header": ("stripe", " verify_header"),
}


def label(name: str) -> str:
    """The row's name as saved: a peer's with the version of the library measured."""
    if name not in PEER_PACKAGES:
        return name
    package, suffix = PEER_PACKAGES[name]
    return f"{package} {version(package)}{suffix}"


def main() -> None:
    """Print one table per body size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=0.2, help="seconds per repeat")
    parser.add_argument("--save", action="store_true", help="write benchmarks/results/verify.json")
    args = parser.parse_args()
    sizes: list[dict[str, Any]] = []
    for size_label, size in SIZES.items():
        body = make_body(size)
        print(f"\n{size_label} body: ns per verification (ratio to the scheme's floor)")
        floors: dict[str, float] = {}
        measured: dict[str, float] = {}
        rows: list[dict[str, Any]] = []
        for scheme, name, func in cases(body):
            ns = measured[name] = measure(func, args.budget)
            floors.setdefault(scheme, ns)
            print(f"  {name:<42} {ns:>12,.0f} ns   {ns / floors[scheme]:5.2f}x")
            ratio = round(ns / floors[scheme], 4)
            rows.append({"name": label(name), "scheme": scheme, "ns": round(ns), "ratio": ratio})
        ours = measured["webhook-kit StandardWebhooksVerifier"]
        fastest_peer = min(ns for name, ns in measured.items() if name in PEERS)
        print(f"  fastest peer / webhook-kit: {fastest_peer / ours:.2f}x")
        sizes.append({"size": size_label, "rows": rows})
    if args.save:
        results.save("verify", {"unit": "ns per verification", "sizes": sizes})


if __name__ == "__main__":
    main()
