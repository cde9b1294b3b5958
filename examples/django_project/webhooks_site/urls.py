"""Routes: ``/webhooks/<provider>`` for each of the five providers, one receiver each, and
``/webhooks/<provider>/<tenant>`` for their tenants, each with its own secret."""

from __future__ import annotations

import os

from common import make_receivers, make_store, make_tenant_receivers, store_prefix

from webhook_kit.django import webhook_urls
from webhook_kit.django.store import DjangoStore

# WEBHOOK_KIT_STORE=django keeps the idempotency records in this project's database (run
# `python manage.py migrate` first), under WEBHOOK_KIT_STORE_PREFIX like every other store;
# anything else is for examples/common.py to interpret.
store = (
    DjangoStore(prefix=store_prefix())
    if os.environ.get("WEBHOOK_KIT_STORE") == "django"
    else make_store()
)

urlpatterns = [
    *webhook_urls(make_receivers(store), prefix="webhooks/"),
    *webhook_urls(make_tenant_receivers(store), prefix="webhooks/"),
]
