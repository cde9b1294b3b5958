"""`DjangoDeadLetters`: the dead letters in your Django project's own database, for the admin.

::

    # settings.py: INSTALLED_APPS = [..., "webhook_kit.django"], then ``manage.py migrate``
    from webhook_kit.django.deadletters import DjangoDeadLetters

    receiver = Receiver("struktr", secret=secret, dead_letters=DjangoDeadLetters())
    defer = CeleryDefer(app, dead_letters=DjangoDeadLetters())

A `DeadLetterStore` over the ``DeadLetterRecord`` model, so the Django admin lists, shows and
replays them (`webhook_kit.django.admin`). Each operation is one statement (recording a letter:
an ``UPDATE``, else an ``INSERT``, which the primary key lets one writer win) in autocommit mode.
Every recorded letter sends `webhook_kit.django.signals.delivery_dead_lettered` once written.
"""

from __future__ import annotations

import time
from typing import Any

from django.apps import apps  # type: ignore[import-untyped]
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, transaction  # type: ignore[import-untyped]

from ..deadletters import DeadLetter, _letter_of_row, _stored_headers
from . import signals
from .store import _unavailable

__all__ = ["DjangoDeadLetters"]

#: How many times recording a letter tries the UPDATE-else-INSERT against concurrent writers.
_ATTEMPTS = 3


class DjangoDeadLetters:
    """A `DeadLetterStore` in a table of your Django database, shared by every host using it.

    `using` names the database alias (``"default"``, where the admin looks). The table comes
    from the ``webhook_kit.django`` app's migration. A database that does not answer raises
    `StoreUnavailableError`.
    """

    __slots__ = ("_model", "using")

    def __init__(self, *, using: str = DEFAULT_DB_ALIAS) -> None:
        try:
            self._model = apps.get_model("webhook_kit", "DeadLetterRecord")
        except LookupError as exc:
            raise LookupError(
                "DjangoDeadLetters keeps its letters in the webhook_kit.django app's table: add "
                "'webhook_kit.django' to INSTALLED_APPS and run 'manage.py migrate webhook_kit'"
            ) from exc
        if using not in connections:
            raise ValueError(
                f"DATABASES has no {using!r} database: name one of {list(connections)}"
            )
        self.using = using

    def __repr__(self) -> str:
        return f"DjangoDeadLetters(using={self.using!r})"

    def _rows(self) -> Any:
        return self._model._default_manager.using(self.using)

    def add(self, letter: DeadLetter) -> None:
        """Record `letter`, replacing the record with the same id (its `created_at` is kept).

        Then sends `delivery_dead_lettered` (``sender`` the provider's name, ``letter``).
        """
        fields = {
            "provider": letter.provider,
            "body": letter.body,
            "headers": _stored_headers(letter),
            "reason": letter.reason,
            "error": letter.error.replace("\x00", "\ufffd"),  # PostgreSQL text has no NUL
            "attempts": letter.attempts,
            "received_at": letter.received_at,
            "updated_at": letter.updated_at,
        }
        rows = self._rows()
        with _unavailable(self.using):
            for attempt in range(_ATTEMPTS):
                if rows.filter(id=letter.id).update(**fields):
                    break
                try:
                    with transaction.atomic(using=self.using):  # a savepoint inside a transaction
                        rows.create(id=letter.id, created_at=letter.created_at, **fields)
                    break
                except IntegrityError:  # another writer inserted it first: replace theirs
                    if attempt == _ATTEMPTS - 1:
                        raise
        signals.dead_lettered(letter)

    def get(self, id: str) -> DeadLetter | None:
        """The letter with this id, or None."""
        with _unavailable(self.using):
            found = list(self._rows().filter(id=id)[:1])
        return _letter_of_row(found[0]) if found else None

    def all(self, *, provider: str | None = None) -> list[DeadLetter]:
        """Every letter (of one provider, if given), oldest first."""
        rows = self._rows().order_by("created_at", "id")
        if provider is not None:
            rows = rows.filter(provider=provider)
        with _unavailable(self.using):
            return [_letter_of_row(row) for row in rows]

    def remove(self, id: str) -> bool:
        """Delete the letter with this id; return whether there was one."""
        with _unavailable(self.using):
            deleted, _ = self._rows().filter(id=id).delete()
        return bool(deleted)

    def purge(self, *, older_than: float) -> int:
        """Delete the letters last recorded more than `older_than` seconds ago; return how many.

        A letter is recorded again each time a replay fails, so one still being worked on stays.
        """
        if not older_than >= 0:
            raise ValueError(f"older_than must be a number of seconds >= 0, not {older_than!r}")
        with _unavailable(self.using):
            deleted, _ = self._rows().filter(updated_at__lt=time.time() - older_than).delete()
        return int(deleted)
