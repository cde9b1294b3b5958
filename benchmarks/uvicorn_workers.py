"""``uvicorn --workers N`` with ``TCP_NODELAY`` on every connection, for the load benchmark.

uvicorn (0.54 and earlier) binds the multi-worker listener without ``IPPROTO_TCP``, so asyncio
never sets ``TCP_NODELAY`` on accepted connections and each keep-alive request after the first
waits about 40 ms for the client's delayed ACK (uvicorn issue 3149). This launcher binds the
listener as the upstream fix does and otherwise runs uvicorn's own supervisor::

    python -m benchmarks.uvicorn_workers APP PORT WORKERS
"""

from __future__ import annotations

import socket
import sys

import uvicorn
from uvicorn.supervisors import Multiprocess


def main(app: str, port: int, workers: int) -> None:
    """Serve `app` on 127.0.0.1:`port` with `workers` processes, quietly."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, workers=workers, log_level="warning", access_log=False
    )
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.set_inheritable(True)
    Multiprocess(config, sockets=[listener]).run()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
