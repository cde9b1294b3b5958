"""`DjangoStore`: the idempotency store in your Django project's own database.

::

    # settings.py: INSTALLED_APPS = [..., "webhook_kit.django"], then ``manage.py migrate``
    from webhook_kit.django.store import DjangoStore

    receiver = Receiver("struktr", secret=secret, store=DjangoStore())

Every operation is one statement in Django's autocommit mode, with the time taken from the
database, so receivers on several hosts sharing the database agree:

- on PostgreSQL, the statements of `SQLStore` (same table, same columns): claim and complete are
  one ``INSERT ... ON CONFLICT (claim_key) DO UPDATE ... WHERE ... RETURNING`` each, a
  compare-and-set under the row lock, so exactly one concurrent caller acquires;
- on other databases (SQLite, MySQL/MariaDB, Oracle), ORM statements that are each atomic: a
  conditional ``UPDATE`` that takes over an expired row, else an ``INSERT`` that the primary key
  lets only one caller win, else a read of the live row; release and purge are one ``DELETE``.

Run the store outside `transaction.atomic` (the Django views do: they are exempt from
``ATOMIC_REQUESTS``): inside a transaction a claim is invisible to other workers until the commit,
and they wait for it instead of answering 409. Database errors that mean "cannot answer now"
(connection refused or lost, a statement or lock timeout) raise `StoreUnavailableError`; bound
them with your database's options, e.g. PostgreSQL's ``"OPTIONS": {"connect_timeout": 2,
"options": "-c statement_timeout=2000"}``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from typing import Any, TypeVar

from django.apps import apps  # type: ignore[import-untyped]
from django.db import (  # type: ignore[import-untyped]
    DEFAULT_DB_ALIAS,
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
    connections,
    transaction,
)
from django.db.models import DateTimeField, ExpressionWrapper, Q  # type: ignore[import-untyped]
from django.db.models.functions import Now  # type: ignore[import-untyped]

from ..errors import StoreUnavailableError
from ..idempotency._core import (
    DEFAULT_LEASE,
    DEFAULT_PREFIX,
    DEFAULT_RETAIN,
    Claim,
    ClaimState,
    LeaseLostError,
    StoreKey,
    check_keys,
    check_prefix,
    check_seconds,
    fold_states,
    new_owner,
    owner_of,
)
from ..idempotency._sql import is_deadlock, statements

__all__ = ["DjangoStore"]

_T = TypeVar("_T")
#: How many times a multi-key transaction the database aborted as a deadlock is tried.
_DEADLOCK_ATTEMPTS = 3
_PARAM = re.compile(r":([a-z_]+)")
#: How PostgreSQL, SQLite and MySQL/MariaDB say a table is missing.
_MISSING_TABLE = re.compile(r"does not exist|no such table|doesn't exist", re.IGNORECASE)


class DjangoStore:
    """An `IdempotencyStore` in a table of your Django database, shared by every host using it.

    `using` names the database alias (``"default"``). The table comes from the
    ``webhook_kit.django`` app's migration; run `purge` now and then (say daily, from a
    management command or a scheduled task) to delete expired rows.
    """

    __slots__ = ("_model", "_sql", "prefix", "using")

    def __init__(self, *, using: str = DEFAULT_DB_ALIAS, prefix: str = DEFAULT_PREFIX) -> None:
        self.prefix = check_prefix(prefix)
        self.using = using
        try:
            self._model = apps.get_model("webhook_kit", "IdempotencyRecord")
        except LookupError as exc:
            raise LookupError(
                "DjangoStore keeps its records in the webhook_kit.django app's table: add "
                "'webhook_kit.django' to INSTALLED_APPS and run 'manage.py migrate webhook_kit'"
            ) from exc
        if using not in connections:
            raise ValueError(
                f"DATABASES has no {using!r} database: name one of {list(connections)}"
            )
        #: SQLStore's statements on PostgreSQL (with Django's ``%(name)s`` parameters), else None.
        self._sql: dict[str, str] | None = None
        connection = connections[using]
        if connection.vendor == "postgresql":
            table = connection.ops.quote_name(self._model._meta.db_table)
            built = statements("postgresql", table)
            self._sql = {
                operation: _PARAM.sub(r"%(\1)s", getattr(built, operation))
                for operation in ("claim", "complete", "release", "purge")
            }

    def __repr__(self) -> str:
        return f"DjangoStore(using={self.using!r}, prefix={self.prefix!r})"

    def claim(
        self, key: StoreKey, *, lease: float = DEFAULT_LEASE, also: Sequence[StoreKey] = ()
    ) -> Claim:
        """Take `key` (and the `also` keys) for `lease` seconds unless one of them is live.

        Several keys are claimed in one transaction, in sorted order, rolled back unless every
        one was acquired.
        """
        key, also = check_keys(key, also)
        seconds = check_seconds("lease", lease)
        owner = new_owner()

        def claim_all() -> ClaimState:
            folded = fold_states(
                [self._claim_one(self._key(each), owner, seconds) for each in sorted((key, *also))]
            )
            if folded is not ClaimState.ACQUIRED:
                transaction.set_rollback(True, using=self.using)
            return folded

        state = self._atomic(claim_all) if also else self._claim_one(self._key(key), owner, seconds)
        if state is ClaimState.ACQUIRED:
            return Claim(key, state, owner, also)
        return Claim(key, state, also=also)

    def complete(self, claim: Claim, *, retain: float = DEFAULT_RETAIN) -> None:
        """Mark the keys done for `retain` seconds, unless another owner has claimed one since."""
        owner = owner_of(claim)
        seconds = check_seconds("retain", retain)

        def complete_all() -> StoreKey | None:
            for key in sorted(claim.keys):
                if not self._complete_one(self._key(key), owner, seconds):
                    transaction.set_rollback(True, using=self.using)
                    return key
            return None

        if claim.also:
            lost = self._atomic(complete_all)
        else:
            written = self._complete_one(self._key(claim.key), owner, seconds)
            lost = None if written else claim.key
        if lost is not None:
            raise LeaseLostError(lost)

    def release(self, claim: Claim) -> None:
        """Delete the keys' rows this claim still holds uncompleted; leave every other row."""
        owner = owner_of(claim)
        for key in claim.keys:
            stored = self._key(key)
            if self._sql is not None:
                self._execute(self._sql["release"], {"key": stored, "owner": owner}, _rowcount)
            else:
                self._run(partial(_delete, self._held(stored, owner), self.using))

    def _held(self, stored: str, owner: str) -> Any:
        """The key's row if this owner still holds it uncompleted."""
        return self._rows().filter(claim_key=stored, owner=owner, done=False)

    def _claim_one(self, stored: str, owner: str, seconds: float) -> ClaimState:
        if self._sql is not None:
            params = {"key": stored, "owner": owner, "lease": seconds}
            row = self._execute(self._sql["claim"], params, _fetchone)
            acquired = row is not None and row[0] == owner
            done = row is not None and bool(row[1])
        else:
            acquired, done = self._run(lambda: self._orm_claim(stored, owner, seconds))
        if acquired:
            return ClaimState.ACQUIRED
        return ClaimState.DONE if done else ClaimState.IN_PROGRESS

    def _complete_one(self, stored: str, owner: str, seconds: float) -> bool:
        if self._sql is not None:
            params = {"key": stored, "owner": owner, "retain": seconds}
            return self._execute(self._sql["complete"], params, _fetchone) is not None
        return self._run(lambda: self._orm_complete(stored, owner, seconds))

    def _atomic(self, operation: Callable[[], _T]) -> _T:
        """Run `operation` in one transaction, again if the database broke a deadlock."""
        for attempt in range(_DEADLOCK_ATTEMPTS):
            try:
                with _unavailable(self.using), transaction.atomic(using=self.using):
                    return operation()
            except StoreUnavailableError as exc:
                if attempt == _DEADLOCK_ATTEMPTS - 1 or not is_deadlock(exc.__cause__):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def purge(self) -> int:
        """Delete the rows whose lease or retention has passed; return how many."""
        if self._sql is not None:
            return self._execute(self._sql["purge"], {}, _rowcount)
        rows = self._rows().filter(expires_at__lte=Now())
        return self._run(lambda: _delete(rows, self.using))

    # PostgreSQL: SQLStore's statements through Django's connection.

    def _execute(self, sql: str, params: dict[str, Any], fetch: Callable[[Any], _T]) -> _T:
        with _unavailable(self.using), connections[self.using].cursor() as cursor:
            cursor.execute(sql, params)
            return fetch(cursor)

    # Other databases: each step one atomic ORM statement, retried if the row changed between.

    def _rows(self) -> Any:
        return self._model._default_manager.using(self.using)

    def _orm_claim(self, stored: str, owner: str, lease: float) -> tuple[bool, bool]:
        rows = self._rows()
        while True:
            taken_over = rows.filter(claim_key=stored, expires_at__lte=Now()).update(
                owner=owner, done=False, expires_at=_later(lease)
            )
            if taken_over or self._insert(stored, owner, done=False, seconds=lease):
                return True, False
            done = rows.filter(claim_key=stored, expires_at__gt=Now()).values_list(
                "done", flat=True
            )
            for value in done[:1]:
                return False, bool(value)
            # The row lapsed or was deleted since the insert failed: try again.

    def _orm_complete(self, stored: str, owner: str, retain: float) -> bool:
        rows = self._rows()
        while True:
            ours_or_lapsed = Q(owner=owner) | Q(expires_at__lte=Now())
            written = rows.filter(ours_or_lapsed, claim_key=stored).update(
                owner=owner, done=True, expires_at=_later(retain)
            )
            if written or self._insert(stored, owner, done=True, seconds=retain):
                return True
            live = rows.filter(claim_key=stored, expires_at__gt=Now()).exclude(owner=owner)
            if live.exists():
                return False

    def _insert(self, stored: str, owner: str, *, done: bool, seconds: float) -> bool:
        """Insert the key's row; False if one exists (the primary key lets one caller win)."""
        try:
            with transaction.atomic(using=self.using):  # a savepoint inside a transaction
                self._rows().create(
                    claim_key=stored, owner=owner, done=done, expires_at=_later(seconds)
                )
        except IntegrityError:
            return False
        return True

    def _run(self, operation: Callable[[], _T]) -> _T:
        with _unavailable(self.using):
            return operation()

    def _key(self, key: str) -> str:
        return f"{self.prefix}:{key}"


def _later(seconds: float) -> Any:
    """The database's clock plus `seconds`, as an expression for the expiry column."""
    return ExpressionWrapper(Now() + timedelta(seconds=seconds), output_field=DateTimeField())


def _delete(rows: Any, using: str) -> int:
    # One filtered DELETE: the collector's SELECT-then-DELETE-by-key (run when a delete signal
    # has receivers) could remove a row taken over in between. The model has no relations.
    return int(rows._raw_delete(using))


@contextmanager
def _unavailable(using: str) -> Iterator[None]:
    """Turn "cannot answer now" database errors into `StoreUnavailableError`.

    A missing table (the app's migration not run) is one too: the provider's retries bring the
    deliveries again once it is, and the message says what to run.
    """
    try:
        yield
    except (OperationalError, InterfaceError, ProgrammingError) as exc:
        detail = " ".join(str(exc).split())  # driver messages span several lines
        missing = _MISSING_TABLE.search(detail) is not None
        if isinstance(exc, ProgrammingError) and not missing:
            raise
        connection = connections[using]
        connection.close_if_unusable_or_obsolete()  # so the next operation reconnects
        hint = (
            "run 'manage.py migrate webhook_kit' to create the table"
            if missing
            else "check that it is up and reachable from this host"
        )
        raise StoreUnavailableError(
            f"the {connection.vendor} database {using!r} did not answer "
            f"({exc.__class__.__name__}: {detail}): {hint}"
        ) from exc


def _fetchone(cursor: Any) -> Any:
    return cursor.fetchone()


def _rowcount(cursor: Any) -> int:
    return int(cursor.rowcount)
