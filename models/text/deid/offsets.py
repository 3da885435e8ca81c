"""Replace identifier spans in a text and map offsets between original and de-identified text.

The map stores offsets only (never identifier text), so it can be saved next to the
de-identified note and used to carry annotations made on one text over to the other.

Mapping rules (``O`` = original text, ``D`` = de-identified text):

* outside replaced spans an offset moves by the length change accumulated over the
  replacements before it;
* the start and the end of a replaced span map to the start and the end of its replacement;
* an offset strictly inside a replaced span has no counterpart. As the *start* of a span it
  maps to the replacement's start, as the *end* of a span to the replacement's end: a span
  that touches a replaced identifier grows to cover the whole surrogate (``O -> D``) or the
  whole original identifier (``D -> O``). Single offsets default to the start rule.

Lookups are ``O(log n)`` in the number of replacements (:mod:`bisect`).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from .types import PHI_TYPES, PhiSpan

__all__ = ["OffsetMap", "Replacement", "apply_replacements", "merge_overlapping"]

Side = Literal["start", "end"]


@dataclass(frozen=True)
class Replacement:
    """One replaced span: ``original[orig_start:orig_end]`` became ``deid[deid_start:deid_end]``.

    Attributes
    ----------
    orig_start, orig_end : int
        Character offsets (end exclusive) in the original text.
    deid_start, deid_end : int
        Character offsets (end exclusive) in the de-identified text.
    type : str
        Identifier type (a key of :data:`~cliniloop.models.text.deid.types.PHI_TYPES`).
    """

    orig_start: int
    orig_end: int
    deid_start: int
    deid_end: int
    type: str

    def __post_init__(self) -> None:
        if not 0 <= self.orig_start <= self.orig_end or not 0 <= self.deid_start <= self.deid_end:
            raise ValueError(f"bad replacement offsets {self}")

    @property
    def delta(self) -> int:
        """Length change, in characters, of de-identified minus original."""
        return (self.deid_end - self.deid_start) - (self.orig_end - self.orig_start)


def _lookup(offset: int, side: Side, starts: Sequence[int], reps: Sequence[Replacement], forward: bool) -> int:
    """Map ``offset`` given the sorted replacement starts ``starts`` in the source text."""
    if offset < 0:
        raise ValueError(f"negative offset {offset}")
    if side not in ("start", "end"):
        raise ValueError(f"side must be 'start' or 'end', not {side!r}")
    i = bisect_right(starts, offset) - 1
    if i < 0:
        return offset
    rep = reps[i]
    src_start, src_end, dst_start, dst_end = (
        (rep.orig_start, rep.orig_end, rep.deid_start, rep.deid_end)
        if forward
        else (rep.deid_start, rep.deid_end, rep.orig_start, rep.orig_end)
    )
    if offset >= src_end:
        return offset - src_end + dst_end
    if offset == src_start:
        return dst_start
    return dst_start if side == "start" else dst_end


@dataclass(frozen=True)
class OffsetMap:
    """Offset map between an original text and its de-identified copy.

    Attributes
    ----------
    replacements : tuple of Replacement
        Sorted, non-overlapping replacements; the text between two replacements has the same
        length in both texts.

    Notes
    -----
    See the module docstring for how offsets inside a replaced span are mapped.
    """

    replacements: tuple[Replacement, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "replacements", tuple(self.replacements))
        prev_orig = prev_deid = 0
        for rep in self.replacements:
            if rep.orig_start < prev_orig or rep.deid_start < prev_deid:
                raise ValueError("replacements must be sorted and non-overlapping")
            if rep.orig_start - prev_orig != rep.deid_start - prev_deid:
                raise ValueError(f"unreplaced text changes length before {rep}")
            prev_orig, prev_deid = rep.orig_end, rep.deid_end

    @cached_property
    def _orig_starts(self) -> tuple[int, ...]:
        return tuple(r.orig_start for r in self.replacements)

    @cached_property
    def _deid_starts(self) -> tuple[int, ...]:
        return tuple(r.deid_start for r in self.replacements)

    def to_deid(self, offset: int, *, side: Side = "start") -> int:
        """Map an original character offset to the de-identified text.

        Parameters
        ----------
        offset : int
            Character offset in the original text.
        side : {"start", "end"}
            Whether ``offset`` is a span start or an (exclusive) span end; decides where an
            offset strictly inside a replaced span goes.

        Returns
        -------
        int
            Character offset in the de-identified text.
        """
        return _lookup(offset, side, self._orig_starts, self.replacements, forward=True)

    def to_original(self, offset: int, *, side: Side = "start") -> int:
        """Map a de-identified character offset to the original text.

        Parameters
        ----------
        offset : int
            Character offset in the de-identified text.
        side : {"start", "end"}
            Whether ``offset`` is a span start or an (exclusive) span end.

        Returns
        -------
        int
            Character offset in the original text.
        """
        return _lookup(offset, side, self._deid_starts, self.replacements, forward=False)

    def span_to_deid(self, start: int, end: int) -> tuple[int, int]:
        """Map an original ``[start, end)`` character span to the de-identified text.

        A span that starts or ends inside a replaced identifier grows to cover its whole
        surrogate.
        """
        if end < start:
            raise ValueError(f"bad span {start}..{end}")
        return self.to_deid(start, side="start"), self.to_deid(end, side="end")

    def span_to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a de-identified ``[start, end)`` character span to the original text.

        A span that starts or ends inside a surrogate grows to cover the whole original
        identifier.
        """
        if end < start:
            raise ValueError(f"bad span {start}..{end}")
        return self.to_original(start, side="start"), self.to_original(end, side="end")

    def to_json(self) -> list[dict[str, Any]]:
        """The replacements as JSON-ready dicts (offsets and types only)."""
        return [
            {
                "orig_start": r.orig_start,
                "orig_end": r.orig_end,
                "deid_start": r.deid_start,
                "deid_end": r.deid_end,
                "type": r.type,
            }
            for r in self.replacements
        ]

    @classmethod
    def from_json(cls, data: Sequence[dict[str, Any]]) -> OffsetMap:
        """Rebuild a map from :meth:`to_json` output."""
        return cls(
            tuple(
                Replacement(
                    int(d["orig_start"]), int(d["orig_end"]), int(d["deid_start"]), int(d["deid_end"]), str(d["type"])
                )
                for d in data
            )
        )


def apply_replacements(text: str, spans: Sequence[PhiSpan], surrogates: Sequence[str]) -> tuple[str, OffsetMap]:
    """Replace ``text[span.start:span.end]`` by the matching surrogate for every span.

    Parameters
    ----------
    text : str
        Original text.
    spans : sequence of PhiSpan
        Sorted by start, non-overlapping (adjacent spans are allowed), within ``text``.
    surrogates : sequence of str
        One replacement string per span.

    Returns
    -------
    str
        The text with every span replaced.
    OffsetMap
        Map between ``text`` and the returned text.

    Raises
    ------
    ValueError
        If the spans are unsorted, overlap, run past the text, or the counts differ.
    """
    if len(spans) != len(surrogates):
        raise ValueError(f"{len(spans)} spans but {len(surrogates)} surrogates")
    pieces: list[str] = []
    reps: list[Replacement] = []
    pos = 0  # in the original
    out_len = 0
    for span, surrogate in zip(spans, surrogates, strict=True):
        if span.start < pos:
            raise ValueError(f"spans must be sorted and non-overlapping: {span} starts before {pos}")
        if span.end > len(text):
            raise ValueError(f"span {span} runs past the text ({len(text)} characters)")
        gap = text[pos : span.start]
        pieces.append(gap)
        out_len += len(gap)
        pieces.append(surrogate)
        reps.append(Replacement(span.start, span.end, out_len, out_len + len(surrogate), span.type))
        out_len += len(surrogate)
        pos = span.end
    pieces.append(text[pos:])
    return "".join(pieces), OffsetMap(tuple(reps))


def _priority(span: PhiSpan) -> tuple[int, float, int, int, str]:
    """Sort key: longer first, then higher score, then earlier, then type order, source."""
    return (-(span.end - span.start), -span.score, span.start, list(PHI_TYPES).index(span.type), span.source)


def merge_overlapping(spans: Sequence[PhiSpan]) -> list[PhiSpan]:
    """Resolve overlapping spans into a sorted, non-overlapping list.

    Rules:

    1. Spans of the same type that overlap are joined into one span over their union,
       carrying the score and source of the best of them (longest, then highest score); a
       span inside a longer one of the same type thus just disappears.
    2. Across types the longer span wins, then the higher score. Characters of the losing
       span outside the winner are kept as a (shorter) span of the losing type, so nothing
       detected as an identifier is left in clear text.

    Adjacent spans (one ends where the next starts) are not overlapping and stay separate.

    Parameters
    ----------
    spans : sequence of PhiSpan
        Detected spans, in any order.

    Returns
    -------
    list of PhiSpan
        Non-overlapping spans sorted by start.
    """
    # 1. same-type unions
    joined: list[PhiSpan] = []
    by_type: dict[str, list[PhiSpan]] = {}
    for span in spans:
        by_type.setdefault(span.type, []).append(span)
    for group in by_type.values():
        group.sort(key=lambda s: (s.start, s.end))
        cluster: list[PhiSpan] = [group[0]]
        cluster_end = group[0].end
        for span in group[1:]:
            if span.start < cluster_end:
                cluster.append(span)
                cluster_end = max(cluster_end, span.end)
                continue
            joined.append(_join(cluster, cluster_end))
            cluster, cluster_end = [span], span.end
        joined.append(_join(cluster, cluster_end))
    # 2. across types, by priority; losers keep what lies outside the winners
    kept: list[PhiSpan] = []
    for span in sorted(joined, key=_priority):
        pieces = [(span.start, span.end)]
        for other in kept:
            pieces = [
                piece
                for a, b in pieces
                for piece in ((a, min(b, other.start)), (max(a, other.end), b))
                if piece[0] < piece[1]
            ]
            if not pieces:
                break
        for a, b in pieces:
            same = a == span.start and b == span.end
            kept.append(span if same else PhiSpan(a, b, span.type, span.score, span.source))
    return sorted(kept)


def _join(cluster: list[PhiSpan], end: int) -> PhiSpan:
    """One span over a cluster of overlapping same-type spans (sorted by start)."""
    best = min(cluster, key=_priority)
    start = cluster[0].start
    if best.start == start and best.end == end:
        return best
    return PhiSpan(start, end, best.type, best.score, best.source)
