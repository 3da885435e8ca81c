"""Model-side inputs of BALD and BADGE for torch models: MC-dropout samples and gradient embeddings.

* :func:`mc_dropout_proba`: ``T`` stochastic forward passes with the dropout layers active
  (everything else, e.g. batch norm, in eval mode), softmax over the class axis, as
  ``proba_samples`` of shape ``(T, n, K)`` for :func:`cliniloop.models.sampling.scores.bald`. A model
  without dropout layers gets dropout on the input of its last layer (``fallback_p``), so the
  detector and the U-Net, which have none, still give an epistemic spread.
* :func:`last_layer_embeddings`: the softmax output and the input ``h`` of the last linear (or
  1x1 convolution) layer in one deterministic pass; :func:`gradient_embeddings` turns them into
  the BADGE embedding ``(p - onehot(argmax p)) ⊗ h`` (:func:`cliniloop.models.sampling.diversity.badge_embeddings`).

``forward`` is any callable ``model -> logits`` of shape ``(n, K)`` (items on axis 0, classes on
axis 1) or ``(n, K, ...)`` with ``class_axis=1`` and spatial axes averaged out by the caller.
torch is imported lazily: this module loads without it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cliniloop.models.sampling.diversity import badge_embeddings


def _last_layer(model: Any) -> Any:
    from torch import nn

    last = None
    for module in model.modules():
        if isinstance(module, nn.Linear | nn.Conv1d | nn.Conv2d):
            last = module
    if last is None:
        raise ValueError("the model has no Linear or Conv layer to take the last-layer input from")
    return last


def mc_dropout_proba(
    model: Any,
    forward: Callable[[Any], Any],
    samples: int = 20,
    *,
    seed: int = 0,
    fallback_p: float = 0.2,
    last_layer: Any | None = None,
) -> NDArray[np.float64]:
    """Class probabilities from ``samples`` MC-dropout passes, shape ``(T, n, K)``.

    Parameters
    ----------
    model : torch.nn.Module
        The network; its train/eval state is restored afterwards.
    forward : callable
        ``model -> logits`` tensor ``(n, K)``.
    samples : int
        Passes ``T >= 1``.
    seed : int
        Seed of torch's generator for the dropout masks (same seed, same samples).
    fallback_p : float
        Dropout probability applied to the last layer's input when the model has no dropout layer.
    last_layer : torch.nn.Module, optional
        The layer to apply the fallback before (default: the last Linear/Conv layer).
    """
    import torch
    from torch import nn

    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    was_training = model.training
    dropouts = [m for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]
    hook = None
    if not dropouts:
        layer = last_layer if last_layer is not None else _last_layer(model)
        hook = layer.register_forward_pre_hook(lambda _m, args: (nn.functional.dropout(args[0], fallback_p, training=True), *args[1:]))
    model.eval()
    for m in dropouts:
        m.train()
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        with torch.no_grad():
            out = [torch.softmax(forward(model).double(), dim=1).cpu().numpy() for _ in range(samples)]
    finally:
        torch.random.set_rng_state(state)
        if hook is not None:
            hook.remove()
        model.train(was_training)
    return np.stack(out)


def last_layer_embeddings(model: Any, forward: Callable[[Any], Any], last_layer: Any | None = None) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """One deterministic pass: softmax probabilities ``(n, K)`` and the last layer's input ``h`` ``(n, d)``.

    For a convolutional last layer the input is averaged over its spatial axes.
    """
    import torch

    layer = last_layer if last_layer is not None else _last_layer(model)
    seen: list[Any] = []
    hook = layer.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach()))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            proba = torch.softmax(forward(model).double(), dim=1).cpu().numpy()
    finally:
        hook.remove()
        model.train(was_training)
    h = seen[-1].double()
    if h.ndim > 2:
        h = h.flatten(2).mean(dim=2)
    return proba, h.cpu().numpy()


def gradient_embeddings(model: Any, forward: Callable[[Any], Any], last_layer: Any | None = None) -> NDArray[np.float64]:
    """BADGE gradient embeddings ``(n, K * d)`` of the last layer's weights (pseudo-label = arg-max)."""
    proba, h = last_layer_embeddings(model, forward, last_layer)
    return badge_embeddings(proba, h)


def cell_outputs(
    model: Any,
    forward_map: Callable[[Any], Any],
    cells: Any,
    last_layer: Any,
    samples: int = 20,
    *,
    seed: int = 0,
    fallback_p: float = 0.2,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """BALD and BADGE inputs of a dense (per-cell) model at chosen cells, e.g. a detector's heatmap peaks.

    Parameters
    ----------
    model : torch.nn.Module
        The network.
    forward_map : callable
        ``model -> class logits (1, K, h, w)`` for one image.
    cells : array_like of int, shape (n, 2)
        ``(row, col)`` of the cells that are the items (regions).
    last_layer : torch.nn.Module
        The 1x1 convolution producing the logits; its input at each cell is ``h``.

    Returns
    -------
    (ndarray (T, n, K), ndarray (n, K * d))
        Softmax samples over classes at each cell from ``samples`` MC-dropout passes, and the BADGE
        gradient embeddings ``(p - onehot(argmax p)) ⊗ h`` of one deterministic pass.
    """
    import torch
    from torch import nn

    rc = np.asarray(cells, dtype=np.int64).reshape(-1, 2)
    rows, cols = torch.from_numpy(rc[:, 0]), torch.from_numpy(rc[:, 1])

    def at_cells(m: Any) -> Any:
        return forward_map(m)[0][:, rows, cols].T

    seen: list[Any] = []
    hook = last_layer.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach()))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            proba = torch.softmax(at_cells(model).double(), dim=1).cpu().numpy()
    finally:
        hook.remove()
        model.train(was_training)
    h_map = seen[-1]
    h = h_map[0][:, rows, cols].T.double().cpu().numpy()
    if any(isinstance(m, nn.modules.dropout._DropoutNd) for m in model.modules()):
        drawn = mc_dropout_proba(model, at_cells, samples, seed=seed, fallback_p=fallback_p, last_layer=last_layer)
    else:  # dropout only before the last layer: the passes share everything below it, so run only the last layer again
        state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        try:
            with torch.no_grad():
                cells_h = h_map[0][:, rows, cols].T[:, :, None, None]  # (n, d, 1, 1): the 1x1 conv at each cell
                drawn = np.stack(
                    [
                        torch.softmax(last_layer(nn.functional.dropout(cells_h, fallback_p, training=True)).flatten(1).double(), dim=1).cpu().numpy()
                        for _ in range(samples)
                    ]
                )
        finally:
            torch.random.set_rng_state(state)
    return drawn, badge_embeddings(proba, h)


class TaskRows:
    """Per-task BALD samples and BADGE embeddings built from the per-item outputs of each task.

    A task (an ECG window, an image) holds many items (beats, cells, pixels); the strategies rank
    tasks. A task is represented by its item with the largest BALD
    (:func:`cliniloop.models.sampling.scores.bald`) for ``proba_samples`` and by its item with the
    largest gradient-embedding norm (the one that would move the last layer most) for
    ``grad_embeddings``. A task that gets no items keeps uniform samples and a zero embedding.

    Parameters
    ----------
    n_tasks : int
        Tasks (rows of the outputs).
    n_samples : int
        MC-dropout passes ``T``.
    n_classes : int
        Classes ``K``.
    """

    def __init__(self, n_tasks: int, n_samples: int, n_classes: int) -> None:
        self.samples = np.full((n_samples, n_tasks, n_classes), 1.0 / n_classes)
        self.grads: NDArray[np.float64] | None = None
        self.n_tasks = n_tasks

    def set(self, task: int, samples: NDArray[np.float64], grads: NDArray[np.float64] | None = None) -> None:
        """Give task row ``task`` the outputs of its items: ``samples`` ``(T, m, K)``, ``grads`` ``(m, D)``."""
        from cliniloop.models.sampling.scores import bald

        samples = np.asarray(samples, dtype=np.float64)
        if samples.ndim != 3 or samples.shape[1] == 0:
            return
        self.samples[:, task, :] = samples[:, int(np.argmax(bald(samples))), :]
        if grads is not None and len(grads):
            grads = np.asarray(grads, dtype=np.float64)
            if self.grads is None:
                self.grads = np.zeros((self.n_tasks, grads.shape[1]))
            self.grads[task] = grads[int(np.argmax(np.linalg.norm(grads, axis=1)))]

    def outputs(self) -> dict[str, NDArray[np.float64]]:
        """``{"proba_samples": (T, n, K)}`` plus ``"grad_embeddings": (n, D)`` once any task had gradients."""
        out = {"proba_samples": self.samples}
        if self.grads is not None:
            out["grad_embeddings"] = self.grads
        return out
