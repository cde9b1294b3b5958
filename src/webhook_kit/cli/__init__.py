"""The ``webhook-kit`` command line: sign, send, verify and serve webhook deliveries.

It needs click, from the ``cli`` extra: ``pip install 'webhook-kit[cli]'``. Run it as
``webhook-kit`` or ``python -m webhook_kit``; see ``docs/cli.md``. The local receiver behind
``serve`` is `webhook_kit.cli.server.ReceiverServer`, and the HTTP sender behind ``send`` is
`webhook_kit.cli.client.post`.
"""

from __future__ import annotations

try:
    import click as _click  # noqa: F401 - fail here, with the fix, rather than deep inside
except ImportError as exc:  # pragma: no cover - the test environment has click
    raise ImportError(
        "the webhook-kit command line needs click: pip install 'webhook-kit[cli]'",
        name="click",
    ) from exc

from ._app import cli, main

__all__ = ["cli", "main"]
