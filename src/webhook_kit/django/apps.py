"""The Django app holding `DjangoStore`'s table: ``"webhook_kit.django"`` in INSTALLED_APPS."""

from __future__ import annotations

from django.apps import AppConfig  # type: ignore[import-untyped]

__all__ = ["WebhookKitConfig"]


class WebhookKitConfig(AppConfig):  # type: ignore[misc]
    """Registers the idempotency model under the label ``webhook_kit``, for ``migrate``."""

    name = "webhook_kit.django"
    label = "webhook_kit"
    verbose_name = "webhook-kit"
