"""``cliniloop eval codes``: how often the right code is among a mention's candidates.

The pairs file is a TSV with a header: a ``mention`` column and a code column (``icd10cm`` or
``icd10`` for ``--system icd10cm``, ``snomed`` for ``--system snomed``); other columns are ignored.
Every mention is ranked by :class:`~cliniloop.models.text.code_candidates.CodeCandidateGenerator` (top 10)
and scored at two levels:

* exact: the candidate code equals the gold code (ICD codes compared in dotted form, "E119" = "E11.9");
* category: for ICD-10-CM the first three characters agree ("E11.65" for gold "E11.9"); for
  ICD-10-PCS the first four (section, body system, root operation, body part: "0FT40ZZ" for gold
  "0FT44ZZ"); for SNOMED CT a category is the code itself.

Reported per level: recall@1, recall@5, recall@10 (share of mentions whose first hit is within
the top k) and MRR (mean of 1 / rank of the first hit, 0 when not in the top 10). Also ms per
mention (batched candidate generation, index build excluded), the index build / load time, and
with ``compare_baseline`` the same metrics for a plain TF-IDF word ranking (scikit-learn
``TfidfVectorizer`` defaults, cosine) over the descriptions of the evaluated system's codes —
ICD-10-CM descriptions for ``icd10cm``.

Optional pairs columns: ``type`` (or ``mention_type``: Problem, Test, Medication, Procedure,
Anatomy; the ranking then follows :mod:`cliniloop.models.text.code_policy`), ``context`` (the sentence) and
``assertion``. A code cell ``-`` or ``none`` marks a mention with **no good candidate**: it does
not count in recall / MRR; for those the report says how often nothing is offered at the offer
threshold (the system's calibrated one, :func:`cliniloop.models.text.code_candidates.offer_threshold_for`,
or ``threshold``). Also reported:
``per_type`` (the same metrics per mention type), ``offered`` (recall@5 of what is actually
offered above the threshold, and how many mentions with a gold code get nothing), and
``calibration``: the scores of the gold codes found against the best candidate outside the gold
category (a stand-in for "the right code is not in the system"), with the threshold that keeps
98% of the gold hits and the share of those stand-ins it turns away.

:func:`snomed_synonym_pairs` builds pairs from an RF2 release instead of a file: every name of a
SNOMED CT concept that the release's extended map sends to ICD-10, with the first map target as
gold; those are ranked against ICD-10-CM alone (SNOMED CT is not ranked, so its map cannot give
the answer away) and the category level is the figure that counts. The release's *names* are used
as a thesaurus (``thesaurus``, the default; the report's ``thesaurus`` says which): a name is also
searched under its concept's other names, as the coders' queue does when SNOMED CT is configured.
``thesaurus=False`` ranks each name on its own wording alone.

With ``rerank`` the candidates are re-ranked by the packaged sentence encoder
(:mod:`cliniloop.models.text.code_encoder_rerank`; ``rerank`` in the report gives its weight and
pool, ``ms_per_mention`` then includes the encoder, names embedded once per run); the offer
threshold was calibrated on lexical scores, so ``offered`` and ``calibration`` are then only
indicative. With ``rerank_fit`` the report's ``rerank_fit`` gives the exact and category MRR of
every blend weight of :data:`~cliniloop.models.text.code_encoder_rerank.WEIGHT_GRID` on this set
and the weight :func:`~cliniloop.models.text.code_encoder_rerank.choose_weight` picks: run it on a
fitting set, not on the set whose figures are reported.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from cliniloop.services.loop.code_pairs import SYSTEMS, TOP_K, CodesEvalError, Pair, load_code_system, read_pairs

__all__ = ["SYSTEMS", "TOP_K", "CodesEvalError", "Pair", "evaluate_codes", "rank_metrics", "read_pairs", "snomed_synonym_pairs"]

log = logging.getLogger(__name__)

#: Share of gold hits the calibrated offer threshold keeps.
CALIBRATION_KEEP = 0.98
LEVELS_K = (1, 5, 10)


def _category(code: str, system: str) -> str:
    if system == "icd10pcs":
        return code[:4]  # section, body system, root operation, body part: the index's table row ("0FT4")
    return code[:3] if system == "icd10cm" else code


def rank_metrics(ranked: Sequence[Sequence[str]], gold: Sequence[str], system: str) -> dict[str, dict[str, float]]:
    """Recall@1/5/10 and MRR at exact-code and category level.

    Parameters
    ----------
    ranked : sequence of sequences of str
        Candidate codes per mention, best first (only the first 10 count).
    gold : sequence of str
        Gold code per mention.
    system : str
        ``icd10cm`` (category = first 3 characters) or ``snomed`` (category = code).

    Returns
    -------
    dict
        ``{"exact": {"recall@1", "recall@5", "recall@10", "mrr"}, "category": {...}}``.
    """
    if len(ranked) != len(gold) or not gold:
        raise ValueError("need one ranking per gold code, and at least one")
    out: dict[str, dict[str, float]] = {}
    for level in ("exact", "category"):
        ranks: list[int | None] = []
        for codes, g in zip(ranked, gold):
            key = (lambda c: c) if level == "exact" else (lambda c: _category(c, system))
            target = key(g)
            ranks.append(next((r for r, c in enumerate(list(codes)[:TOP_K], start=1) if key(c) == target), None))
        n = len(ranks)
        metrics = {f"recall@{k}": round(sum(1 for r in ranks if r is not None and r <= k) / n, 4) for k in LEVELS_K}
        metrics["mrr"] = round(sum(1.0 / r for r in ranks if r is not None) / n, 4)
        out[level] = metrics
    return out


def baseline_ranker(system) -> Callable[[list[str]], list[list[str]]]:
    """Plain TF-IDF word ranking over the systems' descriptions (the comparison baseline).

    Parameters
    ----------
    system : CodeSystem
        Its concepts' ``display`` texts are the documents (ICD-10-CM: chapters and blocks are not codes).

    Returns
    -------
    callable
        ``mentions -> top-10 codes per mention``.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    codes = sorted(system.concepts)
    vectorizer = TfidfVectorizer()
    matrix = vectorizer.fit_transform([system.concepts[c].display for c in codes])
    codes_arr = np.asarray(codes)

    def rank(mentions: list[str]) -> list[list[str]]:
        q = vectorizer.transform(mentions)
        scores = (q @ matrix.T).toarray()
        out = []
        for row in scores:
            top = np.argpartition(-row, TOP_K)[:TOP_K] if len(row) > TOP_K else np.arange(len(row))
            top = top[row[top] > 0]  # no shared word: not a candidate
            top = top[np.lexsort((codes_arr[top], -row[top]))]
            out.append([str(codes_arr[j]) for j in top])
        return out

    return rank


def snomed_synonym_pairs(snomed, target: str = "icd10cm") -> list[Pair]:
    """Pairs from a SNOMED CT release: each distinct name of a concept mapped to ICD-10 -> its first target.

    Parameters
    ----------
    snomed : CodeSystem
        A loaded SNOMED CT release (:func:`cliniloop.taxonomies.codes.snomed.load_snomed_rf2`).
    target : str
        The ICD system the map targets are read as (codes dotted).

    Returns
    -------
    list of Pair
        ``line`` is the position in the list; names are the preferred term and every synonym
        (the FSN without its tag included), duplicates after case folding dropped.
    """
    from cliniloop.taxonomies.codes.icd10cm import dotted_icd10

    pairs: list[Pair] = []
    for code in sorted(snomed.maps_to):
        gold = next((dotted_icd10(c) for s, c in snomed.maps_to[code] if s.lower().replace("-", "").startswith("icd10")), None)
        concept = snomed.concepts.get(code)
        if gold is None or concept is None:
            continue
        seen: set[str] = set()
        for name in (concept.display, *concept.synonyms):
            folded = " ".join(name.split()).casefold()
            if folded and folded not in seen:
                seen.add(folded)
                pairs.append(Pair(len(pairs) + 1, name, gold))
    return pairs


def calibrate_threshold(hits: Sequence[float], stand_ins: Sequence[float], keep: float = CALIBRATION_KEEP) -> dict:
    """The offer threshold that keeps ``keep`` of the gold hits, and what it turns away.

    Parameters
    ----------
    hits : sequence of float
        Scores of gold codes found in the top 10 (what must stay offered).
    stand_ins : sequence of float
        Scores of the best candidate outside the gold category (what "no good candidate" looks like).
    keep : float
        Share of ``hits`` at or above the threshold.

    Returns
    -------
    dict
        ``threshold`` (rounded down to 0.01), ``hits_kept``, ``stand_ins_turned_away``, ``n_hits``, ``n_stand_ins``.
    """
    if not hits:
        return {"threshold": None, "hits_kept": None, "stand_ins_turned_away": None, "n_hits": 0, "n_stand_ins": len(stand_ins)}
    t = float(np.floor(np.quantile(np.asarray(hits, dtype=float), 1.0 - keep, method="lower") * 100) / 100)
    h, n = np.asarray(hits, dtype=float), np.asarray(stand_ins, dtype=float)
    return {
        "threshold": t,
        "hits_kept": round(float((h >= t).mean()), 4),
        "stand_ins_turned_away": round(float((n < t).mean()), 4) if len(n) else None,
        "n_hits": len(h),
        "n_stand_ins": len(n),
    }


def _load_reranker(weight: float | None):
    """The encoder re-ranker, loaded (its load time in ``load_seconds_``); a missing package is a CodesEvalError."""
    from cliniloop.models.text.code_encoder_rerank import ENCODER_WEIGHT, EmbeddingReranker

    t0 = time.perf_counter()
    try:
        reranker = EmbeddingReranker(weight=ENCODER_WEIGHT if weight is None else float(weight)).load()
    except (FileNotFoundError, ValueError) as err:
        raise CodesEvalError(f"--rerank: {err}") from err
    reranker.load_seconds_ = round(time.perf_counter() - t0, 3)
    return reranker


def _rerank_info(reranker) -> dict:
    from cliniloop.models.text.ner_transformer import ENCODER_NAME

    return {
        "encoder": ENCODER_NAME if reranker.encoder_path is None else str(reranker.encoder_path),
        "blend": "(1 - w) * lexical + w * max(0, cosine(mention, core name))",
        "weight": reranker.weight,
        "pool": reranker.pool,
        "load_seconds": getattr(reranker, "load_seconds_", None),
        "names_embedded": reranker.titles_cached_,
    }


def _fit_rerank(generator, reranker, pairs: Sequence[Pair], system: str) -> dict:
    """Exact and category MRR of every blend weight on ``pairs`` (lexical pools, one encoder pass) and the weight chosen."""
    from cliniloop.models.text.code_encoder_rerank import WEIGHT_GRID, blend_grid, choose_weight, title

    previous = generator.reranker
    generator.reranker = None
    try:
        results = generator.candidates_many([(p.mention, p.context, p.assertion, p.mention_type) for p in pairs], k=max(TOP_K, reranker.pool))
    finally:
        generator.reranker = previous
    pools = [[c for c in r.get(system, []) if c.source != "accepted"] for r in results]
    cosines = reranker.cosines([p.mention for p in pairs], [[title(c.display) for c in pool] for pool in pools])
    lexical = [[(c.code, c.score) for c in pool] for pool in pools]
    gold = [p.code for p in pairs]
    exact = blend_grid(lexical, cosines, gold, WEIGHT_GRID, k=TOP_K)
    category = blend_grid(lexical, cosines, gold, WEIGHT_GRID, key=lambda c: _category(c, system), k=TOP_K)
    return {
        "n": len(pairs),
        "pool": reranker.pool,
        "grid": {str(w): {"exact_mrr": exact[w], "category_mrr": category[w]} for w in WEIGHT_GRID},
        "chosen_weight": choose_weight(exact, category),
        "rule": "best exact MRR, ties by category MRR, then the lower median of the tied weights",
    }


def evaluate_codes(
    pairs: Path | None,
    system: str,
    compare_baseline: bool = False,
    snomed_folder: Path | None = None,
    *,
    cache_dir: Path | None = None,
    generator=None,
    threshold: float | None = None,
    snomed_synonyms: bool = False,
    rerank: bool = False,
    rerank_weight: float | None = None,
    rerank_fit: bool = False,
    thesaurus: bool = True,
) -> dict:
    """Rank every mention of a pairs file and measure recall@k / MRR (see the module docstring).

    Parameters
    ----------
    pairs : Path or None
        The pairs TSV (``None`` only with ``snomed_synonyms``).
    system : str
        ``icd10cm`` or ``snomed``.
    compare_baseline : bool
        Also run the plain TF-IDF baseline on the same pairs.
    snomed_folder : Path or None
        SNOMED CT RF2 release folder: required for ``snomed``; for ``icd10cm`` it adds SNOMED
        candidates mapped to ICD-10 as evidence (not with ``snomed_synonyms``).
    cache_dir : Path or None
        Cache of loaded code systems and fitted indexes (``None``: ``<var_dir>/cache``).
    generator : CodeCandidateGenerator or None
        An already fitted generator to use instead of building one (tests).
    threshold : float or None
        Offer threshold for the ``offered`` and ``no_candidate`` figures (default: the system's
        calibrated one, :func:`cliniloop.models.text.code_candidates.offer_threshold_for`).
    snomed_synonyms : bool
        Pairs from the SNOMED CT release's mapped concepts (:func:`snomed_synonym_pairs`) ranked
        against ICD-10-CM alone; needs ``snomed_folder`` and ``system`` ``icd10cm``.
    rerank : bool
        Re-rank with the packaged sentence encoder (:class:`~cliniloop.models.text.code_encoder_rerank.EmbeddingReranker`).
    rerank_weight : float or None
        Cosine weight of the blend (default :data:`~cliniloop.models.text.code_encoder_rerank.ENCODER_WEIGHT`).
    rerank_fit : bool
        Also report the MRR of every blend weight on this set and the one chosen (``rerank_fit``).
    thesaurus : bool
        With a SNOMED CT release (``snomed_folder``), use its names as the generator's thesaurus.

    Returns
    -------
    dict
        ``system``, ``pairs``, ``n``, ``k``, ``exact`` and ``category`` metrics, ``per_type``,
        ``offered``, ``no_candidate``, ``calibration``, ``ms_per_mention``, ``index_seconds``,
        ``index_from_cache``, and ``baseline`` (same metrics) when asked.

    Raises
    ------
    CodesEvalError
        Bad pairs file, unknown system, or ``snomed`` without a release.
    """
    from cliniloop.models.text.code_candidates import _CLINICAL_TAGS, CodeCandidateGenerator, offer_threshold_for
    from cliniloop.models.text.code_policy import POLICY_SNOMED_TAGS

    if system not in SYSTEMS:
        raise CodesEvalError(f"unknown system {system!r}: choose one of {', '.join(SYSTEMS)}")
    if cache_dir is None:
        from cliniloop.services.core.settings import get_settings

        cache_dir = get_settings().var_dir / "cache"
    threshold = offer_threshold_for(system) if threshold is None else float(threshold)
    snomed = None
    if snomed_synonyms:
        if system != "icd10cm":
            raise CodesEvalError("--snomed-synonyms ranks SNOMED CT names against ICD-10-CM: use --system icd10cm")
        if snomed_folder is None:
            raise CodesEvalError("--snomed-synonyms needs a SNOMED CT release: pass --snomed-rf2 DIR or set CLINILOOP_SNOMED_RF2")
        snomed = load_code_system("snomed", snomed_folder, cache_dir)
        gold_pairs = snomed_synonym_pairs(snomed)
        if not gold_pairs:
            raise CodesEvalError(f"{snomed_folder}: no active concept with an ICD-10 map target")
        source = f"snomed-synonyms:{snomed_folder}"
    else:
        if pairs is None:
            raise CodesEvalError("pass --pairs FILE (or --snomed-synonyms with a SNOMED CT release)")
        gold_pairs = read_pairs(pairs, system)
        source = str(pairs)

    t0 = time.perf_counter()
    if generator is None:
        target = load_code_system(system, snomed_folder, cache_dir)
        systems = [target]
        if system == "icd10cm" and snomed_folder is not None and not snomed_synonyms:
            snomed = load_code_system("snomed", snomed_folder, cache_dir)
            systems.append(snomed)
        elif system == "snomed":
            snomed = target
        typed = any(p.mention_type for p in gold_pairs)
        tags = (_CLINICAL_TAGS | POLICY_SNOMED_TAGS) if typed else _CLINICAL_TAGS
        generator = CodeCandidateGenerator(
            systems, k=TOP_K, cache_dir=Path(cache_dir), snomed_tags=tags, thesaurus=snomed if thesaurus else None
        ).fit()
    else:
        target = next((s for s in generator.systems if s.name == system), None)
        if target is None:
            raise CodesEvalError(f"the generator has no {system} system")
    index_seconds = time.perf_counter() - t0
    reranker = _load_reranker(rerank_weight) if (rerank or rerank_fit) else None
    coded = [p for p in gold_pairs if not p.no_candidate]
    unknown = [p for p in coded if p.code not in target.concepts]
    for p in unknown[:5]:
        log.warning("%s:%d: gold code %s is not in %s", source, p.line, p.code, target.taxonomy_version)
    if len(unknown) > 5:
        log.warning("... %d gold codes in all are not in %s", len(unknown), target.taxonomy_version)

    queries = [(p.mention, p.context, p.assertion, p.mention_type) for p in gold_pairs]
    previous = getattr(generator, "reranker", None)
    generator.reranker = reranker if rerank else None
    try:
        t1 = time.perf_counter()
        results = generator.candidates_many(queries, k=TOP_K)
        elapsed = time.perf_counter() - t1
    finally:
        generator.reranker = previous
    ranked_scores = [[(c.code, c.score) for c in r.get(system, [])] for r in results]
    positive = [i for i, p in enumerate(gold_pairs) if not p.no_candidate]
    out: dict = {
        "system": system,
        "taxonomy_version": target.taxonomy_version,
        "pairs": source,
        "n": len(positive),
        "k": TOP_K,
        "thesaurus": getattr(getattr(generator, "thesaurus", None), "taxonomy_version", None),
    }
    if positive:
        out.update(rank_metrics([[c for c, _ in ranked_scores[i]] for i in positive], [gold_pairs[i].code for i in positive], system))
    else:
        out.update({"exact": None, "category": None})
    per_type: dict[str, list[int]] = {}
    for i in positive:
        per_type.setdefault(gold_pairs[i].mention_type or "untyped", []).append(i)
    out["per_type"] = {
        t: {"n": len(ix), **rank_metrics([[c for c, _ in ranked_scores[i]] for i in ix], [gold_pairs[i].code for i in ix], system)}
        for t, ix in sorted(per_type.items())
    }
    offered = [[c for c, s in ranked_scores[i] if s >= threshold] for i in range(len(gold_pairs))]
    if positive:
        m = rank_metrics([offered[i] for i in positive], [gold_pairs[i].code for i in positive], system)
        out["offered"] = {
            "threshold": threshold,
            "exact_recall@5": m["exact"]["recall@5"],
            "category_recall@5": m["category"]["recall@5"],
            "nothing_offered": round(sum(1 for i in positive if not offered[i]) / len(positive), 4),
        }
    negatives = [i for i, p in enumerate(gold_pairs) if p.no_candidate]
    out["no_candidate"] = {
        "n": len(negatives),
        "threshold": threshold,
        "nothing_offered": round(sum(1 for i in negatives if not offered[i]) / len(negatives), 4) if negatives else None,
        "by_type": {
            t: round(sum(1 for i in negatives if (gold_pairs[i].mention_type or "untyped") == t and not offered[i])
                     / sum(1 for i in negatives if (gold_pairs[i].mention_type or "untyped") == t), 4)
            for t in sorted({gold_pairs[i].mention_type or "untyped" for i in negatives})
        },
    }  # fmt: skip
    hits, stand_ins = [], []
    for i in positive:
        gold = gold_pairs[i].code
        hit = next((s for c, s in ranked_scores[i] if c == gold), None)
        if hit is not None:
            hits.append(hit)
        cat = _category(gold, system)
        other = next((s for c, s in ranked_scores[i] if _category(c, system) != cat), None)
        stand_ins.append(other if other is not None else 0.0)
    stand_ins.extend(ranked_scores[i][0][1] if ranked_scores[i] else 0.0 for i in negatives)
    out["calibration"] = calibrate_threshold(hits, stand_ins)
    out.update({
        "ms_per_mention": round(1000.0 * elapsed / len(gold_pairs), 3),
        "index_seconds": round(index_seconds, 3),
        "index_from_cache": all(getattr(generator, "from_cache_", {}).values()) if hasattr(generator, "from_cache_") else None,
        "gold_codes_not_in_system": len(unknown),
    })  # fmt: skip
    out["rerank"] = None if not rerank else _rerank_info(reranker)
    if rerank_fit and positive:
        out["rerank_fit"] = _fit_rerank(generator, reranker, [gold_pairs[i] for i in positive], system)
    if compare_baseline and positive:
        mentions = [gold_pairs[i].mention for i in positive]
        gold = [gold_pairs[i].code for i in positive]
        t2 = time.perf_counter()
        rank = baseline_ranker(target)
        build = time.perf_counter() - t2
        t3 = time.perf_counter()
        base_ranked = rank(mentions)
        base_elapsed = time.perf_counter() - t3
        out["baseline"] = {
            "method": f"TF-IDF words (scikit-learn defaults), cosine, over {system} descriptions",
            **rank_metrics(base_ranked, gold, system),
            "ms_per_mention": round(1000.0 * base_elapsed / len(mentions), 3),
            "index_seconds": round(build, 3),
        }
    return out
