"""``webhook-kit send``: a signed sample (or a file) posted to a URL, as the provider would."""

from __future__ import annotations

import sys
import time
from typing import IO

import click

from ..providers import PROVIDERS
from ..testing import signed_delivery
from . import _inputs
from ._options import (
    ENVIRONMENT,
    age_option,
    delivery_id_option,
    headers_for,
    secret_option,
    status_label,
)
from .client import Reply, post, tamper


@click.command(epilog=ENVIRONMENT)
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
@secret_option
@click.option("--tamper", "tampered", is_flag=True, help="Change the body after signing it.")
@click.option("--duplicate", is_flag=True, help="Send the same delivery twice, as a retry does.")
@age_option
@delivery_id_option
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
    _inputs.make_signer(preset, None, secrets)  # a secret in the wrong form fails here
    now = time.time() - age
    if event_type is not None:
        data, headers = signed_delivery(
            preset, secrets, event_type, now=now, delivery_id=delivery_id
        )
    else:
        assert body is not None  # noqa: S101 - checked above
        data = body.read()
        headers = headers_for(preset, secrets, data, now, delivery_id)
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
        click.echo(f"{status_label(reply.status)}  {reply.text()}{again}")
    if not all(reply.ok for reply in replies):
        sys.exit(1)
