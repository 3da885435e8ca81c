"""Shift dates written in free text while keeping the way they were written.

A date surrogate keeps the *shape* of the original: separators, zero padding, two- or
four-digit year, month-name style (``March`` / ``Mar`` / ``Mar.`` / ``Sept``), letter case,
ordinal suffixes (``4th``, ``4th of March``), an optional leading weekday and an optional
trailing time of day (kept verbatim), and day-first vs month-first order as given.

Anchors for dates that are not full calendar days (all shifts are in days):

* no year (``3/4``, ``March 4``): the anchor year is 2000, a leap year, so ``2/29`` parses;
  the shifted month and day are rendered without a year;
* month and year (``March 2021``, ``03/2021``, ``2021-03``): day 15 of the month is shifted
  and the resulting month and year rendered;
* year only (``2021``): 1 July of that year is shifted and the resulting year rendered.

Full dates shifted by the same number of days keep their difference in days exactly.

Reading rules: ambiguous numeric dates are month-first (US) unless the first number is above
12; two-digit years 00-68 are 20xx and 69-99 are 19xx (the POSIX ``strptime`` pivot), and are
rendered with two digits again. Only :mod:`datetime` and :mod:`re` are used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

__all__ = ["month_like", "month_number", "shift_date_text", "weekday_like", "weekday_number"]

_MONTHS = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

#: lower-case month word -> (month number, style); "may" is read as the full name.
_MONTH_WORDS: dict[str, tuple[int, str]] = {
    **{name[:3]: (i, "abbr") for i, name in enumerate(_MONTHS, start=1)},
    "sept": (9, "sept"),
    **{name: (i, "full") for i, name in enumerate(_MONTHS, start=1)},
}
_WEEKDAY_WORDS: dict[str, tuple[int, str]] = {
    **{name[:3]: (i, "abbr") for i, name in enumerate(_WEEKDAYS)},
    **{name: (i, "full") for i, name in enumerate(_WEEKDAYS)},
}

_Y = r"(?P<Y>\d{4}|\d{2})"
_MON = r"(?P<MON>[^\W\d_]{3,9})(?P<DOT>\.)?"
_DAY = r"(?P<D>\d{1,2})(?P<O>st|nd|rd|th)?"

# (regex, kind); the kind is "full", "noyear", "monthyear" or "year"; "compact" is a full
# date of eight digits, accepted only for plausible years. Tried in order.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(rx, re.IGNORECASE), kind)
    for rx, kind in (
        (r"(?P<Y>\d{4})(?P<s>[-/.])(?P<M>\d{1,2})(?P=s)(?P<D>\d{1,2})", "full"),
        (r"(?P<Y>\d{4})(?P<M>\d{2})(?P<D>\d{2})", "compact"),
        (r"(?P<A>\d{1,2})(?P<s>[-/.])(?P<B>\d{1,2})(?P=s)" + _Y, "full"),
        (r"(?P<Y>\d{4})[-/.](?P<M>\d{1,2})", "monthyear"),
        (r"(?P<M>\d{1,2})[-/.](?P<Y>\d{4})", "monthyear"),
        (r"(?P<A>\d{1,2})[-/.](?P<B>\d{1,2})", "noyear"),
        (_DAY + r"(?:\s+of\s+|\s*[-/.]\s*|\s*)" + _MON + r"(?:(?:,\s*|\s*[-/.]\s*|\s+)" + _Y + ")?", "full"),
        (_MON + r"(?:\s*[-/.]\s*|\s*)" + _DAY + r"(?:(?:,\s*|\s*[-/.]\s*|\s+)" + _Y + ")?", "full"),
        (_MON + r"(?:,\s*|\s*[-/.]\s*|\s+)(?P<Y>\d{4})", "monthyear"),
        (r"(?P<Y>\d{4})", "year"),
    )
)
_WEEKDAY_PREFIX = re.compile(r"(?P<W>[^\W\d_]{3,9})(?P<WDOT>\.)?,?\s+")
_TIME_SUFFIX = re.compile(
    r"(?:\s*[T@]\s*|\s+(?:at\s+)?)\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
    r"(?:\s*[ap]\.?m\.?)?(?:\s*(?:Z|[+-]\d{2}:?\d{2}|[A-Z]{2,4}))?$",
    re.IGNORECASE,
)
_MIN_YEAR, _MAX_YEAR = 1800, 2199  # plausible four-digit years (bare years, compact dates)


@dataclass(frozen=True)
class _Parsed:
    """A date found in a string: the anchor date, its kind and the fields to re-render.

    ``fields`` maps a role (``Y``, ``M``, ``D``, ``O``, ``MON``, ``DOT``, ``W``, ``WDOT``) to
    the ``(start, end)`` of its text in the string.
    """

    anchor: date
    kind: str
    fields: dict[str, tuple[int, int]]


def _full_year(text: str) -> int:
    """Four-digit year for a year field of two or four digits (pivot 69 for two digits)."""
    year = int(text)
    if len(text) == 2:
        return 2000 + year if year <= 68 else 1900 + year
    return year


def _match_core(core: str) -> _Parsed | None:
    """Parse a string holding only a date (no weekday, no time)."""
    for pattern, kind in _PATTERNS:
        m = pattern.fullmatch(core)
        if m is None:
            continue
        groups = {k: v for k, v in m.groupdict().items() if v is not None}
        fields = {k: m.span(k) for k in groups if k not in {"s", "A", "B"}}
        if "A" in groups:  # numeric pair: month-first unless the first number cannot be a month
            first, second = int(groups["A"]), int(groups["B"])
            month_key, day_key = ("B", "A") if first > 12 and second <= 12 else ("A", "B")
            groups["M"], groups["D"] = groups[month_key], groups[day_key]
            fields["M"], fields["D"] = m.span(month_key), m.span(day_key)
        if "MON" in groups:
            word = groups["MON"].lower()
            if word not in _MONTH_WORDS:
                continue
            month = _MONTH_WORDS[word][0]
        else:
            month = int(groups.get("M", "7"))
        year_text = groups.get("Y")
        if year_text is None:
            if kind == "full":
                kind = "noyear"
            year = 2000
        else:
            year = _full_year(year_text)
        if kind in {"year", "compact"}:
            if not _MIN_YEAR <= year <= _MAX_YEAR:
                continue
            kind = "full" if kind == "compact" else kind
        if kind == "year":
            day = 1
        elif kind == "monthyear":
            day = 15
        else:
            day = int(groups["D"])
        try:
            anchor = date(year, month, day)
        except ValueError:
            continue
        return _Parsed(anchor, kind, fields)
    return None


def _parse(text: str) -> _Parsed | None:
    """Parse ``text`` (stripped, time of day removed), allowing a leading weekday."""
    parsed = _match_core(text)
    if parsed is not None:
        return parsed
    m = _WEEKDAY_PREFIX.match(text)
    if m is None or m.group("W").lower() not in _WEEKDAY_WORDS:
        return None
    parsed = _match_core(text[m.end() :])
    if parsed is None:
        return None
    fields = {k: (a + m.end(), b + m.end()) for k, (a, b) in parsed.fields.items()}
    fields["W"] = m.span("W")
    if m.group("WDOT"):
        fields["WDOT"] = m.span("WDOT")
    return _Parsed(parsed.anchor, parsed.kind, fields)


def _case_like(word: str, template: str) -> str:
    """``word`` in the letter case of ``template`` (UPPER, lower or Title)."""
    if len(template) > 1 and template.isupper():
        return word.upper()
    if template.islower():
        return word.lower()
    return word[:1].upper() + word[1:].lower()


def month_like(template: str, month: int) -> str:
    """Name of ``month`` written like the month word ``template``.

    Parameters
    ----------
    template : str
        A month word as written (``"March"``, ``"MAR"``, ``"mar."``, ``"Sept"``); a trailing
        dot only marks ``"May."`` as an abbreviation.
    month : int
        Month number, 1-12.

    Returns
    -------
    str
        Full name, three-letter abbreviation or ``Sept`` style, in the case of ``template``.
    """
    word = template.rstrip(".").lower()
    style = _MONTH_WORDS.get(word, (0, "full"))[1]
    if word == "may" and template.endswith("."):
        style = "abbr"
    full = _MONTHS[month - 1]
    if style == "full":
        name = full
    elif style == "sept" and month == 9:
        name = "sept"
    else:
        name = full[:3]
    return _case_like(name, template)


def month_number(word: str) -> int | None:
    """Month number (1-12) of a month word (``"March"``, ``"MAR."``, ``"Sept"``), else None."""
    found = _MONTH_WORDS.get(word.rstrip(".").lower())
    return None if found is None else found[0]


def weekday_number(word: str) -> int | None:
    """Weekday number (Monday 0) of a weekday word (``"Thursday"``, ``"thu"``), else None."""
    found = _WEEKDAY_WORDS.get(word.rstrip(".").lower())
    return None if found is None else found[0]


def weekday_like(template: str, weekday: int) -> str:
    """Name of ``weekday`` (Monday 0) written like the weekday word ``template``.

    Parameters
    ----------
    template : str
        A weekday word as written (``"Thursday"``, ``"THU"``); a trailing dot is ignored.
    weekday : int
        Weekday number, 0 (Monday) to 6.

    Returns
    -------
    str
        Full name or three-letter abbreviation, in the case of ``template``.
    """
    style = _WEEKDAY_WORDS.get(template.rstrip(".").lower(), (0, "full"))[1]
    name = _WEEKDAYS[weekday]
    return _case_like(name if style == "full" else name[:3], template.rstrip("."))


def _ordinal(day: int) -> str:
    if 11 <= day % 100 <= 13:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def _padded(text: str, other: str | None) -> bool:
    """Whether a numeric field was zero-padded, using the other numeric field as evidence."""
    if len(text) == 1:
        return False
    if text.startswith("0"):
        return True
    if other is not None and len(other) == 1:
        return False
    return True


def _render(text: str, parsed: _Parsed, new: date) -> str:
    """Re-render ``text`` with the fields of ``parsed`` set from ``new``."""
    f = parsed.fields

    def part(role: str) -> str:
        a, b = f[role]
        return text[a:b]

    numeric_style = "MON" not in f
    out: dict[str, str] = {}
    if "Y" in f:
        out["Y"] = f"{new.year % 100:02d}" if len(part("Y")) == 2 else f"{new.year:04d}"
    if "M" in f:
        pad = _padded(part("M"), part("D") if "D" in f else None)
        out["M"] = f"{new.month:02d}" if pad else str(new.month)
    if "D" in f:
        if numeric_style:
            pad = _padded(part("D"), part("M") if "M" in f else None)
        else:
            pad = part("D").startswith("0")
        out["D"] = f"{new.day:02d}" if pad else str(new.day)
    if "O" in f:
        suffix = _ordinal(new.day)
        out["O"] = suffix.upper() if part("O").isupper() else suffix
    if "MON" in f:
        name = month_like(part("MON") + ("." if "DOT" in f else ""), new.month)
        out["MON"] = name
        if "DOT" in f and name.lower() == _MONTHS[new.month - 1]:
            out["DOT"] = ""  # "May" is not abbreviated
    if "W" in f:
        out["W"] = weekday_like(part("W"), new.weekday())
    pieces: list[str] = []
    pos = 0
    for role, (a, b) in sorted(f.items(), key=lambda kv: kv[1]):
        pieces.append(text[pos:a])
        pieces.append(out.get(role, text[a:b]))
        pos = b
    pieces.append(text[pos:])
    return "".join(pieces)


def shift_date_text(text: str, days: int) -> str | None:
    """Shift the date written in ``text`` by ``days`` and write it the same way.

    Parameters
    ----------
    text : str
        A date as written in a note (``"03/04/2021"``, ``"Mar. 4, 2021"``, ``"4th of March"``,
        ``"March 2021"``, ``"3/4"`` ...). Surrounding whitespace, a leading weekday
        (``"Thursday, March 4, 2021"``) and a trailing time of day (``"03/04/2021 14:30"``)
        are allowed; the time is kept verbatim.
    days : int
        Shift in days (negative: earlier).

    Returns
    -------
    str or None
        The shifted date in the shape of ``text``; ``None`` when ``text`` is not a date this
        module can read, or the shift leaves the supported range (years 1-9999).
    """
    stripped = text.strip()
    if not stripped:
        return None
    lead = text[: len(text) - len(text.lstrip())]
    trail = text[len(text.rstrip()) :]
    time_part = ""
    core = stripped
    m = _TIME_SUFFIX.search(stripped)
    if m is not None and m.start() > 0:
        core, time_part = stripped[: m.start()], stripped[m.start() :]
    parsed = _parse(core)
    if parsed is None:
        return None
    try:
        new = parsed.anchor + timedelta(days=days)
    except OverflowError:
        return None
    return lead + _render(core, parsed, new) + time_part + trail
