"""A small YAML emitter for CloudFormation templates (pure, no dependency).

remediator has no YAML library at run time, and a template is plain data:
mappings with string keys, lists, strings, numbers, booleans. The output is
block-style YAML 1.1/1.2 that any loader reads back as the same data
(``yaml.safe_load(to_yaml(t)) == t``, a property test checks it): strings
are left plain only when no YAML reading could turn them into anything else
(no leading digit, no ``true``/``no``/``null`` look-alikes, no indicator
characters); everything else is a JSON-style double-quoted string, and a
multi-line string (a buildspec) becomes a literal block. Intrinsic
functions keep their long form (``Fn::Sub:``), which CloudFormation reads
like the ``!Sub`` tags.
"""

from __future__ import annotations

import json
import re
from typing import Any

# A letter, ``_`` or ``/`` first; then letters, digits, blanks and punctuation
# that means nothing inside a plain scalar in block context (no ``#``, no quotes).
_PLAIN = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./:${}()\-, '?;=+*@\[\]]*$")
# Words YAML 1.1 reads as booleans or null, whatever their case.
_RESERVED = frozenset({"y", "n", "yes", "no", "true", "false", "on", "off", "null", "nan", "inf"})
_INDENT = 2


def _is_plain(text: str) -> bool:
    return (
        bool(_PLAIN.fullmatch(text))
        and text.lower() not in _RESERVED
        and not text.endswith((":", " "))
        and ": " not in text
    )


def _printable(ch: str) -> bool:
    """What a YAML reader takes raw inside double quotes: no control or
    non-characters, no Unicode line breaks (they would fold), no BOM."""
    code = ord(ch)
    return (
        0x20 <= code <= 0x7E
        or (0xA0 <= code <= 0xD7FF and code not in (0x2028, 0x2029))
        or (0xE000 <= code <= 0xFFFD and code != 0xFEFF)
        or code >= 0x10000
    )


def quote(text: str) -> str:
    """A double-quoted scalar: JSON's escapes, plus YAML's for what JSON leaves raw."""
    return "".join(
        ch
        if _printable(ch)
        else (f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}")
        for ch in json.dumps(text, ensure_ascii=False)
    )


def scalar(value: Any) -> str:
    """One scalar, as it appears after ``key: `` or ``- ``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return value if _is_plain(value) else quote(value)
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _is_block(text: str) -> bool:
    """A literal block keeps the text exactly: no control characters but the
    newlines, no trailing blanks, and a first line that does not start blank."""
    if "\n" not in text.rstrip("\n") or text.endswith("\n\n"):
        return False
    if text[:1] in (" ", "\t") or not all(ch == "\n" or _printable(ch) for ch in text):
        return False
    return all(line == line.rstrip() for line in text.split("\n"))


def _block(text: str, pad: str) -> list[str]:
    head = "|" if text.endswith("\n") else "|-"
    body = [pad + line if line else "" for line in text.rstrip("\n").split("\n")]
    return [head, *body]


def _lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    inner = " " * (indent + _INDENT)
    out: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            name = scalar(str(key))
            if isinstance(item, dict | list) and item:
                out.append(f"{pad}{name}:")
                out.extend(_lines(item, indent + _INDENT))
            elif isinstance(item, str) and _is_block(item):
                head, *body = _block(item, inner)
                out.append(f"{pad}{name}: {head}")
                out.extend(body)
            else:
                out.append(f"{pad}{name}: {_empty_or_scalar(item)}")
        return out
    for item in value:
        if isinstance(item, dict | list) and item:
            nested = _lines(item, indent + _INDENT)
            out.append(f"{pad}- {nested[0][len(inner) :]}")
            out.extend(nested[1:])
        elif isinstance(item, str) and _is_block(item):
            head, *body = _block(item, inner)
            out.append(f"{pad}- {head}")
            out.extend(body)
        else:
            out.append(f"{pad}- {_empty_or_scalar(item)}")
    return out


def _empty_or_scalar(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return scalar(value)


def to_yaml(document: dict[str, Any]) -> str:
    """``document`` as block-style YAML, keys in their insertion order."""
    if not document:
        return "{}\n"
    return "\n".join(_lines(document, 0)) + "\n"
