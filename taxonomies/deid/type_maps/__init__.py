"""Built-in maps from other gold standards' identifier types to cliniloop's (data, not code).

Read by :mod:`cliniloop.models.text.deid.type_maps`; see ``README.md`` here for the format.
"""

from pathlib import Path


def type_maps_dir() -> Path:
    """Folder holding the built-in ``<name>.tsv`` type maps."""
    return Path(__file__).resolve().parent
