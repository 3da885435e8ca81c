"""Image boxes and masks through a real Label Studio 1.23.2, and as an annotator sees them.

One synthetic 200 x 150 PNG is sent inline as a ``data:image/png;base64`` URI (task data
``image``) with a prediction of two boxes and one brush mask built by our converter.

* API: the prediction read back from the server decodes to the same pixel regions; an annotation
  with one box moved and one deleted decodes to exactly that.
* Browser (headless Chromium, as in ``test_browser_labeling``): the labeling page loads the data-URI
  image at its natural 200 x 150, lists the three predicted regions with their scores, places the
  boxes where we put them, paints the mask's pixels (and only those) in the mask class's colour,
  and an annotation submitted from the page decodes back to the predicted regions.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cliniloop.connectors.label_studio.client import LabelStudioClient
from cliniloop.connectors.label_studio.convert import annotation_from_ls, regions_to_result, result_to_regions, task_payload
from cliniloop.connectors.label_studio.image import class_colours, image_label_config, image_task_data
from cliniloop.connectors.label_studio.server import LocalLabelStudio
from cliniloop.connectors.sources.image import png_data_uri
from cliniloop.services.core.masks import counts_to_mask, mask_to_counts
from cliniloop.services.core.schemas import Mask, PredictionIn, Rectangle, Region
from tests.integration.test_browser_labeling import CHROMIUM_ARGS, TIMEOUT_MS, chromium_path, local_context

pytestmark = pytest.mark.integration

W, H = 200, 150
CLASSES = [("WBC", "white blood cell"), ("RBC", "red blood cell")]
MASK_CLASSES = [("nucleus", "cell nucleus")]
CONFIG = image_label_config(CLASSES, MASK_CLASSES)
MODEL_VERSION = "image-m1"


def nucleus_mask() -> np.ndarray:
    """An asymmetric shape (a disk with a bar to its right) so that a transposed or column-major
    reading of the brush RLE would land elsewhere."""
    yy, xx = np.mgrid[:H, :W]
    mask = (yy - 70) ** 2 + (xx - 80) ** 2 <= 22**2
    mask[60:75, 80:140] = True
    return mask


def synthetic_image() -> np.ndarray:
    """Grey gradient with the nucleus in green and two pale cells (so the mask covers visible content)."""
    img = np.zeros((H, W, 3), np.uint8)
    img[...] = np.linspace(30, 120, W, dtype=np.uint8)[None, :, None]
    img[nucleus_mask()] = (40, 200, 60)
    img[8:40, 12:60] = (230, 220, 230)
    img[95:140, 130:185] = (230, 150, 150)
    return img


def predicted_regions() -> list[Region]:
    return [
        Rectangle(x=12, y=8, width=48, height=32, image_width=W, image_height=H, label="WBC", probability=0.91),
        Rectangle(x=130.5, y=95.25, width=55, height=45, image_width=W, image_height=H, label="RBC",
                  probability=0.62),  # fmt: skip
        Mask(counts=mask_to_counts(nucleus_mask()), image_width=W, image_height=H, label="nucleus",
             probability=0.47),  # fmt: skip
    ]


def assert_same_regions(got: list[Region], expected: list[Region], probabilities: bool = True) -> None:
    """Same ids, labels and kinds; boxes within 0.01 px; masks pixel for pixel."""
    assert [(r.id, r.kind, r.label) for r in got] == [(r.id, r.kind, r.label) for r in expected]
    for ours, theirs in zip(expected, got, strict=True):
        if probabilities:
            assert theirs.probability == pytest.approx(ours.probability)
        if isinstance(ours, Rectangle):
            assert isinstance(theirs, Rectangle)
            assert (theirs.image_width, theirs.image_height) == (W, H)
            for field in ("x", "y", "width", "height"):
                assert abs(getattr(theirs, field) - getattr(ours, field)) < 0.01, (ours.id, field)
        else:
            assert isinstance(ours, Mask) and isinstance(theirs, Mask)
            assert np.array_equal(counts_to_mask(theirs.counts, H, W), counts_to_mask(ours.counts, H, W))


@pytest.fixture
def image_task(ls_client: LabelStudioClient) -> Iterator[dict[str, Any]]:
    """A project with the image config and one data-URI task with our prediction; deleted afterwards."""
    regions = predicted_regions()
    prediction = PredictionIn(
        task_id="image-1", model_name="image-test", model_version=MODEL_VERSION, taxonomy_version="test",
        regions=regions, score=0.47, uncertainty=0.53,
    )  # fmt: skip
    uri = png_data_uri(synthetic_image())
    payload = task_payload("image-1", image_task_data(uri, width=W, height=H, meta={"source": "synthetic"}), prediction)
    ls_client.validate(CONFIG, [p["result"] for p in payload["predictions"]])
    project_id = ls_client.ensure_project(f"cliniloop image test {time.time_ns()}", CONFIG)
    try:
        (task_id,) = ls_client.import_tasks(project_id, [payload])
        ls_client.set_model_version(project_id, MODEL_VERSION)
        yield {"project_id": project_id, "task_id": task_id, "regions": regions, "uri": uri, "score": prediction.score}
    finally:
        ls_client.sdk.projects.delete(project_id)


def test_prediction_and_corrected_annotation_round_trip(
    ls_client: LabelStudioClient, image_task: dict[str, Any]
) -> None:
    task_id, regions = image_task["task_id"], image_task["regions"]
    data = ls_client.task_data(task_id, image_task["project_id"])
    assert data["image"] == image_task["uri"]  # stored as sent
    assert data["meta"] == {"source": "synthetic", "width": W, "height": H}

    # the prediction as the server keeps it decodes to our pixel regions
    (stored,) = list(ls_client.sdk.predictions.list(task=task_id))
    assert stored.model_version == MODEL_VERSION
    assert_same_regions(result_to_regions(stored.result), regions)  # type: ignore[arg-type]

    # an annotator moves the WBC box 7.5 px right and 3 px down and deletes the RBC box
    wbc, _rbc, nucleus = regions
    moved = wbc.model_copy(update={"x": wbc.x + 7.5, "y": wbc.y + 3.0, "probability": None})
    created = ls_client.create_annotation(task_id, regions_to_result([moved, nucleus]), lead_time=12.5)
    (annotation,) = ls_client.task_annotations(task_id)
    assert annotation["id"] == created["id"]
    pulled = annotation_from_ls(annotation, "image-1")
    assert pulled is not None and pulled.lead_time_s == 12.5
    assert all(r.probability is None for r in pulled.regions)
    assert_same_regions(pulled.regions, [moved, nucleus], probabilities=False)
    box = pulled.regions[0]
    assert isinstance(box, Rectangle) and (box.x, box.y) == pytest.approx((19.5, 11.0), abs=0.01)


# -- in the browser ------------------------------------------------------------------------
OUTLINER_ITEM = ".lsf-outliner-item"  # a row of the Regions panel: "<n>\n<label>\n<score>"
TASK_ROW = '[data-testid="table-row"]'  # a task row of the Data Manager
SHOWN_IMAGE = ".lsf-image img"  # the <img> the Image tag loads (the stage draws it on a canvas)
STAGE_CANVAS = ".konvajs-content canvas"  # the image and every region layer, each a canvas

# Pixels of the canvases at image pixel centres, for each canvas: [[r, g, b, a], ...].
_PROBE_JS = """([points, width]) => Array.from(document.querySelectorAll(%r)).map(c => {
    const ctx = c.getContext('2d'), s = c.width / width;
    const at = v => Math.floor((v + 0.5) * s);
    return points.map(([x, y]) => Array.from(ctx.getImageData(at(x), at(y), 1, 1).data));
})""" % STAGE_CANVAS  # noqa: UP031


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def _mask_probes(mask: np.ndarray, margin: int = 3) -> tuple[list[list[int]], list[list[int]]]:
    """Image pixels well inside and well outside ``mask`` (at least ``margin`` px from its edge)."""
    from scipy.ndimage import binary_dilation, binary_erosion

    core = binary_erosion(mask, iterations=margin)
    far = ~binary_dilation(mask, iterations=margin)
    far[:margin, :] = far[-margin:, :] = far[:, :margin] = far[:, -margin:] = False
    rng = np.random.default_rng(0)
    pick = lambda m: [[int(x), int(y)] for y, x in rng.permutation(np.argwhere(m))[:40]]  # noqa: E731
    return pick(core), pick(far)


@pytest.mark.browser
def test_data_uri_image_and_predicted_regions_render_in_labeling_page(
    label_studio: LocalLabelStudio, ls_client: LabelStudioClient, image_task: dict[str, Any], tmp_path: Path
) -> None:
    chromium = chromium_path()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    base = label_studio.url.rstrip("/")
    regions: list[Region] = image_task["regions"]
    nucleus_rgb = _rgb(class_colours([v for v, _ in CLASSES + MASK_CLASSES])["nucleus"])
    inside, outside = _mask_probes(nucleus_mask())
    screenshot = tmp_path / "image-labeling.png"
    blocked: list[str] = []
    t0 = time.monotonic()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True, timeout=TIMEOUT_MS)
        try:
            context = local_context(browser, base, blocked)
            page = context.new_page()
            try:
                page.goto(f"{base}/user/login")
                page.fill('input[name="email"]', label_studio.username)
                page.fill('input[name="password"]', label_studio.password)
                page.click('button[type="submit"]')
                page.wait_for_url(lambda url: "/user/login" not in url and "/user/signup" not in url)
                # open the task from the Data Manager, as an annotator does (see test_browser_labeling)
                page.goto(f"{base}/projects/{image_task['project_id']}/data")
                page.locator(TASK_ROW).first.click()

                # the data-URI image loaded, at its natural size
                shown = page.locator(SHOWN_IMAGE)
                expect(shown).to_have_count(1)
                page.wait_for_function(
                    "sel => { const i = document.querySelector(sel); return i && i.complete && i.naturalWidth > 0 }",
                    arg=SHOWN_IMAGE,
                )
                assert shown.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [W, H]

                # the regions panel lists the three predictions with their labels and scores
                rows = page.locator(OUTLINER_ITEM)
                expect(rows).to_have_count(len(regions))
                listed = sorted(tuple(row.inner_text().split()[1:]) for row in rows.all())
                assert listed == sorted((r.label, f"{r.probability:.2f}") for r in regions), listed

                # the editor placed the boxes where we put them (its store holds percent of the image)
                placed = page.evaluate(
                    "() => window.Htx.annotationStore.selected.regions.filter(r => r.type === 'rectangleregion')"
                    ".map(r => [r.labelName, r.x, r.y, r.width, r.height, r.rotation])"
                )
                boxes = [r for r in regions if isinstance(r, Rectangle)]
                expected = [[b.label, 100 * b.x / W, 100 * b.y / H, 100 * b.width / W, 100 * b.height / H, 0]
                            for b in boxes]  # fmt: skip
                assert [p[0] for p in sorted(placed)] == [e[0] for e in sorted(expected)], placed
                for got, want in zip(sorted(placed), sorted(expected), strict=True):
                    assert got[1:] == pytest.approx(want[1:], abs=1e-6), placed

                # the mask is painted in the nucleus colour on the mask's pixels, and nowhere else
                def painted(points: list[list[int]]) -> list[bool]:
                    layers = page.evaluate(_PROBE_JS, [points, W])
                    return [
                        any(px[3] > 0 and max(abs(px[i] - nucleus_rgb[i]) for i in range(3)) <= 4 for px in per_point)
                        for per_point in zip(*layers, strict=True)
                    ]

                page.wait_for_function(
                    "([sel, n]) => document.querySelectorAll(sel).length >= n", arg=[STAGE_CANVAS, 2]
                )
                deadline = time.monotonic() + 30
                while not all(painted(inside[:5])) and time.monotonic() < deadline:
                    page.wait_for_timeout(250)  # the brush layer is drawn once the RLE is decoded
                assert all(painted(inside)), "mask pixels not painted in the nucleus colour"
                assert not any(painted(outside)), "nucleus colour painted outside the mask"

                page.screenshot(path=str(screenshot), full_page=True)  # the pre-annotated page
                # submitting the pre-annotated page saves regions that decode to the predicted ones
                page.get_by_role("button", name="Submit").click()
                deadline = time.monotonic() + TIMEOUT_MS / 1000
                while not ls_client.task_annotations(image_task["task_id"]) and time.monotonic() < deadline:
                    time.sleep(0.5)
            except BaseException:
                page.screenshot(path=str(screenshot), full_page=True)
                raise
        finally:
            browser.close()

    (annotation,) = ls_client.task_annotations(image_task["task_id"])
    saved = annotation_from_ls(annotation, "image-1")
    assert saved is not None
    assert_same_regions(saved.regions, regions, probabilities=False)
    print(f"image labeling screenshot: {screenshot} ({time.monotonic() - t0:.1f} s in the browser)")
    if blocked:
        print(f"aborted {len(blocked)} non-local request(s), e.g. {blocked[:3]}")
