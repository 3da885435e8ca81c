"""The quality dashboard as one self-contained, server-rendered HTML page.

:func:`render_dashboard` turns what :func:`cliniloop.services.quality.dashboard_data.dashboard_data`
gathers into a page with inline CSS and inline SVG charts only: no script, no font, image or
style sheet fetched from anywhere. Every value from the store is escaped with
:func:`html.escape`.

The page shows, per project (one section per modality), the queue and a progress chart and the
agreement per label with its threshold; then annotators' gold accuracy, suggestion acceptance
per model version, the learning curve of every promoted model and the newest audit events.
Every chart has a ``<title>`` and writes its values as text (the page reads without colour);
an empty part says so in a sentence instead of drawing an empty chart.

Charts carry ``data-*`` attributes (``data-chart``, ``data-label``, ``data-value``, ...) so a
browser test can check what was drawn.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

#: Width of every chart's drawing area (``viewBox`` units; the page scales it down on narrow screens).
CHART_WIDTH = 640
#: Height of one bar row.
ROW_HEIGHT = 26
#: Room for the row labels left of the bars and the value texts right of them.
LABEL_WIDTH = 200
VALUE_WIDTH = 96
#: Room above the bars (reference line label) and below them (axis).
TOP = 22
BOTTOM = 34

#: Queue counts in table order, with their headings.
QUEUE_FIELDS = (
    ("tasks", "Tasks"),
    ("predicted", "Predicted"),
    ("pushed", "Sent to Label Studio"),
    ("annotated", "Annotated"),
    ("multi_annotated", "Two or more annotators"),
    ("adjudications_open", "Adjudications open"),
    ("adjudications_resolved", "Adjudications resolved"),
    ("gold_tasks", "Gold checks"),
)
#: Rows of the progress chart: a share of the project's tasks each.
PROGRESS_FIELDS = (("predicted", "predicted"), ("pushed", "sent to Label Studio"), ("annotated", "annotated"))
#: Suggestion outcomes in stacking order, with their colour (Okabe-Ito: safe for colour blindness).
OUTCOMES = (("accepted", "#009e73"), ("edited", "#e69f00"), ("deleted", "#d55e00"), ("missed", "#56b4e9"))
#: Readable names of the agreement measures.
MEASURE_NAMES = {
    "span_f1_exact": "span F1 (exact)",
    "span_f1_overlap": "span F1 (overlap)",
    "assertion_kappa": "assertion kappa",
    "assertion_fleiss_kappa": "assertion Fleiss kappa",
    "beat_f1": "beat F1",
    "beat_class_kappa": "beat class kappa",
    "beat_class_f1": "beat class F1",
    "event_f1": "event F1",
    "region_f1": "region F1",
    "verdict_kappa": "verdict kappa",
    "verdict_fleiss_kappa": "verdict Fleiss kappa",
}

CSS = """
:root { color-scheme: light; --ink: #1f2933; --muted: #616e7c; --line: #d9dee4; --card: #fff; --bg: #f3f5f7;
  --bar: #3b6ea8; --low: #c2410c; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header.page { padding: 20px 28px 12px; border-bottom: 1px solid var(--line); background: var(--card); }
header.page h1 { margin: 0 0 4px; font-size: 22px; }
.meta { margin: 0; color: var(--muted); }
main { padding: 20px 28px 40px; max-width: 1500px; }
section { margin: 0 0 28px; }
section > h2 { margin: 0 0 10px; font-size: 18px; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 460px), 1fr)); gap: 16px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px;
  box-shadow: 0 1px 2px rgba(0, 0, 0, .04); min-width: 0; }
.card h3 { margin: 0 0 8px; font-size: 15px; }
.card.wide { grid-column: 1 / -1; }
.empty { color: var(--muted); font-style: italic; margin: 6px 0; }
.note { color: var(--muted); margin: 6px 0; font-size: 13px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin: 6px 0; }
th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) { background: #f8f9fb; }
.table-wrap { overflow-x: auto; }
table.suggestions { font-size: 12px; }
table.suggestions th, table.suggestions td { padding: 4px 4px; }
.badge { display: inline-block; padding: 0 6px; border-radius: 9px; font-size: 12px; border: 1px solid; }
.badge.low { color: var(--low); border-color: var(--low); }
.badge.ok { color: #137333; border-color: #137333; }
ul.plain { margin: 4px 0; padding-left: 18px; }
ul.legend { list-style: none; padding: 0; margin: 6px 0; display: flex; gap: 14px; flex-wrap: wrap; font-size: 13px; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; margin-right: 5px; vertical-align: -1px; }
svg.chart { display: block; max-width: 100%; height: auto; margin: 4px 0 8px; }
svg.chart text { font-size: 12px; fill: var(--ink); }
svg.chart text.muted, svg.chart .axis text { fill: var(--muted); }
svg.chart .axis line, svg.chart .axis path { stroke: #9aa5b1; stroke-width: 1; }
svg.chart .grid-line { stroke: #e6e9ed; stroke-width: 1; }
svg.chart rect.bar { fill: var(--bar); }
svg.chart rect.bar.low { fill: var(--low); }
svg.chart rect.track { fill: #e8ecf0; }
svg.chart rect.fill { fill: var(--bar); }
svg.chart line.reference { stroke: var(--ink); stroke-width: 1.5; stroke-dasharray: 5 3; }
svg.chart polyline { fill: none; stroke: var(--bar); stroke-width: 2; }
svg.chart circle.point { fill: var(--card); stroke: var(--bar); stroke-width: 2; }
svg.chart text.seg-count { fill: #fff; font-weight: 600; }
svg.chart text.value { paint-order: stroke; stroke: var(--card); stroke-width: 3px; stroke-linejoin: round; }
"""


class _Html(str):
    """Markup that is already safe (built here, its values escaped): not escaped again."""


def _e(value: Any) -> str:
    """``value`` as escaped text (``None`` -> empty)."""
    return "" if value is None else escape(str(value), quote=True)


def _num(value: Any, digits: int = 2) -> str:
    """A number for reading: ints as they are, floats rounded, ``None`` as an en dash."""
    if value is None:
        return "\u2013"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return str(value) if isinstance(value, int) else f"{value:.{digits}f}"


def _pct(part: float, whole: float) -> str:
    """``part / whole`` as a percentage (``-`` without a whole)."""
    return f"{100 * part / whole:.0f}%" if whole else "\u2013"


def _data_value(value: float) -> str:
    """A number for a ``data-*`` attribute (short, yet exact enough to compare)."""
    return format(float(value), ".6g")


def _short(text: str, limit: int = 28) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _nothing(sentence: str) -> str:
    """A short sentence saying there is nothing to show yet."""
    return f'<p class="empty">{_e(sentence)}</p>'


def _cell(value: Any, numeric: bool = False) -> str:
    """One ``<td>``; ``_Html`` content goes in as it is, anything else escaped."""
    content = value if isinstance(value, _Html) else _e(value)
    return f'<td class="num">{content}</td>' if numeric else f"<td>{content}</td>"


def _table(cls: str, headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Iterable[int] = ()) -> str:
    """A ``<table class=cls>`` with a header row; columns in ``numeric`` are right-aligned.

    Parameters
    ----------
    cls : str
        The table's class (tests find tables by it).
    headers : sequence of str
        Column headings.
    rows : iterable of sequence
        Cell values (escaped unless :class:`_Html`).
    numeric : iterable of int
        Indexes of number columns.
    """
    nums = set(numeric)
    head = "".join(f'<th class="num">{_e(h)}</th>' if i in nums else f"<th>{_e(h)}</th>" for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(_cell(v, i in nums) for i, v in enumerate(row)) + "</tr>" for row in rows)
    return f'<div class="table-wrap"><table class="{_e(cls)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _svg(chart: str, title: str, description: str, height: float, body: str, width: float = CHART_WIDTH) -> str:
    """An inline ``<svg class="chart">`` with its ``<title>`` and ``<desc>``."""
    return (
        f'<svg class="chart" data-chart="{_e(chart)}" role="img" viewBox="0 0 {width:g} {height:g}" width="{width:g}" height="{height:g}">'
        f"<title>{_e(title)}</title><desc>{_e(description)}</desc>{body}</svg>"
    )


def _card(title: str, body: str, cls: str = "card") -> str:
    """A card with a heading."""
    return f'<div class="{_e(cls)}"><h3>{_e(title)}</h3>{body}</div>'


def _scale(value: float, lo: float, hi: float, start: float, end: float) -> float:
    """Map ``value`` of ``[lo, hi]`` onto ``[start, end]`` (the middle when ``lo == hi``)."""
    if hi == lo:
        return (start + end) / 2
    return start + (value - lo) / (hi - lo) * (end - start)


def _nice_step(span: float, count: int = 5, integer: bool = False) -> float:
    """A round tick step (1, 2, 2.5 or 5 times a power of ten) giving at most ``count`` steps."""
    raw = span / count if span > 0 else 1.0
    magnitude = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        step = m * magnitude
        if step >= raw and not (integer and step != int(step)):
            return step
    return 10 * magnitude


def _ticks(lo: float, hi: float, step: float) -> list[float]:
    """Ticks from ``lo`` to ``hi`` every ``step``."""
    n = int(round((hi - lo) / step)) if step > 0 else 0
    return [lo + i * step for i in range(n + 1)]


def _unit_domain(values: Iterable[float]) -> tuple[float, float]:
    """``[0, 1]`` widened to hold negative values (kappa) in steps of 0.25."""
    lowest = min(values, default=0.0)
    return (min(0.0, math.floor(lowest * 4) / 4), max(1.0, math.ceil(max(values, default=1.0) * 4) / 4))


def _x_axis(lo: float, hi: float, x0: float, x1: float, y: float, top: float, step: float) -> str:
    """A horizontal value axis with ticks, labels and light grid lines up to ``top``."""
    parts = [f'<g class="axis"><line x1="{x0:.1f}" y1="{y:.1f}" x2="{x1:.1f}" y2="{y:.1f}"/>']
    for t in _ticks(lo, hi, step):
        x = _scale(t, lo, hi, x0, x1)
        parts.append(
            f'<line class="grid-line" x1="{x:.1f}" y1="{top:.1f}" x2="{x:.1f}" y2="{y:.1f}"/>'
            f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{x:.1f}" y2="{y + 4:.1f}"/>'
            f'<text x="{x:.1f}" y="{y + 16:.1f}" text-anchor="middle">{_e(f"{t:g}")}</text>'
        )
    parts.append("</g>")
    return "".join(parts)


def _reference_line(value: float, lo: float, hi: float, x0: float, x1: float, top: float, bottom: float, label: str) -> str:
    """A dashed vertical line at ``value`` (threshold, target) with its label above."""
    x = _scale(value, lo, hi, x0, x1)
    return (
        f'<g class="reference" data-value="{_data_value(value)}"><line class="reference" x1="{x:.1f}" y1="{top:.1f}" '
        f'x2="{x:.1f}" y2="{bottom:.1f}"/><text x="{x:.1f}" y="{top - 6:.1f}" text-anchor="middle">{_e(label)}</text></g>'
    )


def _bar_rows(items: Sequence[Mapping[str, Any]], lo: float, hi: float) -> str:
    """Horizontal bars, one row each: label, bar from 0 to the value, value text.

    Each item has ``label`` (shown left), ``value``, ``attrs`` (``data-*`` of the bar), ``note``
    (appended to the value text, e.g. "low") and ``low`` (class ``bar low``).
    """
    x0, x1 = LABEL_WIDTH, CHART_WIDTH - VALUE_WIDTH
    zero = _scale(0.0, lo, hi, x0, x1)
    parts = []
    for i, item in enumerate(items):
        y = TOP + i * ROW_HEIGHT
        x = _scale(float(item["value"]), lo, hi, x0, x1)
        left, width = min(x, zero), max(abs(x - zero), 1.0)
        attrs = "".join(f' data-{k}="{_e(v)}"' for k, v in item["attrs"].items())
        cls = "bar low" if item["low"] else "bar"
        text = f"{_num(float(item['value']))}{' ' + item['note'] if item['note'] else ''}"
        parts.append(
            f'<text x="{x0 - 8}" y="{y + ROW_HEIGHT / 2 + 4:.1f}" text-anchor="end">{_e(_short(item["label"]))}</text>'
            f'<rect class="{cls}"{attrs} data-value="{_data_value(item["value"])}" x="{left:.1f}" y="{y + 4:.1f}" '
            f'width="{width:.1f}" height="{ROW_HEIGHT - 8}"><title>{_e(item["label"])}: {_e(text)}</title></rect>'
            f'<text class="value" x="{max(x, zero) + 6:.1f}" y="{y + ROW_HEIGHT / 2 + 4:.1f}">{_e(text)}</text>'
        )
    return "".join(parts)


def _bar_chart(chart: str, title: str, items: Sequence[Mapping[str, Any]], reference: float, reference_label: str, axis: str) -> str:
    """A horizontal bar chart of values around [0, 1] with a dashed reference line."""
    lo, hi = _unit_domain(float(i["value"]) for i in items)
    bottom = TOP + len(items) * ROW_HEIGHT
    x0, x1 = LABEL_WIDTH, CHART_WIDTH - VALUE_WIDTH
    body = (
        _x_axis(lo, hi, x0, x1, bottom, TOP, 0.25)
        + _bar_rows(items, lo, hi)
        + _reference_line(reference, lo, hi, x0, x1, TOP, bottom, reference_label)
        + f'<text class="muted" x="{(x0 + x1) / 2:.1f}" y="{bottom + BOTTOM - 2}" text-anchor="middle">{_e(axis)}</text>'
    )
    description = "; ".join(f"{i['label']}: {_num(float(i['value']))}" for i in items)
    return _svg(chart, title, description, bottom + BOTTOM + 4, body)


# -- per project ------------------------------------------------------------------------------
def _queue_table(queue: Mapping[str, int]) -> str:
    """The queue counts of one project as a two-column table."""
    rows = [(name, queue.get(key, 0)) for key, name in QUEUE_FIELDS]
    return _table("queue", ("Stage", "Count"), rows, numeric=(1,))


def _progress_chart(modality: str, queue: Mapping[str, int]) -> str:
    """Predicted, sent and annotated tasks as shares of the project's tasks (one track per stage)."""
    total = int(queue.get("tasks", 0))
    if not total:
        return _nothing("No tasks yet.")
    x0, x1 = LABEL_WIDTH, CHART_WIDTH - VALUE_WIDTH
    parts = []
    for i, (key, name) in enumerate(PROGRESS_FIELDS):
        count = int(queue.get(key, 0))
        y = TOP + i * ROW_HEIGHT
        width = _scale(min(count, total), 0, total, x0, x1) - x0
        text = f"{count} / {total} ({_pct(count, total)})"
        parts.append(
            f'<text x="{x0 - 8}" y="{y + ROW_HEIGHT / 2 + 4:.1f}" text-anchor="end">{_e(name)}</text>'
            f'<rect class="track" x="{x0}" y="{y + 4:.1f}" width="{x1 - x0}" height="{ROW_HEIGHT - 8}"/>'
            f'<rect class="fill" data-measure="{_e(key)}" data-count="{count}" data-total="{total}" x="{x0}" '
            f'y="{y + 4:.1f}" width="{width:.1f}" height="{ROW_HEIGHT - 8}"><title>{_e(name)}: {_e(text)}</title></rect>'
            f'<text x="{x1 + 6}" y="{y + ROW_HEIGHT / 2 + 4:.1f}">{_e(text)}</text>'
        )
    bottom = TOP + len(PROGRESS_FIELDS) * ROW_HEIGHT
    parts.append(_x_axis(0, total, x0, x1, bottom, TOP, _nice_step(total, 5, integer=True)))
    parts.append(f'<text class="muted" x="{(x0 + x1) / 2:.1f}" y="{bottom + BOTTOM - 2}" text-anchor="middle">tasks (of {total})</text>')
    description = "; ".join(f"{name}: {queue.get(key, 0)} of {total}" for key, name in PROGRESS_FIELDS)
    return _svg(f"progress-{modality}", f"Progress of the {modality} project", description, bottom + BOTTOM + 4, "".join(parts))


def _row_name(row: Mapping[str, Any]) -> str:
    """``label · measure`` of an agreement row (``all`` reads "all labels")."""
    label = "all labels" if row.get("label") == "all" else str(row.get("label"))
    return f"{label} \u00b7 {MEASURE_NAMES.get(str(row.get('measure')), str(row.get('measure')))}"


def _agreement_chart(modality: str, rows: Sequence[Mapping[str, Any]], threshold: float) -> str:
    """One bar per agreement row with a value; bars under ``threshold`` are marked low."""
    valued = [r for r in rows if r.get("value") is not None]
    if not valued:
        return _nothing("No agreement yet: no task has been labelled by two annotators.")
    items = [
        {"label": _row_name(r), "value": r["value"], "attrs": {"label": r["label"], "measure": r["measure"]},
         "low": r["value"] < threshold, "note": "low" if r["value"] < threshold else ""}
        for r in valued
    ]  # fmt: skip
    return _bar_chart(
        f"agreement-{modality}", f"Agreement per label, {modality} project (threshold {threshold:g})",
        items, threshold, f"threshold {threshold:g}", "agreement (F1 or kappa)",
    )  # fmt: skip


def _agreement_table(rows: Sequence[Mapping[str, Any]], threshold: float) -> str:
    """The agreement rows with their status against ``threshold``."""
    if not rows:
        return ""

    def status(value: float | None) -> _Html:
        if value is None:
            return _Html("\u2013")
        return _Html('<span class="badge low">low</span>' if value < threshold else '<span class="badge ok">ok</span>')

    body = [
        (r["label"], MEASURE_NAMES.get(r["measure"], r["measure"]), _num(r["value"]), r.get("items", ""), status(r["value"]))
        for r in rows
    ]  # fmt: skip
    return _table("agreement", ("Label", "Measure", "Value", "Items", "Status"), body, numeric=(2, 3))


def _low_labels(labels: Sequence[str], threshold: float) -> str:
    """The labels under the agreement threshold, as a list."""
    if not labels:
        return f'<p class="note">No label below the threshold ({threshold:g}).</p>'
    items = "".join(f"<li>{_e(label)}</li>" for label in labels)
    return f'<p class="note">Below the threshold ({threshold:g}):</p><ul class="plain low-labels">{items}</ul>'


def _project_section(project: Mapping[str, Any], threshold: float) -> str:
    """One project: queue table and progress chart; agreement chart, table and low labels."""
    modality = str(project.get("modality", ""))
    queue = project.get("queue", {})
    rows = project.get("agreement", [])
    refs = project.get("project_refs", [])
    where = f'<p class="note">Label Studio: {", ".join(_e(r) for r in refs)}</p>' if refs else '<p class="note">Not sent to Label Studio yet.</p>'
    queue_card = _card("Queue and progress", _progress_chart(modality, queue) + _queue_table(queue) + where)
    agreement_body = _agreement_chart(modality, rows, threshold) + _agreement_table(rows, threshold)
    if rows:
        agreement_body += _low_labels(project.get("low_labels", []), threshold)
    agreement_card = _card("Agreement per label", agreement_body)
    return (
        f'<section class="project" data-modality="{_e(modality)}"><h2>Project: {_e(modality)}</h2>'
        f'<div class="grid">{queue_card}{agreement_card}</div></section>'
    )


def _projects(projects: Sequence[Mapping[str, Any]], threshold: float) -> str:
    """Every project's section, or a sentence when there are none."""
    if not projects:
        return f'<section class="projects"><h2>Projects</h2>{_nothing("No tasks yet.")}</section>'
    return "".join(_project_section(p, threshold) for p in projects)


# -- gold checks ------------------------------------------------------------------------------
def _gold_chart(annotators: Sequence[Mapping[str, Any]], target: float) -> str:
    """One bar per annotator: accuracy on gold tasks, with the target line."""
    valued = [a for a in annotators if a.get("accuracy") is not None]
    if not valued:
        return ""
    items = [
        {"label": a["annotator"], "value": a["accuracy"], "attrs": {"annotator": a["annotator"]},
         "low": a["accuracy"] < target, "note": "below target" if a["accuracy"] < target else ""}
        for a in valued
    ]  # fmt: skip
    return _bar_chart("gold-accuracy", f"Annotators' accuracy on gold tasks (target {target:g})", items,
                      target, f"target {target:g}", "accuracy on gold tasks")  # fmt: skip


def _gold_table(annotators: Sequence[Mapping[str, Any]]) -> str:
    """Annotators' gold tasks, exact answers, accuracy and whether they meet the target."""
    rows = [
        (a["annotator"], a.get("tasks", 0), a.get("passed", 0), _num(a.get("accuracy")),
         _Html('<span class="badge ok">yes</span>' if a.get("meets_target") else '<span class="badge low">no</span>'))
        for a in annotators
    ]  # fmt: skip
    return _table("gold", ("Annotator", "Gold tasks", "Exact", "Accuracy", "Meets target"), rows, numeric=(1, 2, 3))


def _gold_periods(periods: Sequence[Mapping[str, Any]]) -> str:
    """Accuracy per annotator and period, folded away."""
    if not periods:
        return ""
    rows = [(p["annotator"], p["period"], p.get("tasks", 0), p.get("passed", 0), _num(p.get("accuracy"))) for p in periods]
    table = _table("gold-periods", ("Annotator", "Period", "Gold tasks", "Exact", "Accuracy"), rows, numeric=(2, 3, 4))
    return f"<details><summary>Per period</summary>{table}</details>"


def _gold_section(gold: Mapping[str, Any]) -> str:
    """Annotators' gold accuracy: chart, table, those below the target."""
    target = float(gold.get("target", 0.0))
    annotators = gold.get("annotators", [])
    if not gold.get("gold_tasks"):
        return _card("Gold accuracy", _nothing("No gold checks yet."))
    if not annotators:
        return _card("Gold accuracy", _nothing(f"No annotator has labelled one of the {gold['gold_tasks']} gold tasks yet."))
    below = gold.get("below_target", [])
    note = f"Below the target: {', '.join(map(str, below))}." if below else "Every annotator meets the target."
    intro = f'<p class="note">{_e(gold["gold_tasks"])} gold tasks; target accuracy {target:g}. {_e(note)}</p>'
    return _card("Gold accuracy", intro + _gold_chart(annotators, target) + _gold_table(annotators) + _gold_periods(gold.get("periods", [])))


# -- suggestions ------------------------------------------------------------------------------
def _version_bar(version: Mapping[str, Any], y: float, biggest: int) -> str:
    """One model version's stacked bar of outcomes, with its acceptance as text."""
    x0, x1 = LABEL_WIDTH, CHART_WIDTH - VALUE_WIDTH
    name = str(version.get("model_version", ""))
    x = float(x0)
    segments = []
    for outcome, colour in OUTCOMES:
        count = int(version.get(outcome, 0) or 0)
        if not count:
            continue
        width = _scale(count, 0, biggest, x0, x1) - x0
        label = f'<text class="seg-count" x="{x + width / 2:.1f}" y="{y + ROW_HEIGHT / 2 + 4:.1f}" text-anchor="middle">{count}</text>' if width >= 22 else ""
        segments.append(
            f'<rect class="seg {outcome}" data-count="{count}" x="{x:.1f}" y="{y + 3:.1f}" width="{width:.1f}" '
            f'height="{ROW_HEIGHT - 6}" fill="{colour}"><title>{_e(name)}: {outcome} {count}</title></rect>{label}'
        )
        x += width
    acceptance = version.get("acceptance")
    text = f"{_pct(acceptance, 1) if acceptance is not None else 'no suggestions'} accepted"
    return (
        f'<g class="version" data-version="{_e(name)}"><title>{_e(name)}</title>'
        f'<text x="{x0 - 8}" y="{y + ROW_HEIGHT / 2 + 4:.1f}" text-anchor="end">{_e(_short(name))}</text>'
        f'{"".join(segments)}<text x="{x + 6:.1f}" y="{y + ROW_HEIGHT / 2 + 4:.1f}">{_e(text)}</text></g>'
    )


def _suggestions_chart(versions: Sequence[Mapping[str, Any]]) -> str:
    """Stacked horizontal bars: accepted, edited, deleted and missed regions per model version."""
    biggest = max((sum(int(v.get(o, 0) or 0) for o, _ in OUTCOMES) for v in versions), default=0)
    if not biggest:
        return _nothing("No suggestion has been compared with an annotation yet.")
    x0, x1 = LABEL_WIDTH, CHART_WIDTH - VALUE_WIDTH
    body = "".join(_version_bar(v, TOP + i * ROW_HEIGHT, biggest) for i, v in enumerate(versions))
    bottom = TOP + len(versions) * ROW_HEIGHT
    axis = _x_axis(0, biggest, x0, x1, bottom, TOP, _nice_step(biggest, 5, integer=True))
    caption = f'<text class="muted" x="{(x0 + x1) / 2:.1f}" y="{bottom + BOTTOM - 2}" text-anchor="middle">regions (suggested or added)</text>'
    description = "; ".join(
        f"{v.get('model_version')}: " + ", ".join(f"{o} {v.get(o, 0)}" for o, _ in OUTCOMES) for v in versions
    )
    return _svg("suggestions", "Suggestion outcomes per model version", description, bottom + BOTTOM + 4, axis + body + caption)


def _legend() -> str:
    """What the suggestion colours mean."""
    items = "".join(f'<li><span class="swatch" style="background:{c}"></span>{o}</li>' for o, c in OUTCOMES)
    return f'<ul class="legend">{items}</ul>'


def _flags(versions: Sequence[Mapping[str, Any]]) -> str:
    """Every version's flags (rubber-stamping, misleading suggestions), or a sentence saying there are none."""
    items = "".join(
        f'<li><strong>{_e(v.get("model_version"))}</strong>: <span class="badge low">{_e(f)}</span></li>'
        for v in versions for f in v.get("flags") or []
    )  # fmt: skip
    return f'<p class="note">Flags:</p><ul class="plain flags">{items}</ul>' if items else '<p class="note">No version flagged.</p>'


def _suggestions_table(versions: Sequence[Mapping[str, Any]]) -> str:
    """Outcome counts, acceptance and flags per model version."""
    rows = [
        (v.get("model_version"), v.get("annotations", 0), v.get("unchanged_annotations", 0),
         *(v.get(o, 0) for o, _ in OUTCOMES), v.get("suggested", 0),
         _pct(v["acceptance"], 1) if v.get("acceptance") is not None else "\u2013")
        for v in versions
    ]  # fmt: skip
    headers = ("Version", "Annot.", "Unchanged", "Accepted", "Edited", "Deleted", "Missed", "Sugg.", "Accept.")
    return _table("suggestions", headers, rows, numeric=range(1, 9))


def _suggestions_section(versions: Sequence[Mapping[str, Any]]) -> str:
    """Suggestion acceptance per model version: chart, legend, table and flags."""
    if not versions:
        return _card("Suggestion acceptance", _nothing("No annotation started from a suggestion yet."))
    body = _suggestions_chart(versions) + _legend() + _suggestions_table(versions) + _flags(versions)
    return _card("Suggestion acceptance", body)


# -- learning curves --------------------------------------------------------------------------
def _curve_domain(points: Sequence[Mapping[str, Any]]) -> tuple[float, float, float, float, float, float]:
    """``(x_lo, x_hi, x_step, y_lo, y_hi, y_step)`` of a learning curve's axes."""
    xs = [float(p.get("labels") or 0) for p in points]
    ys = [float(p["value"]) for p in points]
    x_step = _nice_step(max(xs), 5, integer=True)
    x_hi = max(x_step, math.ceil(max(xs) / x_step) * x_step)
    if 0.0 <= min(ys) and max(ys) <= 1.0:
        return 0.0, x_hi, x_step, 0.0, 1.0, 0.25
    y_step = _nice_step(max(ys) - min(ys) or abs(max(ys)) or 1.0, 4)
    y_lo, y_hi = math.floor(min(ys) / y_step) * y_step, math.ceil(max(ys) / y_step) * y_step
    return 0.0, x_hi, x_step, y_lo, y_hi if y_hi > y_lo else y_lo + y_step, y_step


def _y_axis(lo: float, hi: float, step: float, x0: float, x1: float, y0: float, y1: float) -> str:
    """A vertical value axis at ``x0`` with ticks, labels and grid lines across to ``x1``."""
    parts = [f'<g class="axis"><line x1="{x0:.1f}" y1="{y0:.1f}" x2="{x0:.1f}" y2="{y1:.1f}"/>']
    for t in _ticks(lo, hi, step):
        y = _scale(t, lo, hi, y0, y1)
        parts.append(
            f'<line class="grid-line" x1="{x0:.1f}" y1="{y:.1f}" x2="{x1:.1f}" y2="{y:.1f}"/>'
            f'<line x1="{x0 - 4:.1f}" y1="{y:.1f}" x2="{x0:.1f}" y2="{y:.1f}"/>'
            f'<text x="{x0 - 7:.1f}" y="{y + 4:.1f}" text-anchor="end">{_e(f"{t:g}")}</text>'
        )
    parts.append("</g>")
    return "".join(parts)


def _anchor(x: float, x0: float, x1: float) -> str:
    """Text anchor of a point label: kept inside the plot near its left and right edges."""
    return "start" if x - x0 < 40 else "end" if x1 - x < 40 else "middle"


def _curve_chart(curve: Mapping[str, Any]) -> str:
    """A line chart of one model's dev metric against its training labels, one point per promotion."""
    model, metric = str(curve.get("model", "")), str(curve.get("metric") or "metric")
    points = [p for p in curve.get("points", []) if p.get("value") is not None]
    if not points:
        return _nothing("No promoted version has a dev metric yet.")
    height, left, right, top, bottom = 300, 60, 24, 26, 52
    x0, x1, y0, y1 = left, CHART_WIDTH - right, height - bottom, top
    x_lo, x_hi, x_step, y_lo, y_hi, y_step = _curve_domain(points)
    xy = [(_scale(float(p.get("labels") or 0), x_lo, x_hi, x0, x1), _scale(float(p["value"]), y_lo, y_hi, y0, y1)) for p in points]
    marks = "".join(
        f'<circle class="point" data-version="{_e(p.get("version"))}" data-labels="{_e(p.get("labels") or 0)}" '
        f'data-value="{_data_value(p["value"])}" cx="{x:.1f}" cy="{y:.1f}" r="5"><title>{_e(p.get("version"))}: '
        f'{_e(metric)} {_num(float(p["value"]), 3)} with {_e(p.get("labels") or 0)} labels</title></circle>'
        f'<text class="value" x="{x:.1f}" y="{y - 10:.1f}" text-anchor="{_anchor(x, x0, x1)}">'
        f'{_e(p.get("version"))}: {_num(float(p["value"]), 3)}</text>'
        for p, (x, y) in zip(points, xy, strict=True)
    )
    line = '<polyline points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y in xy) + '"/>'
    body = (
        _y_axis(y_lo, y_hi, y_step, x0, x1, y0, y1)
        + _x_axis(x_lo, x_hi, x0, x1, y0, y1, x_step)
        + f'<text class="muted" x="{(x0 + x1) / 2:.1f}" y="{height - 10}" text-anchor="middle">labels (training examples)</text>'
        + f'<text class="muted" transform="translate(16 {(y0 + y1) / 2:.1f}) rotate(-90)" text-anchor="middle">{_e(metric)}</text>'
        + line
        + marks
    )
    description = "; ".join(f"{p.get('version')}: {metric} {_num(float(p['value']), 3)} at {p.get('labels') or 0} labels" for p in points)
    return _svg(f"learning-curve-{model}", f"Learning curve of {model}: dev {metric} against labels", description, height, body)


def _curve_table(curve: Mapping[str, Any]) -> str:
    """The promotions of one model with labels, metric value and time."""
    metric = curve.get("metric") or "metric"
    current = curve.get("promoted")
    rows = [
        (_Html(f"{_e(p.get('version'))} <span class=\"badge ok\">promoted</span>") if p.get("version") == current else p.get("version"),
         p.get("labels"), _num(p.get("value"), 3), p.get("at") or "")
        for p in curve.get("points", [])
    ]  # fmt: skip
    return _table("curve", ("Version", "Labels", str(metric), "Promoted at"), rows, numeric=(1, 2))


def _curves_section(curves: Sequence[Mapping[str, Any]]) -> str:
    """One card per promoted model with its learning curve."""
    if not curves:
        return f'<section class="curves"><h2>Learning curves</h2>{_nothing("No model has been promoted yet.")}</section>'
    cards = "".join(_card(f"Learning curve: {c.get('model', '')}", _curve_chart(c) + _curve_table(c)) for c in curves)
    return f'<section class="curves"><h2>Learning curves</h2><div class="grid">{cards}</div></section>'


# -- audit ------------------------------------------------------------------------------------
def _audit_section(events: Sequence[Mapping[str, Any]]) -> str:
    """The newest audit events, newest first."""
    if not events:
        body = _nothing("No audit events yet.")
    else:
        rows = [(e.get("at"), e.get("actor"), e.get("action"), e.get("entity"), e.get("entity_id")) for e in events]
        body = _table("audit", ("At", "Actor", "Action", "Entity", "Entity id"), rows)
    return f'<section class="audit"><h2>Recent audit events</h2><div class="card">{body}</div></section>'


# -- the page ---------------------------------------------------------------------------------
def _header(data: Mapping[str, Any]) -> str:
    """Page title, when the data was gathered, and the thresholds in use."""
    threshold = data.get("agreement_threshold")
    target = (data.get("gold") or {}).get("target")
    facts = [f"generated {data.get('generated_at', '')}"]
    if threshold is not None:
        facts.append(f"low-agreement threshold {threshold:g}")
    if target is not None:
        facts.append(f"gold target {target:g}")
    line = " \u00b7 ".join(facts)
    return f'<header class="page"><h1>cliniloop quality dashboard</h1><p class="meta">{_e(line)}</p></header>'


def render_dashboard(data: dict[str, Any]) -> str:
    """The quality dashboard page.

    Parameters
    ----------
    data : dict
        What :func:`cliniloop.services.quality.dashboard_data.dashboard_data` returns: ``generated_at``,
        ``agreement_threshold``, ``projects``, ``gold``, ``suggestions``, ``learning_curves``
        and ``audit``.

    Returns
    -------
    str
        One complete HTML document: inline CSS and SVG, no script, nothing fetched.
    """
    threshold = float(data.get("agreement_threshold") or 0.0)
    quality = (
        '<section class="quality"><h2>Annotators and suggestions</h2><div class="grid">'
        + _gold_section(data.get("gold") or {})
        + _suggestions_section(data.get("suggestions") or [])
        + "</div></section>"
    )
    main = _projects(data.get("projects") or [], threshold) + quality + _curves_section(data.get("learning_curves") or [])
    main += _audit_section(data.get("audit") or [])
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>cliniloop quality dashboard</title>"
        f"<style>{CSS}</style></head><body>{_header(data)}<main>{main}</main></body></html>"
    )
