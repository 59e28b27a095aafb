"""The plan as Markdown for a pull request or change ticket, with a Mermaid
diagram of each distinct problem's network path.

It leads with the summary; functions that share a diagnosis and a fix are
one row, one section and one diagram (``render.groups``), so its size grows
with the number of distinct problems, not of functions. The default report
fits ``LIMIT`` characters (a GitHub comment): when the whole is larger, detail
is dropped in the order of ``DROP_ORDER`` and a note at the top says what was
left out and where the full detail is (``detail="full"``: everything, no
limit; ``remediate show PLAN --format markdown --detail full``).

Every string from AWS or the plan file goes through ``common.md_text``,
``md_code`` or ``mermaid_label``. This is the only module that knows about
Markdown and Mermaid."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, TypeVar, cast

from remediator.changes.registry import Change
from remediator.domain.findings import NO_EGRESS
from remediator.domain.owner import Owner
from remediator.domain.plan import Finding, FunctionSummary, SubnetEgress
from remediator.planfile.model import Plan
from remediator.render.common import (
    FUNCTION_STATUSES,
    RISKS,
    blast_summary,
    cap_names,
    change_summary,
    closing_line,
    findings_by_function,
    function_label,
    md_cell,
    md_code,
    md_text,
    mermaid_label,
    risk_counts,
    route_hop,
    share,
    term,
)
from remediator.render.groups import (
    Group,
    anonymise,
    change_groups,
    per_function,
    problem_groups,
)

LIMIT = 65_536  # a GitHub issue or pull-request comment
LEFT_OUT_MARK = "**Left out to fit"
DETAILS = ("fit", "full")
# What the fitting report drops first when it is too large, in this order.
DROP_ORDER = (
    "the per-function table and the one-row-per-change table (the grouped tables stay)",
    "function names beyond the first 3 of each group",
    "the evidence tables",
    "the reason for each change",
    "Mermaid diagrams, from the last group up",
    "group sections, from the last group up (their row in the problems table stays)",
    "rows of the problems table, from the last up",
)


def _md_table(headers: list[str], rows: Iterable[list[object]]) -> list[str]:
    """Headers and cells are Markdown this module built (untrusted parts
    already escaped); pipes are escaped per cell, newlines become <br>."""
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += [
        "| " + " | ".join(md_cell(str(c).replace("\n", "<br>")) for c in row) + " |" for row in rows
    ]
    return out


def _names(names: list[str], cap: int | None) -> str:
    count = f"{len(names):,}: " if len(names) > 1 else ""
    return count + cap_names(names, len(names) if cap is None else cap, md_code)


# --------------------------------------------------------------------------- Mermaid


class _Graph:
    """A Mermaid flowchart with safe node ids (n1, n2, …) keyed by resource;
    every label through ``mermaid_label``."""

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
            text = "<br/>".join(mermaid_label(p) for p in label.split("\n"))
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
            self.edges.append(f'    {a} -->|"{mermaid_label(label)}"| {b}')
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
    kinds = {
        "igw-": "internet gateway",
        "nat-": "NAT gateway",
        "vpce-": "VPC endpoint",
        "tgw-": "transit gateway",
        "pcx-": "peering",
    }
    kind = next((k for p, k in kinds.items() if target.startswith(p)), "target")
    state = f" · {e.target_state}" if e.target_state else ""
    return f"target:{target}", f"{target}\n{kind}{state}"


def mermaid_for_function(
    name: str,
    summary: FunctionSummary | None,
    findings: list[Finding],
    changes: list[Change],
    more: int = 0,
) -> list[str]:
    """function -> subnets -> route tables -> IGW/NAT/endpoint, broken edges
    dashed; ``more`` other functions that share the picture are counted in
    the function's node."""
    g = _Graph()
    fn = g.node("function", f"λ {name}" + (f" +{more:,} more" if more else ""), shape="stadium")
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
        tn = g.node(key, label, shape="round", cls=cls)
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


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class _Opts:
    """How much of the report to write; ``None`` counts mean all."""

    full: bool = False
    per_item_tables: bool = True
    names: int | None = 10
    evidence: bool = True
    why: bool = True
    diagrams: int | None = None
    sections: int | None = None
    rows: int | None = None


def render_markdown(
    plan: Plan,
    *,
    detail: str = "fit",
    limit: int = LIMIT,
    full_detail_file: str | None = None,
    plan_file: str | None = None,
) -> str:
    """The plan as Markdown. ``detail="fit"`` (default): at most ``limit``
    characters, dropping detail in ``DROP_ORDER`` and saying so;
    ``detail="full"``: everything. ``full_detail_file`` names a file written
    beside the report that holds the full detail, ``plan_file`` the plan's
    path (the note names both)."""
    full_file = (full_detail_file, plan_file)
    groups = problem_groups(plan)
    if detail == "full":
        return _document(
            plan, groups, _Opts(full=True, names=None), [], (None, None), per=per_function(plan)
        )
    opts = _Opts()
    memo: _Memo = {}
    text = _document(plan, groups, opts, [], full_file, memo)
    if len(text) <= limit:
        return text
    left: list[str] = []
    steps: list[tuple[str, _Opts]] = [
        (DROP_ORDER[0], replace(opts, per_item_tables=False)),
        (DROP_ORDER[1], replace(opts, per_item_tables=False, names=3)),
    ]
    for label, candidate in steps:
        opts = candidate
        left.append(label)
        text = _document(plan, groups, opts, left, full_file, memo)
        if len(text) <= limit:
            return text
    for label, field_name in ((DROP_ORDER[2], "evidence"), (DROP_ORDER[3], "why")):
        opts = replace(opts, **{field_name: False})
        left.append(label)
        text = _document(plan, groups, opts, left, full_file, memo)
        if len(text) <= limit:
            return text
    for label, field_name in ((DROP_ORDER[4], "diagrams"), (DROP_ORDER[5], "sections")):
        text, opts = _fit_count(
            plan, groups, opts, left, (label, field_name), limit, (full_file, memo)
        )
        if len(text) <= limit:
            return text
    text, opts = _fit_count(
        plan, groups, opts, left, (DROP_ORDER[6], "rows"), limit, (full_file, memo)
    )
    return text


def _with_count(opts: _Opts, field_name: str, count: int) -> _Opts:
    if field_name == "diagrams":
        return replace(opts, diagrams=count)
    if field_name == "sections":
        return replace(opts, sections=count)
    return replace(opts, rows=count)


def _fit_count(
    plan: Plan,
    groups: list[Group],
    opts: _Opts,
    left: list[str],
    what: tuple[str, str],
    limit: int,
    where: tuple[tuple[str | None, str | None], _Memo],
) -> tuple[str, _Opts]:
    """The largest count of ``field_name`` (diagrams, sections, rows) whose
    document fits, found by bisection; ``left`` gets the label with how many
    were left out."""
    label, field_name = what
    full_file, memo = where
    total = len(groups)
    note = len(left)
    left.append(label)

    def doc(count: int) -> str:
        left[note] = f"{label}: {total - count:,} of {total:,}"
        return _document(plan, groups, _with_count(opts, field_name, count), left, full_file, memo)

    lo, hi = 0, total
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if len(doc(mid)) <= limit:
            lo = mid
        else:
            hi = mid - 1
    opts = _with_count(opts, field_name, lo)
    left[note] = f"{label}: {total - lo:,} of {total:,}"
    return _document(plan, groups, opts, left, full_file, memo), opts


_Memo = dict[tuple[object, ...], Any]
_T = TypeVar("_T")


def _document(
    plan: Plan,
    groups: list[Group],
    opts: _Opts,
    left: list[str],
    full_file: tuple[str | None, str | None],
    memo: _Memo | None = None,
    per: list[Group] | None = None,
) -> str:
    """The report for ``opts``. ``memo`` keeps each part (by the options it
    depends on) across the attempts of one fitting, so fitting a fleet's
    report costs a few renders of its parts, not of the whole. ``per``: the
    sections to write instead of one per group (the full detail: one per
    function)."""
    cache: _Memo = {} if memo is None else memo

    def part(key: tuple[object, ...], build: Callable[[], _T]) -> _T:
        if key not in cache:
            cache[key] = build()
        return cast(_T, cache[key])

    tables = opts.full or opts.per_item_tables
    out = part(("head",), lambda: _md_head(plan))
    out = out + _left_out(plan, left, full_file)
    out += part(("summary",), lambda: _md_summary(plan, groups))
    out += part(("problems", opts.names, opts.rows), lambda: _md_problems(plan, groups, opts))
    if tables:
        out += part(("functions",), lambda: _md_functions(plan))
    shown = groups if per is None else per
    sections = len(shown) if opts.sections is None else opts.sections
    diagrams = len(shown) if opts.diagrams is None else opts.diagrams
    for i, group in enumerate(shown[:sections], start=1):
        out += part(
            ("group", i, opts.names, opts.evidence, i <= diagrams),
            lambda i=i, group=group: _md_group(plan, i, group, opts, diagram=i <= diagrams),  # type: ignore[misc]
        )
    if not tables:  # the per-function table already lists them
        out += part(("others", opts.names), lambda: _md_others(plan, opts))
    rows: list[list[tuple[int, Change]]]
    if tables:
        rows = [[(i, c)] for i, c in enumerate(plan.changes, start=1)]
    else:
        rows = part(("change-groups",), lambda: change_groups(plan))
    out += part(("changes", tables, opts.names, opts.why), lambda: _md_changes(plan, opts, rows))
    out += part(("people", opts.names), lambda: _md_needs_a_person(plan, opts))
    out += part(("foot",), lambda: _md_foot(plan))
    return "\n".join(out) + "\n"


def _md_foot(plan: Plan) -> list[str]:
    return [
        "---",
        "",
        f"Plan {md_code(plan.plan_id)} · digest {md_code(plan.digest or 'unsigned')} · "
        f"remediator {md_text(plan.tool_version)} · format {md_text(plan.format_version)} · "
        f"created {md_text(plan.created_at)}",
    ]


def _left_out(plan: Plan, left: list[str], files: tuple[str | None, str | None]) -> list[str]:
    if not left:
        return []
    full_file, plan_file = files
    command = f"remediate show {term(plan_file or 'PLAN_FILE')} --format markdown --detail full"
    where = f"{md_code(command)} (plan {md_code(plan.plan_id)})"
    if full_file:
        where = f"{md_code(full_file)} beside this report, or {where}"
    return [
        f"> {LEFT_OUT_MARK} {LIMIT:,} characters:** " + "; ".join(left) + ".",
        f"> Full detail: {where}.",
        "",
    ]


def _md_head(plan: Plan) -> list[str]:
    return [
        f"# Remediation plan {md_code(plan.plan_id)}",
        "",
        f"Account {md_code(plan.account_id)} ({md_text(plan.partition)}) · regions "
        + (", ".join(md_code(r) for r in plan.regions) or "-"),
        "",
        f"**{md_text(closing_line(plan))}**",
        "",
    ]


def _md_summary(plan: Plan, groups: list[Group]) -> list[str]:
    statuses = [f.status for f in plan.functions]
    f_statuses = [f.status for f in plan.findings]
    rc = risk_counts(plan.changes)
    out = ["## Summary", ""]
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
            ["Distinct problems", len(groups)],
        ],
    )
    out.append("")
    return out


def _subnets(summary: FunctionSummary | None) -> str:
    if summary is None or not summary.subnets:
        return "-"
    return "\n".join(f"{md_code(e.subnet_id)} {md_text(e.egress)}" for e in summary.subnets)


def _findings_cell(findings: list[Finding]) -> str:
    return "\n".join(
        f"**{md_text(f.severity)}** {md_code(f.code)} on {md_code(f.qualifier)} "
        f"({md_text(f.status)})"
        for f in findings
    )


def _fix_cell(group: Group) -> str:
    kinds: dict[str, int] = {}
    for c in group.changes:
        kinds[c.kind] = kinds.get(c.kind, 0) + 1
    if not kinds:
        return "-"
    return "\n".join(f"{md_code(k)}" for k in kinds)


def _md_problems(plan: Plan, groups: list[Group], opts: _Opts) -> list[str]:
    """One row per group: the distinct problems."""
    if not groups:
        return []
    rows = groups if opts.rows is None else groups[: opts.rows]
    multi = len(plan.regions) > 1
    headers = ["#", "Functions", *(["Region"] if multi else []), "Status", "VPC"]
    headers += ["Subnets (egress)", "Share affected", "Findings", "Fix"]
    out = ["## Problems (functions that share a diagnosis and fix share a row)", ""]
    out += _md_table(
        headers,
        [
            [
                i,
                _names(g.names, opts.names),
                *([md_text(g.first[0])] if multi else []),
                md_text(g.summary.status if g.summary else "unknown"),
                md_code(g.summary.vpc_id if g.summary else None),
                _subnets(g.summary),
                share(g.summary, g.findings) if g.summary else "-",
                _findings_cell(g.findings),
                _fix_cell(g),
            ]
            for i, g in enumerate(rows, start=1)
        ],
    )
    if len(rows) < len(groups):
        out.append("")
        out.append(f"… and {len(groups) - len(rows):,} more problems (see the full detail).")
    out.append("")
    return out


def _md_functions(plan: Plan) -> list[str]:
    """Every function, one row each (the full detail)."""
    if not plan.functions:
        return []
    by_fn = findings_by_function(plan)
    multi = len(plan.regions) > 1
    headers = ["Function", *(["Region"] if multi else []), "Status", "VPC"]
    headers += ["Subnets (egress)", "Share affected"]
    out = ["## Functions", ""]
    out += _md_table(
        headers,
        [
            [
                md_code(s.name),
                *([md_text(s.region)] if multi else []),
                md_text(s.status),
                md_code(s.vpc_id),
                _subnets(s),
                share(s, by_fn.get((s.region, s.name), [])),
            ]
            for s in plan.functions
        ],
    )
    out.append("")
    return out


def _md_group(plan: Plan, index: int, group: Group, opts: _Opts, diagram: bool) -> list[str]:
    """One distinct problem: its functions, findings, evidence and diagram."""
    region, name, summary, findings = group.first
    status = summary.status if summary else "unknown"
    more = len(group.members) - 1
    title = md_code(function_label(region, name, plan))
    if more:
        title += f" and {more:,} more"
    out = [f"## {index}. {title} — {md_text(status)}", ""]
    if more:
        out += [f"Functions: {_names(group.names, opts.names)}", ""]
    if summary and summary.exempt_reason:
        out += [f"Exempt: {md_text(summary.exempt_reason)}", ""]
    if group.owners:
        out += [_md_owners(group, opts.names), ""]
    for f in findings:
        out.append(
            f"- **{md_text(f.severity)}** {md_code(f.code)} on {md_code(f.qualifier)} — "
            f"{md_text(f.title)} (status: {md_text(f.status)}, id {md_code(f.id)})"
        )
        out.append(f"  - {md_text(f.detail, line_start=True)}")
        out += [f"  - Note: {md_text(note)}" for note in f.notes]
        if f.fixed_by:
            out.append("  - Fixed by: " + ", ".join(md_code(c) for c in f.fixed_by))
        if f.manual_step:
            out.append(f"  - Manual step: {md_text(f.manual_step)}")
    out.append("")
    if opts.evidence:
        out += _md_evidence(findings)
    if diagram:
        out += mermaid_for_function(name, summary, findings, group.changes, more)
        out.append("")
    return out


def _owner_words(owner: Owner) -> str:
    if owner.kind == "terraform":
        return "Terraform" + (f" ({md_text(owner.detail)})" if owner.detail else "")
    stack = owner.stack_name or owner.stack_id or "?"
    logical = f", logical id {md_code(owner.logical_id)}" if owner.logical_id else ""
    return f"CloudFormation stack {md_code(stack)}{logical}"


def _md_owners(group: Group, cap: int | None) -> str:
    """Who owns the group's functions: a direct change drifts from their
    source, so the fix goes into it too (docs/iac.md)."""
    owners = group.owners
    if len(group.members) == 1:
        head = "Owner: " + _owner_words(owners[0][1])
    else:
        shown = owners if cap is None else owners[:cap]
        head = "Owners: " + "; ".join(f"{md_code(n)}: {_owner_words(o)}" for n, o in shown)
        if len(shown) < len(owners):
            head += f"; and {len(owners) - len(shown):,} more"
    return (
        head
        + " — a direct change drifts from the source: deploy the template patch too (`remediate iac-patch`)."
    )


def _md_evidence(findings: list[Finding]) -> list[str]:
    evidence: dict[tuple[str, str], SubnetEgress] = {}
    for f in findings:
        for e in f.evidence:
            evidence.setdefault((f.qualifier, e.subnet_id), e)
    if not evidence:
        return []
    out = ["Evidence:", ""]
    out += _md_table(
        ["Qualifier", "Subnet", "AZ", "Route table", "Route", "State", "Egress", "Why"],
        [
            [
                md_code(q),
                md_code(e.subnet_id),
                md_text(e.availability_zone or "-"),
                f"{md_code(e.route_table_id)} ({md_text(e.association)})"
                if e.route_table_id
                else "none",
                md_code(route_hop(e)),
                md_text(e.target_state or "-"),
                f"**{md_text(e.egress)}**" if e.egress in NO_EGRESS else md_text(e.egress),
                md_text(e.detail),
            ]
            for (q, _), e in sorted(evidence.items())
        ],
    )
    out.append("")
    return out


def _md_others(plan: Plan, opts: _Opts) -> list[str]:
    """Functions without findings, grouped by status, VPC and exempt reason."""
    with_findings = {(f.region, f.function) for f in plan.findings}
    groups: dict[tuple[str, str, str, str], list[str]] = {}
    for s in plan.functions:
        if (s.region, s.name) not in with_findings:
            key = (s.region, s.status, s.vpc_id or "", s.exempt_reason or "")
            groups.setdefault(key, []).append(s.name)
    if not groups:
        return []
    out = ["## Functions without findings", ""]
    out += _md_table(
        ["Status", "VPC", "Functions", "Note"],
        [
            [md_text(status), md_code(vpc), _names(names, opts.names), md_text(reason or "-")]
            for (_, status, vpc, reason), names in sorted(groups.items())
        ],
    )
    out.append("")
    return out


def _md_changes(plan: Plan, opts: _Opts, rows: list[list[tuple[int, Change]]]) -> list[str]:
    """The changes in apply order, one row each or one row per shape."""
    if not plan.changes:
        return []
    multi = len(plan.regions) > 1
    out = ["## Changes (in apply order)", ""]
    headers = ["#", "Id", "Kind", "Target", "Risk", "Reversible", "Before → after"]
    headers += ["Depends on", "Blast radius"]
    out += _md_table(headers, [_change_row(items, multi, opts) for items in rows])
    out.append("")
    if opts.why:
        out += ["<details><summary>Why each change</summary>", ""]
        for items in rows:
            i, c = items[0]
            many = f" (and {len(items) - 1:,} more like it)" if len(items) > 1 else ""
            out.append(f"{i}. {md_code(c.id)}{many} — {md_text(c.reason)}")
        out += ["", "</details>", ""]
    return out


def _change_row(items: list[tuple[int, Change]], multi: bool, opts: _Opts) -> list[object]:
    i, c = items[0]
    target = md_code(c.target) + (f" ({md_text(c.region)})" if multi else "")
    if len(items) > 1:
        names = [n for _, ch in items for n in ch.blast_radius.functions[:1]]
        target = f"{len(items):,} changes, first {target}; functions {_names(names, opts.names)}"
    ident = md_code(c.id) + (f" and {len(items) - 1:,} more" if len(items) > 1 else "")
    return [
        i if len(items) == 1 else f"{i} (×{len(items):,})",
        ident,
        md_code(c.kind),
        target,
        f"**{md_text(c.risk)}**" if c.risk == "high" else md_text(c.risk),
        "yes" if c.reversible else "**no**",
        md_text(change_summary(c)),
        ", ".join(md_code(d) for d in c.depends_on) or "-",
        md_text(blast_summary(c)),
    ]


def _md_needs_a_person(plan: Plan, opts: _Opts) -> list[str]:
    """Blocked findings as a checklist (one item per code and manual step),
    then deferred ones (one line per code)."""
    out: list[str] = []
    blocked: dict[tuple[str, str], list[str]] = {}
    deferred: dict[str, list[str]] = {}
    for f in plan.findings:
        ref = f"{f.function}:{f.qualifier}"
        if f.status == "blocked":
            step = f.manual_step or "see the finding detail"
            step = anonymise(step, f.function).replace("\0", "the function")
            blocked.setdefault((f.code, step), []).append(ref)
        elif f.status == "deferred":
            deferred.setdefault(f.code, []).append(ref)
    if blocked:
        out += ["## Blocked: needs a person", ""]
        for (code, step), refs in blocked.items():
            out.append(f"- [ ] {_names(refs, opts.names)} {md_code(code)} — {md_text(step)}")
        out.append("")
    if deferred:
        out += ["## Deferred (over the change cap)", ""]
        for code, refs in deferred.items():
            out.append(f"- {_names(refs, opts.names)} {md_code(code)}")
        out.append("")
    return out
