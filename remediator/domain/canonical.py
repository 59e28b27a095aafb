"""Canonical JSON for hashing (compact, sorted keys) and the fingerprint of a live state."""

from __future__ import annotations

import hashlib
import json
from json.encoder import (  # type: ignore[attr-defined]
    c_encode_basestring,
    c_make_encoder,
    py_encode_basestring,
)
from typing import Any

from remediator.domain.plan import Fingerprint

# ``json.dumps(value, **options)`` is ``JSONEncoder(**options).encode(value)``;
# one encoder (it keeps no state between calls) spares building one per call,
# and its C core, called directly, the two Python frames around it (without
# the circular-reference check: the values are JSON dumps of models).
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_C_ENCODER = (
    None
    if c_make_encoder is None
    else c_make_encoder(
        None, _ENCODER.default, c_encode_basestring, None, ":", ",", True, False, True
    )
)


def _encode(value: Any) -> str:
    if _C_ENCODER is None:
        return _ENCODER.encode(value)
    return "".join(_C_ENCODER(value, 0))


def canonical(value: Any) -> str:
    """``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``."""
    return _encode(value)


def state_hash(state: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(canonical(state).encode()).hexdigest()


def fingerprint(state: dict[str, Any], revision_id: str | None = None) -> Fingerprint:
    return Fingerprint(revision_id=revision_id, state_hash=state_hash(state), state=state)


_MARK = "\x00"  # a marker no value remediator encodes holds (AWS strings have no NUL)
_quote = c_encode_basestring or py_encode_basestring  # a str's JSON text (ensure_ascii off)
_MARKED = _quote(_MARK)


def canonical_with(values: dict[str, Any], key: str, text: str) -> str:
    """``canonical({**values, key: v})`` where ``text`` is ``canonical(v)``,
    already encoded (a part many objects share).

    ``values`` is encoded with ``key`` holding a marker string, whose text
    is then replaced by ``text``; when the marker's text (``"key":"\\u0000"``)
    occurs more than once (a nested object with the same key and marker),
    the members before and after ``key`` are encoded apart instead, as
    ``json.dumps`` with ``sort_keys`` orders them (keys compared as strings)."""
    encode = _encode
    name = _quote(key) + ":"
    marked = encode({**values, key: _MARK})
    mark = name + _MARKED
    if marked.count(mark) == 1:
        return marked.replace(mark, name + text)
    head = {k: v for k, v in values.items() if k < key}
    tail = {k: v for k, v in values.items() if k > key}
    out = encode(head)[:-1] + ("," if head else "") + name + text
    return out + ("," if tail else "") + encode(tail)[1:]
