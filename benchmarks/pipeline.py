"""The whole pipeline in process: `Receiver.handle` beside the hand-written receiver it replaces.

::

    python -m benchmarks.pipeline               # about 20 s; needs Redis on 127.0.0.1:6379
    python -m benchmarks.pipeline --rows memory # MemoryStore against a dict only

Per delivery, a signed 700-byte struktr ``document.completed`` with a fresh delivery id, logging
off (no handler configured), the same no-op handler; each side also encodes its JSON answer:

- hand-written, dict: ``hmac.new(...).hexdigest()``, `hmac.compare_digest` with the header,
  `json.loads`, a dict as the duplicate check (processing, then done), ``json.dumps`` of the
  answer;
- webhook-kit, MemoryStore: `Receiver.handle` then `Outcome.content`;
- hand-written Redis snippet: the same, with the usual Redis duplicate check instead of the
  dict (``SET key processing NX PX``, then ``SET key done EX`` after the handler): two round trips;
- webhook-kit, RedisStore: `Receiver.handle` with a `RedisStore` (claim, then complete: two round
  trips), then `Outcome.content`.

Rows run in interleaved rounds (``--rounds``), each on its own fresh deliveries; each row keeps
its best round, and the ratio is to the hand-written row of its store. The targets are 1.5 for
the MemoryStore row and 1.10 for the RedisStore row.

``--instructions`` also counts, with ``valgrind --tool=callgrind`` (Debian package ``valgrind``),
the instructions each row executes per delivery in this process (for the Redis rows: the
client's side only, not the server's). Unlike time, the count does not depend on what else runs
on the machine.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis

from webhook_kit import MemoryStore, Receiver, testing

SECRET = "pipeline-secret"
REDIS_URL = os.environ.get("WEBHOOK_KIT_REDIS_URL", "redis://127.0.0.1:6379/0")
RUN = uuid.uuid4().hex[:8]
_ids = itertools.count()

Delivery = tuple[bytes, dict[str, str]]
#: Handles `n` deliveries.
Row = Callable[[list[Delivery]], None]


def deliveries(count: int) -> list[Delivery]:
    """`count` signed struktr deliveries, each with its own delivery id and document id."""
    made = []
    payload = testing.sample("struktr", "document.completed")
    for _ in range(count):
        index = next(_ids)
        payload["data"]["id"] = f"doc_{RUN}_{index}"
        body, headers = testing.signed_delivery(
            "struktr", SECRET, json.dumps(payload).encode(), delivery_id=f"{RUN}-{index}"
        )
        made.append((body, dict(headers)))
    return made


def handler(event: Any) -> None:
    """The side effect: none, so that only the receivers differ."""


def handwritten_dict() -> Row:
    key = SECRET.encode()
    seen: dict[str, str] = {}

    def run(batch: list[Delivery]) -> None:
        for body, headers in batch:
            expected = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, headers.get("X-Struktr-Signature", "")):
                json.dumps({"error": "signature_mismatch"})
                continue
            event = json.loads(body)
            delivery = headers.get("X-Struktr-Delivery", "")
            if delivery in seen:
                json.dumps({"status": "duplicate"})
                continue
            seen[delivery] = "processing"
            handler(event)
            seen[delivery] = "done"
            json.dumps({"status": "processed"})

    return run


def handwritten_redis(client: redis.Redis) -> Row:
    key = SECRET.encode()

    def run(batch: list[Delivery]) -> None:
        for body, headers in batch:
            expected = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, headers.get("X-Struktr-Signature", "")):
                json.dumps({"error": "signature_mismatch"})
                continue
            event = json.loads(body)
            name = f"bench-pipeline:hand:{headers.get('X-Struktr-Delivery', '')}"
            if not client.set(name, "processing", nx=True, px=60_000):
                json.dumps({"status": "duplicate"})
                continue
            try:
                handler(event)
            except Exception:
                client.delete(name)
                raise
            client.set(name, "done", ex=7 * 24 * 3600)
            json.dumps({"status": "processed"})

    return run


def ours(store: Any) -> Row:
    receiver = Receiver("struktr", secret=SECRET, store=store)
    receiver.on("document.completed")(handler)

    def run(batch: list[Delivery]) -> None:
        for body, headers in batch:
            outcome = receiver.handle(body, headers)
            outcome.content()
            if outcome.status != 200:
                raise SystemExit(f"unexpected outcome {outcome}")

    return run


def _rows() -> dict[str, Callable[[], Row]]:
    """Each row by a short name, for one row per process under valgrind."""
    from webhook_kit.idempotency.redis import RedisStore

    return {
        "hand-dict": handwritten_dict,
        "ours-memory": lambda: ours(MemoryStore()),
        "hand-redis": lambda: handwritten_redis(redis.Redis.from_url(REDIS_URL)),
        "ours-redis": lambda: ours(RedisStore(REDIS_URL, prefix="bench-pipeline")),
    }


def _run_one(name: str, count: int, total: int) -> None:
    """Warm one row up, make `total` deliveries, and handle the first `count` of them.

    Everything but the handling is the same for every `count`, so the difference between two
    counts is the handling alone.
    """
    row = _rows()[name]()
    row(deliveries(20))
    batch = deliveries(total)
    row(batch[:count])


def _instructions(name: str, count: int, total: int) -> int:
    result = subprocess.run(  # noqa: S603 - our own command line
        [
            shutil.which("valgrind") or "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "-m",
            "benchmarks.pipeline",
            "--one",
            name,
            "--count",
            str(count),
            "--total",
            str(total),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"Collected : (\d+)", result.stderr)
    if match is None:
        raise SystemExit(f"unexpected valgrind output:\n{result.stderr}")
    return int(match.group(1))


def count_instructions(groups: list[str], count: int) -> None:
    """Print each row's instructions per delivery: `count` deliveries handled, less none."""
    print(f"\nInstructions per delivery (callgrind, {count} deliveries, client side):")
    for group in groups:
        names = ("hand-dict", "ours-memory") if group == "memory" else ("hand-redis", "ours-redis")
        per = [
            (_instructions(name, count, count) - _instructions(name, 0, count)) / count
            for name in names
        ]
        for name, figure in zip(names, per, strict=True):
            print(f"{name:12} {figure:10,.0f}  {figure / per[0]:4.2f}")


def timed(row: Row, batch: list[Delivery]) -> float:
    """Microseconds per delivery for one batch."""
    started = time.perf_counter()
    row(batch)
    return (time.perf_counter() - started) / len(batch) * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", choices=["all", "memory", "redis"], default="all")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--memory-batch", type=int, default=3000)
    parser.add_argument("--redis-batch", type=int, default=600)
    parser.add_argument("--instructions", action="store_true", help="count them with valgrind")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # one row, in a valgrind child
    parser.add_argument("--count", type=int, default=500, help=argparse.SUPPRESS)
    parser.add_argument("--total", type=int, default=500, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        _run_one(args.one, args.count, args.total)
        return 0
    return _compare(args)


def _compare(args: argparse.Namespace) -> int:
    """Time the rows side by side and print the table (and the instruction counts if asked)."""
    groups: list[tuple[str, int, list[tuple[str, Row]]]] = []
    if args.rows in ("all", "memory"):
        groups.append(
            (
                "memory",
                args.memory_batch,
                [
                    ("hand-written: hmac + json.loads + dict", handwritten_dict()),
                    ("webhook-kit: Receiver.handle + MemoryStore", ours(MemoryStore())),
                ],
            )
        )
    client = None
    if args.rows in ("all", "redis"):
        from webhook_kit.idempotency.redis import RedisStore

        client = redis.Redis.from_url(REDIS_URL)
        store = RedisStore(REDIS_URL, prefix="bench-pipeline")
        groups.append(
            (
                "redis",
                args.redis_batch,
                [
                    ("hand-written: + Redis SET NX PX, SET done", handwritten_redis(client)),
                    ("webhook-kit: Receiver.handle + RedisStore", ours(store)),
                ],
            )
        )
    best: dict[str, float] = {}
    for _group, _size, rows in groups:  # warm up: connections, scripts, models
        for _name, row in rows:
            row(deliveries(50))
    for _ in range(args.rounds):
        for _group, size, rows in groups:
            for name, row in rows:
                batch = deliveries(size)
                figure = timed(row, batch)
                best[name] = min(best.get(name, figure), figure)
    print(
        f"Per delivery, best of {args.rounds} interleaved rounds (700-byte struktr event, "
        "logging off, fresh delivery ids); ratio to the hand-written row of the same store"
    )
    print(f"{'row':46} {'µs':>8} {'ratio':>6}  target")
    targets = {"memory": 1.5, "redis": 1.10}
    for group, _, rows in groups:
        floor = best[rows[0][0]]
        for index, (name, _) in enumerate(rows):
            ratio = best[name] / floor
            target = f"<= {targets[group]:.2f}" if index else ""
            verdict = ("met" if ratio <= targets[group] else "NOT met") if index else ""
            print(f"{name:46} {best[name]:8.1f} {ratio:6.2f}  {target} {verdict}")
    if args.instructions:
        count_instructions([group for group, _, _ in groups], args.count)
    if client is not None:
        keys = list(client.scan_iter(match="bench-pipeline*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
