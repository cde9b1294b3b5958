"""Every Python block in README.md and docs/ runs as written.

The blocks of one page run in order in one namespace, like a reader following along, from a
fresh working directory with every provider's secret variable set. A block that cannot run on its
own (it needs a server, or shows a signature rather than code) opts out with an HTML comment on
the line before its fence, which the rendered page does not show::

    <!-- no-run: needs a PostgreSQL server -->
    ```python
    ...

Keep opt-outs rare: prefer a block that runs. A page showing a fragment of a larger program gets
the names the fragment assumes from `CONTEXT` below instead.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
NO_RUN = re.compile(r"<!--\s*no-run:\s*(?P<reason>\S.*?)\s*-->")
FENCE = re.compile(r"^(?P<indent> *)```(?P<info>[^`\n]*)$")

_BODY = "body = json.dumps(testing.sample({!r}, {!r})).encode()"

#: Names a page's fragments assume, defined before its first block runs.
CONTEXT = {
    "docs/idempotency.md": (
        "from webhook_kit import testing\n"
        "delivery_id = 'dlv_1'\n"
        "event = testing.sample('struktr', 'document.completed')\n"
        "def handle(event): pass\n"
    ),
    **{
        f"docs/providers/{provider}.md": "import json\nfrom webhook_kit import testing\n"
        + _BODY.format(provider, event_type)
        for provider, event_type in [
            ("struktr", "document.completed"),
            ("file_conversion", "document.completed"),
            ("imggo", "job.completed"),
            ("docextract", "credits.low_balance"),
            ("pulse", "job.completed"),
        ]
    },
}

SECRETS = {
    "STRUKTR_WEBHOOK_SECRET": "docs-struktr-secret",
    "FILE_CONVERSION_WEBHOOK_SECRET": "docs-file-conversion-secret",
    "IMGGO_WEBHOOK_SECRET": "docs-imggo-secret",
    "DOCEXTRACT_WEBHOOK_SECRET": "docs-docextract-secret",
    "PULSE_WEBHOOK_SECRET": "whsec_ZG9jcy1wdWxzZS1zZWNyZXQ=",
    "WEBHOOK_KIT_SECRET": "whsec_ZG9jcy1zaGFyZWQtc2VjcmV0",
}


@dataclass(frozen=True)
class Block:
    """One fenced Python block of a page."""

    page: str
    line: int
    code: str
    no_run: str | None

    @property
    def first_line(self) -> str:
        """The block's first non-blank line, which names it in `PENDING_NO_RUN`."""
        return next((line for line in self.code.splitlines() if line.strip()), "")


def name_of(page: Path) -> str:
    """The page's path from the repository root, with forward slashes."""
    return page.relative_to(ROOT).as_posix()


def blocks_of(page: Path, name: str | None = None) -> list[Block]:
    """The page's Python blocks, in order, each with its opt-out reason if it has one."""
    name = name or name_of(page)
    lines = page.read_text(encoding="utf-8").splitlines()
    found, number = [], 0
    while number < len(lines):
        opening = FENCE.match(lines[number])
        if opening is None:
            number += 1
            continue
        indent, info = opening["indent"], opening["info"].strip()
        end = number + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if info.split("{")[0].strip() in ("python", "py"):
            code = "\n".join(line.removeprefix(indent) for line in lines[number + 1 : end])
            previous = next((line for line in reversed(lines[:number]) if line.strip()), "")
            marker = NO_RUN.search(previous)
            reason = marker["reason"] if marker else None
            found.append(Block(name, number + 2, code + "\n", reason))
        number = end + 1
    return found


def skip_reason(block: Block) -> str | None:
    """Why `block` does not run: the ``<!-- no-run: reason -->`` comment before it, if any."""
    return block.no_run


def run_page(blocks: list[Block], context: str) -> int:
    """Run the page's runnable blocks in order in one fresh module; return how many ran."""
    page = blocks[0].page
    module = types.ModuleType("docs_" + re.sub(r"\W", "_", page))
    sys.modules[module.__name__] = module  # pydantic resolves annotations through it
    ran = 0
    try:
        exec(compile(context, f"{page} (context)", "exec"), module.__dict__)  # noqa: S102
        for block in blocks:
            if skip_reason(block) is not None:
                continue
            # Line numbers in tracebacks point into the page.
            source = "\n" * (block.line - 1) + block.code
            flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
            code = compile(source, page, "exec", flags=flags, dont_inherit=True)
            result = eval(code, module.__dict__)  # noqa: S307 - our own documentation
            if inspect.isawaitable(result):  # a block using top-level await
                asyncio.run(_awaited(result))
            ran += 1
    finally:
        del sys.modules[module.__name__]
    return ran


async def _awaited(result: object) -> None:
    await result  # type: ignore[misc]


PAGES_WITH_CODE = [page for page in PAGES if blocks_of(page)]


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=name_of)
def test_every_python_block_runs(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every Python block of the page runs without error, in order, asserts included."""
    monkeypatch.chdir(tmp_path)  # examples may create their store files
    for variable, value in SECRETS.items():
        monkeypatch.setenv(variable, value)
    blocks = blocks_of(page)
    ran = run_page(blocks, CONTEXT.get(name_of(page), ""))
    assert ran + sum(skip_reason(block) is not None for block in blocks) == len(blocks)


def test_the_pages_are_found_with_their_blocks() -> None:
    """README.md and the guides are collected, and their blocks are the fenced Python ones."""
    names = [name_of(page) for page in PAGES_WITH_CODE]
    assert "README.md" in names
    assert {"docs/receiver.md", "docs/cli.md", "docs/index.md", "docs/security.md"} <= set(names)
    receiver = blocks_of(ROOT / "docs" / "receiver.md")
    assert receiver[0].first_line == "import os"
    assert [block.no_run is None for block in receiver] == [True, False, True, True]


def test_a_block_opts_out_with_a_reason_in_a_comment(tmp_path: Path) -> None:
    """Only a `no-run` comment with a reason, right before the fence, skips a block."""
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- no-run: needs a server -->\n```python\nraise SystemExit\n```\n"
        "<!-- no-run: -->\n```python\nx = 1\n```\n"
        "<!-- no-run: a reason, but not right before the fence -->\n\ntext\n```python\ny = 2\n```\n"
        "```sh\nmake demo\n```\n"
    )
    blocks = blocks_of(page, "page.md")
    assert [block.no_run for block in blocks] == ["needs a server", None, None]
    assert [block.first_line for block in blocks] == ["raise SystemExit", "x = 1", "y = 2"]


def test_a_failing_block_fails_the_page() -> None:
    """A block that raises makes `run_page` raise, so a broken example cannot pass."""
    broken = Block("docs/broken.md", 1, "assert 1 == 2\n", None)
    with pytest.raises(AssertionError):
        run_page([broken], "")
