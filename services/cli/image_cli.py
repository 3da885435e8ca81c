"""CLI commands for images: ``cliniloop image ...`` and ``cliniloop eval image-boxes / image-masks``."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from cliniloop.services.cli.context import cli_store
from cliniloop.services.cli.loop_cli import pull_and_print, select_and_push
from cliniloop.services.cli.engine_cli import AddressOpt, EngineOpt, WorkersOpt, engine_options, run_on_ray
from cliniloop.services.cli.render import console, err_console, fail, progress_bars

image_app = typer.Typer(
    help="Image regions (boxes, masks) on PNG/JPEG/DICOM: proposals, Label Studio round trips, training, COCO/VOC export.",
    no_args_is_help=True,
)
DEFAULT_PROJECT = "cliniloop image regions"


@contextmanager
def epoch_progress(name: str) -> Iterator[Callable[[int, int, float], None]]:
    """A ``progress(epoch, epochs, loss)`` callback drawing one bar on stderr."""
    with progress_bars() as bars:
        state: dict[str, Callable[[int], None]] = {}
        last = {"epoch": 0}

        def progress(epoch: int, epochs: int, loss: float) -> None:
            if "advance" not in state:
                state["advance"] = bars(name, epochs)
            state["advance"](max(0, epoch - last["epoch"]))
            last["epoch"] = epoch

        yield progress


@image_app.command("ingest")
def image_ingest(
    path: Annotated[Path, typer.Argument(help="A PNG/JPEG/DICOM file or a folder of them (searched recursively).")],
    kind: Annotated[str, typer.Option("--kind", help="Regions annotators draw: boxes or masks.")] = "boxes",
    window: Annotated[str | None, typer.Option("--window", help="DICOM window: a preset (lung, soft_tissue, bone, brain, ...) or CENTER,WIDTH in HU.")] = None,
    engine: EngineOpt = "local",
    address: AddressOpt = None,
    workers: WorkersOpt = None,
) -> None:
    """Check image files whole and store one task per frame (a bad file is reported and stores nothing)."""
    from cliniloop.services.loop.image import ingest_images, parse_window

    options = engine_options(engine, address, workers)
    if kind not in ("boxes", "masks"):
        fail(f"--kind must be boxes or masks, not {kind!r}", 2)
    try:
        win = parse_window(window)
        if options.is_ray:
            from cliniloop.services.scale.ray_engine import ray_ingest_records

            cli_store()  # created and migrated once, by the driver
            report = run_on_ray(options, lambda pool: ray_ingest_records(pool, "image", path, {"kind": kind, "window": win}))
        else:
            report = ingest_images(cli_store(), path, kind=kind, window=win)  # type: ignore[arg-type]
    except (FileNotFoundError, ValueError) as err:
        fail(str(err))
    console.print(f"images: {report.files} files, {len(report.added)} new frames, {len(report.existing)} already stored, {len(report.errors)} rejected")
    for err in report.errors:
        err_console.print(f"[red]rejected[/red] {err}", soft_wrap=True)
    if report.errors and not report.files:
        raise typer.Exit(1)


@image_app.command("predict")
def image_predict(engine: EngineOpt = "local", address: AddressOpt = None, workers: WorkersOpt = None) -> None:
    """Propose regions on every ingested frame (trained model where promoted, cold-start proposer otherwise)."""
    from cliniloop.services.core.settings import get_settings
    from cliniloop.services.loop.image import load_image_models, predict_images

    options = engine_options(engine, address, workers)
    store = cli_store()
    if options.is_ray:
        from cliniloop.services.scale.ray_engine import ray_predict_images

        n, errors = run_on_ray(options, lambda pool: ray_predict_images(pool, store), use_gpu=True)
        console.print(f"predicted {n} images")
        for err in errors:
            err_console.print(f"[red]skipped[/red] {err}", soft_wrap=True)
        return
    models = load_image_models(store, get_settings().resolved_models_dir)
    err_console.print(f"boxes: {models.box_version}; masks: {models.mask_version}")
    with progress_bars() as bars:
        n, errors = predict_images(store, models, progress=bars("images", store.count_tasks("image")))
    console.print(f"predicted {n} images")
    for err in errors:
        err_console.print(f"[red]skipped[/red] {err}", soft_wrap=True)


@image_app.command("train")
def image_train(
    voc: Annotated[list[Path] | None, typer.Option("--voc", help="Pascal VOC folder of reference boxes; repeatable.")] = None,
    ids: Annotated[Path | None, typer.Option("--ids", help="File of image ids to use from --voc (e.g. train.txt).")] = None,
    mask_images: Annotated[Path | None, typer.Option("--mask-images", help="Folder of images with instance masks.")] = None,
    mask_labels: Annotated[Path | None, typer.Option("--mask-labels", help="Folder of instance-label PNGs (same names).")] = None,
    masks: Annotated[bool, typer.Option("--masks", help="Train the mask model (also implied by --mask-images).")] = False,
    epochs: Annotated[int | None, typer.Option("--epochs", min=1)] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """Train the box detector (default) or the mask model on reference data plus corrections; promote it only when not worse on the dev split."""
    from cliniloop.services.core.settings import get_settings
    from cliniloop.services.loop.image_train import MaskSource, VocSource, train_box_detector, train_mask_segmenter

    store, settings = cli_store(), get_settings()
    try:
        if masks or mask_images is not None:
            if (mask_images is None) != (mask_labels is None):
                fail("give both --mask-images and --mask-labels", 2)
            sources = [MaskSource(mask_images, mask_labels, ids)] if mask_images is not None and mask_labels is not None else []
            with epoch_progress("epochs") as progress:
                result = train_mask_segmenter(store, settings, sources, epochs=epochs, seed=seed, message=err_console.print, progress=progress)
            console.print(result.summary())
        else:
            sources_v = [VocSource(root, ids) for root in voc or []]
            with epoch_progress("epochs") as progress:
                result = train_box_detector(store, settings, sources_v, epochs=epochs, seed=seed, message=err_console.print, progress=progress)
            console.print(result.summary())
    except (ValueError, FileNotFoundError) as err:
        fail(str(err))


@image_app.command("push")
def image_push(
    budget: Annotated[int, typer.Option("--budget", "-n", min=1, help="Images to send: the most uncertain first.")] = 20,
    project: Annotated[str, typer.Option("--project", help="Label Studio project title.")] = DEFAULT_PROJECT,
    masks: Annotated[bool, typer.Option("--masks", help="Mask tasks (default: box tasks).")] = False,
    strategy: Annotated[str, typer.Option("--strategy", help="A sampling strategy (see `cliniloop select --help`).")] = "uncertainty",
) -> None:
    """Select the next images (a recorded round) and send them with their proposed regions: `cliniloop round --modality image-boxes|image-masks` without ingest."""
    select_and_push("image-masks" if masks else "image-boxes", budget, project, strategy)


@image_app.command("pull")
def image_pull(project: Annotated[str, typer.Option("--project")] = DEFAULT_PROJECT) -> None:
    """Bring corrected regions back (creates, updates, deletions): `cliniloop pull --modality image`."""
    pull_and_print("image-boxes", project)


@image_app.command("export")
def image_export(
    out: Annotated[Path, typer.Option("--out", help="COCO: a .json file; VOC: a folder.")],
    fmt: Annotated[str, typer.Option("--format", help="coco or voc.")] = "coco",
    only_corrected: Annotated[bool, typer.Option("--only-corrected", help="Only images an annotator corrected.")] = False,
    min_score: Annotated[float, typer.Option("--min-score", min=0.0, max=1.0, help="Drop predicted regions scoring below this.")] = 0.0,
) -> None:
    """Write regions in original pixel coordinates as COCO JSON (boxes and masks) or Pascal VOC (boxes)."""
    from cliniloop.services.loop.image import export_coco, export_voc

    store = cli_store()
    if fmt == "coco":
        counts = export_coco(store, out, only_corrected=only_corrected, min_score=min_score)
    elif fmt == "voc":
        counts = export_voc(store, out, only_corrected=only_corrected, min_score=min_score)
    else:
        fail(f"--format must be coco or voc, not {fmt!r}", 2)
    from cliniloop.services.core.private import private_tree

    private_tree(out)
    console.print(f"wrote {counts['regions']} regions of {counts['images']} images to {out}")


def eval_image_boxes(
    voc: Annotated[Path, typer.Option("--voc", help="Pascal VOC folder (JPEGImages/, Annotations/).")],
    ids: Annotated[Path | None, typer.Option("--ids", help="File of image ids to evaluate (default: every annotation).")] = None,
    train_ids: Annotated[Path | None, typer.Option("--train-ids", help="Train a detector first on these ids (else the promoted one).")] = None,
    train_voc: Annotated[Path | None, typer.Option("--train-voc", help="VOC folder of --train-ids (default --voc).")] = None,
    model: Annotated[
        Path | None,
        typer.Option("--model", file_okay=False, help="A saved box model folder to evaluate: a detector (detector.json) or a proposal classifier (proposals.json, e.g. models/image/default)."),
    ] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", min=1)] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """Per-class AP@0.5, mAP@0.5, class-agnostic recall, ms per image (trained and cold-start); one JSON object."""
    from cliniloop.services.evaluation.image import evaluate_image_boxes

    detector = None
    if model is not None:
        from cliniloop.models.image import detector as box_detector
        from cliniloop.models.image import proposals

        try:
            if (model / proposals.META_FILE).is_file():
                detector = proposals.ProposalBoxClassifier.load(model)
            elif (model / box_detector.META_FILE).is_file():
                detector = box_detector.BoxDetector.load(model)
            else:
                fail(f"--model {model}: no {box_detector.META_FILE} (detector) nor {proposals.META_FILE} (proposal classifier) there")
        except (ValueError, FileNotFoundError, OSError) as err:
            fail(f"--model {model}: {err}")
    elif train_ids is None:
        from cliniloop.services.core.settings import get_settings
        from cliniloop.services.loop.image_train import load_box_detector

        detector = load_box_detector(cli_store(), get_settings())
        if detector is None:
            err_console.print("no trained detector (give --train-ids or --model, or run `cliniloop image train`): cold-start figures only")
    try:
        with epoch_progress("epochs") as progress:
            result = evaluate_image_boxes(
                voc, ids, train_ids=train_ids, train_voc=train_voc, model=detector, epochs=epochs, seed=seed,
                message=err_console.print, progress=progress,
            )  # fmt: skip
    except (ValueError, FileNotFoundError) as err:
        fail(str(err))
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


def eval_image_masks(
    images: Annotated[Path, typer.Option("--images", help="Folder of images.")],
    labels: Annotated[Path, typer.Option("--labels", help="Folder of instance-label PNGs with the same names.")],
    ids: Annotated[Path | None, typer.Option("--ids", help="File of image ids to use (default all).")] = None,
    split: Annotated[str, typer.Option("--split", help="all, or held-back (ids with sha256 % 5 == 0).")] = "all",
    train: Annotated[bool, typer.Option("--train", help="Train a mask model first on the images outside the held-back part.")] = False,
    model: Annotated[Path | None, typer.Option("--model", file_okay=False, help="A saved mask model folder to evaluate.")] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", min=1)] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """Instance precision, recall and F1 at mask IoU ≥ 0.5, ms per image (trained and cold-start); one JSON object."""
    from cliniloop.services.evaluation.image import evaluate_image_masks

    segmenter = None
    if model is not None:
        from cliniloop.models.image.segmenter import MaskSegmenter

        segmenter = MaskSegmenter.load(model)
    elif not train:
        from cliniloop.services.core.settings import get_settings
        from cliniloop.services.loop.image_train import load_mask_segmenter

        segmenter = load_mask_segmenter(cli_store(), get_settings())
        if segmenter is None:
            err_console.print("no trained mask model (give --train or --model, or run `cliniloop image train --masks`): cold-start figures only")
    try:
        with epoch_progress("epochs") as progress:
            result = evaluate_image_masks(
                images, labels, ids, split=split, train=train, model=segmenter, epochs=epochs, seed=seed,
                message=err_console.print, progress=progress,
            )  # fmt: skip
    except (ValueError, FileNotFoundError) as err:
        fail(str(err))
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    """Attach these commands to the main CLI."""
    app.add_typer(image_app, name="image")
    eval_app.command("image-boxes")(eval_image_boxes)
    eval_app.command("image-masks")(eval_image_masks)
