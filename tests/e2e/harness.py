"""Run an example app as a real server on loopback: start it, wait until it answers, stop it.

Each app in `APPS` is a command line for a free port. `Server` starts it in its own session with
its output in files, polls until a route answers (405 to a GET: the receiver is loaded), and on
`stop` sends SIGTERM to the master and waits for it; a master that does not exit in time is killed
together with its workers (its process group), so no process outlives the test. A server that exits
or does not answer within `START_TIMEOUT` raises `ServerError` with its stderr; nothing waits
without a timeout.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
#: Every example answers 405 here once its receivers are loaded.
PROBE = "/webhooks/struktr"


class ServerError(Exception):
    """A server did not start, or did not stop; the message carries its output."""


@dataclass(frozen=True)
class App:
    """An example app and the command that serves it on a port."""

    name: str
    #: The number of worker processes the command starts.
    workers: int
    command: Callable[[int], list[str]]
    #: A file that must exist for the app to be servable (its project's entry point).
    needs: Path


def _gunicorn(target: str, *options: str) -> Callable[[int], list[str]]:
    def command(port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "gunicorn",
            *("--workers", "3", "--worker-class", "sync"),
            *("--bind", f"127.0.0.1:{port}", "--graceful-timeout", "5", "--timeout", "30"),
            *options,
            target,
        ]

    return command


def _uvicorn(target: str) -> Callable[[int], list[str]]:
    def command(port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            *("--workers", "2", "--host", "127.0.0.1", "--port", str(port)),
            *("--timeout-graceful-shutdown", "5"),
            target,
        ]

    return command


def _aiohttp(target: str) -> Callable[[int], list[str]]:
    def command(port: int) -> list[str]:
        return [sys.executable, "-m", "aiohttp.web", "-H", "127.0.0.1", "-P", str(port), target]

    return command


def _functions_framework(source: str) -> Callable[[int], list[str]]:
    """The functions-framework CLI, as Cloud Functions run it: one gunicorn worker, threads."""

    def command(port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "functions_framework",
            *("--target", "webhook", "--source", source),
            *("--host", "127.0.0.1", "--port", str(port)),
        ]

    return command


APPS: dict[str, App] = {
    "flask": App("flask", 3, _gunicorn("examples.flask_app:app"), ROOT / "examples/flask_app.py"),
    # Two uvicorn workers: on a two-core machine, two processes that each await many requests.
    "fastapi": App(
        "fastapi", 2, _uvicorn("examples.fastapi_app:app"), ROOT / "examples/fastapi_app.py"
    ),
    "starlette": App(
        "starlette", 2, _uvicorn("examples.starlette_app:app"), ROOT / "examples/starlette_app.py"
    ),
    "litestar": App(
        "litestar", 2, _uvicorn("examples.litestar_app:app"), ROOT / "examples/litestar_app.py"
    ),
    # aiohttp's own runner: one process awaiting every request.
    "aiohttp": App(
        "aiohttp", 1, _aiohttp("examples.aiohttp_app:make_app"), ROOT / "examples/aiohttp_app.py"
    ),
    "django": App(
        "django",
        3,
        _gunicorn("webhooks_site.wsgi:application", "--chdir", "examples/django_project"),
        ROOT / "examples/django_project/webhooks_site/wsgi.py",
    ),
    "gcf": App("gcf", 1, _functions_framework("examples/gcf_app.py"), ROOT / "examples/gcf_app.py"),
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """One example app served by a real server process, with its output in `workdir`."""

    app: App
    env: Mapping[str, str]
    workdir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        """What the server wrote so far: its stderr, then its stdout if any."""
        parts = []
        for stream in ("stderr", "stdout"):
            path = self.workdir / f"{self.app.name}.{stream}"
            text = path.read_text(errors="replace") if path.exists() else ""
            if text.strip():
                parts.append(f"--- {stream} ---\n{text[-6000:]}")
        return "\n".join(parts) or "(no output)"

    def start(self, attempts: int = 3) -> None:
        """Start the server and return once it answers; raise `ServerError` if it does not."""
        if not self.app.needs.exists():
            raise ServerError(f"{self.app.name}: {self.app.needs.relative_to(ROOT)} does not exist")
        for attempt in range(attempts):
            self.port = free_port()
            self._spawn()
            try:
                self._wait_until_ready()
            except ServerError as error:
                self.stop()
                # Another process may have taken the port between free_port() and the bind.
                if "Address already in use" in str(error) and attempt + 1 < attempts:
                    continue
                raise
            return

    def _spawn(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with (
            open(self.workdir / f"{self.app.name}.stdout", "wb") as stdout,
            open(self.workdir / f"{self.app.name}.stderr", "wb") as stderr,
        ):
            self.process = subprocess.Popen(  # noqa: S603
                self.app.command(self.port),
                cwd=ROOT,
                env={**self.env, "PORT": str(self.port)},  # for the dev servers
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,  # its own process group: the workers can be found
            )

    def _wait_until_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        with httpx.Client(timeout=1.0) as client:
            while time.monotonic() < deadline:
                code = self.process.poll()
                if code is not None:
                    raise ServerError(
                        f"{self.app.name} exited with status {code} before answering:\n"
                        + self.output()
                    )
                with contextlib.suppress(httpx.TransportError):
                    if client.get(self.url + PROBE).status_code == 405:
                        return
                time.sleep(0.1)
        raise ServerError(
            f"{self.app.name} did not answer within {START_TIMEOUT:.0f} s:\n" + self.output()
        )

    def stop(self) -> None:
        """Stop the server and its workers; raise `ServerError` if any process is left."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # the master stops its workers gracefully
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                _kill_group(process.pid)
                process.wait(STOP_TIMEOUT)
                raise ServerError(
                    f"{self.app.name} ignored SIGTERM for {STOP_TIMEOUT:.0f} s and was killed:\n"
                    + self.output()
                ) from None
        # Workers normally exit before their master; sweep any left in the server's group.
        deadline = time.monotonic() + STOP_TIMEOUT
        while _group_alive(process.pid):
            if time.monotonic() > deadline:
                _kill_group(process.pid)
                raise ServerError(f"{self.app.name} left workers running:\n" + self.output())
            time.sleep(0.05)


@dataclass(frozen=True)
class Running:
    """A started server, the events file its handlers append to, and a client for it."""

    server: Server
    store: str
    events_db: Path
    client: httpx.Client

    def url(self, provider: str, tenant: str | None = None) -> str:
        """The absolute URL of `provider`'s route (of `tenant`'s, for the tenant receivers)."""
        return f"{self.server.url}/webhooks/{provider}" + ("" if tenant is None else f"/{tenant}")

    def add_tenant(self, tenant: str, provider: str, secret: str) -> None:
        """Give `tenant` a `secret` for `provider` in the app's tenants table (examples/common)."""
        path = self.events_db.with_name("tenants.sqlite3")
        with contextlib.closing(sqlite3.connect(path, timeout=10)) as connection, connection:
            connection.execute(
                "CREATE TABLE IF NOT EXISTS tenant_secrets (tenant TEXT NOT NULL, "
                "provider TEXT NOT NULL, secret TEXT NOT NULL, PRIMARY KEY (tenant, provider))"
            )
            connection.execute(
                "INSERT OR REPLACE INTO tenant_secrets VALUES (?, ?, ?)", (tenant, provider, secret)
            )


def _group_alive(pgid: int) -> bool:
    """Whether a process of group `pgid` still runs (zombies waiting to be reaped do not count)."""
    proc = Path("/proc")
    if not proc.is_dir():  # pragma: no cover - not Linux: ask the kernel directly
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # the process ended while we looked
            continue
        state, group = fields[0], int(fields[2])
        if group == pgid and state not in {"Z", "X"}:
            return True
    return False


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def recorded(events_db: Path, marker: str) -> Counter[tuple[str, str]]:
    """How many events of each (provider, event type) whose payload contains `marker` the app
    recorded (the examples' handlers append every processed event to this SQLite file)."""
    if not events_db.exists():
        return Counter()
    with contextlib.closing(sqlite3.connect(events_db, timeout=10)) as connection:
        try:
            rows = connection.execute(
                "SELECT provider, event_type FROM events WHERE instr(payload, ?) > 0",
                (marker,),
            ).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # nothing processed yet
                return Counter()
            raise
    return Counter((provider, event_type) for provider, event_type in rows)
