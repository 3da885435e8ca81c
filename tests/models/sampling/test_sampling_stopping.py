from __future__ import annotations

import pytest

from cliniloop.models.sampling.stopping import StoppingRule, agreement, span_agreement, stop_set, token_tag_agreement


def test_agreement_hand_values() -> None:
    assert agreement(["a", "b", "a"], ["a", "b", "a"]) == 1.0
    assert agreement(["O"] * 5, ["O"] * 5) == 1.0  # constant and identical
    # po = 3/4, pe = .5*.25 + .5*.75 = .5 -> kappa = .5
    assert agreement(["a", "a", "b", "b"], ["a", "b", "b", "b"]) == pytest.approx(0.5)
    assert agreement(["a"] * 3, ["b"] * 3) == 0.0
    # complete disagreement on a balanced binary set: kappa = -1
    assert agreement([0, 1, 0, 1], [1, 0, 1, 0]) == pytest.approx(-1.0)
    # tuple labels (multi-label sets): po = 1/2, pe = .5 * .5 = .25 -> (.5 - .25) / .75 = 1/3
    assert agreement([("x", "y"), ("x",)], [("x", "y"), ("y",)]) == pytest.approx(1 / 3)


def test_agreement_validates() -> None:
    with pytest.raises(ValueError, match="2 previous labels but 1"):
        agreement(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="at least one"):
        agreement([], [])


def test_span_agreement_is_f1_over_text_spans() -> None:
    prev = [[(0, 5, "DX")], [(1, 3, "RX"), (4, 6, "RX")]]
    cur = [[(0, 5, "DX")], [(1, 3, "RX")]]
    assert span_agreement(prev, cur) == pytest.approx(2 * 2 / (3 + 2))
    assert span_agreement(cur, prev) == pytest.approx(0.8)
    # the same span in another text is a different prediction
    assert span_agreement([[(0, 1, "X")], []], [[], [(0, 1, "X")]]) == 0.0
    assert span_agreement([[], []], [[], []]) == 1.0
    with pytest.raises(ValueError, match="texts"):
        span_agreement([[]], [[], []])


def test_token_tag_agreement() -> None:
    # flattened O B O vs O O O: po = 2/3, pe = 2/3 -> kappa 0
    assert token_tag_agreement([["O", "B"], ["O"]], [["O", "O"], ["O"]]) == pytest.approx(0.0)
    assert token_tag_agreement([["O", "B"], ["I"]], [["O", "B"], ["I"]]) == 1.0
    with pytest.raises(ValueError, match="text 1"):
        token_tag_agreement([["O"], ["O", "B"]], [["O"], ["O"]])


def test_stopping_rule_sequence() -> None:
    rule = StoppingRule(threshold=0.99, window=3)
    d1 = rule.update(0.90)
    assert not d1.should_stop and "need 3" in d1.reason and d1.mean_recent == pytest.approx(0.90)
    d2 = rule.update(0.995)
    assert not d2.should_stop and d2.mean_recent == pytest.approx(0.9475)
    d3 = rule.update(0.99)
    assert not d3.should_stop and d3.mean_recent == pytest.approx((0.90 + 0.995 + 0.99) / 3)
    assert "keep labelling" in d3.reason
    d4 = rule.update(0.995)
    assert d4.should_stop and d4.kappa == 0.995 and d4.mean_recent == pytest.approx((0.995 + 0.99 + 0.995) / 3)
    assert "stop" in d4.reason
    assert rule.history == (0.90, 0.995, 0.99, 0.995)


def test_stopping_rule_threshold_is_inclusive_and_window_matters() -> None:
    rule = StoppingRule()
    assert [rule.update(0.99).should_stop for _ in range(3)] == [False, False, True]
    one = StoppingRule(threshold=0.95, window=1)
    assert one.update(0.96).should_stop
    assert not one.update(0.5).should_stop  # a later drop un-stops
    assert "0.95" in one.describe() and "last 1 rounds" in one.describe()


def test_stopping_rule_validates() -> None:
    with pytest.raises(ValueError):
        StoppingRule(threshold=1.5)
    with pytest.raises(ValueError):
        StoppingRule(window=0)
    with pytest.raises(ValueError, match="agreement"):
        StoppingRule().update(1.2)


def test_stop_set_is_fixed_by_seed() -> None:
    ids = [f"t{i:03d}" for i in range(100)]
    a = stop_set(ids, 10, seed=3)
    assert a == stop_set(list(reversed(ids)), 10, seed=3)
    assert len(a) == 10 and a == sorted(a) and set(a) <= set(ids)
    assert a != stop_set(ids, 10, seed=4)
    assert stop_set(["b", "a"], 5) == ["a", "b"]
