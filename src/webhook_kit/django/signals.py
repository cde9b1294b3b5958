"""Django signals for what happens to deliveries, so apps can react without touching handlers.

::

    from django.dispatch import receiver as listener
    from webhook_kit.django.signals import delivery_dead_lettered, delivery_processed

    @listener(delivery_processed, sender="struktr")
    def audit(sender, event, outcome, **kwargs): ...

    @listener(delivery_dead_lettered)
    def page_someone(sender, letter, **kwargs): ...

`delivery_processed` is sent by receivers that `send_signals` was given: every receiver behind
`webhook_view` or `webhook_urls`, and those of ``WEBHOOK_KIT_RECEIVERS``; in a Celery worker
that builds no view, call ``send_signals(receiver)`` yourself. `delivery_dead_lettered` is sent
by `DjangoDeadLetters` whenever it records a letter, whoever records it. With no listener
connected, sending costs one dictionary look-up.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

from django.dispatch import Signal  # type: ignore[import-untyped]

from ..deadletters import DeadLetter
from ..receiver import Outcome, Receiver

__all__ = ["delivery_dead_lettered", "delivery_processed", "send_signals"]

logger = logging.getLogger("webhook_kit")

delivery_processed = Signal()
"""Sent once a delivery's handlers succeeded and it was recorded as done.

``sender`` is the provider's name (``"struktr"``); ``event`` the parsed event; ``outcome`` the
`Outcome` answered (200 ``processed``). Not sent for duplicates or failures. Sent after the
delivery is done: a listener's exception is logged and changes nothing.
"""

delivery_dead_lettered = Signal()
"""Sent each time `DjangoDeadLetters` records a letter, once it is written.

``sender`` is the provider's name; ``letter`` the `DeadLetter` (its ``attempts`` tell a first
burial from a replay that failed again). A listener's exception is logged and changes nothing.
"""

#: The receivers that already send `delivery_processed`.
_sending: weakref.WeakSet[Receiver] = weakref.WeakSet()


def send_signals(receiver: Receiver) -> Receiver:
    """Make `receiver` send `delivery_processed` for each delivery it processes; return it.

    Calling it again for the same receiver does nothing: it sends each signal once.
    """
    if receiver in _sending:
        return receiver
    provider = receiver.provider.name

    def send(event: Any, outcome: Outcome) -> None:
        _send(delivery_processed, provider, event=event, outcome=outcome)

    send.__qualname__ = f"send_signals.{provider}"
    receiver.on_processed(send)
    _sending.add(receiver)
    return receiver


def dead_lettered(letter: DeadLetter) -> None:
    """Send `delivery_dead_lettered` for a letter just recorded."""
    _send(delivery_dead_lettered, letter.provider, letter=letter)


def _send(signal: Signal, sender: str, **arguments: Any) -> None:
    """Send `signal` to every listener, logging (never raising) the exceptions they raise."""
    for listener, result in signal.send_robust(sender=sender, **arguments):
        if isinstance(result, Exception):
            logger.error(
                "webhook signal listener %s raised: provider=%s",
                getattr(listener, "__qualname__", repr(listener)),
                sender,
                exc_info=result,
            )
