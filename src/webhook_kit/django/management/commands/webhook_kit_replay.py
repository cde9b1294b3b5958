"""``manage.py webhook_kit_replay``: run dead letters again through the project's receivers.

Like ``webhook-kit replay``, for the letters of `DjangoDeadLetters` and the receivers of
``WEBHOOK_KIT_RECEIVERS``: name letters by id, or take ``--all`` (or one ``--provider``'s).
A processed letter is removed, one that fails again is kept with its new error; the command
exits 1 if any was kept, so a scheduler sees it.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from django.core.exceptions import ImproperlyConfigured  # type: ignore[import-untyped]
from django.core.management.base import BaseCommand, CommandError  # type: ignore[import-untyped]
from django.db import DEFAULT_DB_ALIAS  # type: ignore[import-untyped]

from ....deadletters import DeadLetter
from ....errors import WebhookError
from ....replays import Replayed, replay
from ...deadletters import DjangoDeadLetters
from ...receivers import receivers

__all__ = ["Command"]


class Command(BaseCommand):  # type: ignore[misc]
    """Replay dead letters by id, one provider's, or all of them; or list them."""

    help = (
        "Run dead letters again through the receivers of WEBHOOK_KIT_RECEIVERS: by id, "
        "--provider NAME, or --all. Processed letters are removed; exits 1 if any was kept."
    )

    def add_arguments(self, parser: Any) -> None:
        """Which letters, how, and where."""
        parser.add_argument("ids", nargs="*", metavar="ID", help="Letters, e.g. struktr:dlv_42.")
        parser.add_argument("--all", action="store_true", help="Every letter.")
        parser.add_argument("--provider", "-p", help="Only this provider's letters.")
        parser.add_argument(
            "--no-verify",
            action="store_true",
            help="Skip the signature check: for letters signed with a secret since rotated away.",
        )
        parser.add_argument("--list", action="store_true", help="List the letters; replay none.")
        parser.add_argument(
            "--database", default=DEFAULT_DB_ALIAS, help="The database alias (default: default)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """List or replay the selected letters, one line each, then a summary."""
        ids: list[str] = options["ids"]
        provider: str | None = options["provider"]
        letters = DjangoDeadLetters(using=options["database"])
        try:
            if options["list"]:
                self._list(letters, ids, provider)
                return
            if not (ids or provider or options["all"]):
                raise CommandError("which letters? name their ids, or pass --provider or --all")
            results = self._replay(letters, ids, provider, verify=not options["no_verify"])
        except (ImproperlyConfigured, WebhookError) as exc:
            raise CommandError(str(exc)) from exc
        kept = sum(not result.done for result in results)
        self.stdout.write(f"{len(results)} replayed: {len(results) - kept} done, {kept} kept")
        if kept:
            raise CommandError(f"{kept} dead letter{'' if kept == 1 else 's'} kept")

    def _list(self, letters: DjangoDeadLetters, ids: list[str], provider: str | None) -> None:
        selected = [
            letter for letter in letters.all(provider=provider) if not ids or letter.id in ids
        ]
        for letter in selected:
            self.stdout.write(_letter_line(letter))
        self.stdout.write(f"{len(selected)} dead letter{'' if len(selected) == 1 else 's'}")

    def _replay(
        self, letters: DjangoDeadLetters, ids: list[str], provider: str | None, *, verify: bool
    ) -> list[Replayed]:
        found = receivers()
        for letter_id in ids:  # every id is checked before any letter runs
            letter = letters.get(letter_id)
            if letter is None or provider not in (None, letter.provider):
                of = f" of {provider!r}" if provider else ""
                raise CommandError(
                    f"no dead letter {letter_id!r}{of}: see 'manage.py webhook_kit_replay --list'"
                )
        if ids:
            results = []
            for letter_id in ids:
                try:
                    results += replay(found, letters, letter_id, verify=verify)
                except KeyError:  # replayed or deleted meanwhile, by someone else
                    continue
        else:
            results = replay(found, letters, provider=provider, verify=verify)
        for result in results:
            style = self.style.SUCCESS if result.done else self.style.WARNING
            line = f"{style(f'{result.result:<18}')}  {result.id}"
            self.stdout.write(line + (f"  {result.error}" if result.error else ""))
        return results


def _letter_line(letter: DeadLetter) -> str:
    received = datetime.fromtimestamp(letter.received_at, tz=timezone.utc)
    return "  ".join(
        [
            letter.id,
            letter.reason,
            f"attempts={letter.attempts}",
            f"received {received:%Y-%m-%d %H:%M:%S} UTC",
            letter.error,
        ]
    )
