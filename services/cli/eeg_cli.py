"""CLI commands for EEG: ``cliniloop eeg ...`` and ``cliniloop eval eeg-seizure / eeg-events``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from cliniloop.services.cli.context import cli_store
from cliniloop.services.cli.loop_cli import pull_and_print, select_and_push
from cliniloop.services.cli.engine_cli import AddressOpt, EngineOpt, WorkersOpt, engine_options, run_on_ray
from cliniloop.services.cli.render import console, err_console, fail, progress_bars

eeg_app = typer.Typer(help="EEG events: seizures, artifacts and sleep stages on EDF windows, Label Studio round trips, EDF+/CSV/TSV export.", no_args_is_help=True)

PROJECT = "cliniloop EEG events"


@eeg_app.command("ingest")
def eeg_ingest(
    path: Annotated[Path, typer.Argument(help="An .edf/.bdf recording (EDF+ too), a text segment, or a folder of EDF/BDF files.")],
    channels: Annotated[list[str] | None, typer.Option("--channel", help="Channel to show and score (repeatable; default all EEG channels).")] = None,
    sampling_rate: Annotated[float | None, typer.Option("--sampling-rate", help="Hz: needed for text segments, checked for EDF.")] = None,
    window_s: Annotated[float, typer.Option("--window-s", min=5.0, help="Seconds of EEG per task.")] = 30.0,
    engine: EngineOpt = "local",
    address: AddressOpt = None,
    workers: WorkersOpt = None,
) -> None:
    """Check recordings and store one task per window (a bad recording is reported and stores nothing)."""
    from cliniloop.services.loop.eeg import ingest_eeg

    options = engine_options(engine, address, workers)
    try:
        if options.is_ray:
            from cliniloop.services.scale.ray_engine import ray_ingest_records

            cli_store()  # created and migrated once, by the driver
            kw = {"channels": channels or None, "sampling_rate": sampling_rate, "window_s": window_s}
            report = run_on_ray(options, lambda pool: ray_ingest_records(pool, "eeg", path, kw))
        else:
            report = ingest_eeg(cli_store(), path, channels=channels or None, sampling_rate=sampling_rate, window_s=window_s)
    except FileNotFoundError as err:
        fail(str(err))
    console.print(f"EEG: {report.records} recordings, {len(report.added)} new windows, {len(report.existing)} already stored, {len(report.errors)} rejected")
    for err in report.errors:
        err_console.print(f"[red]rejected[/red] {err}", soft_wrap=True)
    if report.errors and not report.records:
        raise typer.Exit(1)


@eeg_app.command("predict")
def eeg_predict(
    block_s: Annotated[float, typer.Option("--block-s", min=30.0, help="Seconds read at a time (bounds memory).")] = 300.0,
    sleep: Annotated[bool, typer.Option("--sleep/--no-sleep", help="Sleep stages with YASA where a suitable EEG channel exists.")] = True,
    engine: EngineOpt = "local",
    address: AddressOpt = None,
    workers: WorkersOpt = None,
) -> None:
    """Seizure events, artifact flags and sleep stages for every ingested recording; one prediction per window."""
    from cliniloop.services.core.settings import get_settings
    from cliniloop.services.loop.eeg import predict_eeg
    from cliniloop.services.loop.first_round import eeg_detector

    options = engine_options(engine, address, workers)
    store = cli_store()
    if options.is_ray:
        from cliniloop.services.scale.ray_engine import ray_predict_signals

        n, skipped = run_on_ray(options, lambda pool: ray_predict_signals(pool, store, "eeg", {"sleep": sleep, "block_s": block_s}), use_gpu=True)
        console.print(f"predicted {n} EEG windows")
        for err in skipped:
            console.print(f"  skipped (a re-run retries it) {err.path}: {err.reason}")
        return
    detector, source = eeg_detector(store, get_settings())
    if source == "default":
        err_console.print(f"no seizure detector trained yet: using the default shipped with cliniloop ({detector.version}, Bonn EEG)")
    elif detector is None:
        err_console.print("no seizure detector trained yet (`cliniloop eeg train --bonn DIR`) and the default cannot be loaded: only artifacts and sleep stages are predicted")
    failures: list = []
    with progress_bars() as bars:
        n = predict_eeg(store, detector, sleep=sleep, block_s=block_s, progress=bars("windows", store.count_tasks("eeg")), failures=failures)
    console.print(f"predicted {n} EEG windows")
    if failures:
        console.print(f"{len(failures)} recording(s) skipped (a re-run retries them):")
        for err in failures:
            console.print(f"  {err.path}: {err.reason}")


@eeg_app.command("train")
def eeg_train(
    bonn: Annotated[list[Path] | None, typer.Option("--bonn", help="Bonn-format folder (Z O N F S); repeatable.")] = None,
    edf: Annotated[list[Path] | None, typer.Option("--edf", help="Recording with reference events (EDF+ annotations unless --events); repeatable.")] = None,
    events: Annotated[list[Path] | None, typer.Option("--events", help="Events file for the --edf of the same position (.seizures, .tsv, .csv, summary).")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """Train the seizure detector on reference data plus corrected windows; promote it only when not worse on the dev split."""
    from cliniloop.services.core.settings import get_settings
    from cliniloop.services.loop.eeg_train import train_eeg_detector

    edfs, side = edf or [], events or []
    if len(side) > len(edfs):
        fail("more --events than --edf files", 2)
    recordings = [(p, side[i] if i < len(side) else None) for i, p in enumerate(edfs)]
    try:
        result = train_eeg_detector(cli_store(), get_settings(), bonn_dirs=bonn or [], recordings=recordings, seed=seed, progress=lambda m: err_console.print(m))
    except ValueError as err:
        fail(str(err))
    console.print(result.summary())


@eeg_app.command("push")
def eeg_push(
    budget: Annotated[int, typer.Option("--budget", "-n", min=1, help="Windows to send: the most uncertain first.")] = 20,
    project: Annotated[str, typer.Option("--project", help="Label Studio project title (one project per channel montage).")] = PROJECT,
    strategy: Annotated[str, typer.Option("--strategy", help="A sampling strategy (see `cliniloop select --help`).")] = "uncertainty",
) -> None:
    """Select the next windows (a recorded round) and send them with their predicted events: `cliniloop round --modality eeg` without ingest."""
    select_and_push("eeg", budget, project, strategy)


@eeg_app.command("pull")
def eeg_pull(project: Annotated[str, typer.Option("--project")] = PROJECT) -> None:
    """Bring corrected events back from every montage's project: `cliniloop pull --modality eeg`."""
    pull_and_print("eeg", project)


@eeg_app.command("export")
def eeg_export(
    out: Annotated[Path, typer.Option("--out", file_okay=False, help="Folder for <record>_events.edf / .csv / .tsv.")],
    only_corrected: Annotated[bool, typer.Option("--only-corrected", help="Only windows an annotator corrected.")] = False,
) -> None:
    """Write events as EDF+ annotations (mne.read_annotations reads them), CSV and BIDS events.tsv, in seconds of the recordings."""
    from cliniloop.services.loop.eeg import export_events

    from cliniloop.services.core.private import private_tree

    written = export_events(cli_store(), out, only_corrected=only_corrected)
    private_tree(out)
    console.print(f"wrote {sum(written.values())} events of {len(written)} recordings to {out}")


def eval_eeg_seizure(
    train: Annotated[Path | None, typer.Option("--train", help="Bonn-format training folder (Z O N F S).")] = None,
    test: Annotated[Path | None, typer.Option("--test", help="Bonn-format test folder.")] = None,
    cv: Annotated[Path | None, typer.Option("--cv", help="Cross-validate inside this folder, grouped by segment.")] = None,
    folds: Annotated[int, typer.Option("--folds", min=2)] = 5,
    sampling_rate: Annotated[float, typer.Option("--sampling-rate", help="Hz of the text segments.")] = 173.61,
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """Segment sensitivity/specificity, epoch AUROC and ms per minute of EEG on Bonn-format folders; prints one JSON object."""
    from cliniloop.services.evaluation.eeg_seizure import bonn_files, evaluate_seizure

    if cv is None and (train is None or test is None):
        fail("give --train and --test, or --cv", 2)
    try:
        total = sum(len(bonn_files(p)) for p in ([cv] if cv is not None else [train, test]))  # type: ignore[list-item]
        with progress_bars() as bars:
            result = evaluate_seizure(train, test, cv_dir=cv, folds=folds, seed=seed, sampling_rate=sampling_rate, progress=bars("segments", total))
    except ValueError as err:
        fail(str(err))
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


def eval_eeg_events(
    edf: Annotated[Path, typer.Option("--edf", help="The recording (.edf/.bdf).")],
    events: Annotated[Path, typer.Option("--events", help="Reference events: EDF+, .seizures, CHB-MIT summary, .tsv or .csv.")],
    model: Annotated[Path | None, typer.Option("--model", file_okay=False, help="A detector folder (default: the promoted one).")] = None,
    train_bonn: Annotated[Path | None, typer.Option("--train-bonn", help="Train a detector on this Bonn folder first.")] = None,
    channels: Annotated[list[str] | None, typer.Option("--channel", help="Channels to score (repeatable; default all).")] = None,
    tolerance_s: Annotated[float, typer.Option("--tolerance-s", min=0.0, help="Seconds a prediction may miss a reference by and still count.")] = 0.0,
) -> None:
    """Event sensitivity, false alarms per hour and onset latency against reference events; prints one JSON object."""
    from cliniloop.connectors.sources.eeg import EegFileError
    from cliniloop.connectors.sources.eeg_events import EegEventsError
    from cliniloop.models.eeg.seizure import SeizureDetector
    from cliniloop.services.core.settings import get_settings
    from cliniloop.services.evaluation.eeg_events import evaluate_events
    from cliniloop.services.loop.eeg_train import load_detector

    try:
        if model is not None:
            detector = SeizureDetector.load(model)
        elif train_bonn is not None:
            from cliniloop.services.evaluation.eeg_seizure import segment_features

            data = segment_features(train_bonn)
            detector = SeizureDetector().fit(None, data.labels, data.segment, features=data.features)
        else:
            detector = load_detector(cli_store(), get_settings())
            if detector is None:
                fail("no seizure detector: give --model DIR or --train-bonn DIR, or run `cliniloop eeg train` first", 2)
        result = evaluate_events(edf, events, detector, channels=channels or None, tolerance_s=tolerance_s)
    except (ValueError, EegFileError, EegEventsError) as err:
        fail(str(err))
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


def eval_eeg_long(
    hours: Annotated[float, typer.Option("--hours", min=0.2)] = 8.0,
    channels: Annotated[int, typer.Option("--channels", min=1)] = 19,
    sampling_rate: Annotated[int, typer.Option("--sampling-rate", min=64)] = 256,
    block_s: Annotated[float, typer.Option("--block-s", min=30.0)] = 300.0,
    workdir: Annotated[Path | None, typer.Option("--workdir", file_okay=False, help="Where the synthetic EDF files go (default: a temporary folder).")] = None,
) -> None:
    """Peak memory, time and planted seizures found on a synthetic many-hour recording; prints one JSON object."""
    import tempfile

    from cliniloop.services.evaluation.eeg_long import evaluate_long_recording

    with tempfile.TemporaryDirectory() as tmp:
        result = evaluate_long_recording(workdir or Path(tmp), hours=hours, channels=channels, sampling_rate=sampling_rate, block_s=block_s)
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    """Attach these commands to the main CLI."""
    app.add_typer(eeg_app, name="eeg")
    eval_app.command("eeg-seizure")(eval_eeg_seizure)
    eval_app.command("eeg-events")(eval_eeg_events)
    eval_app.command("eeg-long")(eval_eeg_long)
