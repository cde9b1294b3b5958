"""What several ``webhook-kit`` commands share: their options and the library's log lines."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from ..errors import PayloadError
from ..providers import PROVIDERS, Provider
from ..testing import signed_delivery
from . import _inputs

F = TypeVar("F", bound=Callable[..., Any])

ENVIRONMENT = (
    "Secrets come from --secret, else <PROVIDER>_WEBHOOK_SECRET (STRUKTR_WEBHOOK_SECRET, ...), "
    "else WEBHOOK_KIT_SECRET; they are never printed."
)


provider_option = click.option(
    "--provider",
    "-p",
    type=click.Choice(list(PROVIDERS)),
    help="The sender whose scheme and headers to use.",
)


def secret_option(function: F) -> F:
    return click.option(
        "--secret",
        "-s",
        multiple=True,
        metavar="SECRET",
        help="A signing secret; repeat for rotation (the first signs). Prefer the environment.",
    )(function)


def scheme_options(function: F) -> F:
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


age_option = click.option(
    "--age",
    type=click.IntRange(min=0),
    default=0,
    metavar="SECONDS",
    help="Sign as if SECONDS ago: a stale delivery for schemes that sign a timestamp.",
)
delivery_id_option = click.option(
    "--delivery-id", help="The delivery id (struktr, Pulse); the same id makes a retry."
)


def headers_for(
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


@contextmanager
def library_logging(verbose: bool) -> Iterator[None]:
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


def status_label(status: int) -> str:
    colour = "green" if status < 300 else "yellow" if status in (409, 503) else "red"
    return click.style(f"HTTP {status}", fg=colour, bold=True)
