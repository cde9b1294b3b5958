"""Settings of the example project: only what receiving webhooks needs.

Configuration comes from the environment (see ``examples/common.py``): the providers' secrets,
``WEBHOOK_KIT_STORE`` for the idempotency store (``django`` selects `DjangoStore` in this
project's own database, after ``python manage.py migrate``), ``WEBHOOK_KIT_STORE_PREFIX`` for its
keys, and ``DJANGO_SECRET_KEY``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
# `examples/common.py` (make_receivers) is shared by every example: make it importable.
EXAMPLES_DIR = str(BASE_DIR.parent)
if EXAMPLES_DIR not in sys.path:
    sys.path.insert(0, EXAMPLES_DIR)

# Development fallback only: set DJANGO_SECRET_KEY to a long random value in production.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "django-insecure-development-only-change-me")
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")

INSTALLED_APPS = ["webhook_kit.django"]  # only for DjangoStore's table
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",  # the webhook views are exempt
]
ROOT_URLCONF = "webhooks_site.urls"
WSGI_APPLICATION = "webhooks_site.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_DATABASE", str(BASE_DIR / "db.sqlite3")),
        "OPTIONS": {"timeout": 5},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "webhook_kit": {"handlers": ["console"], "level": "INFO"},
        "examples": {"handlers": ["console"], "level": "INFO"},
    },
}
