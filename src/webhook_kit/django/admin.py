"""The Django admin for the app's tables: dead letters to inspect and replay, and idempotency
records to look at (read-only).

Registered on the default admin site when ``django.contrib.admin`` is installed (Django imports
this module from the app). A letter's detail page shows its body (the provider's data, which
your handlers see anyway) and its headers as they were kept: signatures, delivery ids and
timestamps, which authenticate that one body and hold no secret. The replay actions run
letters through the receivers of ``WEBHOOK_KIT_RECEIVERS``, as `replay` does: a processed letter
is removed, one that fails again stays with its new error. They need the
``webhook_kit.replay_deadletterrecord`` permission (a superuser has it).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TypeVar

from django.contrib import admin, messages  # type: ignore[import-untyped]
from django.core.exceptions import ImproperlyConfigured  # type: ignore[import-untyped]
from django.utils.html import format_html  # type: ignore[import-untyped]

from ..errors import WebhookError
from ..replays import Replayed, replay
from .deadletters import DjangoDeadLetters
from .models import DeadLetterRecord, IdempotencyRecord
from .receivers import receivers

__all__ = ["DeadLetterAdmin", "IdempotencyRecordAdmin"]

#: How much of a body the detail page shows (bodies may be up to the receiver's limit).
SHOWN_BODY = 64 * 1024
#: How many kept letters a replay's message names.
_NAMED = 5

_F = TypeVar("_F", bound=Callable[..., Any])


def _display(description: str, ordering: str | None = None) -> Callable[[_F], _F]:
    """`admin.display`, typed: it only sets attributes on the function."""
    decorate: Callable[[_F], _F] = admin.display(description=description, ordering=ordering)
    return decorate


def _action(description: str, permissions: list[str]) -> Callable[[_F], _F]:
    """`admin.action`, typed: it only sets attributes on the function."""
    decorate: Callable[[_F], _F] = admin.action(description=description, permissions=permissions)
    return decorate


@admin.register(DeadLetterRecord)
class DeadLetterAdmin(admin.ModelAdmin):  # type: ignore[misc]
    """Dead letters: list, filter and inspect them, replay or delete them; never edit them."""

    list_display = ("id", "provider", "reason", "attempts", "received", "last_recorded", "error")
    list_filter = ("provider", "reason")
    search_fields = ("id", "error")
    actions = ("replay_selected", "replay_selected_unverified")
    fields = (
        "id",
        "provider",
        "reason",
        "error",
        "attempts",
        "received",
        "first_recorded",
        "last_recorded",
        "shown_headers",
        "shown_body",
    )
    readonly_fields = fields

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        """Letters come from deliveries only."""
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        """A letter is replayed as it was received, so it is never edited."""
        return False

    def has_replay_permission(self, request: Any) -> bool:
        """Whether the user may run the replay actions."""
        return bool(request.user.has_perm("webhook_kit.replay_deadletterrecord"))

    @_display("received", ordering="received_at")
    def received(self, record: DeadLetterRecord) -> datetime:
        """When the delivery was received."""
        return _date(record.received_at)

    @_display("first recorded", ordering="created_at")
    def first_recorded(self, record: DeadLetterRecord) -> datetime:
        """When the letter was first recorded."""
        return _date(record.created_at)

    @_display("last recorded", ordering="updated_at")
    def last_recorded(self, record: DeadLetterRecord) -> datetime:
        """When the letter was last recorded (a failed replay records it again)."""
        return _date(record.updated_at)

    @_display("headers")
    def shown_headers(self, record: DeadLetterRecord) -> str:
        """The headers as kept, one JSON object."""
        return _pre(json.dumps(json.loads(record.headers), indent=2, sort_keys=True))

    @_display("body")
    def shown_body(self, record: DeadLetterRecord) -> str:
        """The body: indented if it is JSON, its first `SHOWN_BODY` bytes if it is long."""
        return _pre(_readable(bytes(record.body)))

    @_action(description="Replay the selected dead letters", permissions=["replay"])
    def replay_selected(self, request: Any, queryset: Any) -> None:
        """Run the letters through their receivers: done ones are removed, others kept."""
        self._replay(request, queryset, verify=True)

    @_action(
        description="Replay the selected dead letters without checking their signatures",
        permissions=["replay"],
    )
    def replay_selected_unverified(self, request: Any, queryset: Any) -> None:
        """For letters signed with a secret since rotated away."""
        self._replay(request, queryset, verify=False)

    def _replay(self, request: Any, queryset: Any, *, verify: bool) -> None:
        try:
            found = receivers()
        except ImproperlyConfigured as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        letters = DjangoDeadLetters(using=queryset.db)
        results: list[Replayed] = []
        try:
            for letter_id in queryset.values_list("id", flat=True):
                try:
                    results += replay(found, letters, letter_id, verify=verify)
                except KeyError:  # removed since the page was shown
                    continue
        except WebhookError as exc:  # the dead letters or a store stopped answering
            self.message_user(request, f"replay stopped: {exc}", messages.ERROR)
        _report(self, request, results)


def _report(model_admin: admin.ModelAdmin, request: Any, results: list[Replayed]) -> None:
    """One message for the letters done, one naming the letters kept and why."""
    done = [result for result in results if result.done]
    kept = [result for result in results if not result.done]
    if done:
        counts = Counter(result.result for result in done)
        detail = ", ".join(f"{count} {result}" for result, count in sorted(counts.items()))
        model_admin.message_user(
            request, f"{len(done)} replayed and removed ({detail})", messages.SUCCESS
        )
    if kept:
        named = "; ".join(f"{each.id}: {each.result} ({each.error})" for each in kept[:_NAMED])
        if len(kept) > _NAMED:
            named += f"; and {len(kept) - _NAMED} more"
        model_admin.message_user(request, f"{len(kept)} kept: {named}", messages.WARNING)
    if not results:
        model_admin.message_user(request, "no dead letter was replayed", messages.WARNING)


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):  # type: ignore[misc]
    """Idempotency records, read-only: `DjangoStore` alone writes them.

    The lease's owner token is not shown: it is what lets a worker complete its claim.
    """

    list_display = ("claim_key", "done", "expires_at")
    list_filter = ("done",)
    search_fields = ("claim_key",)
    fields = ("claim_key", "done", "expires_at")
    readonly_fields = fields

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        """Records are claims: only the store makes them."""
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        """Changing a record would let a delivery run twice, or never."""
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        """Deleting a done record would let its delivery run again: purge expired ones instead."""
        return False


def _date(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def _pre(text: str) -> str:
    safe: str = format_html('<pre style="white-space: pre-wrap">{}</pre>', text)
    return safe


def _readable(body: bytes) -> str:
    """A body for a human: indented JSON, else its text, else its bytes escaped."""
    shown = body[:SHOWN_BODY]
    try:
        text = json.dumps(json.loads(shown), indent=2, ensure_ascii=False)
    except ValueError:
        text = shown.decode("utf-8", "backslashreplace")
    if len(body) > SHOWN_BODY:
        text += f"\n... ({len(body):,} bytes; the first {SHOWN_BODY:,} are shown)"
    return text
