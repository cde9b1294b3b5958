"""Idempotency store cost: claim + complete pairs per second, each store beside its raw client.

Run with ``make bench`` or ``.venv/bin/python -m benchmarks.stores`` (about 40 s; ``--save`` keeps
the figures in ``benchmarks/results/stores.json`` for ``benchmarks.plot``). For each backend it
times the pair ``claim(new key)`` + ``complete(claim)`` through the store, and the same commands
sent by hand through the raw client on one connection:

- Redis: ``SET key value NX PX 60000 GET`` then ``EVALSHA`` of the store's complete script;
- PostgreSQL, MariaDB, SQLite: the store's ``INSERT ... ON CONFLICT`` (MariaDB: ``ON DUPLICATE
  KEY UPDATE``) claim and complete statements, in autocommit mode;
- memory: a dict under a lock.

Each row is the best of several interleaved runs; the ratio is raw pairs/s over store pairs/s
(1.00 = no overhead; the target is at most 1.2). The servers are those of ``tests/conftest.py``
(override with the same ``WEBHOOK_KIT_*`` variables); a backend that does not answer is skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import re
import secrets
import socket
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pymysql
import redis
import redis.asyncio

from benchmarks import results
from webhook_kit.idempotency import MemoryStore, SQLiteStore, store_key
from webhook_kit.idempotency._sql import statements
from webhook_kit.idempotency.redis import COMPLETE_SCRIPT, AsyncRedisStore, RedisStore
from webhook_kit.idempotency.sql import SQLStore

REDIS_URL = os.environ.get("WEBHOOK_KIT_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_DSN = os.environ.get(
    "WEBHOOK_KIT_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
)
MARIADB_DSN = os.environ.get("WEBHOOK_KIT_MARIADB_DSN", "mysql://root@127.0.0.1:3306/test")
LEASE, RETAIN = 60.0, 7 * 24 * 3600.0
RUN = itertools.count()
MEASURED: list[dict[str, Any]] = []  # one row per backend, for --save

#: A timed pair: run `n` claim+complete pairs.
Pairs = Callable[[int], None]


def reachable(url: str, default_port: int) -> bool:
    """Whether the server of `url` accepts a TCP connection."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or default_port), timeout=1):
            return True
    except OSError:
        return False


def keys(prefix: str) -> Callable[[], str]:
    """A source of fresh delivery ids, so every claim inserts a new key."""
    counter = itertools.count()
    return lambda: f"{prefix}-{next(counter)}"


def pyformat(sql: str) -> str:
    """``:name`` parameters (SQLAlchemy, sqlite3) as ``%(name)s`` (psycopg, PyMySQL)."""
    return re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", sql)


def store_pairs(store: Any) -> Pairs:
    fresh = keys(f"s{next(RUN)}")

    def run(n: int) -> None:
        for _ in range(n):
            store.complete(store.claim(store_key("bench", fresh()), lease=LEASE), retain=RETAIN)

    return run


def memory_raw() -> Pairs:
    lock = threading.Lock()
    records: dict[str, tuple[str, bool, float]] = {}
    fresh = keys("raw")

    def run(n: int) -> None:
        for _ in range(n):
            key, owner = "webhook-kit:bench:" + fresh(), secrets.token_hex(16)
            with lock:
                now = time.monotonic()
                held = records.get(key)
                if held is None or held[2] <= now:
                    records[key] = (owner, False, now + LEASE)
            with lock:
                records[key] = (owner, True, time.monotonic() + RETAIN)

    return run


def redis_raw(client: redis.Redis) -> Pairs:
    sha = client.script_load(COMPLETE_SCRIPT)
    fresh = keys(f"raw{next(RUN)}")
    px = round(RETAIN * 1000)

    def run(n: int) -> None:
        for _ in range(n):
            key, owner = "bench-raw:bench:" + fresh(), secrets.token_hex(16)
            client.set(key, "in_progress:" + owner, nx=True, px=60_000, get=True)
            client.evalsha(sha, 1, key, "in_progress:" + owner, "done:" + owner, px)

    return run


def sql_raw(execute: Callable[[str, dict[str, Any]], object], family: str, table: str) -> Pairs:
    sql = statements(family, table)
    claim, complete = (sql.claim, sql.complete)
    if family != "sqlite":
        claim, complete = pyformat(claim), pyformat(complete)
    scale = 1_000_000 if family == "mysql" else 1
    fresh = keys(f"raw{next(RUN)}")

    def run(n: int) -> None:
        for _ in range(n):
            key, owner = "bench-raw:bench:" + fresh(), secrets.token_hex(16)
            execute(claim, {"key": key, "owner": owner, "lease": LEASE * scale})
            execute(complete, {"key": key, "owner": owner, "retain": RETAIN * scale})

    return run


def rate(pairs: Pairs, seconds: float) -> float:
    """Pairs per second over about `seconds`, in batches."""
    pairs(20)  # warm up: connections, prepared statements, script cache
    done, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        pairs(50)
        done += 50
    return done / elapsed


def compare(name: str, ours: Pairs, raw: Pairs, seconds: float, repeats: int) -> None:
    best_ours = best_raw = 0.0
    for _ in range(repeats):
        best_raw = max(best_raw, rate(raw, seconds))
        best_ours = max(best_ours, rate(ours, seconds))
    ratio = best_raw / best_ours
    print(f"| {name:<26} | {best_ours:>13,.0f} | {best_raw:>13,.0f} | {ratio:>5.2f} |", flush=True)
    MEASURED.append(
        {"name": name, "store": round(best_ours), "raw": round(best_raw), "ratio": round(ratio, 4)}
    )


def run_async(store: AsyncRedisStore, loop: asyncio.AbstractEventLoop) -> Pairs:
    fresh = keys(f"a{next(RUN)}")

    async def pairs(n: int) -> None:
        for _ in range(n):
            claim = await store.claim(store_key("bench", fresh()), lease=LEASE)
            await store.complete(claim, retain=RETAIN)

    return lambda n: loop.run_until_complete(pairs(n))


def async_redis_raw(client: redis.asyncio.Redis, loop: asyncio.AbstractEventLoop) -> Pairs:
    sha = loop.run_until_complete(client.script_load(COMPLETE_SCRIPT))
    fresh = keys(f"araw{next(RUN)}")
    px = round(RETAIN * 1000)

    async def pairs(n: int) -> None:
        for _ in range(n):
            key, owner = "bench-raw:bench:" + fresh(), secrets.token_hex(16)
            await client.set(key, "in_progress:" + owner, nx=True, px=60_000, get=True)
            await client.evalsha(sha, 1, key, "in_progress:" + owner, "done:" + owner, px)

    return lambda n: loop.run_until_complete(pairs(n))


def bench_local(prefix: str, seconds: float, repeats: int) -> None:
    """MemoryStore and SQLiteStore: no server."""
    compare("MemoryStore", store_pairs(MemoryStore()), memory_raw(), seconds, repeats)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.sqlite3")
        with SQLiteStore(path, prefix=prefix) as store:
            raw = sqlite3.connect(path, isolation_level=None)
            raw.execute("PRAGMA synchronous=NORMAL")
            execute = lambda sql, params: raw.execute(sql, params).fetchall()  # noqa: E731
            raw_pairs = sql_raw(execute, "sqlite", store.table)
            compare("SQLiteStore (WAL)", store_pairs(store), raw_pairs, seconds, repeats)
            raw.close()


def bench_redis(prefix: str, seconds: float, repeats: int) -> None:
    """RedisStore and AsyncRedisStore beside redis-py and redis.asyncio."""
    if not reachable(REDIS_URL, 6379):
        print(f"| RedisStore: skipped, nothing answers at {REDIS_URL}")
        return
    client = redis.Redis.from_url(REDIS_URL)
    with RedisStore(REDIS_URL, prefix=prefix) as store:
        compare("RedisStore", store_pairs(store), redis_raw(client), seconds, repeats)
    loop = asyncio.new_event_loop()
    async_store = AsyncRedisStore(REDIS_URL, prefix=prefix)
    async_client = redis.asyncio.Redis.from_url(REDIS_URL)
    ours, raw = run_async(async_store, loop), async_redis_raw(async_client, loop)
    compare("AsyncRedisStore", ours, raw, seconds, repeats)
    loop.run_until_complete(async_store.aclose())
    loop.run_until_complete(async_client.aclose())
    loop.close()
    for pattern in (f"{prefix}:*", "bench-raw:*"):
        stale = list(client.scan_iter(match=pattern, count=1000))
        for start in range(0, len(stale), 500):
            client.delete(*stale[start : start + 500])
    client.close()


def raw_sql_connection(family: str, dsn: str, port: int) -> Any:
    """A raw psycopg or PyMySQL connection in autocommit mode."""
    if family == "postgresql":
        return psycopg.connect(dsn, autocommit=True)
    parts = urlsplit(dsn)
    return pymysql.connect(
        host=parts.hostname,
        port=parts.port or port,
        user=parts.username,
        password=parts.password or "",
        database=parts.path.lstrip("/"),
        autocommit=True,
    )


def bench_sql(prefix: str, seconds: float, repeats: int) -> None:
    """SQLStore on PostgreSQL (psycopg 3) and MariaDB (PyMySQL) beside the raw driver."""
    servers = [
        ("SQLStore (PostgreSQL)", "postgresql", POSTGRES_DSN, 5432, "postgresql+psycopg"),
        ("SQLStore (MariaDB)", "mysql", MARIADB_DSN, 3306, "mysql+pymysql"),
    ]
    for name, family, dsn, port, scheme in servers:
        if not reachable(dsn, port):
            print(f"| {name}: skipped, nothing answers at {dsn}")
            continue
        table = f"bench_{uuid.uuid4().hex[:8]}"
        url = scheme + "://" + dsn.split("://", 1)[1]
        with SQLStore(url, table=table, prefix=prefix) as store:
            store.create_table()
            conn = raw_sql_connection(family, dsn, port)
            try:
                raw = sql_raw(conn.cursor().execute, family, table)
                compare(name, store_pairs(store), raw, seconds, repeats)
            finally:
                conn.close()
                store.table.drop(store.engine)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one timed run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per row; the best counts")
    parser.add_argument("--save", action="store_true", help="write benchmarks/results/stores.json")
    args = parser.parse_args()
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    print("| backend                    | store pairs/s |   raw pairs/s | ratio |")
    print("|----------------------------|--------------:|--------------:|------:|")
    bench_local(prefix, args.seconds, args.repeats)
    bench_redis(prefix, args.seconds, args.repeats)
    bench_sql(prefix, args.seconds, args.repeats)
    if args.save:
        results.save("stores", {"unit": "claim + complete pairs per second", "backends": MEASURED})


if __name__ == "__main__":
    main()
