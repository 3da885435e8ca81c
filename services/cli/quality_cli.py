"""Quality commands: agreement, gold accuracy and suggestion reports, adjudication, gold checks, overlap, the audit trail, API secrets."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cliniloop.services.cli.context import cli_store, label_studio_client
from cliniloop.services.cli.render import console, err_console, fail

gold_app = typer.Typer(help="Gold checks: tasks with known answers mixed into annotators' queues.", no_args_is_help=True)

AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def report_agreement(
    modality: Annotated[str | None, typer.Option("--modality", help="text, ecg, eeg, image or codes (default: all).")] = None,
    threshold: Annotated[float | None, typer.Option("--threshold", help="List labels under this (default CLINILOOP_LOW_AGREEMENT_THRESHOLD).")] = None,
    pairs: Annotated[bool, typer.Option("--pairs", help="Also show every annotator pair (default: pooled figures).")] = False,
    as_json: AsJson = False,
) -> None:
    """Inter-annotator agreement per modality, label and annotator pair; low-agreement labels listed."""
    from cliniloop.services.quality.agreement_report import ALL_PAIRS, agreement_report

    report = agreement_report(cli_store(), modality, threshold)
    if as_json:
        console.print_json(json.dumps(report.to_json()))
        return
    if not report.rows:
        console.print("no task has two or more annotators yet (set CLINILOOP_OVERLAP_ANNOTATORS=2 and push)")
        return
    table = Table(title="Agreement (" + ", ".join(f"{m}: {n} tasks with 2+ annotators" for m, n in report.multi_annotated.items()) + ")")
    for col in ("modality", "label", "annotators", "measure", "value", "items"):
        table.add_column(col, justify="right" if col in ("value", "items") else "left")
    for r in report.rows:
        if pairs or r.annotators == ALL_PAIRS:
            table.add_row(r.modality, r.label, r.annotators, r.measure, _fmt(r.value), str(r.items))
    console.print(table)
    low = [r for r in report.low() if r.annotators == ALL_PAIRS or pairs]
    if low:
        console.print(f"[yellow]low agreement (< {report.threshold}):[/yellow] " + "; ".join(f"{r.modality} {r.label} {r.measure} {_fmt(r.value)}" for r in low))
    else:
        console.print(f"no label under {report.threshold}")


def report_gold(
    period: Annotated[str, typer.Option("--period", help="day, week or month.")] = "week",
    as_json: AsJson = False,
) -> None:
    """Each annotator's accuracy on gold-check tasks, per period and overall, against CLINILOOP_GOLD_TARGET."""
    from cliniloop.services.core.settings import get_settings
    from cliniloop.services.quality.gold import gold_accuracy

    if period not in ("day", "week", "month"):
        fail(f"--period must be day, week or month, not {period!r}")
    report = gold_accuracy(cli_store(), get_settings().gold_target, period)  # type: ignore[arg-type]
    if as_json:
        console.print_json(json.dumps(report.to_json()))
        return
    if not report.overall:
        console.print(f"{report.gold_tasks} gold tasks, none annotated yet")
        return
    table = Table(title=f"Gold accuracy ({report.gold_tasks} gold tasks, target {report.target:.0%})")
    for col in ("annotator", "period", "tasks", "accuracy", "exact"):
        table.add_column(col)
    for c in [*report.cells, *report.overall.values()]:
        mark = "" if c.period != "all" or (c.accuracy or 0) >= report.target else " [red]below target[/red]"
        table.add_row(c.annotator, c.period, str(c.tasks), _fmt(c.accuracy) + mark, str(c.passed))
    console.print(table)


def report_suggestions(as_json: AsJson = False) -> None:
    """How annotators treated each model version's suggestions: accepted, edited, deleted, missed, per label."""
    from cliniloop.services.quality.monitor import suggestion_report

    report = suggestion_report(cli_store())
    if as_json:
        console.print_json(json.dumps(report.to_json()))
        return
    if not report.versions:
        console.print("no annotation started from a stored suggestion yet")
        return
    table = Table(title="Suggestions by model version and label")
    for col in ("model version", "label", "accepted", "edited", "deleted", "missed", "acceptance"):
        table.add_column(col)
    for v in report.versions.values():
        rows = [c for (ver, _), c in report.counts.items() if ver == v.model_version]
        for c in [*rows, v.total]:
            if c is not None:
                table.add_row(c.model_version, c.label, str(c.accepted), str(c.edited), str(c.deleted), str(c.missed), _fmt(c.acceptance, 2))
    console.print(table)
    for v in report.versions.values():
        console.print(f"{v.model_version}: {v.annotations} annotations, {v.unchanged_annotations} submitted unchanged" + "".join(f"; [yellow]{f}[/yellow]" for f in v.flags))


def adjudicate(
    no_push: Annotated[bool, typer.Option("--no-push", help="Only find disagreements; send and read nothing.")] = False,
    threshold: Annotated[float | None, typer.Option("--threshold", help="Default CLINILOOP_AGREEMENT_THRESHOLD.")] = None,
) -> None:
    """Find disagreements, send them to the reviewers' projects, and bring reviewers' results back as gold labels."""
    from cliniloop.connectors.label_studio.client import LabelStudioError
    from cliniloop.services.core.settings import get_settings
    from cliniloop.services.quality.adjudication import detect_disagreements, pull_adjudications, push_adjudications

    store = cli_store()
    found = detect_disagreements(store, threshold=threshold)
    console.print(f"disagreements: {len(found.opened)} new, {len(found.refreshed)} refreshed, {len(found.withdrawn)} withdrawn")
    if no_push:
        return
    client = label_studio_client()
    try:
        report = push_adjudications(store, client, get_settings().review_project_suffix)
        pull_adjudications(store, client, report)
    except LabelStudioError as err:
        fail(str(err))
    open_left = len(store.adjudications(status="open"))
    console.print(
        f"sent {len(report.pushed)} to review ({', '.join(report.projects) or 'no project'}); "
        f"resolved {len(report.resolved)}, reopened {len(report.reopened)}; {open_left} still open (left out of training)"
        + (f"; {len(report.not_pushable)} cannot be shown (task not pushed to Label Studio)" if report.not_pushable else "")
    )


@gold_app.command("mark")
def gold_mark(task_ids: Annotated[list[str], typer.Argument(help="Task ids whose current label is the known answer.")], actor: Annotated[str, typer.Option("--actor")] = "cli") -> None:
    """Make tasks gold checks, their current label (e.g. a reviewer's adjudication) as the known answer."""
    from cliniloop.services.quality.gold import mark_gold

    try:
        done = mark_gold(cli_store(), task_ids, actor)
    except ValueError as err:
        fail(str(err))
    console.print(f"{len(done)} gold tasks: " + ", ".join(f"{k[:12]} {v}" for k, v in done.items()))


@gold_app.command("import")
def gold_import(path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Label Studio JSON export, or JSON lines {task_id, regions}.")], actor: Annotated[str, typer.Option("--actor")] = "cli") -> None:
    """Read known answers from a file (all checked before any is stored)."""
    from cliniloop.services.quality.gold import import_gold

    try:
        counts = import_gold(cli_store(), path, actor)
    except ValueError as err:
        fail(str(err))
    console.print(f"gold answers from {path.name}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))


@gold_app.command("list")
def gold_list() -> None:
    """Gold tasks and where their answers come from."""
    rows = cli_store().gold_answers()
    table = Table(title=f"{len(rows)} gold tasks")
    for col in ("task", "regions", "source", "by", "since"):
        table.add_column(col)
    for r in rows.values():
        table.add_row(r.task_id[:16], str(len(r.regions)), r.source, r.created_by, r.created_at.isoformat(timespec="seconds"))
    console.print(table)


@gold_app.command("remove")
def gold_remove(task_ids: Annotated[list[str], typer.Argument()]) -> None:
    """Stop using tasks as gold checks."""
    store = cli_store()
    removed = [t for t in task_ids if store.remove_gold_answer(t)]
    for t in removed:
        store.audit("cli", "gold_removed", "task", t)
    console.print(f"{len(removed)} removed")


def overlap(
    project: Annotated[str, typer.Option("--project", help="Label Studio project title.")],
    annotators: Annotated[int, typer.Option("--annotators", min=1, help="Annotators per overlapping task.")] = 2,
    percentage: Annotated[int, typer.Option("--percentage", min=0, max=100, help="Share of tasks that overlap (%).")] = 100,
) -> None:
    """Send a share of a project's tasks to several annotators (Label Studio's overlap settings)."""
    from cliniloop.connectors.label_studio.client import LabelStudioError

    client = label_studio_client()
    try:
        project_id = client.find_project(project)
        if project_id is None:
            fail(f"no Label Studio project titled {project!r}")
        changed = client.set_overlap(project_id, annotators, percentage)
    except (LabelStudioError, ValueError) as err:
        fail(str(err))
    cli_store().audit("cli", "overlap_set", "project", client.project_ref(project_id), annotators=annotators, percentage=percentage, changed=changed)
    console.print(f"project {project_id}: {percentage}% of tasks go to {annotators} annotators" + ("" if changed else " (unchanged)"))


def _when(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option}: not an ISO date or time: {value!r} (e.g. 2026-12-01 or 2026-12-01T08:00)")
    from cliniloop.services.core.tables import as_utc

    return as_utc(at)


def audit(
    action: Annotated[str | None, typer.Option("--action", help="One action, or a prefix ending in * (model_*).")] = None,
    actor: Annotated[str | None, typer.Option("--actor")] = None,
    entity_id: Annotated[str | None, typer.Option("--entity-id", help="E.g. a task id, a model name, a project URL.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="ISO date/time (UTC unless given), inclusive.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="ISO date/time, exclusive.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the newest N.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of stdout.")] = None,
) -> None:
    """Query and export the append-only audit trail (who did what, when; ids and versions, never note text)."""
    from cliniloop.services.quality.audit_export import COLUMNS, audit_csv, audit_json, audit_records

    if fmt not in ("table", "json", "csv"):
        fail(f"--format must be table, json or csv, not {fmt!r}")
    store = cli_store()
    events = store.audit_events(
        action, actor=actor, entity_id=entity_id, since=_when(since, "--since"), until=_when(until, "--until"), limit=limit, newest_first=limit is not None
    )
    events = sorted(events, key=lambda e: e.id)
    rows = audit_records(events)
    if fmt == "table" and out is None:
        table = Table(title=f"Audit trail: {len(rows)} events")
        for col in COLUMNS:
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(*(json.dumps(r[c], sort_keys=True) if c == "details" else str(r[c] if r[c] is not None else "") for c in COLUMNS))
        console.print(table)
        return
    as_csv = fmt == "csv" or (fmt == "table" and out is not None and out.suffix == ".csv")
    text = audit_csv(rows) if as_csv else audit_json(rows)
    if out is None:
        typer.echo(text, nl=False)
    else:
        from cliniloop.services.core.private import private_tree

        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        private_tree(out)
        store.audit("cli", "export", "audit_events", out.name, rows=len(rows), format="csv" if as_csv else "json")
        err_console.print(f"wrote {len(rows)} audit events to {out}")


def tokens(show: Annotated[str | None, typer.Option("--show", help="Print the secret of one role (admin, engineer, annotator) or 'webhook'.")] = None) -> None:
    """Where the API's tokens and webhook secret come from; --show prints one (for a browser or a script)."""
    from cliniloop.services.core.access import ROLES, SECRET_FIELDS, SECRETS_FILE, api_secrets, secret_env_var
    from cliniloop.services.core.settings import get_settings

    settings = get_settings()
    secrets = api_secrets(settings)
    if show is not None:
        if show == "webhook":
            typer.echo(secrets.webhook_secret)
        elif show in ROLES:
            typer.echo(secrets.tokens[show])
        else:
            fail(f"--show: one of {', '.join(ROLES)} or webhook")
        return
    for key, name in SECRET_FIELDS.items():
        given = getattr(settings, name) is not None
        console.print(f"{key:<10} from {secret_env_var(key) if given else settings.var_dir / SECRETS_FILE}")


def register(app: typer.Typer, report_app: typer.Typer) -> None:
    """Attach these commands to the main CLI."""
    report_app.command("agreement")(report_agreement)
    report_app.command("gold")(report_gold)
    report_app.command("suggestions")(report_suggestions)
    app.command("adjudicate")(adjudicate)
    app.add_typer(gold_app, name="gold")
    app.command("overlap")(overlap)
    app.command("audit")(audit)
    app.command("tokens")(tokens)
