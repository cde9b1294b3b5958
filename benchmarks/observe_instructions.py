"""What observing costs, counted in CPU instructions: repeatable on a busy machine.

Run with ``.venv/bin/python -m benchmarks.observe_instructions`` (needs valgrind; a few minutes).
Each setting of `benchmarks.observe` runs in a child process under ``valgrind --tool=callgrind``
twice: once signing N deliveries and handling them, once signing them only. The difference,
divided by N, is the instructions one `Receiver.handle` costs in that setting (the
interpreter's start, the imports and the signing cancel out); printed with its ratio to "off".
Sampling uses a seeded random generator, so a sampled setting records the same deliveries from
run to run.

Instructions are not time (a cache miss costs more than an add), but they move by well under 1%
between runs whatever else the machine does, where wall-clock ratios move by ±0.2 here.
"""

from __future__ import annotations

import argparse
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.observe import RATIOS, SECRET, SETTINGS, TARGET, provider, receiver
from webhook_kit import testing

_COLLECTED = re.compile(r"Collected : (\d+)")


def child(setting: str, deliveries: int, handle: bool) -> None:
    """Sign `deliveries` deliveries; handle them if `handle`; all in `setting`."""
    random.seed(17)  # the trace ids, hence which deliveries a ratio sampler records

    providers = {name: provider(ratio) for name, ratio in RATIOS.items()}
    observed = receiver(setting, providers)
    sample = testing.sample("struktr", "document.completed")
    signed = [
        testing.signed_delivery("struktr", SECRET, sample | {"n": n}, delivery_id=f"dlv_{n}")
        for n in range(deliveries + 20)
    ]
    for body, headers in signed[:20]:  # warm-up, in both runs: caches, first-time imports
        observed.handle(body, headers)
    if handle:
        for body, headers in signed[20:]:
            observed.handle(body, headers)
    for tracer_provider in providers.values():
        tracer_provider.shutdown()  # the export thread's work is counted too


def instructions(setting: str, deliveries: int, handle: bool) -> int:
    """The instructions a child process runs (all threads), as callgrind counts them."""
    with tempfile.TemporaryDirectory() as directory:
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={Path(directory) / 'out'}",
            sys.executable,
            "-m",
            "benchmarks.observe_instructions",
            "--child",
            setting,
            "--deliveries",
            str(deliveries),
        ]
        if not handle:
            command.append("--sign-only")
        result = subprocess.run(  # noqa: S603
            command, capture_output=True, text=True, check=True, timeout=1800
        )
    found = _COLLECTED.search(result.stderr)
    if found is None:
        raise RuntimeError(result.stderr[-2000:])
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--settings", nargs="*", default=list(SETTINGS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--sign-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.deliveries, handle=not args.sign_only)
        return
    settings = ["off", *(s for s in args.settings if s != "off")]
    per_delivery = {}
    print(f"Receiver.handle, struktr, MemoryStore: instructions per delivery ({args.deliveries})")
    print(f"  {'setting':10} {'instructions':>12} {'x off':>6}  target {TARGET}")
    for setting in settings:
        handled = instructions(setting, args.deliveries, handle=True)
        signed = instructions(setting, args.deliveries, handle=False)
        per_delivery[setting] = (handled - signed) / args.deliveries
        ratio = per_delivery[setting] / per_delivery["off"]
        verdict = "" if setting == "off" else "met" if ratio <= TARGET else "missed"
        print(f"  {setting:10} {per_delivery[setting]:12,.0f} {ratio:6.3f}  {verdict}", flush=True)


if __name__ == "__main__":
    main()
