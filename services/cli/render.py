"""Rich rendering of step reports and round summaries (stdout); logs go to stderr."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, NoReturn

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from cliniloop.services.core.tables import JobRow
from cliniloop.services.loop.ingest import IngestReport
from cliniloop.services.loop.models import PromotionReport
from cliniloop.services.loop.pull import PullReport
from cliniloop.services.loop.push import PushReport
from cliniloop.services.loop.round import RoundReport, TaskStats

console = Console()
err_console = Console(stderr=True)

_BLOCKS = " ▁▂▃▄▅▆▇█"


@contextmanager
def progress_bars() -> Iterator[Callable[[str, int], Callable[[int], None]]]:
    """Yield ``factory(step_name, total) -> advance(n)`` backed by rich progress bars on stderr."""
    with Progress(
        TextColumn("[bold]{task.description:<8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    ) as bars:

        def factory(name: str, total: int) -> Callable[[int], None]:
            task = bars.add_task(name, total=max(total, 1))

            def advance(n: int) -> None:
                bars.advance(task, n)

            return advance

        yield factory


def ingest_table(report: IngestReport) -> Table:
    """Per-file errors of an ingest (empty table when none)."""
    from cliniloop.connectors.sources.notes import iter_note_paths

    # file and folder names may hold identifiers: files are shown by their number in the order
    # ingest reads them (sorted paths, as `find NOTES -type f | sort` lists them), never by name
    try:
        order = {p: i for i, p in enumerate(iter_note_paths(report.root), 1)}
    except OSError:
        order = {}
    table = Table(title="Files not ingested (numbered in sorted path order; names are not shown)", show_lines=False)
    table.add_column("file #", style="red", no_wrap=True, justify="right")
    table.add_column("type", no_wrap=True)
    table.add_column("reason", overflow="fold")
    for err in report.errors:
        ext = err.path.suffix.lower()
        table.add_row(str(order.get(err.path, "?")), ext if ext[1:].isascii() and ext[1:].isalnum() and len(ext) <= 6 else "", err.reason)
    return table


def sparkline(counts: list[int]) -> str:
    """Tiny histogram as block characters."""
    top = max(counts) if counts else 0
    return "".join(_BLOCKS[round(8 * c / top)] if top else " " for c in counts)


def stats_tables(stats: TaskStats) -> list[Table]:
    """Entities by type and assertion, and the uncertainty spread."""
    labels = sorted({lab for lab, _ in stats.entities})
    assertions = ["present", "absent", "possible", "hypothetical", "historical", "family"]
    ent = Table(title=f"Entities in {stats.tasks} selected tasks, by type and assertion")
    ent.add_column("type", style="bold")
    for a in assertions:
        ent.add_column(a, justify="right")
    ent.add_column("total", justify="right", style="bold")
    for lab in labels:
        row = [stats.entities.get((lab, a), 0) for a in assertions]
        ent.add_row(lab, *map(str, row), str(sum(row)))
    col_totals = [sum(stats.entities.get((lab, a), 0) for lab in labels) for a in assertions]
    ent.add_row("total", *map(str, col_totals), str(sum(col_totals)), style="bold")
    unc = Table(title="Task uncertainty (0 = sure, 1 = ask a human)")
    for k in ("min", "p25", "median", "p75", "max", "mean"):
        unc.add_column(k, justify="right")
    unc.add_column("histogram 0 → 1")
    if stats.uncertainty:
        unc.add_row(*(f"{stats.uncertainty[k]:.3f}" for k in ("min", "p25", "median", "p75", "max", "mean")), sparkline(stats.histogram))
    return [ent, unc]


def round_summary(report: RoundReport) -> list[Table]:
    """The round's summary tables."""
    steps = Table(title="Round summary")
    steps.add_column("step", style="bold")
    steps.add_column("result")
    ing = report.ingest
    if ing is None:
        steps.add_row("ingest", "skipped (no source given)")
    else:
        steps.add_row("ingest", f"{len(ing.added)} new, {len(ing.existing)} already stored, {len(ing.errors)} rejected")
    if ing is not None and ing.added and hasattr(ing, "identifiers"):
        replaced = ", ".join(f"{t} {n}" for t, n in sorted(ing.identifiers.items())) or "none found"
        steps.add_row("de-identify", f"identifiers replaced before storing: {replaced} ({ing.detector})")
    steps.add_row("predict", f"{report.predict.predicted} predicted, {report.predict.already_predicted} up to date ({report.predict.model_version})")
    sel = report.selection
    steps.add_row("select", f"{len(sel.task_ids)} tasks by {sel.strategy} (round {sel.round_id})")
    pushes = getattr(report, "pushes", None) or ([("", report.push)] if report.push is not None else [])
    for _, push in pushes:
        steps.add_row("push", push_line(push))
    if not pushes:
        steps.add_row("push", "skipped (no Label Studio)")
    if report.stopping is not None:
        steps.add_row("stopping rule", report.stopping.reason)
    tables = [steps, *stats_tables(report.stats)]
    if ing is not None and ing.errors and hasattr(ing, "root"):
        tables.append(ingest_table(ing))
    return tables


def push_line(report: PushReport) -> str:
    """One line describing a push (tasks skipped for bad data are counted; a re-run retries them)."""
    return (
        f"{len(report.created)} created, {len(report.already_present)} already in Label Studio, "
        f"{len(report.predictions_added)} new predictions; project {report.project_ref}"
        + (f"; {len(report.failed)} skipped (bad data, retried on the next push): "
           + ", ".join(tid[:12] for tid, _ in report.failed[:10]) if report.failed else "")  # fmt: skip
    )


def push_summary(report: PushReport, noun: str) -> str:
    """A modality push in words, every count honest: new tasks, tasks already there and how many of
    those got the newer model's prediction, gold checks mixed in, tasks skipped for bad data.

    >>> push_summary(PushReport(3, "ls/3", already_present=["a", "b"], predictions_added=["a", "b"]), "windows")
    '0 new windows sent; 2 already there, 2 of them given the new prediction'
    """
    line = f"{len(report.created)} new {noun} sent"
    if report.already_present:
        line += f"; {len(report.already_present)} already there"
        added = len(set(report.predictions_added) & set(report.already_present))
        line += f", {added} of them given the new prediction" if added else " (their prediction was already the newest)"
    if report.gold_added:
        line += f"; {report.gold_added} gold checks among the new"
    if report.failed:
        line += f"; {len(report.failed)} skipped (bad data, retried on the next push)"
    return line


def interrupted_push_note(store: Any, client: Any, task_ids: Sequence[str]) -> str:  # noqa: ARG001 - client kept for callers
    """What an interrupted push left behind: how many of its tasks are recorded as pushed.

    Tasks are recorded batch by batch, so after a crash some may be; a re-run sends only the
    rest (it checks Label Studio itself, so nothing is imported twice).
    """
    wanted = set(task_ids)
    done = len(_pushed_anywhere(store, None) & wanted)
    if not done:
        return "Nothing was recorded as pushed; run the same command again when Label Studio is back."
    return (f"{done} of {len(wanted)} task(s) were recorded as pushed before the error; run the same command again "
            "when Label Studio is back: it sends only the rest, never a task twice.")  # fmt: skip


def _pushed_anywhere(store: Any, project_ref: str | None) -> set[str]:
    from sqlalchemy import select

    from cliniloop.services.core.tables import PushRow

    with store.session() as s:
        q = select(PushRow.task_id)
        if project_ref:
            q = q.where(PushRow.project_ref == project_ref)
        return set(s.scalars(q))


def pull_line(report: PullReport) -> str:
    """One line describing a pull."""
    return (
        f"{report.tasks} tasks: {report.created} created, {report.updated} updated, {report.unchanged} unchanged, "
        f"{report.deleted} deleted, {report.skipped} skipped annotations ignored"
        + (f"; {report.adjudications_opened} disagreement(s) sent to adjudication" if report.adjudications_opened else "")
        + (f"; {report.adjudications_withdrawn} adjudication(s) withdrawn (annotators now agree)" if report.adjudications_withdrawn else "")
        + (f"; {len(report.failed)} Label Studio task(s) skipped, retried on the next pull: "
           + ", ".join(f"#{tid} ({err.split(':')[0]})" for tid, err in report.failed[:10]) if getattr(report, "failed", None) else "")  # fmt: skip
    )


def _fraction_bars() -> Progress:
    return Progress(
        TextColumn("[bold]{task.fields[label]:<8}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=err_console,
        transient=False,
    )


@contextmanager
def job_progress() -> Iterator[Callable[[int, float, str], None]]:
    """Yield ``listener(job_id, fraction, message)`` drawing one percentage bar per job on stderr."""
    with _fraction_bars() as bars:
        tasks: dict[int, TaskID] = {}

        def listener(job_id: int, fraction: float, message: str) -> None:
            if job_id not in tasks:
                tasks[job_id] = bars.add_task(message, total=1000, label=f"job {job_id}")
            bars.update(tasks[job_id], completed=round(1000 * fraction), description=message)

        yield listener


@contextmanager
def fraction_progress(label: str) -> Iterator[Callable[[float, str], None]]:
    """Yield ``progress(fraction, message)`` drawing one percentage bar on stderr."""
    with _fraction_bars() as bars:
        task = bars.add_task("", total=1000, label=label)

        def progress(fraction: float, message: str) -> None:
            bars.update(task, completed=round(1000 * fraction), description=message)

        yield progress


def _fmt(value: object, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _when(value: datetime | None, seconds: bool = True) -> str:
    if value is None:
        return "—"
    return f"{value:%Y-%m-%d %H:%M:%S}" if seconds else f"{value:%m-%d %H:%M}"


def _took(job: JobRow) -> str:
    if job.started_at is None or job.finished_at is None:
        return "—"
    return f"{(job.finished_at - job.started_at).total_seconds():.1f} s"


def jobs_table(jobs: Sequence[JobRow]) -> Table:
    """Jobs, newest first."""
    table = Table(title="Jobs")
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("done", justify="right", no_wrap=True)
    table.add_column("created", no_wrap=True)
    table.add_column("took", justify="right", no_wrap=True)
    table.add_column("message / error", overflow="fold")
    colours = {"queued": "yellow", "running": "cyan", "succeeded": "green", "failed": "red"}
    for j in jobs:
        table.add_row(
            str(j.id),
            j.kind,
            f"[{colours.get(j.status, 'white')}]{j.status}[/]",
            f"{100 * (j.progress or 0):.0f}%",
            _when(j.created_at, seconds=False),
            _took(j),
            j.error if j.status == "failed" else (j.message or ""),
        )
    return table


def metrics_table(title: str, rows: Sequence[tuple[str, dict | None]]) -> Table:
    """Strict-span P/R/F1 of several models side by side (``(name, metrics)`` rows)."""
    table = Table(title=title)
    table.add_column("model", style="bold")
    for col in ("precision", "recall", "f1", "support", "dev tasks"):
        table.add_column(col, justify="right")
    for name, m in rows:
        if m:
            table.add_row(name, _fmt(m.get("precision")), _fmt(m.get("recall")), _fmt(m.get("f1")), _fmt(m.get("support")), _fmt(m.get("dev_tasks")))
    return table


def job_detail(job: JobRow) -> list[Table]:
    """One job: its fields, and for a training job the version, decision and dev metrics."""
    table = Table(title=f"Job {job.id}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    table.add_row("kind", job.kind)
    table.add_row("status", job.status)
    table.add_row("progress", f"{100 * (job.progress or 0):.0f}% {job.message or ''}")
    table.add_row("requested by", job.requested_by or "—")
    table.add_row("created / started / finished", " / ".join(_when(t) for t in (job.created_at, job.started_at, job.finished_at)))
    if job.params:
        table.add_row("params", ", ".join(f"{k}={v}" for k, v in job.params.items()))
    if job.error:
        table.add_row("error", f"[red]{job.error}[/red]")
    tables = [table]
    result = job.result or {}
    if "version" in result:
        table.add_row("version", str(result["version"]))
        table.add_row("promoted", "[green]yes[/green]" if result.get("promoted") else "[yellow]no[/yellow]")
        table.add_row("reason", str(result.get("reason", "")))
        if "metric_name" in result:
            from cliniloop.services.loop.promotion import TrainResult

            fields = ("modality", "model_name", "version", "metric_name", "metric", "baseline", "promoted", "reason")
            table.add_row("dev check", TrainResult(**{k: result.get(k) for k in fields}).summary())
        table.add_row("previously promoted", str(result.get("previous_version") or "—"))
        table.add_row("train / dev tasks", f"{result.get('train_tasks')} / {result.get('dev_tasks')}")
        refresh = result.get("refresh") or {}
        if result.get("promoted"):
            table.add_row("text model", str(refresh.get("text_model_version") or "—"))
            table.add_row("predictions refreshed", str(refresh.get("predicted", 0)) + (f" [red]({refresh['error']})[/red]" if refresh.get("error") else ""))
            table.add_row("Label Studio", ("updated: " if refresh.get("label_studio_updated") else "") + str(refresh.get("label_studio", "")))
        rows = [(f"new {result['version']}", result.get("metrics"))]
        if result.get("current_metrics") and result.get("previous_version"):
            rows.append((f"promoted {result['previous_version']}", result["current_metrics"]))
        tables.append(metrics_table("Dev split (strict spans, micro)", rows))
    return tables


def models_table(listing: dict) -> Table:
    """Registered versions of a model with their dev metrics; the promoted one marked."""
    table = Table(
        title=f"Model {listing['name']} (promoted: {listing.get('promoted') or 'none'})",
        caption="P/R/F1: strict spans on the dev split at training time; dev, train: tasks"
        + (f"\nThis deployment: {listing['deployment']['rule']} (CLINILOOP_NER_MODEL)" if listing.get("deployment") else ""),
    )
    table.add_column("", no_wrap=True)
    table.add_column("version", no_wrap=True)
    table.add_column("model", no_wrap=True)
    for col in ("P", "R", "F1", "dev", "train"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("parent", overflow="fold")
    for v in listing["versions"]:
        m = v.get("metrics") or {}
        table.add_row(
            "[green]★[/green]" if v["promoted"] else "",
            v["version"],
            f"{m['model']} · {m.get('device', 'cpu')}" if m.get("model") else "—",
            _fmt(m.get("precision")),
            _fmt(m.get("recall")),
            _fmt(m.get("f1")),
            _fmt(m.get("dev_tasks")),
            str(v.get("label_count", 0)),
            v.get("parent") or "—",
        )
    return table


def promotion_summary(report: PromotionReport) -> Table:
    """What a promotion or rollback did."""
    table = Table(title=f"{report.action.capitalize()} of {report.name}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    table.add_row("now promoted", report.version)
    table.add_row("before", report.previous_version or "—")
    if not report.changed:
        table.add_row("change", "none: it was already promoted")
    r = report.refresh
    if r.text_model_version:
        table.add_row("text model", r.text_model_version)
        table.add_row("predictions refreshed", str(r.predicted))
    if r.error:
        table.add_row("refresh error", f"[red]{r.error}[/red]")
    if r.label_studio:
        table.add_row("Label Studio", r.label_studio)
    return table


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr (unwrapped, so paths stay whole) and exit with ``code``."""
    import typer

    err_console.print(f"[red]error:[/red] {message}", soft_wrap=True)
    raise typer.Exit(code)
