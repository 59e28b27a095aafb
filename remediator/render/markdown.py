"""The plan as Markdown for a pull request or change ticket, with a Mermaid
diagram of each affected function's network path.

This is the only module that knows about Markdown and Mermaid."""

from __future__ import annotations

import re
from collections.abc import Mapping

from remediator.changes.registry import Change
from remediator.domain.findings import NO_EGRESS
from remediator.domain.plan import Finding, FunctionSummary, SubnetEgress
from remediator.planfile.model import Plan
from remediator.render.common import (
    FUNCTION_STATUSES,
    RISKS,
    Section,
    blast_summary,
    change_summary,
    closing_line,
    findings_by_function,
    function_label,
    function_sections,
    risk_counts,
    route_hop,
    share,
)


def _md_cell(value: object) -> str:
    """A table cell: pipes escaped, newlines as <br>."""
    text = str(value) if value is not None else ""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>") or " "


def _md_table(headers: list[str], rows: list[list[object]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return out


def _code(value: str | None) -> str:
    return f"`{value}`" if value else "-"


_MERMAID_UNSAFE = re.compile(r'["<>|{}\[\]()#;`]')


def _mermaid_text(value: str) -> str:
    """Text safe inside a quoted Mermaid label."""
    return _MERMAID_UNSAFE.sub(" ", value).strip()


class _Graph:
    """A Mermaid flowchart with safe node ids (n1, n2, …) keyed by resource."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}
        self.nodes: list[str] = []
        self.edges: list[str] = []
        self._edge_keys: set[tuple[str, str, str]] = set()
        self.classes: dict[str, list[str]] = {}

    def node(self, key: str, label: str, shape: str = "rect", cls: str | None = None) -> str:
        nid = self.ids.get(key)
        if nid is None:
            nid = f"n{len(self.ids) + 1}"
            self.ids[key] = nid
            text = "<br/>".join(_mermaid_text(p) for p in label.split("\n"))
            if shape == "round":
                self.nodes.append(f'    {nid}("{text}")')
            elif shape == "stadium":
                self.nodes.append(f'    {nid}(["{text}"])')
            else:
                self.nodes.append(f'    {nid}["{text}"]')
        if cls:
            members = self.classes.setdefault(cls, [])
            if nid not in members:
                members.append(nid)
        return nid

    def edge(self, a: str, b: str, label: str = "", broken: bool = False) -> None:
        key = (a, b, "broken" if broken else label)
        if key in self._edge_keys:
            return
        self._edge_keys.add(key)
        if broken:
            self.edges.append(f"    {a} -.->|broken| {b}")
        elif label:
            self.edges.append(f'    {a} -->|"{_mermaid_text(label)}"| {b}')
        else:
            self.edges.append(f"    {a} --> {b}")

    def planned(self, a: str, b: str) -> None:
        key = (a, b, "planned")
        if key not in self._edge_keys:
            self._edge_keys.add(key)
            self.edges.append(f"    {a} -.->|planned| {b}")

    def render(self) -> list[str]:
        out = ["```mermaid", "flowchart LR", *self.nodes, *self.edges]
        defs = {
            "bad": "fill:#fde2e2,stroke:#c0392b,color:#7b241c",
            "ok": "fill:#e3f6e8,stroke:#1e8449,color:#145a32",
            "warn": "fill:#fef5e7,stroke:#b9770e,color:#7e5109",
            "planned": "fill:#eaf2fb,stroke:#2e86c1,stroke-dasharray:4 3,color:#1b4f72",
        }
        for cls in sorted(self.classes):
            out.append(f"    classDef {cls} {defs[cls]}")
            out.append(f"    class {','.join(self.classes[cls])} {cls}")
        out.append("```")
        return out


def _target_label(e: SubnetEgress) -> tuple[str, str]:
    target = e.target or "?"
    if target.startswith("igw-"):
        kind = "internet gateway"
    elif target.startswith("nat-"):
        kind = "NAT gateway"
    elif target.startswith("vpce-"):
        kind = "VPC endpoint"
    elif target.startswith("tgw-"):
        kind = "transit gateway"
    elif target.startswith("pcx-"):
        kind = "peering"
    else:
        kind = "target"
    state = f" · {e.target_state}" if e.target_state else ""
    return f"target:{target}", f"{target}\n{kind}{state}"


def mermaid_for_function(
    name: str,
    summary: FunctionSummary | None,
    findings: list[Finding],
    changes: list[Change],
) -> list[str]:
    """function -> subnets -> route tables -> IGW/NAT/endpoint, broken edges dashed."""
    g = _Graph()
    fn = g.node("function", f"λ {name}", shape="stadium")
    # Which qualifiers use which subnet: $LATEST from the summary, aliases
    # and versions from their findings' evidence.
    users: dict[str, list[str]] = {}
    egress: dict[str, SubnetEgress] = {}
    for e in summary.subnets if summary else ():
        users.setdefault(e.subnet_id, []).append("$LATEST")
        egress.setdefault(e.subnet_id, e)
    for f in findings:
        for e in f.evidence:
            quals = users.setdefault(e.subnet_id, [])
            if f.qualifier not in quals:
                quals.append(f.qualifier)
            egress.setdefault(e.subnet_id, e)
    for sid in sorted(egress):
        e = egress[sid]
        bad = e.egress in NO_EGRESS
        cls = "bad" if bad else "ok" if e.egress == "nat" else "warn"
        az = f" · {e.availability_zone}" if e.availability_zone else ""
        sn = g.node(f"subnet:{sid}", f"{sid}\n{e.egress}{az}", cls=cls)
        quals = users.get(sid, [])
        g.edge(fn, sn, label="" if quals == ["$LATEST"] else ", ".join(quals))
        if not e.route_table_id:
            none = g.node(f"none:{sid}", "no route table", shape="round", cls="bad")
            g.edge(sn, none, broken=True)
            continue
        rt = g.node(f"rtb:{e.route_table_id}", f"{e.route_table_id}\n{e.association} route table")
        g.edge(sn, rt, label=e.association)
        if e.egress == "isolated" or not e.target:
            none = g.node(f"none:{e.route_table_id}", "no default route", shape="round", cls="bad")
            g.edge(rt, none, broken=True)
            continue
        key, label = _target_label(e)
        tcls = "bad" if bad else "ok" if e.egress == "nat" else "warn"
        tn = g.node(key, label, shape="round", cls=tcls)
        dest = (e.route or "").split(" -> ")[0] or "default"
        g.edge(rt, tn, label=dest, broken=bad)
    # Planned network changes hang off what they change; Lambda changes are
    # in the changes table (they do not alter this picture of the network).
    for c in changes:
        if not c.kind.startswith("ec2."):
            continue
        anchor = g.ids.get(f"rtb:{c.target}") or g.ids.get(f"target:{c.target}") or fn
        pn = g.node(f"change:{c.id}", f"planned: {c.kind}\n{c.target}", cls="planned")
        g.planned(anchor, pn)
    return g.render()


def render_markdown(plan: Plan) -> str:
    """The plan as Markdown for a pull request or change ticket."""
    out = _md_head(plan) + _md_summary(plan) + _md_functions(plan)
    changes_by_id = {c.id: c for c in plan.changes}
    for section in function_sections(plan):
        out += _md_section(plan, section, changes_by_id)
    out += _md_changes(plan) + _md_needs_a_person(plan)
    out.append("---")
    out.append("")
    out.append(
        f"Plan `{plan.plan_id}` · digest `{plan.digest or 'unsigned'}` · "
        f"remediator {plan.tool_version} · format {plan.format_version} · "
        f"created {plan.created_at}"
    )
    return "\n".join(out) + "\n"


def _md_head(plan: Plan) -> list[str]:
    out: list[str] = []
    out.append(f"# Remediation plan `{plan.plan_id}`")
    out.append("")
    out.append(
        f"Account `{plan.account_id}` ({plan.partition}) · regions "
        + (", ".join(f"`{r}`" for r in plan.regions) or "-")
    )
    out.append("")
    out.append(f"**{closing_line(plan)}**")
    out.append("")
    return out


def _md_summary(plan: Plan) -> list[str]:
    out: list[str] = []
    statuses = [f.status for f in plan.functions]
    f_statuses = [f.status for f in plan.findings]
    rc = risk_counts(plan.changes)
    out.append("## Summary")
    out.append("")
    out += _md_table(
        ["", "Count"],
        [
            ["Functions", len(plan.functions)],
            *[[f"… {s}", statuses.count(s)] for s in FUNCTION_STATUSES],
            ["Findings", len(plan.findings)],
            *[
                [f"… {s}", f_statuses.count(s)]
                for s in ("planned", "blocked", "deferred", "open", "info")
            ],
            ["Changes", len(plan.changes)],
            *[[f"… {r} risk", rc[r]] for r in RISKS],
        ],
    )
    out.append("")
    return out


def _md_functions(plan: Plan) -> list[str]:
    out: list[str] = []
    if not plan.functions:
        return out
    by_fn = findings_by_function(plan)
    multi_region = len(plan.regions) > 1
    out.append("## Functions")
    out.append("")
    headers = ["Function", *(["Region"] if multi_region else []), "Status", "VPC"]
    headers += ["Subnets (egress)", "Share affected"]
    rows: list[list[object]] = []
    for s in plan.functions:
        subnets = "\n".join(f"`{e.subnet_id}` {e.egress}" for e in s.subnets) or "-"
        rows.append(
            [
                f"`{s.name}`",
                *([s.region] if multi_region else []),
                s.status,
                _code(s.vpc_id),
                subnets,
                share(s, by_fn.get((s.region, s.name), [])),
            ]
        )
    out += _md_table(headers, rows)
    out.append("")
    return out


def _md_section(plan: Plan, section: Section, changes_by_id: Mapping[str, Change]) -> list[str]:
    """One function: its findings, their evidence and a diagram."""
    region, name, summary, findings = section
    out: list[str] = []
    status = summary.status if summary else "unknown"
    out.append(f"## `{function_label(region, name, plan)}` — {status}")
    out.append("")
    if summary and summary.exempt_reason:
        out.append(f"Exempt: {summary.exempt_reason}")
        out.append("")
    for f in findings:
        out.append(
            f"- **{f.severity}** `{f.code}` on `{f.qualifier}` — {f.title} "
            f"(status: {f.status}, id `{f.id}`)"
        )
        out.append(f"  - {f.detail}")
        for note in f.notes:
            out.append(f"  - Note: {note}")
        if f.fixed_by:
            out.append("  - Fixed by: " + ", ".join(f"`{c}`" for c in f.fixed_by))
        if f.manual_step:
            out.append(f"  - Manual step: {f.manual_step}")
    out.append("")
    evidence: dict[tuple[str, str], SubnetEgress] = {}
    for f in findings:
        for e in f.evidence:
            evidence.setdefault((f.qualifier, e.subnet_id), e)
    if evidence:
        out.append("Evidence:")
        out.append("")
        out += _md_table(
            ["Qualifier", "Subnet", "AZ", "Route table", "Route", "State", "Egress", "Why"],
            [
                [
                    f"`{q}`",
                    f"`{e.subnet_id}`",
                    e.availability_zone or "-",
                    f"`{e.route_table_id}` ({e.association})" if e.route_table_id else "none",
                    _code(route_hop(e)),
                    e.target_state or "-",
                    f"**{e.egress}**" if e.egress in NO_EGRESS else e.egress,
                    e.detail,
                ]
                for (q, _), e in sorted(evidence.items())
            ],
        )
        out.append("")
    related_ids: list[str] = []
    for f in findings:
        related_ids += [c for c in f.fixed_by if c not in related_ids]
    related = [changes_by_id[c] for c in related_ids if c in changes_by_id]
    related += [
        c for c in plan.changes if c not in related and {f.id for f in findings} & set(c.fixes)
    ]
    out += mermaid_for_function(name, summary, findings, related)
    out.append("")
    return out


def _md_changes(plan: Plan) -> list[str]:
    out: list[str] = []
    if not plan.changes:
        return out
    multi_region = len(plan.regions) > 1
    out.append("## Changes (in apply order)")
    out.append("")
    headers = ["#", "Id", "Kind", "Target", "Risk", "Reversible", "Before → after"]
    headers += ["Depends on", "Blast radius"]
    out += _md_table(
        headers,
        [
            [
                i,
                f"`{c.id}`",
                f"`{c.kind}`",
                f"`{c.target}`" + (f" ({c.region})" if multi_region else ""),
                f"**{c.risk}**" if c.risk == "high" else c.risk,
                "yes" if c.reversible else "**no**",
                change_summary(c),
                ", ".join(f"`{d}`" for d in c.depends_on) or "-",
                blast_summary(c),
            ]
            for i, c in enumerate(plan.changes, start=1)
        ],
    )
    out.append("")
    out.append("<details><summary>Why each change</summary>")
    out.append("")
    for i, c in enumerate(plan.changes, start=1):
        out.append(f"{i}. `{c.id}` — {c.reason}")
    out.append("")
    out.append("</details>")
    out.append("")
    return out


def _md_needs_a_person(plan: Plan) -> list[str]:
    """Blocked findings as a checklist, then deferred ones."""
    out: list[str] = []
    blocked = [f for f in plan.findings if f.status == "blocked"]
    if blocked:
        out.append("## Blocked: needs a person")
        out.append("")
        for f in blocked:
            out.append(
                f"- [ ] `{f.function}:{f.qualifier}` `{f.code}` — "
                f"{f.manual_step or 'see the finding detail'}"
            )
        out.append("")
    deferred = [f for f in plan.findings if f.status == "deferred"]
    if deferred:
        out.append("## Deferred (over the change cap)")
        out.append("")
        for f in deferred:
            out.append(f"- `{f.function}:{f.qualifier}` `{f.code}` (`{f.id}`)")
        out.append("")
    return out
