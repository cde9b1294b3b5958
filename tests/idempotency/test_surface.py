"""The public surface of `webhook_kit.idempotency`: names, import costs, keys, errors."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webhook_kit import idempotency
from webhook_kit.errors import StoreUnavailableError, WebhookError
from webhook_kit.idempotency import MAX_ID_LENGTH, LeaseLostError, StoreKey, store_key
from webhook_kit.idempotency import redis as redis_backend
from webhook_kit.idempotency import sql as sql_backend

EXPORTED = {
    "DEFAULT_LEASE",
    "DEFAULT_PREFIX",
    "DEFAULT_RETAIN",
    "DEFAULT_TIMEOUT",
    "MAX_ID_LENGTH",
    "AsyncIdempotencyStore",
    "AsyncThreadedStore",
    "Claim",
    "ClaimState",
    "IdempotencyStore",
    "LeaseLostError",
    "MemoryStore",
    "SQLiteStore",
    "StoreKey",
    "StoreUnavailableError",
    "store_key",
}


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )


def test_all_is_pinned() -> None:
    """`webhook_kit.idempotency.__all__` is exactly the pinned set, and every name resolves."""
    assert set(idempotency.__all__) == EXPORTED
    assert len(idempotency.__all__) == len(EXPORTED)
    for name in idempotency.__all__:
        assert getattr(idempotency, name) is not None


def test_backend_modules_export_their_stores() -> None:
    """The Redis and SQL modules export exactly their stores (and the table helper)."""
    assert sorted(redis_backend.__all__) == ["AsyncRedisStore", "RedisStore"]
    assert sorted(sql_backend.__all__) == ["SQLStore", "idempotency_table"]


def test_package_import_loads_no_client() -> None:
    """`import webhook_kit.idempotency` loads neither redis nor SQLAlchemy nor a DB driver."""
    result = _run(
        "import sys, webhook_kit.idempotency; "
        "heavy = {'redis', 'sqlalchemy', 'psycopg', 'pymysql', 'anyio'}; "
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("module", "client", "extra"),
    [("redis", "redis", "webhook-kit[redis]"), ("sql", "sqlalchemy", "webhook-kit[sql]")],
)
def test_missing_client_names_the_extra(module: str, client: str, extra: str) -> None:
    """Importing a backend whose client is not installed raises `ImportError` naming the extra."""
    result = _run(
        f"import sys; sys.modules[{client!r}] = None\n"
        "try:\n"
        f"    import webhook_kit.idempotency.{module}\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    assert result.returncode == 0, result.stderr
    assert f"pip install '{extra}'" in result.stdout


def test_store_key_namespaces_by_provider() -> None:
    """`store_key` joins provider and delivery id so no two pairs give the same key."""
    assert store_key("struktr", "evt_1") == "struktr:evt_1"
    pairs = [("a", "b:c"), ("a:b", "c"), ("ab", "c"), ("a", "bc"), ("pulse", "msg:1")]
    made = {}
    for provider, delivery_id in pairs:
        try:
            made[(provider, delivery_id)] = store_key(provider, delivery_id)
        except ValueError:
            assert ":" in provider
    assert len(set(made.values())) == len(made)


@pytest.mark.parametrize("provider", ["", "Struktr", "a:b", "-x", "pulse ", "é"])
def test_store_key_refuses_ambiguous_providers(provider: str) -> None:
    """Provider names must be lower-case slugs without ':', or keys could collide."""
    with pytest.raises(ValueError, match="slug"):
        store_key(provider, "evt_1")


@given(st.text(min_size=1, max_size=2_000))
def test_store_key_fits_every_backend(delivery_id: str) -> None:
    """Any id gives a printable-ASCII key of bounded size, verbatim only if it already was."""
    key = store_key("struktr", delivery_id)
    assert key.isascii()
    assert key.isprintable()
    assert len(key) <= len("struktr:") + MAX_ID_LENGTH
    verbatim = delivery_id.isascii() and delivery_id.isprintable() and " " not in delivery_id
    assert (key == "struktr:" + delivery_id) == (verbatim and len(delivery_id) <= MAX_ID_LENGTH)


def test_store_key_hashes_what_it_cannot_keep() -> None:
    """Long, NUL-carrying or unencodable ids become the SHA-256 of their UTF-8 bytes."""
    assert (
        store_key("pulse", "\ud800")
        == "pulse:sha256:" + hashlib.sha256(b"\xed\xa0\x80").hexdigest()
    )
    assert store_key("pulse", "a" * 101) == "pulse:sha256:" + hashlib.sha256(b"a" * 101).hexdigest()
    assert store_key("pulse", "a" * 100) == "pulse:" + "a" * 100
    assert store_key("pulse", "n\x00l") != store_key("pulse", "n\x00L")


def test_store_key_refuses_empty_delivery_ids() -> None:
    """An empty delivery id is refused: it would make every delivery the same key."""
    with pytest.raises(ValueError, match="empty"):
        store_key("struktr", "")


def test_errors_belong_to_the_tree() -> None:
    """`LeaseLostError` (409) and `StoreUnavailableError` (503) are `WebhookError`s."""
    assert issubclass(LeaseLostError, WebhookError)
    assert LeaseLostError.status_code == 409
    assert idempotency.StoreUnavailableError is StoreUnavailableError
    assert StoreUnavailableError.status_code == 503
    error = LeaseLostError(StoreKey("struktr:evt_1"))
    assert "struktr:evt_1" in error.message
    assert "lease" in error.message


def test_defaults_are_documented_values() -> None:
    """Lease 60 s, retention 7 days, prefix 'webhook-kit', timeout 2 s."""
    assert idempotency.DEFAULT_LEASE == 60.0
    assert idempotency.DEFAULT_RETAIN == 7 * 24 * 3600
    assert idempotency.DEFAULT_PREFIX == "webhook-kit"
    assert idempotency.DEFAULT_TIMEOUT == 2.0


@pytest.mark.parametrize("prefix", ["", "a:b", "has space"])
def test_prefixes_are_validated(prefix: str, tmp_path: object) -> None:
    """A prefix must be a non-empty slug without ':', so stored keys stay unambiguous."""
    with pytest.raises(ValueError, match="prefix"):
        idempotency.SQLiteStore(f"{tmp_path}/x.sqlite3", prefix=prefix)


@pytest.mark.parametrize("path", [":memory:", "", "file:x?mode=memory"])
def test_sqlite_store_needs_a_file(path: str) -> None:
    """`SQLiteStore` refuses in-memory databases, which other processes cannot share."""
    with pytest.raises(ValueError, match="MemoryStore"):
        idempotency.SQLiteStore(path)
