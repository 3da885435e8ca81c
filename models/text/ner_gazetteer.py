"""Dictionary-match features for the CRF tagger from the lexicons in ``taxonomies/text/targets``.

A token inside a lexicon phrase gets ``gz=<Label>:<B|I>`` (longest match wins). Only lexicon
entries from general sources are used (ICD-10-CM descriptions, curated lists, abbreviations,
NCBI-disease); entries harvested from the BC5CDR training corpus are left out so that
benchmarking on BC5CDR never sees its own labels through the dictionary.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from .ner_tokens import TOKEN_PATTERN
from .rules import default_rules_dir

EXCLUDED_SOURCES = frozenset({"bc5cdr"})
MAX_PHRASE_TOKENS = 6


class Gazetteer:
    """Lower-cased token tuples → labels, with a longest-match tagger.

    Parameters
    ----------
    phrases : dict
        ``tuple of lower-cased tokens -> set of labels``.
    """

    def __init__(self, phrases: dict[tuple[str, ...], frozenset[str]]) -> None:
        self.phrases = phrases
        self.max_len = max((len(p) for p in phrases), default=0)

    def tag(self, words: Sequence[str]) -> list[list[str]]:
        """Per-token features ``gz=<Label>:B`` / ``gz=<Label>:I`` from longest dictionary matches."""
        lower = [w.lower() for w in words]
        out: list[list[str]] = [[] for _ in words]
        i = 0
        while i < len(lower):
            for n in range(min(self.max_len, len(lower) - i), 0, -1):
                labels = self.phrases.get(tuple(lower[i : i + n]))
                if labels and not (n == 1 and len(lower[i]) < 3 and not words[i].isupper()):
                    for lab in labels:
                        out[i].append(f"gz={lab}:B")
                        for j in range(i + 1, i + n):
                            out[j].append(f"gz={lab}:I")
                    i += n
                    break
            else:
                i += 1
        return out


@lru_cache(maxsize=4)
def load_gazetteer(targets_dir: Path | None = None) -> Gazetteer:
    """Build the gazetteer from ``targets/*.jsonl`` (default: the packaged rules)."""
    folder = Path(targets_dir) if targets_dir is not None else default_rules_dir() / "targets"
    phrases: dict[tuple[str, ...], set[str]] = {}
    for path in sorted(folder.glob("*.jsonl")):
        label = path.stem.capitalize()
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                entry = json.loads(line)
                if entry.get("source") in EXCLUDED_SOURCES:
                    continue
                toks = tuple(t.lower() for t in TOKEN_PATTERN.findall(entry["literal"]))
                if 0 < len(toks) <= MAX_PHRASE_TOKENS:
                    phrases.setdefault(toks, set()).add(label)
    return Gazetteer({k: frozenset(v) for k, v in phrases.items()})
