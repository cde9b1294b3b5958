"""What is particular to one backend: client forms, sharing, the DDL, one round trip."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pymysql
import pytest
import redis
import redis.asyncio
import sqlalchemy as sa

from webhook_kit.deadletters import SQLiteDeadLetters
from webhook_kit.errors import StoreUnavailableError
from webhook_kit.idempotency import (
    AsyncThreadedStore,
    Claim,
    ClaimState,
    MemoryStore,
    SQLiteStore,
    StoreKey,
    _threaded,
    store_key,
)
from webhook_kit.idempotency.redis import AsyncRedisStore, RedisStore
from webhook_kit.idempotency.sql import SQLStore

from .backends import Spec, close_store, open_store, sqlalchemy_url
from .relay import relay_to

KEY = store_key("struktr", "evt_0001")


def test_redis_store_takes_a_client_with_decoded_responses(
    make_spec: Callable[[str], Spec],
) -> None:
    """`RedisStore` works on a client you pass, also one that decodes responses to `str`."""
    spec = make_spec("redis")
    with redis.Redis.from_url(spec.location, decode_responses=True) as client:
        store = RedisStore(client, prefix=spec.prefix)
        store.complete(store.claim(KEY))
        assert store.claim(KEY).state is ClaimState.DONE
        store.close()
        assert client.ping()  # a client you pass stays open


def test_sync_and_async_redis_stores_share_keys(make_spec: Callable[[str], Spec]) -> None:
    """`RedisStore` and `AsyncRedisStore` on one Redis see each other's claims."""
    spec = make_spec("redis")
    with RedisStore(spec.location, prefix=spec.prefix) as sync_store:
        claim = sync_store.claim(KEY)

        async def main() -> None:
            client = redis.asyncio.Redis.from_url(spec.location)
            async with AsyncRedisStore(client, prefix=spec.prefix) as async_store:
                assert (await async_store.claim(KEY)).state is ClaimState.IN_PROGRESS
                sync_store.complete(claim)
                assert (await async_store.claim(KEY)).state is ClaimState.DONE
            await client.aclose()

        asyncio.run(main())


def test_redis_values_and_ttls_are_as_documented(
    make_spec: Callable[[str], Spec], redis_url: str
) -> None:
    """A lease is `in_progress:<owner>` with the lease as TTL; done is `done:<owner>`."""
    spec = make_spec("redis")
    with (
        RedisStore(spec.location, prefix=spec.prefix) as store,
        redis.Redis.from_url(redis_url, decode_responses=True) as client,
    ):
        claim = store.claim(KEY, lease=30)
        stored = f"{spec.prefix}:{KEY}"
        assert client.get(stored) == f"in_progress:{claim.owner}"
        assert 29_000 < client.pttl(stored) <= 30_000
        store.complete(claim, retain=3600)
        assert client.get(stored) == f"done:{claim.owner}"
        assert 3_599_000 < client.pttl(stored) <= 3_600_000


def test_sqlite_store_is_shared_through_the_file(tmp_path: Path) -> None:
    """Two `SQLiteStore`s on one file (as two processes would have) share their claims."""
    path = tmp_path / "shared.sqlite3"
    with SQLiteStore(path) as first, SQLiteStore(path) as second:
        claim = first.claim(KEY)
        assert second.claim(KEY).state is ClaimState.IN_PROGRESS
        first.complete(claim)
        assert second.claim(KEY).state is ClaimState.DONE


def test_sqlite_store_uses_wal(tmp_path: Path) -> None:
    """The SQLite file is switched to WAL, so readers never wait for the writer."""
    path = tmp_path / "wal.sqlite3"
    with SQLiteStore(path) as store:
        store.claim(KEY)
    check = sqlite3.connect(path)
    try:
        assert check.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        check.close()


@pytest.mark.parametrize("opener", [SQLiteStore, SQLiteDeadLetters])
def test_a_new_sqlite_file_waits_for_another_writer(opener: Any, tmp_path: Path) -> None:
    """Opening a file another process is still creating waits for its write lock, then works."""
    path = tmp_path / "new.sqlite3"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")  # until COMMIT, SQLite refuses the switch to WAL at once
    done = threading.Timer(0.2, writer.execute, ["COMMIT"])
    done.start()
    try:
        opener(path, timeout=5).close()
    finally:
        done.join()
        writer.close()
    with SQLiteStore(path) as store:
        assert store.claim(KEY).state is ClaimState.ACQUIRED


# Python 3.12+ warns about fork() in a process with threads; this child only touches SQLite.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_sqlite_store_survives_fork(tmp_path: Path) -> None:
    """A forked child opens its own connection and claims through the same file."""
    with SQLiteStore(tmp_path / "fork.sqlite3") as store:
        claim = store.claim(KEY)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through its exit code
            code = 0 if store.claim(KEY).state is ClaimState.IN_PROGRESS else 1
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        store.complete(claim)


@pytest.fixture(params=["postgres", "mariadb"])
def sql_spec(request: pytest.FixtureRequest, make_spec: Callable[[str], Spec]) -> Spec:
    """A fresh table on PostgreSQL or MariaDB."""
    return make_spec(str(request.param))


@pytest.fixture(params=["postgres", "mariadb"])
def unprivileged_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of the shared database for a new login that may read tables but not create them."""
    url = sa.make_url(sqlalchemy_url(request.getfixturevalue(f"{request.param}_dsn")))
    name = f"wk_reader_{uuid.uuid4().hex[:12]}"
    if request.param == "postgres":  # PostgreSQL 15: only the owner creates in schema public
        grant, revoke = [f"CREATE ROLE {name} LOGIN"], [f"DROP ROLE {name}"]
    else:
        grant = [f"CREATE USER '{name}'@'%'", f"GRANT SELECT ON {url.database}.* TO '{name}'@'%'"]
        revoke = [f"DROP USER '{name}'@'%'"]
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for statement in grant:
                conn.execute(sa.text(statement))
        yield url.set(username=name, password=None).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            for statement in revoke:
                conn.execute(sa.text(statement))
        admin.dispose()


def test_create_table_without_the_privilege_raises(unprivileged_url: str) -> None:
    """A login that may not create tables gets the database's refusal from `create_table`."""
    with (
        SQLStore(unprivileged_url, table=f"wk_idem_{uuid.uuid4().hex[:12]}") as store,
        pytest.raises(sa.exc.DBAPIError, match="denied"),
    ):
        store.create_table()


def test_create_table_waits_for_a_mysql_lock_only_so_long(make_spec: Callable[..., Spec]) -> None:
    """On MariaDB, `create_table` gives up within `timeout` if another creator keeps its lock."""
    spec = make_spec("mariadb", created=False)
    holder = sa.create_engine(spec.location)
    try:
        with holder.connect() as conn:
            lock = {"name": f"webhook_kit.create_table:{spec.table}"}
            assert conn.execute(sa.text("SELECT GET_LOCK(:name, 1)"), lock).scalar() == 1
            with (
                SQLStore(spec.location, table=spec.table, timeout=0.5) as store,
                pytest.raises(StoreUnavailableError, match="SHOW PROCESSLIST"),
            ):
                store.create_table()
    finally:
        holder.dispose()


def test_sql_store_takes_ids_longer_than_its_key_column(sql_spec: Spec) -> None:
    """An id longer than the 255-byte key column is stored under its digest, not refused."""
    store = open_store(sql_spec)
    try:
        long_id = store_key("struktr", "x" * 10_000)
        claim = store.claim(long_id)
        assert claim.acquired
        store.complete(claim)
        assert store.claim(long_id).state is ClaimState.DONE
        assert store.claim(store_key("struktr", "x" * 9_999)).acquired
    finally:
        close_store(store)


def test_sql_keys_are_case_sensitive(sql_spec: Spec) -> None:
    """Delivery ids differing only in case are different keys (no case-folding collation)."""
    store = open_store(sql_spec)
    try:
        assert store.claim(store_key("struktr", "evt_ABC")).acquired
        assert store.claim(store_key("struktr", "evt_abc")).acquired
    finally:
        close_store(store)


def test_sql_store_on_a_transactional_engine(sql_spec: Spec) -> None:
    """On an engine you made without autocommit, each operation commits its statement."""
    engine = sa.create_engine(sql_spec.location)
    store = SQLStore(engine, table=sql_spec.table, prefix=sql_spec.prefix)
    other = open_store(sql_spec)
    try:
        claim = store.claim(KEY)
        assert other.claim(KEY).state is ClaimState.IN_PROGRESS
        store.complete(claim)
        assert other.claim(KEY).state is ClaimState.DONE
    finally:
        close_store(other)
        engine.dispose()


def test_sql_store_sees_a_missing_table_as_a_bug(sql_spec: Spec) -> None:
    """A missing table raises SQLAlchemy's `ProgrammingError`, not `StoreUnavailableError`."""
    table = f"missing_{uuid.uuid4().hex[:8]}"
    with SQLStore(sql_spec.location, table=table) as store, pytest.raises(sa.exc.ProgrammingError):
        store.claim(KEY)


@pytest.fixture
def pymysql_commands(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every command PyMySQL sends to the server, in order (a spy on the real client)."""
    sent: list[str] = []
    original = pymysql.connections.Connection._execute_command

    def spy(self: pymysql.connections.Connection, command: int, sql: object) -> object:
        sent.append(sql.decode() if isinstance(sql, bytes) else str(sql))
        return original(self, command, sql)

    monkeypatch.setattr(pymysql.connections.Connection, "_execute_command", spy)
    return sent


def test_sql_store_sends_one_statement_per_operation(
    make_spec: Callable[[str], Spec], pymysql_commands: list[str]
) -> None:
    """Through a URL-made engine, each operation is exactly one command on the wire."""
    spec = make_spec("mariadb")
    with SQLStore(spec.location, table=spec.table, prefix=spec.prefix) as store:
        store.release(store.claim(store_key("struktr", "warm-up")))  # connect, set up the session
        pymysql_commands.clear()
        claim = store.claim(KEY)
        store.complete(claim)
        store.release(claim)
        store.purge()
    verbs = [command.split()[0].upper() for command in pymysql_commands]
    assert verbs == ["INSERT", "INSERT", "DELETE", "DELETE"]


def test_table_ddl_is_as_documented(make_spec: Callable[[str], Spec]) -> None:
    """`create_table` makes the four documented columns on PostgreSQL."""
    spec = make_spec("postgres")
    engine = sa.create_engine(spec.location)
    try:
        reflected = sa.inspect(engine)
        columns = {column["name"]: column for column in reflected.get_columns(spec.table)}
        primary_key = reflected.get_pk_constraint(spec.table)["constrained_columns"]
    finally:
        engine.dispose()
    assert {name: str(column["type"]) for name, column in columns.items()} == {
        "claim_key": "VARCHAR(255)",
        "owner": "VARCHAR(32)",
        "done": "BOOLEAN",
        "expires_at": "TIMESTAMP",
    }
    assert columns["expires_at"]["type"].timezone  # timestamptz
    assert not any(column["nullable"] for column in columns.values())
    assert primary_key == ["claim_key"]


def test_owner_tokens_do_not_repeat(make_spec: Callable[[str], Spec]) -> None:
    """1000 claims get 1000 distinct 32-hex-digit owner tokens."""
    store = open_store(make_spec("memory"))
    owners = {store.claim(StoreKey(f"struktr:{n}")).owner for n in range(1000)}
    assert len(owners) == 1000
    assert all(owner and len(owner) == 32 and int(owner, 16) >= 0 for owner in owners)


class _ThreadRecordingStore:
    """A `MemoryStore` that notes which thread ran each operation."""

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self.threads: set[int] = set()

    def claim(self, key: StoreKey, *, lease: float = 60.0) -> Claim:
        self.threads.add(threading.get_ident())
        return self.inner.claim(key, lease=lease)

    def complete(self, claim: Claim, *, retain: float = 60.0) -> None:
        self.threads.add(threading.get_ident())
        self.inner.complete(claim, retain=retain)

    def release(self, claim: Claim) -> None:
        self.threads.add(threading.get_ident())
        self.inner.release(claim)

    def purge(self) -> int:
        self.threads.add(threading.get_ident())
        return self.inner.purge()


def test_threaded_adapter_keeps_work_off_the_event_loop() -> None:
    """`AsyncThreadedStore` runs every operation in a worker thread, never on the loop's thread."""
    recording = _ThreadRecordingStore()
    store = AsyncThreadedStore(recording)

    async def main() -> int:
        claim = await store.claim(KEY)
        await store.complete(claim)
        await store.release(claim)
        assert (await store.claim(KEY)).state is ClaimState.DONE
        await store.purge()
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert recording.threads
    assert loop_thread not in recording.threads


@pytest.fixture
def thread_hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the operations `AsyncThreadedStore` sends to a worker thread."""
    hops: list[str] = []
    real = asyncio.to_thread

    async def recording(function: Any, /, *args: Any, **kwargs: Any) -> Any:
        hops.append(function.__name__)
        return await real(function, *args, **kwargs)

    monkeypatch.setattr(_threaded.asyncio, "to_thread", recording)
    return hops


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_threaded_adapter_runs_embedded_operations_on_the_loop(
    kind: str, tmp_path: Path, thread_hops: list[str]
) -> None:
    """Uncontended MemoryStore and SQLiteStore operations skip the thread hop; purge does not."""
    inner = MemoryStore() if kind == "memory" else SQLiteStore(tmp_path / "s.sqlite3")
    store = AsyncThreadedStore(inner)

    async def main() -> None:
        claim = await store.claim(KEY)
        await store.release(claim)
        claim = await store.claim(KEY)
        await store.complete(claim)
        assert (await store.claim(KEY)).state is ClaimState.DONE
        await store.purge()

    asyncio.run(main())
    assert thread_hops == ["purge"]


def test_sqlite_operation_that_must_wait_goes_to_a_thread(
    tmp_path: Path, thread_hops: list[str]
) -> None:
    """While another connection holds the write lock, the claim waits in a thread, not the loop."""
    path = tmp_path / "s.sqlite3"
    store = AsyncThreadedStore(SQLiteStore(path, timeout=10))
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # the file's write lock, as another process would hold it
    ticks: list[int] = []

    async def main() -> Claim:
        claiming = asyncio.ensure_future(store.claim(KEY))
        while len(ticks) < 5:  # the loop keeps running while the claim waits
            await asyncio.sleep(0.02)
            ticks.append(int(claiming.done()))
        holder.execute("COMMIT")
        return await claiming

    claim = asyncio.run(main())
    holder.close()
    assert (claim.state, ticks, thread_hops) == (ClaimState.ACQUIRED, [0] * 5, ["claim"])


@pytest.mark.parametrize("keys", ["one key", "id and body"])
@pytest.mark.parametrize("kind", ["redis", "async-redis"])
def test_redis_claim_whose_reply_was_lost_is_retried_as_acquired(
    kind: str, keys: str, make_spec: Callable[[str], Spec]
) -> None:
    """A claim Redis applied but whose reply was lost is retried by the client, and acquires.

    The retry finds the key holding its own in-progress value: that is this claim's lease, not
    another worker's, so it must not answer in progress (409 until the lease lapsed).
    """
    spec = make_spec(kind)
    url = urlsplit(spec.location)
    also = [store_key("struktr", "sha256:" + "ab" * 32)] if keys == "id and body" else []
    with relay_to(url.hostname or "127.0.0.1", url.port or 6379) as relay:
        store = open_store(replace(spec, location=f"redis://127.0.0.1:{relay.port}/0"))
        try:
            warm = store.claim(store_key("struktr", "warm-up"), also=also)  # connected, loaded
            store.release(warm)
            relay.drop_reply_to(b"EVALSHA" if also else b"\r\nNX\r\n")
            claim = store.claim(KEY, also=also)
            assert relay.dropped == 1
            assert claim.state is ClaimState.ACQUIRED
            store.complete(claim)
            assert store.claim(KEY).state is ClaimState.DONE
        finally:
            close_store(store)
