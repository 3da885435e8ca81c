"""Build the target lexicons of the clinical-text pre-annotator.

The generated files (``targets/<label>.jsonl``) are committed to the repository and are
the only lexicon files read at run time; this module is needed only to regenerate them.

Sources, in priority order (a term gets exactly one label, from the highest-priority
source that lists it):

1. hand-curated lists in ``curated/`` (``problem.txt``, ``medication.txt``,
   ``procedure.txt``, ``test.txt``, ``anatomy.txt``) and case-sensitive clinical
   abbreviations (``curated/abbreviations.tsv``);
2. ICD-10-CM descriptions and inclusion terms from the ``simple_icd_10_cm`` package
   (label ``Problem``), reduced to short, clinically usable phrases;
3. the BioCreative V CDR *training* set (``Chemical`` -> ``Medication``,
   ``Disease`` -> ``Problem``) and the NCBI-disease *training* set (-> ``Problem``);
   a term with both labels in BC5CDR takes its majority label.

Junk filtering: terms made only of stop words, terms shorter than 3 characters, terms in
``curated/stoplist.txt`` (common English words, vague class words), acronyms written in
upper case in the corpora (ambiguous; clinical abbreviations come only from the curated,
case-sensitive list), terms with digits-only tokens, brackets, or more than six tokens.

Examples
--------
Regenerate from the shared data folder::

    python -m cliniloop.taxonomies.text.build_lexicons ../shared
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

LOGGER = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
CURATED_DIR = HERE / "curated"
LABELS: tuple[str, ...] = ("Problem", "Medication", "Procedure", "Test", "Anatomy")
SOURCE_PRIORITY: dict[str, int] = {
    "curated": 0,
    "abbreviation": 0,
    "icd10cm": 1,
    "bc5cdr": 2,
    "ncbi_disease": 2,
}
BC5CDR_TRAIN = Path("data/text/bc5cdr/CDR_TrainingSet.PubTator.txt")
NCBI_TRAIN = Path("data/text/ncbi_disease/NCBItrainset_corpus.txt")

MAX_TOKENS = 6
MAX_ICD_TOKENS = 5
MAX_ICD_CHARS = 45

# Words that mark an ICD-10-CM description as a residual, administrative or over-specified
# category rather than a phrase a clinician would write.
_ICD_NOISE = {
    "other", "unspecified", "elsewhere", "classified", "encounter", "sequela", "without",
    "with", "due", "and", "or", "following", "except", "not", "specified", "nos",
    "affecting", "complicating", "pregnancy", "childbirth", "puerperium", "by", "involving",
    "left", "right", "bilateral", "site", "sites", "stage", "episode", "unilateral",
    "initial", "subsequent", "trimester", "newborn", "fetus", "maternal", "poisoning",
    "underdosing", "adverse", "accidental", "intentional", "undetermined", "assault",
    "family", "personal", "history", "status", "screening", "examination", "contact",
    "exposure", "observation", "counseling", "aftercare", "encounter", "multiple",
    "part", "parts", "region", "regions", "level", "type", "types", "which",
}
# ICD-10-CM chapters left out entirely: external causes (V-Y) and factors influencing
# health status (Z).
_ICD_SKIP_LETTERS = set("VWXYZ")
_STOPWORDS_FALLBACK = {
    "a", "an", "the", "of", "and", "or", "in", "on", "at", "to", "for", "with", "by", "no",
    "not", "is", "are", "was", "were", "be", "as", "it", "its", "this", "that", "from",
}
_WS = re.compile(r"\s+")
_BAD_CHARS = re.compile(r"[\[\]{}<>=;|@#$%^*_~\"]")


def _stopwords() -> set[str]:
    """Return spaCy's English stop words (falls back to a small built-in list)."""
    try:
        from spacy.lang.en.stop_words import STOP_WORDS
    except ImportError:  # pragma: no cover - spaCy is a project dependency
        return set(_STOPWORDS_FALLBACK)
    return {w.lower() for w in STOP_WORDS} | _STOPWORDS_FALLBACK


def _read_list(path: Path) -> list[str]:
    """Read a one-term-per-line file, skipping blank lines and ``#`` comments."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def normalise(term: str) -> str:
    """Lower-case a term and collapse whitespace.

    Parameters
    ----------
    term : str
        Raw term.

    Returns
    -------
    str
        Normalised term.
    """
    return _WS.sub(" ", term.strip()).lower()


class TermFilter:
    """Junk filter shared by all sources.

    Parameters
    ----------
    stoplist : set of str
        Lower-cased terms never used as targets.
    stopwords : set of str
        Function words; a term made only of these is dropped.
    """

    def __init__(self, stoplist: set[str], stopwords: set[str]) -> None:
        self.stoplist = stoplist
        self.stopwords = stopwords

    def ok(self, term: str) -> bool:
        """Return whether a normalised term is usable as a target phrase."""
        if len(term) < 3 or term in self.stoplist:
            return False
        if _BAD_CHARS.search(term) or "(" in term or ")" in term:
            return False
        tokens = term.replace("-", " ").replace("/", " ").split()
        if not tokens or len(tokens) > MAX_TOKENS:
            return False
        if all(t in self.stopwords for t in tokens):
            return False
        if any(t.isdigit() for t in tokens) and len(tokens) == 1:
            return False
        if not re.search(r"[a-z]{3}", term):
            return False
        # a trailing or leading function word means a truncated phrase
        return tokens[0] not in self.stopwords and tokens[-1] not in self.stopwords


def _clean_icd(description: str) -> str | None:
    """Reduce an ICD-10-CM description or inclusion term to a usable phrase.

    Parameters
    ----------
    description : str
        Description or inclusion term as published.

    Returns
    -------
    str or None
        Lower-cased phrase, or None when the description is residual/over-specified.
    """
    text = re.sub(r"\[[^\]]*\]|\([^)]*\)", " ", description)
    text = re.sub(r"\bNOS\b", " ", text)
    text = re.sub(r",\s*(unspecified|not elsewhere classified)\b.*$", "", text, flags=re.I)
    text = re.sub(r"^unspecified\s+", "", text.strip(), flags=re.I)
    if _is_acronym(text.strip()):
        return None
    text = normalise(text)
    if not text or "," in text or ":" in text:
        return None
    tokens = text.replace("-", " ").split()
    if len(tokens) > MAX_ICD_TOKENS or len(text) > MAX_ICD_CHARS:
        return None
    if any(t in _ICD_NOISE for t in tokens):
        return None
    if any(ch.isdigit() for ch in text) and "type" not in text:
        return None
    return text


def icd10cm_terms() -> Iterator[str]:
    """Yield cleaned Problem phrases from ICD-10-CM (``simple_icd_10_cm``).

    Yields
    ------
    str
        Lower-cased phrase.
    """
    import simple_icd_10_cm as cm

    for code in cm.get_all_codes(with_dots=True):
        if cm.is_chapter_or_block(code) or code[0] in _ICD_SKIP_LETTERS:
            continue
        texts = [cm.get_description(code)]
        texts += cm.get_inclusion_term(code)
        for raw in texts:
            cleaned = _clean_icd(raw)
            if cleaned:
                yield cleaned


def _pubtator_mentions(path: Path) -> Iterator[tuple[str, str]]:
    """Yield ``(mention_text, type)`` from a PubTator annotation file."""
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 5 and parts[1].isdigit():
                yield parts[3], parts[4]


def _is_acronym(raw: str) -> bool:
    """Return whether a surface form looks like an upper-case acronym (e.g. ``PD``)."""
    letters = [c for c in raw if c.isalpha()]
    return bool(letters) and sum(c.isupper() for c in letters) >= max(2, len(letters) - 1) and len(raw) <= 6


def corpus_terms(
    path: Path, type_map: dict[str, str]
) -> dict[str, Counter[str]]:
    """Count normalised corpus mentions per cliniloop label.

    Parameters
    ----------
    path : Path
        PubTator file.
    type_map : dict
        Corpus mention type -> cliniloop label; other types are ignored.

    Returns
    -------
    dict
        term -> Counter(label -> count). Acronyms and composite mentions are skipped.
    """
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for raw, kind in _pubtator_mentions(path):
        label = type_map.get(kind)
        if label is None or _is_acronym(raw):
            continue
        term = normalise(raw)
        if " and " in f" {term} " or " or " in f" {term} " or "," in term:
            continue
        counts[term][label] += 1
    return counts


def _curated() -> Iterator[tuple[str, str, str, bool]]:
    """Yield ``(term, label, source, case_sensitive)`` from the curated lists."""
    for label in LABELS:
        path = CURATED_DIR / f"{label.lower()}.txt"
        for term in _read_list(path):
            yield normalise(term), label, "curated", False
    for line in _read_list(CURATED_DIR / "abbreviations.tsv"):
        abbr, label, *_ = line.split("\t")
        if label not in LABELS:
            raise ValueError(f"unknown label {label!r} in abbreviations.tsv")
        yield abbr.strip(), label, "abbreviation", True


def collect(shared_data_dir: Path | None) -> dict[str, dict]:
    """Merge all sources into one term -> entry mapping.

    Parameters
    ----------
    shared_data_dir : Path or None
        Folder holding ``data/text/...``; None builds from curated + ICD-10-CM only.

    Returns
    -------
    dict
        key -> ``{"literal", "label", "source", "case_sensitive"}``; the key is the
        term (abbreviations keep their case).
    """
    stoplist = {normalise(t) for t in _read_list(CURATED_DIR / "stoplist.txt")}
    filt = TermFilter(stoplist, _stopwords())
    entries: dict[str, dict] = {}

    def offer(term: str, label: str, source: str, case_sensitive: bool = False) -> None:
        key = term if case_sensitive else normalise(term)
        if not case_sensitive and not filt.ok(key):
            return
        old = entries.get(key)
        if old is not None and SOURCE_PRIORITY[old["source"]] <= SOURCE_PRIORITY[source]:
            return
        entries[key] = {
            "literal": key,
            "label": label,
            "source": source,
            "case_sensitive": case_sensitive,
        }

    for term, label, source, cs in _curated():
        offer(term, label, source, cs)
    for term in icd10cm_terms():
        offer(term, "Problem", "icd10cm")
    if shared_data_dir is not None:
        _offer_corpora(Path(shared_data_dir), offer)
    return entries


def _offer_corpora(shared: Path, offer) -> None:
    """Offer BC5CDR and NCBI-disease training mentions to ``offer``."""
    bc5 = shared / BC5CDR_TRAIN
    ncbi = shared / NCBI_TRAIN
    for path in (bc5, ncbi):
        if not path.is_file():
            raise FileNotFoundError(f"missing corpus file: {path}")
    bc5_counts = corpus_terms(bc5, {"Chemical": "Medication", "Disease": "Problem"})
    for term, counter in sorted(bc5_counts.items()):
        label = counter.most_common(1)[0][0]
        offer(term, label, "bc5cdr")
    ncbi_types = {"SpecificDisease": "Problem", "DiseaseClass": "Problem", "Modifier": "Problem"}
    for term in sorted(corpus_terms(ncbi, ncbi_types)):
        offer(term, "Problem", "ncbi_disease")


def write_lexicons(entries: Iterable[dict], out_dir: Path) -> dict[str, int]:
    """Write one JSONL file per label into ``out_dir/targets``.

    Parameters
    ----------
    entries : iterable of dict
        Entries produced by :func:`collect`.
    out_dir : Path
        Rules folder (``taxonomies/text``).

    Returns
    -------
    dict
        label -> number of terms written.
    """
    by_label: dict[str, list[dict]] = {label: [] for label in LABELS}
    for entry in entries:
        by_label[entry["label"]].append(entry)
    target_dir = Path(out_dir) / "targets"
    target_dir.mkdir(parents=True, exist_ok=True)
    sizes = {}
    for label, items in by_label.items():
        items.sort(key=lambda e: (e["source"], e["literal"].lower(), e["literal"]))
        lines = []
        for e in items:
            row = {"literal": e["literal"], "source": e["source"]}
            if e["case_sensitive"]:
                row["case_sensitive"] = True
            lines.append(json.dumps(row, ensure_ascii=False, sort_keys=True))
        path = target_dir / f"{label.lower()}.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        sizes[label] = len(items)
    return sizes


def build_lexicons(shared_data_dir: Path, out_dir: Path) -> dict[str, int]:
    """Build and write the per-label target lexicons.

    Parameters
    ----------
    shared_data_dir : Path
        The shared folder (containing ``data/text/bc5cdr`` and ``data/text/ncbi_disease``).
    out_dir : Path
        Where to write (``taxonomies/text``); files go to ``out_dir/targets``.

    Returns
    -------
    dict
        label -> number of terms.
    """
    entries = collect(shared_data_dir)
    sizes = write_lexicons(entries.values(), out_dir)
    LOGGER.info("lexicon sizes: %s", sizes)
    return sizes


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``python -m cliniloop.taxonomies.text.build_lexicons SHARED_DIR [OUT_DIR]``."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: python -m cliniloop.taxonomies.text.build_lexicons SHARED_DIR [OUT_DIR]", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    out_dir = Path(argv[1]) if len(argv) > 1 else HERE
    sizes = build_lexicons(Path(argv[0]), out_dir)
    print(json.dumps(sizes), file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
