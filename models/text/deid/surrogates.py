"""Surrogates for identifiers: realistic, keyed, consistent per patient.

Every choice is derived from ``HMAC-SHA256(secret, patient_key | type | normalised original)``
(plus a re-draw counter), so the same identifier of the same patient always gets the same
surrogate, different patients or secrets get unrelated ones, and nothing but the secret, the
patient key and the shift bounds is stored. Without the secret a surrogate cannot be traced
back to its original.

Design choices
--------------
Names
    Replaced token by token; titles (``Dr.``, ``Mr.``), suffixes (``Jr``, ``MD``) and
    punctuation are kept. A token's surrogate is keyed by the token alone (accents and case
    folded), never by its position, so ``John Smith``, ``Mr. Smith``, ``SMITH, JOHN``,
    ``J. Smith`` and ``smith`` always agree: ``Smith`` -> the same surname. Whether a token
    is drawn from the first-name or the surname pool also depends on the token only: tokens
    in Faker's ``en_US`` first-name list get a first name, all others a surname (position
    heuristics such as ``LAST, FIRST`` would make the same token map differently in
    different forms). An initial maps to a keyed letter (it cannot be tied to the full name
    it abbreviates). Letter case (UPPER / Title / lower) follows each original token.
Dates
    Shifted by a per-patient number of days (:attr:`SurrogateGenerator.date_shift_days`)
    keeping their written form (:func:`~cliniloop.models.text.deid.dates.shift_date_text`), so
    intervals between full dates of a patient are exact. A coarse date (bare year, month and
    year) whose shifted value stays in the same period is pushed 366 more days in the
    direction of the shift. Unreadable dates get keyed digits and keyed month and weekday
    names in the same layout.
Ages
    Always ``"90+"`` (only ages over 89 are identifiers).
Numbers (phone, fax, SSN, MRN, account, health plan, licence, device, vehicle)
    Format-preserving: digit -> digit, upper -> upper, lower -> lower, other characters and
    the length kept; keyed by the letters and digits only, so ``123-456`` and ``123456`` get
    the same digits. Phones keep a leading country code, get an area code 2xx-9xx and the
    fictional exchange ``555-01xx`` (NANP); SSNs start with 9 (never issued).
E-mail, URL, IP
    Reserved domains (``example.org/.com/.net``), hosts ``<word>.example.org``, documentation
    IP ranges (RFC 5737 ``192.0.2.0/24``, ``198.51.100.0/24``, ``203.0.113.0/24``; RFC 3849
    ``2001:db8::/32``).
Locations
    ZIP codes -> keyed digits; street addresses (starting with a number) -> a Faker street
    address; units (``Apt 4B``, ``Suite 200``) -> keyword kept, keyed number; a state next
    to other parts is kept (states are not identifiers); anything else -> a Faker city,
    keeping a trailing ``County`` / ``Hospital`` ... word. Comma-separated parts are
    replaced one by one.

A surrogate never equals its original (case-insensitively): the draw is repeated with a
counter. The only exceptions are ``AGE`` (always ``"90+"``) and originals without any letter
or digit, which are returned unchanged (there is nothing to replace).

Faker output depends on the installed Faker version: pin it to keep surrogates stable.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import re
import string
import unicodedata
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING

from .dates import month_like, month_number, shift_date_text, weekday_like, weekday_number
from .types import PHI_TYPES

if TYPE_CHECKING:
    from faker import Faker

__all__ = ["SurrogateGenerator"]

_MAX_DRAWS = 64
_RESERVED_DOMAINS = ("example.org", "example.com", "example.net")
_DOC_IPV4 = ("192.0.2", "198.51.100", "203.0.113")
_TITLES = frozenset("mr mrs ms mx miss dr prof rev sir dame jr sr ii iii iv md phd rn np dds dmd mph facp".split())
_PARTICLES = frozenset("van von de del della der den da di la le du dos das ten ter bin ibn al el".split())
_NAME_TOKEN = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)*")
_WORD = re.compile(r"[^\W\d_]+")
_ALPHA_OR_DIGITS = re.compile(r"[^\W\d_]+|\d+")
_PHONE_EXT = re.compile(r"\s*(?:x|ext\.?|extension)\s*\d+\s*$", re.IGNORECASE)
_COUNTRY = re.compile(r"\s*\+\s*(\d{1,3})(?=\D)")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_IPV6 = re.compile(r"[0-9a-f]*:[0-9a-f:.]*", re.IGNORECASE)
_URL = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.\-]*://)?(?P<www>www\d?\.)?(?P<host>[^/?#:\s]+)(?P<port>:\d+)?(?P<rest>.*)",
    re.IGNORECASE | re.DOTALL,
)
_ZIP = re.compile(r"\d{5}(?:-\d{4})?")
_STATE_ZIP = re.compile(r"(?P<state>[^\W\d_]+(?:\s+[^\W\d_]+)?)\s+(?P<zip>\d{5}(?:-\d{4})?)")
_UNIT = re.compile(
    r"(?P<kw>\b(?:apt|apartment|suite|ste|unit|room|rm|floor|fl|bldg|building)\b\.?|#)\s*(?P<id>[\w\-]{1,10})",
    re.IGNORECASE,
)
_PO_BOX = re.compile(r"(?P<kw>\bp\.?\s*o\.?\s*box)\s*(?P<id>[\w\-]{1,12})", re.IGNORECASE)
_STREET = re.compile(r"\d+[A-Za-z]?\s+\S")
_PLACE_SUFFIX = re.compile(
    r"\s+(?:county|parish|borough|township|village|hospital|medical\s+center|health\s+center|clinic)$",
    re.IGNORECASE,
)


@cache
def _gazetteers() -> tuple[frozenset[str], frozenset[str]]:
    """Folded Faker en_US first names, and the US state names and abbreviations (folded)."""
    from faker.providers.address.en_US import Provider as Address
    from faker.providers.person.en_US import Provider as Person

    states = frozenset(_fold(s) for s in (*Address.states, *Address.states_abbr))
    return frozenset(_fold(n) for n in Person.first_names), states


def _fold(text: str) -> str:
    """Normalise for keying: accents stripped, case folded, apostrophes and spaces removed."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"['\u2019\s]+", "", plain.casefold())


def _case_like(word: str, template: str) -> str:
    """``word`` in the letter case of ``template``: UPPER, lower, or left as drawn (Title)."""
    letters = [c for c in template if c.isalpha()]
    if letters and all(c.isupper() for c in letters) and (len(letters) > 1 or len(word) == 1):
        return word.upper()
    if letters and all(c.islower() for c in letters):
        return word.lower()
    return word


class SurrogateGenerator:
    """Keyed surrogates for the identifiers of one patient.

    Parameters
    ----------
    secret : bytes
        HMAC key; keep it out of the de-identified data. Non-empty.
    patient_key : str
        Stable identifier of the patient whose notes are de-identified (e.g. the internal
        patient id); all notes with the same key get consistent surrogates.
    min_shift_days, max_shift_days : int
        Inclusive range of the per-patient date shift, in days; must contain a nonzero
        value. Default: 30 days to one year back.
    """

    def __init__(self, secret: bytes, patient_key: str, min_shift_days: int = -365, max_shift_days: int = -30) -> None:
        if not isinstance(secret, bytes | bytearray) or not secret:
            raise ValueError("secret must be non-empty bytes")
        if min_shift_days > max_shift_days or min_shift_days == max_shift_days == 0:
            raise ValueError(f"bad date shift range {min_shift_days}..{max_shift_days}")
        self._secret = bytes(secret)
        self._patient_key = patient_key
        self._min_shift = min_shift_days
        self._max_shift = max_shift_days
        self._faker: Faker | None = None

    # Not thread-safe: the lazily created Faker instance is re-seeded before every draw.

    def __repr__(self) -> str:
        return f"SurrogateGenerator(patient_key={self._patient_key!r}, shift={self._min_shift}..{self._max_shift})"

    # -- keyed randomness -------------------------------------------------------------------

    def _digest(self, phi_type: str, normalised: str, counter: int = 0) -> bytes:
        """HMAC-SHA256 of ``patient_key | type | normalised | counter`` under the secret."""
        message = "\x1f".join((self._patient_key, phi_type, normalised, str(counter)))
        return hmac.new(self._secret, message.encode("utf-8"), hashlib.sha256).digest()

    def _rng(self, phi_type: str, normalised: str, counter: int = 0) -> random.Random:
        """A private random stream for one keyed choice."""
        return random.Random(int.from_bytes(self._digest(phi_type, normalised, counter), "big"))

    def _fake(self, phi_type: str, normalised: str, counter: int = 0) -> Faker:
        """The generator's Faker instance, seeded for one keyed choice."""
        if self._faker is None:
            from faker import Faker

            self._faker = Faker("en_US")
        self._faker.seed_instance(int.from_bytes(self._digest(phi_type, normalised, counter)[:8], "big"))
        return self._faker

    @property
    def date_shift_days(self) -> int:
        """Per-patient date shift in days, in ``[min_shift_days, max_shift_days]``, nonzero."""
        spans_zero = self._min_shift <= 0 <= self._max_shift
        count = self._max_shift - self._min_shift + 1 - spans_zero
        shift = self._min_shift + int.from_bytes(self._digest("DATE_SHIFT", "")[:8], "big") % count
        return shift + 1 if spans_zero and shift >= 0 else shift

    # -- public ----------------------------------------------------------------------------

    def surrogate(self, phi_type: str, original: str) -> str:
        """A surrogate for ``original``, an identifier of type ``phi_type``.

        Parameters
        ----------
        phi_type : str
            A key of :data:`~cliniloop.models.text.deid.types.PHI_TYPES`.
        original : str
            The identifier as written in the note.

        Returns
        -------
        str
            The surrogate; the same for the same patient, type and (normalised) original.

        Raises
        ------
        ValueError
            For an unknown type.
        """
        if phi_type not in PHI_TYPES:
            raise ValueError(f"unknown identifier type {phi_type!r}; known: {', '.join(PHI_TYPES)}")
        if phi_type == "AGE":
            return "90+"
        if not any(c.isalnum() for c in original):
            return original
        handler = self._handlers().get(phi_type, self._shape)
        for counter in range(_MAX_DRAWS):
            out = handler(phi_type, original, counter)
            if out.casefold() != original.casefold():
                return out
        raise RuntimeError(f"no surrogate different from the original after {_MAX_DRAWS} draws ({phi_type})")

    def _handlers(self) -> dict[str, Callable[[str, str, int], str]]:
        return {
            "NAME": self._name,
            "DATE": self._date,
            "PHONE": self._phone,
            "FAX": self._phone,
            "SSN": self._ssn,
            "EMAIL": self._email,
            "URL": self._url,
            "IP_ADDRESS": self._ip,
            "LOCATION": self._location,
        }

    # -- shapes ----------------------------------------------------------------------------

    def _shape(self, phi_type: str, original: str, counter: int, first_digit: str | None = None) -> str:
        """Format-preserving keyed replacement of every letter and digit."""
        key = _fold("".join(c for c in original if c.isalnum()))
        rng = self._rng(phi_type, key, counter)
        out: list[str] = []
        first = True
        for c in original:
            if not c.isalnum():
                out.append(c)
                continue
            digit, letter = rng.randrange(10), rng.randrange(26)
            if c.isdecimal():
                out.append(first_digit if first and first_digit else str(digit))
                first = False
            elif c.isupper():
                out.append(string.ascii_uppercase[letter])
            elif c.isalpha():
                out.append(string.ascii_lowercase[letter])
            else:
                out.append(str(digit))
        return "".join(out)

    def _ssn(self, phi_type: str, original: str, counter: int) -> str:
        return self._shape(phi_type, original, counter, first_digit="9")

    def _phone(self, phi_type: str, original: str, counter: int) -> str:
        ext = _PHONE_EXT.search(original)
        main_end = ext.start() if ext else len(original)
        positions = [i for i, c in enumerate(original[:main_end]) if c.isdecimal()]
        digits = "".join(original[i] for i in positions)
        keep = 0
        country = _COUNTRY.match(original)
        if country and len(digits) - len(country.group(1)) >= 7:
            keep = len(country.group(1))
        elif len(digits) == 11 and digits[0] == "1":
            keep = 1
        national = digits[keep:]
        if not national:  # no digits to replace: treat it as any other identifier
            return self._shape(phi_type, original, counter)
        rng = self._rng(phi_type, national, counter)
        line = "01" + f"{rng.randrange(100):02d}"
        if len(national) == 10:
            area = rng.choice([a for a in range(200, 1000) if a % 100 != 11])
            new = f"{area}555{line}"
        elif len(national) == 7:
            new = f"555{line}"
        else:
            new = str(rng.randrange(2, 10)) + "".join(str(rng.randrange(10)) for _ in national[1:])
        chars = list(original)
        for i, d in zip(positions[keep:], new, strict=True):
            chars[i] = d
        if ext:
            ext_rng = self._rng(phi_type, "ext" + national + original[ext.start() :].strip(), counter)
            for i in range(ext.start(), len(original)):
                if chars[i].isdecimal():
                    chars[i] = str(ext_rng.randrange(10))
        return "".join(chars)

    # -- names -----------------------------------------------------------------------------

    def _name_token(self, token: str) -> str:
        """Surrogate of one name token (same token -> same surrogate), in its case shape."""
        norm = _fold(token)
        if len(norm) == 1:
            letter = self._rng("NAME", "initial:" + norm).choice([c for c in string.ascii_lowercase if c != norm])
            return letter.upper() if token.isupper() else letter
        first_names, _ = _gazetteers()
        for counter in range(_MAX_DRAWS):
            fake = self._fake("NAME", norm, counter)
            candidate = fake.first_name() if norm in first_names else fake.last_name()
            if _fold(candidate) != norm:
                return _case_like(candidate, token)
        raise RuntimeError("no name surrogate found")

    def _name(self, phi_type: str, original: str, counter: int) -> str:
        tokens = list(_NAME_TOKEN.finditer(original))
        replace: list[bool] = []
        for m in tokens:
            token = m.group()
            after = original[m.end() : m.end() + 1]
            is_title = _fold(token) in _TITLES and (after in {".", ",", ""} or after.isspace())
            is_particle = token.islower() and _fold(token) in _PARTICLES and len(tokens) > 1
            replace.append(not (is_title or is_particle))
        if not any(replace):
            replace = [True] * len(tokens)
        pieces: list[str] = []
        pos = 0
        for m, do in zip(tokens, replace, strict=True):
            pieces.append(original[pos : m.start()])
            pieces.append(self._name_token(m.group()) if do else m.group())
            pos = m.end()
        pieces.append(original[pos:])
        return "".join(pieces)

    # -- dates -----------------------------------------------------------------------------

    def _date(self, phi_type: str, original: str, counter: int) -> str:
        if counter == 0:
            days = self.date_shift_days
            shifted = shift_date_text(original, days)
            if shifted is not None and shifted.casefold() == original.casefold():
                shifted = shift_date_text(original, days + (366 if days > 0 else -366))
            if shifted is not None:
                return shifted
        return self._scramble_date(phi_type, original, counter)

    def _scramble_date(self, phi_type: str, original: str, counter: int) -> str:
        """Keyed digits and month/weekday names in the layout of an unreadable date."""
        rng = self._rng(phi_type, _fold(original), counter)
        out = list(original)
        for i, c in enumerate(original):
            if c.isdecimal():
                out[i] = str(rng.randrange(10))
        text = "".join(out)

        def word(m: re.Match[str]) -> str:
            w = m.group()
            month = month_number(w)
            if month is not None and len(w) >= 3:
                return month_like(w, rng.choice([k for k in range(1, 13) if k != month]))
            weekday = weekday_number(w)
            if weekday is not None and len(w) >= 3:
                return weekday_like(w, rng.choice([k for k in range(7) if k != weekday]))
            return w

        return _WORD.sub(word, text)

    # -- e-mail, URL, IP -------------------------------------------------------------------

    def _email(self, phi_type: str, original: str, counter: int) -> str:
        local, at, domain = original.rpartition("@")
        if not at or not local:
            return self._shape(phi_type, original, counter)
        rng = self._rng(phi_type, _fold(original), counter)

        def run(m: re.Match[str]) -> str:
            part = m.group()
            if part.isdecimal():
                return "".join(str(rng.randrange(10)) for _ in part)
            return self._name_token(part) if counter == 0 else self._shape(phi_type, part, counter)

        new_local = _ALPHA_OR_DIGITS.sub(run, local)
        new_local = re.sub(
            r"[^\w.+\-]", "", unicodedata.normalize("NFKD", new_local).encode("ascii", "ignore").decode()
        )
        new_domain = rng.choice(_RESERVED_DOMAINS)
        if domain.isupper():
            new_domain = new_domain.upper()
        return f"{new_local or 'user'}@{new_domain}"

    def _url(self, phi_type: str, original: str, counter: int) -> str:
        m = _URL.fullmatch(original)
        if m is None:
            return self._shape(phi_type, original, counter)
        host = m.group("host")
        word = self._fake(phi_type, "host:" + _fold(host), counter).word().lower()
        new_host = f"{word}.example.org"
        if host.isupper():
            new_host = new_host.upper()
        rest = m.group("rest")
        new_rest = self._shape(phi_type, rest, counter) if rest else ""
        return f"{m.group('scheme') or ''}{m.group('www') or ''}{new_host}{m.group('port') or ''}{new_rest}"

    def _ip(self, phi_type: str, original: str, counter: int) -> str:
        text = original.strip()
        lead = original[: len(original) - len(original.lstrip())]
        trail = original[len(original.rstrip()) :]
        rng = self._rng(phi_type, _fold(text), counter)
        if _IPV4.fullmatch(text):
            return f"{lead}{rng.choice(_DOC_IPV4)}.{rng.randrange(1, 255)}{trail}"
        if _IPV6.fullmatch(text) and text.count(":") >= 2:
            new = f"2001:db8::{rng.randrange(1, 0x10000):x}:{rng.randrange(1, 0x10000):x}"
            return lead + (new.upper() if any(c.isupper() for c in text) else new) + trail
        return self._shape(phi_type, original, counter)

    # -- locations -------------------------------------------------------------------------

    def _location(self, phi_type: str, original: str, counter: int) -> str:
        parts = re.split(r"(,\s*)", original)
        multi = len(parts) > 1
        return "".join(
            part if i % 2 else self._location_part(phi_type, part, counter, multi) for i, part in enumerate(parts)
        )

    def _location_part(self, phi_type: str, original: str, counter: int, multi: bool) -> str:
        text = original.strip()
        if not text:
            return original
        lead = original[: len(original) - len(original.lstrip())]
        trail = original[len(original.rstrip()) :]
        return lead + self._place(phi_type, text, counter, multi) + trail

    def _place(self, phi_type: str, text: str, counter: int, multi: bool) -> str:
        """Surrogate of one comma-free piece of a location."""
        _, states = _gazetteers()
        key = _fold(text)
        if _ZIP.fullmatch(text):
            return self._shape(phi_type, text, counter)
        m = _STATE_ZIP.fullmatch(text)
        if m and _fold(m.group("state")) in states:
            return text[: m.start("zip")] + self._shape(phi_type, m.group("zip"), counter)
        if key in states:
            if multi:
                return text
            fake = self._fake(phi_type, key, counter)
            return _case_like(fake.state_abbr() if len(text) == 2 else fake.state(), text)
        for pattern in (_UNIT, _PO_BOX):
            m = pattern.fullmatch(text)
            if m:
                return text[: m.start("id")] + self._shape(phi_type, m.group("id"), counter)
        if _STREET.match(text):
            fake = self._fake(phi_type, key, counter)
            street = f"{fake.building_number()} {fake.street_name()}"
            if _UNIT.search(text):
                street += " " + fake.secondary_address()
            return _case_like(street, text)
        suffix = _PLACE_SUFFIX.search(text)
        base = text[: suffix.start()] if suffix else text
        city = self._fake(phi_type, _fold(base), counter).city()
        return _case_like(city, base) + (suffix.group() if suffix else "")
