"""The idempotency contract, run on every backend and async form against the real servers.

Short leases and retentions (0.1 s) are used only where a test waits for them to lapse;
everything that must stay live uses the 60 s default, so a slow machine cannot flip a result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import pytest

from webhook_kit.idempotency import (
    Claim,
    ClaimState,
    IdempotencyStore,
    LeaseLostError,
    StoreKey,
    store_key,
)

from .backends import SELF_EXPIRING_KINDS, SHARED_KINDS, Spec, close_store, open_store

SHORT = 0.1
LAPSE = SHORT + 0.05  # long enough for SHORT to have passed on the server's clock
KEY = store_key("struktr", "evt_0001")


def test_first_claim_acquires_with_an_owner_token(store: IdempotencyStore) -> None:
    """A key nobody holds is acquired, with a fresh random owner token."""
    first = store.claim(KEY)
    other = store.claim(store_key("struktr", "evt_0002"))
    assert first.state is ClaimState.ACQUIRED
    assert first.acquired
    assert first.key == KEY
    assert first.owner is not None
    assert len(first.owner) == 32
    assert first.owner != other.owner


def test_claim_during_a_live_lease_is_in_progress(store: IdempotencyStore) -> None:
    """While a lease is live, other claims answer in progress and carry no owner."""
    store.claim(KEY)
    second = store.claim(KEY)
    assert second.state is ClaimState.IN_PROGRESS
    assert not second.acquired
    assert second.owner is None
    assert store.claim(KEY).state is ClaimState.IN_PROGRESS


def test_completed_key_is_done(store: IdempotencyStore) -> None:
    """After complete, every claim answers done."""
    claim = store.claim(KEY)
    store.complete(claim)
    again = store.claim(KEY)
    assert again.state is ClaimState.DONE
    assert again.owner is None
    assert store.claim(KEY).state is ClaimState.DONE


def test_done_outlives_the_lease(store: IdempotencyStore) -> None:
    """A done marker lasts for `retain`, not for the (shorter) lease it replaced."""
    store.complete(store.claim(KEY, lease=SHORT))
    time.sleep(LAPSE)
    assert store.claim(KEY).state is ClaimState.DONE


def test_expired_lease_is_taken_over(store: IdempotencyStore) -> None:
    """A lease never completed nor released (a crashed worker) lets the next claim acquire."""
    crashed = store.claim(KEY, lease=SHORT)
    time.sleep(LAPSE)
    retry = store.claim(KEY)
    assert retry.state is ClaimState.ACQUIRED
    assert retry.owner != crashed.owner
    assert store.claim(KEY).state is ClaimState.IN_PROGRESS


def test_done_marker_is_forgotten_after_retain(store: IdempotencyStore) -> None:
    """Once `retain` has passed, the key can be acquired again."""
    store.complete(store.claim(KEY), retain=SHORT)
    time.sleep(LAPSE)
    assert store.claim(KEY).state is ClaimState.ACQUIRED


def test_stale_owner_cannot_complete_over_the_new_owner(store: IdempotencyStore) -> None:
    """After a take-over, the old owner's complete raises and leaves the new lease in place."""
    stale = store.claim(KEY, lease=SHORT)
    time.sleep(LAPSE)
    current = store.claim(KEY)
    with pytest.raises(LeaseLostError) as caught:
        store.complete(stale)
    assert caught.value.key == KEY
    assert caught.value.status_code == 409
    assert store.claim(KEY).state is ClaimState.IN_PROGRESS
    store.complete(current)
    assert store.claim(KEY).state is ClaimState.DONE


def test_stale_owner_cannot_complete_over_a_done_marker(store: IdempotencyStore) -> None:
    """A stale owner's complete after the new owner completed raises, and the key stays done."""
    stale = store.claim(KEY, lease=SHORT)
    time.sleep(LAPSE)
    store.complete(store.claim(KEY))
    with pytest.raises(LeaseLostError):
        store.complete(stale, retain=SHORT)
    time.sleep(LAPSE)
    assert store.claim(KEY).state is ClaimState.DONE


def test_late_complete_without_a_take_over_succeeds(store: IdempotencyStore) -> None:
    """A complete after the lease lapsed, with nobody having claimed since, records done."""
    slow = store.claim(KEY, lease=SHORT)
    time.sleep(LAPSE)
    store.complete(slow)
    assert store.claim(KEY).state is ClaimState.DONE


def test_release_lets_the_next_claim_acquire(store: IdempotencyStore) -> None:
    """A released key is acquired by the next claim, at once."""
    failed = store.claim(KEY)
    store.release(failed)
    retry = store.claim(KEY)
    assert retry.state is ClaimState.ACQUIRED
    assert retry.owner != failed.owner


def test_stale_owner_release_leaves_the_new_owner(store: IdempotencyStore) -> None:
    """After a take-over, the old owner's release is a no-op: the new lease holds."""
    stale = store.claim(KEY, lease=SHORT)
    time.sleep(LAPSE)
    store.claim(KEY)
    store.release(stale)
    assert store.claim(KEY).state is ClaimState.IN_PROGRESS


def test_release_after_complete_keeps_done(store: IdempotencyStore) -> None:
    """Releasing a claim that was completed does not forget the done marker."""
    claim = store.claim(KEY)
    store.complete(claim)
    store.release(claim)
    assert store.claim(KEY).state is ClaimState.DONE


def test_complete_twice_is_harmless(store: IdempotencyStore) -> None:
    """The owner may complete again (a retried call); the key stays done."""
    claim = store.claim(KEY)
    store.complete(claim)
    store.complete(claim)
    assert store.claim(KEY).state is ClaimState.DONE


def test_only_acquired_claims_complete_or_release(store: IdempotencyStore) -> None:
    """Completing or releasing an in-progress or done answer is a `ValueError`."""
    store.claim(KEY)
    busy = store.claim(KEY)
    for operation in (store.complete, store.release):
        with pytest.raises(ValueError, match="only an acquired claim"):
            operation(busy)


def test_providers_are_namespaced(store: IdempotencyStore) -> None:
    """The same delivery id under two providers is two independent keys."""
    struktr = store.claim(store_key("struktr", "42"))
    store.complete(struktr)
    pulse = store.claim(store_key("pulse", "42"))
    assert pulse.state is ClaimState.ACQUIRED
    assert store.claim(store_key("struktr", "42")).state is ClaimState.DONE
    assert store.claim(store_key("pulse", "42")).state is ClaimState.IN_PROGRESS


def test_keys_must_be_namespaced(store: IdempotencyStore) -> None:
    """A key not made by `store_key` is refused before it reaches the backend."""
    for key in ("evt_0001", ":evt_0001", "Struktr:evt_0001", "struktr:"):
        with pytest.raises(ValueError, match="store_key"):
            store.claim(StoreKey(key))


@pytest.mark.parametrize("seconds", [0, -1, float("nan"), float("inf")])
def test_lease_and_retain_must_be_positive(store: IdempotencyStore, seconds: float) -> None:
    """Zero, negative, NaN or infinite leases and retentions are a `ValueError`."""
    with pytest.raises(ValueError, match="lease"):
        store.claim(KEY, lease=seconds)
    claim = store.claim(KEY)
    with pytest.raises(ValueError, match="retain"):
        store.complete(claim, retain=seconds)


def test_purge_deletes_only_expired_records(kind: str, store: IdempotencyStore) -> None:
    """`purge` deletes lapsed leases and done markers, and keeps live ones."""
    lapsed = store_key("struktr", "lapsed")
    forgotten = store_key("struktr", "forgotten")
    live = store_key("struktr", "live")
    done = store_key("struktr", "done")
    store.claim(lapsed, lease=SHORT)
    store.complete(store.claim(forgotten), retain=SHORT)
    store.claim(live)
    store.complete(store.claim(done))
    time.sleep(LAPSE)
    assert store.purge() == (0 if kind in SELF_EXPIRING_KINDS else 2)
    assert store.purge() == 0
    assert store.claim(lapsed).state is ClaimState.ACQUIRED
    assert store.claim(forgotten).state is ClaimState.ACQUIRED
    assert store.claim(live).state is ClaimState.IN_PROGRESS
    assert store.claim(done).state is ClaimState.DONE


@pytest.mark.parametrize("kind", SHARED_KINDS)
def test_prefixes_isolate_stores_on_shared_storage(
    kind: str, make_spec: Callable[[str], Spec]
) -> None:
    """Two stores with different prefixes on one server (or file) never see each other's keys."""
    spec = make_spec(kind)
    first = open_store(spec)
    second = open_store(replace(spec, prefix=spec.prefix + "-other"))
    twin = open_store(spec)
    try:
        first.complete(first.claim(KEY))
        assert second.claim(KEY).state is ClaimState.ACQUIRED
        assert twin.claim(KEY).state is ClaimState.DONE
    finally:
        for opened in (first, second, twin):
            close_store(opened)


def test_claims_are_plain_values(store: IdempotencyStore) -> None:
    """A claim is an immutable value comparing by its fields."""
    claim = store.claim(KEY)
    assert claim == Claim(KEY, ClaimState.ACQUIRED, claim.owner)
    with pytest.raises(AttributeError):
        claim.state = ClaimState.DONE  # type: ignore[misc]
    assert ClaimState.IN_PROGRESS == "in_progress"


# Several keys claimed together: a delivery's id and its body's digest (see `Receiver`).

BODY = store_key("struktr", "sha256:" + "ab" * 32)
OTHER_ID = store_key("struktr", "evt_0002")


def test_claim_with_also_holds_every_key(store: IdempotencyStore) -> None:
    """A claim with `also` keys acquires all of them: each is in progress, alone or together."""
    claim = store.claim(KEY, also=[BODY])
    assert claim.acquired
    assert claim.keys == (KEY, BODY)
    assert store.claim(KEY).state is ClaimState.IN_PROGRESS
    assert store.claim(BODY).state is ClaimState.IN_PROGRESS
    assert store.claim(OTHER_ID, also=[BODY]).state is ClaimState.IN_PROGRESS


def test_claim_with_also_takes_nothing_unless_it_takes_everything(store: IdempotencyStore) -> None:
    """A claim that finds one key held or done leaves its free keys unheld (all or nothing)."""
    store.complete(store.claim(BODY))
    replay = store.claim(OTHER_ID, also=[BODY])
    assert (replay.state, replay.owner) == (ClaimState.DONE, None)
    assert store.claim(OTHER_ID).acquired  # the replay did not keep its made-up id
    busy = store.claim(store_key("struktr", "evt_0003"), also=[OTHER_ID])
    assert busy.state is ClaimState.IN_PROGRESS
    assert store.claim(store_key("struktr", "evt_0003")).acquired


def test_done_wins_over_in_progress_across_keys(store: IdempotencyStore) -> None:
    """One key in progress and another done: the claim is done (processed, acknowledge it)."""
    store.claim(KEY)
    store.complete(store.claim(BODY))
    assert store.claim(KEY, also=[BODY]).state is ClaimState.DONE


def test_complete_with_also_marks_every_key_done(store: IdempotencyStore) -> None:
    """Completing a multi-key claim makes each key done: a new id with the body is a duplicate."""
    store.complete(store.claim(KEY, also=[BODY]))
    assert store.claim(KEY).state is ClaimState.DONE
    assert store.claim(OTHER_ID, also=[BODY]).state is ClaimState.DONE
    assert store.claim(KEY, also=[store_key("struktr", "sha256:" + "cd" * 32)]).state is (
        ClaimState.DONE
    )


def test_complete_with_also_is_all_or_nothing(store: IdempotencyStore) -> None:
    """If any key was taken over, complete raises and marks none of the keys done."""
    stale = store.claim(KEY, lease=SHORT, also=[BODY])
    time.sleep(LAPSE)
    current = store.claim(BODY)  # the body key was taken over; the id key lapsed
    with pytest.raises(LeaseLostError):
        store.complete(stale)
    assert store.claim(KEY).acquired  # not left done by the failed complete
    store.complete(current)
    assert store.claim(BODY).state is ClaimState.DONE


def test_release_with_also_frees_every_key(store: IdempotencyStore) -> None:
    """A released multi-key claim frees all of its keys at once."""
    store.release(store.claim(KEY, also=[BODY]))
    assert store.claim(KEY).acquired
    assert store.claim(BODY).acquired


def test_lapsed_multi_key_lease_is_taken_over_whole(store: IdempotencyStore) -> None:
    """A crashed owner's multi-key lease lapses on every key: the retry acquires them all."""
    crashed = store.claim(KEY, lease=SHORT, also=[BODY])
    time.sleep(LAPSE)
    retry = store.claim(KEY, also=[BODY])
    assert retry.acquired
    assert retry.owner != crashed.owner
    with pytest.raises(LeaseLostError):
        store.complete(crashed)
    store.complete(retry)
    assert store.claim(BODY).state is ClaimState.DONE


def test_repeated_also_keys_count_once(store: IdempotencyStore) -> None:
    """`also` keys equal to the key, or to each other, are claimed once."""
    claim = store.claim(KEY, also=[KEY, BODY, BODY])
    assert claim.keys == (KEY, BODY)
    store.complete(claim)
    assert store.claim(BODY).state is ClaimState.DONE


HOSTILE_IDS = [
    "x" * 10_000,
    "y" * 101,
    "nul\x00inside",
    "lone \ud800 surrogate",
    "emoji \U0001f389",
    "line\nbreak",
    "tab\tand space",
    "\x7f",
    "é",
]


def test_any_delivery_id_is_stored(store: IdempotencyStore) -> None:
    """Ids of any length or content are claimed, completed and found done, each on its own."""
    keys = [store_key("struktr", delivery_id) for delivery_id in HOSTILE_IDS]
    assert len(set(keys)) == len(keys)
    for key in keys:
        claim = store.claim(key)
        assert claim.acquired, key
        store.complete(claim)
    for key in keys:
        assert store.claim(key).state is ClaimState.DONE


def test_hand_made_keys_a_backend_could_not_store_are_refused(store: IdempotencyStore) -> None:
    """A key built without `store_key` (NUL, non-ASCII, over-long) is a `ValueError`."""
    for key in ("struktr:nul\x00", "struktr:\ud800", "struktr:" + "x" * 500, "struktr:é"):
        with pytest.raises(ValueError, match="store_key"):
            store.claim(StoreKey(key))
        with pytest.raises(ValueError, match="store_key"):
            store.claim(KEY, also=[StoreKey(key)])
