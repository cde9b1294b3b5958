"""Cold start: what importing webhook-kit costs, beside pydantic alone, and the first delivery.

Each row runs in a fresh interpreter, 7 times (``--runs``); the median is printed::

    python -m benchmarks.cold_start                  # about 20 s
    python -m benchmarks.cold_start --instructions   # also counts instructions (valgrind)

Import rows are ``python -X importtime -c <statement>``: the sum of the modules the statement
imported (the interpreter's own start-up modules left out), as Python itself reports them. The
first-delivery rows time, in one process, the import and `Receiver` construction with one handler
(registering it reads struktr's event types, which builds struktr's models and no other
provider's), then the first
`Receiver.handle` of a signed 700-byte struktr ``document.completed`` with a `MemoryStore`,
then the second. With ``--instructions``, each statement also
runs once under ``valgrind --tool=callgrind`` (Debian package ``valgrind``), whose instruction
counts do not depend on what else the machine is doing; the interpreter's start-up is subtracted.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys

IMPORTS = [
    ("pydantic alone: from pydantic import BaseModel", "from pydantic import BaseModel"),
    ("import webhook_kit", "import webhook_kit"),
    (
        "from webhook_kit import Receiver, MemoryStore",
        "from webhook_kit import Receiver, MemoryStore",
    ),
]

FIRST_DELIVERY = """
import time
started = time.perf_counter()
from webhook_kit import MemoryStore, Receiver
receiver = Receiver("struktr", secret="cold-start-secret", store=MemoryStore())
receiver.on("document.completed")(lambda event: None)
ready = time.perf_counter()
{deliveries}
first = time.perf_counter()
outcome = receiver.handle(*deliveries[0])
done = time.perf_counter()
receiver.handle(*deliveries[1])
second = time.perf_counter()
assert outcome.status == 200, outcome
print(ready - started, done - first, second - done)
"""

#: Two signed deliveries, built in the parent so that the child pays only for the receiver.
DELIVERIES = "deliveries = {deliveries!r}"


def _deliveries() -> list[tuple[bytes, dict[str, str]]]:
    from webhook_kit import testing

    made = []
    for index in range(2):
        payload = testing.sample("struktr", "document.completed")
        payload["data"]["id"] = f"doc_cold_{index}"
        body, headers = testing.signed_delivery(
            "struktr", "cold-start-secret", payload, delivery_id=f"cold-{index}"
        )
        made.append((body, dict(headers)))
    return made


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and statements
        [sys.executable, *args], capture_output=True, text=True, check=True
    )


def _imported_ms(statement: str, startup: set[str]) -> float:
    """Milliseconds `statement` spent importing, from ``-X importtime``'s top-level entries."""
    total = 0
    for line in _python("-X", "importtime", "-c", statement).stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| ( *)(\S+)", line)
        if match and not match.group(2) and match.group(3) not in startup:
            total += int(match.group(1))
    return total / 1000


def _startup_modules() -> set[str]:
    lines = _python("-X", "importtime", "-c", "pass").stderr.splitlines()
    return {line.rsplit("|", 1)[1].strip() for line in lines if line.startswith("import time:")}


def _instructions(statement: str) -> int:
    """Instructions the interpreter executes for ``-c statement``, counted by callgrind."""
    result = subprocess.run(  # noqa: S603 - our own command line
        [
            shutil.which("valgrind") or "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "-c",
            statement,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"Collected : (\d+)", result.stderr)
    if match is None:
        raise SystemExit(f"unexpected valgrind output:\n{result.stderr}")
    return int(match.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh interpreters per row")
    parser.add_argument(
        "--instructions", action="store_true", help="also count instructions with valgrind"
    )
    args = parser.parse_args(argv)
    startup = _startup_modules()
    _python("-c", "import webhook_kit.events.struktr")  # byte-compile before timing anything
    times: dict[str, list[float]] = {label: [] for label, _ in IMPORTS}
    for _ in range(args.runs):  # interleaved, so a burst of load hits every row alike
        for label, statement in IMPORTS:
            times[label].append(_imported_ms(statement, startup))
    floor = statistics.median(times[IMPORTS[0][0]])
    print(f"Import time (python -X importtime), median of {args.runs} fresh interpreters:")
    print(f"{'statement':52} {'ms':>7} {'range':>15} {'ratio':>6}")
    for label, _ in IMPORTS:
        runs = sorted(times[label])
        median = statistics.median(runs)
        span = f"{runs[0]:.1f}-{runs[-1]:.1f}"
        print(f"{label:52} {median:7.1f} {span:>15} {median / floor:6.2f}")

    script = FIRST_DELIVERY.format(deliveries=DELIVERIES.format(deliveries=_deliveries()))
    ready, first, second = [], [], []
    for _ in range(args.runs):
        figures = [float(x) for x in _python("-c", script).stdout.split()]
        ready.append(figures[0] * 1000)
        first.append(figures[1] * 1000)
        second.append(figures[2] * 1000)
    print(f"\nFirst delivery in a fresh interpreter, median of {args.runs}:")
    label = "import, Receiver(...), on() (builds struktr models)"
    print(f"{label:52} {statistics.median(ready):7.1f} ms")
    print(f"{'first handle()':52} {statistics.median(first):7.1f} ms")
    print(f"{'second handle()':52} {statistics.median(second) * 1000:7.0f} µs")

    if args.instructions:
        if shutil.which("valgrind") is None:
            print("valgrind is not installed (Debian package 'valgrind')", file=sys.stderr)
            return 2
        base = _instructions("pass")
        counts = {label: _instructions(statement) - base for label, statement in IMPORTS}
        delivery = _instructions(script) - base
        floor_count = counts[IMPORTS[0][0]]
        print("\nInstructions (callgrind, interpreter start-up subtracted):")
        for label, count in counts.items():
            print(f"{label:52} {count / 1e6:7.0f} M {count / floor_count:6.2f}")
        print(f"{'import + Receiver + two deliveries':52} {delivery / 1e6:7.0f} M")
    return 0


if __name__ == "__main__":
    sys.exit(main())
