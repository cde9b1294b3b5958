"""``webhook-kit sign`` and ``webhook-kit verify``: the headers for a body, and a check of them."""

from __future__ import annotations

import json
import sys
import time
from typing import IO

import click

from ..errors import WebhookError
from ..signatures import StandardWebhooksVerifier
from . import _inputs
from ._options import (
    ENVIRONMENT,
    age_option,
    delivery_id_option,
    headers_for,
    provider_option,
    scheme_options,
    secret_option,
)


@click.command(epilog=ENVIRONMENT)
@click.argument("body", type=click.File("rb"), default="-")
@provider_option
@scheme_options
@secret_option
@age_option
@delivery_id_option
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
    verifier = _inputs.make_signer(preset, scheme, secrets, header=header, prefix=prefix)
    if preset is not None:
        headers = headers_for(preset, secrets, data, now, delivery_id)
    elif isinstance(verifier, StandardWebhooksVerifier):
        headers = verifier.sign(data, now=now, msg_id=delivery_id)
    else:
        headers = verifier.sign(data, now=now)
    if as_json:
        click.echo(json.dumps(headers, indent=2))
    else:
        for name, value in headers.items():
            click.echo(f"{name}: {value}")


@click.command(epilog=ENVIRONMENT)
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
@provider_option
@scheme_options
@secret_option
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
