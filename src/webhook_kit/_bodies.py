"""Reading a request body in an async adapter: raw bytes, refused once over the limit."""

from __future__ import annotations

from collections.abc import AsyncIterable

from .errors import PayloadTooLargeError

__all__ = ["read_limited"]


async def read_limited(chunks: AsyncIterable[bytes], declared: int | None, limit: int) -> bytes:
    """The body as received, or `PayloadTooLargeError` as soon as it is known to exceed `limit`.

    A `declared` Content-Length over the limit is refused before a single chunk is pulled; a
    body without one (chunked) is refused by the first chunk that passes the limit, so the rest
    is never read into memory.
    """
    if declared is not None and declared > limit:
        raise PayloadTooLargeError(limit)
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise PayloadTooLargeError(limit)
    return bytes(body)
