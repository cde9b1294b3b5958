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
BODY = store_key("struktr", "sha256:" + "0f" * 32)
ALSO = {"one key": (), "id and body": (BODY,)}


def _claim_then_hang(spec: Spec, results: object, also: tuple[str, ...]) -> None:
    """Child process: claim the key(s), report, then 'run the handler' until killed."""
    store = open_store(spec)
    claim = store.claim(KEY, lease=LEASE, also=also)  # type: ignore[arg-type]
    results.put(claim.state.value)  # type: ignore[attr-defined]
    time.sleep(60)


@pytest.mark.parametrize("keys", list(ALSO))
@pytest.mark.parametrize("kind", MULTIPROCESS_KINDS)
def test_sigkilled_owner_lease_lapses(
    kind: str, keys: str, make_spec: Callable[[str], Spec]
) -> None:
    """After the owner is SIGKILLed, its keys stay in progress until the lease, then acquire.

    With a delivery id and a body digest claimed together, neither is lost (the retry, or the
    same body under another id, acquires) nor doubled (both stay held until the lease lapses).
    """
    spec = make_spec(kind)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    child = context.Process(target=_claim_then_hang, args=(spec, results, ALSO[keys]))
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
    other_id = store_key("struktr", "evt_replayed")
    try:
        assert store.claim(KEY).state is ClaimState.IN_PROGRESS
        if keys == "id and body":
            assert store.claim(other_id, also=[BODY]).state is ClaimState.IN_PROGRESS
        time.sleep(max(0.0, claimed_at + LEASE + 0.05 - time.monotonic()))
        retry = store.claim(KEY, also=ALSO[keys])
        assert retry.state is ClaimState.ACQUIRED
        store.complete(retry)
        if keys == "id and body":
            assert store.claim(other_id, also=[BODY]).state is ClaimState.DONE
    finally:
        close_store(store)
