"""``cliniloop eval codes``: how often the right code is among a mention's candidates.

The pairs file is a TSV with a header: a ``mention`` column and a code column (``icd10cm`` or
``icd10`` for ``--system icd10cm``, ``snomed`` for ``--system snomed``); other columns are ignored.
Every mention is ranked by :class:`~models.text.code_candidates.CodeCandidateGenerator` (top 10)
and scored at two levels:

* exact: the candidate code equals the gold code (ICD codes compared in dotted form, "E119" = "E11.9");
* category: for ICD-10-CM the first three characters agree ("E11.65" for gold "E11.9"); for
  SNOMED CT a category is the code itself.

Reported per level: recall@1, recall@5, recall@10 (share of mentions whose first hit is within
the top k) and MRR (mean of 1 / rank of the first hit, 0 when not in the top 10). Also ms per
mention (batched candidate generation, index build excluded), the index build / load time, and
with ``compare_baseline`` the same metrics for a plain TF-IDF word ranking (scikit-learn
``TfidfVectorizer`` defaults, cosine) over the descriptions of the evaluated system's codes —
ICD-10-CM descriptions for ``icd10cm``.
"""

from __future__ import annotations

import csv
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

SYSTEMS = ("icd10cm", "snomed")
CODE_COLUMNS = {"icd10cm": ("icd10cm", "icd10"), "snomed": ("snomed",)}
LEVELS_K = (1, 5, 10)
TOP_K = 10


class CodesEvalError(ValueError):
    """A pairs file or a configuration the evaluation cannot use (the message says where)."""


@dataclass(frozen=True)
class Pair:
    """One gold pair from the pairs file."""

    line: int
    mention: str
    code: str


def read_pairs(path: Path, system: str) -> list[Pair]:
    """Read a pairs TSV, checking its header and every row.

    Parameters
    ----------
    path : Path
        TSV with a header naming ``mention`` and the code column.
    system : str
        ``icd10cm`` (code column ``icd10cm`` or ``icd10``) or ``snomed`` (``snomed``).

    Returns
    -------
    list of Pair
        ICD codes in dotted form.

    Raises
    ------
    CodesEvalError
        ``FILE:LINE: ...`` naming the missing column, the empty cell or the malformed code.
    """
    if system not in SYSTEMS:
        raise CodesEvalError(f"unknown system {system!r}: choose one of {', '.join(SYSTEMS)}")
    path = Path(path)
    if not path.is_file():
        raise CodesEvalError(f"{path}: no such file")
    from taxonomies.codes.icd10cm import dotted_icd10

    pairs: list[Pair] = []
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise CodesEvalError(f"{path}:1: empty file; expected a header with 'mention' and {' or '.join(repr(c) for c in CODE_COLUMNS[system])}")
        names = [h.strip().lower() for h in header]
        if "mention" not in names:
            raise CodesEvalError(f"{path}:1: missing column 'mention' in header {header}")
        code_col = next((c for c in CODE_COLUMNS[system] if c in names), None)
        if code_col is None:
            wanted = " or ".join(repr(c) for c in CODE_COLUMNS[system])
            raise CodesEvalError(f"{path}:1: missing code column {wanted} for --system {system} in header {header}")
        i_mention, i_code = names.index("mention"), names.index(code_col)
        for line, row in enumerate(reader, start=2):
            if not row or not any(c.strip() for c in row):
                raise CodesEvalError(f"{path}:{line}: empty row")
            if len(row) <= max(i_mention, i_code):
                missing = "mention" if len(row) <= i_mention else code_col
                raise CodesEvalError(f"{path}:{line}: column '{missing}' is missing ({len(row)} of {len(names)} fields)")
            mention, code = row[i_mention].strip(), row[i_code].strip()
            if not mention:
                raise CodesEvalError(f"{path}:{line}: column 'mention' is empty")
            if not code:
                raise CodesEvalError(f"{path}:{line}: column '{code_col}' is empty")
            if system == "icd10cm":
                dotted = dotted_icd10(code)
                if dotted is None:
                    raise CodesEvalError(f"{path}:{line}: column '{code_col}': {code!r} is not an ICD-10 code")
                code = dotted
            elif not code.isdigit():
                raise CodesEvalError(f"{path}:{line}: column '{code_col}': {code!r} is not a SNOMED CT concept id")
            pairs.append(Pair(line, mention, code))
    if not pairs:
        raise CodesEvalError(f"{path}: no pairs after the header")
    return pairs


def _category(code: str, system: str) -> str:
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


def _load_system(system: str, snomed_folder: Path | None, cache_dir: Path | None):
    if system == "icd10cm":
        from taxonomies.codes.icd10cm import load_icd10cm

        return load_icd10cm(cache_dir=cache_dir)
    if snomed_folder is None:
        raise CodesEvalError(
            "--system snomed needs a SNOMED CT release: pass --snomed-rf2 DIR (an RF2 release folder) "
            "or set CLINILOOP_SNOMED_RF2"
        )
    if not Path(snomed_folder).is_dir():
        raise CodesEvalError(f"SNOMED CT release folder {snomed_folder} does not exist")
    try:
        from taxonomies.codes.snomed import load_snomed_rf2
    except ImportError as err:  # pragma: no cover - the loader ships with the package
        raise CodesEvalError(f"the SNOMED CT loader is not available: {err}") from err
    return load_snomed_rf2(Path(snomed_folder), cache_dir=cache_dir)


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


def evaluate_codes(
    pairs: Path,
    system: str,
    compare_baseline: bool = False,
    snomed_folder: Path | None = None,
    *,
    cache_dir: Path | None = None,
    generator=None,
) -> dict:
    """Rank every mention of a pairs file and measure recall@k / MRR (see the module docstring).

    Parameters
    ----------
    pairs : Path
        The pairs TSV.
    system : str
        ``icd10cm`` or ``snomed``.
    compare_baseline : bool
        Also run the plain TF-IDF baseline on the same pairs.
    snomed_folder : Path or None
        SNOMED CT RF2 release folder: required for ``snomed``; for ``icd10cm`` it adds SNOMED
        candidates mapped to ICD-10 as evidence.
    cache_dir : Path or None
        Cache of loaded code systems and fitted indexes (``None``: ``<var_dir>/cache``).
    generator : CodeCandidateGenerator or None
        An already fitted generator to use instead of building one (tests).

    Returns
    -------
    dict
        ``system``, ``pairs``, ``n``, ``k``, ``exact`` and ``category`` metrics, ``ms_per_mention``,
        ``index_seconds``, ``index_from_cache``, and ``baseline`` (same metrics) when asked.

    Raises
    ------
    CodesEvalError
        Bad pairs file, unknown system, or ``snomed`` without a release.
    """
    from models.text.code_candidates import CodeCandidateGenerator

    if system not in SYSTEMS:
        raise CodesEvalError(f"unknown system {system!r}: choose one of {', '.join(SYSTEMS)}")
    gold_pairs = read_pairs(pairs, system)
    if cache_dir is None:
        from services.core.settings import get_settings

        cache_dir = get_settings().var_dir / "cache"

    t0 = time.perf_counter()
    if generator is None:
        target = _load_system(system, snomed_folder, cache_dir)
        systems = [target]
        if system == "icd10cm" and snomed_folder is not None:
            systems.append(_load_system("snomed", snomed_folder, cache_dir))
        generator = CodeCandidateGenerator(systems, k=TOP_K, cache_dir=Path(cache_dir)).fit()
    else:
        target = next((s for s in generator.systems if s.name == system), None)
        if target is None:
            raise CodesEvalError(f"the generator has no {system} system")
    index_seconds = time.perf_counter() - t0
    unknown = [p for p in gold_pairs if p.code not in target.concepts]
    for p in unknown[:5]:
        log.warning("%s:%d: gold code %s is not in %s", pairs, p.line, p.code, target.taxonomy_version)
    if len(unknown) > 5:
        log.warning("... %d gold codes in all are not in %s", len(unknown), target.taxonomy_version)

    mentions = [p.mention for p in gold_pairs]
    gold = [p.code for p in gold_pairs]
    t1 = time.perf_counter()
    results = generator.candidates_many(mentions, k=TOP_K)
    elapsed = time.perf_counter() - t1
    ranked = [[c.code for c in r.get(system, [])] for r in results]
    out: dict = {
        "system": system,
        "taxonomy_version": target.taxonomy_version,
        "pairs": str(pairs),
        "n": len(gold_pairs),
        "k": TOP_K,
        **rank_metrics(ranked, gold, system),
        "ms_per_mention": round(1000.0 * elapsed / len(gold_pairs), 3),
        "index_seconds": round(index_seconds, 3),
        "index_from_cache": all(getattr(generator, "from_cache_", {}).values()) if hasattr(generator, "from_cache_") else None,
        "gold_codes_not_in_system": len(unknown),
    }
    if compare_baseline:
        t2 = time.perf_counter()
        rank = baseline_ranker(target)
        build = time.perf_counter() - t2
        t3 = time.perf_counter()
        base_ranked = rank(mentions)
        base_elapsed = time.perf_counter() - t3
        out["baseline"] = {
            "method": f"TF-IDF words (scikit-learn defaults), cosine, over {system} descriptions",
            **rank_metrics(base_ranked, gold, system),
            "ms_per_mention": round(1000.0 * base_elapsed / len(gold_pairs), 3),
            "index_seconds": round(build, 3),
        }
    return out
