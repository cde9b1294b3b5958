"""Typed event models for each provider, and the machinery to parse raw bodies into them.

Each provider has its own submodule, imported explicitly so that only the models you use are
built::

    from webhook_kit.events import struktr

    event = struktr.parse(body)  # a struktr.DocumentCompleted, ..., or an UnknownEvent
    if isinstance(event, struktr.DocumentCompleted):
        total = event.data.data.fields["total"].value

Every model keeps fields it does not know (in `model_extra`) and is immutable; every event
has `event_type`. Status fields are `Open`: a status the provider adds later is kept as a string.
A body that is not a valid event raises `webhook_kit.PayloadError`; a receiver configured to
accept such deliveries hands them to its handlers as an `InvalidEvent`.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

from ._base import (
    EventModel,
    FieldError,
    InvalidEvent,
    Open,
    UnknownEvent,
    WebhookModel,
    event_type_map,
    make_parser,
)

__all__ = [
    "EventModel",
    "FieldError",
    "InvalidEvent",
    "Open",
    "UnknownEvent",
    "WebhookModel",
    "event_type_map",
    "make_parser",
]

#: The provider modules, imported on first use so that importing this package builds no model.
_PROVIDERS = frozenset({"docextract", "file_conversion", "imggo", "pulse", "struktr"})

if not TYPE_CHECKING:  # type checkers resolve `events.struktr` as the submodule it is

    def __getattr__(name: str) -> ModuleType:
        """Import a provider's module when read as an attribute (``events.struktr``)."""
        if name in _PROVIDERS:
            return importlib.import_module(f"{__name__}.{name}")
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
