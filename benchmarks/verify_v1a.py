"""Standard Webhooks v1a (ed25519) verification cost, beside the raw `cryptography` floor.

Run with ``.venv/bin/python -m benchmarks.verify_v1a`` (needs the ``bench`` extra, which has
`cryptography`). For each body size it prints nanoseconds per verification and the ratio to the
floor: `Ed25519PublicKey.verify` of the decoded signature over ``id.timestamp.`` + body, joined on
each call, as the shortest correct verifier would. Then the refusals the work bound keeps cheap:
a header of `MAX_CHECKS` wrong signatures (every check spent, a mismatch) and one of 5,000
entries (refused before any check). Rows are timed in turn, in batches of about a millisecond,
each keeping its best batch (see `interleaved`).
"""

from __future__ import annotations

import argparse
import base64
import time
import timeit
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from benchmarks.verify import MSG_ID, WHSEC, make_body
from webhook_kit import StandardWebhooksVerifier, VerificationError
from webhook_kit._ed25519 import MAX_CHECKS

SIZES = {"1 KiB": 1024, "64 KiB": 64 * 1024}
SEED = bytes(range(32))


def cases(body: bytes) -> list[tuple[str, Callable[[], object]]]:
    """(row name, one verification) for the floor, our verifier, and the refusals."""
    now = int(time.time())
    private = Ed25519PrivateKey.from_private_bytes(SEED)
    public = private.public_key()
    whpk = "whpk_" + base64.b64encode(public.public_bytes_raw()).decode()
    whsk = "whsk_" + base64.b64encode(SEED).decode()
    headers = StandardWebhooksVerifier(whsk).sign(body, msg_id=MSG_ID, now=now)
    received = headers["webhook-signature"][4:]
    prefix = f"{MSG_ID}.{now}.".encode()
    ours = StandardWebhooksVerifier(whpk)
    mixed = StandardWebhooksVerifier([WHSEC, whpk])
    wrong = " ".join(["v1a," + "A" * 86 + "=="] * MAX_CHECKS)
    flood = " ".join(["v1a," + "A" * 86 + "=="] * 5000)

    def floor() -> None:
        public.verify(base64.b64decode(received), prefix + body)

    def refused(signature: str) -> Callable[[], object]:
        def run() -> object:
            try:
                ours.verify(body, headers | {"webhook-signature": signature})
            except VerificationError as error:
                return error
            raise AssertionError("expected a refusal")

        return run

    return [
        ("floor: cryptography Ed25519PublicKey.verify", floor),
        ("webhook-kit StandardWebhooksVerifier(whpk_)", lambda: ours.verify(body, headers)),
        ("webhook-kit [whsec_, whpk_], v1a delivery", lambda: mixed.verify(body, headers)),
        (f"refused: {MAX_CHECKS} wrong v1a signatures", refused(wrong)),
        ("refused: 5,000 v1a entries (the bound)", refused(flood)),
    ]


def interleaved(funcs: list[Callable[[], object]], budget: float) -> list[float]:
    """Each function's best nanoseconds per call, over short batches taken in turn.

    ed25519 costs 50-300 µs, so a busy machine's load moves whole-second repeats by a third;
    batches of about a millisecond, taken in turn for `budget` seconds per function, let each
    keep a batch that ran undisturbed: the minimum is the cost without the load.
    """
    numbers = []
    for func in funcs:
        once = timeit.Timer(func).timeit(3) / 3
        numbers.append(max(1, int(0.001 / once)))
    timers = [timeit.Timer(func) for func in funcs]
    best = [float("inf")] * len(funcs)
    deadline = time.perf_counter() + budget * len(funcs)
    while time.perf_counter() < deadline:
        for index, (timer, number) in enumerate(zip(timers, numbers, strict=True)):
            best[index] = min(best[index], timer.timeit(number) / number * 1e9)
    return best


def main() -> None:
    """Print one table per body size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=3.0, help="seconds per row")
    args = parser.parse_args()
    for size_label, size in SIZES.items():
        body = make_body(size)
        print(f"\n{size_label} body: ns per verification (ratio to the cryptography floor)")
        rows = cases(body)
        best = interleaved([func for _, func in rows], args.budget)
        for ns, (name, _) in zip(best, rows, strict=True):
            print(f"  {name:<46} {ns:>12,.0f} ns   {ns / best[0]:5.2f}x")


if __name__ == "__main__":
    main()
