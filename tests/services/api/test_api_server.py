"""The API starter answers only for its own server: a port taken between the check and the bind is left."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx


class _Impostor(BaseHTTPRequestHandler):
    """Another process's server on the port: answers /health like cliniloop, without our instance id."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = json.dumps({"status": "UP", "model_class": "cliniloop"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args) -> None:
        pass


def test_a_port_held_by_another_server_is_left_for_a_free_one(tmp_path: Path) -> None:
    from cliniloop.services.api.server import ApiServer

    impostor = HTTPServer(("127.0.0.1", 0), _Impostor)
    taken = impostor.server_address[1]
    threading.Thread(target=impostor.serve_forever, daemon=True).start()
    env = {
        "CLINILOOP_DATABASE_URL": f"sqlite:///{tmp_path / 'api.sqlite3'}",
        "CLINILOOP_VAR_DIR": str(tmp_path / "var"),
        "CLINILOOP_JOB_WORKER": "false",
        "CLINILOOP_LABEL_STUDIO_API_KEY": "",
    }
    try:
        with ApiServer(env, tmp_path / "api.log", port=taken) as api:
            assert api.port != taken
            health = httpx.get(f"{api.url}/health", timeout=10.0).json()
            assert health["status"] == "UP" and len(health["instance"]) == 16
    finally:
        impostor.shutdown()
