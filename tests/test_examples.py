"""The examples users are pointed to actually run and report success."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_demo_runs_and_every_outcome_is_expected() -> None:
    """`make demo`'s script exits 0 and reports that every outcome was the expected one."""
    result = subprocess.run(  # noqa: S603
        [sys.executable, str(ROOT / "examples" / "demo.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all outcomes as expected" in result.stdout
    assert result.stdout.count(" yes") == 15
