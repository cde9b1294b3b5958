"""Case-insensitive header lookup over any mapping or framework header object."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from .errors import MalformedHeaderError

__all__ = ["HeadersLike", "get_header"]


class HeadersLike(Protocol):
    """What verifiers need from headers: `dict`, werkzeug, starlette and Django objects all fit."""

    def get(self, key: str, /) -> Any: ...

    def items(self) -> Iterable[tuple[Any, Any]]: ...


def get_header(headers: HeadersLike, name: str, lower: str) -> str | None:
    """Return the value of header `name` (whose lower-case form is `lower`), or None if absent.

    Framework header objects are case-insensitive already, and plain dicts usually hold the
    canonical or the lower-case spelling, so the common case is one or two hash lookups; only a
    miss scans every item. Byte strings (raw ASGI headers) are decoded as Latin-1, like HTTP does.
    """
    value = headers.get(name)
    if value is None and lower != name:
        value = headers.get(lower)
    if value is None:
        for raw_key, item in headers.items():
            key = raw_key.decode("latin-1") if isinstance(raw_key, bytes) else raw_key
            if isinstance(key, str) and key.lower() == lower:
                value = item
                break
        else:
            return None
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("latin-1")
    raise MalformedHeaderError(name, f"expected text, got {type(value).__name__}")
