"""The ``cliniloop`` command line: one sub-command per loop step, plus serve, status, eval, demo."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.logging import RichHandler

from services.cli.render import console, err_console, ingest_table, progress_bars, pull_line, push_line, round_summary

app = typer.Typer(help="cliniloop: clinical annotation with active learning.", no_args_is_help=True)
eval_app = typer.Typer(help="Accuracy and speed checks; each prints one JSON object on stdout.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")

NotesArg = Annotated[Path, typer.Argument(help="A note file or a folder of notes (UTF-8 text).")]
Budget = Annotated[int, typer.Option("--budget", "-n", min=1, help="How many tasks to select.")]


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False)],
    )
    for noisy in ("httpx", "httpcore", "urllib3", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _store():
    from services.core.store import open_store

    return open_store()


def _client():
    from connectors.label_studio.client import LabelStudioClient
    from services.core.settings import get_settings

    s = get_settings()
    if not s.label_studio_api_key:
        err_console.print("[red]Set CLINILOOP_LABEL_STUDIO_API_KEY (a legacy token or a personal access token).[/red]")
        raise typer.Exit(2)
    return LabelStudioClient(s.label_studio_url, s.label_studio_api_key)


def _fail(message: str, code: int = 1) -> None:
    err_console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


@app.command()
def ingest(notes: NotesArg) -> None:
    """Read notes into tasks (re-ingesting the same text never duplicates a task)."""
    from connectors.sources.notes import count_note_files
    from services.core.settings import get_settings
    from services.loop.ingest import ingest_notes

    store = _store()
    try:
        files = count_note_files(notes)
    except FileNotFoundError as err:
        _fail(str(err))
    with progress_bars() as bars:
        report = ingest_notes(store, notes, get_settings().max_note_bytes, bars("ingest", files))
    console.print(f"ingested: {len(report.added)} new, {len(report.existing)} already stored, {len(report.errors)} rejected")
    if report.errors:
        console.print(ingest_table(report))


@app.command()
def predict(batch_size: Annotated[int, typer.Option(min=1)] = 16) -> None:
    """Pre-annotate and score every text task without a prediction of the current model."""
    from models.text import ClinicalTextAnnotator
    from services.loop.predict import predict_tasks

    store = _store()
    model = ClinicalTextAnnotator().fit()
    with progress_bars() as bars:
        report = predict_tasks(store, model, batch_size=batch_size, progress=bars("predict", store.count_tasks("text")))
    console.print(f"predicted {report.predicted} tasks, {report.already_predicted} up to date; model {report.model_version}")


@app.command()
def select(budget: Budget = 20, strategy: Annotated[str, typer.Option(help="Sampling strategy.")] = "uncertainty") -> None:
    """Choose the next tasks for annotators and record a round."""
    from models.sampling.selection import EmptyPoolError
    from services.loop.select import select_tasks

    try:
        sel = select_tasks(_store(), budget, strategy)
    except (EmptyPoolError, ValueError) as err:
        _fail(str(err))
    console.print(f"round {sel.round_id}: selected {len(sel.task_ids)} tasks by {sel.strategy} ({sel.model_version})")


@app.command()
def push(round_id: Annotated[int | None, typer.Option("--round", help="Round to push (default: the newest).")] = None) -> None:
    """Send a round's tasks with predictions to Label Studio (each task exactly once)."""
    from connectors.label_studio.client import LabelStudioError
    from services.core.settings import get_settings
    from services.loop.push import ensure_text_project, push_tasks

    store = _store()
    rounds = store.rounds()
    chosen = [r for r in rounds if round_id is None or r.id == round_id]
    if not chosen:
        _fail("no round to push: run `cliniloop select` first" if round_id is None else f"no round {round_id}")
    rnd = chosen[-1]
    client = _client()
    try:
        project_id = ensure_text_project(client, get_settings().label_studio_project)
        with progress_bars() as bars:
            report = push_tasks(store, client, project_id, rnd.selected_task_ids, progress=bars("push", len(rnd.selected_task_ids)))
    except LabelStudioError as err:
        _fail(f"{err}\nNothing was recorded as pushed; run the same command again when Label Studio is back.")
    store.mark_round_pushed(rnd.id)
    console.print(f"round {rnd.id}: " + push_line(report))


@app.command()
def pull() -> None:
    """Bring annotations from Label Studio into the store (creates, updates, deletions)."""
    from connectors.label_studio.client import LabelStudioError
    from services.core.settings import get_settings
    from services.loop.pull import pull_annotations
    from services.loop.push import ensure_text_project

    store = _store()
    client = _client()
    try:
        project_id = ensure_text_project(client, get_settings().label_studio_project)
        report = pull_annotations(store, client, project_id)
    except LabelStudioError as err:
        _fail(str(err))
    console.print("pulled: " + pull_line(report))


@app.command(name="round")
def round_(
    notes: NotesArg,
    budget: Budget = 20,
    strategy: str = "uncertainty",
    no_push: Annotated[bool, typer.Option("--no-push", help="Stop after selection.")] = False,
) -> None:
    """One whole round: ingest -> predict/score -> select -> push, with a summary."""
    from connectors.label_studio.client import LabelStudioError
    from models.text import ClinicalTextAnnotator
    from services.core.settings import get_settings
    from services.loop.round import run_text_round

    settings = get_settings()
    store = _store()
    client = None if no_push else _client()
    try:
        with progress_bars() as bars:
            report = run_text_round(
                store,
                ClinicalTextAnnotator().fit(),
                notes,
                budget,
                client=client,
                project_title=settings.label_studio_project,
                max_note_bytes=settings.max_note_bytes,
                strategy=strategy,
                progress=bars,
            )
    except LabelStudioError as err:
        _fail(f"{err}\nNothing was recorded as pushed; run the same command again when Label Studio is back.")
    for table in round_summary(report):
        console.print(table)


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
) -> None:
    """Run the API (webhooks, Label Studio ML backend) with uvicorn."""
    import uvicorn

    uvicorn.run("services.api.app:create_app", factory=True, host=host, port=port, log_level="info")


@app.command()
def status() -> None:
    """Counts in the store and the latest rounds."""
    from rich.table import Table

    store = _store()
    table = Table(title="Store")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in store.counts().items():
        table.add_row(name, str(n))
    console.print(table)
    rounds = Table(title="Rounds")
    for col in ("id", "strategy", "model version", "selected", "pushed", "created"):
        rounds.add_column(col)
    for r in store.rounds()[-10:]:
        rounds.add_row(str(r.id), r.strategy, r.model_version, str(len(r.selected_task_ids)), "yes" if r.pushed else "no", f"{r.created_at:%Y-%m-%d %H:%M}")
    console.print(rounds)


@eval_app.command("assertion")
def eval_assertion(
    negex: Annotated[Path, typer.Option("--negex", exists=True, dir_okay=False, help="NegEx annotation TSV.")],
    compare_peers: Annotated[bool, typer.Option("--compare-peers", help="Also run medspaCy ConText defaults and negspacy.")] = False,
    show_errors: Annotated[bool, typer.Option("--show-errors", help="Log every misjudged row to stderr.")] = False,
) -> None:
    """Assertion accuracy on a NegEx-format TSV; prints one JSON object."""
    from models.text.negex_eval import evaluate_negex

    try:
        result = evaluate_negex(negex, compare_peers=compare_peers, show_errors=show_errors)
    except ValueError as err:
        _fail(str(err))
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


@app.command()
def demo(
    notes: Annotated[Path, typer.Option(help="Notes to run the round on.")] = Path("data_samples/notes"),
    budget: Budget = 20,
    once: Annotated[bool, typer.Option("--once", help="Exit after the summary instead of serving.")] = False,
) -> None:
    """Start Label Studio and the API locally, run one round, print how to log in."""
    from services.cli.demo import run_demo

    raise typer.Exit(run_demo(notes, budget, once))


if __name__ == "__main__":
    app()
