"""Races: many threads, or several processes, claim the same key at the same instant.

Each round uses a new key and a barrier, so all contenders reach the store together; exactly
one must acquire, every other must see the key in progress. And workers starting together on
an empty database all get a working table.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.processes import RACERS, race_in_processes
from webhook_kit.idempotency import ClaimState, SQLiteStore, store_key
from webhook_kit.idempotency.redis import AsyncRedisStore
from webhook_kit.idempotency.sql import SQLStore

from .backends import MULTIPROCESS_KINDS, Spec, close_store, open_store

THREADS = 32
PROCESSES = 4
THREAD_ROUNDS = 8
PROCESS_ROUNDS = 25
CREATE_ROUNDS = 8


def _tally(states: list[ClaimState]) -> Counter[ClaimState]:
    return Counter(states)


@pytest.mark.parametrize("kind", ["memory", *MULTIPROCESS_KINDS])
def test_one_of_32_threads_acquires(kind: str, make_spec: Callable[[str], Spec]) -> None:
    """32 threads claiming one key at once through one store: exactly one acquires, each round."""
    store = open_store(make_spec(kind), pool_size=THREADS)
    barrier = threading.Barrier(THREADS)

    def contend(key: str) -> ClaimState:
        barrier.wait(timeout=10)
        return store.claim(store_key("struktr", key)).state

    try:
        with ThreadPoolExecutor(THREADS) as pool:
            for round_ in range(THREAD_ROUNDS):
                states = list(pool.map(contend, [f"race-{round_}"] * THREADS))
                assert _tally(states) == {ClaimState.ACQUIRED: 1, ClaimState.IN_PROGRESS: 31}
    finally:
        close_store(store)


def test_one_of_32_tasks_acquires_on_async_redis(make_spec: Callable[[str], Spec]) -> None:
    """32 tasks on one event loop claiming one key through `AsyncRedisStore`: one acquires."""
    spec = make_spec("async-redis")

    async def main() -> None:
        async with AsyncRedisStore(spec.location, prefix=spec.prefix) as store:
            for round_ in range(THREAD_ROUNDS):
                key = store_key("struktr", f"race-{round_}")
                claims = await asyncio.gather(*(store.claim(key) for _ in range(THREADS)))
                states = [claim.state for claim in claims]
                assert _tally(states) == {ClaimState.ACQUIRED: 1, ClaimState.IN_PROGRESS: 31}

    asyncio.run(main())


def _contend_in_process(spec: Spec, barrier: object, results: object, number: int) -> None:
    """Child process: open the store, then claim each round's key as the barrier opens.

    A negative `number` claims the round's one key; otherwise the child claims its own id
    with the round's shared body key (a replay under made-up ids), and reports whether its id
    was left free when it did not acquire.
    """
    store = open_store(spec)
    try:
        for round_ in range(PROCESS_ROUNDS):
            barrier.wait(timeout=30)  # type: ignore[attr-defined]
            if number < 0:
                claim = store.claim(store_key("struktr", f"race-{round_}"))
                results.put((round_, claim.state.value))  # type: ignore[attr-defined]
                continue
            own = store_key("struktr", f"race-{round_}-{number}")
            claim = store.claim(own, also=[store_key("struktr", f"sha256:body-{round_}")])
            freed = claim.acquired or store.claim(own).acquired
            results.put((round_, claim.state.value if freed else "kept"))  # type: ignore[attr-defined]
    finally:
        close_store(store)


@pytest.mark.parametrize("shared", ["one key", "id and body"])
@pytest.mark.parametrize("kind", MULTIPROCESS_KINDS)
def test_one_of_4_processes_acquires(
    kind: str, shared: str, make_spec: Callable[[str], Spec]
) -> None:
    """4 processes with their own store objects claim one key at once: exactly one acquires.

    With "id and body", each claims its own delivery id with one shared body digest: still
    exactly one acquires, and no loser keeps its id.
    """
    spec = make_spec(kind)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    children = [
        context.Process(
            target=_contend_in_process,
            args=(spec, barrier, results, -1 if shared == "one key" else number),
        )
        for number in range(PROCESSES)
    ]
    for child in children:
        child.start()
    try:
        by_round: dict[int, list[str]] = {}
        for _ in range(PROCESSES * PROCESS_ROUNDS):
            round_, state = results.get(timeout=60)
            by_round.setdefault(round_, []).append(state)
    finally:
        for child in children:
            child.join(timeout=30)
        results.close()
        results.join_thread()
    assert [child.exitcode for child in children] == [0] * PROCESSES
    assert len(by_round) == PROCESS_ROUNDS
    for states in by_round.values():
        assert Counter(states) == {"acquired": 1, "in_progress": PROCESSES - 1}


def _create_table(wait: Callable[[], object], spec: Spec) -> None:
    """Child process: get connected, then create the store's table together with the others."""
    if spec.kind == "sqlite":
        wait()
        SQLiteStore(spec.location, prefix=spec.prefix).close()  # opening a file makes the table
        return
    with SQLStore(spec.location, table=spec.table) as store:
        store.engine.connect().close()
        wait()
        store.create_table()


@pytest.mark.parametrize("kind", ["sqlite", "sql-sqlite", "postgres", "mariadb"])
def test_8_processes_create_the_table_at_once(kind: str, make_spec: Callable[..., Spec]) -> None:
    """8 processes starting together on an empty database all succeed, and the table works."""
    specs = [make_spec(kind, created=False) for _ in range(CREATE_ROUNDS)]
    outcomes = race_in_processes(_create_table, [(spec,) for spec in specs])
    assert outcomes == [["ok"] * RACERS] * CREATE_ROUNDS
    for spec in specs:
        store = open_store(spec)
        try:
            assert store.claim(store_key("struktr", "after")).state is ClaimState.ACQUIRED
        finally:
            close_store(store)
