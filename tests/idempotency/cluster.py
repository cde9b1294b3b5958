"""A throwaway Redis Cluster of real ``redis-server`` processes: 3 masters, 1 replica each.

The tests start it on free loopback ports in a temporary directory, join it with
``redis-cli --cluster create``, and always kill every process afterwards, so the shared Redis is
never touched. A master can be SIGKILLed and its replica's promotion awaited (the failover test).
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from tests.conftest import services_required

MASTERS = 3
#: Milliseconds a master may not answer before the others mark it failed and its replica takes
#: over: short, so a failover takes about two seconds, not the default fifteen.
NODE_TIMEOUT_MS = 1000
#: Seconds the cluster may take to form, or to promote a replica, on a loaded machine.
SETTLE = 60.0


def require_redis_binaries() -> tuple[str, str]:
    """The paths of ``redis-server`` and ``redis-cli``; skip without them, or fail under CI."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        reason = "redis-server and redis-cli are needed to start a throwaway Redis Cluster"
        if services_required():
            pytest.fail(f"{reason}; CI=true requires them", pytrace=False)
        pytest.skip(f"{reason}; set CI=true to make this a failure")
    return server, cli


def _free_ports(count: int) -> list[int]:
    """`count` loopback ports that are free, each with its cluster bus port (+10000) free too."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port > 55_000 or port in ports:
            continue
        try:
            with socket.socket() as bus:
                bus.bind(("127.0.0.1", port + 10_000))
        except OSError:
            continue
        ports.append(port)
    return ports


def _wait_for(what: str, check: object, timeout: float = SETTLE) -> None:
    """Poll `check()` until it is true; fail the test with `what` once `timeout` has passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except (redis.RedisError, OSError):
            pass
        time.sleep(0.1)
    pytest.fail(f"the throwaway Redis Cluster did not {what} within {timeout} s", pytrace=False)


class Cluster:
    """Six ``redis-server`` processes forming one cluster; `url` reaches it through any node."""

    def __init__(self, directory: Path, server: str, cli: str) -> None:
        self.directory = directory
        self._binaries = server, cli
        self.ports = _free_ports(MASTERS * 2)
        self.processes: dict[int, subprocess.Popen[bytes]] = {}
        self._first_masters: set[int] = set()

    def start(self) -> None:
        """Start the six servers, join them into one cluster, and wait until it is healthy."""
        server, cli = self._binaries
        for port in self.ports:
            self.processes[port] = self._start(server, port)
        for port in self.ports:
            _wait_for(f"open port {port}", lambda port=port: self._ping(port))
        subprocess.run(  # noqa: S603 - our own argv: the binary found on PATH, loopback ports
            [
                cli,
                "--cluster",
                "create",
                *(f"127.0.0.1:{port}" for port in self.ports),
                "--cluster-replicas",
                "1",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=SETTLE,
        )
        _wait_for("form, with every master's replica in sync", self._healthy)
        self._first_masters = {port for port, role in self.roles().items() if role == "master"}

    def _start(self, server: str, port: int) -> subprocess.Popen[bytes]:
        node_dir = self.directory / str(port)
        node_dir.mkdir(exist_ok=True)
        options = {
            "port": port,
            "bind": "127.0.0.1",
            "dir": node_dir,
            "cluster-enabled": "yes",
            "cluster-config-file": "nodes.conf",
            "cluster-node-timeout": NODE_TIMEOUT_MS,
            # A replica whose link broke just now still takes over: the test kills its master.
            "cluster-replica-validity-factor": 0,
            "save": "",
            "appendonly": "no",
            "logfile": node_dir / "redis.log",
        }
        argv = [server]
        for name, value in options.items():
            argv += [f"--{name}", str(value)]
        return subprocess.Popen(  # noqa: S603 - our own argv, as above
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    @property
    def url(self) -> str:
        """A URL of one node that stays up (the tests kill only masters they looked up)."""
        return f"redis://127.0.0.1:{self.live_ports()[0]}/0"

    def _node(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, socket_timeout=2, socket_connect_timeout=2)

    def _ping(self, port: int) -> bool:
        with self._node(port) as node:
            return bool(node.ping())

    def live_ports(self) -> list[int]:
        """The ports of the nodes not killed."""
        return [port for port, process in self.processes.items() if process.poll() is None]

    def roles(self) -> dict[int, str]:
        """Each live node's role as it says itself: ``"master"`` or ``"slave"``."""
        roles: dict[int, str] = {}
        for port in self.live_ports():
            with self._node(port) as node:
                roles[port] = str(node.info("replication")["role"])
        return roles

    def _healthy(self) -> bool:
        """Every live node sees the cluster ok, and every master has a replica in sync."""
        masters = 0
        for port in self.live_ports():
            with self._node(port) as node:
                if node.cluster("info")["cluster_state"] != "ok":
                    return False
                replication = node.info("replication")
                if replication["role"] == "master":
                    masters += 1
                    if replication["connected_slaves"] < 1:
                        return False
                elif replication["master_link_status"] != "up":
                    return False
        return masters == MASTERS

    def master_of(self, key: str) -> int:
        """The port of the master that serves `key`'s slot now."""
        with redis.RedisCluster.from_url(self.url) as client:
            node = client.get_node_from_key(key)
            return int(node.port)

    def kill(self, port: int) -> None:
        """SIGKILL one node: no shutdown, no goodbye to its replica or clients."""
        process = self.processes[port]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def wait_for_failover(self, killed: int) -> int:
        """Wait until a former replica of `killed` serves its slots, with the cluster ok again.

        Returns the port of the promoted node.
        """
        promoted: list[int] = []

        def settled() -> bool:
            masters = [port for port, role in self.roles().items() if role == "master"]
            for port in self.live_ports():
                with self._node(port) as node:
                    if node.cluster("info")["cluster_state"] != "ok":
                        return False
            if len(masters) < MASTERS:
                return False
            promoted[:] = [port for port in masters if port not in self._first_masters]
            return bool(promoted)

        _wait_for(f"promote a replica of the killed master {killed}", settled)
        return promoted[0]

    def stop(self) -> None:
        """Kill every process still running."""
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
        for process in self.processes.values():
            process.wait(timeout=10)


@contextmanager
def running_cluster(directory: Path) -> Iterator[Cluster]:
    """A fresh cluster in `directory`, whose processes are killed however the block ends."""
    server, cli = require_redis_binaries()
    cluster = Cluster(directory, server, cli)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
