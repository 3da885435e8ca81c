"""Load the annotator's rule files (kept as data under ``taxonomies/text``) and version them.

Layout of a rules directory::

    targets/<label>.jsonl   one JSON object per line: {"literal", "source"[, "case_sensitive"]}
    context_rules.json      {"context_rules": [...]}  medspaCy ConTextRule dicts; an extra
                            optional key "terminated_by" (list of categories) is supported
    section_rules.json      {"section_rules": [...]}  medspaCy SectionRule dicts

The rules version is ``"medspacy-rules-" + sha256(...)[:12]`` over the relative path and
bytes of every rule file, so any edit to any rule file changes it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from .mention import LABELS

TARGET_DIR = "targets"
CONTEXT_FILE = "context_rules.json"
SECTION_FILE = "section_rules.json"
VERSION_PREFIX = "medspacy-rules-"


def default_rules_dir() -> Path:
    """Return the packaged rules directory (``taxonomies/text``)."""
    from cliniloop.taxonomies.text import RULES_DIR

    return RULES_DIR


@dataclass(frozen=True)
class TargetEntry:
    """One lexicon term.

    Attributes
    ----------
    literal : str
        Term as matched (lower-case unless ``case_sensitive``).
    label : str
        Entity label.
    source : str
        Provenance (``curated``, ``abbreviation``, ``icd10cm``, ``bc5cdr``, ``ncbi_disease``).
    case_sensitive : bool
        Match the exact case (abbreviations such as ``MI``) rather than lower-cased text.
    """

    literal: str
    label: str
    source: str
    case_sensitive: bool = False


def rule_files(rules_dir: Path) -> list[Path]:
    """List the rule files that define the pipeline, in a stable order.

    Parameters
    ----------
    rules_dir : Path
        Rules directory.

    Returns
    -------
    list of Path
        Existing target lexicons, then ConText and section rule files.
    """
    rules_dir = Path(rules_dir)
    files = [rules_dir / TARGET_DIR / f"{label.lower()}.jsonl" for label in LABELS]
    files += [rules_dir / CONTEXT_FILE, rules_dir / SECTION_FILE]
    return [f for f in files if f.is_file()]


def rules_version(rules_dir: Path) -> str:
    """Return ``"medspacy-rules-" + short sha256`` over the rule files' bytes.

    Parameters
    ----------
    rules_dir : Path
        Rules directory.

    Returns
    -------
    str
        Version string, e.g. ``medspacy-rules-3f2a9c01b7de``.
    """
    digest = hashlib.sha256()
    rules_dir = Path(rules_dir)
    for path in rule_files(rules_dir):
        digest.update(path.relative_to(rules_dir).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return VERSION_PREFIX + digest.hexdigest()[:12]


def load_targets(rules_dir: Path) -> list[TargetEntry]:
    """Read every ``targets/<label>.jsonl`` lexicon.

    Parameters
    ----------
    rules_dir : Path
        Rules directory.

    Returns
    -------
    list of TargetEntry
        All lexicon terms.

    Raises
    ------
    FileNotFoundError
        When no lexicon file exists.
    """
    entries: list[TargetEntry] = []
    found = False
    for label in LABELS:
        path = Path(rules_dir) / TARGET_DIR / f"{label.lower()}.jsonl"
        if not path.is_file():
            continue
        found = True
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                row = json.loads(line)
                entries.append(
                    TargetEntry(
                        literal=row["literal"],
                        label=label,
                        source=row.get("source", "unknown"),
                        case_sensitive=bool(row.get("case_sensitive", False)),
                    )
                )
    if not found:
        raise FileNotFoundError(f"no target lexicons under {Path(rules_dir) / TARGET_DIR}")
    return entries


def load_context_rules(path: Path) -> list:
    """Read ConText rules, supporting ``terminated_by``, ``comment`` and ``terminating_types``.

    Parameters
    ----------
    path : Path
        ``context_rules.json``.

    Returns
    -------
    list of medspacy.context.ConTextRule
        Rules ready for ``ConText.add``.
    """
    from medspacy.context import ConTextRule

    data = json.loads(Path(path).read_text(encoding="utf-8"))
    terminating = {
        k.upper(): {c.upper() for c in v} for k, v in data.get("terminating_types", {}).items()
    }
    rules = []
    for raw in data["context_rules"]:
        raw = dict(raw)
        raw.pop("comment", None)
        terminated_by = raw.pop("terminated_by", None)
        rule = ConTextRule.from_dict(raw)
        extra = {c.upper() for c in terminated_by or ()} | terminating.get(rule.category, set())
        if extra:
            rule.terminated_by = set(rule.terminated_by) | extra
        rules.append(rule)
    return rules


def load_section_rules(path: Path) -> list:
    """Read medspaCy section rules.

    Parameters
    ----------
    path : Path
        ``section_rules.json``.

    Returns
    -------
    list of medspacy.section_detection.SectionRule
        Rules ready for ``Sectionizer.add``.
    """
    from medspacy.section_detection import SectionRule

    return SectionRule.from_json(str(path))
