"""BALD from MC-dropout samples and BADGE gradient embeddings of tiny torch models, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from cliniloop.models.sampling.scores import bald  # noqa: E402
from cliniloop.models.sampling.torch_al import gradient_embeddings, last_layer_embeddings, mc_dropout_proba  # noqa: E402


def _dropout_net() -> nn.Module:
    """x (n, 1) -> Dropout(0.5) -> Linear(1, 2) with weights [1, -1], no bias."""
    lin = nn.Linear(1, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0], [-1.0]]))
    return nn.Sequential(nn.Dropout(0.5), lin)


def test_mc_dropout_bald_matches_the_hand_computed_mutual_information() -> None:
    net = _dropout_net().eval()
    x = torch.tensor([[1.0], [0.0]])
    samples = mc_dropout_proba(net, lambda m: m(x), samples=40, seed=3)
    assert samples.shape == (40, 2, 2)
    # a kept input is scaled by 1/(1-p) = 2: logits (2, -2); a dropped one gives (0, 0)
    kept = np.array([1 / (1 + math.exp(-4)), 1 / (1 + math.exp(4))])
    half = np.array([0.5, 0.5])
    is_kept = np.array([np.allclose(s[0], kept) for s in samples])
    assert all(np.allclose(s[0], kept) or np.allclose(s[0], half) for s in samples)
    assert 0 < is_kept.sum() < 40  # both outcomes happen
    f = is_kept.mean()

    def h(p: np.ndarray) -> float:
        return float(-(p * np.log(p)).sum())

    expected = h(f * kept + (1 - f) * half) - (f * h(kept) + (1 - f) * h(half))
    got = bald(samples)
    assert got[0] == pytest.approx(expected, abs=1e-12)
    assert got[1] == pytest.approx(0.0, abs=1e-12)  # x = 0: every pass says (0.5, 0.5): no disagreement
    # seeded: the same seed gives the same samples; the model is left in eval mode, as it was
    assert np.array_equal(samples, mc_dropout_proba(net, lambda m: m(x), samples=40, seed=3))
    assert not net.training


def test_mc_dropout_without_dropout_layers_drops_the_last_layer_input() -> None:
    lin = nn.Linear(1, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0], [-1.0]]))
    net = nn.Sequential(nn.Identity(), lin)
    x = torch.tensor([[1.0]])
    samples = mc_dropout_proba(net, lambda m: m(x), samples=30, seed=0, fallback_p=0.5)
    values = {tuple(np.round(s[0], 6)) for s in samples}
    assert values == {(0.5, 0.5), tuple(np.round([1 / (1 + math.exp(-4)), 1 / (1 + math.exp(4))], 6))}
    # the hook is gone: a plain pass is deterministic again
    assert torch.allclose(net(x), torch.tensor([[1.0, -1.0]]))


def test_badge_gradient_embedding_matches_the_outer_product_by_hand() -> None:
    first = nn.Linear(2, 2, bias=False)
    last = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        first.weight.copy_(torch.eye(2))
        last.weight.copy_(torch.eye(2))
    net = nn.Sequential(first, nn.ReLU(), last)
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    proba, h = last_layer_embeddings(net, lambda m: m(x))
    np.testing.assert_allclose(h, [[1, 0], [0, 2], [1, 1]])
    g = gradient_embeddings(net, lambda m: m(x))
    p0 = math.e / (math.e + 1)  # softmax(1, 0)
    p1 = 1 / (1 + math.exp(2))  # softmax(0, 2)[0]
    expected = np.array(
        [
            [p0 - 1, 0.0, 1 - p0, 0.0],  # pseudo-label 0: (p - e0) ⊗ (1, 0)
            [0.0, 2 * p1, 0.0, 2 * (1 - p1 - 1)],  # pseudo-label 1: (p - e1) ⊗ (0, 2)
            [-0.5, -0.5, 0.5, 0.5],  # a tie (0.5, 0.5) goes to class 0: (-0.5, 0.5) ⊗ (1, 1)
        ]
    )
    np.testing.assert_allclose(g, expected, atol=1e-12)
    np.testing.assert_allclose(proba[0], [p0, 1 - p0])


def test_cell_outputs_of_a_dense_model_at_chosen_cells() -> None:
    from cliniloop.models.sampling.torch_al import cell_outputs

    head = nn.Conv2d(1, 2, 1, bias=False)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[[[1.0]]], [[[-1.0]]]]))
    net = nn.Sequential(nn.Identity(), head)
    x = torch.zeros(1, 1, 2, 3)
    x[0, 0, 1, 2] = 1.0  # one bright cell; every other cell has h = 0
    samples, grads = cell_outputs(net, lambda m: m(x), [(1, 2), (0, 0)], head, samples=30, seed=1, fallback_p=0.5)
    assert samples.shape == (30, 2, 2) and grads.shape == (2, 2)
    kept = np.array([1 / (1 + math.exp(-4)), 1 / (1 + math.exp(4))])  # h = 1 scaled by 2 when kept: logits (2, -2)
    assert {tuple(np.round(s[0], 6)) for s in samples} == {(0.5, 0.5), tuple(np.round(kept, 6))}
    np.testing.assert_allclose(samples[:, 1], 0.5)  # h = 0: no spread, BALD 0
    assert bald(samples)[0] > 0 and bald(samples)[1] == pytest.approx(0.0, abs=1e-12)
    p = 1 / (1 + math.exp(-2))  # deterministic pass at the bright cell: softmax(1, -1)
    np.testing.assert_allclose(grads[0], [p - 1, 1 - p], atol=1e-12)  # (p - e0) ⊗ h with h = 1
    np.testing.assert_allclose(grads[1], [0.0, 0.0], atol=1e-12)


def test_task_rows_keep_the_most_bald_item_and_the_largest_gradient() -> None:
    from cliniloop.models.sampling.scores import bald
    from cliniloop.models.sampling.torch_al import TaskRows

    sure = [[0.9, 0.1], [0.9, 0.1]]  # two passes agree: BALD 0
    torn = [[0.9, 0.1], [0.1, 0.9]]  # two passes disagree: the largest BALD
    samples = np.array([[sure[0], torn[0]], [sure[1], torn[1]]])  # (T=2, m=2, K=2)
    assert np.argmax(bald(samples)) == 1
    grads = np.array([[3.0, 4.0], [0.0, 1.0]])  # norms 5 and 1
    rows = TaskRows(n_tasks=3, n_samples=2, n_classes=2)
    rows.set(1, samples, grads)
    rows.set(2, samples[:, :0, :])  # a task without items keeps the uniform rows
    out = rows.outputs()
    assert out["proba_samples"].shape == (2, 3, 2)
    assert np.allclose(out["proba_samples"][:, 1, :], [[0.9, 0.1], [0.1, 0.9]])
    assert np.allclose(out["proba_samples"][:, 0, :], 0.5) and np.allclose(out["proba_samples"][:, 2, :], 0.5)
    assert np.allclose(out["grad_embeddings"], [[0, 0], [3, 4], [0, 0]])
    assert "grad_embeddings" not in TaskRows(1, 2, 2).outputs()
