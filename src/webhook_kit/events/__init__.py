"""Typed event models for each provider, and the machinery to parse raw bodies into them.

Each provider has its own submodule, imported explicitly so that only the models you use are
built::

    from webhook_kit.events import struktr

    event = struktr.parse(body)  # a struktr.DocumentCompleted, ..., or an UnknownEvent
    if isinstance(event, struktr.DocumentCompleted):
        total = event.data.data.fields["total"].value

Every model keeps fields it does not know (in `model_extra`) and is immutable; every event
has `event_type`. A body that is not a valid event raises `webhook_kit.PayloadError`.
"""

from __future__ import annotations

from ._base import EventModel, UnknownEvent, WebhookModel, event_type_map, make_parser

__all__ = ["EventModel", "UnknownEvent", "WebhookModel", "event_type_map", "make_parser"]
