"""``cliniloop export mappings``: the validated mapping table as CSV or JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cliniloop.services.cli.render import console, err_console, fail

export_app = typer.Typer(help="Export what annotators and coders produced.", no_args_is_help=True)


@export_app.command("mappings")
def export_mappings_cmd(
    out: Annotated[Path, typer.Option("--out", help="Output file (.csv or .json; any name for conceptmap / refset).")],
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="csv, json, conceptmap (FHIR R4 ConceptMap JSON) or refset (SNOMED CT simple-map RF2); default: from the suffix."),
    ] = None,
    system: Annotated[str | None, typer.Option("--system", help="Only icd10cm or snomed.")] = None,
    validated_only: Annotated[bool, typer.Option("--validated-only", help="Only valid accept/alternative verdicts.")] = False,
) -> None:
    """Write coders' mention → code verdicts (CSV/JSON rows), or the validated ones as a FHIR R4 ConceptMap
    or a SNOMED CT simple-map refset, both with coder agreement per row."""
    from cliniloop.services.core.store import open_store
    from cliniloop.services.loop.mappings import export_mappings

    try:
        n = export_mappings(open_store(), out, fmt, system, validated_only)  # type: ignore[arg-type]
    except ValueError as err:
        fail(str(err))
    from cliniloop.services.core.private import private_tree

    private_tree(out)
    console.print(f"wrote {n} mapping rows to {out}")


report_app = typer.Typer(help="Reports on what annotators and coders produced.", no_args_is_help=True)


@report_app.command("mappings")
def report_mappings_cmd(
    system: Annotated[str | None, typer.Option("--system", help="Only icd10cm or snomed.")] = None,
) -> None:
    """Coder agreement on mention → code verdicts (Cohen's / Fleiss' kappa), identical-code share, disagreements."""
    import json
    import sys

    from rich.table import Table

    from cliniloop.services.core.store import open_store
    from cliniloop.services.loop.mappings import mapping_agreement

    result = mapping_agreement(open_store(), system)
    table = Table(title=f"Coder agreement ({result['items']} mentions seen by 2+ coders)")
    for col in ("statistic", "value"):
        table.add_column(col)
    table.add_row(f"verdict kappa ({result['kappa_method'] or 'n/a'})", str(result["verdict_kappa"]))
    table.add_row("identical chosen code", str(result["identical_code_share"]))
    for pair, v in result["pairwise_kappa"].items():
        table.add_row(f"kappa {pair}", f"{v['kappa']} over {v['items']}")
    table.add_row("disagreements", str(len(result["disagreements"])))
    err_console.print(table)
    sys.stdout.write(json.dumps(result, indent=2, ensure_ascii=False) + "\n")


def register(app: typer.Typer) -> None:
    """Attach ``export`` and ``report`` to the main CLI."""
    app.add_typer(export_app, name="export")
    app.add_typer(report_app, name="report")
