"""Load test: hand-written receivers vs webhook-kit's adapters, under real servers, with wrk.

Each target runs as a real server on 127.0.0.1 (gunicorn for Flask and Django, uvicorn for
FastAPI; the apps are in `load_apps.py` and `load_django.py`), started once; in each round every
target in turn takes the same bounded wrk run, with deliveries signed afresh for the round;
every request is a correctly signed struktr delivery (a Lua script walks a pre-signed list, and
resends an earlier one now and then, as a provider retrying does). Afterwards the script plays the
provider: it resends every delivery wrk sent, so any delivery lost in flight is processed, and then
checks the side effects, one counter per delivery, for lost and doubled events::

    python -m benchmarks.load                       # all three frameworks, 10 s per target
    python -m benchmarks.load --short               # under 3 minutes: 3 s per target, no resend
    python -m benchmarks.load --frameworks flask --duration 20 --connections 32

Per framework, three rows: the hand-written receiver (1.00), the same with the usual Redis dedupe
snippet, and webhook-kit with its Redis store; the last is printed with its ratio to each of the
other two and the targets (at least 0.95 of the snippet, 0.75 of the plain receiver). ``--sqlite``
adds webhook-kit with a SQLite store. ``--short`` skips the final resend, so it counts doubled
deliveries but not lost ones.

Needs ``wrk`` (Debian package ``wrk``) and the shared Redis on 127.0.0.1:6379 (the side-effect
counter, and the Redis store). Prints requests/s and p50/p99 latency side by side, with the
ratio to the framework's hand-written receiver.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis

from webhook_kit import testing

ROOT = Path(__file__).resolve().parent.parent
SECRET = "load-test-secret"
REDIS_URL = "redis://127.0.0.1:6379/0"

LUA = """
-- One delivery per line: tab-separated "Name: value" headers, then the body (JSON, one line).
local deliveries = {}
for line in io.lines("%(path)s") do
  local fields = {}
  for field in string.gmatch(line, "[^\t]+") do table.insert(fields, field) end
  local headers = {}
  for i = 1, #fields - 1 do
    local name, value = string.match(fields[i], "^([^:]+): (.*)$")
    headers[name] = value
  end
  table.insert(deliveries, {headers, fields[#fields]})
end
local per_thread = %(per_thread)d
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("offset", next_id * per_thread)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  sent = 0
  statuses = {}
end

function request()
  local index
  if sent > 0 and math.random() < %(duplicates)f then
    index = offset + math.random(sent) - 1  -- a provider's retry of an earlier delivery
  else
    sent = sent + 1
    index = offset + sent - 1
  end
  local d = deliveries[index %% #deliveries + 1]
  return wrk.format("POST", "/webhooks/struktr", d[1], d[2])
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    local line = "SENT " .. thread:get("offset") .. " " .. thread:get("sent")
    for status, n in pairs(thread:get("statuses")) do
      line = line .. " " .. status .. "=" .. n
    end
    print(line)
  end
  for _, p in ipairs({50, 99}) do
    print(string.format("P%%d %%.3f", p, latency:percentile(p) / 1000))
  end
end
"""


@dataclass(frozen=True)
class Target:
    """One receiver to load: how to serve it, and whether it claims to handle duplicates."""

    name: str
    framework: str
    app: str
    store: str | None = None  # a redis:// URL; None means a fresh SQLite file
    dedupes: bool = True
    variant: str = ""
    optional: bool = False  # loaded only with --sqlite

    @property
    def server(self) -> str:
        """uvicorn for FastAPI, gunicorn (sync workers) for the WSGI frameworks."""
        return "uvicorn" if self.framework == "fastapi" else "gunicorn"


TARGETS = [
    Target(
        "hand-written (HMAC + json.loads)",
        "flask",
        "benchmarks.load_apps:handwritten",
        dedupes=False,
    ),
    Target("hand-written + Redis SET NX", "flask", "benchmarks.load_apps:handwritten_dedupe"),
    Target("webhook-kit, Redis store", "flask", "benchmarks.load_apps:ours", REDIS_URL),
    Target("webhook-kit, SQLite store", "flask", "benchmarks.load_apps:ours", optional=True),
    Target(
        "hand-written (HMAC + json.loads)",
        "fastapi",
        "benchmarks.load_apps:handwritten_fastapi",
        dedupes=False,
    ),
    Target(
        "hand-written + Redis SET NX",
        "fastapi",
        "benchmarks.load_apps:handwritten_dedupe_fastapi",
    ),
    Target(
        "webhook-kit, AsyncRedisStore",
        "fastapi",
        "benchmarks.load_apps:ours_fastapi",
        REDIS_URL,
    ),
    Target(
        "webhook-kit, SQLite store",
        "fastapi",
        "benchmarks.load_apps:ours_fastapi",
        optional=True,
    ),
    Target(
        "hand-written (HMAC + json.loads)",
        "django",
        "benchmarks.load_django:application",
        dedupes=False,
        variant="handwritten",
    ),
    Target(
        "hand-written + Redis SET NX",
        "django",
        "benchmarks.load_django:application",
        variant="handwritten_dedupe",
    ),
    Target(
        "webhook-kit, Redis store",
        "django",
        "benchmarks.load_django:application",
        REDIS_URL,
    ),
    Target(
        "webhook-kit, SQLite store",
        "django",
        "benchmarks.load_django:application",
        optional=True,
    ),
]

#: The targets: webhook-kit with Redis at least this share of each hand-written receiver's rate.
TARGET_OF_SNIPPET = 0.95
TARGET_OF_PLAIN = 0.75


@dataclass
class Result:
    """What one target did under load."""

    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    statuses: dict[int, int]
    sent: int
    lost: int
    doubled: int


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_deliveries(count: int, run: str, directory: Path) -> tuple[list[tuple], Path]:
    """`count` distinct signed deliveries, and the file wrk reads them from (one per line)."""
    deliveries = []
    lines = []
    for index in range(count):
        payload = testing.sample("struktr", "document.completed")
        payload["data"]["id"] = f"doc_{run}_{index}"
        body, headers = testing.signed_delivery(
            "struktr", SECRET, json.dumps(payload).encode(), delivery_id=f"{run}-{index}"
        )
        headers = {**headers, "Content-Type": "application/json"}
        deliveries.append((body, headers))
        fields = [f"{name}: {value}" for name, value in headers.items()]
        lines.append("\t".join([*fields, body.decode()]))
    path = directory / f"deliveries-{run}.txt"
    path.write_text("\n".join(lines) + "\n")
    return deliveries, path


def start_server(
    target: Target, env: dict[str, str], workers: int
) -> tuple[subprocess.Popen[bytes], str]:
    """Start `target` under its server on a free loopback port; return it once it answers."""
    port = _free_port()
    if target.server == "uvicorn":
        command = ["benchmarks.uvicorn_workers", target.app, str(port), str(workers)]
    else:
        command = ["gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}"]
        command += ["--log-level", "warning", target.app]
    process = subprocess.Popen(  # noqa: S603 - our own command line
        [sys.executable, "-m", *command],
        cwd=ROOT,
        env={**os.environ, **env},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/webhooks/struktr", timeout=1)
            return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"{target.app} did not start")


def run_wrk(
    url: str, script: Path, args: argparse.Namespace
) -> tuple[float, float, float, dict[int, int], list[tuple[int, int]]]:
    """One wrk run: requests/s, p50 and p99 in ms, statuses, and (offset, sent) per thread."""
    output = subprocess.run(  # noqa: S603 - our own command line
        [
            shutil.which("wrk") or "wrk",
            f"-t{args.threads}",
            f"-c{args.connections}",
            f"-d{args.duration}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url + "/webhooks/struktr",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=args.duration + 60,
    ).stdout
    figures = [
        re.search(pattern, output, re.M)
        for pattern in (r"Requests/sec:\s+([\d.]+)", r"^P50 ([\d.]+)", r"^P99 ([\d.]+)")
    ]
    if not all(figures):
        raise SystemExit(f"unexpected wrk output:\n{output}")
    rps, p50, p99 = (float(match.group(1)) for match in figures if match)
    statuses: dict[int, int] = {}
    slices = []
    for line in output.splitlines():
        if line.startswith("SENT "):
            offset, sent, *counts = line.split()[1:]
            slices.append((int(offset), int(sent)))
            for item in counts:
                status, n = item.split("=")
                statuses[int(status)] = statuses.get(int(status), 0) + int(n)
    return rps, p50, p99, statuses, slices


def resend(url: str, deliveries: list[tuple], indexes: list[int]) -> None:
    """The provider's retry of every delivery in `indexes`, eight at a time."""
    with httpx.Client(base_url=url, timeout=30) as client:

        def post(index: int) -> int:
            body, headers = deliveries[index]
            return client.post("/webhooks/struktr", content=body, headers=headers).status_code

        with ThreadPoolExecutor(8) as pool:
            unexpected = [s for s in pool.map(post, indexes) if s != 200]
    if unexpected:
        raise SystemExit(f"the resend got {len(unexpected)} non-200 answers: {unexpected[:5]}")


@dataclass
class Served:
    """One target's running server, kept for every round, and where its side effects go."""

    target: Target
    process: subprocess.Popen[bytes]
    url: str
    counts_key: str
    prefix: str


def serve(target: Target, args: argparse.Namespace, directory: Path) -> Served:
    """Start `target` once; every round then loads the same server, in turn with the others."""
    counts_key = f"webhook-kit:load:{uuid.uuid4().hex[:8]}"
    prefix = f"webhook-kit-load-{uuid.uuid4().hex[:8]}"
    env = {"LOAD_SECRET": SECRET, "LOAD_COUNTS": counts_key, "LOAD_PREFIX": prefix}
    env["LOAD_VARIANT"] = target.variant
    env["LOAD_STORE"] = target.store or str(directory / f"{prefix}.sqlite3")
    process, url = start_server(target, env, args.workers)
    return Served(target, process, url, counts_key, prefix)


def stop(served: Served) -> None:
    """Stop the server and delete what it left in Redis."""
    served.process.terminate()
    served.process.wait(timeout=30)
    with redis.Redis.from_url(REDIS_URL) as client:
        client.delete(served.counts_key)
        keys = list(client.scan_iter(match=f"{served.prefix}*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])


def measure(
    served: Served, deliveries: list[tuple], script: Path, args: argparse.Namespace
) -> Result:
    """Load one target with this round's deliveries, resend what it was sent, count effects."""
    target = served.target
    rps, p50, p99, statuses, slices = run_wrk(served.url, script, args)
    sent_indexes = sorted(
        {(offset + i) % len(deliveries) for offset, sent in slices for i in range(sent)}
    )
    if target.dedupes and not args.short:  # the provider's retry of everything
        resend(served.url, deliveries, sent_indexes)
    with redis.Redis.from_url(REDIS_URL) as client:
        counts = {k.decode(): int(v) for k, v in client.hgetall(served.counts_key).items()}
    run = deliveries[0][1]["X-Struktr-Delivery"].rsplit("-", 1)[0]
    expected = {f"doc_{run}_{index}" for index in sent_indexes}
    lost = len(expected - set(counts)) if target.dedupes and not args.short else 0
    doubled = sum(1 for document in expected if counts.get(document, 0) > 1)
    name = f"{target.framework}: {target.name}"
    return Result(name, rps, p50, p99, statuses, sum(s for _, s in slices), lost, doubled)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per target")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--deliveries", type=int, default=60_000)
    parser.add_argument(
        "--duplicates", type=float, default=0.05, help="share of requests that resend one"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="targets are interleaved; medians are reported"
    )
    parser.add_argument(
        "--frameworks", default="flask,fastapi,django", help="comma-separated subset to load"
    )
    parser.add_argument("--sqlite", action="store_true", help="add webhook-kit + SQLite rows")
    parser.add_argument(
        "--short", action="store_true", help="3 s per target, 12,000 deliveries, no resend"
    )
    args = parser.parse_args(argv)
    if args.short:
        args.duration, args.deliveries = 3, 12_000
    targets = [
        t
        for t in TARGETS
        if t.framework in args.frameworks.split(",") and (args.sqlite or not t.optional)
    ]
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian package 'wrk')", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        servers: list[Served] = []
        try:
            for target in targets:
                servers.append(serve(target, args, directory))
            rounds = []
            for _ in range(args.rounds):  # fresh deliveries per round, so none is a duplicate
                run = uuid.uuid4().hex[:8]
                deliveries, path = make_deliveries(args.deliveries, run, directory)
                script = directory / f"load-{run}.lua"
                per_thread = args.deliveries // args.threads
                script.write_text(
                    LUA % {"path": path, "per_thread": per_thread, "duplicates": args.duplicates}
                )
                rounds.append([measure(served, deliveries, script, args) for served in servers])
        finally:
            for served in servers:
                stop(served)
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, {args.workers} worker "
        f"processes (gunicorn sync, uvicorn), signed struktr deliveries, {args.duplicates:.0%} "
        f"of requests resending an earlier one; median of {args.rounds} interleaved rounds "
        "(ratio to the framework's hand-written receiver, range in brackets)"
    )
    print(
        f"{'target':45} {'req/s':>8} {'ratio':>17} {'p50 ms':>7} {'p99 ms':>7}  "
        "statuses  lost doubled"
    )
    verdicts = []
    for index, target in enumerate(targets):
        baseline = next(i for i, t in enumerate(targets) if t.framework == target.framework)
        mine = [round_[index] for round_ in rounds]
        ratios = sorted(round_[index].rps / round_[baseline].rps for round_ in rounds)
        statuses: dict[int, int] = {}
        for result in mine:
            for status, count in result.statuses.items():
                statuses[status] = statuses.get(status, 0) + count
        shown = ",".join(f"{s}:{n}" for s, n in sorted(statuses.items()))
        ratio = f"{statistics.median(ratios):.2f} [{ratios[0]:.2f}-{ratios[-1]:.2f}]"
        lost = "-" if args.short else str(sum(r.lost for r in mine))
        print(
            f"{mine[0].name:45} {statistics.median(r.rps for r in mine):8.0f} {ratio:>17} "
            f"{statistics.median(r.p50_ms for r in mine):7.2f} "
            f"{statistics.median(r.p99_ms for r in mine):7.2f}  {shown}  "
            f"{lost} {sum(r.doubled for r in mine)}"
        )
        if target.store == REDIS_URL:
            snippet = next(
                i
                for i, t in enumerate(targets)
                if t.framework == target.framework and t.name.startswith("hand-written +")
            )
            of_snippet = statistics.median(
                round_[index].rps / round_[snippet].rps for round_ in rounds
            )
            verdicts.append(
                f"{target.framework}: webhook-kit is {of_snippet:.2f} of the snippet (target "
                f">= {TARGET_OF_SNIPPET}: "
                f"{'met' if of_snippet >= TARGET_OF_SNIPPET else 'NOT met'})"
                f", {statistics.median(ratios):.2f} of the plain receiver (target >= "
                f"{TARGET_OF_PLAIN}: "
                f"{'met' if statistics.median(ratios) >= TARGET_OF_PLAIN else 'NOT met'})"
            )
    for line in verdicts:
        print(line)
    bad = any(
        r.lost or r.doubled
        for round_ in rounds
        for r, target in zip(round_, targets, strict=True)
        if target.dedupes
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
