"""The package as a user gets it from an index: its page, its files, and the pages' commands.

The tests marked `package` build the sdist and the wheel with `python -m build`, create fresh
virtualenvs that see none of the test environment's packages, run a page's `pip install` line
with the wheel in place of ``webhook-kit`` (pip uses its configured index, as `make` does), then
that page's commands, servers on 127.0.0.1 at a free port instead of the page's 8000. Together
they take about 30 s; ``pytest -m "not package"`` leaves them out.
"""

from __future__ import annotations

import email
import http.client
import json
import re
import shlex
import socket
import statistics
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from webhook_kit import testing

ROOT = Path(__file__).resolve().parent.parent
DOCS_URL = "https://webhook-kit.readthedocs.io/en/latest/"
REPO_URL = "https://github.com/webhook-kit/webhook-kit"
PAGE_PORT = "8000"  # the port the pages show; the tests use a free one
PAGE_HOST = "0.0.0.0"  # noqa: S104 - what the pages bind in production; the tests use loopback
START_TIMEOUT = 30.0
FENCE = re.compile(r"^```(?P<info>[^`\s]*)\s*$")
HEADING = re.compile(r"^#+ (?P<title>.+)$")
LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")
WHEEL_EXTRAS = re.compile(r"^webhook-kit(?P<extras>\[[a-z,]+\])?$")


@dataclass(frozen=True)
class Fence:
    """A fenced block of a page: its info string, the heading it sits under, and its lines."""

    info: str
    section: str
    lines: tuple[str, ...]


def fences(page: str) -> list[Fence]:
    """The page's fenced blocks, in order (top-level fences only, as the pages use them)."""
    found, section, block, info = [], "", None, ""
    for line in (ROOT / page).read_text(encoding="utf-8").splitlines():
        fence = FENCE.match(line)
        if block is None and fence is not None:
            block, info = [], fence["info"]
        elif block is not None and line.strip() == "```":
            found.append(Fence(info, section, tuple(block)))
            block = None
        elif block is not None:
            block.append(line)
        elif (heading := HEADING.match(line)) is not None:
            section = heading["title"]
    return found


def fence(page: str, section: str, info: str, index: int = 0) -> Fence:
    """The `index`-th block with this info string under the heading `section` of `page`."""
    return [block for block in fences(page) if (block.section, block.info) == (section, info)][
        index
    ]


def commands(block: Fence, port: int) -> list[tuple[list[str], list[str]]]:
    """The block's commands, split as a shell would, each with the output lines the page shows.

    A block with ``$ `` prompts shows output after each command; a block without prompts is
    commands only. The page's port becomes `port`, and its every-interface address loopback.
    """
    lines = [
        line.replace(PAGE_PORT, str(port)).replace(PAGE_HOST, "127.0.0.1")
        for line in block.lines
        if line.strip()
    ]
    if not any(line.startswith("$ ") for line in lines):
        return [(shlex.split(line, comments=True), []) for line in lines]
    found: list[tuple[list[str], list[str]]] = []
    for line in lines:
        if line.startswith("$ "):
            found.append((shlex.split(line[2:], comments=True), []))
        else:
            found[-1][1].append(line)
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Dist:
    """The sdist and the wheel `python -m build` made of the working tree."""

    sdist: Path
    wheel: Path


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """The sdist, and the wheel built from it, as a release would make them."""
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(  # noqa: S603
        # The test environment has hatchling: no isolated build environment to install it into.
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return Dist(sdist, wheel)


class Venv:
    """A fresh virtualenv without pip: the test environment's pip installs into it."""

    def __init__(self, path: Path, wheel: Path) -> None:
        subprocess.run(  # noqa: S603
            [sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120
        )
        self.path, self.bin, self.wheel = path, path / "bin", wheel

    def pip_install(self, line: str) -> None:
        """Run a page's ``pip install ...`` line, with the wheel in place of ``webhook-kit``."""
        words = shlex.split(line, comments=True)
        assert words[:2] == ["pip", "install"], line
        targets = []
        for word in words[2:]:
            named = WHEEL_EXTRAS.match(word)
            targets.append(f"{self.wheel}{named['extras'] or ''}" if named else word)
        result = subprocess.run(  # noqa: S603
            [
                sys.executable,
                "-m",
                "pip",
                "--python",
                str(self.bin / "python"),
                "install",
                *targets,
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, f"{line}:\n{result.stdout}{result.stderr}"

    def env(self, **variables: str) -> dict[str, str]:
        """An environment that finds this venv's commands and nothing of the test environment.

        Output is unbuffered, as on a terminal, so a server's prints can be read while it runs.
        """
        return {"PATH": f"{self.bin}:/usr/bin:/bin", "PYTHONUNBUFFERED": "1", **variables}

    def command(self, words: list[str]) -> list[str]:
        """The command with its program taken from this venv: it must have been installed."""
        program = self.bin / words[0]
        assert program.exists(), f"{words[0]} is not installed by what the page says to install"
        return [str(program), *words[1:]]

    def run(self, words: list[str], cwd: Path, env: dict[str, str]) -> str:
        """Run a command to completion; return its output, failing the test on a non-zero exit."""
        result = subprocess.run(  # noqa: S603
            self.command(words),
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, f"{shlex.join(words)}:\n{result.stdout}{result.stderr}"
        return result.stdout


@dataclass
class Running:
    """A server started from a page's command, its output going to files."""

    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def output(self) -> str:
        """Everything the server has printed so far, stdout first."""
        return self.stdout.read_text(errors="replace") + self.stderr.read_text(errors="replace")


@contextmanager
def serving(
    venv: Venv, words: list[str], cwd: Path, env: dict[str, str], port: int
) -> Iterator[Running]:
    """Run a server command until it accepts connections on `port`; stop it afterwards."""
    out, err = cwd / "server.stdout", cwd / "server.stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(  # noqa: S603
            venv.command(words),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
        )
    running = Running(process, out, err)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert process.poll() is None, f"{shlex.join(words)} exited:\n{running.output()}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, f"no answer on {port}:\n{running.output()}"
                time.sleep(0.1)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def pip_lines(block: Fence) -> list[str]:
    """The block's ``pip install`` lines."""
    return [line for line in block.lines if line.startswith("pip install")]


def post(port: int, path: str, delivery: testing.Delivery) -> tuple[int, object]:
    """Send one delivery on a connection of its own; return the status and the JSON body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", path, body=delivery.body, headers=delivery.headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


# --- The page on the index ------------------------------------------------------------------


def test_readme_links_are_absolute_and_lead_to_pages_that_exist() -> None:
    """Every README link is absolute (an index has no docs/ beside it) and names a real page."""
    targets = LINK.findall((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(targets) > 10
    for target in targets:
        assert target.startswith("https://"), target
        url = target.split("#")[0]
        if url.startswith(DOCS_URL):
            page = url.removeprefix(DOCS_URL).rstrip("/")
            candidates = [ROOT / "docs" / f"{page}.md", ROOT / "docs" / page / "index.md"]
            assert any(path.is_file() for path in candidates), target
        elif url.startswith(f"{REPO_URL}/blob/main/"):
            assert (ROOT / url.removeprefix(f"{REPO_URL}/blob/main/")).is_file(), target
        else:
            assert url.rstrip("/") == REPO_URL, target


def test_the_readme_opens_with_what_install_example_run_it_and_the_two_commands() -> None:
    """The README's first blocks are the install lines, the Flask app, how to run it, make."""
    blocks = fences("README.md")
    assert [block.info for block in blocks[:6]] == [
        "sh",
        "python",
        "console",
        "console",
        "text",
        "sh",
    ]
    installed = [shlex.split(line, comments=True)[2:] for line in pip_lines(blocks[0])]
    assert installed == [["webhook-kit[flask]"], ["webhook-kit[cli]"]]
    assert "from flask import Flask" in blocks[1].lines
    assert [line.split("#")[0].strip() for line in blocks[5].lines] == ["make demo", "make test"]


@pytest.mark.package
def test_the_sdist_and_wheel_carry_the_license_urls_and_readme(dist: Dist) -> None:
    """Both archives hold the MIT LICENSE; the metadata has the README and the project URLs."""
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert license_text.startswith("MIT License")
    assert "webhook-kit developers" in license_text
    with tarfile.open(dist.sdist) as sdist:
        top = dist.sdist.name.removesuffix(".tar.gz")
        member = sdist.extractfile(f"{top}/LICENSE")
        assert member is not None
        assert member.read().decode() == license_text
    with zipfile.ZipFile(dist.wheel) as wheel:
        info = next(name for name in wheel.namelist() if name.endswith(".dist-info/METADATA"))
        folder = info.removesuffix("METADATA")
        assert wheel.read(f"{folder}licenses/LICENSE").decode() == license_text
        metadata = email.message_from_bytes(wheel.read(info))
    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("License-File") == ["LICENSE"]
    urls = dict(entry.split(", ", 1) for entry in metadata.get_all("Project-URL") or [])
    assert urls == {
        "Documentation": DOCS_URL,
        "Repository": REPO_URL,
        "Changelog": f"{DOCS_URL}changelog/",
        "Issues": f"{REPO_URL}/issues",
    }
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert metadata.get_payload().strip() == (ROOT / "README.md").read_text().strip()


# --- The pages' commands, with only what each page installs -----------------------------------


@pytest.fixture(scope="module")
def flask_venv(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A fresh virtualenv with what the README says to install: the `flask` and `cli` extras."""
    venv = Venv(tmp_path_factory.mktemp("flask") / "venv", dist.wheel)
    for line in pip_lines(fences("README.md")[0]):
        venv.pip_install(line)
    return venv


@pytest.mark.package
def test_the_readme_app_runs_under_flask_and_answers_webhook_kit_send(
    flask_venv: Venv, tmp_path: Path
) -> None:
    """The README's install lines, app and commands work as shown, handler output included."""
    venv = flask_venv
    _, app, start, send, printed = fences("README.md")[:5]
    (tmp_path / "app.py").write_text("\n".join(app.lines) + "\n")
    port = free_port()
    (export, _), (flask_run, _) = commands(start, port)
    assert export[0] == "export"
    name, value = export[1].split("=", 1)
    env = venv.env(**{name: value})
    [(send_command, shown)] = commands(send, port)
    with serving(venv, flask_run, tmp_path, env, port) as server:
        assert venv.run(send_command, tmp_path, env).splitlines() == shown
        output = server.output()
    for line in printed.lines:
        assert output.count(line) == 1, output  # once: the duplicate ran no handler


@pytest.mark.package
def test_the_getting_started_serve_and_send_work_with_the_cli_extra(
    dist: Dist, tmp_path: Path
) -> None:
    """docs/index.md's `webhook-kit serve` answers its `webhook-kit send`, with only `[cli]`."""
    venv = Venv(tmp_path / "venv", dist.wheel)
    serve_block = fence("docs/index.md", "See it work first", "console", 1)
    send_block = fence("docs/index.md", "See it work first", "console", 2)
    port = free_port()
    env = venv.env()
    serve: list[str] = []
    for words, _ in commands(serve_block, port):
        if words[0] == "pip":
            venv.pip_install(shlex.join(words))
        elif words[0] == "export":
            name, value = words[1].split("=", 1)
            env[name] = value
        else:
            serve = words
    assert serve[:2] == ["webhook-kit", "serve"]
    [(send, _)] = commands(send_block, port)
    with serving(venv, serve, tmp_path, env, port) as server:
        reply = venv.run(send, tmp_path, env)
        assert 'HTTP 200  {"status":"processed"}' in reply
        assert "HTTP 200  processed" in server.output()


@pytest.mark.package
def test_the_flask_guide_runs_under_gunicorn_with_what_it_installs(
    flask_venv: Venv, tmp_path: Path
) -> None:
    """docs/flask.md's install line gives gunicorn, which serves the guide's blueprint example.

    It shares the README's virtualenv: the `cli` extra there adds only click, which Flask needs.
    """
    venv = flask_venv
    for line in pip_lines(fence("docs/flask.md", "Install", "console")):
        venv.pip_install(line)
    app = fence("docs/flask.md", "The blueprint", "python")
    (tmp_path / "myapp.py").write_text("\n".join(app.lines) + "\n")
    port = free_port()
    [(gunicorn, _)] = commands(fence("docs/flask.md", "Running it", "console"), port)
    env = venv.env(STRUKTR_WEBHOOK_SECRET="guide-secret")
    with serving(venv, gunicorn, tmp_path, env, port) as server:
        delivery = testing.signed_delivery("struktr", "guide-secret", "document.completed")
        assert post(port, "/webhooks/struktr", delivery) == (200, {"status": "processed"})
        assert "document doc_abc123 has 3 pages" in server.output()


@pytest.mark.package
def test_the_fastapi_guide_runs_under_uvicorn_without_stalls_and_its_test_passes(
    dist: Dist, tmp_path: Path
) -> None:
    """docs/fastapi.md's install line runs its uvicorn command, at keep-alive speed, and its test.

    uvicorn 0.54's ``--workers`` listener stalls each keep-alive request after the first about
    40 ms (see the guide); the recommended command must answer them in a few milliseconds.
    """
    venv = Venv(tmp_path / "venv", dist.wheel)
    for line in pip_lines(fence("docs/fastapi.md", "Install", "console")):
        venv.pip_install(line)
    app = fence("docs/fastapi.md", "The router", "python")
    (tmp_path / "myapp.py").write_text("\n".join(app.lines) + "\n")
    port = free_port()
    [(uvicorn, _)] = commands(fence("docs/fastapi.md", "Running it", "console"), port)
    secret = "whsec_Z3VpZGUtcHVsc2Uta2V5"
    env = venv.env(PULSE_WEBHOOK_SECRET=secret)
    with serving(venv, uvicorn, tmp_path, env, port) as server:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        took = []
        try:
            for number in range(21):
                delivery = testing.signed_delivery(
                    "pulse", secret, "job.completed", delivery_id=f"msg_{number}"
                )
                started = time.perf_counter()
                connection.request("POST", "/webhooks/pulse", delivery.body, delivery.headers)
                response = connection.getresponse()
                assert (response.status, response.read()) == (200, b'{"status":"processed"}')
                took.append(time.perf_counter() - started)
        finally:
            connection.close()
        assert (
            server.output().count("job 123e4567-e89b-12d3-a456-426614174000 processed 25 pages")
            == 21
        )
    assert statistics.median(took[1:]) < 0.020, [round(seconds * 1000, 1) for seconds in took]

    test_block = fence("docs/fastapi.md", "Testing", "python")
    (tmp_path / "test_guide.py").write_text("\n".join(test_block.lines) + "\n")
    venv.run(["python", "test_guide.py"], tmp_path, venv.env())


@pytest.mark.package
def test_the_serverless_guide_runs_with_what_it_installs(dist: Dist, tmp_path: Path) -> None:
    """docs/serverless.md: its Lambda handler answers with only `[redis]` (no framework), then
    its Cloud Function answers under the page's functions-framework command with `[gcf,redis]`."""
    venv = Venv(tmp_path / "venv", dist.wheel)
    for line in pip_lines(fence("docs/serverless.md", "AWS Lambda", "console")):
        venv.pip_install(line)
    handler = fence("docs/serverless.md", "AWS Lambda", "python")
    (tmp_path / "app.py").write_text("\n".join(handler.lines) + "\n")
    env = venv.env(STRUKTR_WEBHOOK_SECRET="guide-secret")
    assert "document doc_abc123 has 3 pages" in venv.run(["python", "app.py"], tmp_path, env)

    for line in pip_lines(fence("docs/serverless.md", "Google Cloud Functions", "console")):
        venv.pip_install(line)
    function = fence("docs/serverless.md", "Google Cloud Functions", "python")
    (tmp_path / "main.py").write_text("\n".join(function.lines) + "\n")
    port = free_port()
    run = fence("docs/serverless.md", "Google Cloud Functions", "console", 1)
    [(functions_framework, _)] = commands(run, port)
    secret = "whsec_Z3VpZGUtcHVsc2Uta2V5"
    env = venv.env(PULSE_WEBHOOK_SECRET=secret)
    with serving(venv, functions_framework, tmp_path, env, port) as server:
        delivery = testing.signed_delivery("pulse", secret, "job.completed")
        assert post(port, "/", delivery) == (200, {"status": "processed"})
        assert post(port, "/", delivery) == (200, {"status": "duplicate"})
        time.sleep(0.5)  # the worker's print reaches its file
        assert server.output().count("job 123e4567-e89b-12d3-a456-426614174000 completed") == 1
