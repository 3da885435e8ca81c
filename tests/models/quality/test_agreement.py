"""Inter-annotator agreement: region matching per kind, per-label F1, kappa and task agreement.

Every expected number is worked out by hand in the comment next to it.
"""

from __future__ import annotations

import numpy as np
import pytest

from cliniloop.models.quality.agreement import (
    LabelAgreement,
    Match,
    attribute_pairs,
    beat_class_pairs,
    cohen_kappa,
    fleiss_kappa,
    label_agreement,
    match_regions,
    pair_f1,
    task_agreement,
)
from cliniloop.services.core.masks import mask_to_counts


def span(start, end, label="problem", **attributes):
    text = "x" * (end - start)
    return {"kind": "span", "start": start, "end": end, "label": label, "text": text, "attributes": attributes}


def beat(time_s, label="N"):
    return {"kind": "instant", "time_s": time_s, "label": label}


def event(start_s, end_s, label="seizure"):
    return {"kind": "range", "start_s": start_s, "end_s": end_s, "label": label}


def rect(x, y, width, height, label="lesion"):
    box = {"x": x, "y": y, "width": width, "height": height}
    return {"kind": "rect", **box, "image_width": 100, "image_height": 100, "label": label}


def mask(pixels, label="lesion"):
    h, w = pixels.shape
    return {"kind": "mask", "counts": mask_to_counts(pixels), "image_width": w, "image_height": h, "label": label}


# ---------------------------------------------------------------------------------- Cohen


def test_cohen_kappa_hand_computed_two_by_two():
    # 50 items: both yes 20, A yes / B no 5, A no / B yes 10, both no 15.
    # p_o = (20 + 15) / 50 = 0.7; A says yes 25/50 = 0.5, B says yes 30/50 = 0.6
    # p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.5; kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4
    a = ["yes"] * 20 + ["yes"] * 5 + ["no"] * 10 + ["no"] * 15
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)


def test_cohen_kappa_hand_computed_three_categories():
    # 6 items, A = p p n n u u, B = p n n n u p: agree on items 0, 2, 3, 4 -> p_o = 4/6
    # A: p 2/6, n 2/6, u 2/6; B: p 2/6, n 3/6, u 1/6
    # p_e = (2*2 + 2*3 + 2*1) / 36 = 12/36 = 1/3; kappa = (2/3 - 1/3) / (2/3) = 0.5
    a = ["present", "present", "negated", "negated", "uncertain", "uncertain"]
    b = ["present", "negated", "negated", "negated", "uncertain", "present"]
    assert cohen_kappa(a, b) == pytest.approx(0.5)


def test_cohen_kappa_edge_cases():
    assert cohen_kappa([], []) is None
    # one category used by both throughout: p_o = p_e = 1, sklearn's 0/0 -> defined as 1
    assert cohen_kappa(["N"] * 4, ["N"] * 4) == 1.0
    # A always X, B always Y: p_o = 0, p_e = 1*0 + 0*1 = 0 -> kappa 0
    assert cohen_kappa(["X"] * 3, ["Y"] * 3) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="3 items.*2"):
        cohen_kappa(["a", "b", "c"], ["a", "b"])


# ---------------------------------------------------------------------------------- Fleiss

# Wikipedia "Fleiss' kappa" worked example: 10 items, 14 raters, 5 categories (counts per item).
WIKIPEDIA_TABLE = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_wikipedia_example():
    ratings = [[f"c{j}" for j, n in enumerate(row) for _ in range(n)] for row in WIKIPEDIA_TABLE]
    assert all(len(r) == 14 for r in ratings)
    # column totals 20, 28, 39, 21, 32 of 140 -> p_j = .142857, .2, .278571, .15, .228571
    # P_e = sum p_j^2 = 0.212755
    # P_i = (sum n_ij^2 - 14) / (14 * 13); numerators 182, 46, 56, 80, 60, 84, 44, 32, 52, 52
    # P_bar = 688 / 1820 = 0.378022; kappa = (0.378022 - 0.212755) / (1 - 0.212755) = 0.20993
    assert fleiss_kappa(ratings) == pytest.approx(0.20993, abs=5e-5)
    # the raters' order within an item does not matter
    assert fleiss_kappa([list(reversed(r)) for r in ratings]) == pytest.approx(0.20993, abs=5e-5)


def test_fleiss_kappa_small_hand_example():
    # 2 items x 3 raters: (a, a, a), (a, b, b)
    # P_1 = (9 - 3) / 6 = 1, P_2 = (1 + 4 - 3) / 6 = 1/3, P_bar = 2/3
    # p_a = 4/6, p_b = 2/6, P_e = 16/36 + 4/36 = 5/9; kappa = (2/3 - 5/9) / (4/9) = 0.25
    assert fleiss_kappa([["a", "a", "a"], ["a", "b", "b"]]) == pytest.approx(0.25)


def test_fleiss_kappa_edge_cases():
    assert fleiss_kappa([]) is None
    # everyone says "N" on every item: P_e = 1, statsmodels' NaN -> 1
    assert fleiss_kappa([["N", "N", "N"]] * 4) == 1.0
    # perfect agreement on two categories: P_bar = 1, P_e = 0.5 -> 1
    assert fleiss_kappa([["N", "N"], ["V", "V"]]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="item 2 has 2 ratings, item 0 has 3"):
        fleiss_kappa([["a", "a", "b"], ["a", "b", "b"], ["a", "b"]])
    with pytest.raises(ValueError, match="at least 2"):
        fleiss_kappa([["a"], ["b"]])


# ---------------------------------------------------------------------------------- spans


def test_spans_exact_vs_overlap_on_boundary_disagreement():
    a = [span(0, 10, "problem"), span(20, 30, "drug")]
    b = [span(0, 10, "problem"), span(21, 30, "drug")]  # B starts the drug one character later
    # exact: only the problem span matches -> F1 = 2 * 1 / (2 + 2) = 0.5
    assert pair_f1(a, b, "exact") == pytest.approx(0.5)
    assert match_regions(a, b, "exact") == [Match(0, 0, "problem", 1.0)]
    # overlap: both match -> F1 = 1; drug overlap ratio |[21,30)| / |[20,30)| = 9 / 10
    assert pair_f1(a, b, "overlap") == pytest.approx(1.0)
    drug = match_regions(a, b, "overlap")[1]
    assert (drug.a, drug.b, drug.label, drug.onset_diff_s) == (1, 1, "drug", None)
    assert drug.quality == pytest.approx(0.9)
    per_label = label_agreement(a, b, "exact")
    assert per_label["drug"] == LabelAgreement("drug", 1, 1, 0, 0.0, None, None, None)
    assert per_label["problem"].f1 == 1.0 and per_label["problem"].mean_quality == 1.0


def test_spans_overlap_needs_same_label_and_is_one_to_one():
    # same characters, different labels -> no match in either mode
    assert match_regions([span(0, 10, "problem")], [span(0, 10, "drug")], "overlap") == []
    # touching [0,5) and [5,9) do not intersect
    assert match_regions([span(0, 5)], [span(5, 9)], "overlap") == []
    # one long A span overlaps two B spans: only one pair, the larger overlap (10 > 5 chars)
    matches = match_regions([span(0, 20)], [span(0, 5), span(10, 20)], "overlap")
    assert [(m.a, m.b) for m in matches] == [(0, 1)]
    assert pair_f1([span(0, 20)], [span(0, 5), span(10, 20)], "overlap") == pytest.approx(2 / 3)


def test_spans_overlap_maximises_number_of_pairs():
    # overlaps: a0=[0,10)-b0=[5,12): 5, a0-b1=[0,3): 3, a1=[8,12)-b0: 4, a1-b1: none.
    # Greedy by largest overlap would take a0-b0 and leave a1 alone (1 pair);
    # the assignment takes a0-b1 and a1-b0 (2 pairs) -> F1 = 1
    a = [span(0, 10), span(8, 12)]
    b = [span(5, 12), span(0, 3)]
    assert [(m.a, m.b) for m in match_regions(a, b, "overlap")] == [(0, 1), (1, 0)]
    assert pair_f1(a, b, "overlap") == pytest.approx(1.0)
    # more pairs beat more overlap: a0=[0,10)-b0=[0,10): 10 chars, a0-b1=[0,1): 1, a1=[9,12)-b0: 1.
    # Maximising total overlap alone would keep a0-b0 (10 > 1 + 1, 1 pair); two pairs win
    a = [span(0, 10), span(9, 12)]
    b = [span(0, 10), span(0, 1)]
    assert [(m.a, m.b) for m in match_regions(a, b, "overlap")] == [(0, 1), (1, 0)]


# ---------------------------------------------------------------------------------- beats


def test_beats_100_ms_apart_match_200_ms_apart_do_not():
    a = [beat(1.0), beat(2.0)]
    b = [beat(1.1), beat(2.2)]
    matches = match_regions(a, b, "position")
    assert [(m.a, m.b) for m in matches] == [(0, 0)]
    # |dt| = 0.1 s, quality = 1 - 0.1 / 0.15 = 1/3
    assert matches[0].onset_diff_s == pytest.approx(0.1)
    assert matches[0].quality == pytest.approx(1 / 3)
    assert pair_f1(a, b, "position") == pytest.approx(0.5)  # 2 * 1 / 4
    # a 250 ms tolerance takes the 200 ms pair too
    assert pair_f1(a, b, "position", tolerance_s=0.25) == pytest.approx(1.0)
    # exactly the tolerance still matches (10.15 - 10.0 is 0.15000000000000036 in floats)
    assert len(match_regions([beat(10.0)], [beat(10.15)], "position")) == 1


def test_beats_one_to_one_prefers_the_closer_beat():
    # B's beat at 1.10 is 100 ms from A's 1.00 and 40 ms from A's 1.14: it pairs with the closer
    matches = match_regions([beat(1.0), beat(1.14)], [beat(1.1)], "position")
    assert [(m.a, m.b) for m in matches] == [(1, 0)]
    assert matches[0].onset_diff_s == pytest.approx(0.04)


def test_beats_exact_needs_same_class_position_does_not():
    a = [beat(1.0, "N"), beat(2.0, "N")]
    b = [beat(1.05, "V"), beat(2.02, "N")]
    assert [(m.a, m.b, m.label) for m in match_regions(a, b, "position")] == [(0, 0, "N"), (1, 1, "N")]
    assert [(m.a, m.b) for m in match_regions(a, b, "exact")] == [(1, 1)]
    assert beat_class_pairs(a, b) == [("N", "V"), ("N", "N")]
    # a span in the lists is ignored by beat_class_pairs
    assert beat_class_pairs(a + [span(0, 3)], b + [span(0, 3)]) == [("N", "V"), ("N", "N")]
    # position mode: the cross-class pair counts for no label: N has n_a 2, n_b 1, matched 1
    n = label_agreement(a, b, "position")["N"]
    assert (n.n_a, n.n_b, n.matched) == (2, 1, 1)
    assert n.f1 == pytest.approx(2 / 3)  # 2 * 1 / (2 + 1)
    assert n.mean_onset_diff_s == pytest.approx(0.02)


# ---------------------------------------------------------------------------------- EEG


def test_eeg_ranges_onset_difference_and_temporal_iou():
    a = [event(10.0, 20.0)]
    b = [event(12.0, 22.0)]
    (m,) = match_regions(a, b)
    # intersection [12, 20) = 8 s, union [10, 22) = 12 s -> IoU 2/3; onset |10 - 12| = 2 s
    assert m.quality == pytest.approx(2 / 3)
    assert m.onset_diff_s == pytest.approx(2.0)
    agreement = label_agreement(a, b)["seizure"]
    assert agreement.mean_onset_diff_s == pytest.approx(2.0)
    assert agreement.mean_dice is None
    # other label, or only touching in time -> no match
    assert match_regions(a, [event(12.0, 22.0, "artifact")]) == []
    assert match_regions(a, [event(20.0, 30.0)]) == []
    # identical zero-length events match with IoU 1
    assert match_regions([event(5.0, 5.0)], [event(5.0, 5.0)])[0].quality == 1.0


# ---------------------------------------------------------------------------------- images


def test_box_iou_one_third_needs_a_lower_threshold():
    a = [rect(0, 0, 10, 10)]
    b = [rect(5, 0, 10, 10)]
    # intersection 5 x 10 = 50, union 100 + 100 - 50 = 150 -> IoU 1/3 < 0.5
    assert match_regions(a, b) == []
    assert pair_f1(a, b) == 0.0
    (m,) = match_regions(a, b, min_iou=0.3)
    assert m.quality == pytest.approx(1 / 3)
    # Dice = 2 * (1/3) / (1 + 1/3) = 0.5
    lesion = label_agreement(a, b, min_iou=0.3)["lesion"]
    assert lesion.mean_dice == pytest.approx(0.5)
    assert lesion.mean_quality == pytest.approx(1 / 3)
    # same box, other label -> no match
    assert match_regions(a, [rect(0, 0, 10, 10, "nodule")]) == []


def test_masks_iou_from_decoded_pixels():
    top4 = np.zeros((10, 10), dtype=bool)
    top4[:4, :] = True  # 40 px
    top5 = np.zeros((10, 10), dtype=bool)
    top5[:5, :] = True  # 50 px
    left5 = np.zeros((10, 10), dtype=bool)
    left5[:, :5] = True  # 50 px
    # top4 vs top5: intersection 40, union 50 -> IoU 0.8, Dice 1.6 / 1.8 = 8/9
    (m,) = match_regions([mask(top4)], [mask(top5)])
    assert m.quality == pytest.approx(0.8)
    assert label_agreement([mask(top4)], [mask(top5)])["lesion"].mean_dice == pytest.approx(8 / 9)
    # top5 vs left5: intersection 25, union 75 -> IoU 1/3: not at 0.5, yes at 0.3
    assert match_regions([mask(top5)], [mask(left5)]) == []
    assert match_regions([mask(top5)], [mask(left5)], min_iou=0.3)[0].quality == pytest.approx(1 / 3)


def test_masks_one_to_one_and_cross_kind_skipped():
    top5 = np.zeros((10, 10), dtype=bool)
    top5[:5, :] = True
    bottom5 = ~top5
    a = [mask(top5), mask(bottom5)]
    b = [mask(bottom5), mask(top5)]
    assert [(m.a, m.b) for m in match_regions(a, b)] == [(0, 1), (1, 0)]
    # a rectangle covering exactly the mask's pixels is another kind: not compared
    same_box = {**rect(0, 0, 10, 5), "image_width": 10, "image_height": 10}
    assert match_regions([mask(top5)], [same_box]) == []
    with pytest.raises(ValueError, match="image sizes|height, width"):
        match_regions([mask(top5)], [mask(np.zeros((8, 10), dtype=bool))])


# ---------------------------------------------------------------------------------- attributes / task


def test_attribute_pairs_missing_reads_empty():
    a = [span(0, 5, assertion="negated"), span(10, 15)]
    b = [span(0, 5, assertion="present"), span(10, 15, assertion="negated"), span(40, 45)]
    assert attribute_pairs(a, b, "assertion") == [("negated", "present"), ("", "negated")]
    # kappa on the pairs: never agree, p_o = 0; A: negated 1/2, "" 1/2; B: present 1/2, negated 1/2
    # p_e = 0.5 * 0.5 (negated) = 0.25; kappa = (0 - 0.25) / 0.75 = -1/3
    assert cohen_kappa(*zip(*attribute_pairs(a, b, "assertion"), strict=True)) == pytest.approx(-1 / 3)


def test_task_agreement_with_differing_assertion():
    a = [span(0, 5, assertion="present"), span(10, 15, assertion="negated")]
    b = [span(0, 5, assertion="present"), span(10, 15, assertion="present")]
    # spans agree exactly -> 1.0; with the assertion only the first pair counts -> 2 * 1 / 4
    assert task_agreement(a, b) == pytest.approx(1.0)
    assert task_agreement(a, b, attribute="assertion") == pytest.approx(0.5)
    # a missing attribute equals another missing one
    assert task_agreement([span(0, 5)], [span(0, 5)], attribute="assertion") == 1.0
    assert task_agreement([], []) == 1.0
    assert task_agreement([span(0, 5)], []) == 0.0


def test_task_agreement_attribute_takes_part_in_the_assignment():
    # two identical spans each; the assertions pair up only crosswise (a0-b1, a1-b0)
    a = [span(0, 5, assertion="present"), span(0, 5, assertion="negated")]
    b = [span(0, 5, assertion="negated"), span(0, 5, assertion="present")]
    assert task_agreement(a, b, attribute="assertion") == pytest.approx(1.0)


def test_task_agreement_mixed_kinds_and_modality_criteria():
    # beats need the same class within 150 ms: (1.0 N, 1.1 N) yes, (2.0 N, 2.0 V) no
    # span [0,5) vs [1,5): exact boundaries needed -> no; event overlap -> yes; box IoU 1 -> yes
    a = [beat(1.0), beat(2.0), span(0, 5), event(0.0, 4.0), rect(0, 0, 10, 10)]
    b = [beat(1.1), beat(2.0, "V"), span(1, 5), event(3.0, 9.0), rect(0, 0, 10, 10)]
    # 3 matches of 5 + 5 regions -> 2 * 3 / 10 = 0.6
    assert task_agreement(a, b) == pytest.approx(0.6)
    assert pair_f1(a, b) == pytest.approx(0.6)


def test_bad_mode_kind_and_parameters_raise():
    with pytest.raises(ValueError, match="unknown mode"):
        match_regions([span(0, 5)], [span(0, 5)], "fuzzy")
    with pytest.raises(ValueError, match="region 0 of annotator B has unknown kind 'polygon'"):
        match_regions([span(0, 5)], [{"kind": "polygon", "label": "x"}])
    with pytest.raises(ValueError, match="tolerance_s"):
        pair_f1([beat(1.0)], [beat(1.0)], "position", tolerance_s=0.0)
    with pytest.raises(ValueError, match="min_iou"):
        pair_f1([], [], min_iou=0.0)
