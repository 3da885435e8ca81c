"""The ``cliniloop`` command line: one sub-command per loop step, plus serve, status, eval, demo."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.logging import RichHandler

from cliniloop.services.cli.bench_cli import register as register_bench
from cliniloop.services.cli.codes_cli import register as register_codes
from cliniloop.services.cli.context import cli_store, label_studio_client, quality_push_options
from cliniloop.services.cli.corrections_cli import corrections_line
from cliniloop.services.cli.corrections_cli import register as register_corrections
from cliniloop.services.cli.deid_cli import deid_app
from cliniloop.services.cli.deid_cli import register as register_deid
from cliniloop.services.cli.ecg_cli import register as register_ecg
from cliniloop.services.cli.eeg_cli import register as register_eeg
from cliniloop.services.cli.engine_cli import AddressOpt, EngineOpt, WorkersOpt, engine_options, run_on_ray
from cliniloop.services.cli.image_cli import register as register_image
from cliniloop.services.cli.experiments import register as register_experiments
from cliniloop.services.cli.loop_cli import ModalityOpt, modality_or_fail, pull_and_print, push_round, refresh_predictions, select_round, train_modality
from cliniloop.services.cli.mappings_cli import register as register_mappings
from cliniloop.services.cli.mappings_cli import report_app
from cliniloop.services.cli.quality_cli import register as register_quality
from cliniloop.services.cli.render import interrupted_push_note
from cliniloop.services.cli.render import (
    console,
    err_console,
    fail,
    fraction_progress,
    ingest_table,
    job_detail,
    job_progress,
    jobs_table,
    models_table,
    progress_bars,
    promotion_summary,
    pull_line,
    push_line,
    round_summary,
)

app = typer.Typer(help="cliniloop: clinical annotation with active learning.", no_args_is_help=True)
eval_app = typer.Typer(help="Accuracy and speed checks; each prints one JSON object on stdout.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
models_app = typer.Typer(help="Trained model versions: list, promote, roll back.", no_args_is_help=True)
app.add_typer(models_app, name="models")

NotesArg = Annotated[Path, typer.Argument(help="A note file or a folder of notes (UTF-8 text).")]
Budget = Annotated[int, typer.Option("--budget", "-n", min=1, help="How many tasks to select.")]


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False) -> None:
    from cliniloop.services.core.private import private_umask

    private_umask()  # whatever the CLI writes (store, exports, secrets, Label Studio's data) is owner-only
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False)],
    )
    for noisy in ("httpx", "httpcore", "urllib3", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


_store = cli_store
_client = label_studio_client


@app.command()
def ingest(notes: NotesArg, engine: EngineOpt = "local", address: AddressOpt = None, workers: WorkersOpt = None) -> None:
    """De-identify notes and store them as tasks (re-ingesting a note never duplicates a task)."""
    from cliniloop.connectors.sources.notes import count_note_files
    from cliniloop.services.core.settings import get_settings
    from cliniloop.services.loop.deid import NoteDeidentifier, deid_secret
    from cliniloop.services.loop.ingest import ingest_notes

    options = engine_options(engine, address, workers)
    settings = get_settings()
    store = _store()
    try:
        files = count_note_files(notes)
        deidentifier = None if options.is_ray else NoteDeidentifier.from_settings(settings)
        secret = deid_secret(settings) if options.is_ray else None
    except (FileNotFoundError, ValueError) as err:
        fail(str(err))
    if options.is_ray:
        from cliniloop.services.scale.ray_engine import ray_ingest_notes

        def step(pool):
            with progress_bars() as bars:
                return ray_ingest_notes(pool, notes, keep_original=settings.deid_keep_original, progress=bars("ingest", files))

        report = run_on_ray(options, step, deid_secret=secret)
    else:
        with progress_bars() as bars:
            report = ingest_notes(
                store, notes, settings.max_note_bytes, deidentifier, bars("ingest", files), keep_original=settings.deid_keep_original
            )
    console.print(f"ingested: {len(report.added)} new, {len(report.existing)} already stored, {len(report.errors)} rejected")
    if report.added:
        kept = "original text kept apart" if settings.deid_keep_original else "original text not stored"
        summary = ", ".join(f"{t} {n}" for t, n in sorted(report.identifiers.items())) or "none"
        console.print(f"de-identified with {report.detector} ({kept}); identifiers replaced: {summary}")
    if report.errors:
        console.print(ingest_table(report))


@app.command()
def predict(
    batch_size: Annotated[int, typer.Option(min=1)] = 16, engine: EngineOpt = "local", address: AddressOpt = None, workers: WorkersOpt = None
) -> None:
    """Pre-annotate and score every text task without a prediction of the current model.

    The current model is the rules alone, or rules + the promoted clinical-ner version.
    """
    from cliniloop.services.core.settings import get_settings
    from cliniloop.services.loop.predict import NER_MODEL_NAME, ModelArtifactMissing, load_text_model, ner_artifact_path, predict_tasks

    options = engine_options(engine, address, workers)
    store = _store()
    try:
        if options.is_ray:  # the workers load the model; check here that its files exist
            ner = store.alias(NER_MODEL_NAME)
            if ner is not None:
                ner_artifact_path(store, get_settings(), ner)
        else:
            model = load_text_model(store, get_settings())
    except ModelArtifactMissing as err:
        fail(f"{err}\nRoll back (`cliniloop models rollback`) or promote another version.")
    if options.is_ray:
        from cliniloop.services.scale.ray_engine import ray_predict_text

        def step(pool):
            with progress_bars() as bars:
                return ray_predict_text(pool, store, batch_size=batch_size, progress=bars("predict", store.count_tasks("text")))

        report = run_on_ray(options, step)
    else:
        with progress_bars() as bars:
            report = predict_tasks(store, model, batch_size=batch_size, progress=bars("predict", store.count_tasks("text")))
    console.print(f"predicted {report.predicted} tasks, {report.already_predicted} up to date; model {report.model_version}")
    if report.failed:
        console.print(f"{len(report.failed)} task(s) failed and were skipped (a re-run retries only them):")
        for name, error in report.failed:
            console.print(f"  {name}: {error}")


@app.command()
def select(
    budget: Budget = 20,
    strategy: Annotated[
        str,
        typer.Option(help="uncertainty, least_confidence, margin, entropy, bald, badge, kcenter, uncertainty_kcenter, uncertainty_cluster, random, sequential, ..."),
    ] = "uncertainty",
    seed: Annotated[int, typer.Option(min=0, help="Seed for random choices (random, k-center, clustering).")] = 0,
    cost_aware: Annotated[bool, typer.Option("--cost-aware", help="Divide uncertainty by expected annotation cost (seconds, seconds of signal, regions).")] = False,
    rare_boost: Annotated[float | None, typer.Option(min=0.0, help="Strength of the rare-label boost (e.g. 1.0).")] = None,
    modality: ModalityOpt = "text",
) -> None:
    """Choose the next tasks for annotators and record a round."""
    sel = select_round(modality, budget, strategy, seed=seed, cost_aware=cost_aware, rare_boost=rare_boost)
    console.print(f"round {sel.round_id}: selected {len(sel.task_ids)} tasks by {sel.strategy} ({sel.model_version})")


@app.command()
def push(
    round_id: Annotated[int | None, typer.Option("--round", help="Round to push (default: the newest).")] = None,
    modality: ModalityOpt = "text",
    project: Annotated[str | None, typer.Option("--project", help="Label Studio project title (default: the modality's).")] = None,
) -> None:
    """Send a round's tasks with predictions to Label Studio (each task exactly once)."""
    push_round(modality, round_id, project)


@app.command()
def pull(
    modality: ModalityOpt = "text",
    project: Annotated[str | None, typer.Option("--project", help="Label Studio project title (default: the modality's).")] = None,
) -> None:
    """Bring annotations from Label Studio into the store (creates, updates, deletions)."""
    pull_and_print(modality, project)


@app.command(name="round")
def round_(
    notes: Annotated[Path | None, typer.Argument(help="Notes, recordings or images to ingest first (a file or a folder); omit to reuse what is stored.")] = None,
    budget: Budget = 20,
    strategy: str = "uncertainty",
    no_push: Annotated[bool, typer.Option("--no-push", help="Stop after selection.")] = False,
    modality: ModalityOpt = "text",
    cost_aware: Annotated[bool, typer.Option("--cost-aware", help="Divide uncertainty by expected annotation cost.")] = False,
    seed: Annotated[int, typer.Option(min=0)] = 0,
) -> None:
    """One whole round: ingest -> predict/score -> select (recorded) -> push, with a summary; any modality."""
    from cliniloop.connectors.label_studio.client import LabelStudioError
    from cliniloop.models.sampling.selection import EmptyPoolError
    from cliniloop.services.core.settings import get_settings
    from cliniloop.services.loop.predict import ModelArtifactMissing
    from cliniloop.services.loop.round import run_round

    mod = modality_or_fail(modality)
    settings = get_settings()
    store = _store()
    client = None if no_push else _client()
    try:
        with progress_bars() as bars:
            report = run_round(
                store, mod.name, notes, budget, client=client, strategy=strategy, settings=settings, progress=bars,
                cost_aware=cost_aware, seed=seed,
            )  # fmt: skip
    except ModelArtifactMissing as err:
        fail(f"{err}\nRoll back (`cliniloop models rollback`) or promote another version.")
    except (FileNotFoundError, EmptyPoolError, ValueError) as err:
        fail(str(err))
    except LabelStudioError as err:
        rounds = store.rounds()
        fail(f"{err}\n{interrupted_push_note(store, client, rounds[-1].selected_task_ids if rounds else [])}")
    for table in round_summary(report):
        console.print(table)


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    engine: Annotated[str | None, typer.Option("--engine", help="Where jobs (training) run: local (a thread) or ray (Ray tasks); default CLINILOOP_ENGINE.")] = None,
    address: AddressOpt = None,
) -> None:
    """Run the API (webhooks, Label Studio ML backend) with uvicorn."""
    import os

    import uvicorn

    from cliniloop.services.core.settings import get_settings

    if engine is not None or address is not None:
        engine_options(engine or "ray", address, None)
        os.environ["CLINILOOP_ENGINE"] = engine or "ray"
        if address:
            os.environ["CLINILOOP_RAY_ADDRESS"] = address
        get_settings.cache_clear()
    uvicorn.run("cliniloop.services.api.app:create_app", factory=True, host=host, port=port, log_level="info")


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


def _requester() -> str:
    import getpass

    try:
        return f"cli ({getpass.getuser()})"
    except Exception:  # no user name in some containers
        return "cli"


def _run_and_wait(store, job_id: int) -> None:
    """Run queued jobs here with progress bars, then wait for ``job_id`` if another worker has it."""
    from cliniloop.services.core.settings import get_settings
    from cliniloop.services.loop.jobs import run_pending, wait_for_job

    with job_progress() as listener:
        run_pending(store, get_settings(), listener=listener)
        job = wait_for_job(store, job_id, listener=listener)
    for table in job_detail(job):
        console.print(table)
    if job.status == "failed":
        fail(f"job {job.id} failed: {job.error}")


@app.command()
def train(
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Run the job here and show its progress (default), or only queue it.")] = True,
    max_iterations: Annotated[int | None, typer.Option(min=1, help="CRF iterations (default: CLINILOOP_NER_MAX_ITERATIONS).")] = None,
    modality: ModalityOpt = "text",
    data: Annotated[
        list[Path] | None,
        typer.Option("--data", help="Reference data (repeatable): ECG WFDB folder, EEG Bonn folder, VOC folder, or image-masks IMAGES LABELS pairs."),
    ] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", min=1, help="Torch models only.")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    model: Annotated[
        str | None,
        typer.Option("--model", help="text: auto, crf or transformer (default: CLINILOOP_NER_MODEL); ecg: the beat model."),
    ] = None,
) -> None:
    """Train the clinical NER tagger on the stored annotations; promote it if it is not worse.

    The job is queued (joining one already queued). With --wait (default) this process runs the
    queued jobs with a progress bar and prints a summary; if the API's worker took the job,
    it follows that one instead. With --no-wait the API's worker (or `cliniloop jobs --run`) runs it.
    """
    from cliniloop.services.loop.jobs import TRAIN_TEXT, enqueue_job

    if modality_or_fail(modality).name != "text":
        train_modality(modality, data or [], epochs=epochs, seed=seed, model=model)
        return
    if model not in (None, "auto", "crf", "transformer"):
        fail(f"--model {model!r}: choose auto, crf or transformer for text", 2)
    store = _store()
    params: dict = {"max_iterations": max_iterations} if max_iterations else {}
    if model:
        params["model"] = model
    if epochs and model in ("auto", "transformer", None):
        params["transformer"] = {"epochs": epochs}
    job_id = enqueue_job(store, TRAIN_TEXT, params, requested_by=_requester())
    err_console.print(f"training job {job_id} queued")
    if not wait:
        console.print(f"job {job_id} queued; follow it with `cliniloop jobs {job_id}`")
        return
    _run_and_wait(store, job_id)


@app.command()
def jobs(
    job_id: Annotated[int | None, typer.Argument(help="Show this job in detail.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many recent jobs to list.")] = 20,
    run: Annotated[bool, typer.Option("--run", help="Run the queued jobs in this process first.")] = False,
) -> None:
    """List recent jobs, or show one job (status, progress, result or error)."""
    from cliniloop.services.core.settings import get_settings
    from cliniloop.services.loop.jobs import run_pending

    store = _store()
    if run:
        with job_progress() as listener:
            ran = run_pending(store, get_settings(), listener=listener)
        err_console.print(f"ran {len(ran)} job(s)")
    if job_id is None:
        console.print(jobs_table(store.jobs(limit=limit)))
        return
    job = store.job(job_id)
    if job is None:
        fail(f"no job {job_id}")
    for table in job_detail(job):
        console.print(table)


ModelName = Annotated[str | None, typer.Option("--name", help="Model name (default: the modality's trained model).")]


def _model_name(name: str | None, modality: str) -> str:
    return name or modality_or_fail(modality).trained_model


@models_app.command("list")
def models_list(name: ModelName = None, modality: ModalityOpt = "text") -> None:
    """Registered versions with their dev metrics; the promoted one is starred."""
    from cliniloop.services.loop.models import model_listing

    console.print(models_table(model_listing(_store(), _model_name(name, modality))))


def _move_alias(action: str, name: str, version: str | None) -> None:
    from cliniloop.services.core.settings import get_settings
    from cliniloop.services.core.store import NoEarlierVersion
    from cliniloop.services.loop import models

    store = _store()
    try:
        with fraction_progress("refresh") as progress:
            if action == "promote":
                report = models.promote(store, get_settings(), name, version or "", actor=_requester(), reason="manual", progress=progress)
            else:
                report = models.rollback(store, get_settings(), name, actor=_requester(), reason="manual", progress=progress)
    except KeyError as err:
        fail(f"{err.args[0]}; see `cliniloop models list`")
    except NoEarlierVersion as err:
        fail(str(err))
    console.print(promotion_summary(report))


@models_app.command("promote")
def models_promote(
    version: Annotated[str, typer.Argument(help="A registered version (see `cliniloop models list`).")], name: ModelName = None, modality: ModalityOpt = "text"
) -> None:
    """Promote a version by hand (no metric check), refresh predictions and Label Studio."""
    _move_alias("promote", _model_name(name, modality), version)
    refresh_predictions(modality)


@models_app.command("rollback")
def models_rollback(name: ModelName = None, modality: ModalityOpt = "text") -> None:
    """Move the production alias back to the version promoted before the current one."""
    _move_alias("rollback", _model_name(name, modality), None)
    refresh_predictions(modality)


@eval_app.command("assertion")
def eval_assertion(
    negex: Annotated[Path, typer.Option("--negex", exists=True, dir_okay=False, help="NegEx annotation TSV.")],
    compare_peers: Annotated[bool, typer.Option("--compare-peers", help="Also run medspaCy ConText defaults and negspacy.")] = False,
    show_errors: Annotated[bool, typer.Option("--show-errors", help="Log every misjudged row to stderr.")] = False,
) -> None:
    """Assertion accuracy on a NegEx-format TSV; prints one JSON object."""
    from cliniloop.services.evaluation.negex import evaluate_negex

    try:
        result = evaluate_negex(negex, compare_peers=compare_peers, show_errors=show_errors)
    except ValueError as err:
        fail(str(err))
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


@app.command()
def demo(
    notes: Annotated[Path, typer.Option(help="Notes to run the round on.")] = Path("data_samples/notes"),
    budget: Budget = 20,
    once: Annotated[bool, typer.Option("--once", help="Exit after the summary instead of serving.")] = False,
) -> None:
    """Start Label Studio and the API locally, run one round, print how to log in."""
    from cliniloop.services.cli.demo import run_demo

    raise typer.Exit(run_demo(notes, budget, once))


register_experiments(app, eval_app)
register_codes(app, eval_app)
register_mappings(app)
register_deid(app, eval_app, report_app)
register_corrections(deid_app)
register_ecg(app, eval_app)
register_eeg(app, eval_app)
register_image(app, eval_app)
register_quality(app, report_app)
register_bench(app)

if __name__ == "__main__":
    app()
