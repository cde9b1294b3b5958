"""The project's receivers, named by the ``WEBHOOK_KIT_RECEIVERS`` setting, for the admin's replay
action and the ``webhook_kit_replay`` command (which have no request to find a receiver by)::

    # settings.py
    WEBHOOK_KIT_RECEIVERS = "myapp.webhooks.receivers"      # or a list of such paths

Each path names a `Receiver`, a list or dict of them, or an object with a ``receivers`` mapping
(a `CeleryDefer`), as ``webhook-kit replay --app`` takes (``"myapp.webhooks:receivers"`` works
too). They are imported when first needed, not at start-up, so a module that reads secrets
from the environment never stops ``migrate``; each is given `send_signals`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings  # type: ignore[import-untyped]
from django.core.exceptions import ImproperlyConfigured  # type: ignore[import-untyped]

from ..receiver import Receiver
from .signals import send_signals

__all__ = ["receivers"]

_SETTING = "WEBHOOK_KIT_RECEIVERS"


def receivers() -> dict[str, Receiver]:
    """The receivers the setting names, by provider name; `ImproperlyConfigured` if it is wrong."""
    paths: Any = getattr(settings, _SETTING, None)
    if paths is None:
        raise ImproperlyConfigured(
            f"replaying dead letters needs your receivers: set {_SETTING} to the import path of "
            "a Receiver, or a list or dict of them (e.g. 'myapp.webhooks.receivers')"
        )
    found: dict[str, Receiver] = {}
    for path in [paths] if isinstance(paths, str) else paths:
        for receiver in _receivers_of(_imported(path), path):
            name = receiver.provider.name
            if found.get(name, receiver) is not receiver:
                raise ImproperlyConfigured(f"{_SETTING} names two receivers for {name!r}")
            found[name] = send_signals(receiver)
    return found


def _imported(path: str) -> Any:
    """The object at ``module.attribute`` or ``module:attribute`` (the attribute may be dotted)."""
    module_name, colon, attribute = path.partition(":")
    if not colon:
        module_name, _, attribute = path.rpartition(".")
    if not module_name or not attribute:
        raise ImproperlyConfigured(
            f"{_SETTING}: {path!r} is not an import path like 'app.mod.name'"
        )
    try:
        value: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as exc:
        raise ImproperlyConfigured(f"{_SETTING}: cannot import {path!r} ({exc})") from exc
    return value


def _receivers_of(value: Any, path: str) -> list[Receiver]:
    """The receivers `value` is or holds (a receiver, a list or dict of them, a `CeleryDefer`)."""
    if isinstance(value, Receiver):
        return [value]
    if isinstance(getattr(value, "receivers", None), Mapping):
        value = value.receivers
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        found = list(value)
        if all(isinstance(receiver, Receiver) for receiver in found):
            return found
    raise ImproperlyConfigured(
        f"{_SETTING}: {path!r} is a {type(value).__name__}, not a Receiver, a list or dict of "
        "them, or an object with a receivers mapping"
    )
