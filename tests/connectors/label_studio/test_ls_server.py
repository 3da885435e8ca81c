"""LocalLabelStudio without Label Studio: a fake ``label-studio`` script plays the server.

The real server is started by ``tests/integration/conftest.py``.
"""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import httpx
import pytest

from cliniloop.connectors.label_studio.server import (
    CREDENTIALS_FILE,
    Credentials,
    LabelStudioStartError,
    LocalLabelStudio,
    clone_data_dir,
    free_port,
)

FAKE = '''\
#!{python}
"""Fake `label-studio start`: behaves as FAKE_LS_MODE says."""
import http.server, json, os, sys, time
args = sys.argv[1:]
port = int(args[args.index("-p") + 1])
data_dir = args[args.index("--data-dir") + 1]
mode = os.environ.get("FAKE_LS_MODE", "ok")
with open(os.path.join(data_dir, "env.json"), "w") as fh:
    json.dump(dict(os.environ), fh)
print("=> Database and media directory:", data_dir, flush=True)
if mode == "exit":
    print("ImproperlyConfigured: boom", flush=True)
    sys.exit(3)
if mode == "moved":
    print("* Port " + str(port) + " is in use.\\n* Trying to start at " + str(port + 1), flush=True)
    time.sleep(60)
if mode == "silent":
    time.sleep(60)
open(os.path.join(data_dir, "label_studio.sqlite3"), "a").close()

class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({{"status": "UP"}}).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass

srv = http.server.HTTPServer(("127.0.0.1", port), H)
print("Starting development server at http://127.0.0.1:" + str(port) + "/", flush=True)
srv.serve_forever()
'''


@pytest.fixture
def fake_bin(tmp_path: Path) -> Path:
    path = tmp_path / "bin" / "label-studio"
    path.parent.mkdir()
    path.write_text(FAKE.format(python=sys.executable), encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def server(tmp_path: Path, fake_bin: Path, mode: str = "ok", **kwargs: object) -> LocalLabelStudio:
    return LocalLabelStudio(tmp_path / "data", binary=fake_bin, extra_env={"FAKE_LS_MODE": mode}, **kwargs)  # type: ignore[arg-type]


def test_start_waits_for_health_saves_credentials_and_stops(tmp_path: Path, fake_bin: Path) -> None:
    with server(tmp_path, fake_bin) as ls:
        assert ls.running and ls.url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{ls.url}/health").json() == {"status": "UP"}
        stored = json.loads((ls.data_dir / CREDENTIALS_FILE).read_text())
        assert stored == {"username": ls.username, "password": ls.password, "api_key": ls.api_key}
        assert oct((ls.data_dir / CREDENTIALS_FILE).stat().st_mode & 0o777) == "0o600"
        assert len(ls.api_key) == 40 and ls.password
        url = ls.url
    assert not ls.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health")


#: Variables a caller may have set that must not reach the Label Studio process.
LEAKY_ENV = ("USERNAME", "PASSWORD", "PORT", "HOST", "LABEL_STUDIO_API_KEY", "DJANGO_SETTINGS_MODULE", "PYTHONPATH")


def test_environment_is_scrubbed_and_complete(tmp_path: Path, fake_bin: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in LEAKY_ENV:
        monkeypatch.setenv(name, "leak")
    with server(tmp_path, fake_bin) as ls:
        env = json.loads((ls.data_dir / "env.json").read_text())
    for name in LEAKY_ENV:
        assert name not in env
    assert env["LABEL_STUDIO_USERNAME"] == ls.username
    assert env["LABEL_STUDIO_PASSWORD"] == ls.password
    assert env["LABEL_STUDIO_USER_TOKEN"] == ls.api_key
    assert env["LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN"] == "true"
    assert env["SSRF_PROTECTION_ENABLED"] == "false" and env["LABEL_STUDIO_ML_BLOCK_LOCAL_IP"] == "false"
    assert env["COLLECT_ANALYTICS"] == "false" and env["LATEST_VERSION_CHECK"] == "false" and env["SENTRY_DSN"] == ""
    assert env["LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED"] == "true"
    assert env["LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"] == str(ls.data_dir)


def test_warm_restart_and_clone_reuse_the_stored_credentials(tmp_path: Path, fake_bin: Path) -> None:
    with server(tmp_path, fake_bin, username="me@example.org", api_key="fixed-token-42") as first:
        creds = first.credentials
    assert creds.username == "me@example.org" and creds.api_key == "fixed-token-42"
    with server(tmp_path, fake_bin) as again:
        assert again.credentials == creds
    clone = clone_data_dir(tmp_path / "data", tmp_path / "copy")
    assert not (clone / "label-studio.log").exists()
    with LocalLabelStudio(clone, binary=fake_bin) as copy:
        assert copy.credentials == creds and copy.data_dir == clone
    with pytest.raises(ValueError, match="api_key differs"):
        server(tmp_path, fake_bin, api_key="another-token").start()


def test_initialised_dir_without_credentials_needs_them(tmp_path: Path, fake_bin: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "label_studio.sqlite3").touch()
    with pytest.raises(ValueError, match="pass username, password and api_key"):
        LocalLabelStudio(data, binary=fake_bin).start()
    given = LocalLabelStudio(data, binary=fake_bin, username="a@b.org", password="pw-123456", api_key="tok-123456")
    assert given.credentials == Credentials("a@b.org", "pw-123456", "tok-123456")


def test_exit_during_start_reports_the_log(tmp_path: Path, fake_bin: Path) -> None:
    with pytest.raises(LabelStudioStartError, match=r"(?s)exited with code 3.*boom"):
        server(tmp_path, fake_bin, "exit").start()


def test_a_moved_port_is_detected(tmp_path: Path, fake_bin: Path) -> None:
    ls = server(tmp_path, fake_bin, "moved", port=free_port())
    with pytest.raises(LabelStudioStartError, match="was taken"):
        ls.start(timeout_s=20)
    assert not ls.running


def test_timeout_stops_the_process(tmp_path: Path, fake_bin: Path) -> None:
    ls = server(tmp_path, fake_bin, "silent")
    with pytest.raises(LabelStudioStartError, match="did not answer"):
        ls.start(timeout_s=1.5)
    assert not ls.running and ls.pid is None


def test_missing_binary_says_how_to_get_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLINILOOP_LABEL_STUDIO_BIN", str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="make test"):
        LocalLabelStudio(tmp_path / "data").start()


def test_clone_refuses_an_uninitialised_template(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError):
        clone_data_dir(tmp_path / "empty", tmp_path / "dest")


def test_url_before_start_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="not started"):
        _ = LocalLabelStudio(tmp_path).url
