"""``cliniloop demo``: a local Label Studio and API, one round of every modality over ``data_samples/``.

Text (the notes), the coders' queue (code candidates of the text round's mentions), ECG
(``data_samples/ecg``), EEG (``data_samples/eeg``) and image boxes (``data_samples/images``) each
run one round of the same loop (:func:`cliniloop.services.loop.round.run_round`) into their own Label Studio
project, and the demo prints every project's URL. Everything runs on 127.0.0.1 with state under
``var/`` (SQLite store, Label Studio data): nothing external to set up. The demo account exists only
in that local Label Studio.
"""

from __future__ import annotations

import logging
import signal
import threading
from urllib.parse import urlsplit
from pathlib import Path
from typing import Any

from rich.panel import Panel

from cliniloop.connectors.label_studio.server import CREDENTIALS_FILE
from cliniloop.services.cli.render import console, progress_bars, round_summary

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
    from cliniloop.services.core.private import private_file

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


#: The other modalities' sample data under ``data_samples/`` (next to the notes folder), one round each.
DEMO_MODALITIES = (("ecg", "ecg"), ("eeg", "eeg/synthetic_seizures.edf"), ("image-boxes", "images/JPEGImages"))


def modality_rounds(store: Any, client: Any, samples: Path, budget: int, settings: Any, progress: Any = None) -> list[tuple[str, str, Any]]:
    """One round of each of :data:`DEMO_MODALITIES` whose sample data exists: ``(modality, project URL path, report)``.

    A modality that fails is reported and skipped; the others still run.
    """
    from cliniloop.services.loop.round import run_round

    out: list[tuple[str, str, Any]] = []
    for name, rel in DEMO_MODALITIES:
        source = samples / rel
        if not source.exists():
            log.warning("demo: no %s sample data at %s; skipped", name, source)
            continue
        try:
            report = run_round(store, name, source, budget, client=client, settings=settings, progress=progress)
        except Exception as err:  # noqa: BLE001 - one modality failing must not stop the demo
            console.print(f"[yellow]{name}: round failed: {type(err).__name__}: {err}[/yellow]")
            continue
        out.append((name, ", ".join(f"/projects/{pid}/data" for pid in report.project_ids), report))
    return out


def coders_round(store: Any, client: Any, settings: Any, budget: int) -> tuple[int, Any] | None:
    """The coders' queue of the text round's mentions (most uncertain first); ``None`` when it fails."""
    from cliniloop.services.loop.coding import candidate_generator, coder_items, push_coder_tasks

    try:
        report = push_coder_tasks(
            store, client, settings.label_studio_coder_project, coder_items(store), candidate_generator(store, settings), k=5, budget=budget
        )
    except Exception as err:  # noqa: BLE001 - the coders' queue is optional in the demo
        console.print(f"[yellow]codes: coders' queue failed: {type(err).__name__}: {err}[/yellow]")
        return None
    return report.project_id, report


def projects_table(ls_url: str, rows: list[tuple[str, str, str]]) -> Any:
    """Each modality's project URL and what its round queued."""
    from rich.table import Table

    table = Table(title="Label Studio projects, one per modality")
    table.add_column("modality", no_wrap=True)
    table.add_column("project", no_wrap=True, overflow="ignore", min_width=len(ls_url) + 18)  # a URL cut short cannot be opened
    table.add_column("queued", ratio=1)
    for name, path, what in rows:
        table.add_row(name, f"{ls_url}{path}", what)
    return table


def run_demo(notes: Path, budget: int, once: bool) -> int:
    """Run the demo; return the process exit code."""
    from cliniloop.connectors.label_studio.client import LabelStudioClient, LabelStudioError
    from cliniloop.connectors.label_studio.server import LocalLabelStudio, is_initialised
    from cliniloop.services.api.server import ApiServer
    from cliniloop.services.core.net import preferred_port
    from cliniloop.services.core.settings import get_settings
    from cliniloop.services.core.store import open_store
    from cliniloop.services.loop.connect import connect_project
    from cliniloop.services.loop.predict import load_text_model
    from cliniloop.services.loop.push import ensure_text_project
    from cliniloop.services.loop.round import run_round

    settings = get_settings()
    var = settings.var_dir.resolve()
    store = open_store(settings.resolved_database_url)
    # the usual ports when free, so bookmarks keep working between runs
    ls_port = preferred_port(urlsplit(settings.label_studio_url).port or 8080)
    api_port = preferred_port(urlsplit(settings.api_url).port or 8000)
    ls_dir = var / "label-studio"
    # a first run creates the demo account; later runs use the account stored with the data
    account = {} if is_initialised(ls_dir) else {"username": DEMO_USER, "password": DEMO_PASSWORD, "api_key": DEMO_TOKEN}
    # the preferred port may be taken between the check and the bind (another demo starting): then any free one
    ls = LocalLabelStudio(data_dir=ls_dir, port=ls_port, port_fallback=True, **account)
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
        rows = [("text", f"/projects/{project_id}/data", f"{len(report.selection.task_ids)} notes by {report.selection.strategy}")]
        coders = coders_round(store, client, settings, budget)
        if coders is not None:
            rows.append(("codes", f"/projects/{coders[0]}/data", f"{len(coders[1].created)} mentions, most uncertain first"))
        for name, paths, rep in modality_rounds(store, client, notes.resolve().parent, budget, settings):
            rows.append((name, paths, f"{len(rep.selection.task_ids)} tasks by {rep.selection.strategy} (round {rep.selection.round_id}), mean uncertainty {rep.stats.uncertainty.get('mean', 0):.3f}"))
        console.print(projects_table(ls.url, rows))
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
