"""De-identification rules as data: Presidio pattern recognizers, identifier keywords, name stoplist.

Loaded by :mod:`cliniloop.models.text.deid.recognizers`; nothing is read at import time.
"""

from pathlib import Path


def deid_rules_dir() -> Path:
    """Folder holding ``patterns.yaml``, ``id_keywords.tsv`` and ``name_stoplist.txt``."""
    return Path(__file__).resolve().parent
