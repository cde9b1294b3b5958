"""``webhook-kit replay``: run dead letters again through the application's receivers."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime

import click

from ..deadletters import DeadLetter, DeadLetterStore
from ..errors import WebhookError
from ..replays import Replayed
from ..replays import replay as replay_letters
from . import _targets
from ._options import (
    library_logging,
)


@click.command()
@click.option(
    "--app",
    "-A",
    "app_spec",
    metavar="MODULE:ATTRIBUTE",
    help="Your receivers, imported from the current directory: a Receiver, a list or dict of "
    "them, or a CeleryDefer, RQDefer or DramatiqDefer. Their handlers, models and stores run "
    "the letters.",
)
@click.option(
    "--dead-letters",
    "dead_letters_path",
    metavar="PATH|URL",
    help="The SQLite dead-letter file, or the database URL of SQLDeadLetters "
    "(postgresql+psycopg://...). Default: the dead letters the --app configured.",
)
@click.option("--id", "letter_id", metavar="ID", help="Only this letter, e.g. struktr:dlv_42.")
@click.option("--provider", "-p", "provider_name", help="Only this provider's letters.")
@click.option(
    "--no-verify",
    is_flag=True,
    help="Skip the signature check: for letters signed with a secret since rotated away.",
)
@click.option("--list", "list_only", is_flag=True, help="List the letters; replay nothing.")
@click.option("--verbose", "-v", is_flag=True, help="Also print the library's log lines.")
def replay(
    *,
    app_spec: str | None,
    dead_letters_path: str | None,
    letter_id: str | None,
    provider_name: str | None,
    no_verify: bool,
    list_only: bool,
    verbose: bool,
) -> None:
    """Run dead letters again through your receivers, now that the cause is fixed.

    Dead letters are deliveries whose handlers kept failing in a worker, and verified
    deliveries your models refused (reason invalid_payload). Each goes through the receiver of
    its provider with today's models and handlers, once: a processed letter (or one the
    provider's retry processed meanwhile) is removed, one that fails again stays, with the new
    error. Exits 0 if every letter is done, 1 if any was kept.

    \b
    Examples:
      webhook-kit replay --list --dead-letters dead-letters.sqlite3
      webhook-kit replay --app hooks:receivers --dead-letters dead-letters.sqlite3
      webhook-kit replay -A hooks:defer --provider struktr     # a CeleryDefer's receivers
      webhook-kit replay -A hooks:receivers --id struktr:dlv_42 --no-verify
    """
    target = _targets.load_app(app_spec) if app_spec is not None else None
    if dead_letters_path is not None:
        opened = _targets.dead_letters_at(dead_letters_path)
        click.get_current_context().call_on_close(opened.close)
        stores: tuple[DeadLetterStore, ...] = (opened,)
    elif target is not None and target.dead_letters:
        stores = target.dead_letters
    else:
        where = "" if target is not None else " or --app MODULE:ATTRIBUTE"
        raise click.UsageError(f"which dead letters? pass --dead-letters PATH{where}")
    selected = _selected(stores, letter_id, provider_name)
    if letter_id is not None and not selected:
        raise click.ClickException(f"no dead letter {letter_id!r}: see 'webhook-kit replay --list'")
    if list_only:
        for _, letter in selected:
            click.echo(_letter_line(letter))
        click.echo(f"{len(selected)} dead letter{'' if len(selected) == 1 else 's'}")
        return
    if target is None:
        raise click.UsageError(
            "replay needs --app MODULE:ATTRIBUTE, the receivers whose handlers run the letters "
            "(--list only lists them)"
        )
    results: list[Replayed] = []
    with library_logging(verbose):
        for store, letter in selected:
            [result] = replay_letters(target.receivers, store, letter.id, verify=not no_verify)
            click.echo(_result_line(result))
            results.append(result)
    kept = sum(not result.done for result in results)
    click.echo(f"{len(results)} replayed: {len(results) - kept} done, {kept} kept")
    if kept:
        sys.exit(1)


def _selected(
    stores: Sequence[DeadLetterStore], letter_id: str | None, provider: str | None
) -> list[tuple[DeadLetterStore, DeadLetter]]:
    try:
        found = [(store, letter) for store in stores for letter in store.all(provider=provider)]
    except WebhookError as exc:
        raise click.ClickException(str(exc)) from None
    return [pair for pair in found if letter_id in (None, pair[1].id)]


def _letter_line(letter: DeadLetter) -> str:
    received = datetime.fromtimestamp(letter.received_at).strftime("%Y-%m-%d %H:%M:%S")
    parts = [
        letter.id,
        click.style(letter.reason, fg="yellow"),
        f"attempts={letter.attempts}",
        f"received {received}",
        letter.error,
    ]
    return "  ".join(parts)


def _result_line(result: Replayed) -> str:
    colour = "green" if result.done else "yellow" if result.result == "in_progress" else "red"
    line = click.style(f"{result.result:<18}", fg=colour, bold=True) + f"  {result.id}"
    return line + (f"  {result.error}" if result.error and not result.done else "")
