"""``webhook-kit serve``: a local receiver for every provider, printing a line per delivery."""

from __future__ import annotations

import os
import signal
import sqlite3
from types import FrameType
from typing import Any

import click

from ..errors import WebhookError
from ..idempotency import IdempotencyStore, MemoryStore, SQLiteStore
from ..providers import PROVIDERS
from . import _inputs
from ._options import (
    ENVIRONMENT,
    library_logging,
    secret_option,
    status_label,
)
from .server import Delivered, ReceiverServer, make_receivers


@click.command(epilog=ENVIRONMENT)
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
@secret_option
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
        with library_logging(verbose=False):  # each delivery gets its own line already
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
        status_label(delivered.status),
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
