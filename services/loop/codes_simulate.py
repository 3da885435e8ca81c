"""``cliniloop simulate --task codes``: replay coders' verdicts from a reference mapping.

The reference mapping is a pairs TSV (:func:`cliniloop.services.loop.code_pairs.read_pairs`: ``mention``,
the gold code, optional ``type`` / ``context`` / ``assertion``; code ``-`` for "no good
candidate"). Its rows, shuffled with ``seed``, are the coders' stream: the gold code is the
verdict a coder gives. At each checkpoint (a number ``v`` of verdicts given) every row is ranked
as the coders' queue would rank it then:

exact memory
    a mention whose normalised text (:func:`~cliniloop.models.text.code_textnorm.normalise_mention`) was
    already decided gets the decided code first (what the generator's ``accepted`` mappings do);
memory + re-ranker
    the same, the other candidates re-ordered by :class:`~cliniloop.models.text.code_rerank.VerdictReranker`
    fitted on the ``v`` verdicts.

Reported per checkpoint: MRR, recall@1 and recall@5 over all rows with a gold code and over the
*unseen* ones (not decided yet: what ranking features must carry), for the generator alone
(``v`` = 0 everywhere), with memory, and with memory + re-ranker. ``decisions_saved``: stream
rows whose mention was already decided when they came (the memory answers them; a grouped coder
task does the same within one push), and ``confirm_only``: rows whose first candidate at that
moment was the gold code (the coder only confirms).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def _metrics(rankings: Sequence[Sequence[str]], gold: Sequence[str]) -> dict[str, float | int]:
    n = len(gold)
    if not n:
        return {"n": 0, "mrr": None, "recall@1": None, "recall@5": None}  # type: ignore[dict-item]
    ranks = [next((r for r, c in enumerate(codes[:10], start=1) if c == g), None) for codes, g in zip(rankings, gold)]
    return {
        "n": n,
        "mrr": round(sum(1.0 / r for r in ranks if r) / n, 4),
        "recall@1": round(sum(1 for r in ranks if r == 1) / n, 4),
        "recall@5": round(sum(1 for r in ranks if r and r <= 5) / n, 4),
    }


def _with_memory(codes: list[str], remembered: str | None) -> list[str]:
    if remembered is None:
        return codes
    return [remembered] + [c for c in codes if c != remembered]


def simulate_codes(
    pairs: Path,
    system: str = "icd10cm",
    snomed_folder: Path | None = None,
    *,
    checkpoints: Sequence[int] | None = None,
    seed: int = 0,
    cache_dir: Path | None = None,
    generator: Any = None,
    repeats: int = 1,
) -> dict[str, Any]:
    """Replay verdicts from a reference mapping (see the module docstring).

    Parameters
    ----------
    pairs : Path
        The reference mapping (pairs TSV).
    system : str
        ``icd10cm`` or ``snomed``.
    snomed_folder : Path or None
        SNOMED CT release (needed for ``snomed``; for ``icd10cm`` its map adds evidence).
    checkpoints : sequence of int or None
        Verdict counts to score at (default: 0, 10, 20, ... and all rows).
    seed : int
        Shuffles the stream.
    cache_dir : Path or None
        Cache of code systems and indexes (``None``: ``<var_dir>/cache``).
    generator : CodeCandidateGenerator or None
        A fitted generator (tests).
    repeats : int
        Stream orders replayed (seeds ``seed`` .. ``seed + repeats - 1``); the curve is the first
        one's, the re-ranker's gain is given per seed and as their mean.

    Returns
    -------
    dict
        ``system``, ``pairs``, ``n``, ``seed``, ``curve`` (one entry per checkpoint with
        ``verdicts``, ``generator``, ``memory``, ``memory_reranker`` — each ``all`` and ``unseen``
        metrics), ``decisions_saved``, ``confirm_only``, ``reranker_unseen_gain`` (mean over the
        fitted checkpoints of the unseen MRR / recall@1 / recall@5 difference, re-ranker minus
        memory alone; per seed and mean) and ``reranker_verdict``.
    """
    from cliniloop.models.text.code_rerank import VerdictReranker
    from cliniloop.models.text.code_textnorm import normalise_mention
    from cliniloop.services.loop.code_pairs import TOP_K, load_code_system, read_pairs

    rows = read_pairs(pairs, system)
    if cache_dir is None:
        from cliniloop.services.core.settings import get_settings

        cache_dir = get_settings().var_dir / "cache"
    if generator is None:
        from cliniloop.models.text.code_candidates import _CLINICAL_TAGS, CodeCandidateGenerator
        from cliniloop.models.text.code_policy import POLICY_SNOMED_TAGS

        systems = [load_code_system(system, snomed_folder, cache_dir)]
        if system == "icd10cm" and snomed_folder is not None:
            systems.append(load_code_system("snomed", snomed_folder, cache_dir))
        typed = any(p.mention_type for p in rows)
        generator = CodeCandidateGenerator(
            systems, k=TOP_K, cache_dir=Path(cache_dir), snomed_tags=(_CLINICAL_TAGS | POLICY_SNOMED_TAGS) if typed else _CLINICAL_TAGS
        ).fit()  # fmt: skip
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    if repeats > 1:
        runs = [
            simulate_codes(pairs, system, snomed_folder, checkpoints=checkpoints, seed=seed + r, cache_dir=cache_dir, generator=generator)
            for r in range(repeats)
        ]
        out = runs[0]
        gains = [run["reranker_unseen_gain"]["mean"] for run in runs if run["reranker_unseen_gain"]]
        if gains:
            mean = {m: round(sum(g[m] for g in gains) / len(gains), 4) for m in gains[0]}
            out["reranker_unseen_gain"] = {"per_seed": gains, "mean": mean}
            out["reranker_verdict"] = _verdict(mean)
        out["repeats"] = repeats
        return out
    stream = list(rows)
    random.Random(seed).shuffle(stream)
    base = [r.get(system, []) for r in generator.candidates_many([(p.mention, p.context, p.assertion, p.mention_type) for p in stream], k=TOP_K)]
    keys = [normalise_mention(p.mention) for p in stream]
    n = len(stream)
    if checkpoints is None:
        checkpoints = sorted({*range(0, n, 10), n})
    checkpoints = sorted({min(max(0, int(c)), n) for c in checkpoints})
    coded = [i for i, p in enumerate(stream) if not p.no_candidate]
    gold = [stream[i].code for i in coded]

    curve = []
    for v in checkpoints:
        memory: dict[str, str] = {}
        for i in range(v):
            memory.setdefault(keys[i], stream[i].code)  # the first verdict on a mention is what is remembered
        reranker = VerdictReranker().fit([(stream[i].mention, base[i], stream[i].code) for i in range(v)])
        plain = [[c.code for c in base[i]] for i in coded]
        with_memory = [_with_memory(codes, memory.get(keys[i]) or None) for codes, i in zip(plain, coded)]
        with_rerank = [
            _with_memory([c.code for c in reranker.rerank(stream[i].mention, base[i])], memory.get(keys[i]) or None) for i in coded
        ]
        unseen = [j for j, i in enumerate(coded) if keys[i] not in memory]

        def both(rankings: list[list[str]], unseen: list[int] = unseen) -> dict[str, Any]:
            return {"all": _metrics(rankings, gold), "unseen": _metrics([rankings[j] for j in unseen], [gold[j] for j in unseen])}

        curve.append({
            "verdicts": v, "generator": both(plain), "memory": both(with_memory),
            "memory_reranker": both(with_rerank), "reranker_fitted": reranker.model_ is not None,
        })  # fmt: skip

    saved = confirm = 0
    memory = {}
    for i, p in enumerate(stream):
        if keys[i] in memory:
            saved += 1
        else:
            codes = [c.code for c in base[i]]
            confirm += bool(codes) and not p.no_candidate and codes[0] == p.code
        memory.setdefault(keys[i], p.code)
    last = curve[-1]
    fitted = [c for c in curve if c["reranker_fitted"] and c["memory"]["unseen"]["n"]]
    gain = None
    if fitted:
        mean = {
            m: round(sum(c["memory_reranker"]["unseen"][m] - c["memory"]["unseen"][m] for c in fitted) / len(fitted), 4)
            for m in ("mrr", "recall@1", "recall@5")
        }
        gain = {"per_seed": [mean], "mean": mean}
    return {
        "system": system,
        "pairs": str(pairs),
        "n": n,
        "with_gold_code": len(coded),
        "seed": seed,
        "curve": curve,
        "decisions_saved": saved,
        "decisions_saved_share": round(saved / n, 4) if n else None,
        "confirm_only": confirm,
        "final": {k: last[k]["all"] for k in ("generator", "memory", "memory_reranker")},
        "reranker_unseen_gain": gain,
        "reranker_verdict": None if gain is None else _verdict(gain["mean"]),
        "repeats": 1,
    }


def _verdict(mean: dict[str, float]) -> str:
    if mean["mrr"] > 0 and mean["recall@1"] >= 0:
        return "keep: it ranks unseen mentions better"
    return "drop: no better than exact memory alone on unseen mentions"
