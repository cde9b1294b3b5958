"""The ``webhook-kit`` group: sign, send, verify, serve and replay, one module per command.

Each command reads its secret from ``--secret`` or the environment (``<PROVIDER>_WEBHOOK_SECRET``,
then ``WEBHOOK_KIT_SECRET``) and never prints it; ``replay`` uses the receivers of the application
it imports, with their own secrets. Every error is one line on stderr with a non-zero exit
status: 2 for a usage problem, 1 otherwise.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from ._replay import replay
from ._send import send
from ._serve import serve
from ._signing import sign, verify

__all__ = ["cli", "main"]


class _Group(click.Group):
    """A group whose errors are one line on stderr, never a traceback."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as exc:
            if not standalone_mode:
                raise
            _fail(_one_line(exc), exc.exit_code)
        except click.Abort:
            if not standalone_mode:
                raise
            _fail("interrupted", 130)
        except Exception as exc:  # a bug: still one line, and how to report it
            if not standalone_mode:
                raise
            _fail(f"unexpected {type(exc).__name__}: {exc} (please report this)", 1)
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)


def _one_line(exc: click.ClickException) -> str:
    message = " ".join(exc.format_message().split())
    if isinstance(exc, click.UsageError) and exc.ctx is not None:
        message += f" (see '{exc.ctx.command_path} --help')"
    return message


def _fail(message: str, status: int) -> None:
    click.echo(click.style("Error: ", fg="red", bold=True) + message, err=True)
    sys.exit(status)


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="webhook-kit", message="%(prog)s %(version)s")
def cli() -> None:
    """Sign, send, verify and receive webhook deliveries from the command line.

    \b
    Examples:
      webhook-kit serve --port 0
      webhook-kit send http://127.0.0.1:8000/webhooks/struktr -p struktr -e document.completed
      webhook-kit sign body.json -p struktr > headers.txt
      webhook-kit verify -p struktr --headers headers.txt --body body.json
      webhook-kit replay --app hooks:receivers --dead-letters dead-letters.sqlite3

    Secrets come from --secret, else <PROVIDER>_WEBHOOK_SECRET (STRUKTR_WEBHOOK_SECRET, ...),
    else WEBHOOK_KIT_SECRET. They are never printed.
    """


def main() -> None:
    """The console script: run the ``webhook-kit`` command line."""
    cli.main(prog_name="webhook-kit")


for _command in (sign, send, verify, serve, replay):
    cli.add_command(_command)
