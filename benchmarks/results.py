"""Where the benchmarks keep their measurements, for `benchmarks.plot` to draw.

``python -m benchmarks.verify --save`` (and ``parse``, ``stores``) writes
``benchmarks/results/<name>.json``: the figures of the run, the date and what the machine was.
The files are committed with the figures drawn from them, so that the performance page, its
plots and the data agree and can be redrawn without measuring again.
"""

from __future__ import annotations

import json
import os
import platform
import ssl
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> str:
    """What the figures were measured on: cores, Python and OpenSSL versions."""
    openssl = " ".join(ssl.OPENSSL_VERSION.split()[:2])
    return f"{os.cpu_count()} cores, Python {platform.python_version()}, {openssl}"


def save(name: str, data: dict[str, Any], directory: Path = RESULTS) -> Path:
    """Write one benchmark's figures, with today's date and the machine, as `<name>.json`."""
    directory.mkdir(parents=True, exist_ok=True)
    record = {
        "benchmark": name,
        "measured": datetime.now(timezone.utc).date().isoformat(),
        "machine": machine(),
        **data,
    }
    path = directory / f"{name}.json"
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"saved {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return path


def load(name: str, directory: Path = RESULTS) -> dict[str, Any]:
    """Read one benchmark's saved figures."""
    data: dict[str, Any] = json.loads((directory / f"{name}.json").read_text(encoding="utf-8"))
    return data
