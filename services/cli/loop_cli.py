"""What every modality's CLI shares: select + push as one recorded round, pull, train, model aliases.

``cliniloop select|push|pull|round|train|models --modality M`` and the older ``cliniloop ecg|eeg|image
push|pull`` aliases all run these functions (and through them :mod:`cliniloop.services.loop.round`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cliniloop.services.cli.context import cli_store, label_studio_client
from cliniloop.services.cli.render import console, err_console, fail, progress_bars, pull_line, push_summary

ModalityOpt = Annotated[
    str, typer.Option("--modality", "-m", help="text (default), codes, ecg, eeg, image-boxes (or image), image-masks.")
]


def modality_or_fail(name: str) -> Any:
    """The registry entry, or exit 2 naming the known modalities."""
    from cliniloop.services.loop.modalities import get_modality

    try:
        return get_modality(name)
    except ValueError as err:
        fail(str(err), 2)


def select_round(modality: str, budget: int, strategy: str = "uncertainty", **options: Any) -> Any:
    """Select (a recorded round) or exit 1 with the reason (empty pool, unknown strategy, missing model output)."""
    from cliniloop.models.sampling.selection import EmptyPoolError
    from cliniloop.services.loop.select import select_tasks

    mod = modality_or_fail(modality)
    try:
        return select_tasks(cli_store(), budget, strategy, modality=mod.name, **options)
    except EmptyPoolError as err:
        fail(f"{err}: run `cliniloop round --modality {mod.name} PATH` (or ingest and predict) first")
    except ValueError as err:
        fail(str(err))


def push_round(modality: str, round_id: int | None = None, project: str | None = None) -> None:
    """Push a recorded round of ``modality`` (default: its newest) and print one line per project."""
    from cliniloop.connectors.label_studio.client import LabelStudioError
    from cliniloop.services.cli.render import interrupted_push_note, push_line
    from cliniloop.services.loop.deid import NotDeidentifiedError
    from cliniloop.services.loop.round import push_selection

    mod = modality_or_fail(modality)
    store = cli_store()
    mine = {t.id for t in mod.tasks(store)}
    rounds = [r for r in store.rounds() if (round_id is None or r.id == round_id) and set(r.selected_task_ids) <= mine and r.selected_task_ids]
    if not rounds:
        what = f"`cliniloop select --modality {mod.name}`" if mod.name != "text" else "`cliniloop select`"
        fail(f"no round to push: run {what} first" if round_id is None else f"no {mod.name} round {round_id}")
    rnd = rounds[-1]
    client = label_studio_client()
    try:
        with progress_bars() as bars:
            reports = push_selection(
                store, client, mod.name, rnd.selected_task_ids, project_title=project, progress=bars("push", len(rnd.selected_task_ids))
            )
    except LabelStudioError as err:
        fail(f"{err}\n{interrupted_push_note(store, client, rnd.selected_task_ids)}")
    except (NotDeidentifiedError, ValueError) as err:
        fail(str(err))
    store.mark_round_pushed(rnd.id)
    for project_id, report in reports:
        if mod.name == "text":
            console.print(f"round {rnd.id}: " + push_line(report))
        else:
            console.print(f"{mod.name} project {project_id}, round {rnd.id}: {push_summary(report, mod.noun)}")


def select_and_push(modality: str, budget: int, project: str | None = None, strategy: str = "uncertainty") -> None:
    """What ``cliniloop ecg|eeg|image push -n N`` does: a recorded round, then its push."""
    sel = select_round(modality, budget, strategy)
    err_console.print(f"round {sel.round_id}: selected {len(sel.task_ids)} {modality} tasks by {sel.strategy} ({sel.model_version})")
    push_round(modality, sel.round_id, project)


def pull_and_print(modality: str, project: str | None = None) -> None:
    """Pull every project of ``modality`` and print the counts."""
    from cliniloop.connectors.label_studio.client import LabelStudioError
    from cliniloop.services.loop.round import pull_modality

    mod = modality_or_fail(modality)
    try:
        reports = pull_modality(cli_store(), label_studio_client(), mod.name, project_title=project)
    except LookupError as err:
        fail(str(err))
    except LabelStudioError as err:
        fail(str(err))
    for title, report in reports:
        console.print(("pulled: " if len(reports) == 1 else f"{title}: ") + pull_line(report))
        if getattr(report, "corrections", None) is not None:
            from cliniloop.services.cli.corrections_cli import corrections_line

            console.print(corrections_line(report.corrections))


def train_modality(modality: str, data: list[Path], *, epochs: int | None = None, seed: int = 0, model: str | None = None) -> None:
    """Train a non-text modality's model from reference ``data`` plus its corrections; print the gate's verdict."""
    mod = modality_or_fail(modality)
    if mod.train is None:
        fail(f"modality {mod.name!r} has no trainer")
    options: dict[str, Any] = {"seed": seed}
    if mod.name == "ecg":
        options.update(wfdb_dirs=data, progress=err_console.print, **({"epochs": epochs} if epochs else {}), **({"model": model} if model else {}))
    elif mod.name == "eeg":
        options.update(bonn_dirs=data, progress=err_console.print)
    elif mod.name == "image-boxes":
        options.update(voc=data, message=err_console.print, **({"epochs": epochs} if epochs else {}))
    elif mod.name == "image-masks":
        from cliniloop.services.loop.image_train import MaskSource

        if len(data) % 2:
            fail("--data for image-masks comes in pairs: IMAGES_DIR LABELS_DIR", 2)
        options.update(sources=[MaskSource(data[i], data[i + 1], None) for i in range(0, len(data), 2)], message=err_console.print)
        options.update({"epochs": epochs} if epochs else {})
    try:
        result = mod.train(cli_store(), _settings(), **options)
    except (ValueError, FileNotFoundError) as err:
        fail(str(err))
    console.print(result.summary() if hasattr(result, "summary") else f"{mod.name}: {result}")


def refresh_predictions(modality: str) -> None:
    """Predict again with the model now promoted (non-text modalities; text refreshes itself)."""
    mod = modality_or_fail(modality)
    if mod.store_modality == "text" or mod.infer is None:
        return
    report = mod.infer(cli_store(), _settings(), None)
    console.print(f"{mod.name}: {report.predicted} tasks predicted again with {report.model_version}")


def _settings() -> Any:
    from cliniloop.services.core.settings import get_settings

    return get_settings()
