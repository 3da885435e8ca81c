"""CLI commands for de-identification: ``eval deid``, ``deid synth``, ``deid check``, ``report phi``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from cliniloop.services.cli.render import console, err_console, fail

deid_app = typer.Typer(help="De-identification: synthetic corpora and checks.", no_args_is_help=True)


def eval_deid(
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            exists=True,
            help="Gold corpus: BRAT folder (<note>.txt + <note>.ann), PhysioNet id.text + id-phi.phrase (folder or file), or i2b2 XML (file or folder).",
        ),
    ],
    data_format: Annotated[
        str | None, typer.Option("--format", help="Gold layout: brat, physionet or i2b2 (default: told by what --data holds).")
    ] = None,
    type_map: Annotated[
        str,
        typer.Option(
            "--type-map",
            help="Gold type -> identifier type and category: identity (default), physionet, i2b2-2006, i2b2-2014, or a TSV file of the same format.",
        ),
    ] = "identity",
    profile: Annotated[
        str | None,
        typer.Option("--profile", help="Score this policy profile only (broad or safe-harbor); default: both, CLINILOOP_DEID_PROFILE's at the top level."),
    ] = None,
    threshold: Annotated[float | None, typer.Option("--threshold", min=0.0, max=1.0, help="Detector threshold (default: CLINILOOP_DEID_THRESHOLD).")] = None,
    no_name_lists: Annotated[bool, typer.Option("--no-name-lists", help="Ablation: detect names without the first/last name lists.")] = False,
    statistical_names: Annotated[
        bool | None,
        typer.Option("--statistical-names/--no-statistical-names", help="Also use spaCy's statistical names on cased text (default: CLINILOOP_DEID_STATISTICAL_NAMES)."),
    ] = None,
    errors: Annotated[
        Path | None, typer.Option("--errors", dir_okay=False, help="Write misses and false positives as JSON lines here (they hold identifiers of the evaluated corpus).")
    ] = None,
) -> None:
    """Precision and recall per identifier type and overall, per policy profile, with and without years; prints one JSON object.

    Gold types are turned into identifier types (NAME, DATE, AGE, LOCATION, PHONE, FAX, EMAIL, SSN,
    MRN, ACCOUNT, HEALTH_PLAN, LICENSE, DEVICE_ID, VEHICLE_ID, URL, IP_ADDRESS) and categories by
    the type map; with the identity map they must already be identifier types.
    """
    from cliniloop.connectors.sources.brat import BratError
    from cliniloop.connectors.sources.deid_corpora import FORMATS, DeidCorpusError
    from cliniloop.models.text.deid.type_maps import TypeMapError
    from cliniloop.models.text.deid.types import PROFILES
    from cliniloop.services.core.settings import get_settings
    from cliniloop.services.evaluation.deid import DeidEvalError, evaluate_deid

    if data_format is not None and data_format not in FORMATS:
        fail(f"--format {data_format!r}: use one of {', '.join(FORMATS)}")
    if profile is not None and profile not in PROFILES:
        fail(f"--profile {profile!r}: use one of {', '.join(PROFILES)}")
    settings = get_settings()
    try:
        result = evaluate_deid(
            data,
            spacy_model=settings.deid_spacy_model,
            threshold=settings.deid_threshold if threshold is None else threshold,
            use_name_lists=not no_name_lists,
            statistical_names=settings.deid_statistical_names if statistical_names is None else statistical_names,
            errors_path=errors,
            type_map=type_map,
            data_format=data_format,
            profiles=[profile] if profile else None,
            default_profile=profile or settings.deid_profile,
        )
    except (BratError, DeidCorpusError, DeidEvalError, TypeMapError) as err:
        fail(str(err))
    err_console.print(
        f"{result['notes']} notes ({result['format']}, type map {result['type_map']}); "
        + "; ".join(f"{p}: recall {r['with_years']['overall']['recall']} / without years {r['without_years']['overall']['recall']}" for p, r in result["profiles"].items()),
        soft_wrap=True,
    )
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


@deid_app.command("synth")
def deid_synth(
    out: Annotated[Path, typer.Option("--out", file_okay=False, help="Folder to write BRAT notes into (one sub-folder per patient).")],
    notes: Annotated[int, typer.Option("--notes", min=1, help="How many notes.")] = 220,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same corpus).")] = 0,
) -> None:
    """Write synthetic clinical notes full of identifiers, with gold BRAT annotations (Faker; no real data)."""
    from cliniloop.services.evaluation.synthetic_notes import generate_notes, write_corpus

    if out.exists() and any(out.iterdir()):
        fail(f"{out}: folder is not empty; choose an empty or new folder")
    n = write_corpus(out, generate_notes(notes, seed=seed), seed=seed)
    console.print(f"wrote {n} synthetic notes with gold identifier spans to {out}")


def report_phi() -> None:
    """Identifiers annotators marked as missed, per type and per detector version; prints one JSON object."""
    from collections import Counter

    from cliniloop.services.core.store import open_store

    store = open_store()
    rows = store.phi_corrections()
    by_type = Counter(r.type for r in rows)
    by_version: dict[str, Counter[str]] = {}
    for r in rows:
        by_version.setdefault(r.detector_version or "unknown", Counter())[r.type] += 1
    result = {
        "corrections": len(rows),
        "tasks": len({r.task_id for r in rows}),
        "per_type": dict(sorted(by_type.items())),
        "per_detector_version": {v: dict(sorted(c.items())) for v, c in sorted(by_version.items())},
        "tasks_with_missed_identifiers": sorted({r.task_id for r in rows}),
    }
    err_console.print(f"{len(rows)} missed identifiers marked on {result['tasks']} task(s)")
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


def register(app: typer.Typer, eval_app: typer.Typer, report_app: typer.Typer) -> None:
    """Attach these commands to the main CLI."""
    eval_app.command("deid")(eval_deid)
    report_app.command("phi")(report_phi)
    app.add_typer(deid_app, name="deid")
