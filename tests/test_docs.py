"""Code in the user guides runs as written."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(), re.S)


@pytest.mark.parametrize("page", ["providers/custom.md", "receiver.md"])
def test_guide_examples_run(page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Python block of the page runs without error (their asserts included)."""
    monkeypatch.chdir(tmp_path)  # examples may create their store files
    blocks = _python_blocks(DOCS / page)
    assert blocks
    for number, block in enumerate(blocks):
        module = types.ModuleType(f"docs_example_{number}")
        sys.modules[module.__name__] = module  # pydantic resolves annotations through it
        try:
            exec(compile(block, page, "exec"), module.__dict__)  # noqa: S102
        finally:
            del sys.modules[module.__name__]
