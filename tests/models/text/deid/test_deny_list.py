"""The deny-list: keyed digests of token sequences, matched case- and spacing-insensitively."""

from __future__ import annotations


from cliniloop.models.text.deid.deny_list import DenyEntry, DenyList, deny_key, normalised_tokens

KEY = deny_key(b"deny-list-test-secret-000000")


def test_an_entry_holds_no_clear_text_and_depends_on_the_key() -> None:
    entry = DenyEntry.from_text(KEY, "Quabbin Shore", "LOCATION")
    assert entry is not None and entry.tokens == 2 and entry.type == "LOCATION"
    assert len(entry.digest) == 64 and "quabbin" not in entry.digest.lower()
    other = DenyEntry.from_text(deny_key(b"another-secret-0000000000000"), "Quabbin Shore", "LOCATION")
    assert other is not None and other.digest != entry.digest
    assert DenyEntry.from_text(KEY, "J.", "NAME") is None and DenyEntry.from_text(KEY, " - ", "NAME") is None


def test_matching_ignores_case_spacing_line_breaks_and_punctuation_between_words() -> None:
    deny = DenyList(KEY, [DenyEntry.from_text(KEY, "Quabbin  Shore", "LOCATION")])
    text = "Cottage at QUABBIN shore.\nAlso quabbin\n  Shore-side, and Quabbin-Shore; not Quabbin Shores or Quabbin."
    found = [(text[s.start : s.end], s.type, s.source) for s in deny.find(text)]
    assert found == [
        ("QUABBIN shore", "LOCATION", "deny_list"),
        ("quabbin\n  Shore", "LOCATION", "deny_list"),
        ("Quabbin-Shore", "LOCATION", "deny_list"),
    ]
    assert normalised_tokens("Ward 7-B, North") == ["ward", "7", "b", "north"]


def test_entries_of_several_lengths_and_an_empty_list() -> None:
    entries = [DenyEntry.from_text(KEY, w, t) for w, t in (("Zorvath", "NAME"), ("Kelpie Ward Seven", "LOCATION"))]
    deny = DenyList(KEY, entries)
    text = "Dr Zorvath saw her on kelpie ward seven."
    assert sorted((text[s.start : s.end], s.type) for s in deny.find(text)) == [("Zorvath", "NAME"), ("kelpie ward seven", "LOCATION")]
    assert DenyList(KEY, []).find(text) == [] and len(deny) == 2


def test_many_entries_on_a_long_text_find_only_their_own_strings() -> None:
    # 100 entries of 1-4 tokens on a 1 MB text (its speed is measured by `cliniloop eval deid`, not here)
    entries = [DenyEntry.from_text(KEY, " ".join(f"w{i}x{j}" for j in range(1 + i % 4)), "NAME") for i in range(100)]
    deny = DenyList(KEY, entries)
    text = ("The patient was seen in clinic today and denies chest pain; plan unchanged. " * 14_000)[:1_000_000]
    assert deny.find(text) == []
    planted = text[:500] + " w7x0 w7x1 w7x2 w7x3 " + text[500:1000]
    assert [planted[s.start : s.end] for s in deny.find(planted)] == ["w7x0 w7x1 w7x2 w7x3"]
