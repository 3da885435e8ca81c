"""``cliniloop deid apply-corrections``: re-run what a pull does with identifiers marked as missed."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cliniloop.services.cli.context import cli_store, label_studio_client
from cliniloop.services.cli.render import console, fail


def corrections_line(report: Any) -> str:
    """One line describing a :class:`cliniloop.services.loop.deid_corrections.CorrectionReport`."""
    replaced = ", ".join(f"{n} {t}" for t, n in sorted(report.replaced.items())) or "none"
    line = (
        f"corrections: {report.tasks} task(s) corrected (identifiers replaced: {replaced}), "
        f"{report.deny_added} new deny-list entr{'y' if report.deny_added == 1 else 'ies'}, "
        f"{report.synced} task(s) updated in Label Studio"
    )
    if report.sync_failed:
        line += f"; {len(report.sync_failed)} task(s) not updated in Label Studio (their text there changed; see the log)"
    if report.skipped:
        line += f"; {len(report.skipped)} task(s) without a de-identification record skipped"
    return line


def apply_corrections(
    project: Annotated[
        str | None, typer.Option("--project", help="Label Studio text project title (default: CLINILOOP_LABEL_STUDIO_PROJECT).")
    ] = None,
) -> None:
    """Replace identifiers marked as missed (phi labels) by surrogates, in the store and Label Studio.

    The corrected strings join the project's deny-list. `cliniloop pull` does this too; run this
    to finish what an unreachable Label Studio interrupted. Idempotent.
    """
    from cliniloop.connectors.label_studio.client import LabelStudioError
    from cliniloop.services.core.settings import get_settings
    from cliniloop.services.loop.deid import deid_secret
    from cliniloop.services.loop.deid_corrections import correct_project

    settings = get_settings()
    title = project or settings.label_studio_project
    client = label_studio_client()
    try:
        project_id = client.find_project(title)
        if project_id is None:
            fail(f"no Label Studio project {title!r}: run `cliniloop push` first")
        report = correct_project(cli_store(), client, project_id, deid_secret(settings), scope=title)
    except LabelStudioError as err:
        fail(str(err))
    console.print(corrections_line(report))


def register(deid_app: typer.Typer) -> None:
    """Attach ``apply-corrections`` to the ``deid`` command group."""
    deid_app.command("apply-corrections")(apply_corrections)
