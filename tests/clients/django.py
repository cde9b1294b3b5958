"""Drive a `Receiver` through `webhook_kit.django`: its URL patterns, in Django's test clients.

The sync client posts to `webhook_urls` (the `webhook_view` routes) with `django.test.Client`,
through the full middleware stack with CSRF checks on; the async one posts to the
`async_webhook_view` routes with `django.test.AsyncClient`, on a fresh event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from tests.django_settings import URLConf, setup, split_headers

setup()

from django.test import AsyncClient, Client  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from tests.receiving import ClientFactory, Post, Reply, route  # noqa: E402
from webhook_kit.django import webhook_urls  # noqa: E402
from webhook_kit.receiver import Receiver  # noqa: E402


def reply_of(response: Any) -> Reply:
    """The contract's view of a Django response: status, decoded JSON and lower-case headers."""
    return Reply(
        response.status_code,
        response.json(),
        {name.lower(): value for name, value in response.headers.items()},
    )


def django_sync(receiver: Receiver, tenant: str | None = None) -> Post:
    """The receiver's `webhook_view` route from `webhook_urls`, in `django.test.Client`."""
    routes = URLConf(*webhook_urls(receiver))
    client = Client(enforce_csrf_checks=True)
    url = route(receiver, tenant)

    def post(body: bytes, headers: Mapping[str, str], method: str = "POST") -> Reply:
        content_type, others = split_headers(headers)
        with override_settings(ROOT_URLCONF=routes):
            response = client.generic(
                method, url, data=body, content_type=content_type, headers=others
            )
        return reply_of(response)

    return post


def django_async(receiver: Receiver, tenant: str | None = None) -> Post:
    """The receiver's `async_webhook_view` route, in `django.test.AsyncClient`."""
    routes = URLConf(*webhook_urls(receiver, asynchronous=True))
    client = AsyncClient(enforce_csrf_checks=True)
    url = route(receiver, tenant)

    def post(body: bytes, headers: Mapping[str, str], method: str = "POST") -> Reply:
        content_type, others = split_headers(headers)
        with override_settings(ROOT_URLCONF=routes):
            response = asyncio.run(
                client.generic(method, url, data=body, content_type=content_type, headers=others)
            )
        return reply_of(response)

    return post


CLIENTS: dict[str, ClientFactory] = {"django-sync": django_sync, "django-async": django_async}
