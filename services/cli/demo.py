"""``cliniloop demo``: a local Label Studio and API, one round over the sample notes.

Everything runs on 127.0.0.1 with state under ``var/`` (SQLite store, Label Studio data):
nothing external to set up. The demo account exists only in that local Label Studio.
"""

from __future__ import annotations

import logging
import signal
import threading
from urllib.parse import urlsplit
from pathlib import Path

from rich.panel import Panel

from connectors.label_studio.server import CREDENTIALS_FILE
from services.cli.render import console, progress_bars, round_summary

log = logging.getLogger(__name__)

DEMO_USER = "admin@cliniloop.local"
DEMO_PASSWORD = "cliniloop-demo"
DEMO_TOKEN = "cliniloop-demo-token-0001"


#: File (mode 0600) with the Label Studio URL and token the demo's Label Studio uses, for `cliniloop pull`.
DEMO_ENV_FILE = "demo.env"


def write_demo_env(var: Path, ls_url: str, ls_api_key: str, *, database_url: str | None = None, project: str | None = None) -> Path:
    """Write the settings that point at the demo's state to ``<var>/demo.env`` (owner-only), not to the screen.

    ``CLINILOOP_LABEL_STUDIO_URL`` / ``_API_KEY``, and ``CLINILOOP_VAR_DIR`` (the API tokens and the
    de-identification key live there), the store's ``CLINILOOP_DATABASE_URL`` and the project title,
    so that the commands the demo prints (``cliniloop tokens``, ``cliniloop pull``) read the demo's
    state whatever folder it ran in.
    """
    from services.core.private import private_file

    lines = [f"CLINILOOP_LABEL_STUDIO_URL={ls_url}", f"CLINILOOP_LABEL_STUDIO_API_KEY={ls_api_key}",
             f"CLINILOOP_VAR_DIR={_env_value(str(var.absolute()))}"]  # fmt: skip
    if database_url:
        lines.append(f"CLINILOOP_DATABASE_URL={_env_value(database_url)}")
    if project:
        lines.append(f"CLINILOOP_LABEL_STUDIO_PROJECT={_env_value(project)}")
    path = private_file(var / DEMO_ENV_FILE)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _env_value(value: str) -> str:
    """A value for a line of a file read with ``. file`` (POSIX sh): single-quoted when needed."""
    import shlex

    return shlex.quote(value)


def demo_panel(ls_url: str, project_id: int, username: str, ls_dir: Path, api_url: str, env_file: Path) -> Panel:
    """What the demo prints: where things are and where the secrets live, never a password or token."""
    return Panel.fit(
        f"Label Studio: [link]{ls_url}/projects/{project_id}/data[/link]\n"
        f"login: {username}   password: in {ls_dir / CREDENTIALS_FILE} (mode 0600; the README lists the demo's fixed ones)\n"
        f"cliniloop API: {api_url}  (ML backend and webhooks connected, with their secrets)\n"
        f"quality dashboard: [link]{api_url}/dashboard[/link]  (any user name; password: "
        f"`(set -a; . {env_file}; set +a; .venv/bin/cliniloop tokens --show engineer)`)\n"
        f"to pull corrections:  (set -a; . {env_file}; set +a; .venv/bin/cliniloop pull)",
        title="cliniloop demo",
    )


def run_demo(notes: Path, budget: int, once: bool) -> int:
    """Run the demo; return the process exit code."""
    from connectors.label_studio.client import LabelStudioClient, LabelStudioError
    from connectors.label_studio.server import LocalLabelStudio, is_initialised
    from services.api.server import ApiServer
    from services.core.net import preferred_port
    from services.core.settings import get_settings
    from services.core.store import open_store
    from services.loop.connect import connect_project
    from services.loop.predict import load_text_model
    from services.loop.push import ensure_text_project
    from services.loop.round import run_round

    settings = get_settings()
    var = settings.var_dir.resolve()
    store = open_store(settings.resolved_database_url)
    # the usual ports when free, so bookmarks keep working between runs
    ls_port = preferred_port(urlsplit(settings.label_studio_url).port or 8080)
    api_port = preferred_port(urlsplit(settings.api_url).port or 8000)
    ls_dir = var / "label-studio"
    # a first run creates the demo account; later runs use the account stored with the data
    account = {} if is_initialised(ls_dir) else {"username": DEMO_USER, "password": DEMO_PASSWORD, "api_key": DEMO_TOKEN}
    ls = LocalLabelStudio(data_dir=ls_dir, port=ls_port, **account)
    api: ApiServer | None = None
    try:
        console.print("[bold]Starting Label Studio[/bold] (first start runs migrations, ~30 s)…")
        ls.start()
        console.print("[bold]Building the text model[/bold] and starting the cliniloop API…")
        load_text_model(store, settings)  # rules, or rules + the promoted NER version (fails early when its files are gone)
        api = ApiServer(
            {
                "CLINILOOP_DATABASE_URL": settings.resolved_database_url,
                "CLINILOOP_LABEL_STUDIO_URL": ls.url,
                "CLINILOOP_LABEL_STUDIO_API_KEY": ls.api_key,
                "CLINILOOP_VAR_DIR": str(var),
            },
            var / "api.log",
            port=api_port,
        ).start()
        client = LabelStudioClient(ls.url, ls.api_key)
        project_id = ensure_text_project(client, settings.label_studio_project)
        connect_project(client, project_id, api.url, settings)
        with progress_bars() as bars:
            report = run_round(store, "text", notes, budget, client=client, project_title=settings.label_studio_project, settings=settings, progress=bars)
        for table in round_summary(report):
            console.print(table)
        env_file = write_demo_env(var, ls.url, ls.api_key, database_url=settings.resolved_database_url, project=settings.label_studio_project)
        console.print(demo_panel(ls.url, project_id, ls.username, ls_dir, api.url, env_file))
        if not once:
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            console.print("Serving. Press Ctrl-C to stop both servers.")
            try:
                stop.wait()
            except KeyboardInterrupt:
                pass
        return 0
    except LabelStudioError as err:
        console.print(f"[red]error:[/red] {err}")
        return 1
    finally:
        console.print("Stopping servers…")
        if api is not None:
            api.stop()
        ls.stop()
        store.close()
