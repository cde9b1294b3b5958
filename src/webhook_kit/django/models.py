"""The app's models: `DjangoStore`'s idempotency records and `DjangoDeadLetters`' letters."""

from __future__ import annotations

from django.db import models  # type: ignore[import-untyped]

__all__ = ["DeadLetterRecord", "IdempotencyRecord"]


class IdempotencyRecord(models.Model):  # type: ignore[misc]
    """One claimed key, with the same table and columns as `SQLStore` on PostgreSQL.

    ``claim_key`` is ``<prefix>:<provider>:<delivery id>``; ``owner`` is the lease's random
    token; ``done`` tells a done marker from a lease; ``expires_at`` is when either lapses (the
    lease, or the retention of the done marker). Rows are written by `DjangoStore` only.
    """

    claim_key = models.CharField(max_length=255, primary_key=True)
    owner = models.CharField(max_length=32)
    done = models.BooleanField()
    expires_at = models.DateTimeField()

    class Meta:
        db_table = "webhook_kit_idempotency"
        verbose_name = "idempotency record"

    def __str__(self) -> str:
        return f"{self.claim_key} ({'done' if self.done else 'in progress'})"


class DeadLetterRecord(models.Model):  # type: ignore[misc]
    """One `DeadLetter` in the table of `SQLDeadLetters`, written by `DjangoDeadLetters`.

    The same table, so ``webhook-kit replay --dead-letters <database URL>`` reads it too: the
    headers are JSON text, the times seconds since the epoch (a letter reads back exactly as it
    was recorded; the admin shows them as dates). ``replay_deadletterrecord`` is the permission
    to replay letters from the admin.
    """

    id = models.CharField(max_length=255, primary_key=True)
    provider = models.CharField(max_length=64, db_index=True)
    body = models.BinaryField()
    headers = models.TextField()
    reason = models.CharField(max_length=64)
    error = models.TextField()
    attempts = models.IntegerField()
    received_at = models.FloatField()
    created_at = models.FloatField()
    updated_at = models.FloatField()

    class Meta:
        db_table = "webhook_kit_dead_letters"
        verbose_name = "dead letter"
        ordering = ("created_at", "id")
        permissions = (("replay_deadletterrecord", "Can replay dead letters"),)

    def __str__(self) -> str:
        return f"{self.id} ({self.reason})"
