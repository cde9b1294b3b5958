"""What the serverless adapters share: one function answering every path, routed to receivers.

A Lambda function or a Cloud Function is one entry point behind a URL the platform owns, so the
adapters route on the request path themselves: one receiver answers every path, several are
picked by the path's last segment (``/webhooks/struktr`` -> the ``struktr`` receiver).
"""

from __future__ import annotations

from collections.abc import Callable

from ._adapters import Receivers, by_segment
from .receiver import Outcome, Receiver

__all__ = ["NOT_FOUND", "router"]

NOT_FOUND = Outcome(404, {"error": "not_found", "message": "no webhook receiver at this path"})
"""The answer to a path whose last segment names no receiver (only with several receivers)."""


def router(receivers: Receivers) -> Callable[[str], Receiver | None]:
    """A function from a request path to its receiver, or None when no receiver is there.

    With one receiver (or a mapping or collection of one), every path goes to it: where the
    function is mounted is the platform's business. With several, the path's last non-empty
    segment names the receiver (its provider's name, or its key in a mapping).
    """
    routes = by_segment(receivers)
    if not routes:
        raise ValueError("no receivers: pass one receiver, several, or a segment -> receiver map")
    if len(routes) == 1:
        [only] = routes.values()
        return lambda _path: only

    def route(path: str) -> Receiver | None:
        segment = path.rstrip("/").rpartition("/")[2]
        return routes.get(segment)

    return route
