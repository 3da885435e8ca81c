"""Loopback helpers: free ports and waiting for a local HTTP server to answer."""

from __future__ import annotations

import socket
import time

import httpx


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout_s: float, ok: tuple[int, ...] = (200,), alive: "callable | None" = None) -> bool:
    """Poll ``url`` until it answers with a status in ``ok``; ``False`` after ``timeout_s`` seconds.

    ``alive`` (optional) is called between polls; when it returns ``False`` the wait stops early
    (e.g. the server process exited).
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2.0).status_code in ok:
                return True
        except httpx.HTTPError:
            pass
        if alive is not None and not alive():
            return False
        time.sleep(0.3)
    return False


def preferred_port(port: int, host: str = "127.0.0.1") -> int:
    """Return ``port`` when it is free on ``host``, else any free port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return free_port(host)
    return port
