"""The coders' loop: mentions with ranked candidate codes go to a coder project; verdicts come back.

push
    Every text-span region of the latest text predictions (or of given tasks) becomes one coder
    task per (mention, context): ``cliniloop_id = sha256(task id, start, end)[:32]``, so a mention
    is pushed once however often this runs. Candidates come from
    :class:`cliniloop.models.text.code_candidates.CodeCandidateGenerator` with the validated mappings of the
    store, so a code coders accepted for a mention ranks first next time.
pull
    Each coder annotation becomes rows of the validated mapping table
    (:meth:`cliniloop.services.core.store.Store.upsert_code_verdict`): one ``accept`` row per ticked
    candidate, one ``alternative`` row for a typed code — checked against its code system and
    stored with ``valid=False`` and the reason when the system does not know it — and one row for
    ``reject`` / ``needs_review`` verdicts without a code. Annotations deleted in Label Studio
    lose their rows; cancelled (skipped) ones are ignored.
"""

from __future__ import annotations

import hashlib
import logging
import re
from itertools import product
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cliniloop.connectors.label_studio.client import LabelStudioClient
from cliniloop.connectors.label_studio.coding import CodingResultError, coder_label_config, coder_result, coder_task_payload
from cliniloop.services.core.schemas import CodeVerdictIn
from cliniloop.services.core.settings import Settings
from cliniloop.services.core.store import Store
from cliniloop.services.loop.predict import TEXT_MODEL_NAME

log = logging.getLogger(__name__)

CODER_KEY = "cliniloop_id"


@dataclass(frozen=True)
class CoderItem:
    """One mention to code, with where it comes from."""

    key: str
    task_id: str
    start: int
    end: int
    mention: str
    context: str
    label: str
    assertion: str | None
    section: str | None = None
    sentence_html: str = ""


@dataclass
class CodingPushReport:
    """What a coder push did."""

    project_id: int
    created: list[str] = field(default_factory=list)
    already_present: list[str] = field(default_factory=list)
    already_validated: list[str] = field(default_factory=list)
    over_budget: int = 0
    mentions: int = 0
    round_id: int | None = None


#: Occurrences of one grouped mention listed in its coder task (the verdict goes to these; the
#: normalised mention itself is what later runs rank by, however many occurrences there are).
MAX_MEMBERS = 200


def group_text(mention: str, label: str | None) -> str:
    """What identical mentions share: the case- and whitespace-folded text and the mention type."""
    return f"{' '.join(mention.split()).casefold()}|{' '.join(str(label or '').split()).casefold()}"


def coder_key(item: CoderItem) -> str:
    """Coder-task id of the group an item belongs to (one task per normalised mention and type)."""
    return hashlib.sha256(f"group:{group_text(item.mention, item.label)}".encode()).hexdigest()[:32]


def group_items(items: Sequence[CoderItem]) -> list[list[CoderItem]]:
    """Items grouped by :func:`coder_key`, groups in order of first occurrence, members in order."""
    groups: dict[str, list[CoderItem]] = {}
    for item in items:
        groups.setdefault(coder_key(item), []).append(item)
    return list(groups.values())


#: Strategies of a coders' push: ``uncertainty`` (margin between the two best candidates, the
#: default), the :mod:`cliniloop.models.sampling.strategies` ones that read candidate scores as a
#: distribution (``entropy``, ``least_confidence``, ``margin``), and the ``random`` baseline.
CODER_STRATEGIES = ("uncertainty", "entropy", "least_confidence", "margin", "random")
#: ``model_name`` of a coders' round in the rounds table.
CODER_ROUND_MODEL = "code-candidates"


def queue_order(ranked: Sequence[dict[str, Sequence[Any]]], sizes: Sequence[int], strategy: str = "uncertainty", seed: int = 0) -> list[int]:
    """Positions in coder-queue order.

    ``uncertainty``: most uncertain first (margin between the two best candidates,
    :func:`cliniloop.models.sampling.scores.score_margin`, the most uncertain code system of a
    mention counting), then the most frequent mention, then input order. The other
    :data:`CODER_STRATEGIES` go through :func:`cliniloop.models.sampling.strategies.select` with the
    candidates' scores of the most uncertain system normalised to sum to one as ``proba``.
    """
    from cliniloop.models.sampling.scores import score_margin

    if strategy not in CODER_STRATEGIES:
        raise ValueError(f"unknown coders' strategy {strategy!r}; choose one of {', '.join(CODER_STRATEGIES)}")
    uncertainty, lists_of = [], []
    for per_system in ranked:
        lists = [[c.score for c in cs] for cs in per_system.values() if cs]
        margins = score_margin(lists) if lists else None
        uncertainty.append(float(margins.max()) if margins is not None else 1.0)
        lists_of.append(lists[int(margins.argmax())] if margins is not None else [])
    if strategy == "uncertainty" or not ranked:
        return sorted(range(len(ranked)), key=lambda i: (-round(uncertainty[i], 9), -sizes[i], i))
    from cliniloop.models.sampling.strategies import PoolView, select

    width = max(2, max(len(x) for x in lists_of))
    proba = np.full((len(ranked), width), 1.0 / width)  # no candidate: nothing to go on, uniform
    for i, scores in enumerate(lists_of):
        s = np.clip(np.sort(np.asarray(scores, dtype=np.float64))[::-1], 1e-9, None)
        if s.size:
            proba[i] = 0.0
            proba[i, : s.size] = s / s.sum()
    ids = tuple(str(i) for i in range(len(ranked)))
    return [int(i) for i in select(strategy, PoolView(ids=ids, proba=proba), k=len(ids), seed=seed)]


@dataclass
class CodingPullReport:
    """What a coder pull did."""

    annotations: int = 0
    created: int = 0
    updated: int = 0
    removed: int = 0
    invalid_alternatives: int = 0
    skipped: int = 0
    unreadable: list[str] = field(default_factory=list)


def sentence_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """The whole sentence holding ``text[start:end]`` (:func:`cliniloop.models.text.sentences.sentence_at`:
    no break at decimals, "E. coli", "Dr.", list numbers), never cut shorter than that sentence."""
    from cliniloop.models.text.sentences import sentence_at

    return sentence_at(text, start, end)


def sentence_around(text: str, start: int, end: int) -> str:
    """The whole sentence holding ``text[start:end]``, white space folded (see :func:`sentence_bounds`)."""
    a, b = sentence_bounds(text, start, end)
    return " ".join(text[a:b].split())


def highlighted_sentence(text: str, start: int, end: int) -> str:
    """The sentence as HTML (escaped) with the mention in ``<mark>``."""
    import html

    a, b = sentence_bounds(text, start, end)
    fold = lambda t: html.escape(re.sub(r"\s+", " ", t))  # noqa: E731
    return f"{fold(text[a:start])}<mark>{fold(text[start:end])}</mark>{fold(text[end:b])}"


def item_key(task_id: str, start: int, end: int) -> str:
    """Stable coder-task id of a mention."""
    return hashlib.sha256(f"{task_id}:{start}:{end}".encode()).hexdigest()[:32]


def coder_items(store: Store, task_ids: Sequence[str] | None = None, model_name: str = TEXT_MODEL_NAME) -> list[CoderItem]:
    """Mentions of the latest text predictions (of ``task_ids``, or of every task), in task order."""
    predictions = store.latest_predictions(model_name, task_ids)
    tasks = {t.id: t for t in store.list_tasks(modality="text", ids=list(predictions))}
    items = []
    for tid, pred in predictions.items():
        text = tasks[tid].data.get("text", "") if tid in tasks else ""
        for r in pred.regions:
            if r.get("kind") != "span" or not text:
                continue
            start, end = int(r["start"]), int(r["end"])
            items.append(
                CoderItem(
                    key=item_key(tid, start, end), task_id=tid, start=start, end=end, mention=text[start:end],
                    context=sentence_around(text, start, end), label=r.get("label", ""),
                    assertion=(r.get("attributes") or {}).get("assertion"),
                    section=(r.get("attributes") or {}).get("section"),
                    sentence_html=highlighted_sentence(text, start, end),
                )  # fmt: skip
            )
    return sorted(items, key=lambda i: (i.task_id, i.start, i.end))


def code_systems(settings: Settings) -> list[Any]:
    """ICD-10-CM and, when configured, SNOMED CT (``CLINILOOP_SNOMED_RF2``), RxNorm
    (``CLINILOOP_RXNORM_RRF``), LOINC (``CLINILOOP_LOINC``) and ICD-10-PCS (``CLINILOOP_ICD10PCS``),
    cached under ``var/cache``."""
    from cliniloop.taxonomies.codes.icd10cm import load_icd10cm
    from cliniloop.taxonomies.codes.icd10pcs import icd10pcs_from_settings
    from cliniloop.taxonomies.codes.releases import loinc_from_settings, rxnorm_from_settings
    from cliniloop.taxonomies.codes.snomed import snomed_from_settings

    cache = settings.var_dir / "cache"
    systems = [load_icd10cm(cache)]
    for extra in (
        snomed_from_settings(settings.snomed_rf2, cache),
        rxnorm_from_settings(getattr(settings, "rxnorm_rrf", None), cache),
        loinc_from_settings(getattr(settings, "loinc", None), cache),
        icd10pcs_from_settings(getattr(settings, "icd10pcs", None), cache),
    ):
        if extra is not None:
            systems.append(extra)
    return systems


def candidate_generator(store: Store, settings: Settings, systems: Sequence[Any] | None = None) -> Any:
    """A fitted candidate generator that ranks the store's validated mappings first and offers
    nothing below each system's calibrated offer threshold
    (:func:`~cliniloop.models.text.code_candidates.offer_threshold_for`); a SNOMED CT release, when
    configured, is also the thesaurus (a mention that is one of its names is searched under the others)."""
    from cliniloop.models.text.code_candidates import _CLINICAL_TAGS, OFFER_THRESHOLDS, CodeCandidateGenerator
    from cliniloop.models.text.code_policy import POLICY_SNOMED_TAGS

    systems = list(systems) if systems is not None else code_systems(settings)
    thesaurus = next((s for s in systems if s.name == "snomed"), None)
    # SNOMED procedures, products/substances, observables and body structures are indexed too:
    # each mention type then keeps only its own tags (cliniloop.models.text.code_policy).
    return CodeCandidateGenerator(
        systems, accepted=store.accepted_mappings(), cache_dir=settings.var_dir / "cache",
        snomed_tags=_CLINICAL_TAGS | POLICY_SNOMED_TAGS, offer_threshold=dict(OFFER_THRESHOLDS), thesaurus=thesaurus,
    ).fit()  # fmt: skip


def push_coder_tasks(
    store: Store,
    client: LabelStudioClient,
    project_title: str,
    items: Sequence[CoderItem],
    generator: Any,
    k: int = 5,
    budget: int | None = None,
    strategy: str = "uncertainty",
    seed: int = 0,
) -> CodingPushReport:
    """Create the coder project if needed and import a queue of mentions Label Studio does not hold yet.

    Identical mentions (:func:`group_text`: folded text + type) become one task whose
    ``meta.members`` lists their occurrences (the verdict is stored for each on pull); a mention
    whose :func:`~cliniloop.models.text.code_textnorm.normalise_mention` text already has a validated mapping
    is not queued; mention types with no configured code system (Anatomy without SNOMED CT) are
    not queued. Of the rest, the ``budget`` first in ``strategy`` order (:func:`queue_order`) are
    imported; ``None``: all of them. The push is a recorded round (``store.rounds()``: strategy,
    model :data:`CODER_ROUND_MODEL`, the code systems' versions, the coder-task keys), marked pushed
    once Label Studio took the tasks. ``report.created`` / ``already_present`` /
    ``already_validated`` hold task keys; ``report.round_id`` the round.
    """
    from cliniloop.models.text.code_textnorm import normalise_mention
    project_id = client.ensure_project(project_title, coder_label_config())
    report = CodingPushReport(project_id=project_id)
    from cliniloop.models.text.code_policy import queued

    present = client.existing_task_ids(project_id, key=CODER_KEY)
    system_names = [s.name for s in generator.systems]
    items = [i for i in items if queued(i.label, system_names)]  # Anatomy without SNOMED CT: nothing to code
    report.mentions = len(items)
    # stored keys were normalised by the rules of their day: fold them the current way (GB spellings)
    validated = {normalise_mention(key) for key in store.accepted_mappings()}
    groups = []
    for group in group_items(items):
        key = coder_key(group[0])
        if key in present:
            report.already_present.append(key)
        elif normalise_mention(group[0].mention) in validated:
            report.already_validated.append(key)
        else:
            groups.append(group)
    ranked_all = generator.candidates_many([(g[0].mention, g[0].context, g[0].assertion, g[0].label) for g in groups], k=k)
    order = queue_order(ranked_all, [len(g) for g in groups], strategy, seed)
    if budget is not None:
        report.over_budget = max(0, len(order) - budget)
        order = order[: max(0, budget)]
    versions = {s.name: s.taxonomy_version for s in generator.systems}
    payloads = []
    todo = []
    for pos in order:
        group, ranked = groups[pos], ranked_all[pos]
        item = group[0]
        todo.append(item)
        candidates = [
            {"system": c.system, "code": c.code, "display": c.display, "score": c.score} for cs in ranked.values() for c in cs
        ]
        meta = {
            "task_id": item.task_id, "start": item.start, "end": item.end, "label": item.label, "taxonomy_versions": versions,
            "occurrences": len(group), "members": [[m.task_id, m.start, m.end] for m in group[:MAX_MEMBERS]],
        }  # fmt: skip
        payload = coder_task_payload(
            item.mention, item.context, candidates, meta, section=item.section, assertion=item.assertion,
            label=item.label, sentence_html=item.sentence_html,
        )  # fmt: skip
        payload["data"][CODER_KEY] = coder_key(item)
        payload["data"]["occurrences"] = len(group)
        payloads.append(payload)
    if payloads:
        keys = [coder_key(i) for i in todo]
        # the code systems' versions in a column of 128 characters: a digest of them (the tasks carry them whole)
        version = "systems-" + hashlib.sha256(" + ".join(sorted(versions.values())).encode()).hexdigest()[:12]
        report.round_id = store.add_round(strategy, CODER_ROUND_MODEL, version, len(keys) if budget is None else budget, keys)
        client.import_tasks(project_id, payloads)
        store.mark_round_pushed(report.round_id)
        report.created = keys
    store.audit(
        "cliniloop", "push_coder_tasks", "project", str(project_id), created=len(report.created),
        present=len(report.already_present), validated=len(report.already_validated), over_budget=report.over_budget,
    )  # fmt: skip
    return report


def _validate(system: str, code: str, systems: dict[str, Any]) -> tuple[str, str, bool, str | None]:
    """``(system, canonical code, valid, problem)`` for a typed alternative code."""
    from cliniloop.taxonomies.codes.icd10cm import normalise_icd10cm

    if system not in systems:
        known = ", ".join(sorted(systems))
        return system, code, False, f"{code!r}: system {system!r} is not configured (known: {known})"
    if system == "icd10cm":
        canonical = normalise_icd10cm(code, systems["icd10cm"])
        if canonical is None:
            return system, code, False, f"{code!r} is not an ICD-10-CM code"
        return system, canonical, True, None
    if system == "icd10pcs":
        from cliniloop.taxonomies.codes.icd10pcs import normalise_icd10pcs

        canonical = normalise_icd10pcs(code, systems["icd10pcs"])
        if canonical is None:
            return system, code, False, f"{code!r} is not an ICD-10-PCS code"
        return system, canonical, True, None
    if code in systems[system]:
        return system, code, True, None
    return system, code, False, f"{code!r} is not an active {system} concept"


def pull_coder_verdicts(store: Store, client: LabelStudioClient, project_id: int, systems: Sequence[Any]) -> CodingPullReport:
    """Bring coder annotations back as validated-mapping rows (see the module docstring)."""
    from cliniloop.models.text.code_textnorm import normalise_mention

    by_name = {s.name: s for s in systems}
    report = CodingPullReport()
    keep: set[str] = set()
    prefix = f"{client.project_ref(project_id)}:"
    for _ls_task, data, annotations in client.iter_project_annotations(project_id):
        meta = data.get("meta") or {}
        mention = str(data.get("mention", ""))
        for ann in annotations:
            if ann.get("was_cancelled"):
                report.skipped += 1
                continue
            report.annotations += 1
            source = f"{prefix}{ann['id']}"
            try:
                result = coder_result(ann.get("result") or [])
            except CodingResultError as err:
                report.unreadable.append(f"annotation {ann['id']}: {err}")
                continue
            coder = str(ann.get("completed_by") or "unknown")
            rows: list[tuple[str, str, str, bool, str | None]] = [(s, c, "accept", True, None) for s, c in result.chosen]
            if result.alternative is not None:
                system, code, valid, problem = _validate(*result.alternative, by_name)
                rows.append((system, code, "alternative", valid, problem))
                report.invalid_alternatives += not valid
            if not rows:
                rows.append(("any", "", result.verdict, True, None))
            elif result.verdict != "accept":
                rows = [(s, c, v if v == "alternative" else result.verdict, ok, p) for s, c, v, ok, p in rows]
            members = [m[0] for m in meta.get("members") or []] or [meta.get("task_id")]
            for (n, (system, code, verdict, valid, problem)), (j, member_task) in product(enumerate(rows), enumerate(members)):
                sid = f"{source}:{n}" if j == 0 else f"{source}:{n}:{j}"  # a grouped mention: one row per occurrence
                keep.add(sid)
                concept = by_name[system].concepts.get(code) if system in by_name else None
                status = store.upsert_code_verdict(
                    CodeVerdictIn(
                        task_id=member_task, mention=mention, normalized_mention=normalise_mention(mention),
                        context=str(data.get("context", "")), system=system, code=code,
                        display=concept.display if concept else "", coder=coder, verdict=verdict, valid=valid,
                        problem=problem, source_annotation_id=sid,
                        taxonomy_version=by_name[system].taxonomy_version if system in by_name else "unknown",
                    )  # fmt: skip
                )
                report.created += status == "created"
                report.updated += status == "updated"
    report.removed = store.remove_code_verdicts_except(prefix, keep)
    store.audit(
        "label_studio", "pull_coder_verdicts", "project", str(project_id),
        annotations=report.annotations, created=report.created, updated=report.updated, removed=report.removed,
        invalid_alternatives=report.invalid_alternatives,
    )  # fmt: skip
    return report


def span_code_candidates(generator: Any, k: int = 3) -> Any:
    """A ``(note text, regions) -> regions`` function for :func:`cliniloop.services.loop.push.push_tasks`.

    Each text span gets ``attributes["codes"]``: the top ``k`` candidates per code system for its
    text, with its sentence as context, its assertion and its label as mention type (a Test,
    Medication or Anatomy span gets no ICD-10-CM code: :mod:`cliniloop.models.text.code_policy`), ranked by ``generator`` (which ranks the
    coders' validated mappings first).
    """
    from cliniloop.connectors.label_studio.convert import CODES_ATTRIBUTE

    # The ranking depends on the mention, the assertion and only the qualifier words (laterality,
    # acuity, severity) its sentence adds: queries equal in those are ranked once and cached.
    qualifiers = getattr(generator, "_qualifier_mask", None)
    cache: dict[tuple[Any, ...], list[dict[str, Any]]] = {}

    def key_of(query: tuple[str, str, Any, Any]) -> tuple[Any, ...]:
        mention, context, assertion, label = query
        return (mention, qualifiers(context, mention), assertion, label) if qualifiers is not None else query

    def attach_many(items: Sequence[tuple[str, Sequence[Any]]]) -> list[list[Any]]:
        """Many notes at once: one ranking call, each distinct query ranked once (and cached)."""
        spans = [[r for r in regions if getattr(r, "kind", None) == "span"] for _, regions in items]
        queries = [
            [(r.text, sentence_around(text, r.start, r.end), r.attributes.get("assertion"), getattr(r, "label", None)) for r in note_spans]
            for (text, _), note_spans in zip(items, spans, strict=True)
        ]
        keys = [[key_of(q) for q in note] for note in queries]
        if len(cache) > 200_000:
            cache.clear()
        todo = {key: q for note_q, note_k in zip(queries, keys, strict=True) for q, key in zip(note_q, note_k, strict=True) if key not in cache}
        if todo:
            for key, per_system in zip(todo, generator.candidates_many(list(todo.values()), k=k), strict=True):
                cache[key] = [
                    {"system": c.system, "code": c.code, "display": c.display, "score": round(float(c.score), 3)}
                    for cs in per_system.values()
                    for c in cs
                ]
        out: list[list[Any]] = []
        for (_, regions), note_spans, note_keys in zip(items, spans, keys, strict=True):
            codes = {id(r): [dict(c) for c in cache[key]] for r, key in zip(note_spans, note_keys, strict=True)}
            out.append([
                r.model_copy(update={"attributes": {**r.attributes, CODES_ATTRIBUTE: codes[id(r)]}}) if id(r) in codes else r
                for r in regions
            ])  # fmt: skip
        return out

    def attach(text: str, regions: Sequence[Any]) -> list[Any]:
        return attach_many([(text, regions)])[0]

    attach.many = attach_many  # type: ignore[attr-defined]
    return attach


def span_code_candidates_for(store: Store, settings: Settings) -> Any:
    """:func:`span_code_candidates` as configured (``CLINILOOP_SPAN_CODE_CANDIDATES``), or ``None`` when 0."""
    if not settings.span_code_candidates:
        return None
    return span_code_candidates(candidate_generator(store, settings), settings.span_code_candidates)
