"""Django settings for the tests, and helpers that give each test its own migrated database.

`setup()` configures Django once per process (child processes of the race tests call it too).
``default`` is the shared PostgreSQL ``test`` database; the store tests add an alias per test,
pointing at a fresh PostgreSQL schema (``search_path``) or SQLite file, and create the table
there with the app's real migration, so parallel runs never see each other's rows.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

import django
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from django.db.backends.signals import connection_created

from webhook_kit.django.store import DjangoStore

DSN = os.environ.get("WEBHOOK_KIT_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")

SECRET_KEY = "tests-only-not-a-secret"
DEBUG = False
USE_TZ = True
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
ROOT_URLCONF = "tests.django_settings"  # each client overrides it with its own patterns
urlpatterns: list[Any] = []
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "webhook_kit.django",
]
# CSRF checks on, as in a real project: the webhook views must be exempt.
MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
# Every database gets only the webhook_kit tables, except the one an admin test routes to.
DATABASE_ROUTERS = ["tests.django_settings.Router"]
DATABASES: dict[str, dict[str, Any]] = {}  # filled by `setup()` from DSN
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGGING_CONFIG = None  # leave logging to pytest

_lock = threading.Lock()
#: Every connection opened per alias, in any thread, so `close_connections` can close them all.
_opened: dict[str, weakref.WeakSet[Any]] = {}


def postgres_database(dsn: str, schema: str | None = None) -> dict[str, Any]:
    """A DATABASES entry for a ``postgresql://`` DSN, optionally confined to `schema`."""
    parts = urlsplit(dsn)
    options: dict[str, Any] = {"connect_timeout": 2}
    if schema is not None:
        options["options"] = f"-c search_path={schema}"
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "OPTIONS": options,
    }


def setup() -> None:
    """Configure Django with these settings and load the apps, once per process."""
    with _lock:
        if settings.configured:
            return
        values = {name: value for name, value in globals().items() if name.isupper()}
        values["DATABASES"] = {"default": postgres_database(DSN)}
        settings.configure(**values)
        django.setup()
        connection_created.connect(_remember, weak=False)


def _remember(sender: Any, connection: Any, **kwargs: Any) -> None:
    _opened.setdefault(connection.alias, weakref.WeakSet()).add(connection)


def add_database(alias: str, config: dict[str, Any]) -> None:
    """Register a database alias at run time (tests only: Django reads DATABASES once)."""
    setup()
    if alias not in connections.settings:
        configured = connections.configure_settings({"default": {}, alias: dict(config)})
        connections.settings[alias] = configured[alias]


def remove_database(alias: str) -> None:
    """Close every connection to `alias`, in every thread, and forget the alias."""
    close_connections(alias)
    connections.settings.pop(alias, None)


def close_connections(alias: str) -> None:
    """Close the connections to `alias` that any thread opened (worker threads never do)."""
    for wrapper in list(_opened.pop(alias, ())):
        wrapper.inc_thread_sharing()
        try:
            wrapper.close()
        finally:
            wrapper.dec_thread_sharing()


def migrate(alias: str) -> None:
    """Create the store's table in `alias` with the app's real migration."""
    call_command("migrate", "webhook_kit", database=alias, verbosity=0)


def store_database(location: str, name: str) -> dict[str, Any]:
    """The DATABASES entry of a store spec: a PostgreSQL schema `name`, or a SQLite file."""
    if location.startswith("postgresql://"):
        return postgres_database(location, schema=name)
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": location}


def create_store_database(location: str, name: str) -> Callable[[], None]:
    """Make alias `name` (a fresh schema or file), migrate it, and return what drops it again."""
    add_database(name, store_database(location, name))
    connection = connections[name]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE SCHEMA "{name}"')
    migrate(name)

    def drop() -> None:
        if connection.vendor == "postgresql":
            with connections[name].cursor() as cursor:
                cursor.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        remove_database(name)

    return drop


def open_django_store(location: str, name: str, prefix: str) -> Any:
    """A `DjangoStore` on alias `name`, registering the alias first in a fresh process."""
    add_database(name, store_database(location, name))
    return DjangoStore(using=name, prefix=prefix)


class Router:
    """Sends every query to `Router.alias` while a test sets it (the admin tests' own database),
    and lets Django's own apps (auth, admin, sessions) be migrated there only."""

    alias: str | None = None

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return Router.alias

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        return Router.alias

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return app_label == "webhook_kit" or db == Router.alias


def migrate_all(alias: str) -> None:
    """Create every installed app's tables in `alias` (routed to it meanwhile)."""
    call_command("migrate", database=alias, verbosity=0)


class URLConf:
    """A URLconf object: Django takes any hashable object with `urlpatterns` as ROOT_URLCONF."""

    def __init__(self, *patterns: Any) -> None:
        self.urlpatterns = list(patterns)


def split_headers(headers: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """The content type (Django's clients take it apart) and the other headers."""
    others = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    types = [v for k, v in headers.items() if k.lower() == "content-type"]
    return (types[0] if types else "application/json"), others
