"""The Django receivers `benchmarks/load.py` puts under gunicorn: ``LOAD_VARIANT`` picks one.

``handwritten`` is the vendor snippet as a Django view, ``handwritten_dedupe`` the same with the
usual Redis duplicate check (`load_apps.dedupe`); ``ours`` is webhook-kit's `webhook_urls`,
wired as in the example project, with the store from ``LOAD_STORE``. Both do the side effect of
`load_apps.count`. Settings are the example project's, minus the database nobody here uses.
"""

from __future__ import annotations

import json
import os
from typing import Any

import django
from django.conf import settings

settings.configure(
    SECRET_KEY="load-test-only",  # noqa: S106 - a throwaway key for a loopback benchmark
    ALLOWED_HOSTS=["127.0.0.1"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[
        "django.middleware.security.SecurityMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
    ],
    USE_TZ=True,
)
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpRequest, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402

from benchmarks.load_apps import SECRET, count, dedupe, signed, store  # noqa: E402
from webhook_kit import Receiver, providers  # noqa: E402
from webhook_kit.django import webhook_urls  # noqa: E402


@csrf_exempt
def handwritten(request: HttpRequest) -> JsonResponse:
    """The vendor snippet: verify the raw body, parse it, act."""
    body = request.body
    if not signed(body, request.headers.get("X-Struktr-Signature", "")):
        return JsonResponse({"error": "signature_mismatch"}, status=401)
    event = json.loads(body)
    count(event["data"]["id"])
    return JsonResponse({"status": "processed"})


@csrf_exempt
def handwritten_dedupe(request: HttpRequest) -> JsonResponse:
    """The vendor snippet plus the usual Redis duplicate check around the side effect."""
    body = request.body
    if not signed(body, request.headers.get("X-Struktr-Signature", "")):
        return JsonResponse({"error": "signature_mismatch"}, status=401)
    answer, status = dedupe(body, request.headers.get("X-Struktr-Delivery", ""))
    return JsonResponse(answer, status=status)


if os.environ.get("LOAD_VARIANT") == "handwritten":
    urlpatterns: list[Any] = [path("webhooks/struktr", handwritten)]
elif os.environ.get("LOAD_VARIANT") == "handwritten_dedupe":
    urlpatterns = [path("webhooks/struktr", handwritten_dedupe)]
else:
    receiver = Receiver(providers.STRUKTR, secret=SECRET, store=store())

    @receiver.on("document.completed")
    def completed(event: Any) -> None:
        """The same side effect, from the typed event."""
        count(event.data.id)

    urlpatterns = webhook_urls(receiver)

application = get_wsgi_application()
