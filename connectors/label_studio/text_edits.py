"""Move the text regions of Label Studio results after the task text was edited.

Used when cliniloop replaces identifiers annotators marked as missed: every result item with
``value.start``/``value.end`` (labels and their per-region choices alike) is moved by a
``remap(start, end) -> (start, end)`` function from the old to the new text, and its
``value.text`` is set to the new text at the new offsets.

Idempotent by content: an item is moved only when its ``value.text`` is the old text at its
offsets (or it has no text), so an item already moved (a retried sync) is left as it is.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["shift_text_result"]

Remap = Callable[[int, int], tuple[int, int]]


def _same(saved: str, sliced: str) -> bool:
    # the UI saves a selection's line breaks as a literal backslash-n
    return saved == sliced or saved.replace("\\n", "\n") == sliced


def shift_text_result(
    result: Sequence[Mapping[str, Any]], remap: Remap, old_text: str, new_text: str
) -> tuple[list[dict[str, Any]], bool]:
    """Result items moved from ``old_text`` to ``new_text``; and whether any item changed."""
    out: list[dict[str, Any]] = []
    changed = False
    for item in result:
        value = item.get("value")
        start = value.get("start") if isinstance(value, Mapping) else None
        end = value.get("end") if isinstance(value, Mapping) else None
        if not isinstance(start, int) or not isinstance(end, int) or isinstance(start, bool):
            out.append(dict(item))
            continue
        saved = value.get("text")
        if isinstance(saved, str) and not _same(saved, old_text[start:end]):
            out.append(dict(item))  # already on the new text
            continue
        new_start, new_end = remap(start, end)
        moved = copy.deepcopy(dict(item))
        moved["value"]["start"], moved["value"]["end"] = new_start, new_end
        if "text" in moved["value"] or saved is None:
            moved["value"]["text"] = new_text[new_start:new_end]
        changed = changed or moved != item
        out.append(moved)
    return out, changed
