"""The ``webhook-kit`` command line, through its real entry points.

Most tests drive the click group with `CliRunner`; the ones that need a process (``serve``, the
console script, ``python -m webhook_kit``) run one. Every invocation also checks that no secret
appears in what the command printed.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from click import unstyle as click_unstyle
from click.testing import CliRunner, Result

from tests.drift import REFUSED
from tests.idempotency.backends import sqlalchemy_url
from webhook_kit import Receiver, StandardWebhooksVerifier, providers, testing
from webhook_kit.cli import cli
from webhook_kit.cli.client import post, tamper
from webhook_kit.cli.server import ReceiverServer, make_receivers
from webhook_kit.deadletters import DeadLetter, SQLiteDeadLetters
from webhook_kit.deadletters.sql import SQLDeadLetters

# Valid for every scheme: the hex providers use its UTF-8 bytes, Pulse decodes the base64.
SECRET = "whsec_dGVzdC1jbGktc2lnbmluZy1rZXktMDEyMzQ1"
OTHER = "whsec_b3RoZXItY2xpLXNpZ25pbmcta2V5LTk4NzY1"
PROVIDERS = list(providers.PROVIDERS)
COMMANDS = ["sign", "send", "verify", "serve", "replay"]
CLEAN_ENV: dict[str, str | None] = {
    "WEBHOOK_KIT_SECRET": None,
    **{f"{name.upper()}_WEBHOOK_SECRET": None for name in PROVIDERS},
}


def run(*args: str, env: dict[str, str] | None = None, stdin: bytes | None = None) -> Result:
    """Invoke the CLI; fail if a secret shows up in anything it printed."""
    result = CliRunner().invoke(
        cli, list(args), env={**CLEAN_ENV, **(env or {})}, input=stdin, prog_name="webhook-kit"
    )
    printed = result.stdout + result.stderr
    assert SECRET not in printed
    assert OTHER not in printed
    assert "Traceback" not in printed
    return result


def with_secret(*args: str, stdin: bytes | None = None) -> Result:
    """Invoke the CLI with the secret in WEBHOOK_KIT_SECRET."""
    return run(*args, env={"WEBHOOK_KIT_SECRET": SECRET}, stdin=stdin)


def one_line_error(result: Result) -> str:
    """The single stderr line of a failed command, after checking there is exactly one."""
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def body_file(tmp_path: Path, provider: str, event_type: str | None = None) -> Path:
    """A file holding the JSON body of a documented sample."""
    event_type = event_type or testing.event_types(provider)[0]
    path = tmp_path / "body.json"
    path.write_bytes(json.dumps(testing.sample(provider, event_type)).encode())
    return path


def headers_of(output: str) -> dict[str, str]:
    """The headers `sign` printed as 'Name: value' lines."""
    return dict(line.split(": ", 1) for line in output.splitlines())


# --help


@pytest.mark.parametrize("command", [[], *([name] for name in COMMANDS)])
def test_every_command_has_help_with_an_example(command: list[str]) -> None:
    """`--help` on the group and on every command exits 0 and shows an example invocation."""
    result = run(*command, "--help")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"Usage: webhook-kit {' '.join(command)}".rstrip())
    assert "Examples:" in result.stdout
    assert "webhook-kit " + (command[0] if command else "") in result.stdout.split("Examples:")[1]


def test_the_group_lists_its_five_commands() -> None:
    """The group offers sign, send, verify, serve and replay, and nothing else."""
    listed = run("--help").stdout.split("Commands:")[1].splitlines()
    assert sorted(line.split()[0] for line in listed if line.strip()) == sorted(COMMANDS)


# sign


@pytest.mark.parametrize("provider", PROVIDERS)
def test_sign_prints_headers_that_the_provider_preset_accepts(
    provider: str, tmp_path: Path
) -> None:
    """`sign FILE -p P` prints every header P sends, and they verify and parse the body."""
    path = body_file(tmp_path, provider)
    result = with_secret("sign", str(path), "--provider", provider)
    assert result.exit_code == 0, result.stderr
    headers = headers_of(result.stdout)
    event = providers.get(provider).verify_and_parse(path.read_bytes(), headers, secret=SECRET)
    assert event.event_type == testing.event_types(provider)[0]


def test_sign_reads_stdin_and_prints_json() -> None:
    """`sign --json` with no file signs standard input and prints a JSON object."""
    body = b'{"event":"document.completed"}'
    result = with_secret("sign", "--scheme", "hex", "--header", "X-Sig", "--json", stdin=body)
    assert result.exit_code == 0, result.stderr
    headers = json.loads(result.stdout)
    assert set(headers) == {"X-Sig"}
    assert headers["X-Sig"] == providers.IMGGO.verifier(SECRET).sign(body)["X-ImgGo-Signature"]


def test_sign_with_the_standard_scheme_and_an_age_makes_a_stale_signature() -> None:
    """`--scheme standard --age 600` signs a timestamp ten minutes old, with the given id."""
    result = with_secret(
        "sign", "--scheme", "standard", "--age", "600", "--delivery-id", "m1", stdin=b"{}"
    )
    headers = headers_of(result.stdout)
    assert headers["webhook-id"] == "m1"
    assert abs(time.time() - 600 - int(headers["webhook-timestamp"])) < 5
    StandardWebhooksVerifier(SECRET).verify(b"{}", headers, now=int(headers["webhook-timestamp"]))


def test_the_provider_variable_wins_over_the_shared_one(tmp_path: Path) -> None:
    """`STRUKTR_WEBHOOK_SECRET` signs struktr deliveries even when WEBHOOK_KIT_SECRET is set."""
    path = body_file(tmp_path, "struktr")
    env = {"WEBHOOK_KIT_SECRET": OTHER, "STRUKTR_WEBHOOK_SECRET": SECRET}
    headers = headers_of(run("sign", str(path), "-p", "struktr", env=env).stdout)
    providers.STRUKTR.verify_and_parse(path.read_bytes(), headers, secret=SECRET)


# verify


@pytest.fixture
def signed(tmp_path: Path) -> tuple[Path, Path]:
    """A Pulse body and the headers `sign` printed for it, as two files."""
    path = body_file(tmp_path, "pulse", "job.completed")
    headers = tmp_path / "headers.txt"
    headers.write_text(with_secret("sign", str(path), "-p", "pulse").stdout)
    return headers, path


def test_verify_exits_0_for_a_good_delivery(signed: tuple[Path, Path]) -> None:
    """A delivery as signed verifies: exit 0 and one line naming the event and delivery."""
    headers, body = signed
    result = with_secret("verify", "-p", "pulse", "--headers", str(headers), "--body", str(body))
    assert result.exit_code == 0
    assert result.stdout.startswith("valid: a pulse job.completed event, delivery dlv_")
    assert result.stdout.count("\n") == 1


def test_verify_exits_1_for_a_tampered_body(signed: tuple[Path, Path]) -> None:
    """A body changed after signing fails with exit 1 and the signature_mismatch reason."""
    headers, body = signed
    body.write_bytes(tamper(body.read_bytes()))
    result = with_secret("verify", "-p", "pulse", "--headers", str(headers), "--body", str(body))
    assert result.exit_code == 1
    assert result.stdout.startswith("invalid (signature_mismatch): webhook-signature does not")
    assert result.stdout.count("\n") == 1


def test_verify_exits_1_for_a_stale_delivery(tmp_path: Path) -> None:
    """A delivery signed ten minutes ago fails with exit 1 and the tolerance reason."""
    body = body_file(tmp_path, "pulse")
    headers = tmp_path / "headers.txt"
    headers.write_text(with_secret("sign", str(body), "-p", "pulse", "--age", "600").stdout)
    args = ["verify", "-p", "pulse", "--headers", str(headers), "--body", str(body)]
    result = with_secret(*args)
    assert result.exit_code == 1
    assert result.stdout.startswith("invalid (timestamp_out_of_tolerance): webhook-timestamp is 6")
    assert with_secret(*args, "--tolerance", "900").exit_code == 0


def test_verify_exits_1_with_the_wrong_secret(signed: tuple[Path, Path]) -> None:
    """The right delivery checked with another secret is a signature mismatch."""
    headers, body = signed
    args = ["verify", "-p", "pulse", "--headers", str(headers), "--body", str(body)]
    result = run(*args, "--secret", OTHER)
    assert result.exit_code == 1
    assert "signature_mismatch" in result.stdout
    assert run(*args, "--secret", OTHER, "--secret", SECRET).exit_code == 0  # rotation


@pytest.mark.parametrize("newline", [b"\r\n", b"\n"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_verify_reads_a_raw_http_request(provider: str, newline: bytes, tmp_path: Path) -> None:
    """A captured request file (request line, headers, blank line, body) verifies as sent."""
    body, headers = testing.signed_delivery(provider, SECRET, testing.event_types(provider)[-1])
    lines = [b"POST /webhooks/" + provider.encode() + b" HTTP/1.1", b"Host: example"]
    lines += [f"{name}: {value}".encode() for name, value in headers.items()]
    lines.append(f"Content-Length: {len(body)}".encode())
    request = tmp_path / "captured.http"
    request.write_bytes(newline.join(lines) + newline * 2 + body + b"\n")  # an editor's newline
    result = with_secret("verify", "-p", provider, "--request", str(request))
    assert result.exit_code == 0, result.stdout + result.stderr
    request.write_bytes(newline.join(lines) + newline * 2 + tamper(body))
    assert with_secret("verify", "-p", provider, "--request", str(request)).exit_code == 1


def test_verify_with_a_bare_scheme_checks_only_the_signature(tmp_path: Path) -> None:
    """`--scheme hex` verifies any body, JSON or not, signed in the named header."""
    (tmp_path / "body").write_bytes(b"not json")
    signature = with_secret("sign", str(tmp_path / "body"), "--scheme", "hex", "--header", "X-S")
    (tmp_path / "headers").write_text(signature.stdout)
    args = ["verify", "--scheme", "hex", "--header", "X-S", "--headers", str(tmp_path / "headers")]
    result = with_secret(*args, "--body", str(tmp_path / "body"))
    assert (result.exit_code, result.stdout) == (0, "valid: the signature matches\n")


# errors


@pytest.mark.parametrize(
    ("args", "env", "reason"),
    [
        (["sign", "-p", "struktr"], {}, "no secret for struktr: pass --secret, or set STRUKTR_"),
        (["sign", "-p", "pulse", "-s", "not base64!"], {}, "bad secret for pulse: secret must be"),
        (
            ["sign", "-p", "struktr"],
            {"WEBHOOK_KIT_SECRET": SECRET + "\n"},
            "bad secret for struktr: secret starts or ends with whitespace",
        ),
        (["sign", "-p", "pulse", "-s", " "], {}, "bad secret for pulse: secret is only whitespace"),
        (["sign"], {"WEBHOOK_KIT_SECRET": SECRET}, "pass --provider (struktr, file_conversion"),
        (["sign", "-p", "imggo", "--scheme", "hex"], {}, "pass --provider"),
        (["sign", "--scheme", "hex"], {"WEBHOOK_KIT_SECRET": SECRET}, "needs --header"),
        (["sign", "missing.json", "-p", "imggo"], {}, "'missing.json': No such file"),
        (["verify", "-p", "imggo"], {}, "pass --request FILE, or --headers FILE and --body FILE"),
        (["send", "http://127.0.0.1:9/x", "-p", "imggo"], {}, "pass --event EVENT_TYPE or --body"),
        (["send", "URL", "-p", "imggo", "-e", "job.nope"], {}, "ImgGo documents no 'job.nope'"),
        (["send", "ftp://h/x", "-p", "imggo", "-e", "job.queued", "-s", SECRET], {}, "http://"),
        (
            ["serve", "-p", "imggo", "--store", "no-such-folder/s.sqlite3", "-s", SECRET],
            {},
            "cannot open the store",
        ),
        (["serve", "--port", "70000"], {}, "70000 is not in the range"),
        (["verify", "--bogus"], {}, "No such option '--bogus'"),
        (["nonsense"], {}, "No such command 'nonsense'"),
    ],
)
def test_errors_are_one_line_without_a_traceback(
    args: list[str], env: dict[str, str], reason: str
) -> None:
    """Bad input exits non-zero with exactly one 'Error: ...' line that says what to fix."""
    line = one_line_error(run(*args, env=env))
    assert reason in line


def test_send_to_a_closed_port_is_a_one_line_error() -> None:
    """No reply at all (connection refused) exits 1 with the reason, not a traceback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: refused
        result = with_secret(
            "send", f"http://127.0.0.1:{port}/x", "-p", "imggo", "-e", "job.queued"
        )
    assert result.exit_code == 1
    assert "no reply from" in one_line_error(result)


def test_serve_on_a_busy_port_is_a_one_line_error() -> None:
    """A port already in use is reported in one line naming the address."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = with_secret("serve", "-p", "imggo", "--store", ":memory:", "--port", str(port))
    assert f"cannot listen on 127.0.0.1:{port}" in one_line_error(result)


# serve, with send against it


@dataclass
class Served:
    """A `webhook-kit serve` process and the lines it has printed so far."""

    process: subprocess.Popen[str]
    url: str
    lines: queue.Queue[str]

    def next_line(self, timeout: float = 10) -> str:
        """The next line the server prints."""
        return self.lines.get(timeout=timeout)

    def drain(self) -> None:
        """Forget the lines printed so far (left over by a test that failed)."""
        while not self.lines.empty():
            self.lines.get_nowait()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`python -m webhook_kit serve --port 0` with an SQLite store, stopped with SIGTERM."""
    store = tmp_path_factory.mktemp("serve") / "store.sqlite3"
    env = {**os.environ, "WEBHOOK_KIT_SECRET": SECRET, "PYTHONUNBUFFERED": "1"}
    for name in PROVIDERS:
        env.pop(f"{name.upper()}_WEBHOOK_SECRET", None)
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "webhook_kit", "serve", "--port", "0", "--store", str(store)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        first = lines.get(timeout=20)
        assert first.startswith("webhook-kit is listening on http://127.0.0.1:"), first
        url = first.split()[4]
        for _ in PROVIDERS:  # one line per endpoint
            assert "POST " + url + "/webhooks/" in lines.get(timeout=5)
        yield Served(process, url, lines)
    finally:
        process.terminate()
        process.wait(timeout=10)
        reader.join(timeout=10)
        assert process.stdout is not None
        process.stdout.close()
    assert process.returncode == 0
    rest = []
    while not lines.empty():
        rest.append(lines.get())
    assert rest[-1].startswith("stopped after ")
    assert SECRET not in "\n".join(rest)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_send_reaches_serve_and_serve_prints_the_event(provider: str, served: Served) -> None:
    """`send` posts a signed sample; serve answers 200 and prints the handled event's summary."""
    served.drain()
    event_type = testing.event_types(provider)[-1]
    url = f"{served.url}/webhooks/{provider}"
    result = with_secret("send", url, "-p", provider, "-e", event_type)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[1] == 'HTTP 200  {"status":"processed"}'
    line = served.next_line()
    assert "HTTP 200  processed" in line
    assert f"{provider} " in line
    assert f" {event_type} " in line
    assert " handled " in line


def test_send_duplicate_is_acknowledged_once_and_not_handled_again(served: Served) -> None:
    """`--duplicate` sends one delivery twice: processed, then duplicate without the handlers."""
    served.drain()
    url = f"{served.url}/webhooks/struktr"
    # Not an event another test sends: the same sample body again would be a duplicate at once.
    result = with_secret("send", url, "-p", "struktr", "-e", "document.failed", "--duplicate")
    assert result.exit_code == 0
    replies = result.stdout.splitlines()[1:]
    assert replies == [
        'HTTP 200  {"status":"processed"}',
        'HTTP 200  {"status":"duplicate"}  (the same delivery again)',
    ]
    assert " handled " in served.next_line()
    second = served.next_line()
    assert "duplicate" in second
    assert "not handled" in second


@pytest.mark.parametrize(
    ("provider", "option", "reason"),
    [
        ("imggo", "--tamper", "signature_mismatch"),
        ("pulse", "--tamper", "signature_mismatch"),
        ("pulse", "--age=600", "timestamp_out_of_tolerance"),
    ],
)
def test_send_tampered_or_stale_is_refused(
    provider: str, option: str, reason: str, served: Served
) -> None:
    """A tampered or stale delivery gets 401 with the reason; send exits 1; nothing is handled."""
    served.drain()
    url = f"{served.url}/webhooks/{provider}"
    result = with_secret("send", url, "-p", provider, "-e", "job.completed", option)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[1].startswith(f'HTTP 401  {{"error":"{reason}"')
    line = served.next_line()
    assert f"HTTP 401  {reason}" in line
    assert "not handled" in line


def test_send_a_body_file_with_the_wrong_secret_is_refused(served: Served, tmp_path: Path) -> None:
    """`--body FILE` sends the file's exact bytes; signed with another secret, it is a 401."""
    served.drain()
    path = body_file(tmp_path, "docextract", "webhook.test")
    url = f"{served.url}/webhooks/docextract"
    result = run("send", url, "-p", "docextract", "--body", str(path), "-s", OTHER)
    assert result.exit_code == 1
    assert "signature_mismatch" in result.stdout
    assert "signature_mismatch" in served.next_line()


def test_colours_only_when_asked_for_a_terminal(tmp_path: Path) -> None:
    """Plain output carries no ANSI escapes; with colour on, the verdict is coloured."""
    headers, body = tmp_path / "h", body_file(tmp_path, "imggo")
    headers.write_text(with_secret("sign", str(body), "-p", "imggo").stdout)
    args = ["verify", "-p", "imggo", "--headers", str(headers), "--body", str(body)]
    plain = with_secret(*args)
    coloured = CliRunner().invoke(
        cli, args, env={**CLEAN_ENV, "WEBHOOK_KIT_SECRET": SECRET}, color=True
    )
    assert "\x1b[" not in plain.stdout
    assert coloured.stdout.startswith("\x1b[")
    assert click_unstyle(coloured.stdout) == plain.stdout


# the local receiver, in process


@pytest.fixture
def server() -> Iterator[ReceiverServer]:
    """A `ReceiverServer` for ImgGo on a free port, without a store."""
    with ReceiverServer(make_receivers({"imggo": SECRET}, store=None), port=0) as running:
        yield running


@pytest.mark.parametrize(
    ("path", "status", "result"),
    [("/webhooks/nope", 404, "not_found"), ("/other", 404, "not_found")],
)
def test_server_answers_404_outside_its_receivers(
    server: ReceiverServer, path: str, status: int, result: str
) -> None:
    """A path naming no served provider is a 404 that lists where the receivers are."""
    reply = post(server.url + path, b"{}", {})
    assert reply.status == status
    assert reply.json() == {"error": result, "message": "receivers are at: /webhooks/imggo"}


def test_server_refuses_an_oversized_body_before_reading_it(server: ReceiverServer) -> None:
    """A declared Content-Length over the receiver's limit is a 413."""
    server.receivers["imggo"].max_body_size = 10
    reply = post(server.endpoint("imggo"), b"x" * 11, {})
    assert (reply.status, reply.json()["error"]) == (413, "payload_too_large")
    assert [(d.provider, d.status) for d in server.deliveries] == [("imggo", 413)]


def test_server_reports_each_request_to_its_callback() -> None:
    """`on_delivery` gets a record with the status, result, event type and key fields."""
    seen = []
    receivers = make_receivers({"pulse": SECRET}, store=None)
    with ReceiverServer(receivers, on_delivery=seen.append) as running:
        body, headers = testing.signed_delivery("pulse", SECRET, "job.failed")
        assert post(running.endpoint("pulse"), body, headers).status == 200
    (delivered,) = seen
    assert (delivered.status, delivered.result, delivered.handled) == (
        200,
        "processed",
        ("job.failed",),
    )
    assert delivered.fields == {
        "job_id": "123e4567-e89b-12d3-a456-426614174000",
        "status": "failed",
    }


# entry points


def test_python_dash_m_runs_the_cli() -> None:
    """`python -m webhook_kit` is the same command line."""
    result = subprocess.run(
        [sys.executable, "-m", "webhook_kit", "verify", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: webhook-kit verify [OPTIONS]")


def test_the_console_script_runs_the_cli() -> None:
    """The `webhook-kit` console script installed with the package runs the command line."""
    script = Path(sys.executable).with_name("webhook-kit")
    if not script.exists():
        pytest.skip("no webhook-kit console script: reinstall with the [project.scripts] entry")
    result = subprocess.run(  # noqa: S603
        [str(script), "--version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("webhook-kit ")


#: Code run first in a child process: click cannot be imported, as without the cli extra.
WITHOUT_CLICK = """
import sys

class NoClick:
    def find_spec(self, name, path=None, target=None):
        if name == "click" or name.startswith("click."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NoClick())
"""


def console_script() -> str:
    """What the installed `webhook-kit` script runs: its entry point, called as pip's does."""
    (entry,) = entry_points(group="console_scripts", name="webhook-kit")
    return f"from {entry.module} import {entry.attr}\nsys.exit({entry.attr}())\n"


def python_dash_m() -> str:
    """What `python -m webhook_kit` runs."""
    return "import runpy\nrunpy.run_module('webhook_kit', run_name='__main__')\n"


def without_click(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter where click cannot be imported."""
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", WITHOUT_CLICK + code, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("entry", [console_script, python_dash_m], ids=["script", "dash-m"])
def test_without_click_the_command_prints_one_line_naming_the_extra(
    entry: Callable[[], str],
) -> None:
    """With click missing, `webhook-kit` and `python -m webhook_kit` print one line and exit 1."""
    result = without_click(entry(), "serve", "--help")
    assert (result.returncode, result.stdout) == (1, ""), result.stderr
    assert result.stderr == (
        "Error: the webhook-kit command line needs click: pip install 'webhook-kit[cli]'\n"
    )


def test_receiver_server_and_post_work_without_click() -> None:
    """Without click, `ReceiverServer` and `post` receive a delivery; only `cli` wants the extra."""
    code = """
from webhook_kit import testing
from webhook_kit.cli.client import post
from webhook_kit.cli.server import ReceiverServer, make_receivers

with ReceiverServer(make_receivers({"imggo": "test-secret"}, store=None)) as server:
    body, headers = testing.signed_delivery("imggo", "test-secret", "job.completed")
    reply = post(server.endpoint("imggo"), body, headers)
print(reply.status, server.deliveries[0].handled, "click" in sys.modules)
try:
    from webhook_kit.cli import cli
except ImportError as error:
    print(error)
"""
    result = without_click(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "200 ('job.completed',) False",
        "the webhook-kit command line needs click: pip install 'webhook-kit[cli]'",
    ]


def test_the_package_root_does_not_import_the_cli() -> None:
    """`import webhook_kit` loads neither the CLI nor click."""
    code = (
        "import sys, webhook_kit; "
        "print(sorted(m for m in sys.modules if m == 'click' or m.startswith('webhook_kit.cli')))"
    )
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


# replay

ROOT = Path(__file__).resolve().parent.parent

#: The application `replay --app hooks:...` imports: receivers with models fixed for the drifts
#: (`fixed`), the same receivers with today's models (`strict`), and a CeleryDefer (`defer`).
HOOKS = """
import os
from pathlib import Path

import celery

from tests.drift import REFUSED, fixed_provider
from webhook_kit import Receiver, SQLiteStore
from webhook_kit.celery import CeleryDefer
from webhook_kit.deadletters import SQLiteDeadLetters

HERE = Path(__file__).parent
SECRET = os.environ["WEBHOOK_KIT_SECRET"]
store = SQLiteStore(HERE / "idempotency.sqlite3")
dead_letters = SQLiteDeadLetters(HERE / "dead.sqlite3")
DRIFTS = [drift for drift in REFUSED if drift.kind == "string"]


def record(event):
    with (HERE / "handled.txt").open("a") as handled:
        handled.write(f"{event.event_type}\\n")


def receivers_for(fix):
    made = []
    for drift in DRIFTS:
        provider = fixed_provider(drift) if fix else drift.provider
        receiver = Receiver(provider, secret=SECRET, store=store, dead_letters=dead_letters)
        receiver.on(drift.event_type)(record)
        made.append(receiver)
    return made


fixed = receivers_for(fix=True)
strict = {receiver.provider.name: receiver for receiver in receivers_for(fix=False)}
app = celery.Celery("hooks", broker="redis://127.0.0.1:1/0", set_as_current=False)
defer = CeleryDefer(app, dead_letters=dead_letters)
for drift in DRIFTS:
    Receiver(fixed_provider(drift), secret=SECRET, store=store, defer=defer).on(drift.event_type)(
        record
    )
"""


@dataclass
class Letters:
    """A folder with `hooks.py` and dead letters: one refused drift per provider, and a failure."""

    folder: Path
    #: The dead-letter ids, in the order they were recorded.
    ids: list[str]

    @property
    def path(self) -> str:
        """The dead-letter file."""
        return str(self.folder / "dead.sqlite3")

    def handled(self) -> list[str]:
        """The event types the application's handlers received, in order."""
        handled = self.folder / "handled.txt"
        return handled.read_text().splitlines() if handled.exists() else []

    def left(self) -> list[DeadLetter]:
        """The letters still recorded."""
        store = SQLiteDeadLetters(self.path)
        try:
            return store.all()
        finally:
            store.close()


@pytest.fixture
def letters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Letters]:
    """Dead letters left by strict receivers, and the application module that replays them."""
    (tmp_path / "hooks.py").write_text(HOOKS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # replay adds the current directory
    dead = SQLiteDeadLetters(tmp_path / "dead.sqlite3")
    ids = []
    for drift in REFUSED:
        if drift.kind == "string":
            receiver = Receiver(drift.provider, secret=SECRET, dead_letters=dead)
            delivery = drift.delivery(SECRET, f"dlv_{drift.provider}")
            assert receiver.handle(*delivery).status == 400
            ids.append(drift.key(delivery))
    received = time.time() - 3600  # a handler failure in a worker, an hour ago
    body, headers = testing.signed_delivery("pulse", SECRET, "job.completed", now=received)
    pulse_id = "pulse:" + providers.PULSE.delivery_key(body, headers)
    dead.add(
        DeadLetter(
            id=pulse_id,
            provider="pulse",
            body=body,
            headers={name.lower(): value for name, value in headers.items()},
            reason="handler_failed",
            error="RuntimeError: ledger unreachable",
            attempts=5,
            received_at=received,
        )
    )
    dead.close()
    yield Letters(tmp_path, [*ids, pulse_id])
    sys.modules.pop("hooks", None)


def test_replay_list_shows_every_letter_and_runs_none(letters: Letters) -> None:
    """`replay --list` prints one line per letter with its reason, needing no application."""
    result = run("replay", "--list", "--dead-letters", letters.path)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == letters.ids
    assert sum("invalid_payload" in line for line in lines) == 5
    assert "handler_failed" in lines[5]
    assert "data.pages: Input should be a valid integer" in lines[0]
    assert lines[-1] == "6 dead letters"
    assert (len(letters.left()), letters.handled()) == (6, [])


def test_replay_runs_invalid_and_failed_letters_once(letters: Letters) -> None:
    """Through fixed models, every letter is processed once and removed; a rerun finds none."""
    result = with_secret("replay", "--app", "hooks:fixed")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split() for line in lines[:-1]] == [["processed", id] for id in letters.ids]
    assert lines[-1] == "6 replayed: 6 done, 0 kept"
    assert letters.left() == []
    assert sorted(letters.handled()) == ["document.completed"] * 2 + ["job.completed"] * 4
    again = with_secret("replay", "--app", "hooks:fixed", "--dead-letters", letters.path)
    assert (again.exit_code, again.stdout) == (0, "0 replayed: 0 done, 0 kept\n")
    assert len(letters.handled()) == 6


def test_replay_keeps_letters_that_still_fail_and_exits_1(letters: Letters) -> None:
    """With today's strict models, the invalid letters stay with one more attempt; exit 1."""
    result = with_secret("replay", "-A", "hooks:strict", "--provider", "struktr")
    assert result.exit_code == 1
    [line, summary] = result.stdout.splitlines()
    assert line.split()[:2] == ["invalid_payload", letters.ids[0]]
    assert "data.pages: Input should be a valid integer" in line
    assert summary == "1 replayed: 0 done, 1 kept"
    kept = {letter.id: letter.attempts for letter in letters.left()}
    assert (kept[letters.ids[0]], kept[letters.ids[1]], letters.handled()) == (2, 1, [])


def test_replay_one_letter_by_id_through_a_celery_defer(letters: Letters) -> None:
    """`--id` replays that letter only; `--app` may name a CeleryDefer and its dead letters."""
    result = with_secret("replay", "-A", "hooks:defer", "--id", letters.ids[2])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0].split() == ["processed", letters.ids[2]]
    assert (len(letters.left()), letters.handled()) == (5, ["job.completed"])


def test_replay_no_verify_takes_letters_signed_with_a_rotated_secret(letters: Letters) -> None:
    """Letters signed with a secret the app no longer has are refused, unless --no-verify."""
    env = {"WEBHOOK_KIT_SECRET": OTHER}
    refused = run("replay", "-A", "hooks:fixed", "-p", "pulse", env=env)
    assert refused.exit_code == 1
    assert [line.split()[:2] for line in refused.stdout.splitlines()[:-1]] == [
        ["signature_mismatch", letters.ids[4]],
        ["signature_mismatch", letters.ids[5]],
    ]
    taken = run("replay", "-A", "hooks:fixed", "-p", "pulse", "--no-verify", env=env)
    assert (taken.exit_code, taken.stdout.splitlines()[-1]) == (0, "2 replayed: 2 done, 0 kept")
    assert (len(letters.left()), letters.handled()) == (4, ["job.completed", "job.completed"])


@pytest.mark.parametrize(
    ("args", "status", "reason"),
    [
        (["replay"], 2, "which dead letters? pass --dead-letters PATH or --app MODULE:ATTRIBUTE"),
        (["replay", "--dead-letters", "dead.sqlite3"], 2, "replay needs --app MODULE:ATTRIBUTE"),
        (["replay", "--dead-letters", "nope.sqlite3", "--list"], 2, "no such file 'nope.sqlite3'"),
        (["replay", "--app", "hooks"], 2, "--app must be MODULE:ATTRIBUTE"),
        (["replay", "--app", "no_such_module:x"], 2, "no module named 'no_such_module'"),
        (["replay", "--app", "hooks:missing"], 2, "'hooks' has no 'missing'"),
        (["replay", "--app", "hooks:store"], 2, "is a SQLiteStore: it must name a Receiver"),
        (["replay", "--app", "broken:receivers"], 1, "importing 'broken' failed: RuntimeError: "),
        (["replay", "--app", "hooks:fixed", "--id", "struktr:nope"], 1, "no dead letter"),
    ],
)
def test_replay_errors_are_one_line(
    letters: Letters, args: list[str], status: int, reason: str
) -> None:
    """A wrong --app, a missing file or an unknown id is one line naming the fix."""
    (letters.folder / "broken.py").write_text("raise RuntimeError('no config')\n")
    result = with_secret(*args)
    assert result.exit_code == status
    assert reason in one_line_error(result)
    sys.modules.pop("broken", None)


def test_replay_runs_as_a_process(letters: Letters) -> None:
    """`python -m webhook_kit replay --app` imports the app from the current directory."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WEBHOOK_KIT_SECRET": SECRET, "NO_COLOR": "1"}

    def replay(app: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603
            [sys.executable, "-m", "webhook_kit", "replay", "--app", app],
            capture_output=True,
            text=True,
            check=False,
            cwd=letters.folder,
            env=env,
        )

    strict = replay("hooks:strict")  # still refused: kept, and no log lines leak to stderr
    assert (strict.returncode, strict.stderr) == (1, "")
    assert strict.stdout.splitlines()[-1] == "6 replayed: 1 done, 5 kept"
    fixed = replay("hooks:fixed")
    assert (fixed.returncode, fixed.stderr) == (0, "")
    assert fixed.stdout.splitlines()[-1] == "5 replayed: 5 done, 0 kept"
    assert SECRET not in strict.stdout + fixed.stdout
    assert (letters.left(), len(letters.handled())) == ([], 6)


def test_replay_lists_letters_of_a_sql_database(postgres_dsn: str) -> None:
    """`--dead-letters` also takes a database URL, for dead letters shared by several hosts."""
    url = sqlalchemy_url(postgres_dsn)
    dead = SQLDeadLetters(url)
    dead.create_table()
    letter_id = f"struktr:cli-{time.time_ns()}"
    body, headers = testing.signed_delivery("struktr", SECRET, "document.completed")
    dead.add(
        DeadLetter(
            id=letter_id,
            provider="struktr",
            body=body,
            headers=headers,
            reason="handler_failed",
            error="RuntimeError: ledger unreachable",
            attempts=5,
            received_at=time.time(),
        )
    )
    try:
        result = run("replay", "--list", "--dead-letters", url)
        assert result.exit_code == 0, result.stderr
        [line] = [line for line in result.stdout.splitlines() if letter_id in line]
        assert "handler_failed" in line
    finally:
        dead.remove(letter_id)
        dead.close()


def test_replay_from_an_unreachable_database_is_one_line_without_the_password() -> None:
    """A database that does not answer is one line that never shows the URL's password."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql+psycopg://webhooks:s3cr3t-pw@127.0.0.1:{port}/db"
    line = one_line_error(run("replay", "--list", "--dead-letters", url))
    assert "cannot open the dead letters at postgresql+psycopg://..." in line
    assert "s3cr3t-pw" not in line
