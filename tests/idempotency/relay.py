"""A TCP relay on loopback that can lose one reply: the server did the work, the client never hears.

It forwards bytes both ways between clients and one server. Armed with a marker, it forwards the
next request containing that marker, then drops the server's reply to it and closes both ends,
as a network fault or a timed-out read does after the server applied a command.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

CHUNK = 65536


class Relay:
    """Forwards connections from `port` to the server at `upstream` (host, port)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._marker: bytes | None = None
        #: How many replies were dropped so far.
        self.dropped = 0
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def drop_reply_to(self, marker: bytes) -> None:
        """Lose the reply to the next request whose bytes contain `marker`."""
        with self._lock:
            self._marker = marker

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            server = socket.create_connection(self.upstream, timeout=10)
            server.settimeout(None)
            self._sockets += [client, server]
            losing = threading.Event()
            for source, target, requests in ((client, server, True), (server, client, False)):
                thread = threading.Thread(
                    target=self._pump, args=(source, target, requests, losing), daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def _pump(
        self, source: socket.socket, target: socket.socket, requests: bool, losing: threading.Event
    ) -> None:
        """Copy `source` to `target`; a reply after an armed request ends the connection."""
        try:
            while data := source.recv(CHUNK):
                if requests:
                    with self._lock:
                        if self._marker is not None and self._marker in data:
                            self._marker = None
                            losing.set()  # before the request leaves: its reply comes after
                elif losing.is_set():
                    with self._lock:
                        self.dropped += 1
                    break
                target.sendall(data)
        except OSError:
            pass
        for end in (source, target):
            with suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Stop accepting, close every connection, and wait for the copying threads."""
        with suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
        self._listener.close()
        for sock in self._sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._accepting.join(timeout=5)


@contextmanager
def relay_to(host: str, port: int) -> Iterator[Relay]:
    """A relay to `host`:`port`, closed however the block ends."""
    relay = Relay((host, port))
    try:
        yield relay
    finally:
        relay.close()
