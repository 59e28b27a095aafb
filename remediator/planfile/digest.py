"""The plan's digest: sha256 over the canonical JSON of every field but
``digest`` and ``signature`` (a signature signs the digest)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from remediator.domain.canonical import canonical
from remediator.planfile.model import Plan


def _canonical_sha256(members: dict[str, str | Iterable[str]]) -> str:
    """The sha256 (hex) of ``canonical()`` of an object whose members come
    already encoded: each value is a canonical JSON text, or an iterable of
    the canonical texts of a list's items. The bytes hashed are exactly those
    of ``canonical(whole object)``, without building the object or its text
    (for a plan of 10,000 functions, tens of MB)."""
    h = hashlib.sha256()
    sep = "{"
    for key in sorted(members):
        value = members[key]
        h.update(f"{sep}{canonical(key)}:".encode())
        sep = ","
        if isinstance(value, str):
            h.update(value.encode())
            continue
        item_sep = "["
        for item in value:
            h.update((item_sep + item).encode())
            item_sep = ","
        h.update(b"[]" if item_sep == "[" else b"]")
    h.update(b"{}" if sep == "{" else b"}")
    return h.hexdigest()


_LISTS = ("functions", "findings", "changes")


def _plan_digest(
    plan: Plan,
    *,
    findings: Iterable[str] | None = None,
    changes: Iterable[str] | None = None,
    functions: Iterable[str] | None = None,
) -> str:
    """``plan_digest``, optionally given the canonical texts of the findings,
    changes and function summaries (build_plan has them already)."""
    head = plan.model_dump(mode="json", exclude={"digest", "signature", *_LISTS})
    members: dict[str, str | Iterable[str]] = {k: canonical(v) for k, v in head.items()}
    members["functions"] = (
        functions
        if functions is not None
        else (canonical(s.model_dump(mode="json")) for s in plan.functions)
    )
    members["findings"] = (
        findings
        if findings is not None
        else (canonical(f.model_dump(mode="json")) for f in plan.findings)
    )
    members["changes"] = (
        changes
        if changes is not None
        else (canonical(c.model_dump(mode="json")) for c in plan.changes)
    )
    return "sha256:" + _canonical_sha256(members)


def plan_digest(plan: Plan) -> str:
    """``sha256:`` over the canonical JSON of every field but ``digest`` and ``signature``."""
    return _plan_digest(plan)


def with_digest(plan: Plan) -> Plan:
    return plan.model_copy(update={"digest": plan_digest(plan)})
