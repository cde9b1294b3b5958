"""What the commands read: secrets, the scheme to sign or verify with, captured requests.

Every problem is a `click.ClickException` (or `click.UsageError`) with a one-line message that
never contains a secret.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

import click

from ..providers import PROVIDERS, Provider
from ..signatures import HexHmacVerifier, StandardWebhooksVerifier, Verifier

__all__ = [
    "SECRET_ENV",
    "Captured",
    "make_signer",
    "make_verifier",
    "parse_headers",
    "parse_request",
    "provider_env",
    "secrets_for",
]

SECRET_ENV = "WEBHOOK_KIT_SECRET"  # noqa: S105 - the variable's name, not a secret
"""The environment variable holding the secret for every provider without its own."""

SCHEMES = ("hex", "standard")


def provider_env(provider: str) -> str:
    """The environment variable holding `provider`'s secret: ``STRUKTR_WEBHOOK_SECRET``."""
    return f"{provider.upper()}_WEBHOOK_SECRET"


def secrets_for(given: Sequence[str], provider: str | None) -> list[str]:
    """The secrets to use: the ``--secret`` options, else the provider's variable, else ours."""
    if given:
        return list(given)
    names = ([provider_env(provider)] if provider else []) + [SECRET_ENV]
    for name in names:
        value = os.environ.get(name)
        if value:
            return [value]
    whose = f" for {provider}" if provider else ""
    raise click.UsageError(f"no secret{whose}: pass --secret, or set {' or '.join(names)}")


def make_signer(
    provider: Provider | None,
    scheme: str | None,
    secrets: Sequence[str],
    *,
    header: str | None = None,
    prefix: str = "",
) -> Verifier:
    """`make_verifier`, refusing secrets that cannot sign (a ``whpk_`` public key first)."""
    verifier = make_verifier(provider, scheme, secrets, header=header, prefix=prefix)
    try:
        verifier.sign(b"{}")
    except ValueError as exc:
        raise click.UsageError(f"cannot sign: {exc}") from None
    return verifier


def make_verifier(
    provider: Provider | None,
    scheme: str | None,
    secrets: Sequence[str],
    *,
    header: str | None = None,
    prefix: str = "",
    tolerance: int | None = None,
) -> Verifier:
    """The verifier for `provider`, or for a bare `scheme` (``hex`` needs `header`)."""
    try:
        if provider is not None:
            verifier = provider.verifier(secrets)
            if tolerance is not None and isinstance(verifier, StandardWebhooksVerifier):
                verifier = StandardWebhooksVerifier(
                    secrets, tolerance=tolerance, encoding=verifier.encoding
                )
            return verifier
        if scheme == "standard":
            return StandardWebhooksVerifier(
                secrets, tolerance=300 if tolerance is None else tolerance
            )
        if not header:
            raise click.UsageError("--scheme hex needs --header, e.g. --header X-Signature")
        return HexHmacVerifier(secrets, header=header, prefix=prefix)
    except ValueError as exc:  # a secret in the wrong form; the message never quotes it
        whose = provider.name if provider is not None else f"the {scheme} scheme"
        raise click.UsageError(f"bad secret for {whose}: {exc}") from None
    except ImportError as exc:  # a whpk_ or whsk_ key without the ed25519 extra
        raise click.ClickException(str(exc)) from None


def choose(provider: str | None, scheme: str | None) -> Provider | None:
    """The provider preset, after checking exactly one of --provider and --scheme was given."""
    if (provider is None) == (scheme is None):
        known = ", ".join(PROVIDERS)
        raise click.UsageError(f"pass --provider ({known}) or --scheme ({', '.join(SCHEMES)})")
    return PROVIDERS[provider] if provider is not None else None


def parse_headers(text: str, source: str) -> dict[str, str]:
    """Headers from a JSON object or from ``Name: value`` lines (what ``sign`` prints)."""
    if text.lstrip().startswith("{"):
        try:
            loaded = json.loads(text)
        except ValueError as exc:
            raise click.UsageError(f"{source}: not valid JSON ({exc})") from None
        if not isinstance(loaded, dict) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in loaded.items()
        ):
            raise click.UsageError(f"{source}: expected a JSON object of strings")
        return loaded
    headers: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip() or name != name.strip():
            raise click.UsageError(f"{source}, line {number}: expected 'Name: value'")
        headers[name] = value.strip()
    return headers


@dataclass(frozen=True)
class Captured:
    """A request read from a file: method, path, headers and the exact body bytes."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def parse_request(data: bytes, source: str) -> Captured:
    """Split a raw HTTP/1.x request (request line, headers, blank line, body) into its parts.

    Lines may end in CRLF or LF. When ``Content-Length`` is present the body is that many
    bytes (a trailing newline an editor added is dropped); chunked bodies are refused.
    """
    ends = [(data.find(sep), sep) for sep in (b"\r\n\r\n", b"\n\n") if sep in data]
    if not ends:
        raise click.UsageError(f"{source}: no blank line between the headers and the body")
    at, separator = min(ends)
    head, body = data[:at].decode("latin-1"), data[at + len(separator) :]
    lines = head.replace("\r\n", "\n").split("\n")
    request_line = lines[0].split()
    if len(request_line) != 3 or not request_line[2].startswith("HTTP/"):
        raise click.UsageError(f"{source}: the first line must be like 'POST /path HTTP/1.1'")
    headers = parse_headers("\n".join(lines[1:]), source)
    lowered = {name.lower(): value for name, value in headers.items()}
    if "chunked" in lowered.get("transfer-encoding", "").lower():
        raise click.UsageError(
            f"{source}: chunked bodies are not supported; save the body alone and use --body"
        )
    if "content-length" in lowered:
        try:
            length = int(lowered["content-length"])
        except ValueError:
            raise click.UsageError(f"{source}: Content-Length is not a number") from None
        if len(body) < length:
            raise click.UsageError(
                f"{source}: the body is {len(body)} bytes but Content-Length says {length}"
            )
        body = body[:length]
    return Captured(request_line[0], request_line[1], headers, body)
