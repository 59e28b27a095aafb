"""Canonical JSON for hashing (compact, sorted keys) and the fingerprint of a live state."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from remediator.domain.plan import Fingerprint


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def state_hash(state: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(canonical(state).encode()).hexdigest()


def fingerprint(state: dict[str, Any], revision_id: str | None = None) -> Fingerprint:
    return Fingerprint(revision_id=revision_id, state_hash=state_hash(state), state=state)
