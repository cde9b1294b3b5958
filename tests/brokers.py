"""A broker that stops answering, for the tests of what a hung broker does to a request.

`SilentServer` is a TCP server on loopback that accepts every connection and never answers (a
hung or partitioned Redis or RabbitMQ: the kernel still completes the TCP handshake); given a
real broker, it relays to it until silenced. `answered_within` calls the code under test in a
thread, so that a call that never returns fails the test instead of hanging the suite.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import pytest

T = TypeVar("T")


class SilentServer:
    """Accepts connections on loopback and never answers; relays them to `upstream` until silenced.

    `upstream` is a broker URL. After `silence()`, bytes from either side of an open connection
    are held forever and new connections are accepted but not relayed; after `speak()`, new
    connections are relayed again (held ones stay silent). `close()` drops every connection.
    """

    def __init__(self, upstream: str | None = None) -> None:
        self._upstream = None
        if upstream is not None:
            parts = urlsplit(upstream)
            self._upstream = (parts.hostname or "127.0.0.1", parts.port or 0)
        self._silent = upstream is None
        self._closed = threading.Event()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self._sockets = [self._server]
        self._spawn(self._accept)

    def via(self, url: str) -> str:
        """`url` (credentials, virtual host and all) pointed at this server instead."""
        parts = urlsplit(url)
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@" if credentials else ""
        return urlunsplit(parts._replace(netloc=f"{netloc}127.0.0.1:{self.port}"))

    def silence(self) -> None:
        """Stop answering: from now on nothing is relayed in either direction."""
        self._silent = True

    def speak(self) -> None:
        """Relay new connections again."""
        self._silent = False

    def close(self) -> None:
        """Drop every connection, which ends any call still waiting on one."""
        self._closed.set()
        for sock in list(self._sockets):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked on it, as close does not
            sock.close()

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _spawn(self, target: Callable[..., None], *args: socket.socket) -> None:
        threading.Thread(target=target, args=args, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:  # closed
                return
            self._sockets.append(client)
            if self._silent or self._upstream is None:
                continue
            upstream = socket.create_connection(self._upstream)
            self._sockets.append(upstream)
            self._spawn(self._relay, client, upstream)
            self._spawn(self._relay, upstream, client)

    def _relay(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if self._silent:
                    self._closed.wait()
                    return
                target.sendall(data)
        except OSError:  # the other side, or `close`, closed it
            return
        finally:  # one side is gone: so is the other, or the broker would keep the connection
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def answered_within(seconds: float, call: Callable[[], T]) -> tuple[T, float]:
    """What `call()` returned and how long it took; fail if it is still running after `seconds`."""
    finished: list[tuple[T, float]] = []
    failed: list[BaseException] = []
    started = time.monotonic()

    def run() -> None:
        try:
            finished.append((call(), time.monotonic() - started))
        except BaseException as exc:  # raised again in the test's thread
            failed.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"still blocked after {seconds} s")
    if failed:
        raise failed[0]
    return finished[0]
