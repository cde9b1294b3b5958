"""Crash: a worker killed mid-handler never releases, and its lease lapses for the next delivery."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable

import pytest

from webhook_kit.idempotency import ClaimState, store_key

from .backends import MULTIPROCESS_KINDS, Spec, close_store, open_store

LEASE = 0.6
KEY = store_key("struktr", "evt_crash")


def _claim_then_hang(spec: Spec, results: object) -> None:
    """Child process: claim the key, report, then 'run the handler' until killed."""
    store = open_store(spec)
    claim = store.claim(KEY, lease=LEASE)
    results.put(claim.state.value)  # type: ignore[attr-defined]
    time.sleep(60)


@pytest.mark.parametrize("kind", MULTIPROCESS_KINDS)
def test_sigkilled_owner_lease_lapses(kind: str, make_spec: Callable[[str], Spec]) -> None:
    """After the owner is SIGKILLed, the key stays in progress until the lease, then acquires."""
    spec = make_spec(kind)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    child = context.Process(target=_claim_then_hang, args=(spec, results))
    child.start()
    try:
        assert results.get(timeout=30) == "acquired"
        claimed_at = time.monotonic()
    finally:
        os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
        child.join(timeout=10)
        results.close()
        results.join_thread()
    assert child.exitcode == -signal.SIGKILL
    store = open_store(spec)
    try:
        assert store.claim(KEY).state is ClaimState.IN_PROGRESS
        time.sleep(max(0.0, claimed_at + LEASE + 0.05 - time.monotonic()))
        assert store.claim(KEY).state is ClaimState.ACQUIRED
    finally:
        close_store(store)
