"""The one model of `DjangoStore`: a delivery key's lease or done marker, and when it lapses."""

from __future__ import annotations

from django.db import models  # type: ignore[import-untyped]

__all__ = ["IdempotencyRecord"]


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
