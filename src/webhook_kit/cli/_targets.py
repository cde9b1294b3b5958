"""What ``replay`` works on: the user's receivers, found by import path, and their dead letters.

The command line has no handlers of its own, so ``replay`` imports the application's, the way
``celery -A`` and ``uvicorn module:app`` do: ``--app hooks:receivers`` names a `Receiver`, a list
or dict of them, or an object with a ``receivers`` mapping (a `CeleryDefer`, `RQDefer`,
`DramatiqDefer`). The dead letters are ``--dead-letters PATH`` (a `SQLiteDeadLetters` file, or a
database URL for `SQLDeadLetters`) or those the application configured (a receiver's
``dead_letters``, a queue defer's).

Every problem is a `click.ClickException` (or `click.UsageError`) with a one-line message.
"""

from __future__ import annotations

import importlib
import os
import sqlite3
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..deadletters import DeadLetterStore, SQLiteDeadLetters, describe
from ..errors import WebhookError
from ..receiver import Receiver

if TYPE_CHECKING:  # SQLAlchemy is an optional extra
    from ..deadletters.sql import SQLDeadLetters

__all__ = ["Target", "dead_letters_at", "load_app"]

_WHAT = (
    "a Receiver, a list or dict of receivers, or an object with .receivers "
    "(a CeleryDefer, RQDefer or DramatiqDefer)"
)


@dataclass(frozen=True)
class Target:
    """The application's receivers by provider name, and the dead-letter stores it configured."""

    receivers: Mapping[str, Receiver]
    dead_letters: tuple[DeadLetterStore, ...]


def load_app(spec: str) -> Target:
    """Import ``module:attribute`` (the attribute may be dotted) and find its receivers."""
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise click.UsageError(
            f"--app must be MODULE:ATTRIBUTE (e.g. hooks:receivers), not {spec!r}"
        )
    if os.getcwd() not in sys.path:  # like uvicorn and celery: the current directory first
        sys.path.insert(0, os.getcwd())
    try:
        value: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise click.UsageError(f"--app: no module named {module_name!r}") from None
        raise click.ClickException(f"importing {module_name!r} failed: {describe(exc)}") from None
    except Exception as exc:  # the application's own import-time error, in one line
        raise click.ClickException(f"importing {module_name!r} failed: {describe(exc)}") from None
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise click.UsageError(f"--app: {module_name!r} has no {attribute!r}") from None
    return _target(value, spec)


def _target(value: Any, spec: str) -> Target:
    stores: list[Any] = []
    if isinstance(value, Receiver):
        found: list[Any] = [value]
    elif isinstance(getattr(value, "receivers", None), Mapping):
        found = list(value.receivers.values())
        stores.append(getattr(value, "dead_letters", None))
    elif isinstance(value, Mapping):
        found = list(value.values())
    elif isinstance(value, Iterable) and not isinstance(value, str | bytes):
        found = list(value)
    else:
        raise click.UsageError(f"--app {spec} is a {type(value).__name__}: it must name {_WHAT}")
    if not found or not all(isinstance(receiver, Receiver) for receiver in found):
        raise click.UsageError(f"--app {spec} holds no receivers: it must name {_WHAT}")
    receivers = {receiver.provider.name: receiver for receiver in found}
    if len(receivers) < len(found):
        raise click.UsageError(f"--app {spec} has two receivers for one provider")
    stores += [receiver.dead_letters for receiver in found]
    unique: dict[str, DeadLetterStore] = {}
    for store in stores:
        if store is not None:  # one SQLite file seen through several objects counts once
            unique.setdefault(repr(store), store)
    return Target(receivers, tuple(unique.values()))


def dead_letters_at(path: str) -> SQLiteDeadLetters | SQLDeadLetters:
    """The dead letters at a database URL (`SQLDeadLetters`) or in an existing SQLite file.

    A missing file is a typo, not a new store.
    """
    if "://" in path:
        return _sql_dead_letters(path)
    if not Path(path).is_file():
        raise click.UsageError(f"--dead-letters: no such file {path!r}")
    try:
        return SQLiteDeadLetters(path)
    except (WebhookError, sqlite3.Error, OSError) as exc:
        raise click.ClickException(f"cannot open the dead letters {path!r}: {exc}") from None


def _sql_dead_letters(url: str) -> SQLDeadLetters:
    try:
        from ..deadletters.sql import SQLDeadLetters  # noqa: PLC0415 - only with a URL
    except ImportError as exc:
        raise click.ClickException(str(exc)) from None
    letters = None
    try:
        letters = SQLDeadLetters(url)
        letters.all(provider="")  # reach the database and the table now, with a clear message
    except Exception as exc:
        if letters is not None:
            letters.close()
        shown = url.split("://", 1)[0] + "://..."  # the URL may hold a password
        detail = " ".join(str(exc).split("\n")[0].split()).replace(url, shown)
        password = url.split("://", 1)[1].split("@", 1)[0].partition(":")[2] if "@" in url else ""
        if password:
            detail = detail.replace(password, "***")
        raise click.ClickException(f"cannot open the dead letters at {shown}: {detail}") from None
    return letters
