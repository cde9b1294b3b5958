"""Send a delivery over HTTP with the standard library, and make the bad ones a sender might.

`post` returns the reply whatever its status (a 401 is an answer, not an exception) and raises
`OSError` with a one-line reason only when there is no answer at all. `tamper` changes a body
after it was signed, so a correct receiver must refuse it.
"""

from __future__ import annotations

import ipaddress
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = ["Reply", "post", "tamper"]


@dataclass(frozen=True)
class Reply:
    """What the receiver answered."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The body parsed as JSON, or None if it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def text(self, limit: int = 300) -> str:
        """The body as one line of text, cut at `limit` characters."""
        text = " ".join(self.body.decode("utf-8", "replace").split())
        return text if len(text) <= limit else text[: limit - 1] + "…"


def post(url: str, body: bytes, headers: Mapping[str, str], *, timeout: float = 10.0) -> Reply:
    """POST `body` with `headers` to `url` and return the reply, whatever its status.

    Raises `ValueError` for a URL that is not ``http://`` or ``https://``, and `OSError` when no
    reply arrives (refused, unreachable, timed out). Loopback URLs never go through a proxy.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http:// or https:// URL, got {url!r}")
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
    handlers = [urllib.request.ProxyHandler({})] if _loopback(parts.hostname) else []
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(request, timeout=timeout) as response:
            return Reply(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as error:  # a non-2xx answer is still an answer
        with error:
            return Reply(error.code, dict(error.headers.items()), error.read())
    except urllib.error.URLError as error:
        raise OSError(f"no reply from {url}: {error.reason}") from None
    except TimeoutError:
        raise OSError(f"no reply from {url} within {timeout:g} s") from None


def tamper(body: bytes) -> bytes:
    """Return `body` with one byte changed: the last digit bumped, or a space appended.

    Either way a JSON body stays valid JSON, so a receiver that accepts it has skipped the
    signature check rather than failed to parse.
    """
    for index in range(len(body) - 1, -1, -1):
        digit = body[index]
        if 0x30 <= digit <= 0x39:  # ASCII '0'..'9'
            bumped = 0x30 + (digit - 0x30 + 1) % 10
            return body[:index] + bytes([bumped]) + body[index + 1 :]
    return body + b" "


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
