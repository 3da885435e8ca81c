"""A keyed deny-list of identifiers annotators marked as missed, matched by token n-grams.

An entry never holds the identifier: it is ``HMAC-SHA256(k, normalised tokens)`` with
``k = HMAC-SHA256(secret, "cliniloop-deid-deny-list")``, plus the identifier type and the number
of tokens. Normalisation: the letter/digit runs of the string (``[^\\W_]+``), case-folded and
joined by one space, so ``"Quabbin  Shore"``, ``"QUABBIN shore"`` and ``"Quabbin-Shore"`` are
the same entry and punctuation or line breaks between the words do not matter.

Matching a new text hashes every run of ``n`` consecutive tokens for each ``n`` that some
entry has (so at most ``len(tokens) x distinct lengths`` one-shot HMACs in C, about a
microsecond each) and turns each hit into a :class:`~cliniloop.models.text.deid.types.PhiSpan` from the
first token's start to the last token's end, with ``source="deny_list"``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from .types import PHI_TYPES, PhiSpan

__all__ = ["DenyEntry", "DenyList", "deny_key", "normalised_tokens", "token_digest"]

_TOKEN = re.compile(r"[^\W_]+")
_KEY_PURPOSE = b"cliniloop-deid-deny-list"
#: Entries whose normalised form has fewer characters than this are refused (``"J"``, ``"MA"``):
#: they would remove ordinary words and initials everywhere.
MIN_CHARS = 3
SOURCE = "deny_list"


def deny_key(secret: bytes) -> bytes:
    """The deny-list's own key, derived from the de-identification secret."""
    return hmac.new(secret, _KEY_PURPOSE, hashlib.sha256).digest()


def normalised_tokens(text: str) -> list[str]:
    """The letter/digit runs of ``text``, case-folded."""
    return [m.group().casefold() for m in _TOKEN.finditer(text)]


def token_digest(key: bytes, tokens: Iterable[str]) -> str:
    """Hex HMAC-SHA256 of the tokens joined by one space, under the deny-list key."""
    return hmac.digest(key, " ".join(tokens).encode("utf-8"), "sha256").hex()


@dataclass(frozen=True)
class DenyEntry:
    """One deny-listed identifier: its keyed digest, type and token count (never the text)."""

    digest: str
    type: str
    tokens: int

    @classmethod
    def from_text(cls, key: bytes, text: str, phi_type: str) -> DenyEntry | None:
        """The entry of ``text`` (an identifier), or ``None`` when it is too short to deny-list."""
        if phi_type not in PHI_TYPES:
            raise ValueError(f"unknown identifier type {phi_type!r}")
        tokens = normalised_tokens(text)
        if sum(len(t) for t in tokens) < MIN_CHARS:
            return None
        return cls(token_digest(key, tokens), phi_type, len(tokens))


@dataclass
class DenyList:
    """Deny-listed identifiers of one scope, ready to match.

    Parameters
    ----------
    key : bytes
        :func:`deny_key` of the de-identification secret.
    entries : iterable of DenyEntry
        The scope's entries (e.g. from the store).
    """

    key: bytes
    entries: Iterable[DenyEntry] = ()
    _types: dict[bytes, str] = field(init=False, repr=False)
    _lengths: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        self._types = {}
        lengths = set()
        for entry in self.entries:
            self._types.setdefault(bytes.fromhex(entry.digest), entry.type)
            lengths.add(int(entry.tokens))
        self._lengths = tuple(sorted(n for n in lengths if n > 0))
        self.entries = ()

    def __len__(self) -> int:
        return len(self._types)

    def find(self, text: str) -> list[PhiSpan]:
        """Spans of ``text`` whose token sequence is deny-listed (possibly overlapping)."""
        if not self._types:
            return []
        matches = list(_TOKEN.finditer(text))
        tokens = [m.group().casefold().encode("utf-8") for m in matches]
        key, types, digest = self.key, self._types, hmac.digest
        out: list[PhiSpan] = []
        for n in self._lengths:
            for i in range(len(tokens) - n + 1):
                phi_type = types.get(digest(key, b" ".join(tokens[i : i + n]), "sha256"))
                if phi_type is not None:
                    out.append(PhiSpan(matches[i].start(), matches[i + n - 1].end(), phi_type, 1.0, SOURCE))
        return out
