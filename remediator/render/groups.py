"""Functions that share a diagnosis and a fix, as one group: same region,
status, VPC and subnets (with their egress), the same findings (code,
severity, status, qualifier, evidence) and the same change shape (kind,
target and before -> after with the function's own name taken out). A
review of a fleet then grows with the number of distinct problems, not of
functions. Pure functions of the plan, in a stable order."""

from __future__ import annotations

import re
from collections.abc import Hashable
from dataclasses import dataclass, field

from remediator.changes.registry import Change
from remediator.domain.owner import Owner
from remediator.domain.plan import Finding, FunctionSummary
from remediator.planfile.model import Plan
from remediator.render.common import Section, blast_summary, change_summary, function_sections


@dataclass
class Group:
    """Sections (region, function, summary, findings) that read the same;
    the first is the one shown, ``changes`` are its related changes."""

    members: list[Section] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    @property
    def first(self) -> Section:
        return self.members[0]

    @property
    def names(self) -> list[str]:
        return [m[1] for m in self.members]

    @property
    def findings(self) -> list[Finding]:
        return self.first[3]

    @property
    def summary(self) -> FunctionSummary | None:
        return self.first[2]

    @property
    def owners(self) -> list[tuple[str, Owner]]:
        """(function, owner) of the members infrastructure as code owns."""
        return [(m[1], m[2].owner) for m in self.members if m[2] is not None and m[2].owner]


_NAME = re.compile(r"[A-Za-z0-9_-]+")  # a Lambda function name's characters


def anonymise(text: str, name: str) -> str:
    """``text`` with the function's name (as a whole name) replaced, so two
    functions' reasons and targets compare equal when only the name differs."""
    if not name or name not in text:
        return text
    if _NAME.fullmatch(name):
        return _NAME.sub(lambda m: "\0" if m.group() == name else m.group(), text)
    return text.replace(name, "\0")


def change_shape(change: Change, name: str) -> tuple[Hashable, ...]:
    """What a change does, without whose change it is."""
    return (
        change.kind,
        anonymise(change.target, name),
        anonymise(change_summary(change), name),
        change.risk,
        change.reversible,
        anonymise(blast_summary(change), name),
    )


def related_changes(
    findings: list[Finding], by_id: dict[str, Change], by_fix: dict[str, list[Change]]
) -> list[Change]:
    """The changes that fix these findings: ``fixed_by`` first, then any
    other change naming one of them in ``fixes``; each once."""
    out: dict[str, Change] = {}
    for f in findings:
        for cid in f.fixed_by:
            if cid in by_id:
                out.setdefault(cid, by_id[cid])
    for f in findings:
        for c in by_fix.get(f.id, ()):
            out.setdefault(c.id, c)
    return list(out.values())


def _key(section: Section, changes: list[Change]) -> tuple[Hashable, ...]:
    region, name, summary, findings = section
    subnets = tuple((e.subnet_id, e.egress) for e in summary.subnets) if summary else ()
    diagnosis = tuple(
        (
            f.severity,
            f.code,
            f.status,
            f.qualifier,
            tuple((e.subnet_id, e.route_table_id, e.route, e.egress) for e in f.evidence),
        )
        for f in findings
    )
    return (
        region,
        summary.status if summary else "unknown",
        summary.vpc_id if summary else None,
        subnets,
        summary.exempt_reason if summary else None,
        # owned and unowned functions are fixed differently (docs/iac.md)
        summary.owner.kind if summary and summary.owner else None,
        diagnosis,
        tuple(change_shape(c, name) for c in changes),
    )


def _indexes(plan: Plan) -> tuple[dict[str, Change], dict[str, list[Change]]]:
    by_id = {c.id: c for c in plan.changes}
    by_fix: dict[str, list[Change]] = {}
    for c in plan.changes:
        for fid in c.fixes:
            by_fix.setdefault(fid, []).append(c)
    return by_id, by_fix


def per_function(plan: Plan) -> list[Group]:
    """One group per function with findings (the full detail)."""
    by_id, by_fix = _indexes(plan)
    return [
        Group(members=[s], changes=related_changes(s[3], by_id, by_fix))
        for s in function_sections(plan)
    ]


def problem_groups(plan: Plan) -> list[Group]:
    """Every function with findings in exactly one group; groups in the
    order of their first function in the plan (as the per-function report
    always was), so a reader finds a function where it used to be."""
    by_id, by_fix = _indexes(plan)
    groups: dict[tuple[Hashable, ...], Group] = {}
    for section in function_sections(plan):
        changes = related_changes(section[3], by_id, by_fix)
        group = groups.setdefault(_key(section, changes), Group(changes=changes))
        group.members.append(section)
    return list(groups.values())


def change_groups(plan: Plan) -> list[list[tuple[int, Change]]]:
    """Changes of the same shape (see ``change_shape``, with the target
    function's name taken out), each list in apply order with its 1-based
    position; lists ordered by their first change."""
    groups: dict[tuple[Hashable, ...], list[tuple[int, Change]]] = {}
    for i, c in enumerate(plan.changes, start=1):
        name = c.blast_radius.functions[0] if len(c.blast_radius.functions) == 1 else ""
        groups.setdefault(change_shape(c, name), []).append((i, c))
    return list(groups.values())
