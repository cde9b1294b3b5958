"""The ``webhook-kit`` command line: sign, send, verify and serve webhook deliveries.

It needs click, from the ``cli`` extra: ``pip install 'webhook-kit[cli]'``. Run it as
``webhook-kit`` or ``python -m webhook_kit``; see ``docs/cli.md``. Without click, both print that
one line and exit with status 1, and `cli` raises an `ImportError` saying the same.

The local receiver behind ``serve`` is `webhook_kit.cli.server.ReceiverServer`, and the HTTP
sender behind ``send`` is `webhook_kit.cli.client.post`: both use only the standard library, so
they import and run without click.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._app import cli

__all__ = ["cli", "main"]

_NEEDS_CLICK = "the webhook-kit command line needs click: pip install 'webhook-kit[cli]'"


def main() -> None:
    """The console script: run the ``webhook-kit`` command line, or say how to install it."""
    try:
        from ._app import main as run  # noqa: PLC0415 - click is only needed here
    except ImportError as exc:
        if exc.name != "click":
            raise
        sys.exit(f"Error: {_NEEDS_CLICK}")
    run()


def __getattr__(name: str) -> Any:
    """Import the click group on first use, so that the submodules never need click."""
    if name == "cli":
        try:
            from ._app import cli  # noqa: PLC0415 - click is only needed here
        except ImportError as exc:
            if exc.name != "click":
                raise
            raise ImportError(_NEEDS_CLICK, name="click") from exc
        return cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
