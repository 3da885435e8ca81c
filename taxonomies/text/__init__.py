"""Rules kept as data for the clinical-text pre-annotator (lexicons, ConText and section rules)."""

from pathlib import Path

RULES_DIR: Path = Path(__file__).resolve().parent

__all__ = ["RULES_DIR"]
