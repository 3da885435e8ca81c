"""Scores of identifier detection: hand-computed values."""

from __future__ import annotations

from cliniloop.models.text.deid.metrics import score_deid
from cliniloop.models.text.deid.types import PhiSpan

TEXT = "John Smith called 617-555-0134 on 03/04/2021."


def test_partly_covered_identifier_is_a_miss_and_types_are_scored() -> None:
    gold = [PhiSpan(0, 10, "NAME"), PhiSpan(18, 30, "PHONE"), PhiSpan(34, 44, "DATE")]
    predicted = [PhiSpan(0, 4, "NAME"), PhiSpan(18, 30, "FAX"), PhiSpan(34, 44, "DATE"), PhiSpan(11, 17, "NAME")]
    result = score_deid([TEXT], [gold], [predicted])
    overall, per_type = result["overall"], result["per_type"]
    assert overall["recall"] == round(2 / 3, 4)  # "Smith" left: the name is missed
    assert overall["typed_recall"] == round(1 / 3, 4)  # the phone was found as a fax
    assert overall["precision"] == 0.75  # "called" overlaps no gold span
    assert overall["token_recall"] == 0.875  # 8 gold tokens (John Smith 617 555 0134 03 04 2021), Smith missed
    assert per_type["NAME"] == {"gold": 1, "predicted": 2, "precision": 0.5, "recall": 0.0, "typed_recall": 0.0}
    assert per_type["FAX"]["gold"] == 0 and per_type["FAX"]["recall"] is None and per_type["FAX"]["precision"] == 1.0
