"""Replaying dead letters: run them again through today's receivers, above the receiver and the
letters' storage (`webhook_kit.deadletters`), which know nothing of this module.

`replay` runs letters through `Receiver.process`: the current models and handlers, the same
idempotency store (a delivery processed meanwhile is a duplicate and is not run again), and a
tenant's letter with that tenant's keys. It checks
the signature as of the time the delivery was received, so an edited record is refused; pass
``verify=False`` for letters whose secret has since been rotated away.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from . import _observe
from .deadletters import DeadLetter, DeadLetterStore, describe
from .receiver import Receiver

__all__ = ["Replayed", "replay"]


@dataclass(frozen=True)
class Replayed:
    """What replaying one letter did."""

    id: str
    #: ``"processed"`` or ``"duplicate"`` (the letter was removed), or why it was kept:
    #: ``"handler_failed"``, ``"in_progress"``, ``"no_receiver"``, an error code.
    result: str
    #: The last error when it failed again.
    error: str | None = None

    @property
    def done(self) -> bool:
        """Whether the delivery is now processed (and its letter removed)."""
        return self.result in {"processed", "duplicate"}


def replay(
    receivers: Receiver | Mapping[str, Receiver] | Iterable[Receiver],
    dead_letters: DeadLetterStore,
    id: str | None = None,
    *,
    provider: str | None = None,
    verify: bool = True,
) -> list[Replayed]:
    """Run one dead letter (`id`), one provider's, or all of them through their receivers, once.

    `receivers` is one receiver, several, or a mapping from provider name to receiver. Each
    letter goes through `Receiver.process` (verified as of its receipt unless ``verify=False``)
    with the current models, so an ``"invalid_payload"`` letter succeeds once they accept it.
    A processed letter, or one found already processed in the idempotency store, is removed;
    one that fails again stays, with its attempts counted and its error updated. Raises
    `KeyError` if `id` names no letter (of `provider`, if given).
    """
    by_name = _by_provider(receivers)
    if id is None:
        letters = dead_letters.all(provider=provider)
    else:
        letter = dead_letters.get(id)
        if letter is None or provider not in (None, letter.provider):
            raise KeyError(f"no dead letter {id!r}: list them with dead_letters.all()")
        letters = [letter]
    return [_replay_one(by_name, dead_letters, letter, verify=verify) for letter in letters]


def _replay_one(
    receivers: Mapping[str, Receiver],
    dead_letters: DeadLetterStore,
    letter: DeadLetter,
    *,
    verify: bool,
) -> Replayed:
    receiver = receivers.get(letter.provider)
    if receiver is None:
        return Replayed(letter.id, "no_receiver", f"no receiver for {letter.provider!r}")
    replayed = _replay_letter(receiver, dead_letters, letter, verify=verify)
    if _observe.on:
        _observe.replayed(receiver, letter.provider, replayed.result)
    return replayed


def _replay_letter(
    receiver: Receiver, dead_letters: DeadLetterStore, letter: DeadLetter, *, verify: bool
) -> Replayed:
    try:
        with _observe.replaying():  # its trace links to the original delivery's
            outcome = receiver.process(
                letter.body,
                letter.headers,
                received_at=letter.received_at,
                verify=verify,
                tenant=letter.tenant,
            )
    except Exception as exc:  # a handler failed again: keep the letter, count the attempt
        error = describe(exc)
        dead_letters.add(_again(letter, "handler_failed", error))
        return Replayed(letter.id, "handler_failed", error)
    result = str(outcome.body.get("status") or outcome.body.get("error"))
    if outcome.status == 200:
        dead_letters.remove(letter.id)
        return Replayed(letter.id, result)
    error = str(outcome.body.get("message", result))
    if outcome.status != 409:  # in progress elsewhere: not an attempt of ours
        dead_letters.add(_again(letter, result, error))
    return Replayed(letter.id, result, error)


def _again(letter: DeadLetter, reason: str, error: str) -> DeadLetter:
    return replace(
        letter, reason=reason, error=error, attempts=letter.attempts + 1, updated_at=time.time()
    )


def _by_provider(
    receivers: Receiver | Mapping[str, Receiver] | Iterable[Receiver],
) -> dict[str, Receiver]:
    if isinstance(receivers, Mapping):
        return {receiver.provider.name: receiver for receiver in receivers.values()}
    if isinstance(receivers, Iterable):
        return {receiver.provider.name: receiver for receiver in receivers}
    return {receivers.provider.name: receivers}  # one receiver
