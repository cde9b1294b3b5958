"""What the serverless adapters share: one function answering every path, routed to receivers.

A Lambda function or a Cloud Function is one entry point behind a URL the platform owns, so the
adapters route on the request path themselves, from its end (whatever prefix, stage or base
path the platform puts before it):

- One receiver answers every path. If it has `TenantSecrets` (and no `tenant_header`), the
  path's last segment is the tenant: ``/webhooks/struktr/acme`` -> ``acme``.
- Several receivers are picked by the path's last segment (``/webhooks/struktr`` -> the
  ``struktr`` receiver); a tenant receiver's path ends with its segment and the tenant
  (``/webhooks/struktr/acme``). When both readings fit, the tenant one (two segments) wins.
  A tenant receiver's path with no tenant after it (``/webhooks/struktr``) reaches the receiver
  with no tenant, which answers it exactly like an unknown tenant: 401, never 404, so that
  tenants cannot be told apart from made-up ones. A path naming no receiver is 404: providers
  are not secret.

The tenant is taken as it is in the path, never percent-decoded: a tenant id is made of
letters, digits, ``.``, ``_`` and ``-``, which a URL never needs to encode, and any other text
is answered as an unknown tenant by the receiver.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from ._adapters import Receivers, by_segment, tenant_route
from .receiver import Outcome, Receiver

__all__ = ["NOT_FOUND", "Route", "router"]

NOT_FOUND = Outcome(404, {"error": "not_found", "message": "no webhook receiver at this path"})
"""The answer to a path that names no receiver (only with several receivers)."""


class Route(NamedTuple):
    """Where a path leads: its receiver, and the tenant the path names (None if it names none)."""

    receiver: Receiver
    tenant: str | None = None


def router(receivers: Receivers) -> Callable[[str], Route | None]:
    """A function from a request path to its `Route`, or None when no receiver is there.

    With one receiver (or a mapping or collection of one), every path goes to it: where the
    function is mounted is the platform's business; a tenant receiver's tenant is the path's
    last segment. With several, the path's end names the receiver (its provider's name, or its
    key in a mapping), followed by the tenant for a tenant receiver (see the module docstring).
    A receiver that reads its tenant from `tenant_header` is routed as one without tenants.
    """
    routes = by_segment(receivers)
    if not routes:
        raise ValueError("no receivers: pass one receiver, several, or a segment -> receiver map")
    tenanted = {segment for segment, receiver in routes.items() if tenant_route(receiver)}
    if len(routes) == 1:
        [only] = routes.values()
        if not tenanted:
            return lambda _path: Route(only)
        return lambda path: Route(only, _segments(path)[-1] or None)

    def route(path: str) -> Route | None:
        segments = _segments(path)
        last, before = segments[-1], segments[-2] if len(segments) > 1 else ""
        if before in tenanted:
            return Route(routes[before], last or None)
        receiver = routes.get(last)
        return None if receiver is None else Route(receiver)  # with tenants: tenant missing

    return route


def _segments(path: str) -> list[str]:
    """The path's segments, trailing slashes ignored: ``/a/b/`` -> ``["", "a", "b"]``."""
    return path.rstrip("/").split("/")
