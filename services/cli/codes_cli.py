"""CLI command for code candidates: ``cliniloop eval codes``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from services.cli.render import err_console


def _fail(message: str, code: int = 1) -> None:
    err_console.print(f"[red]error:[/red] {message}", soft_wrap=True)
    raise typer.Exit(code)


def eval_codes(
    pairs: Annotated[Path, typer.Option("--pairs", help="TSV with a header: 'mention' and 'icd10cm' / 'icd10' or 'snomed'.")],
    system: Annotated[str, typer.Option("--system", help="icd10cm or snomed.")] = "icd10cm",
    compare_baseline: Annotated[
        bool, typer.Option("--compare-baseline", help="Also rank with plain TF-IDF over the system's descriptions.")
    ] = False,
    snomed_rf2: Annotated[
        Path | None,
        typer.Option("--snomed-rf2", file_okay=False, help="SNOMED CT RF2 release folder (default: CLINILOOP_SNOMED_RF2)."),
    ] = None,
    cache_dir: Annotated[
        Path | None, typer.Option("--cache-dir", file_okay=False, help="Cache of code systems and indexes (default: <var_dir>/cache).")
    ] = None,
) -> None:
    """Recall@1/5/10 (exact code and 3-character category) and MRR of code candidates; prints one JSON object."""
    from services.core.settings import get_settings
    from services.loop.codes_eval import SYSTEMS, CodesEvalError, evaluate_codes

    if system not in SYSTEMS:
        _fail(f"--system {system!r}: choose one of {', '.join(SYSTEMS)}", 2)
    folder = snomed_rf2 if snomed_rf2 is not None else get_settings().snomed_rf2
    try:
        result = evaluate_codes(pairs, system, compare_baseline, folder, cache_dir=cache_dir)
    except (CodesEvalError, FileNotFoundError) as err:
        _fail(str(err))
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    """Attach these commands to the main CLI."""
    eval_app.command("codes")(eval_codes)
