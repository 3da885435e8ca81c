"""Generate the synthetic de-identification corpus (BRAT standoff with gold identifier spans).

Usage::

    python data_samples/deid/generate.py --out data_samples/deid/dev --notes 220 --seed 0

The same seed and Faker version give byte-identical files. See ``services/evaluation/synthetic_notes.py``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

_REPO = Path(__file__).resolve().parents[2]


def _clear(out: Path) -> None:
    """Remove a previously generated corpus (``patient-*`` folders of .txt/.ann files, README.md)."""
    for folder in sorted(out.glob("patient-*")):
        if not folder.is_dir() or any(p.suffix not in {".txt", ".ann"} for p in folder.rglob("*") if p.is_file()):
            raise SystemExit(f"{folder}: not a generated patient folder, refusing to delete it")
        shutil.rmtree(folder)
    (out / "README.md").unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, generate the notes and write them; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--notes", type=int, default=220, help="number of notes (default 220)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--force", action="store_true", help="replace a corpus already in --out")
    args = parser.parse_args(argv)

    if str(_REPO) not in sys.path:
        sys.path.insert(0, str(_REPO))
    from cliniloop.services.evaluation.synthetic_notes import generate_notes, write_corpus

    if args.force and args.out.is_dir():
        _clear(args.out)
    try:
        n = write_corpus(args.out, generate_notes(args.notes, seed=args.seed), seed=args.seed)
    except (FileExistsError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {n} notes to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
