"""Every Python block in README.md and docs/ runs as written, on its own.

Each block runs alone, as a reader pasting it into a new file would run it: in a fresh module
namespace, from an empty working directory, with the providers' secret variables set (the pages
tell the reader to set them, and examples read them without a default, so that a deployment
that forgot one fails at start-up instead of accepting forged deliveries). So a block that uses
a name an earlier block defined fails. A block must not leave files in the working directory
(examples keep their stores in a `tempfile.mkdtemp()` directory), and it runs twice, so that
state kept from the first run (a delivery already recorded, a dead letter already there) cannot
pass unnoticed.

A block that cannot run on its own (it needs a server, or shows a signature rather than code) opts
out with an HTML comment on the line before its fence, which the rendered page does not show::

    <!-- no-run: needs a PostgreSQL server -->
    ```python
    ...

Keep opt-outs rare: prefer a block that runs. A page of pytest tests (`PYTEST_PAGES`) runs as one
test module, with webhook-kit's pytest plugin, and every test in it must pass.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import os
import re
import sys
import tempfile
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
NO_RUN = re.compile(r"<!--\s*no-run:\s*(?P<reason>\S.*?)\s*-->")
FENCE = re.compile(r"^(?P<indent> *)```(?P<info>[^`\n]*)$")

#: Pages whose blocks, in order, are one module of pytest tests using the plugin's fixtures.
PYTEST_PAGES = {"docs/testing.md"}

#: The secret variables the pages tell a reader to set, with test values.
SECRETS = {
    "STRUKTR_WEBHOOK_SECRET": "docs-struktr-secret",
    "STRUKTR_WEBHOOK_SECRET_PREVIOUS": "docs-struktr-previous-secret",
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
        """The block's first non-blank line."""
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


def run_block(block: Block) -> None:
    """Run `block` alone in a fresh module, as a reader pasting it into a new file would."""
    name = "docs_" + re.sub(r"\W", "_", block.page) + f"_{block.line}"
    module = types.ModuleType(name)
    sys.modules[name] = module  # pydantic resolves annotations through it
    try:
        # Line numbers in tracebacks point into the page.
        source = "\n" * (block.line - 1) + block.code
        flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        code = compile(source, block.page, "exec", flags=flags, dont_inherit=True)
        result = eval(code, module.__dict__)  # noqa: S307 - our own documentation
        if inspect.isawaitable(result):  # a block using top-level await
            asyncio.run(_awaited(result))
    finally:
        del sys.modules[name]


def run_alone(block: Block, workdir: Path) -> None:
    """Run `block` from the empty directory `workdir`; fail if it leaves a file there."""
    previous = Path.cwd()
    os.chdir(workdir)
    try:
        run_block(block)
    finally:
        os.chdir(previous)
    left = sorted(path.name for path in workdir.iterdir())
    if left:
        raise AssertionError(
            f"{block.page}:{block.line} left {left} in the working directory; "
            "keep an example's files in a tempfile.mkdtemp() directory"
        )


async def _awaited(result: object) -> None:
    await result  # type: ignore[misc]


PAGES_WITH_CODE = [page for page in PAGES if blocks_of(page)]
RUNNABLE = [
    block
    for page in PAGES
    if name_of(page) not in PYTEST_PAGES
    for block in blocks_of(page)
    if skip_reason(block) is None
]


def run_twice(block: Block, tmp_path: Path) -> None:
    """Run `block` alone twice, each time from an empty directory of its own.

    What the block creates with `tempfile` lands under `tmp_path` (which pytest cleans up), the
    same place both times: a block that keeps state at a fixed temporary path meets it again on
    its second run, as a reader running an example twice would.
    """
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    previous = tempfile.tempdir
    tempfile.tempdir = str(temporary)
    try:
        for run in ("first", "second"):
            workdir = tmp_path / run
            workdir.mkdir()
            run_alone(block, workdir)
    finally:
        tempfile.tempdir = previous


@pytest.mark.parametrize("block", RUNNABLE, ids=lambda block: f"{block.page}:{block.line}")
def test_every_python_block_runs_on_its_own(
    block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The block runs alone, twice, asserts included, with the secrets a reader is told to set."""
    for variable, value in SECRETS.items():
        monkeypatch.setenv(variable, value)
    run_twice(block, tmp_path)


@pytest.mark.parametrize("name", sorted(PYTEST_PAGES))
def test_every_test_on_a_pytest_page_passes(
    name: str, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page's blocks, run as one test module with the plugin, define tests that all pass."""
    for variable, value in SECRETS.items():
        monkeypatch.setenv(variable, value)
    source = ""
    for block in blocks_of(ROOT / name):
        if skip_reason(block) is None:  # line numbers in failures point into the page
            source += "\n" * (block.line - 1 - source.count("\n")) + block.code
    tests = [
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    ]
    pytester.makepyfile(test_page=source)
    result = pytester.runpytest("-p", "webhook_kit.pytest_plugin", "-W", "error")
    outcomes = result.parseoutcomes()
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert outcomes.keys() == {"passed"}, outcomes
    assert outcomes["passed"] >= len(tests) > 0


def test_examples_read_secrets_without_a_default() -> None:
    """No page falls back to a made-up secret: a missing variable must fail, not fail open."""
    fallback = re.compile(r"environ\.get\(\s*\"[A-Z_]*SECRET\"\s*,")
    pages = [name_of(page) for page in PAGES if fallback.search(page.read_text(encoding="utf-8"))]
    assert pages == []


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


def test_a_failing_block_fails() -> None:
    """A block that raises makes `run_block` raise, so a broken example cannot pass."""
    broken = Block("docs/broken.md", 1, "assert 1 == 2\n", None)
    with pytest.raises(AssertionError):
        run_block(broken)


def test_a_block_does_not_see_the_names_of_the_blocks_before_it(tmp_path: Path) -> None:
    """A block using a name that only an earlier block of its page defines fails with NameError."""
    page = tmp_path / "page.md"
    page.write_text("```python\nstore = 1\n```\n\n```python\nassert store == 1\n```\n")
    first, second = blocks_of(page, "page.md")
    run_block(first)
    with pytest.raises(NameError, match="store"):
        run_block(second)


def test_a_block_leaving_a_file_in_the_working_directory_fails(tmp_path: Path) -> None:
    """A block that creates a file in its working directory (a store's file, say) fails."""
    code = "from webhook_kit import SQLiteStore\nSQLiteStore('webhooks.sqlite3').purge()\n"
    block = Block("docs/store.md", 1, code, None)
    with pytest.raises(AssertionError, match=r"left \['webhooks.sqlite3'"):
        run_alone(block, tmp_path)


def test_a_block_keeping_state_at_a_fixed_temporary_path_fails_its_second_run(
    tmp_path: Path,
) -> None:
    """A block whose store outlives it (a fixed file under the temp directory) fails on rerun."""
    code = (
        "import tempfile\n"
        "from pathlib import Path\n"
        "from webhook_kit import Receiver, SQLiteStore, testing\n"
        "store = SQLiteStore(Path(tempfile.gettempdir()) / 'webhooks.sqlite3')\n"
        "receiver = Receiver('imggo', secret='s', store=store)\n"
        "outcome = receiver.handle(*testing.signed_delivery('imggo', 's', 'job.completed'))\n"
        "assert outcome.body == {'status': 'processed'}, outcome.body\n"
    )
    block = Block("docs/rerun.md", 1, code, None)
    with pytest.raises(AssertionError, match="duplicate"):
        run_twice(block, tmp_path)
