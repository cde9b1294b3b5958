"""A long fuzz run of the receiver, outside CI: millions of hostile requests, every provider.

The bounded version of these properties runs in the test suite (`tests/test_hostile.py`); this
script runs far more inputs, generated from a seeded `random.Random` so a failure reproduces::

    python -m benchmarks.fuzz                     # 1,000,000 inputs, seed 0
    python -m benchmarks.fuzz --inputs 50000 --seed 7

Each input is one of: random bytes with random headers (unsigned), a documented sample mutated
(byte flips, insertions, deletions, truncation, splices) and then correctly signed, or a valid
delivery with one byte of its body or signature changed. A finding is an exception escaping
`Receiver.handle`, a 5xx answer, a status outside the documented set, or a handler running for a
request that was not correctly signed. The script prints the counts and exits 1 on any finding.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from typing import Any

from webhook_kit import MemoryStore, Receiver, providers, testing

SECRETS = {
    "struktr": "fuzz-struktr-secret",
    "file_conversion": "fuzz-fcs-secret",
    "imggo": "fuzz-imggo-secret",
    "docextract": "fuzz-docextract-secret",
    "pulse": "whsec_ZnV6ei1wdWxzZS1zaWduaW5nLWtleQ==",
}
UNSIGNED_OK = {401, 405, 413}
SIGNED_OK = {200, 400, 413}
INTERESTING = [
    b"",
    b"null",
    b"[]",
    b"{}",
    b'"x"',
    b"\x00",
    b"\xff\xfe",
    b"[" * 3000,
    b"9" * 4000,
    b"1e999999",
    b"-0",
    b"NaN",
    b"\ud800",
    b'{"event": null}',
    b'{"type": []}',
]


class Counting:
    """A handler that counts calls; the fuzzer compares the count with what it expects."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, _event: Any) -> None:
        self.calls += 1


def mutate(rng: random.Random, data: bytes) -> bytes:
    """Apply one to four random edits: flip, insert, delete, truncate, or splice a fragment."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        edit = rng.randrange(6)
        at = rng.randrange(len(out) + 1)
        if edit == 0 and out:
            out[at % len(out)] ^= rng.randint(1, 255)
        elif edit == 1:
            out[at:at] = rng.randbytes(rng.randint(1, 8))
        elif edit == 2 and out:
            del out[at : at + rng.randint(1, 16)]
        elif edit == 3:
            del out[at:]
        elif edit == 4:
            out[at:at] = rng.choice(INTERESTING)
        else:
            out[at:at] = rng.choice([b'"', b"{", b"}", b"[", b"]", b",", b":", b"\\", b"\\u"])
    return bytes(out)


def garbage_headers(rng: random.Random, names: list[str]) -> dict[str, Any]:
    """A few of the provider's header names (or others) with random text or bytes."""
    headers: dict[str, Any] = {}
    for _ in range(rng.randint(0, 5)):
        name = rng.choice([*names, "Content-Type", "X-Other"])
        kind = rng.randrange(5)
        if kind == 0:
            value: Any = rng.randbytes(rng.randint(0, 80))
        elif kind == 1:
            value = "".join(chr(rng.randint(0, 0x2FFF)) for _ in range(rng.randint(0, 60)))
        elif kind == 2:
            value = "v1," + "".join(rng.choices("ABCDEFabcdef0123456789+/=", k=44))
        elif kind == 3:
            value = str(rng.randint(-(10**20), 10**20))
        else:
            value = "sha256=" + rng.randbytes(32).hex()
        headers[name] = value
    return headers


class Fuzzer:
    """One receiver per provider with a counting handler, and the three kinds of hostile input."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - reproducible inputs, not secrets
        self.receivers: dict[str, tuple[Receiver, Counting]] = {}
        self.samples: dict[str, list[bytes]] = {}
        self.header_names: dict[str, list[str]] = {}
        for name in providers.PROVIDERS:
            receiver = Receiver(
                name, secret=SECRETS[name], store=MemoryStore(), max_body_size=65536
            )
            counting = Counting()
            for event_type in receiver.provider.event_types:
                receiver.on(event_type)(counting)
            receiver.on_unknown(counting)
            self.receivers[name] = (receiver, counting)
            self.samples[name] = [
                json.dumps(testing.sample(name, event_type)).encode()
                for event_type in testing.event_types(name)
            ]
            first = self.samples[name][0]
            self.header_names[name] = list(testing.signed_delivery(name, SECRETS[name], first)[1])
        self.statuses: Counter[int] = Counter()
        self.findings: list[str] = []

    def check(
        self,
        name: str,
        kind: str,
        body: bytes,
        headers: Any,
        allowed: set[int],
        *,
        method: str = "POST",
    ) -> None:
        """Send one request; record a finding if the answer or the handler count is wrong."""
        receiver, counting = self.receivers[name]
        before = counting.calls
        try:
            outcome = receiver.handle(body, headers, method=method)
        except BaseException as exc:
            self.findings.append(f"{name} {kind}: {type(exc).__name__}: {exc!s:.200} {body[:80]!r}")
            return
        self.statuses[outcome.status] += 1
        ran = counting.calls - before
        expected_runs = 1 if outcome.body.get("status") == "processed" else 0
        if outcome.status not in allowed or ran != expected_runs:
            self.findings.append(f"{name} {kind}: {outcome.status}, ran {ran}, {body[:80]!r}")

    def unsigned(self, name: str) -> None:
        """Random or mutated bytes, random headers, random methods: never verified."""
        rng = self.rng
        sample = rng.choice(self.samples[name])
        body = rng.randbytes(rng.randint(0, 300)) if rng.random() < 0.5 else mutate(rng, sample)
        method = rng.choice(["POST", "POST", "POST", "GET", "PUT", "DELETE", "post", ""])
        headers = garbage_headers(rng, self.header_names[name])
        self.check(name, "unsigned", body, headers, UNSIGNED_OK, method=method)

    def signed(self, name: str) -> None:
        """A mutated sample, correctly signed: parsed or refused, never a 5xx."""
        body = mutate(self.rng, self.rng.choice(self.samples[name]))
        delivery_id = f"fuzz-{self.rng.getrandbits(64):x}"
        body, headers = testing.signed_delivery(name, SECRETS[name], body, delivery_id=delivery_id)
        self.check(name, "signed", body, headers, SIGNED_OK)

    def tampered(self, name: str) -> None:
        """A valid delivery with one byte of the body or one character of the signature changed."""
        rng = self.rng
        body, headers = testing.signed_delivery(name, SECRETS[name], rng.choice(self.samples[name]))
        if rng.random() < 0.5:
            at = rng.randrange(len(body))
            body = body[:at] + bytes([body[at] ^ rng.randint(1, 255)]) + body[at + 1 :]
        else:
            header = next(h for h in headers if "signature" in h.lower())
            value = headers[header]
            at = rng.randrange(len(value))
            # Hex is case-insensitive: 'a' -> 'A' is the same signature, not a tampered one.
            replacement = rng.choice([c for c in "Za09+/=" if c.lower() != value[at].lower()])
            headers = {**headers, header: value[:at] + replacement + value[at + 1 :]}
        self.check(name, "tampered", body, headers, {401})


def run(inputs: int, seed: int) -> int:
    """Fuzz `inputs` requests; print the figures; return the number of findings."""
    fuzzer = Fuzzer(seed)
    kinds = [fuzzer.unsigned, fuzzer.signed, fuzzer.tampered]
    names = list(providers.PROVIDERS)
    started = time.perf_counter()
    for _ in range(inputs):
        fuzzer.rng.choice(kinds)(fuzzer.rng.choice(names))
    elapsed = time.perf_counter() - started
    print(f"inputs tried: {inputs:,} (seed {seed}) in {elapsed:.1f} s ({inputs / elapsed:,.0f}/s)")
    print("statuses: " + ", ".join(f"{s}: {n:,}" for s, n in sorted(fuzzer.statuses.items())))
    print(
        "findings (escaped exceptions, 5xx, wrong status, wrong handler runs): "
        f"{len(fuzzer.findings)}"
    )
    for finding in fuzzer.findings[:20]:
        print("  " + finding)
    return len(fuzzer.findings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    return 1 if run(args.inputs, args.seed) else 0


if __name__ == "__main__":
    sys.exit(main())
