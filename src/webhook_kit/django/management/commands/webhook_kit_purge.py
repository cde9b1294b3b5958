"""``manage.py webhook_kit_purge``: delete expired idempotency records, and old dead letters.

Run it daily (cron, Celery beat): expired records only take space, and `DjangoStore` never
deletes them on its own. ``--dead-letters-older-than DAYS`` also deletes the dead letters no one
recorded or replayed for that many days: deliveries given up on.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError  # type: ignore[import-untyped]
from django.db import DEFAULT_DB_ALIAS  # type: ignore[import-untyped]

from ....errors import WebhookError
from ...deadletters import DjangoDeadLetters
from ...store import DjangoStore

__all__ = ["Command"]

_DAY = 24 * 60 * 60


class Command(BaseCommand):  # type: ignore[misc]
    """Purge expired idempotency records and, if asked, dead letters older than N days."""

    help = (
        "Delete the expired idempotency records of DjangoStore and, with "
        "--dead-letters-older-than DAYS, the dead letters not recorded for that many days."
    )

    def add_arguments(self, parser: Any) -> None:
        """The database alias, and the age of the dead letters to delete."""
        parser.add_argument(
            "--database", default=DEFAULT_DB_ALIAS, help="The database alias (default: default)."
        )
        parser.add_argument(
            "--dead-letters-older-than",
            type=float,
            metavar="DAYS",
            help="Also delete the dead letters not recorded (nor replayed) for DAYS days.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Purge, and say how many rows went."""
        using: str = options["database"]
        days: float | None = options["dead_letters_older_than"]
        if days is not None and not days >= 0:
            raise CommandError(f"--dead-letters-older-than must be 0 or more days, not {days}")
        try:
            records = DjangoStore(using=using).purge()
            self.stdout.write(f"{records} expired idempotency record{_s(records)} deleted")
            if days is not None:
                letters = DjangoDeadLetters(using=using).purge(older_than=days * _DAY)
                self.stdout.write(
                    f"{letters} dead letter{_s(letters)} older than {days:g} days deleted"
                )
        except (ValueError, WebhookError) as exc:
            raise CommandError(str(exc)) from exc


def _s(count: int) -> str:
    return "" if count == 1 else "s"
