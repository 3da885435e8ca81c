"""``cliniloop eval deid``: identifier detection scored against gold spans of any corpus.

The gold is read in its own layout (BRAT, PhysioNet ``id.text`` + ``id-phi.phrase``, i2b2 XML:
:mod:`cliniloop.connectors.sources.deid_corpora`) and its types are turned into cliniloop types and
categories by a type map (:mod:`cliniloop.models.text.deid.type_maps`). Two rules hold whatever the map:

- a gold ``DATE`` that is a year alone (``2019``, ``'19``, ``1980s``) gets category ``year`` (a year is not
  a Safe Harbor date element), so it counts under the ``broad`` profile only;
- a gold ``AGE`` whose number is under 90 is dropped (ages under 90 are not identifiers under
  either profile; the i2b2 2014 track marks every age).

Each policy profile is scored against the gold spans it must remove (``apply_profile`` on the
categories), by a detector built for that profile, *with years* (all of them) and *without years*
(gold and predicted spans of category ``year`` left out on both sides).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import regex

from cliniloop.connectors.sources.deid_corpora import GoldNote, read_gold
from cliniloop.models.text.deid.metrics import false_positives, missed_spans, score_deid
from cliniloop.models.text.deid.type_maps import TypeMap, load_type_map
from cliniloop.models.text.deid.types import DEFAULT_PROFILE, PROFILES, PhiSpan, apply_profile, check_profile

#: A year alone: ``2019``, ``'19``, a decade ``1980s``/``'80s``. Bare two-digit numbers stay dates (they may be days).
_BARE_YEAR = regex.compile(r"\s*(?:(?:1[89]|2[01])\d\d|['’]\d\d|(?:(?:1[89]|2[01])\d|['’]\d)0['’]?[sS])\s*")
_NUMBER = regex.compile(r"\d+")
YEAR = "year"


class DeidEvalError(ValueError):
    """The evaluation data cannot be used (the message names the file)."""


class Detector(Protocol):
    """What the evaluation needs of a detector (:class:`cliniloop.models.text.deid.analyzer.PhiDetector`)."""

    @property
    def version(self) -> str: ...

    def detect(self, text: str) -> list[PhiSpan]: ...


def gold_spans(note: GoldNote, type_map: TypeMap, dropped: Counter[str] | None = None) -> list[PhiSpan]:
    """A note's gold mentions as PhiSpans with the type map's types and categories.

    Parameters
    ----------
    note : GoldNote
        The note and its mentions in the corpus's own types.
    type_map : TypeMap
        Foreign type -> cliniloop type and category.
    dropped : Counter, optional
        Counts the mentions left out, by reason (``ignored <TYPE>``, ``AGE under 90``).

    Raises
    ------
    DeidEvalError
        For a mention whose type the map lacks (where it is written, the type and the map named).
    """
    spans = []
    for m in note.mentions:
        target = type_map.get(m.type)
        if target is None:
            raise DeidEvalError(
                f"{m.where}: type {m.type!r} is not in type map {type_map.name!r} "
                f"(it knows {', '.join(type_map.foreign_types())}); pass --type-map with a map that lists it"
            )
        if target.type is None:
            if dropped is not None:
                dropped[f"ignored {m.type.upper()}"] += 1
            continue
        covered = note.text[m.start : m.end]
        category = target.category
        if target.type == "DATE" and not category and _BARE_YEAR.fullmatch(covered):
            category = YEAR
        if target.type == "AGE" and (number := _NUMBER.search(covered)) and int(number.group()) < 90:
            if dropped is not None:
                dropped["AGE under 90"] += 1
            continue
        spans.append(PhiSpan(m.start, m.end, target.type, category=category))
    return spans


def without_years(spans: Sequence[PhiSpan]) -> list[PhiSpan]:
    """``spans`` less those of category ``year``."""
    return [s for s in spans if s.category != YEAR]


def score_profile(texts: Sequence[str], gold: Sequence[Sequence[PhiSpan]], predicted: Sequence[Sequence[PhiSpan]], profile: str) -> dict[str, Any]:
    """Scores of one profile's predictions against the gold that profile must remove.

    Returns
    -------
    dict
        ``with_years`` and ``without_years``, each ``{"overall": ..., "per_type": ...}``
        (:func:`cliniloop.models.text.deid.metrics.score_deid`); the gold is ``apply_profile(gold, profile)``,
        and *without years* also leaves out gold and predicted spans of category ``year``.
    """
    profile_gold = [apply_profile(list(g), profile) for g in gold]
    return {
        "with_years": score_deid(texts, profile_gold, predicted),
        "without_years": score_deid(texts, [without_years(g) for g in profile_gold], [without_years(p) for p in predicted]),
    }


def _detector_factory(
    spacy_model: str | None, threshold: float, use_name_lists: bool, statistical_names: bool = False
) -> Callable[[str], Detector]:
    def build(profile: str) -> Detector:
        from cliniloop.models.text.deid.analyzer import PhiDetector

        model = {"spacy_model": spacy_model} if spacy_model else {}
        return PhiDetector(
            **model, threshold=threshold, use_name_lists=use_name_lists, profile=profile, statistical_names=statistical_names
        ).fit()

    return build


def evaluate_deid(
    data: Path,
    *,
    spacy_model: str | None = None,
    threshold: float = 0.5,
    use_name_lists: bool = True,
    statistical_names: bool = False,
    errors_path: Path | None = None,
    type_map: str | Path | TypeMap = "identity",
    data_format: str | None = None,
    profiles: Sequence[str] | None = None,
    default_profile: str | None = None,
    detector_factory: Callable[[str], Detector] | None = None,
) -> dict[str, Any]:
    """Detect identifiers in every gold note and score them per policy profile, with and without years.

    Parameters
    ----------
    data : Path
        Gold corpus: a BRAT folder, a PhysioNet ``id.text`` + ``id-phi.phrase`` folder or file,
        or i2b2 XML (file or folder).
    spacy_model, threshold, use_name_lists, statistical_names
        Detector parameters (unused with ``detector_factory``; no ``spacy_model``: the detector's default).
    errors_path : Path, optional
        Misses and false positives of the default profile (with years), as JSON lines.
    type_map : str, Path or TypeMap
        Built-in map name, map file, or a loaded map (default: identity).
    data_format : {"brat", "physionet", "i2b2"}, optional
        The gold layout; detected from ``data`` when not given.
    profiles : sequence of str, optional
        Profiles to score (default: all of :data:`~cliniloop.models.text.deid.types.PROFILES`, the default
        profile first).
    default_profile : str, optional
        The profile whose scores also stand at the top level (default: the first of ``profiles``,
        else ``broad``).
    detector_factory : callable, optional
        ``profile -> detector`` with ``.detect(text)`` and ``.version``; by default a fitted
        :class:`~cliniloop.models.text.deid.analyzer.PhiDetector` for that profile.

    Returns
    -------
    dict
        Top level, for the default profile with years: ``overall``, ``per_type``, ``detector``,
        ``seconds``, ``notes_per_second``, ``chars_per_second`` (detection only), ``load_seconds``;
        plus ``data``, ``format``, ``type_map``, ``notes``, ``gold_dropped``, ``profile`` and
        ``profiles``: ``{profile: {"detector", "gold", "with_years", "without_years", timings}}``.

    Raises
    ------
    DeidEvalError
        For gold types the map lacks, or an unknown profile.
    """
    tmap = type_map if isinstance(type_map, TypeMap) else load_type_map(type_map)
    fmt, notes = read_gold(Path(data), data_format)
    dropped: Counter[str] = Counter()
    gold = [gold_spans(n, tmap, dropped) for n in notes]
    texts = [n.text for n in notes]
    try:
        if profiles:
            names = [check_profile(p) for p in profiles]
            default = check_profile(default_profile) if default_profile else names[0]
            if default not in names:
                names.insert(0, default)
        else:
            default = check_profile(default_profile or DEFAULT_PROFILE)
            names = [default, *(p for p in PROFILES if p != default)]
    except ValueError as err:
        raise DeidEvalError(str(err)) from None
    build = detector_factory or _detector_factory(spacy_model, threshold, use_name_lists, statistical_names)
    chars = sum(map(len, texts))
    per_profile: dict[str, dict[str, Any]] = {}
    predicted_default: list[list[PhiSpan]] = []
    for profile in names:
        t0 = time.perf_counter()
        detector = build(profile)
        detector.detect("warm up")
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        predicted = [list(detector.detect(t)) for t in texts]
        seconds = time.perf_counter() - t0
        per_profile[profile] = {
            "detector": detector.version,
            **score_profile(texts, gold, predicted, profile),
            "load_seconds": round(load_s, 2),
            "seconds": round(seconds, 3),
            "notes_per_second": round(len(texts) / seconds, 1) if seconds else None,
            "chars_per_second": round(chars / seconds) if seconds else None,
        }
        if profile == default:
            predicted_default = predicted
    top = per_profile[default]
    result: dict[str, Any] = {
        "data": str(data),
        "format": fmt,
        "type_map": tmap.name,
        "notes": len(notes),
        "profile": default,
        "detector": top["detector"],
        "threshold": threshold,
        "name_lists": use_name_lists,
        "statistical_names": statistical_names,
        **top["with_years"],
        "gold_dropped": dict(sorted(dropped.items())),
        "load_seconds": top["load_seconds"],
        "seconds": top["seconds"],
        "notes_per_second": top["notes_per_second"],
        "chars_per_second": top["chars_per_second"],
        "profiles": per_profile,
    }
    if errors_path is not None:
        default_gold = [apply_profile(g, default) for g in gold]
        _write_errors(errors_path, notes, default_gold, predicted_default, default)
    return result


def _write_errors(path: Path, notes: list[GoldNote], gold: list[list[PhiSpan]], predicted: list[list[PhiSpan]], profile: str) -> None:
    """Misses and false positives with some context, one JSON object per line."""
    with path.open("w", encoding="utf-8") as out:
        for note, g, p in zip(notes, gold, predicted, strict=True):
            for kind, spans in (("miss", missed_spans(note.text, g, p)), ("false_positive", false_positives(g, p, len(note.text)))):
                for s in spans:
                    context = note.text[max(0, s.start - 40) : s.end + 40].replace("\n", " ")
                    row = {"note": note.name, "profile": profile, "kind": kind, "type": s.type, "text": note.text[s.start : s.end], "context": context}
                    if s.category:
                        row["category"] = s.category
                    if kind == "false_positive":
                        row["source"] = s.source
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
