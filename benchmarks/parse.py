"""Parsing cost: typed events beside untyped `json.loads`, and a whole verify + parse.

Run with ``make bench`` or ``.venv/bin/python -m benchmarks.parse`` (``--save`` keeps the figures
in ``benchmarks/results/parse.json`` for ``benchmarks.plot``). For a struktr
``document.completed`` body at its documented size and padded to 64 KiB, prints microseconds per
call and the ratio to ``json.loads`` for:

- ``json.loads(body)``: what an untyped handler does;
- ``Model.model_validate(json.loads(body))``: the usual two-step typed parse;
- ``struktr.parse(body)``: ours, validating the raw bytes in one pass;

and, for the whole request path, ``providers.STRUKTR.verify_and_parse`` against the hand-written
floor ``hmac.digest`` + ``compare_digest`` + ``json.loads``.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

from benchmarks import results
from benchmarks.verify import measure
from webhook_kit import providers, testing
from webhook_kit.events import struktr

SECRET = "struktr_webhook_secret_0123456789"


def bodies() -> dict[str, bytes]:
    """The documented sample, and the same event with `raw_text` grown to 64 KiB."""
    payload = testing.sample("struktr", "document.completed")
    documented = json.dumps(payload).encode()
    padding = 64 * 1024 - len(documented)
    payload["data"]["data"]["raw_text"] += " lorem" * (padding // 6)
    return {f"documented ({len(documented)} B)": documented, "64 KiB": json.dumps(payload).encode()}


def rows(body: bytes) -> list[tuple[str, Callable[[], object]]]:
    """(row name, one call) for each contender, all on the same body."""
    headers = testing.signed_delivery("struktr", SECRET, body).headers
    received = headers["X-Struktr-Signature"].removeprefix("sha256=")
    key = SECRET.encode()
    verifier = providers.STRUKTR.verifier(SECRET)

    def floor() -> object:
        expected = hmac.digest(key, body, hashlib.sha256).hex()
        if not hmac.compare_digest(expected, received):
            raise ValueError("bad signature")
        return json.loads(body)

    return [
        ("json.loads(body)", lambda: json.loads(body)),
        (
            "DocumentCompleted.model_validate(json.loads(body))",
            lambda: struktr.DocumentCompleted.model_validate(json.loads(body)),
        ),
        ("webhook-kit struktr.parse(body)", lambda: struktr.parse(body)),
        ("floor: hmac.digest + compare_digest + json.loads", floor),
        (
            "webhook-kit STRUKTR.verify_and_parse",
            lambda: providers.STRUKTR.verify_and_parse(body, headers, verifier=verifier),
        ),
    ]


def main() -> None:
    """Print one table per body."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=0.2, help="seconds per repeat")
    parser.add_argument("--save", action="store_true", help="write benchmarks/results/parse.json")
    args = parser.parse_args()
    saved: list[dict[str, Any]] = []
    for label, body in bodies().items():
        print(f"\n{label} struktr document.completed: µs per call (ratio)")
        timed = [(name, measure(func, args.budget) / 1000) for name, func in rows(body)]
        loads = timed[0][1]
        for name, us in timed[:3]:
            print(f"  {name:<52} {us:>9.2f} µs   {us / loads:5.2f}x json.loads")
        floor = timed[3][1]
        for name, us in timed[3:]:
            print(f"  {name:<52} {us:>9.2f} µs   {us / floor:5.2f}x floor")
        size = f"{len(body)} B" if len(body) < 1024 else f"{round(len(body) / 1024)} KiB"
        saved.append(
            {
                "body": size,
                "rows": [
                    {
                        "name": name,
                        "us": round(us, 3),
                        "baseline": "json.loads" if index < 3 else "floor",
                        "ratio": round(us / (loads if index < 3 else floor), 4),
                    }
                    for index, (name, us) in enumerate(timed)
                ],
            }
        )
    if args.save:
        results.save("parse", {"unit": "µs per call", "bodies": saved})


if __name__ == "__main__":
    main()
