"""The plan as plain text for a terminal, with ANSI colours on request.

This is the only module that knows about colours. No terminal probing: the
caller says whether it wants colour, so the same plan always renders to the
same bytes."""

from __future__ import annotations

from collections.abc import Mapping

from remediator.domain.base import gc_paused
from remediator.domain.plan import Finding
from remediator.planfile.model import Plan
from remediator.render.common import (
    FUNCTION_STATUSES,
    RISKS,
    WIDTH,
    blast_summary,
    change_summary,
    closing_line,
    evidence_chain,
    findings_by_function,
    function_label,
    function_sections,
    risk_counts,
    share,
    term,
)

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
NARROW = 100  # below this many columns: two-space gaps, shorter headers
_MIN_WIDTH: dict[str, int] = {"Function": 10, "VPC": 12, "Subnets (egress)": 20}


def ellipsize(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters: the middle replaced by an
    ellipsis, so an id keeps its prefix and its distinguishing tail."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    tail = (width - 1) // 2
    return text[: width - 1 - tail] + "…" + (text[-tail:] if tail else "")


def fit_widths(headers: list[str], natural: list[int], width: int, gap: int) -> list[int]:
    """Column widths whose sum (with gaps) is at most ``width`` when the
    columns' minimum widths allow: the Function column folds first (down to
    16, no text lost), then the VPC and subnet columns are cut (ids get a
    middle ellipsis), widest slack first, then the Function column again."""
    widths = list(natural)
    total = sum(widths) + gap * (len(widths) - 1)
    floors = {
        i: max(len(h) if h not in _MIN_WIDTH else 0, _MIN_WIDTH.get(h, natural[i]))
        for i, h in enumerate(headers)
    }
    stages = [({0: max(16, floors[0])}), {i: floors[i] for i in floors if i != 0}, {0: floors[0]}]
    for stage in stages:
        while total > width:
            slack = [(widths[i] - low, -i) for i, low in stage.items() if widths[i] > low]
            if not slack:
                break
            _, neg = max(slack)
            widths[-neg] -= 1
            total -= 1
    return widths


def _functions_table(
    plan: Plan, by_fn: Mapping[tuple[str, str], list[Finding]], color: bool, width: int
) -> list[str]:
    """One row per function, laid out in columns under a rule, subnets one
    per line, the whole at most ``width`` columns (see ``fit_widths``): a
    long function name folds onto more lines, a long id is cut in the
    middle with an ellipsis; the columns always line up. Plain string work,
    no layout engine: a plan of 10,000 functions renders in a fraction of a
    second."""
    multi_region = len(plan.regions) > 1
    narrow = width < NARROW
    headers = ["Function", *(["Region"] if multi_region else []), "Status", "VPC"]
    headers += ["Subnets (egress)", "Share" if narrow else "Share affected"]
    # cells as plain text first: (text, style) per line; egress styled apart
    rows: list[list[list[tuple[str, str, str]]]] = []
    for s in plan.functions:
        cells = [[(term(s.name), "", "")]]
        if multi_region:
            cells.append([(term(s.region), "", "")])
        cells.append([(term(s.status), STATUS_STYLE.get(s.status, ""), "")])
        cells.append([(term(s.vpc_id or "-"), "", "")])
        cells.append(
            [(term(e.subnet_id), "", term(e.egress)) for e in s.subnets] or [("-", "", "")]
        )
        cells.append([(share(s, by_fn.get((s.region, s.name), [])), "", "")])
        rows.append(cells)

    def cell_len(part: tuple[str, str, str]) -> int:
        return len(part[0]) + (1 + len(part[2]) if part[2] else 0)

    natural = [len(h) for h in headers]
    for cells in rows:
        for i, cell in enumerate(cells):
            for part in cell:
                natural[i] = max(natural[i], cell_len(part))
    subnet_parts = [p for cells in rows for p in cells[-2] if p[2]]
    id_max = max((len(p[0]) for p in subnet_parts), default=0)
    egress_max = max((len(p[2]) for p in subnet_parts), default=0)
    gap = "  " if narrow else "   "
    widths = fit_widths(headers, natural, width, len(gap))
    last = len(widths) - 1

    def show(i: int, part: tuple[str, str, str]) -> tuple[int, str]:
        text, style, egress = part
        if egress:
            room = max(1, widths[i] - len(egress) - 1)
            if room < id_max:  # cut: every id to one width, so the egress words line up
                room = max(1, widths[i] - egress_max - 1)
                text = ellipsize(text, room).ljust(room)
            styled = _paint(egress, EGRESS_STYLE.get(egress, ""), color)
            return len(text) + 1 + len(egress), f"{text} {styled}"
        text = ellipsize(text, widths[i])
        return len(text), _paint(text, style, color)

    def layout(row_cells: list[_Cell]) -> list[str]:
        """Cells (each a list of lines) side by side, as output lines."""
        height = max(len(c) for c in row_cells)
        out = []
        for row in range(height):
            parts = []
            for i, cell in enumerate(row_cells):
                w, text = cell[row] if row < len(cell) else (0, "")
                pad = " " * max(0, widths[i] - w)
                parts.append(pad + text if i == last else text + pad)
            out.append(gap.join(parts).rstrip())
        return out

    lines = layout(
        [[(len(h), _paint(ellipsize(h, widths[i]), "bold", color))] for i, h in enumerate(headers)]
    )
    lines.append("\u2500" * (sum(widths) + len(gap) * last))
    fold = widths[0]
    for cells in rows:
        name = cells[0][0][0]
        shown: list[_Cell] = [
            [(len(p), p) for p in (name[i : i + fold] for i in range(0, len(name), fold))]
            or [(0, "")]
        ]
        for i, cell in enumerate(cells[1:], start=1):
            shown.append([show(i, part) for part in cell])
        lines += layout(shown)
    return lines


def render_text(plan: Plan, *, color: bool = False, width: int = WIDTH) -> str:
    """The plan as plain text (ANSI colours only when ``color`` is true),
    its table at most ``width`` columns (``WIDTH`` off a terminal)."""
    with gc_paused():
        return _render_text(plan, color, width)


class _Out:
    """Output lines; a part given as ``(text, style)`` is painted when
    ``color`` is on. Trailing spaces are never written."""

    def __init__(self, color: bool) -> None:
        self.color = color
        self.lines: list[str] = []

    def line(self, *parts: tuple[str, str] | str) -> None:
        """Every part through ``common.term`` (untrusted text is inert), then painted."""
        self.lines.append(
            "".join(
                _paint(term(p[0]), p[1], self.color) if isinstance(p, tuple) else term(p)
                for p in parts
            ).rstrip()
        )

    def blank(self) -> None:
        self.lines.append("")


def _styled(value: str, styles: Mapping[str, str]) -> tuple[str, str]:
    return (value, styles.get(value, ""))


def _render_text(plan: Plan, color: bool, width: int) -> str:
    out = _Out(color)
    by_fn = findings_by_function(plan)
    _header(out, plan)
    if plan.functions:
        out.blank()
        out.lines.extend(_functions_table(plan, by_fn, color, width))
    _findings(out, plan)
    _changes(out, plan)
    _needs_a_person(out, plan)
    out.blank()
    out.line((closing_line(plan), "bold"))
    return "\n".join(out.lines) + "\n"


def _header(out: _Out, plan: Plan) -> None:
    line = out.line
    line(("Remediation plan ", "bold"), (plan.plan_id, "bold"))
    line(f"account {plan.account_id} ({plan.partition})   regions {', '.join(plan.regions) or '-'}")
    statuses = [f.status for f in plan.functions]
    fn_counts = ", ".join(
        f"{statuses.count(s)} {s}" for s in FUNCTION_STATUSES if statuses.count(s)
    )
    line(f"functions {len(plan.functions)}" + (f": {fn_counts}" if fn_counts else ""))
    f_statuses = [f.status for f in plan.findings]
    f_counts = ", ".join(
        f"{f_statuses.count(s)} {s}"
        for s in ("open", "planned", "blocked", "deferred", "info")
        if f_statuses.count(s)
    )
    line(f"findings {len(plan.findings)}" + (f": {f_counts}" if f_counts else ""))
    rc = risk_counts(plan.changes)
    line(
        f"changes {len(plan.changes)}"
        + (": " + ", ".join(f"{rc[r]} {r}" for r in RISKS) if plan.changes else "")
    )


def _findings(out: _Out, plan: Plan) -> None:
    """The findings of each function, with their evidence chains."""
    line = out.line
    sections = function_sections(plan)
    if sections:
        out.blank()
        line(("Findings", "bold"))
    for region, name, summary, findings in sections:
        out.blank()
        status = summary.status if summary else "unknown"
        line(
            (function_label(region, name, plan), "bold"),
            "  ",
            _styled(status, STATUS_STYLE),
            f"  {summary.vpc_id}" if summary and summary.vpc_id else "",
        )
        if summary and summary.exempt_reason:
            line(f"  exempt: {summary.exempt_reason}")
        if summary and summary.owner is not None:
            line(
                f"  owner: {summary.owner.describe()} (the fix goes into it too: remediate iac-patch)"
            )
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
                    _styled(e.egress, EGRESS_STYLE),
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


def _changes(out: _Out, plan: Plan) -> None:
    if not plan.changes:
        return
    line = out.line
    multi_region = len(plan.regions) > 1
    out.blank()
    line(("Changes", "bold"), f" ({len(plan.changes)}, in apply order)")
    for i, c in enumerate(plan.changes, start=1):
        out.blank()
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


def _needs_a_person(out: _Out, plan: Plan) -> None:
    """Blocked and deferred findings."""
    line = out.line
    blocked = [f for f in plan.findings if f.status == "blocked"]
    if blocked:
        out.blank()
        line(("Blocked", "bold"), " (needs a person)")
        for f in blocked:
            line(f"  {f.function}:{f.qualifier}  {f.code}  {f.id}")
            line(f"    manual step: {f.manual_step or 'see the finding detail'}")
    deferred = [f for f in plan.findings if f.status == "deferred"]
    if deferred:
        out.blank()
        line(("Deferred", "bold"), " (over the change cap; plan again after applying)")
        for f in deferred:
            line(f"  {f.function}:{f.qualifier}  {f.code}  {f.id}")
