"""Run the cliniloop API in a child process (used by the demo and the integration tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cliniloop.services.core.net import free_port, wait_http

#: Environment variable holding the random id a started server echoes on ``/health``.
INSTANCE_ENV = "CLINILOOP_API_INSTANCE"


class ApiServer:
    """The cliniloop API under uvicorn on 127.0.0.1.

    Parameters
    ----------
    env : dict
        ``CLINILOOP_*`` settings for the child (database URL, Label Studio URL and key).
    log_path : Path
        Where the server's output goes.
    port : int, optional
        Port to listen on (default: a free one).
    """

    def __init__(self, env: dict[str, str], log_path: Path, port: int | None = None) -> None:
        self.env = env
        self.log_path = log_path
        self.port = port
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of the running server."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0, attempts: int = 3) -> "ApiServer":
        """Start uvicorn and wait until ``/health`` answers, from this very server.

        The child gets a random ``CLINILOOP_API_INSTANCE`` that ``/health`` echoes: when another
        server took the port between the check and the bind (two demos started at once), the
        answer comes from that one; this server then moves to a free port (``attempts`` in all).
        """
        import secrets

        import httpx

        from cliniloop.services.core.private import PRIVATE_UMASK, private_dir, private_file

        self.port = self.port or free_port()
        private_dir(self.log_path.parent, fix_existing=False)
        private_file(self.log_path)
        for attempt in range(attempts):
            instance = secrets.token_hex(8)
            env = {**os.environ, **self.env, "CLINILOOP_API_URL": f"http://127.0.0.1:{self.port}", INSTANCE_ENV: instance}
            cmd = [sys.executable, "-m", "uvicorn", "cliniloop.services.api.app:create_app", "--factory", "--host", "127.0.0.1", "--port", str(self.port)]
            with self.log_path.open("ab") as log:
                self._proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=Path.cwd(), umask=PRIVATE_UMASK)
            if not wait_http(f"{self.url}/health", timeout_s, alive=lambda: self._proc is not None and self._proc.poll() is None):
                self.stop()
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"cliniloop API did not start on {self.url}; log {self.log_path}:\n{tail}")
            try:
                mine = httpx.get(f"{self.url}/health", timeout=5.0).json().get("instance") == instance
            except (httpx.HTTPError, ValueError):
                mine = False
            if mine:
                return self
            self.stop()  # another server answers on this port: ours could not bind it
            if attempt < attempts - 1:
                self.port = free_port()
        raise RuntimeError(f"cliniloop API: another server answers on {self.url}, and no free port held ({attempts} tries)")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s)."""
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def __enter__(self) -> "ApiServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
