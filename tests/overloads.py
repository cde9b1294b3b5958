"""Write `src/webhook_kit/_on.py`: `Receiver.on` with one overload per provider and event type.

Run ``python -m tests.overloads`` after adding a provider or an event type; `tests/test_typing.py`
fails until the file matches what this renders (compared as syntax trees, so the formatting is
ruff's). Each built-in provider's events are read from its ``EVENT_TYPES`` and the union alias of
its module (``struktr.StruktrEvent``).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import typing
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from webhook_kit import providers

TARGET = Path(__file__).resolve().parent.parent / "src" / "webhook_kit" / "_on.py"


@dataclass(frozen=True)
class Typed:
    """What the overloads of one provider need: its module, union alias and models."""

    module: str
    union: str
    #: Event type string -> model class name, in the provider's documented order.
    models: dict[str, str]

    @property
    def prefix(self) -> str:
        """The union alias without ``Event``, which prefixes its handler type variables."""
        return self.union.removesuffix("Event")


def typed(provider: providers.Provider) -> Typed:
    """Find the module and union alias of a built-in provider's event models."""
    module: ModuleType = __import__(f"webhook_kit.events.{provider.name}", fromlist=["EVENT_TYPES"])
    models = set(provider.event_types.values())
    [union] = [
        name
        for name, value in vars(module).items()
        if typing.get_origin(value) is typing.Annotated
        and set(typing.get_args(typing.get_args(value)[0])) == models
    ]
    return Typed(
        module=provider.name,
        union=union,
        models={key: model.__name__ for key, model in provider.event_types.items()},
    )


HEADER = '''\
"""`Receiver.on`, typed per built-in provider and event type. Generated: do not edit.

``python -m tests.overloads`` writes this file from each provider's ``EVENT_TYPES``.

A receiver of a built-in provider is a ``Receiver[<its event union>]`` (``Receiver("struktr",
...)`` is a ``Receiver[struktr.StruktrEvent]``); for it, each event type string selects the
handler type ``on`` takes, so a handler of another model is a type error. A string that is not
a literal (a variable) takes a handler of the provider's whole union. Receivers of other
providers, or of a provider unknown to the type checker (``Receiver[Any]``), take any handler.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, Literal, overload

from typing_extensions import TypeVar

from .providers import EventT

if TYPE_CHECKING:
    from .events import {modules}
    from .providers import Provider
    from .receiver import Handler

__all__ = ["On"]
'''

CLASS = '''

class _Untyped:
    """Never made: only ``On[Any]`` matches ``On[_Untyped]``, so it takes the untyped overload."""


class On(Generic[EventT]):
    """The `on` decorator of `Receiver`."""

    provider: Provider[EventT]
    _handlers: dict[str, list[Handler]]

    @overload
    def on(self: On[_Untyped], event_type: str) -> Callable[[AnyHandler], AnyHandler]: ...
'''

IMPLEMENTATION = '''
    @overload
    def on(self, event_type: str) -> Callable[[AnyHandler], AnyHandler]: ...

    def on(self, event_type: str) -> Callable[[AnyHandler], AnyHandler]:
        """Register a handler for one event type; it receives exactly that type's model.

        Type checkers know which model that is for the built-in providers, from the event type
        string. An event type the provider does not document raises `ValueError`: register
        event types the library does not model yet with `on_unknown`.
        """
        if event_type not in self.provider.event_types:
            known = ", ".join(self.provider.event_types)
            raise ValueError(
                f"{self.provider.title} has no {event_type!r} event; known: {known}. "
                "Use on_unknown for event types the library does not model yet."
            )

        def register(handler: AnyHandler) -> AnyHandler:
            self._handlers.setdefault(event_type, []).append(handler)
            return handler

        return register
'''


def render() -> str:
    """The source of `_on.py` for the providers of this checkout (before formatting)."""
    all_typed = [typed(provider) for provider in providers.PROVIDERS.values()]
    parts = [HEADER.format(modules=", ".join(sorted(t.module for t in all_typed)))]
    parts.append('\nAnyHandler = TypeVar("AnyHandler", bound="Handler")\n')
    for t in all_typed:
        union = f"{t.module}.{t.union}"
        parts.append(
            f'{t.prefix}Handler = TypeVar("{t.prefix}Handler", bound="Handler[{union}]")\n'
        )
        for model in t.models.values():
            name = f"{t.prefix}{model}Handler"
            parts.append(f'{name} = TypeVar("{name}", bound="Handler[{t.module}.{model}]")\n')
    parts.append(CLASS)
    for t in all_typed:
        union = f"{t.module}.{t.union}"
        for event_type, model in t.models.items():
            name = f"{t.prefix}{model}Handler"
            parts.append(
                "\n    @overload\n"
                f'    def on(self: On[{union}], event_type: Literal["{event_type}"])'
                f" -> Callable[[{name}], {name}]: ...\n"
            )
        name = f"{t.prefix}Handler"
        parts.append(
            "\n    @overload\n"
            f"    def on(self: On[{union}], event_type: str) -> Callable[[{name}], {name}]: ...\n"
        )
    parts.append(IMPLEMENTATION)
    return "".join(parts)


def main() -> None:
    """Write `_on.py`, formatted by ruff when it is installed."""
    TARGET.write_text(render())
    if importlib.util.find_spec("ruff") is not None:
        ruff = [sys.executable, "-m", "ruff", "format", "--quiet", str(TARGET)]
        subprocess.run(ruff, check=True)  # noqa: S603
    print(f"wrote {TARGET.relative_to(TARGET.parents[2])}")


if __name__ == "__main__":
    main()
