"""A free TCP port on 127.0.0.1, never one this process was given before.

The kernel may hand out the port it just gave to a closed socket again: two calls in a row
then return the same number, and a config that needs two distinct ports (a registry and a
proxy port, say) is refused as a duplicate. So each port is given once per process.
"""

from __future__ import annotations

import socket
import threading

_GIVEN: set[int] = set()
_LOCK = threading.Lock()


def free_port() -> int:
    with _LOCK:
        while True:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = int(sock.getsockname()[1])
            if port not in _GIVEN:
                _GIVEN.add(port)
                return port
