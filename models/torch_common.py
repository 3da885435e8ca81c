"""Small torch helpers shared by the trainable models: device choice and a content hash of weights."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import torch


def resolve_device(device: str | None) -> str:
    """``device`` when given, else ``"cuda"`` when :func:`torch.cuda.is_available` and ``"cpu"`` otherwise."""
    if device:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def weights_digest(net: torch.nn.Module, meta: dict[str, Any]) -> str:
    """Hex SHA-256 of a network's ``state_dict`` (keys and tensor bytes, sorted by key) and a JSON ``meta``.

    Two models with the same weights and the same ``meta`` (the settings that change predictions)
    get the same digest, whatever device they were trained on.
    """
    h = hashlib.sha256()
    for key, tensor in sorted(net.state_dict().items()):
        h.update(key.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    h.update(json.dumps(meta, sort_keys=True).encode())
    return h.hexdigest()
