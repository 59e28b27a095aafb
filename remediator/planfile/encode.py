"""The plan file's bytes: canonical JSON, sorted keys, encoded once."""

from __future__ import annotations

import json
from typing import Any

import pydantic_core

from remediator.domain.base import gc_paused
from remediator.planfile.model import Plan

_CONTAINERS = (dict, list)


def _prints_alike(v: object) -> bool:
    """Whether Python's ``json`` and pydantic-core print ``v`` the same: any
    value but a float in exponent notation (``1e-05`` against ``1e-5``) or
    not finite."""
    return type(v) is not float or v == 0.0 or 1e-4 <= abs(v) < 1e16


def _sorted_keys(value: Any, odd_floats: list[float]) -> Any:
    """``value`` with every object's keys in sorted order. Floats that Python's
    ``json`` and pydantic-core print differently (exponent notation: ``1e-05``
    against ``1e-5``) are added to ``odd_floats``."""
    if type(value) is dict:
        items = sorted(value.items())
        odd_floats.extend(v for _, v in items if not _prints_alike(v))
        return {k: _sorted_keys(v, odd_floats) if type(v) in _CONTAINERS else v for k, v in items}
    odd_floats.extend(v for v in value if not _prints_alike(v))
    return [_sorted_keys(v, odd_floats) if type(v) in _CONTAINERS else v for v in value]


def canonical_json(plan: Plan) -> str:
    """The plan file's bytes: the plan as JSON with sorted keys, two-space
    indent, UTF-8 as it is, and a trailing newline. Exactly what
    ``json.dumps(..., indent=2, sort_keys=True, ensure_ascii=False)`` prints
    (a property test holds the two together), written by pydantic-core's
    encoder: Python's own cannot use its C speedups with an indent, and takes
    about ten times as long on a plan of thousands of functions."""
    odd_floats: list[float] = []
    with gc_paused():
        data = _sorted_keys(plan.model_dump(mode="json"), odd_floats)
    if odd_floats:
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return pydantic_core.to_json(data, indent=2).decode("utf-8") + "\n"
