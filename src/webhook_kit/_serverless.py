"""What the serverless adapters share: one function answering every path, routed to receivers.

A Lambda function or a Cloud Function is one entry point behind a URL the platform owns, so the
adapters route on the request path themselves, from its end (whatever prefix, stage or base
path the platform puts before it):

- One receiver answers every path. If it has `TenantSecrets` (and no `tenant_header`), the
  path's last segment is the tenant: ``/webhooks/struktr/acme`` -> ``acme``.
- Several receivers are picked by the path's last segment (``/webhooks/struktr`` -> the
  ``struktr`` receiver); a tenant receiver's path ends with its segment and the tenant
  (``/webhooks/struktr/acme``). When both readings fit, the tenant one (two segments) wins.
  A plain receiver and a tenant receiver may share a name (pass both in a list): the plain one
  answers ``/webhooks/struktr``, the tenant one ``/webhooks/struktr/<tenant>``. A tenant
  receiver's path with no tenant after it (``/webhooks/struktr``), where no plain receiver has
  that name, reaches the receiver with no tenant, which answers it exactly like an unknown
  tenant: 401, never 404, so that tenants cannot be told apart from made-up ones. A path naming
  no receiver is 404: providers are not secret.

The tenant is taken as it is in the path, never percent-decoded: a tenant id is made of
letters, digits, ``.``, ``_`` and ``-``, which a URL never needs to encode, and any other text
is answered as an unknown tenant by the receiver.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import NamedTuple

from ._adapters import Receivers, by_segment, tenant_route
from .receiver import Outcome, Receiver

__all__ = ["NOT_FOUND", "Route", "Routes", "router", "routes"]

NOT_FOUND = Outcome(404, {"error": "not_found", "message": "no webhook receiver at this path"})
"""The answer to a path that names no receiver (only with several receivers)."""


class Route(NamedTuple):
    """Where a path leads: its receiver, and the tenant the path names (None if it names none)."""

    receiver: Receiver
    tenant: str | None = None


class Routes(NamedTuple):
    """The receivers by URL segment: those with one secret, and those with a tenant after it."""

    plain: dict[str, Receiver]
    tenanted: dict[str, Receiver]

    def items(self) -> Iterator[tuple[str, Receiver]]:
        """Every receiver with its segment (a name shared by a plain and a tenant one: twice)."""
        yield from self.plain.items()
        yield from self.tenanted.items()


def routes(receivers: Receivers) -> Routes:
    """`receivers` by segment, read once (`receivers` may be an iterator).

    In a list, a receiver with one secret and a tenant receiver may share a provider: the first
    is routed at ``/<name>``, the other at ``/<name>/<tenant>``. Two of one kind are a
    `ValueError`, as for the other adapters (a mapping gives each a segment of its own).
    """
    segments: Iterable[tuple[str, Receiver]]
    if isinstance(receivers, Receiver | Mapping):
        segments = by_segment(receivers).items()
    else:
        segments = ((receiver.provider.name, receiver) for receiver in receivers)
    found = Routes({}, {})
    for segment, receiver in segments:
        table = found.tenanted if tenant_route(receiver) else found.plain
        if segment in table:
            raise ValueError(
                f"two receivers for {segment!r}: pass a mapping to give each its own URL segment "
                "(only a receiver with one secret and a tenant receiver may share one)"
            )
        table[segment] = receiver
    return found


def router(receivers: Receivers | Routes) -> Callable[[str], Route | None]:
    """A function from a request path to its `Route`, or None when no receiver is there.

    With one receiver (or a mapping or collection of one), every path goes to it: where the
    function is mounted is the platform's business; a tenant receiver's tenant is the path's
    last segment. With several, the path's end names the receiver (its provider's name, or its
    key in a mapping), followed by the tenant for a tenant receiver (see the module docstring).
    A receiver that reads its tenant from `tenant_header` is routed as one without tenants.
    """
    plain, tenanted = receivers if isinstance(receivers, Routes) else routes(receivers)
    if not plain and not tenanted:
        raise ValueError("no receivers: pass one receiver, several, or a segment -> receiver map")
    if len(plain) + len(tenanted) == 1:
        if plain:
            [only] = plain.values()
            return lambda _path: Route(only)
        [alone] = tenanted.values()
        return lambda path: Route(alone, _segments(path)[-1] or None)

    def route(path: str) -> Route | None:
        segments = _segments(path)
        last, before = segments[-1], segments[-2] if len(segments) > 1 else ""
        if before in tenanted:
            return Route(tenanted[before], last or None)
        if last in plain:
            return Route(plain[last])
        receiver = tenanted.get(last)  # a tenant receiver's name with no tenant after it
        return None if receiver is None else Route(receiver)

    return route


def _segments(path: str) -> list[str]:
    """The path's segments, trailing slashes ignored: ``/a/b/`` -> ``["", "a", "b"]``."""
    return path.rstrip("/").split("/")
