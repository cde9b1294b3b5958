"""The prepared-key HMAC agrees with the standard library for every key and message."""

from __future__ import annotations

import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webhook_kit._hmac import HmacKey


@pytest.mark.parametrize("algorithm", ["sha256", "sha1", "sha512"])
@given(key=st.binary(max_size=300), first=st.binary(max_size=300), second=st.binary(max_size=300))
def test_matches_stdlib_hmac(algorithm: str, key: bytes, first: bytes, second: bytes) -> None:
    """Short, block-sized and over-long keys give `hmac.digest` of the message."""
    prepared = HmacKey(key, algorithm)
    expected = hmac.digest(key, first + second, algorithm)
    assert prepared.digest_two(first, second) == expected
    assert prepared.digest_one(first + second) == expected
    assert prepared.digest_size == len(expected)


def test_prepared_key_is_reusable() -> None:
    """Digests do not disturb the prepared states: the same input gives the same output."""
    prepared = HmacKey(b"secret")
    assert prepared.digest_one(b"a") == prepared.digest_one(b"a") != prepared.digest_one(b"b")
