"""A tour of webhook-kit: a real receiver on loopback, and every delivery a provider could send.

Run with ``make demo``. It starts the receiver behind ``webhook-kit serve`` (one `Receiver` per
provider, an SQLite idempotency store) on a free loopback port, sends it a signed sample of every
documented event of every provider, then a tampered body, a stale timestamp, a duplicate and an
event type the library does not know. It prints what was sent, what came back and what the
handlers saw, shuts the receiver down, and exits 0 only if every outcome was the expected one.
"""

from __future__ import annotations

import base64
import logging
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from webhook_kit import SQLiteStore, providers, testing
from webhook_kit.cli.client import post, tamper
from webhook_kit.cli.server import Delivered, ReceiverServer, make_receivers

STALE = 600  # seconds: twice Pulse's 300 s tolerance


@dataclass(frozen=True)
class Case:
    """One request to send, and what a correct receiver does with it."""

    provider: str
    sent: str
    body: bytes
    headers: dict[str, str]
    status: int
    result: str
    handled: bool


def demo_secrets() -> dict[str, str]:
    """A fresh random secret per provider (Pulse's in its ``whsec_`` form); never printed."""
    made = {name: secrets.token_urlsafe(24) for name in providers.PROVIDERS}
    made["pulse"] = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    return made


def cases(keys: dict[str, str]) -> list[Case]:
    """Every documented event of every provider, then the four deliveries to refuse or skip."""
    tour = []
    for name in providers.PROVIDERS:
        for event_type in testing.event_types(name):
            body, headers = testing.signed_delivery(name, keys[name], event_type)
            tour.append(Case(name, event_type, body, headers, 200, "processed", True))
    first = tour[0]
    body, headers = testing.signed_delivery("struktr", keys["struktr"], "document.failed")
    tour.append(
        Case("struktr", "tampered body", tamper(body), headers, 401, "signature_mismatch", False)
    )
    stale = time.time() - STALE
    body, headers = testing.signed_delivery("pulse", keys["pulse"], "job.completed", now=stale)
    tour.append(
        Case(
            "pulse",
            f"signed {STALE} s ago",
            body,
            headers,
            401,
            "timestamp_out_of_tolerance",
            False,
        )
    )
    tour.append(
        Case(
            first.provider,
            f"{first.sent} again",
            first.body,
            first.headers,
            200,
            "duplicate",
            False,
        )
    )
    unknown = testing.sample("docextract", "job.completed") | {"event": "report.ready"}
    body, headers = testing.signed_delivery("docextract", keys["docextract"], unknown)
    tour.append(Case("docextract", "report.ready (unknown)", body, headers, 200, "processed", True))
    return tour


def seen(delivered: Delivered) -> str:
    """What the handlers received: the event type and its key fields, or a dash."""
    if not delivered.handled:
        return "-"
    pairs = list(delivered.fields.items())[:2]
    fields = " ".join(f"{name}={value}" for name, value in pairs)
    return " ".join([*delivered.handled, fields])


def main() -> int:
    """Run the tour; print one row per request; return 1 if any outcome was unexpected."""
    started = time.perf_counter()
    # The tour prints a row per request; the library's own WARNING lines for the refused ones
    # would only repeat them.
    logging.getLogger("webhook_kit").addHandler(logging.NullHandler())
    keys = demo_secrets()
    tour = cases(keys)
    unexpected = 0
    with tempfile.TemporaryDirectory() as folder:
        store = SQLiteStore(Path(folder) / "idempotency.sqlite3")
        with ReceiverServer(make_receivers(keys, store=store), port=0) as server:
            print(f"receiver listening on {server.url} (SQLite store), {len(tour)} deliveries\n")
            print(f"{'provider':<16} {'sent':<26} {'reply':<31} {'ok':<4} handlers saw")
            for case in tour:
                reply = post(server.endpoint(case.provider), case.body, case.headers)
                delivered = server.deliveries[-1]
                ok = (
                    reply.status == case.status
                    and delivered.result == case.result
                    and bool(delivered.handled) == case.handled
                )
                unexpected += not ok
                answer = f"{reply.status} {delivered.result}"
                print(
                    f"{case.provider:<16} {case.sent:<26} {answer:<31} "
                    f"{'yes' if ok else 'NO':<4} {seen(delivered)}"
                )
        store.close()
    elapsed = time.perf_counter() - started
    print("\nThe tampered and stale deliveries were refused (401) before any handler ran; the")
    print("duplicate was acknowledged (200) without running the handlers again, and the unknown")
    print("event type was acknowledged as an UnknownEvent rather than rejected.")
    print(f"The receiver has stopped; the tour took {elapsed:.1f} s.")
    if unexpected:
        print(f"{unexpected} unexpected outcomes")
        return 1
    print(f"all {len(tour)} outcomes as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
