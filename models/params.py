"""Constructor parameters read back from an estimator (the scikit-learn ``get_params`` convention)."""

from __future__ import annotations

import inspect
from typing import Any


def init_params(estimator: object) -> dict[str, Any]:
    """``{name: value}`` of every named ``__init__`` argument, in signature order, from the attribute of that name.

    Holds for classes whose constructor stores each argument unchanged under its own name.
    """
    signature = inspect.signature(type(estimator).__init__)
    skip = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return {name: getattr(estimator, name) for name, p in signature.parameters.items() if name != "self" and p.kind not in skip}
