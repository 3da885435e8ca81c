"""Rich rendering of step reports and round summaries (stdout); logs go to stderr."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from services.loop.ingest import IngestReport
from services.loop.pull import PullReport
from services.loop.push import PushReport
from services.loop.round import RoundReport, TaskStats

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
    base = report.root if report.root.is_dir() else report.root.parent
    table = Table(title=f"Files not ingested (under {base})", show_lines=False)
    table.add_column("file", style="red", no_wrap=True)
    table.add_column("reason", overflow="fold")
    for err in report.errors:
        name = err.path.relative_to(base) if err.path.is_relative_to(base) else err.path
        table.add_row(str(name), err.reason)
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
    steps.add_row("ingest", f"{len(ing.added)} new, {len(ing.existing)} already stored, {len(ing.errors)} rejected")
    steps.add_row("predict", f"{report.predict.predicted} predicted, {report.predict.already_predicted} up to date ({report.predict.model_version})")
    sel = report.selection
    steps.add_row("select", f"{len(sel.task_ids)} tasks by {sel.strategy} (round {sel.round_id})")
    if report.push is not None:
        steps.add_row("push", push_line(report.push))
    else:
        steps.add_row("push", "skipped (no Label Studio)")
    tables = [steps, *stats_tables(report.stats)]
    if ing.errors:
        tables.append(ingest_table(ing))
    return tables


def push_line(report: PushReport) -> str:
    """One line describing a push."""
    return (
        f"{len(report.created)} created, {len(report.already_present)} already in Label Studio, "
        f"{len(report.predictions_added)} new predictions; project {report.project_ref}"
    )


def pull_line(report: PullReport) -> str:
    """One line describing a pull."""
    return (
        f"{report.tasks} tasks: {report.created} created, {report.updated} updated, {report.unchanged} unchanged, "
        f"{report.deleted} deleted, {report.skipped} skipped annotations ignored"
    )
