"""A text task's first-queue uncertainty prices the mentions the model did not find."""

from __future__ import annotations

import pytest

from cliniloop.services.loop.predict import MENTIONS_PER_TOKEN, text_prediction, text_uncertainty


def test_a_sparsely_covered_note_is_asked_before_a_covered_one() -> None:
    short = "Chest pain resolved."  # 3 tokens, one confident mention: covered
    long = " ".join(["word"] * 200)  # 200 tokens, the same one mention: most of what it holds likely missed
    assert MENTIONS_PER_TOKEN * 200 > 1
    assert text_uncertainty([0.9], long) > text_uncertainty([0.9], short)
    # doubtful mentions still raise it on the same note
    assert text_uncertainty([0.55], short) > text_uncertainty([0.95], short)


def test_the_stored_prediction_carries_it() -> None:
    from cliniloop.models.text.mention import Mention

    text = "Patient denies chest pain today."
    m = Mention(start=15, end=25, text="chest pain", label="Problem", probability=0.9, assertion="absent", assertion_probability=0.95, section=None, sentence_index=0)
    pred = text_prediction("t1", [m], "v1", "tx", text)
    assert pred.uncertainty == pytest.approx(round(text_uncertainty([m.confidence], text), 4))
    assert pred.score == pytest.approx(1 - pred.uncertainty)
