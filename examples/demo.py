"""A tour of webhook-kit's verifiers: sign a delivery for each scheme, verify it, tamper with it.

Run with ``make demo``. Exits 0 only if every outcome is the expected one.
"""

from __future__ import annotations

import json
import sys
import time

from webhook_kit import (
    HexHmacVerifier,
    StandardWebhooksVerifier,
    VerificationError,
    Verifier,
)

BODY = json.dumps(
    {
        "event": "document.completed",
        "timestamp": "2024-01-15T10:30:02Z",
        "data": {"id": "doc_abc123", "status": "completed", "pages": 3},
    }
).encode()

# Demo secrets only: real ones come from the environment.
VERIFIERS: dict[str, Verifier] = {
    "struktr (sha256=<hex>)": HexHmacVerifier(
        "demo-struktr-secret", header="X-Struktr-Signature", prefix="sha256="
    ),
    "ImgGo (bare hex)": HexHmacVerifier("demo-imggo-secret", header="X-ImgGo-Signature"),
    "Pulse (Standard Webhooks)": StandardWebhooksVerifier("whsec_ZGVtby1wdWxzZS1zaWduaW5nLWtleQ=="),
}


def attempts(verifier: Verifier) -> list[tuple[str, bytes, dict[str, str], float, bool]]:
    """(what, body, headers, clock, should pass) for one scheme."""
    now = time.time()
    headers = verifier.sign(BODY, now=now)
    name = next(iter(headers)) if len(headers) == 1 else "webhook-signature"
    value = headers[name]
    forged = headers | {
        name: value[:-7] + ("aaaaaa" if value[-7:-1] != "aaaaaa" else "bbbbbb") + value[-1]
    }
    return [
        ("signed delivery", BODY, headers, now, True),
        ("body tampered", BODY.replace(b'"pages": 3', b'"pages": 4'), headers, now, False),
        ("signature forged", BODY, forged, now, False),
        ("header missing", BODY, {}, now, False),
        ("replayed 10 min later", BODY, headers, now + 600, len(headers) == 1),
    ]


def main() -> int:
    """Print one line per attempt; return 1 if any outcome was unexpected."""
    unexpected = 0
    print(f"{'scheme':<28} {'attempt':<24} {'outcome':<36} ok")
    for scheme, verifier in VERIFIERS.items():
        for what, body, headers, now, should_pass in attempts(verifier):
            try:
                verifier.verify(body, headers, now=now)
                outcome, passed = "verified", True
            except VerificationError as exc:
                outcome, passed = f"{exc.status_code} {type(exc).__name__}", False
            ok = passed == should_pass
            unexpected += not ok
            print(f"{scheme:<28} {what:<24} {outcome:<36} {'yes' if ok else 'NO'}")
    print("\nThe hex schemes sign no timestamp, so a replay verifies: deduplicate by delivery id.")
    print("all outcomes as expected" if not unexpected else f"{unexpected} unexpected outcomes")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
