"""Reviews that survive fleet size: the Markdown report groups functions
that share a diagnosis and fix and fits a GitHub comment at 5,000
functions; the text table fits the terminal's width."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from remediator.render import markdown as md
from remediator.render import text
from remediator.render.groups import problem_groups
from remediator.run.artifacts import write_markdown
from tests.fleet import fleet_plan


def _quoted_spans(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"`([^`\n]+)`", text))


_SPANS: dict[int, tuple[str, frozenset[str]]] = {}


def _quoted_in(name: str, text: str) -> bool:
    """``f"`{name}`" in text``: the same answer, looked up first among the
    text's backquoted spans (one pass over a 5,000-function report instead of
    one per name); a name not among them is searched for as before."""
    cached = _SPANS.get(id(text))
    if cached is None or cached[0] is not text:
        cached = _SPANS[id(text)] = (text, _quoted_spans(text))
    return name in cached[1] or f"`{name}`" in text


def test_markdown_at_5000_functions_fits_a_comment_and_keeps_every_problem() -> None:
    plan = fleet_plan(5000)
    report = md.render_markdown(plan)
    assert len(report) <= md.LIMIT
    groups = problem_groups(plan)
    assert 10 < len(groups) < 200  # grows with distinct problems, not functions
    assert sum(len(g.members) for g in groups) == len(
        {(f.region, f.function) for f in plan.findings}
    )
    problems = report.split("## Problems", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in problems.splitlines() if re.match(r"^\| \d+ \|", line)]
    assert len(rows) == len(groups)
    for group in groups:
        assert f"`{group.names[0]}`" in problems
    assert md.LEFT_OUT_MARK in report
    assert "--detail full" in report
    assert report.index("## Summary") < report.index("## Problems")
    full = md.render_markdown(plan, detail="full")
    assert md.LEFT_OUT_MARK not in full
    assert all(_quoted_in(s.name, full) for s in plan.functions)
    assert all(_quoted_in(f.id, full) for f in plan.findings)  # every finding, not one per group
    assert full.count("```mermaid") == len({(f.region, f.function) for f in plan.findings})


def test_a_small_plan_leaves_nothing_out() -> None:
    report = md.render_markdown(fleet_plan(10))
    assert md.LEFT_OUT_MARK not in report and "## Functions\n" in report
    assert report.count("```mermaid") == len(problem_groups(fleet_plan(10)))


@pytest.mark.parametrize("width", [80, 120])
def test_text_table_fits_the_width_and_keeps_its_columns(width: int) -> None:
    plan = fleet_plan(10)
    out = text.render_text(plan, width=width).splitlines()
    start = next(i for i, line in enumerate(out) if line.startswith("Function"))
    rule = out[start + 1]
    assert set(rule) == {"\u2500"} and len(rule) <= width
    table = out[start : start + 2 + sum(max(1, len(s.subnets)) for s in plan.functions)]
    assert all(len(line) <= width for line in table)
    # the Status column starts at the same place on every row that has one
    col = out[start].index("Status")
    for line in table[2:]:
        if line[:col].strip():
            assert line[col - 1] == " " and line[col] != " "


def test_ellipsis_keeps_head_and_tail() -> None:
    assert (
        text.ellipsize("subnet-0123456789abcdef0", 12) == "subnet…bcdef0"[:6] + "…" + "bcdef0"[-5:]
    )
    assert text.ellipsize("short", 12) == "short"


def test_the_full_report_is_written_beside_only_when_needed(tmp_path: Path) -> None:
    path = tmp_path / "plan.md"
    extra = "\n## Unattended run\n\n```text\nok\n```\n"
    written = write_markdown(path, fleet_plan(5000), extra=extra)
    assert written == [path, tmp_path / "plan.full.md"]
    text = path.read_text()
    assert len(text) <= md.LIMIT and text.endswith(extra)
    assert "`plan.full.md` beside this report" in text
    assert md.LEFT_OUT_MARK not in (tmp_path / "plan.full.md").read_text()
    assert write_markdown(path, fleet_plan(10)) == [path]
    assert not (tmp_path / "plan.full.md").exists()
