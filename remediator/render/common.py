"""What the text and Markdown reports share: counts, the closing line, the
per-function sections, evidence chains and one-line change summaries, and the
one sanitiser per medium (``term``, ``md_text``/``md_code``/``md_cell``,
``mermaid_label``, ``plain``) every string from AWS or a plan file goes
through before it reaches a reader. Pure functions of the plan."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from remediator.changes import lambda_vpc_config
from remediator.changes.registry import Change
from remediator.domain.findings import NO_EGRESS, PROBLEM_STATUSES, SEVERITY_ORDER
from remediator.domain.plan import (
    Finding,
    FunctionStatus,
    FunctionSummary,
    SubnetEgress,
    WorkloadInterface,
)
from remediator.planfile.model import Plan

WIDTH = 120  # the text report's width off a terminal (files, pipes): stable
BLAST_NAMES_MAX = 10  # function names a blast radius lists before "and N more"
RISKS: tuple[str, ...] = ("low", "medium", "high")
FUNCTION_STATUSES: tuple[FunctionStatus, ...] = (
    "affected",
    "healthy",
    "exempt",
    "not-in-vpc",
    "egress-unknown",
)

Section = tuple[str, str, FunctionSummary | None, list[Finding]]

# --------------------------------------------------------------------------- sanitisers
#
# A function name, a tag, a reason or an id may come from AWS or from a plan
# file someone else wrote: it is data, never markup or a terminal command.
# Each medium has exactly one function here; renderers call it on every such
# string (tests/unit/test_hostile.py runs hostile strings through each one).

# ESC-introduced sequences: CSI (ESC [ ... final byte), OSC (ESC ] ... BEL or
# ST, OSC 52 included), DCS/SOS/PM/APC (ESC P/X/^/_ ... ST) and two-byte
# escapes; then the 8-bit forms (C1 CSI 0x9b, OSC 0x9d, DCS 0x90, ...).
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"
    r"|\x1b[\]PX^_][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
    r"|\x9b[0-?]*[ -/]*[@-~]?"
    r"|[\x90\x98\x9d\x9e\x9f][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
)
# What is left of C0, DEL and C1, then the bidirectional overrides,
# embeddings, isolates and marks (Trojan Source), zero-width and BOM.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_WHITESPACE_CONTROLS = re.compile("[\t\n\r\x0b\x0c]+")


def term(value: object) -> str:
    """Inert text for a terminal: escape sequences removed, newlines and
    tabs as one space, every other control, bidi and zero-width character
    removed. One line, whatever the input."""
    text = "" if value is None else str(value)
    if text.isprintable():  # no control, format (bidi) or separator character: as it is
        return text
    text = _ESCAPES.sub("", text)
    text = _WHITESPACE_CONTROLS.sub(" ", text)
    return _CONTROLS.sub("", text)


plain = term  # JSON/ASFF values: the same inert one-line text (JSON escapes the rest)

# An underscore inside a word (``network_load_balancer``) can neither open
# nor close emphasis in GFM, so only the others are escaped.
_MD_META = re.compile(r"([\\`*\[\]|~<>$&]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")
# GitHub links ``@name`` (a mention that notifies) and ``#123`` (an issue)
# in text after Markdown is parsed, so a backslash does not stop them: a
# zero-width space after the sign does. Bare URLs become links (GFM
# autolinks) unless their ``://`` or ``www.`` is broken by an escape.
_MD_REFS = re.compile(r"([@#])(?=\w)")
_MD_AUTOLINK = re.compile(r"(?i)(?<=[a-z0-9])(:)(?=//)|(?<=\bwww)(\.)")
# A block marker at the very start (heading, list, quote, rule, numbered list).
_MD_LEADING = re.compile(r"^(\s*(?:\d+(?=[.)]))?)([.)#+=-])")


def md_text(value: object, *, line_start: bool = False) -> str:
    """Inert Markdown inline text (table cells, list items, headings): the
    Markdown and HTML metacharacters backslash-escaped (``$`` too, so
    GitHub's ``$…$`` math never takes ``$LATEST``), so no emphasis, link,
    autolink, mention, raw HTML, entity or table break can form; with
    ``line_start`` (text that opens a list item's line), no block marker
    (``#``, ``-``, ``1.``) either."""
    text = _MD_META.sub(r"\\\1", term(value))
    text = _MD_AUTOLINK.sub(lambda m: "\\" + (m.group(1) or m.group(2)), text)
    if line_start:
        text = _MD_LEADING.sub(r"\1\\\2", text)
    return _MD_REFS.sub("\\1\u200b", text)


def md_code(value: object) -> str:
    """A Markdown code span holding ``value`` literally: fenced with more
    backticks than any run inside it, padded when it starts or ends with
    one; pipes escaped so a table cell stays one cell (GFM removes that
    backslash inside a table)."""
    text = term(value).replace("|", "\\|")
    if not text.strip():
        return "-"
    runs = [len(r) for r in re.findall(r"`+", text)]
    fence = "`" * (max(runs, default=0) + 1)
    if text.startswith("`") or text.endswith("`"):
        text = f" {text} "
    return f"{fence}{text}{fence}"


def md_cell(markdown: str) -> str:
    """A table cell from Markdown this package built (its untrusted parts
    already through ``md_text``/``md_code``): unescaped pipes escaped, never
    empty."""
    return re.sub(r"(?<!\\)\|", r"\\|", markdown) or " "


_MERMAID_SAFE = re.compile(r"[A-Za-z0-9 _.,/@+=*'\u00b7\u03bb-]")
MERMAID_LABEL_MAX = 80


def mermaid_label(value: object, limit: int = MERMAID_LABEL_MAX) -> str:
    """Text for inside a quoted Mermaid label (node or edge): letters,
    digits and a few inert punctuation marks as they are; every other
    character as a Mermaid entity code (``#60;``), so no quote, bracket,
    pipe, ``-->``, ``%%``, ``;`` or newline can end the label or start a
    statement (``click``, ``style``), and Mermaid shows it as the character.
    Long text is cut at ``limit`` characters with an ellipsis."""
    text = term(value).strip()
    if len(text) > limit:
        text = text[: limit - 1] + "\u2026"
    return "".join(ch if _MERMAID_SAFE.fullmatch(ch) else f"#{ord(ch)};" for ch in text)


def cap_names(names: Iterable[str], limit: int, wrap: Any = str) -> str:
    """``a, b, c and 12 more``: at most ``limit`` names, each through ``wrap``."""
    items = list(names)
    shown = ", ".join(wrap(n) for n in items[:limit])
    if len(items) > limit:
        shown += f" and {len(items) - limit} more"
    return shown


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def risk_counts(changes: Iterable[Change]) -> dict[str, int]:
    counts = dict.fromkeys(RISKS, 0)
    for c in changes:
        counts[c.risk] = counts.get(c.risk, 0) + 1
    return counts


def closing_line(plan: Plan) -> str:
    """Terraform-style last line: the counts a reviewer reads first."""
    problems = [f for f in plan.findings if f.status in PROBLEM_STATUSES]
    if not plan.changes and not problems:
        return "No changes. Every function's egress matches the policy."
    counts = risk_counts(plan.changes)
    risks = ", ".join(f"{counts[r]} {r}" for r in RISKS)
    blocked = sum(1 for f in plan.findings if f.status == "blocked")
    deferred = sum(1 for f in plan.findings if f.status == "deferred")
    line = (
        f"Plan: {plural(len(plan.changes), 'change')} ({risks}), "
        f"{plural(blocked, 'finding')} blocked"
    )
    open_ = sum(1 for f in plan.findings if f.status == "open")
    if deferred:
        line += f", {deferred} deferred"
    if open_:
        line += f", {open_} open"
    return line + "."


def share(summary: FunctionSummary, findings: list[Finding]) -> str:
    if summary.status in ("exempt", "not-in-vpc"):
        return "-"
    shares = [f.affected_share for f in findings if f.status in PROBLEM_STATUSES]
    if shares:
        return f"{max(shares):.0%}"
    if summary.subnets:
        bad = sum(1 for s in summary.subnets if s.egress in NO_EGRESS)
        return f"{bad / len(summary.subnets):.0%}"
    return "-"


def findings_by_function(plan: Plan) -> dict[tuple[str, str], list[Finding]]:
    out: dict[tuple[str, str], list[Finding]] = {}
    for f in plan.findings:
        out.setdefault((f.region, f.function), []).append(f)
    for items in out.values():
        items.sort(key=lambda f: (SEVERITY_ORDER.get(f.severity, 9), f.qualifier, f.code, f.id))
    return out


def function_sections(plan: Plan) -> list[Section]:
    """(region, function, summary, findings) for every function with
    findings, in the plan's function order, then any finding whose function
    has no summary."""
    by_fn = findings_by_function(plan)
    out: list[Section] = []
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


def route_hop(e: SubnetEgress) -> str:
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
    parts.append(route_hop(e))
    if e.target_state:
        parts.append(e.target_state)
    return " -> ".join(parts)


def fmt_value(v: Any) -> str:
    if isinstance(v, list | tuple):
        return "[" + ", ".join(fmt_value(i) for i in v) + "]"
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True, separators=(",", ":"))
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def kv(d: Mapping[str, Any] | None) -> str:
    if d is None:
        return "(none)"
    if not d:
        return "{}"
    return " ".join(f"{k}={fmt_value(d[k])}" for k in sorted(d))


def change_summary(change: Change) -> str:
    """A one-line before -> after. For VPC config updates, the subnet and
    security group lists with what is removed and added."""
    before = None if change.before is None else change.before.as_json()
    after = change.after.as_json()
    if change.kind == lambda_vpc_config.NAME:
        parts: list[str] = []
        for key in ("SubnetIds", "SecurityGroupIds"):
            old = list((before or {}).get(key, []) or [])
            new = list(after.get(key, []) or [])
            if key not in after and before is not None:
                continue
            if old == new:
                parts.append(f"{key} unchanged {fmt_value(new)}")
                continue
            delta = [f"-{i}" for i in old if i not in new] + [f"+{i}" for i in new if i not in old]
            text = f"{key} {fmt_value(old)} -> {fmt_value(new)}"
            if delta:
                text += f" ({', '.join(delta)})"
            parts.append(text)
        extra = {k: v for k, v in after.items() if k not in ("SubnetIds", "SecurityGroupIds")}
        if extra:
            parts.append(kv(extra))
        return "; ".join(parts)
    return f"{kv(before)} -> {kv(after)}"


def blast_summary(change: Change) -> str:
    b = change.blast_radius
    parts: list[str] = []
    if b.route_tables:
        parts.append("route tables " + ", ".join(b.route_tables))
    if b.subnet_ids:
        parts.append("subnets " + ", ".join(b.subnet_ids))
    if b.functions:
        parts.append("functions " + cap_names(b.functions, BLAST_NAMES_MAX))
    if b.note:
        parts.append(b.note)
    if b.network_interfaces or b.lambda_interfaces:
        parts.append(interfaces_summary(b.network_interfaces, b.lambda_interfaces))
    return "; ".join(parts) if parts else "only the target"


INTERFACES_SHOWN = 10


def interfaces_summary(enis: Sequence[WorkloadInterface], lambdas: int) -> str:
    """``workloads gaining egress: eni-1 (instance i-1), eni-2 (nat_gateway); 3
    Lambda ENIs``: the first ``INTERFACES_SHOWN`` interfaces, then a count."""
    shown = [
        f"{e.network_interface_id} ({'instance ' + e.instance_id if e.instance_id else e.interface_type})"
        for e in enis[:INTERFACES_SHOWN]
    ]
    if len(enis) > INTERFACES_SHOWN:
        shown.append(f"and {len(enis) - INTERFACES_SHOWN} more")
    if not shown:
        shown.append("no instance or other service")
    if lambdas:
        shown.append(plural(lambdas, "Lambda ENI"))
    return "workloads gaining egress: " + ", ".join(shown)


def function_label(region: str, name: str, plan: Plan) -> str:
    return f"{name} ({region})" if len(plan.regions) > 1 else name
