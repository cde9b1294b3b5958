"""Start-up races: one function run by several real processes, released at the same instant."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

#: How many processes race: more than most hosts run gunicorn workers.
RACERS = 8


def _child(
    race: Callable[..., None], rounds: list[tuple[Any, ...]], barrier: Any, results: Any
) -> None:
    """Child process: run `race(wait, *args)` for each round, reporting "ok" or the error."""
    wait = partial(barrier.wait, timeout=30)
    for number, args in enumerate(rounds):
        try:
            race(wait, *args)
            outcome = "ok"
        except Exception as exc:
            first_line = str(exc).partition("\n")[0]
            outcome = f"{type(exc).__name__}: {first_line}"
        results.put((number, outcome))


def race_in_processes(
    race: Callable[..., None], rounds: Sequence[tuple[Any, ...]], *, processes: int = RACERS
) -> list[list[str]]:
    """Run `race(wait, *args)` with each round's `args` in `processes` spawned processes at once.

    `race` is a module-level function that gets ready, calls ``wait()`` to be released together
    with the others, then does the step that races. Returns each round's outcomes, one per
    process: ``"ok"``, or the error's type and first line.
    """
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    results = context.Queue()
    children = [
        context.Process(target=_child, args=(race, list(rounds), barrier, results))
        for _ in range(processes)
    ]
    for child in children:
        child.start()
    outcomes: list[list[str]] = [[] for _ in rounds]
    try:
        for _ in range(processes * len(rounds)):
            number, outcome = results.get(timeout=60)
            outcomes[number].append(outcome)
    finally:
        for child in children:
            child.join(timeout=30)
            if child.is_alive():
                child.kill()
        results.close()
        results.join_thread()
    return outcomes
