"""Evaluate assertion detection on the NegEx test-kit format (Chapman et al.).

Input: a TSV with a header row and columns ``line, condition, sentence, negation
(Affirmed/Negated), temporality (Recent/Historical/Not particular), experiencer
(Patient/Other)``. "Not particular" temporality is treated as hypothetical.

Each row's condition is located in its sentence and asserted with
:meth:`ClinicalTextAnnotator.assert_conditions`. Every axis is scored from the mention's
``attributes`` (all values that fired), since NegEx annotates the axes independently:
negated = ``absent`` fired; temporality = hypothetical if ``hypothetical`` fired, else
historical if ``historical`` fired, else recent; experiencer = other if ``family`` fired.
A condition that cannot be located is scored as affirmed/recent/patient.

``accuracy`` is negation accuracy (negated vs affirmed); ``assertion_accuracy`` is
exact-match accuracy over the joint (negation, temporality, experiencer) label.

Peers (``compare_peers=True``), run in the same process on the same rows and located
spans: medspaCy ConText with its default rules (medspaCy tokenizer, whole row as one
sentence) and negspacy's Negex with its ``en_clinical`` termset (negation only).

Run ``cliniloop eval assertion --negex PATH [--compare-peers] [--show-errors]``; the JSON
result goes to stdout, logs and the error list to stderr.
"""

from __future__ import annotations

import csv
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cliniloop.models.text.annotator import ClinicalTextAnnotator
from cliniloop.models.text.locate import locate

LOGGER = logging.getLogger(__name__)

RECENT, HISTORICAL, HYPOTHETICAL = "recent", "historical", "hypothetical"
_TEMPORALITY = {"recent": RECENT, "historical": HISTORICAL, "not particular": HYPOTHETICAL,
                "hypothetical": HYPOTHETICAL}


@dataclass(frozen=True)
class Judgement:
    """Labels of one row on the three NegEx axes."""

    negated: bool
    temporality: str
    other: bool


@dataclass(frozen=True)
class Row:
    """One NegEx test-kit row."""

    line: str
    condition: str
    sentence: str
    gold: Judgement


DEFAULT_JUDGEMENT = Judgement(False, RECENT, False)


def read_negex_tsv(path: Path) -> list[Row]:
    """Read a NegEx-format TSV (header row first).

    Parameters
    ----------
    path : Path
        TSV file.

    Returns
    -------
    list of Row
        Parsed rows, in file order.

    Raises
    ------
    ValueError
        For a row with fewer than six columns, naming the file and line.
    """
    rows = []
    with Path(path).open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader, None)
        for rec in reader:
            if not any(field.strip() for field in rec):
                continue
            if len(rec) < 6:
                raise ValueError(
                    f"{path}, line {reader.line_num}: expected 6 tab-separated columns "
                    "(line, condition, sentence, negation, temporality, experiencer), "
                    f"found {len(rec)}"
                )
            line, condition, sentence, negation, temporality, experiencer = rec[:6]
            gold = Judgement(
                negated=negation.strip().lower() == "negated",
                temporality=_TEMPORALITY.get(temporality.strip().lower(), RECENT),
                other=experiencer.strip().lower() == "other",
            )
            rows.append(Row(line.strip(), condition, sentence, gold))
    return rows


def judgement_from_attributes(attributes: Sequence[str]) -> Judgement:
    """Turn a mention's fired assertion values into NegEx axis labels."""
    attrs = set(attributes)
    if "hypothetical" in attrs:
        temporality = HYPOTHETICAL
    elif "historical" in attrs:
        temporality = HISTORICAL
    else:
        temporality = RECENT
    return Judgement("absent" in attrs, temporality, "family" in attrs)


def _prf(gold: list[bool], pred: list[bool]) -> dict:
    tp = sum(g and p for g, p in zip(gold, pred))
    fp = sum(p and not g for g, p in zip(gold, pred))
    fn = sum(g and not p for g, p in zip(gold, pred))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "support": tp + fn}


def score(rows: Sequence[Row], preds: Sequence[Judgement], negation_only: bool = False) -> dict:
    """Score predictions against the rows' gold labels.

    Parameters
    ----------
    rows : sequence of Row
        Gold rows.
    preds : sequence of Judgement
        One prediction per row.
    negation_only : bool
        Only negation metrics are meaningful (other keys are None).

    Returns
    -------
    dict
        ``accuracy``, ``assertion_accuracy``, ``negated``, ``historical``,
        ``hypothetical``, ``experiencer_other``.
    """
    n = len(rows)
    golds = [r.gold for r in rows]
    out: dict = {
        "accuracy": round(sum(g.negated == p.negated for g, p in zip(golds, preds)) / n, 4) if n else 0.0,
        "negated": _prf([g.negated for g in golds], [p.negated for p in preds]),
    }
    if negation_only:
        out.update({"assertion_accuracy": None, "historical": None, "hypothetical": None,
                    "experiencer_other": None})
        return out
    out["assertion_accuracy"] = round(sum(g == p for g, p in zip(golds, preds)) / n, 4) if n else 0.0
    for key, temp in (("historical", HISTORICAL), ("hypothetical", HYPOTHETICAL)):
        out[key] = _prf([g.temporality == temp for g in golds], [p.temporality == temp for p in preds])
    out["experiencer_other"] = _prf([g.other for g in golds], [p.other for p in preds])
    return out


def _timed(fn: Callable[[], list[Judgement]], n: int) -> tuple[list[Judgement], float]:
    start = time.perf_counter()
    preds = fn()
    elapsed = max(time.perf_counter() - start, 1e-9)
    return preds, round(n / elapsed, 1)


def _single_sentence_doc(tokenizer, text: str, condition: str):
    """Tokenise ``text`` as one sentence with the condition as its only entity (or None)."""
    doc = tokenizer(text)
    for i, token in enumerate(doc):
        token.is_sent_start = i == 0
    bounds = locate(text, condition)
    span = None
    if bounds is not None and len(doc):
        span = doc.char_span(bounds[0], bounds[1], label="CONDITION", alignment_mode="expand")
    if span is not None:
        doc.ents = [span]
    return doc, span


def _run_peer(rows: Sequence[Row], tokenizer, pipe, judge: Callable) -> tuple[list[Judgement], float]:
    """Time a peer pipe over the rows: each row one sentence, its condition the only entity."""

    def go() -> list[Judgement]:
        preds = []
        for row in rows:
            doc, span = _single_sentence_doc(tokenizer, row.sentence, row.condition)
            preds.append(judge(pipe(doc).ents[0]) if span is not None else DEFAULT_JUDGEMENT)
        return preds

    return _timed(go, len(rows))


def _context_judgement(ent) -> Judgement:
    temporality = HYPOTHETICAL if ent._.is_hypothetical else (HISTORICAL if ent._.is_historical else RECENT)
    return Judgement(bool(ent._.is_negated), temporality, bool(ent._.is_family))


def run_medspacy_default(rows: Sequence[Row]) -> tuple[list[Judgement], float, str]:
    """medspaCy ConText with its packaged default rules (peer)."""
    import medspacy

    nlp = medspacy.load(medspacy_enable=["medspacy_tokenizer", "medspacy_context"])
    preds, sps = _run_peer(rows, nlp.tokenizer, nlp.get_pipe("medspacy_context"), _context_judgement)
    return preds, sps, f"medspacy-{medspacy.__version__}-default-context"


def run_negspacy(rows: Sequence[Row]) -> tuple[list[Judgement], float, str]:
    """negspacy Negex with the ``en_clinical`` termset (peer; negation only)."""
    import spacy
    from negspacy.negation import Negex  # noqa: F401  (registers the "negex" factory)
    from negspacy.termsets import termset
    from importlib.metadata import version

    nlp = spacy.blank("en")
    negex = nlp.add_pipe("negex", config={"neg_termset": termset("en_clinical").get_patterns()})

    preds, sps = _run_peer(rows, nlp.tokenizer, negex, lambda ent: Judgement(bool(ent._.negex), RECENT, False))
    return preds, sps, f"negspacy-{version('negspacy')}-en_clinical"


def run_cliniloop(
    rows: Sequence[Row], annotator: ClinicalTextAnnotator | None = None
) -> tuple[list[Judgement], float, str, list]:
    """Our annotator (fitted, if needed, before timing)."""
    annotator = annotator or ClinicalTextAnnotator()
    if not hasattr(annotator, "nlp_"):  # fit outside the timed section
        annotator.fit()
    mentions: list = []

    def go() -> list[Judgement]:
        mentions[:] = annotator.assert_conditions([(r.sentence, r.condition) for r in rows])
        return [judgement_from_attributes(m.attributes) if m is not None else DEFAULT_JUDGEMENT
                for m in mentions]

    preds, sps = _timed(go, len(rows))
    return preds, sps, annotator.version, mentions


def log_errors(rows: Sequence[Row], preds: Sequence[Judgement], mentions: Sequence | None = None) -> int:
    """Log every row whose joint label is wrong (stderr); return the count."""
    count = 0
    for i, (row, pred) in enumerate(zip(rows, preds)):
        if row.gold == pred:
            continue
        count += 1
        attrs = mentions[i].attributes if mentions and mentions[i] is not None else None
        LOGGER.warning("line %s | %s | gold=%s pred=%s attrs=%s\n    %s", row.line, row.condition,
                       _fmt(row.gold), _fmt(pred), attrs, " ".join(row.sentence.split()))
    return count


def _fmt(j: Judgement) -> str:
    return f"{'NEG' if j.negated else 'aff'}/{j.temporality[:4]}/{'other' if j.other else 'pt'}"


def evaluate_negex(
    path: Path,
    compare_peers: bool = False,
    annotator: ClinicalTextAnnotator | None = None,
    show_errors: bool = False,
) -> dict:
    """Evaluate cliniloop (and optionally peers) on a NegEx-format TSV.

    Parameters
    ----------
    path : Path
        TSV with a header row (see module docstring).
    compare_peers : bool
        Also run medspaCy default ConText and negspacy on the same rows.
    annotator : ClinicalTextAnnotator or None
        Annotator to evaluate (default: packaged rules).
    show_errors : bool
        Log each wrongly judged row to stderr.

    Returns
    -------
    dict
        ``{"n", "cliniloop": {...}, "peers": {...}}`` (``peers`` only with
        ``compare_peers``); JSON-serialisable.
    """
    rows = read_negex_tsv(path)
    preds, sps, version, mentions = run_cliniloop(rows, annotator)
    ours = score(rows, preds)
    ours.update({"sentences_per_second": sps, "model_version": version,
                 "not_located": sum(m is None for m in mentions)})
    if show_errors:
        LOGGER.warning("cliniloop errors: %d", log_errors(rows, preds, mentions))
    result: dict = {"n": len(rows), "cliniloop": ours}
    if compare_peers:
        result["peers"] = {}
        for name, runner, neg_only in (
            ("medspacy_context_default", run_medspacy_default, False),
            ("negspacy", run_negspacy, True),
        ):
            p_preds, p_sps, p_version = runner(rows)
            metrics = score(rows, p_preds, negation_only=neg_only)
            metrics.update({"sentences_per_second": p_sps, "model_version": p_version})
            result["peers"][name] = metrics
    return result
