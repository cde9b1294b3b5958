"""What type checkers see: each handler checked against the model of its event type.

The real ``mypy --strict`` (through `mypy.api`) checks snippets written as users write them, for
every provider: a good one, which must have no error, and a bad one, which must have exactly the
expected error line. All snippets go through one mypy run, against this checkout's ``src``.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest
from mypy import api as mypy_api  # a dev dependency: the typing tests never skip

from tests.overloads import TARGET, Typed, render, typed
from webhook_kit import providers
from webhook_kit.receiver import Receiver, _Options

SRC = Path(__file__).resolve().parent.parent / "src"
PRESETS = {
    provider.name: constant
    for constant, provider in vars(providers).items()
    if isinstance(provider, providers.Provider)
}
TYPED = {name: typed(provider) for name, provider in providers.PROVIDERS.items()}


def good(name: str, t: Typed) -> str:
    """Every way to register a handler on a `name` receiver, each with the right type."""
    union = f"{name}.{t.union}"
    handlers = "".join(
        f'''
@by_name.on("{event_type}")
@by_preset.on("{event_type}")
{"async " if index % 2 else ""}def handle_{index}(event: {name}.{model}) -> None: ...
'''
        for index, (event_type, model) in enumerate(t.models.items())
    )
    return f'''\
from collections.abc import Awaitable, Callable

from fastapi import Request
from typing_extensions import assert_type

from webhook_kit import InvalidEvent, Outcome, Receiver, UnknownEvent, providers
from webhook_kit.events import {name}
from webhook_kit.fastapi import verified_event

by_name = Receiver("{name}", secret="s")
by_preset = Receiver(providers.{PRESETS[name]}, secret="s")
assert_type(by_name, Receiver[{union}])
assert_type(by_preset, Receiver[{union}])
{handlers}

def any_{name}_event(event: {union}) -> None: ...


for event_type in providers.{PRESETS[name]}.event_types:  # not literals: any event of the union
    by_name.on(event_type)(any_{name}_event)


@by_name.on_unknown
def unknown(event: UnknownEvent) -> None: ...


@by_name.on_invalid
async def invalid(event: InvalidEvent) -> None: ...


@by_name.on_any
def every(event: {union} | UnknownEvent | InvalidEvent) -> None: ...


@by_name.on_error
async def alert(event: {union} | UnknownEvent | InvalidEvent, error: Exception) -> None: ...


@by_name.on_processed
def done(event: {union} | UnknownEvent | InvalidEvent, outcome: Outcome) -> None: ...


Verified = Callable[[Request], Awaitable[{union} | UnknownEvent | InvalidEvent]]
assert_type(verified_event(by_name), Verified)
assert_type(by_preset.verified_event(b"{{}}", {{}}), {union} | UnknownEvent | InvalidEvent)
'''


def bad(name: str, t: Typed) -> tuple[str, str]:
    """A handler of the second event type's model registered for the first; and mypy's error."""
    (first, first_model), (_, second_model) = list(t.models.items())[:2]
    source = f'''\
from webhook_kit import Receiver
from webhook_kit.events import {name}

receiver = Receiver("{name}", secret="s")


@receiver.on("{first}")
def wrong(event: {name}.{second_model}) -> None: ...
'''
    error = (
        f"{_line(source, '@receiver.on')}: error: Value of type variable "
        f'"{t.prefix}{first_model}Handler" of function cannot be '
        f'"Callable[[{second_model}], None]"  [type-var]'
    )
    return source, error


UNTYPED = """\
from typing import Any

from webhook_kit import Receiver, providers
from webhook_kit.events import imggo, pulse
from webhook_kit.providers import Provider


def setup(receiver: Receiver) -> None:  # a bare Receiver is a Receiver[Any]: any handler
    @receiver.on("job.completed")
    def completed(event: pulse.JobCompleted) -> None: ...


def by_name(name: str) -> Receiver[Any]:  # a name known only at run time
    return Receiver(name, secret="s")


@by_name("imggo").on("job.completed")
def done(event: imggo.JobCompleted) -> None: ...


def custom(provider: Provider[int]) -> None:  # a provider of its own: handlers are not checked
    receiver = Receiver(provider, secret="s", tolerance=60)

    @receiver.on("anything")
    def handle(event: str) -> None: ...


Receiver(providers.get("pulse"), secret="whsec_c2VjcmV0", tolerance=60, encoding="hex")
"""

#: Mistakes beyond `on`, each on the line its comment names: (line, error code).
HOOKS = """\
from webhook_kit import Receiver, UnknownEvent
from webhook_kit.events import struktr

receiver = Receiver("struktr", secret="s")


@receiver.on_unknown  # type-var
def unknown(event: struktr.DocumentCompleted) -> None: ...


@receiver.on_invalid  # type-var
def invalid(event: UnknownEvent) -> None: ...


@receiver.on_any  # arg-type
def every(event: struktr.DocumentCompleted) -> None: ...


@receiver.on_error  # arg-type
def alert(event: struktr.StruktrEvent | UnknownEvent) -> None: ...


@receiver.on_processed  # arg-type
def done(event: struktr.DocumentCompleted, outcome: object) -> None: ...


Receiver("struktr", secret="s", stroe=None)  # call-overload
Receiver("pulse", secret="s", tolerance="60")  # call-overload
"""


def _line(source: str, start: str) -> int:
    """The number of the first line of `source` that starts with `start`."""
    return next(n for n, line in enumerate(source.splitlines(), 1) if line.startswith(start))


@pytest.fixture(scope="module")
def mypy_errors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Run ``mypy --strict`` once on every snippet; each file's error lines, without the path."""
    folder = tmp_path_factory.mktemp("typing")
    snippets = {"untyped.py": UNTYPED, "hooks.py": HOOKS}
    for name, t in TYPED.items():
        snippets[f"good_{name}.py"] = good(name, t)
        snippets[f"bad_{name}.py"] = bad(name, t)[0]
    for file, source in snippets.items():
        (folder / file).write_text(source)
    config = folder / "mypy.ini"
    config.write_text(f"[mypy]\nmypy_path = {SRC}\n")  # this checkout, not an installed copy
    stdout, stderr, _ = mypy_api.run(
        [
            "--strict",
            "--config-file",
            str(config),
            "--cache-dir",
            str(folder / ".mypy_cache"),
            "--no-color-output",
            "--no-error-summary",
            "--hide-error-context",
            *(str(folder / file) for file in snippets),
        ]
    )
    assert not stderr, stderr
    errors: dict[str, list[str]] = {file: [] for file in snippets}
    for line in stdout.splitlines():
        path, _, rest = line.partition(":")
        if ": error: " in rest:
            errors[Path(path).name].append(rest)
    return errors


@pytest.mark.parametrize("name", list(TYPED))
def test_handlers_of_the_right_model_type_check(
    mypy_errors: dict[str, list[str]], name: str
) -> None:
    """Every event type's model, hooks and the FastAPI dependency pass `mypy --strict`."""
    assert mypy_errors[f"good_{name}.py"] == []


@pytest.mark.parametrize("name", list(TYPED))
def test_a_handler_of_another_model_is_a_type_error(
    mypy_errors: dict[str, list[str]], name: str
) -> None:
    """A handler of the wrong model is exactly one error: its type variable cannot be it."""
    assert mypy_errors[f"bad_{name}.py"] == [bad(name, TYPED[name])[1]]


def test_receivers_unknown_to_the_type_checker_take_any_handler(
    mypy_errors: dict[str, list[str]],
) -> None:
    """A bare `Receiver`, a run-time name or a custom provider accepts any handler."""
    assert mypy_errors["untyped.py"] == []


def test_hooks_and_options_are_checked_too(mypy_errors: dict[str, list[str]]) -> None:
    """`on_unknown`, `on_invalid`, `on_any`, `on_error`, `on_processed` and the options refuse
    what is wrong."""
    expected = [
        (number, line.rpartition("# ")[2])
        for number, line in enumerate(HOOKS.splitlines(), 1)
        if re.search(r"# [a-z-]+$", line)
    ]
    found = [
        (int(error.split(":")[0]), error.rpartition("[")[2].rstrip("]"))
        for error in mypy_errors["hooks.py"]
    ]
    assert sorted(set(found)) == expected


def test_the_generated_overloads_are_up_to_date() -> None:
    """`src/webhook_kit/_on.py` is what ``python -m tests.overloads`` writes for these providers."""
    assert ast.dump(ast.parse(TARGET.read_text())) == ast.dump(ast.parse(render())), (
        "run: python -m tests.overloads"
    )


def test_the_typed_options_are_the_receivers_options() -> None:
    """The options the overloads of `Receiver` accept are exactly those of its implementation."""
    parameters = inspect.signature(Receiver.__init__).parameters.values()
    keywords = {p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert set(_Options.__annotations__) == keywords - {"secret"}
