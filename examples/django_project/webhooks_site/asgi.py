"""The ASGI application, for ``uvicorn webhooks_site.asgi:application`` run from here.

The routes are the same synchronous views, which Django runs in a thread under ASGI; use
``webhook_urls(receivers, asynchronous=True)`` for coroutine views.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webhooks_site.settings")

application = get_asgi_application()
