"""Start and stop a local Label Studio server (for development, demos and integration tests).

The server runs from its own virtual environment (``.venv-ls`` by default): the project talks
to it over HTTP only and never imports Label Studio's server code.

Credentials (username, password, legacy API token) are written to
``<data_dir>/cliniloop-credentials.json`` when a data dir is first initialised, so a warm
restart of the same dir, or a copy made with :func:`clone_data_dir`, finds the token again.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

import httpx

from cliniloop.services.core.net import free_port
from cliniloop.services.core.private import PRIVATE_UMASK, private_dir, private_file, private_tree

log = logging.getLogger(__name__)

#: Environment variable overriding the path of the ``label-studio`` executable.
BIN_ENV = "CLINILOOP_LABEL_STUDIO_BIN"
#: Name of the credentials file kept in an initialised data dir.
CREDENTIALS_FILE = "cliniloop-credentials.json"
#: Name of the server log file kept in the data dir.
LOG_FILE = "label-studio.log"
DEFAULT_USERNAME = "admin@example.com"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / ".venv-ls" / "bin" / "label-studio"

# Variables that Label Studio reads with or without a LABEL_STUDIO_ prefix, or that would point
# its Python at the wrong code: never inherit them from the caller's environment.
_SCRUBBED_ENV = (
    "USERNAME",
    "PASSWORD",
    "PORT",
    "HOST",
    "USER_TOKEN",
    "PYTHONPATH",
    "PYTHONHOME",
    "VIRTUAL_ENV",
    "DJANGO_SETTINGS_MODULE",
    "DJANGO_DB",
    "DATABASE_NAME",
    "SECRET_KEY",
)
_SCRUBBED_PREFIXES = ("LABEL_STUDIO_", "POSTGRE_", "MYSQL_")


class LabelStudioStartError(RuntimeError):
    """Label Studio did not come up; the message ends with the last lines of its log."""


@dataclass(frozen=True)
class Credentials:
    """Login of the server's first (admin) user."""

    username: str
    password: str
    api_key: str

    @classmethod
    def generate(cls, username: str = DEFAULT_USERNAME) -> Credentials:
        """New random password and 40-hex-digit legacy token."""
        return cls(username=username, password=secrets.token_urlsafe(18), api_key=secrets.token_hex(20))

    @classmethod
    def load(cls, data_dir: Path) -> Credentials | None:
        """Read the credentials stored in ``data_dir``, or ``None`` if there are none."""
        path = data_dir / CREDENTIALS_FILE
        if not path.is_file():
            return None
        return cls(**json.loads(path.read_text(encoding="utf-8")))

    def save(self, data_dir: Path) -> None:
        """Write the credentials to ``data_dir`` (readable by the owner only)."""
        path = data_dir / CREDENTIALS_FILE
        path.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        path.chmod(0o600)


def is_initialised(data_dir: str | os.PathLike[str]) -> bool:
    """Whether ``data_dir`` holds a Label Studio database."""
    return (Path(data_dir) / "label_studio.sqlite3").is_file()


def clone_data_dir(template: str | os.PathLike[str], dest: str | os.PathLike[str]) -> Path:
    """Copy an initialised, *stopped* server's data dir (like ``cp -a``), without its log.

    Starting a server on the copy takes seconds instead of the ~30 s of migrations a fresh dir
    needs, and the copy keeps the template's users, token and secret key.

    Raises
    ------
    FileNotFoundError
        If ``template`` is not an initialised data dir.
    FileExistsError
        If ``dest`` exists already.
    """
    src, dst = Path(template), Path(dest)
    if not is_initialised(src):
        raise FileNotFoundError(f"{src} is not an initialised Label Studio data dir")
    shutil.copytree(src, dst, symlinks=True, ignore=shutil.ignore_patterns(LOG_FILE))
    return dst


def _tail(path: Path, lines: int = 40) -> str:
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            return "".join(deque(fh, maxlen=lines))
    except OSError:
        return "(no log)"


class LocalLabelStudio:
    """A Label Studio server process on ``127.0.0.1``, bound to a free port.

    Parameters
    ----------
    data_dir : str or os.PathLike
        Where Label Studio keeps its SQLite database, media, ``.env`` (secret key), our
        credentials file and the log. Created if missing; an initialised dir is reused
        (warm restart) with the credentials stored in it.
    binary : str or os.PathLike, optional
        The ``label-studio`` executable. Default: ``$CLINILOOP_LABEL_STUDIO_BIN``, else
        ``.venv-ls/bin/label-studio`` under the repository root.
    port : int, optional
        Port to listen on; default a free one. Label Studio silently moves to the next
        port when its port is busy: :meth:`start` checks the port it really took.
    port_fallback : bool, default False
        With ``port``: when that port turns out to be taken at start, use a free one instead of
        failing (the demo's preferred 8080, taken by another server after it was checked).
    username, password, api_key : str, optional
        Admin credentials for a fresh data dir (random when left out). For an initialised dir
        they must match the stored ones (or be left out).
    files_root : str or os.PathLike, optional
        Document root for local file serving (default: ``data_dir``).
    log_level : str, default "WARNING"
        Label Studio's log level (``INFO`` logs every request).
    extra_env : dict, optional
        More environment variables for the server.

    Examples
    --------
    >>> with LocalLabelStudio("var/label-studio").start() as ls:  # doctest: +SKIP
    ...     LabelStudioClient(ls.url, ls.api_key).health()
    True
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        binary: str | os.PathLike[str] | None = None,
        port: int | None = None,
        username: str | None = None,
        password: str | None = None,
        api_key: str | None = None,
        files_root: str | os.PathLike[str] | None = None,
        log_level: str = "WARNING",
        extra_env: dict[str, str] | None = None,
        port_fallback: bool = False,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.port_fallback = port_fallback
        self.binary = Path(binary or os.environ.get(BIN_ENV) or DEFAULT_BIN)
        self.host = "127.0.0.1"
        self.requested_port = port
        self.files_root = Path(files_root).absolute() if files_root else self.data_dir
        self.log_level = log_level
        self.extra_env = dict(extra_env or {})
        self._given = {"username": username, "password": password, "api_key": api_key}
        self._credentials: Credentials | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self.startup_s: float | None = None

    # -- properties ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:43817`` (only after :meth:`start`)."""
        if self.port is None:
            raise RuntimeError("Label Studio is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def credentials(self) -> Credentials:
        """The admin credentials (resolved by :meth:`start`)."""
        if self._credentials is None:
            self._credentials = self._resolve_credentials()
        return self._credentials

    @property
    def api_key(self) -> str:
        """Legacy API token of the admin user."""
        return self.credentials.api_key

    @property
    def username(self) -> str:
        """Admin e-mail (login)."""
        return self.credentials.username

    @property
    def password(self) -> str:
        """Admin password."""
        return self.credentials.password

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        return self.data_dir / LOG_FILE

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """Process id of the server, if started."""
        return self._process.pid if self._process else None

    # -- credentials -----------------------------------------------------------------------
    def _resolve_credentials(self) -> Credentials:
        stored = Credentials.load(self.data_dir)
        if stored is not None:
            for key, value in self._given.items():
                if value is not None and value != getattr(stored, key):
                    raise ValueError(
                        f"{key} differs from the one stored in {self.data_dir / CREDENTIALS_FILE}; "
                        "Label Studio keeps the first user's credentials: leave it out or use a new data dir"
                    )
            return stored
        if is_initialised(self.data_dir):
            if not all(self._given.values()):
                raise ValueError(
                    f"{self.data_dir} holds a Label Studio database but no {CREDENTIALS_FILE}: "
                    "pass username, password and api_key"
                )
            return Credentials(**self._given)  # type: ignore[arg-type]
        fresh = Credentials.generate(self._given["username"] or DEFAULT_USERNAME)
        return Credentials(
            username=fresh.username,
            password=self._given["password"] or fresh.password,
            api_key=self._given["api_key"] or fresh.api_key,
        )

    # -- environment -----------------------------------------------------------------------
    def environment(self) -> dict[str, str]:
        """The server's environment: the caller's, scrubbed, plus the settings it needs."""
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV and not k.startswith(_SCRUBBED_PREFIXES)}
        creds = self.credentials
        env.update(
            {
                "LABEL_STUDIO_USERNAME": creds.username,
                "LABEL_STUDIO_PASSWORD": creds.password,
                "LABEL_STUDIO_USER_TOKEN": creds.api_key,
                # Honoured only when the organisation is created (fresh data dir).
                "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
                # Webhooks and ML backends on 127.0.0.1 (our API) are refused otherwise.
                "LABEL_STUDIO_ML_BLOCK_LOCAL_IP": "false",
                "SSRF_PROTECTION_ENABLED": "false",
                "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
                "LATEST_VERSION_CHECK": "false",
                "COLLECT_ANALYTICS": "false",
                "SENTRY_DSN": "",
                "FRONTEND_SENTRY_DSN": "",
                "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
                "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(self.files_root),
                # Also read at import time, before --data-dir: keeps it off ~/.local/share.
                "LABEL_STUDIO_BASE_DATA_DIR": str(self.data_dir),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, timeout_s: float = 180.0) -> LocalLabelStudio:
        """Start the server and wait until ``/health`` answers on its port.

        Parameters
        ----------
        timeout_s : float, default 180
            How long to wait (a fresh data dir runs ~30 s of migrations).

        Returns
        -------
        LocalLabelStudio
            ``self``, started.

        Raises
        ------
        FileNotFoundError
            If the ``label-studio`` executable is missing.
        LabelStudioStartError
            If the process exits, or does not answer in time, or took another port than ours;
            the message ends with the last lines of the log.
        """
        if self.running:
            return self
        if not self.binary.is_file():
            raise FileNotFoundError(
                f"Label Studio executable not found at {self.binary}: create the .venv-ls environment "
                f"(`make test` does) or set {BIN_ENV}"
            )
        # its database holds the webhook secret and API tokens in plaintext: owner-only, old files too
        private_dir(self.data_dir)
        private_tree(self.data_dir)
        creds = self.credentials
        attempts = 1 if self.requested_port and not self.port_fallback else 3
        t0 = time.monotonic()
        for attempt in range(1, attempts + 1):
            port = self.requested_port if self.requested_port and attempt == 1 else free_port(self.host)
            try:
                self._launch(port, deadline=t0 + timeout_s)
                break
            except _PortTaken as taken:
                self.stop()
                if attempt == attempts:
                    raise LabelStudioStartError(f"{taken}\n--- {self.log_path} ---\n{_tail(self.log_path)}") from None
                log.warning("%s; retrying on another port", taken)
            except BaseException:  # start errors, Ctrl-C: leave no process behind
                self.stop()
                raise
        self.startup_s = time.monotonic() - t0
        if Credentials.load(self.data_dir) is None:
            creds.save(self.data_dir)
        atexit.register(self.stop)  # never leave a ~370 MB server behind a crashed caller
        log.info("Label Studio up at %s in %.1f s (data dir %s)", self.url, self.startup_s, self.data_dir)
        return self

    def add_user(self, email: str, timeout_s: float = 120.0) -> str:
        """Create another user in the admin's organisation (e.g. a second annotator); return its legacy token.

        The server must be running: the user is created through the API (as the admin), and its
        token read with ``label-studio user`` (the API hands a token only to its own user).

        Raises
        ------
        LabelStudioStartError
            If the user cannot be created or its token read.
        """
        if self.port is None:
            raise LabelStudioStartError("start the server before adding users")
        with httpx.Client(base_url=self.url, headers={"Authorization": f"Token {self.api_key}"}, timeout=30.0) as http:
            r = http.post("/api/users/", json={"email": email, "username": email.split("@")[0]})
            if r.status_code not in (200, 201):
                raise LabelStudioStartError(f"creating user {email} failed: HTTP {r.status_code}: {r.text[:300]}")
        cmd = [str(self.binary), "user", "--username", email, "--data-dir", str(self.data_dir)]
        done = subprocess.run(
            cmd, cwd=self.data_dir, env=self.environment(), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout_s
        )
        found = re.search(r"'token': '([0-9a-f]+)'", done.stdout)
        if found is None:
            raise LabelStudioStartError(f"could not read the token of {email}: {done.stdout[-500:]}{done.stderr[-500:]}")
        return found.group(1)

    def _launch(self, port: int, deadline: float) -> None:
        cmd = [
            str(self.binary), "start", "--no-browser",
            "--internal-host", self.host, "-p", str(port),
            "--data-dir", str(self.data_dir), "--log-level", self.log_level,
        ]  # fmt: skip
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        private_file(self.log_path)
        with self.log_path.open("ab") as log_fh:
            self._process = subprocess.Popen(
                cmd,
                cwd=self.data_dir,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=log_fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() signals only that group
                umask=PRIVATE_UMASK,  # what Label Studio writes (its sqlite3, media, exports) is owner-only
            )
        self.port = port
        banner = f"Starting development server at http://{self.host}:{port}/"
        with httpx.Client(timeout=2.0) as http:
            while True:
                if self._process.poll() is not None:
                    code = self._process.returncode
                    self._process = None
                    self.port = None
                    if "is in use." in self._log_since(offset):  # it also found the next port taken and gave up
                        raise _PortTaken(f"port {port} was taken before Label Studio bound it")
                    raise LabelStudioStartError(
                        f"Label Studio exited with code {code} during start\n"
                        f"--- {self.log_path} ---\n{_tail(self.log_path)}"
                    )
                text = self._log_since(offset)
                if "is in use." in text and "Trying to start at" in text:
                    raise _PortTaken(f"port {port} was taken before Label Studio bound it")
                if banner in text and self._healthy(http):
                    return
                if time.monotonic() > deadline:
                    self.stop()
                    raise LabelStudioStartError(
                        f"Label Studio did not answer on http://{self.host}:{port}/health in time\n"
                        f"--- {self.log_path} ---\n{_tail(self.log_path)}"
                    )
                time.sleep(0.25)

    def _log_since(self, offset: int) -> str:
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(offset)
                return fh.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def _healthy(self, http: httpx.Client) -> bool:
        try:
            r = http.get(f"{self.url}/health")
            return r.status_code == 200 and r.json().get("status") == "UP"
        except (httpx.HTTPError, ValueError):
            return False

    def stop(self, timeout_s: float = 20.0) -> None:
        """Stop the server: SIGTERM to its process group, wait, then SIGKILL. Idempotent."""
        proc, self._process = self._process, None
        self.port = None
        atexit.unregister(self.stop)
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("Label Studio (pid %s) ignored SIGTERM; killing it", proc.pid)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=timeout_s)

    def __enter__(self) -> LocalLabelStudio:
        return self.start() if not self.running else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self.url if self.running else "stopped"
        return f"LocalLabelStudio({str(self.data_dir)!r}, {state})"


class _PortTaken(Exception):
    """Label Studio moved to another port than the one we chose."""
