"""The ``webhook-kit`` commands: sign, send, verify, serve and replay.

Each command reads its secret from ``--secret`` or the environment (``<PROVIDER>_WEBHOOK_SECRET``,
then ``WEBHOOK_KIT_SECRET``) and never prints it; ``replay`` uses the receivers of the application
it imports, with their own secrets. Every error is one line on stderr with a non-zero exit
status: 2 for a usage problem, 1 otherwise.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from types import FrameType
from typing import IO, Any, TypeVar

import click

from ..deadletters import DeadLetter, DeadLetterStore, Replayed
from ..deadletters import replay as replay_letters
from ..errors import PayloadError, WebhookError
from ..idempotency import IdempotencyStore, MemoryStore, SQLiteStore
from ..providers import PROVIDERS, Provider
from ..signatures import StandardWebhooksVerifier
from ..testing import signed_delivery
from . import _inputs, _replay
from .client import Reply, post, tamper
from .server import Delivered, ReceiverServer, make_receivers

__all__ = ["cli", "main"]

F = TypeVar("F", bound=Callable[..., Any])

_ENVIRONMENT = (
    "Secrets come from --secret, else <PROVIDER>_WEBHOOK_SECRET (STRUKTR_WEBHOOK_SECRET, ...), "
    "else WEBHOOK_KIT_SECRET; they are never printed."
)


class _Group(click.Group):
    """A group whose errors are one line on stderr, never a traceback."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as exc:
            if not standalone_mode:
                raise
            _fail(_one_line(exc), exc.exit_code)
        except click.Abort:
            if not standalone_mode:
                raise
            _fail("interrupted", 130)
        except Exception as exc:  # a bug: still one line, and how to report it
            if not standalone_mode:
                raise
            _fail(f"unexpected {type(exc).__name__}: {exc} (please report this)", 1)
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)


def _one_line(exc: click.ClickException) -> str:
    message = " ".join(exc.format_message().split())
    if isinstance(exc, click.UsageError) and exc.ctx is not None:
        message += f" (see '{exc.ctx.command_path} --help')"
    return message


def _fail(message: str, status: int) -> None:
    click.echo(click.style("Error: ", fg="red", bold=True) + message, err=True)
    sys.exit(status)


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="webhook-kit", message="%(prog)s %(version)s")
def cli() -> None:
    """Sign, send, verify and receive webhook deliveries from the command line.

    \b
    Examples:
      webhook-kit serve --port 0
      webhook-kit send http://127.0.0.1:8000/webhooks/struktr -p struktr -e document.completed
      webhook-kit sign body.json -p struktr > headers.txt
      webhook-kit verify -p struktr --headers headers.txt --body body.json
      webhook-kit replay --app hooks:receivers --dead-letters dead-letters.sqlite3

    Secrets come from --secret, else <PROVIDER>_WEBHOOK_SECRET (STRUKTR_WEBHOOK_SECRET, ...),
    else WEBHOOK_KIT_SECRET. They are never printed.
    """


def main() -> None:
    """The console script: run the ``webhook-kit`` command line."""
    cli.main(prog_name="webhook-kit")


# Options shared by several commands

_provider = click.option(
    "--provider",
    "-p",
    type=click.Choice(list(PROVIDERS)),
    help="The sender whose scheme and headers to use.",
)


def _secret(function: F) -> F:
    return click.option(
        "--secret",
        "-s",
        multiple=True,
        metavar="SECRET",
        help="A signing secret; repeat for rotation (the first signs). Prefer the environment.",
    )(function)


def _scheme(function: F) -> F:
    options = [
        click.option(
            "--scheme",
            type=click.Choice(_inputs.SCHEMES),
            help="Instead of --provider: 'hex' (HMAC-SHA256 hex in --header) or 'standard' "
            "(Standard Webhooks).",
        ),
        click.option("--header", help="With --scheme hex: the signature header's name."),
        click.option("--prefix", default="", help="With --scheme hex: a prefix such as sha256=."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


_age = click.option(
    "--age",
    type=click.IntRange(min=0),
    default=0,
    metavar="SECONDS",
    help="Sign as if SECONDS ago: a stale delivery for schemes that sign a timestamp.",
)
_delivery_id = click.option(
    "--delivery-id", help="The delivery id (struktr, Pulse); the same id makes a retry."
)


def _headers_for(
    provider: Provider, secrets: Sequence[str], body: bytes, now: float, delivery_id: str | None
) -> dict[str, str]:
    """Everything `provider` sends with `body`, plus the event type header where it has one."""
    headers = signed_delivery(provider, secrets, body, now=now, delivery_id=delivery_id).headers
    if provider.event_type_header:
        try:
            event_type = provider.parse(body).event_type
        except PayloadError:
            event_type = None
        if isinstance(event_type, str):
            headers[provider.event_type_header] = event_type
    return headers


# sign


@cli.command(epilog=_ENVIRONMENT)
@click.argument("body", type=click.File("rb"), default="-")
@_provider
@_scheme
@_secret
@_age
@_delivery_id
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead of lines.")
def sign(
    *,
    body: IO[bytes],
    provider: str | None,
    scheme: str | None,
    header: str | None,
    prefix: str,
    secret: tuple[str, ...],
    age: int,
    delivery_id: str | None,
    as_json: bool,
) -> None:
    """Print the headers that sign BODY (a file, or - for stdin).

    \b
    Examples:
      webhook-kit sign body.json --provider struktr
      echo '{"event":"ping"}' | webhook-kit sign --scheme hex --header X-Signature
    """
    preset = _inputs.choose(provider, scheme)
    secrets = _inputs.secrets_for(secret, preset.name if preset else None)
    data = body.read()
    now = time.time() - age
    verifier = _inputs.make_verifier(preset, scheme, secrets, header=header, prefix=prefix)
    if preset is not None:
        headers = _headers_for(preset, secrets, data, now, delivery_id)
    elif isinstance(verifier, StandardWebhooksVerifier):
        headers = verifier.sign(data, now=now, msg_id=delivery_id)
    else:
        headers = verifier.sign(data, now=now)
    if as_json:
        click.echo(json.dumps(headers, indent=2))
    else:
        for name, value in headers.items():
            click.echo(f"{name}: {value}")


# send


@cli.command(epilog=_ENVIRONMENT)
@click.argument("url")
@click.option(
    "--provider",
    "-p",
    type=click.Choice(list(PROVIDERS)),
    required=True,
    help="The sender to imitate.",
)
@click.option("--event", "-e", "event_type", help="A documented event type: send its sample.")
@click.option("--body", type=click.File("rb"), help="Send this file's bytes instead of a sample.")
@_secret
@click.option("--tamper", "tampered", is_flag=True, help="Change the body after signing it.")
@click.option("--duplicate", is_flag=True, help="Send the same delivery twice, as a retry does.")
@_age
@_delivery_id
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds to wait.")
def send(
    *,
    url: str,
    provider: str,
    event_type: str | None,
    body: IO[bytes] | None,
    secret: tuple[str, ...],
    tampered: bool,
    duplicate: bool,
    age: int,
    delivery_id: str | None,
    timeout: float,
) -> None:
    """POST a correctly signed delivery to URL and print each reply.

    Exits 0 if every reply was 2xx, 1 otherwise.

    \b
    Examples:
      webhook-kit send http://127.0.0.1:8000/webhooks/pulse -p pulse -e job.completed
      webhook-kit send URL -p struktr -e document.failed --duplicate
      webhook-kit send URL -p pulse -e job.failed --age 600     # stale: 401
      webhook-kit send URL -p imggo --body payload.json --tamper  # forged: 401
    """
    preset = PROVIDERS[provider]
    if (event_type is None) == (body is None):
        raise click.UsageError("pass --event EVENT_TYPE or --body FILE (one of them)")
    if event_type is not None and event_type not in preset.event_types:
        known = ", ".join(preset.event_types)
        raise click.UsageError(
            f"{preset.title} documents no {event_type!r} event; known: {known} "
            "(send any other payload with --body FILE)"
        )
    secrets = _inputs.secrets_for(secret, preset.name)
    _inputs.make_verifier(preset, None, secrets)  # a secret in the wrong form fails here
    now = time.time() - age
    if event_type is not None:
        data, headers = signed_delivery(
            preset, secrets, event_type, now=now, delivery_id=delivery_id
        )
    else:
        assert body is not None  # noqa: S101 - checked above
        data = body.read()
        headers = _headers_for(preset, secrets, data, now, delivery_id)
        event_type = headers.get(preset.event_type_header or "", "a custom body")
    notes = [note for note, on in (("tampered", tampered), (f"{age} s old", age)) if on]
    if tampered:
        data = tamper(data)
    suffix = f" ({', '.join(notes)})" if notes else ""
    click.echo(f"POST {url}  {preset.name} {event_type}, {len(data)} bytes{suffix}")
    replies: list[Reply] = []
    for attempt in range(2 if duplicate else 1):
        try:
            reply = post(url, data, headers, timeout=timeout)
        except (OSError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
        replies.append(reply)
        again = "  (the same delivery again)" if attempt else ""
        click.echo(f"{_status(reply.status)}  {reply.text()}{again}")
    if not all(reply.ok for reply in replies):
        sys.exit(1)


def _status(status: int) -> str:
    colour = "green" if status < 300 else "yellow" if status in (409, 503) else "red"
    return click.style(f"HTTP {status}", fg=colour, bold=True)


# verify


@cli.command(epilog=_ENVIRONMENT)
@click.option(
    "--request",
    "request_file",
    type=click.File("rb"),
    help="A raw HTTP request: request line, headers, blank line, body.",
)
@click.option(
    "--headers",
    "headers_file",
    type=click.File("rb"),
    help="The headers: 'Name: value' lines (what sign prints) or a JSON object.",
)
@click.option("--body", "body_file", type=click.File("rb"), help="The raw body, byte for byte.")
@_provider
@_scheme
@_secret
@click.option(
    "--tolerance",
    type=click.IntRange(min=0),
    metavar="SECONDS",
    help="Timestamped schemes: how old a delivery may be (default 300).",
)
def verify(
    *,
    request_file: IO[bytes] | None,
    headers_file: IO[bytes] | None,
    body_file: IO[bytes] | None,
    provider: str | None,
    scheme: str | None,
    header: str | None,
    prefix: str,
    secret: tuple[str, ...],
    tolerance: int | None,
) -> None:
    """Verify a captured request; print one line saying why, exit 0 if valid, 1 if not.

    With --provider the body must also be a valid event of that provider.

    \b
    Examples:
      webhook-kit verify -p struktr --headers headers.txt --body body.json
      webhook-kit verify -p pulse --request captured.http
      webhook-kit verify --scheme hex --header X-Signature --request captured.http
    """
    if request_file is not None:
        if headers_file is not None or body_file is not None:
            raise click.UsageError("pass --request FILE, or --headers FILE and --body FILE")
        captured = _inputs.parse_request(request_file.read(), request_file.name)
        headers, data = captured.headers, captured.body
    elif headers_file is not None and body_file is not None:
        text = headers_file.read().decode("utf-8", "surrogateescape")
        headers, data = _inputs.parse_headers(text, headers_file.name), body_file.read()
    else:
        raise click.UsageError("pass --request FILE, or --headers FILE and --body FILE")
    preset = _inputs.choose(provider, scheme)
    secrets = _inputs.secrets_for(secret, preset.name if preset else None)
    verifier = _inputs.make_verifier(
        preset, scheme, secrets, header=header, prefix=prefix, tolerance=tolerance
    )
    try:
        if preset is None:
            verifier.verify(data, headers)
            click.echo(click.style("valid", fg="green", bold=True) + ": the signature matches")
            return
        event = preset.verify_and_parse(data, headers, verifier=verifier)
    except WebhookError as exc:
        click.echo(click.style("invalid", fg="red", bold=True) + f" ({exc.code}): {exc}")
        sys.exit(1)
    key = preset.delivery_key(data, headers)
    click.echo(
        click.style("valid", fg="green", bold=True)
        + f": a {preset.name} {event.event_type} event, delivery {key}"
    )


# serve


@cli.command(epilog=_ENVIRONMENT)
@click.option(
    "--provider",
    "-p",
    "provider_names",
    type=click.Choice(list(PROVIDERS)),
    multiple=True,
    help="A provider to receive; repeat for several. Default: all of them.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to bind.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="0 picks a free port.",
)
@click.option(
    "--store",
    default="webhooks.sqlite3",
    show_default=True,
    metavar="PATH",
    help="The SQLite idempotency store; ':memory:' keeps it in this process.",
)
@_secret
def serve(
    *,
    provider_names: tuple[str, ...],
    host: str,
    port: int,
    store: str,
    secret: tuple[str, ...],
) -> None:
    """Receive deliveries at /webhooks/<provider> and print a line for each one.

    Every delivery runs through the full pipeline (verify, parse, deduplicate, handle); a
    handler for every event type records what it saw. Ctrl-C stops.

    \b
    Examples:
      webhook-kit serve                           # all providers on 127.0.0.1:8000
      webhook-kit serve -p struktr -p pulse --port 0
      webhook-kit serve --store :memory:
    """
    names = provider_names or tuple(PROVIDERS)
    secrets = {name: _inputs.secrets_for(secret, name) for name in names}
    for name, provider_secrets in secrets.items():
        _inputs.make_verifier(PROVIDERS[name], None, provider_secrets)
    try:
        idempotency: IdempotencyStore = MemoryStore() if store == ":memory:" else SQLiteStore(store)
    except (WebhookError, sqlite3.Error, OSError) as exc:
        raise click.ClickException(f"cannot open the store {store!r}: {exc}") from None
    try:
        server = ReceiverServer(
            make_receivers(secrets, store=idempotency),
            host=host,
            port=port,
            on_delivery=_print_delivery,
        )
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    click.echo(f"webhook-kit is listening on {server.url} (store: {store}); Ctrl-C stops")
    for name in names:
        click.echo(f"  {name:<16} POST {server.endpoint(name)}")
    previous = _stop_on_sigterm()
    try:
        with _library_logging(verbose=False):  # each delivery gets its own line already
            server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    click.echo(f"stopped after {len(server.deliveries)} requests")


def _print_delivery(delivered: Delivered) -> None:
    fields = " ".join(f"{name}={value}" for name, value in delivered.fields.items())
    if delivered.handled:
        seen = click.style(f"{'handled':<11}", fg="green")
    else:
        seen = click.style(f"{'not handled':<11}", dim=True)
    detail = fields if delivered.status < 300 else delivered.message or ""
    parts = [
        delivered.at.strftime("%H:%M:%S"),
        _status(delivered.status),
        f"{delivered.result:<26}",
        f"{delivered.provider or delivered.path:<16}",
        f"{delivered.event_type or '-':<22}",
        seen,
        detail,
    ]
    click.echo("  ".join(parts).rstrip())


def _stop_on_sigterm() -> Any:
    """Make SIGTERM stop the server like Ctrl-C; return the handler it replaced."""

    def interrupt(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001
        raise KeyboardInterrupt

    if os.name != "posix":
        return None
    try:
        return signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread
        return None


# replay


@cli.command()
@click.option(
    "--app",
    "-A",
    "app_spec",
    metavar="MODULE:ATTRIBUTE",
    help="Your receivers, imported from the current directory: a Receiver, a list or dict of "
    "them, or a CeleryDefer. Their handlers, models and stores run the letters.",
)
@click.option(
    "--dead-letters",
    "dead_letters_path",
    metavar="PATH|URL",
    help="The SQLite dead-letter file, or the database URL of SQLDeadLetters "
    "(postgresql+psycopg://...). Default: the dead letters the --app configured.",
)
@click.option("--id", "letter_id", metavar="ID", help="Only this letter, e.g. struktr:dlv_42.")
@click.option("--provider", "-p", "provider_name", help="Only this provider's letters.")
@click.option(
    "--no-verify",
    is_flag=True,
    help="Skip the signature check: for letters signed with a secret since rotated away.",
)
@click.option("--list", "list_only", is_flag=True, help="List the letters; replay nothing.")
@click.option("--verbose", "-v", is_flag=True, help="Also print the library's log lines.")
def replay(
    *,
    app_spec: str | None,
    dead_letters_path: str | None,
    letter_id: str | None,
    provider_name: str | None,
    no_verify: bool,
    list_only: bool,
    verbose: bool,
) -> None:
    """Run dead letters again through your receivers, now that the cause is fixed.

    Dead letters are deliveries whose handlers kept failing in a worker, and verified
    deliveries your models refused (reason invalid_payload). Each goes through the receiver of
    its provider with today's models and handlers, once: a processed letter (or one the
    provider's retry processed meanwhile) is removed, one that fails again stays, with the new
    error. Exits 0 if every letter is done, 1 if any was kept.

    \b
    Examples:
      webhook-kit replay --list --dead-letters dead-letters.sqlite3
      webhook-kit replay --app hooks:receivers --dead-letters dead-letters.sqlite3
      webhook-kit replay -A hooks:defer --provider struktr     # a CeleryDefer's receivers
      webhook-kit replay -A hooks:receivers --id struktr:dlv_42 --no-verify
    """
    target = _replay.load_app(app_spec) if app_spec is not None else None
    if dead_letters_path is not None:
        opened = _replay.dead_letters_at(dead_letters_path)
        click.get_current_context().call_on_close(opened.close)
        stores: tuple[DeadLetterStore, ...] = (opened,)
    elif target is not None and target.dead_letters:
        stores = target.dead_letters
    else:
        where = "" if target is not None else " or --app MODULE:ATTRIBUTE"
        raise click.UsageError(f"which dead letters? pass --dead-letters PATH{where}")
    selected = _selected(stores, letter_id, provider_name)
    if letter_id is not None and not selected:
        raise click.ClickException(f"no dead letter {letter_id!r}: see 'webhook-kit replay --list'")
    if list_only:
        for _, letter in selected:
            click.echo(_letter_line(letter))
        click.echo(f"{len(selected)} dead letter{'' if len(selected) == 1 else 's'}")
        return
    if target is None:
        raise click.UsageError(
            "replay needs --app MODULE:ATTRIBUTE, the receivers whose handlers run the letters "
            "(--list only lists them)"
        )
    results: list[Replayed] = []
    with _library_logging(verbose):
        for store, letter in selected:
            [result] = replay_letters(target.receivers, store, letter.id, verify=not no_verify)
            click.echo(_result_line(result))
            results.append(result)
    kept = sum(not result.done for result in results)
    click.echo(f"{len(results)} replayed: {len(results) - kept} done, {kept} kept")
    if kept:
        sys.exit(1)


def _selected(
    stores: Sequence[DeadLetterStore], letter_id: str | None, provider: str | None
) -> list[tuple[DeadLetterStore, DeadLetter]]:
    try:
        found = [(store, letter) for store in stores for letter in store.all(provider=provider)]
    except WebhookError as exc:
        raise click.ClickException(str(exc)) from None
    return [pair for pair in found if letter_id in (None, pair[1].id)]


def _letter_line(letter: DeadLetter) -> str:
    received = datetime.fromtimestamp(letter.received_at).strftime("%Y-%m-%d %H:%M:%S")
    parts = [
        letter.id,
        click.style(letter.reason, fg="yellow"),
        f"attempts={letter.attempts}",
        f"received {received}",
        letter.error,
    ]
    return "  ".join(parts)


def _result_line(result: Replayed) -> str:
    colour = "green" if result.done else "yellow" if result.result == "in_progress" else "red"
    line = click.style(f"{result.result:<18}", fg=colour, bold=True) + f"  {result.id}"
    return line + (f"  {result.error}" if result.error and not result.done else "")


@contextmanager
def _library_logging(verbose: bool) -> Iterator[None]:
    """Show the library's log lines with --verbose; otherwise keep the last-resort handler quiet.

    Each letter's outcome is printed anyway, and a handler's traceback has no place here. An
    application that set up logging itself keeps its own handlers.
    """
    library = logging.getLogger("webhook_kit")
    handler: logging.Handler
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        handler.setLevel(logging.INFO)
    elif not library.hasHandlers():
        handler = logging.NullHandler()  # Python's last-resort handler would print warnings
    else:
        yield
        return
    previous = library.level
    library.addHandler(handler)
    if verbose:
        library.setLevel(logging.INFO)
    try:
        yield
    finally:
        library.removeHandler(handler)
        library.setLevel(previous)
