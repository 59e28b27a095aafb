"""Render a plan for people: text (ANSI colours on request), Markdown (pull
requests, change tickets, with Mermaid diagrams) or canonical JSON.

This is the only module that knows about colours and Markdown. Rendering is a
pure function of the plan: no clock, no environment, no terminal probing (the
caller says whether it wants colour), so the same plan always renders to the
same bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from remediator.changes import lambda_vpc_config
from remediator.changes.registry import Change
from remediator.domain.base import gc_paused
from remediator.domain.errors import BadInput
from remediator.domain.plan import Finding, FunctionSummary, SubnetEgress
from remediator.planfile.encode import canonical_json
from remediator.planfile.model import Plan

FORMATS: tuple[str, ...] = ("text", "markdown", "json")
WIDTH = 120
VPC_CONFIG_KIND = lambda_vpc_config.NAME

NO_EGRESS = frozenset({"public", "nat-broken", "isolated"})
PROBLEM_STATUSES = frozenset({"open", "planned", "blocked", "deferred"})
RISKS: tuple[str, ...] = ("low", "medium", "high")
SEVERITY_ORDER: dict[str, int] = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}

SEVERITY_STYLE: dict[str, str] = {
    "critical": "bold red",
    "high": "red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}
EGRESS_STYLE: dict[str, str] = {
    "public": "bold red",
    "nat-broken": "bold red",
    "isolated": "magenta",
    "nat": "green",
    "other": "yellow",
    "unknown": "yellow",
}
STATUS_STYLE: dict[str, str] = {
    "affected": "bold red",
    "healthy": "green",
    "exempt": "cyan",
    "not-in-vpc": "dim",
    "egress-unknown": "yellow",
}
RISK_STYLE: dict[str, str] = {"low": "green", "medium": "yellow", "high": "bold red"}


# --------------------------------------------------------------------------- shared helpers


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _risk_counts(changes: Iterable[Change]) -> dict[str, int]:
    counts = dict.fromkeys(RISKS, 0)
    for c in changes:
        counts[c.risk] = counts.get(c.risk, 0) + 1
    return counts


def closing_line(plan: Plan) -> str:
    """Terraform-style last line: the counts a reviewer reads first."""
    problems = [f for f in plan.findings if f.status in PROBLEM_STATUSES]
    if not plan.changes and not problems:
        return "No changes. Every function's egress matches the policy."
    counts = _risk_counts(plan.changes)
    risks = ", ".join(f"{counts[r]} {r}" for r in RISKS)
    blocked = sum(1 for f in plan.findings if f.status == "blocked")
    deferred = sum(1 for f in plan.findings if f.status == "deferred")
    line = (
        f"Plan: {_plural(len(plan.changes), 'change')} ({risks}), "
        f"{_plural(blocked, 'finding')} blocked"
    )
    open_ = sum(1 for f in plan.findings if f.status == "open")
    if deferred:
        line += f", {deferred} deferred"
    if open_:
        line += f", {open_} open"
    return line + "."


def _share(summary: FunctionSummary, findings: list[Finding]) -> str:
    if summary.status in ("exempt", "not-in-vpc"):
        return "-"
    shares = [f.affected_share for f in findings if f.status in PROBLEM_STATUSES]
    if shares:
        return f"{max(shares):.0%}"
    if summary.subnets:
        bad = sum(1 for s in summary.subnets if s.egress in NO_EGRESS)
        return f"{bad / len(summary.subnets):.0%}"
    return "-"


def _findings_by_function(plan: Plan) -> dict[tuple[str, str], list[Finding]]:
    out: dict[tuple[str, str], list[Finding]] = {}
    for f in plan.findings:
        out.setdefault((f.region, f.function), []).append(f)
    for items in out.values():
        items.sort(key=lambda f: (SEVERITY_ORDER.get(f.severity, 9), f.qualifier, f.code, f.id))
    return out


def _sections(plan: Plan) -> list[tuple[str, str, FunctionSummary | None, list[Finding]]]:
    """(region, function, summary, findings) for every function with
    findings, in the plan's function order, then any finding whose function
    has no summary."""
    by_fn = _findings_by_function(plan)
    out: list[tuple[str, str, FunctionSummary | None, list[Finding]]] = []
    seen: set[tuple[str, str]] = set()
    for s in plan.functions:
        key = (s.region, s.name)
        if key in by_fn and key not in seen:
            out.append((s.region, s.name, s, by_fn[key]))
            seen.add(key)
    for key in sorted(by_fn):
        if key not in seen:
            out.append((key[0], key[1], None, by_fn[key]))
    return out


def _route_hop(e: SubnetEgress) -> str:
    """``0.0.0.0/0 -> igw-1`` whether or not ``route`` already names the target."""
    if e.route and e.target and e.target not in e.route:
        return f"{e.route} -> {e.target}"
    if e.route:
        return e.route
    if e.target:
        return f"? -> {e.target}"
    return "no default route"


def evidence_chain(e: SubnetEgress) -> str:
    """subnet -> route table (explicit|main) -> route -> target -> state."""
    parts = [e.subnet_id + (f" [{e.availability_zone}]" if e.availability_zone else "")]
    if e.route_table_id:
        parts.append(f"{e.route_table_id} ({e.association})")
    else:
        parts.append("no route table")
    parts.append(_route_hop(e))
    if e.target_state:
        parts.append(e.target_state)
    return " -> ".join(parts)


def _fmt_value(v: Any) -> str:
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_fmt_value(i) for i in v) + "]"
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True, separators=(",", ":"))
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _kv(d: Mapping[str, Any] | None) -> str:
    if d is None:
        return "(none)"
    if not d:
        return "{}"
    return " ".join(f"{k}={_fmt_value(d[k])}" for k in sorted(d))


def change_summary(change: Change) -> str:
    """A one-line before -> after. For VPC config updates, the subnet and
    security group lists with what is removed and added."""
    before = None if change.before is None else change.before.as_json()
    after = change.after.as_json()
    if change.kind == VPC_CONFIG_KIND:
        parts: list[str] = []
        for key in ("SubnetIds", "SecurityGroupIds"):
            old = list((before or {}).get(key, []) or [])
            new = list(after.get(key, []) or [])
            if key not in after and before is not None:
                continue
            if old == new:
                parts.append(f"{key} unchanged {_fmt_value(new)}")
                continue
            delta = [f"-{i}" for i in old if i not in new] + [f"+{i}" for i in new if i not in old]
            text = f"{key} {_fmt_value(old)} -> {_fmt_value(new)}"
            if delta:
                text += f" ({', '.join(delta)})"
            parts.append(text)
        extra = {k: v for k, v in after.items() if k not in ("SubnetIds", "SecurityGroupIds")}
        if extra:
            parts.append(_kv(extra))
        return "; ".join(parts)
    return f"{_kv(before)} -> {_kv(after)}"


def blast_summary(change: Change) -> str:
    b = change.blast_radius
    parts: list[str] = []
    if b.route_tables:
        parts.append("route tables " + ", ".join(b.route_tables))
    if b.subnet_ids:
        parts.append("subnets " + ", ".join(b.subnet_ids))
    if b.functions:
        parts.append("functions " + ", ".join(b.functions))
    if b.note:
        parts.append(b.note)
    return "; ".join(parts) if parts else "only the target"


def _function_label(region: str, name: str, plan: Plan) -> str:
    return f"{name} ({region})" if len(plan.regions) > 1 else name


# --------------------------------------------------------------------------- text


_SGR: dict[str, str] = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "magenta": "35",
    "cyan": "36",
}


def _paint(value: str, style: str, color: bool) -> str:
    """``value`` in ``style`` ("bold red") as ANSI SGR codes, or as it is."""
    if not color or not style or not value:
        return value
    codes = ";".join(_SGR[word] for word in style.split())
    return f"\x1b[{codes}m{value}\x1b[0m"


_Cell = list[tuple[int, str]]  # one (width, text as printed) per line of a cell


def _functions_table(
    plan: Plan, by_fn: Mapping[tuple[str, str], list[Finding]], color: bool
) -> list[str]:
    """One row per function, laid out in columns three spaces apart under a
    rule, subnets one per line. Plain string work, no layout engine: a plan
    of 10,000 functions renders in a fraction of a second. A Function column
    that would push the table past ``WIDTH`` folds long names."""
    multi_region = len(plan.regions) > 1
    headers = ["Function", *(["Region"] if multi_region else []), "Status", "VPC"]
    headers += ["Subnets (egress)", "Share affected"]

    def one(text: str, style: str = "") -> _Cell:
        return [(len(text), _paint(text, style, color))]

    rows: list[list[_Cell]] = []
    for s in plan.functions:
        cells = [[(len(s.name), s.name)]]
        if multi_region:
            cells.append(one(s.region))
        cells.append(one(s.status, STATUS_STYLE.get(s.status, "")))
        cells.append(one(s.vpc_id or "-"))
        if s.subnets:
            cells.append(
                [
                    (
                        len(e.subnet_id) + 1 + len(e.egress),
                        f"{e.subnet_id} {_paint(e.egress, EGRESS_STYLE.get(e.egress, ''), color)}",
                    )
                    for e in s.subnets
                ]
            )
        else:
            cells.append(one("-"))
        cells.append(one(_share(s, by_fn.get((s.region, s.name), []))))
        rows.append(cells)

    widths = [len(h) for h in headers]
    for cells in rows:
        for i, cell in enumerate(cells):
            for w, _ in cell:
                if w > widths[i]:
                    widths[i] = w
    gap = "   "
    others = sum(widths[1:]) + len(gap) * (len(widths) - 1)
    widths[0] = max(len(headers[0]), min(widths[0], WIDTH - others))
    last = len(widths) - 1

    def layout(row_cells: list[_Cell]) -> list[str]:
        """Cells (each a list of lines) side by side, as output lines."""
        height = max(len(c) for c in row_cells)
        out = []
        for row in range(height):
            parts = []
            for i, cell in enumerate(row_cells):
                w, text = cell[row] if row < len(cell) else (0, "")
                pad = " " * (widths[i] - w)
                parts.append(pad + text if i == last else text + pad)
            out.append(gap.join(parts).rstrip())
        return out

    lines = layout([one(h, "bold") for h in headers])
    lines.append("\u2500" * (sum(widths) + len(gap) * last))
    fold = widths[0]
    for cells in rows:
        name = cells[0][0][1]
        if len(name) > fold:
            cells[0] = [
                (len(part), part)
                for part in (name[i : i + fold] for i in range(0, len(name), fold))
            ]
        lines += layout(cells)
    return lines


def render_text(plan: Plan, *, color: bool = False) -> str:
    """The plan as plain text (ANSI colours only when ``color`` is true)."""
    with gc_paused():
        return _render_text(plan, color)


def _render_text(plan: Plan, color: bool) -> str:
    out: list[str] = []

    def line(*parts: tuple[str, str] | str) -> None:
        out.append(
            "".join(
                _paint(p[0], p[1], color) if isinstance(p, tuple) else p for p in parts
            ).rstrip()
        )

    def blank() -> None:
        out.append("")

    def styled(value: str, styles: Mapping[str, str]) -> tuple[str, str]:
        return (value, styles.get(value, ""))

    multi_region = len(plan.regions) > 1
    by_fn = _findings_by_function(plan)

    # -- header
    line(("Remediation plan ", "bold"), (plan.plan_id, "bold"))
    line(f"account {plan.account_id} ({plan.partition})   regions {', '.join(plan.regions) or '-'}")
    statuses = [f.status for f in plan.functions]
    fn_counts = ", ".join(
        f"{statuses.count(s)} {s}"
        for s in ("affected", "healthy", "exempt", "not-in-vpc", "egress-unknown")
        if statuses.count(s)
    )
    line(f"functions {len(plan.functions)}" + (f": {fn_counts}" if fn_counts else ""))
    f_statuses = [f.status for f in plan.findings]
    f_counts = ", ".join(
        f"{f_statuses.count(s)} {s}"
        for s in ("open", "planned", "blocked", "deferred", "info")
        if f_statuses.count(s)
    )
    line(f"findings {len(plan.findings)}" + (f": {f_counts}" if f_counts else ""))
    rc = _risk_counts(plan.changes)
    line(
        f"changes {len(plan.changes)}"
        + (": " + ", ".join(f"{rc[r]} {r}" for r in RISKS) if plan.changes else "")
    )

    # -- functions table
    if plan.functions:
        blank()
        out.extend(_functions_table(plan, by_fn, color))

    # -- findings per function
    sections = _sections(plan)
    if sections:
        blank()
        line(("Findings", "bold"))
    for region, name, summary, findings in sections:
        blank()
        status = summary.status if summary else "unknown"
        line(
            (_function_label(region, name, plan), "bold"),
            "  ",
            styled(status, STATUS_STYLE),
            f"  {summary.vpc_id}" if summary and summary.vpc_id else "",
        )
        if summary and summary.exempt_reason:
            line(f"  exempt: {summary.exempt_reason}")
        for f in findings:
            line(
                "  ",
                (f"[{f.severity}]", SEVERITY_STYLE.get(f.severity, "")),
                f" {f.code}  {f.status}  {f.qualifier}  {f.id}",
            )
            line(f"    {f.title}")
            line(f"    {f.detail}")
            if f.evidence:
                line("    evidence:")
            for e in f.evidence:
                line(
                    f"      {evidence_chain(e)}  => ",
                    styled(e.egress, EGRESS_STYLE),
                    f": {e.detail}",
                )
                if e.ipv6:
                    line(f"        ipv6: {e.ipv6}")
            for note in f.notes:
                line(f"    note: {note}")
            if f.fixed_by:
                line(f"    fixed by: {', '.join(f.fixed_by)}")
            if f.manual_step:
                line(f"    manual step: {f.manual_step}")

    # -- changes
    if plan.changes:
        blank()
        line(("Changes", "bold"), f" ({len(plan.changes)}, in apply order)")
        for i, c in enumerate(plan.changes, start=1):
            blank()
            line(
                f"  {i}. {c.id}  {c.kind}  {c.target}  ",
                (f"risk {c.risk}", RISK_STYLE.get(c.risk, "")),
                "  reversible" if c.reversible else "  NOT reversible",
                f"  ({c.region})" if multi_region else "",
            )
            line(f"     {change_summary(c)}")
            line(f"     depends on: {', '.join(c.depends_on) or '-'}")
            line(f"     blast radius: {blast_summary(c)}")
            if c.fixes:
                line(f"     fixes: {', '.join(c.fixes)}")
            line(f"     reason: {c.reason}")

    # -- blocked and deferred
    blocked = [f for f in plan.findings if f.status == "blocked"]
    if blocked:
        blank()
        line(("Blocked", "bold"), " (needs a person)")
        for f in blocked:
            line(f"  {f.function}:{f.qualifier}  {f.code}  {f.id}")
            line(f"    manual step: {f.manual_step or 'see the finding detail'}")
    deferred = [f for f in plan.findings if f.status == "deferred"]
    if deferred:
        blank()
        line(("Deferred", "bold"), " (over the change cap; plan again after applying)")
        for f in deferred:
            line(f"  {f.function}:{f.qualifier}  {f.code}  {f.id}")

    blank()
    line((closing_line(plan), "bold"))
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- markdown


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
    out: list[str] = []
    by_fn = _findings_by_function(plan)
    changes_by_id = {c.id: c for c in plan.changes}
    multi_region = len(plan.regions) > 1

    out.append(f"# Remediation plan `{plan.plan_id}`")
    out.append("")
    out.append(
        f"Account `{plan.account_id}` ({plan.partition}) · regions "
        + (", ".join(f"`{r}`" for r in plan.regions) or "-")
    )
    out.append("")
    out.append(f"**{closing_line(plan)}**")
    out.append("")

    # -- summary
    statuses = [f.status for f in plan.functions]
    f_statuses = [f.status for f in plan.findings]
    rc = _risk_counts(plan.changes)
    out.append("## Summary")
    out.append("")
    out += _md_table(
        ["", "Count"],
        [
            ["Functions", len(plan.functions)],
            *[
                [f"… {s}", statuses.count(s)]
                for s in ("affected", "healthy", "exempt", "not-in-vpc", "egress-unknown")
            ],
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

    if plan.functions:
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
                    _share(s, by_fn.get((s.region, s.name), [])),
                ]
            )
        out += _md_table(headers, rows)
        out.append("")

    # -- per function
    for region, name, summary, findings in _sections(plan):
        status = summary.status if summary else "unknown"
        out.append(f"## `{_function_label(region, name, plan)}` — {status}")
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
                        _code(_route_hop(e)),
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

    # -- changes
    if plan.changes:
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

    out.append("---")
    out.append("")
    out.append(
        f"Plan `{plan.plan_id}` · digest `{plan.digest or 'unsigned'}` · "
        f"remediator {plan.tool_version} · format {plan.format_version} · "
        f"created {plan.created_at}"
    )
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- json


def render_json(plan: Plan) -> str:
    """The plan as canonical JSON (sorted keys, two-space indent, trailing
    newline): the same bytes as the plan file."""
    return canonical_json(plan)


# --------------------------------------------------------------------------- dispatch

_RENDERERS: dict[str, Callable[[Plan], str]] = {
    "text": render_text,
    "markdown": render_markdown,
    "json": render_json,
}


def render(plan: Plan, fmt: str, *, color: bool = False) -> str:
    """Render ``plan`` as ``text``, ``markdown`` (also ``md``) or ``json``."""
    key = "markdown" if fmt == "md" else fmt
    if key == "text":
        return render_text(plan, color=color)
    renderer = _RENDERERS.get(key)
    if renderer is None:
        raise BadInput(
            f"Unknown report format {fmt!r}.",
            hint=f"Use one of: {', '.join(FORMATS)}.",
        )
    return renderer(plan)
