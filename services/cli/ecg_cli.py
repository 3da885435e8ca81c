"""CLI commands for ECG: ``cliniloop ecg ...`` and ``cliniloop eval ecg-detect / ecg-classify``."""

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

ecg_app = typer.Typer(help="ECG beats: windows, detection and classification, Label Studio round trips, WFDB export.", no_args_is_help=True)


@ecg_app.command("ingest")
def ecg_ingest(
    path: Annotated[Path, typer.Argument(help="A WFDB record (.hea), .edf/.bdf, .csv, or a folder of them.")],
    lead: Annotated[str | None, typer.Option("--lead", help="Lead to show first and detect on (default MLII, II, ... else the first).")] = None,
    sampling_rate: Annotated[float | None, typer.Option("--sampling-rate", help="Hz, for CSV files.")] = None,
    window_s: Annotated[float, typer.Option("--window-s", min=2.0, help="Seconds of ECG per task (plus 1 s of context each side).")] = 10.0,
    engine: EngineOpt = "local",
    address: AddressOpt = None,
    workers: WorkersOpt = None,
) -> None:
    """Check recordings and store one task per window (a bad recording is reported and stores nothing)."""
    from cliniloop.services.loop.ecg import ingest_ecg

    options = engine_options(engine, address, workers)
    try:
        if options.is_ray:
            from cliniloop.services.scale.ray_engine import ray_ingest_records

            cli_store()  # created and migrated once, by the driver
            kw = {"lead": lead, "sampling_rate": sampling_rate, "window_s": window_s}
            report = run_on_ray(options, lambda pool: ray_ingest_records(pool, "ecg", path, kw))
        else:
            report = ingest_ecg(cli_store(), path, lead=lead, sampling_rate=sampling_rate, window_s=window_s)
    except FileNotFoundError as err:
        fail(str(err))
    console.print(f"ECG: {report.records} recordings, {len(report.added)} new windows, {len(report.existing)} already stored, {len(report.errors)} rejected")
    for err in report.errors:
        err_console.print(f"[red]rejected[/red] {err}", soft_wrap=True)


@ecg_app.command("predict")
def ecg_predict(
    chunk_s: Annotated[float, typer.Option("--chunk-s", min=30.0, help="Seconds read at a time.")] = 300.0,
    engine: EngineOpt = "local",
    address: AddressOpt = None,
    workers: WorkersOpt = None,
) -> None:
    """Detect and classify beats of every ingested recording; one prediction per window."""
    from cliniloop.models.ecg.detect import BeatDetector
    from cliniloop.services.core.settings import get_settings
    from cliniloop.services.loop.ecg import predict_ecg
    from cliniloop.services.loop.first_round import ecg_classifier

    options = engine_options(engine, address, workers)
    store = cli_store()
    settings = get_settings()
    if options.is_ray:
        from cliniloop.services.scale.ray_engine import ray_predict_signals

        mapping = str(settings.ecg_beat_mapping) if settings.ecg_beat_mapping else None
        n, skipped = run_on_ray(options, lambda pool: ray_predict_signals(pool, store, "ecg", {"chunk_s": chunk_s, "mapping_path": mapping}), use_gpu=True)
        console.print(f"predicted {n} ECG windows")
        for err in skipped:
            console.print(f"  skipped (a re-run retries it) {err.path}: {err.reason}")
        return
    classifier, source = ecg_classifier(store, settings)
    if source == "default":
        err_console.print(f"no beat classifier trained yet: using the default shipped with cliniloop ({classifier.version}, MIT-BIH DS1 beats)")
    elif classifier is None:
        err_console.print("no beat classifier trained yet (`cliniloop ecg train`) and the default cannot be loaded: beats are detected and labelled N")
    failures: list = []
    with progress_bars() as bars:
        n = predict_ecg(
            store, BeatDetector().fit(), classifier, chunk_s=chunk_s, progress=bars("windows", store.count_tasks("ecg")),
            mapping_path=settings.ecg_beat_mapping, failures=failures,
        )  # fmt: skip
    console.print(f"predicted {n} ECG windows")
    if failures:
        console.print(f"{len(failures)} recording(s) skipped (a re-run retries them):")
        for err in failures:
            console.print(f"  {err.path}: {err.reason}")


@ecg_app.command("train")
def ecg_train(
    wfdb_dir: Annotated[list[Path] | None, typer.Option("--wfdb-dir", help="Folder of reference WFDB records (RECORDS file); repeatable.")] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", min=1, help="CNN only.")] = None,
    model: Annotated[str, typer.Option("--model", help="gbm (boosted, default) or cnn.")] = "gbm",
) -> None:
    """Train the beat classifier on reference records plus corrected beats; promote it only when not worse on the dev split."""
    from cliniloop.services.core.settings import get_settings
    from cliniloop.services.loop.ecg_train import train_ecg_classifier

    try:
        result = train_ecg_classifier(cli_store(), get_settings(), wfdb_dir or [], epochs=epochs, model=model, progress=lambda m: err_console.print(m))
    except ValueError as err:
        fail(str(err))
    console.print(result.summary())


@ecg_app.command("push")
def ecg_push(
    budget: Annotated[int, typer.Option("--budget", "-n", min=1, help="Windows to send: the most uncertain, rare-class first.")] = 20,
    project: Annotated[str, typer.Option("--project", help="Label Studio project title.")] = "cliniloop ECG beats",
    strategy: Annotated[str, typer.Option("--strategy", help="A sampling strategy (see `cliniloop select --help`).")] = "uncertainty",
) -> None:
    """Select the next windows (a recorded round) and send them with their predicted beats: `cliniloop round --modality ecg` without ingest."""
    select_and_push("ecg", budget, project, strategy)


@ecg_app.command("pull")
def ecg_pull(project: Annotated[str, typer.Option("--project")] = "cliniloop ECG beats") -> None:
    """Bring corrected beats back (creates, updates, deletions): `cliniloop pull --modality ecg`."""
    pull_and_print("ecg", project)


@ecg_app.command("export")
def ecg_export(
    out: Annotated[Path, typer.Option("--out", file_okay=False, help="Folder for <record>.<ext> annotation files and CSVs.")],
    extension: Annotated[str, typer.Option("--extension", help="WFDB annotation file extension.")] = "cliniloop",
    only_corrected: Annotated[bool, typer.Option("--only-corrected", help="Only windows an annotator corrected.")] = False,
) -> None:
    """Write beats as WFDB annotation files (readable by wfdb.rdann) and CSV, in samples of the original recordings."""
    from cliniloop.services.loop.ecg import export_beats

    from cliniloop.services.core.private import private_tree

    written = export_beats(cli_store(), out, extension=extension, only_corrected=only_corrected)
    private_tree(out)
    console.print(f"wrote {sum(written.values())} beats of {len(written)} recordings to {out}")


def eval_ecg_detect(
    wfdb_dir: Annotated[Path, typer.Option("--wfdb-dir", help="Folder of WFDB records with .atr references.")],
    records: Annotated[list[str] | None, typer.Option("--records", help="Record names (default: the RECORDS file).")] = None,
    lead: Annotated[str | None, typer.Option("--lead")] = None,
) -> None:
    """Beat detection vs reference (150 ms window): gross and per-record Se and PPV, CPU s per hour; prints one JSON object."""
    from cliniloop.services.evaluation.ecg_detect import evaluate_detection

    try:
        result = evaluate_detection(wfdb_dir, records=records or None, lead=lead)
    except ValueError as err:
        fail(str(err))
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


def eval_ecg_classify(
    train_dir: Annotated[Path, typer.Option("--train-dir", help="WFDB folder of training records (RECORDS file).")],
    test_dir: Annotated[Path | None, typer.Option("--test-dir", help="WFDB folder of test records.")] = None,
    train: Annotated[list[str] | None, typer.Option("--train", help="Training record names (default: RECORDS).")] = None,
    test: Annotated[list[str] | None, typer.Option("--test", help="Test record names (default: RECORDS of --test-dir).")] = None,
    cv: Annotated[bool, typer.Option("--cv", help="Cross-validation inside --train-dir, grouped by record.")] = False,
    folds: Annotated[int | None, typer.Option("--folds", min=2, help="Folds for --cv (default: the evaluator's scheme).")] = None,
    include_paced: Annotated[bool, typer.Option("--include-paced", help="Keep the paced records 102, 104, 107, 217.")] = False,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    plot: Annotated[Path | None, typer.Option("--plot", dir_okay=False, help="Write the confusion matrix as a PNG.")] = None,
    model: Annotated[str, typer.Option("--model", help="gbm (boosted, default) or cnn.")] = "gbm",
) -> None:
    """Beat classes vs reference: per-class Se/PPV, accuracy, macro-F1 over N/S/V/F, confusion matrix; prints one JSON object."""
    from cliniloop.services.evaluation.ecg_classify import confusion_plot, evaluate_classification

    if not cv and test_dir is None and not test:
        fail("give --test-dir (or --test names), or --cv", 2)
    try:
        result = evaluate_classification(
            train_dir, test_dir, train=train or None, test=test or None, cv=cv, folds=folds, include_paced=include_paced, seed=seed,
            model=model,
        )
    except ValueError as err:
        fail(str(err))
    if plot is not None:
        confusion_plot(result, plot)
        err_console.print(f"confusion matrix written to {plot}")
    _print_classify_table(result)
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


def _print_classify_table(result: dict) -> None:
    """Per-class Se/PPV/F1 table, macro-F1, calibration and seconds on stderr (stdout stays one JSON object)."""
    from rich.table import Table

    table = Table(title=f"{result['scheme']}")
    for col in ("class", "sensitivity", "PPV", "F1", "support", "predicted"):
        table.add_column(col)
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    for c, row in result["per_class"].items():
        table.add_row(c, fmt(row["sensitivity"]), fmt(row["ppv"]), fmt(row["f1"]), str(row["support"]), str(row["predicted"]))
    err_console.print(table)
    cal = result["calibration"]
    err_console.print(
        f"macro-F1 (N, S, V, F) {result['macro_f1']}  accuracy {result['accuracy']}  "
        f"ECE {cal['ece']}  NLL {cal['nll']}  Brier {cal['brier']}  {result['seconds']} s"
    )


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    """Attach these commands to the main CLI."""
    app.add_typer(ecg_app, name="ecg")
    eval_app.command("ecg-detect")(eval_ecg_detect)
    eval_app.command("ecg-classify")(eval_ecg_classify)
