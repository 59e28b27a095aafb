"""Owned functions in the Markdown review: the owner line per group, and
the template patches section (untrusted names and diffs rendered inert)."""

from __future__ import annotations

from remediator.domain.owner import CFN_LOGICAL_ID, CFN_STACK_NAME
from remediator.domain.policy import default_policy
from remediator.planfile.model import Plan
from remediator.planner import build_plan
from remediator.render.iac import iac_section
from remediator.render.markdown import render_markdown
from remediator.render.text import render_text
from tests import factories as fx

A = "a"
P, N = fx.pub, fx.natsub


def _plan(*tags: dict[str, str] | None) -> Plan:
    fns = [
        fx.function(f"fn-{i}", [P(A, "a"), N(A, "b"), N(A, "c")], tags=t)
        for i, t in enumerate(tags)
    ]
    return build_plan(fx.inventory(fx.vpc_world(A, "abc", functions=fns)), default_policy(), fx.NOW)


def _review(*tags: dict[str, str] | None) -> str:
    return render_markdown(_plan(*tags))


def _cfn(stack: str, logical: str) -> dict[str, str]:
    return {CFN_STACK_NAME: stack, CFN_LOGICAL_ID: logical}


def test_one_owned_function_shows_its_stack_and_logical_id() -> None:
    text = _review(_cfn("orders", "OrdersFn"))
    assert "Owner: CloudFormation stack `orders`, logical id `OrdersFn`" in text
    assert "REVERT\\_DRIFT" in text or "REVERT_DRIFT" in text


def test_owned_functions_group_apart_from_unowned_ones_and_list_their_owners() -> None:
    text = _review(_cfn("orders", "A"), _cfn("billing", "B"), None)
    assert "Owners: `fn-0`: CloudFormation stack `orders`, logical id `A`; `fn-1`: " in text
    assert "CloudFormation stack `billing`, logical id `B`" in text
    # the unowned function is its own group, with no owner line
    section = text.split("`fn-2`")[1].split("## ")[0]
    assert "Owner" not in section


def test_unowned_reviews_have_no_owner_lines() -> None:
    assert "Owner" not in _review(None, None)


def test_patch_section_renders_untrusted_text_inert() -> None:
    index = {
        "plan_id": "plan-1",
        "stacks": [
            {
                "stack": "<img src=x>",
                "region": "us-east-1",
                "files": ["x.diff"],
                "functions": [
                    {
                        "function": "fn`1",
                        "logical_id": "Fn",
                        "result": "manual",
                        "where": "line 3 | column 4",
                        "export": "net-*Subnets*",
                        "notes": ["# not a heading [link](http://evil)"],
                    }
                ],
            }
        ],
        "terraform": [],
    }
    diff = "--- a/x\n+++ b/x\n-      - subnet-1\n+```\n+\x1b[31mred\n"
    text = iac_section(index, {"x.diff": diff})
    assert "<img" not in text.replace("`<img src=x>`", "")
    assert "````diff" in text  # longer than the backtick run inside
    assert "\x1b" not in text
    assert "Export to change: `net-*Subnets*`" in text
    assert "\\[link\\]" in text and "- \\# not a heading" in text
    assert iac_section({"stacks": [], "terraform": []}, {}) == ""


def _text(*tags: dict[str, str] | None) -> str:
    return render_text(_plan(*tags))


def test_the_text_report_names_the_owner_of_each_owned_function() -> None:
    text = _text(_cfn("orders", "OrdersFn"), None)
    findings = text.split("\nFindings\n")[1].split("\nChanges")[0]
    owned, unowned = findings.split("\nfn-1  ")
    assert "owner: CloudFormation stack 'orders', logical id 'OrdersFn'" in owned
    assert "remediate iac-patch" in owned
    assert "owner:" not in unowned


def test_an_owner_from_hostile_tags_reaches_the_terminal_inert() -> None:
    text = _text(_cfn("orders\x1b]52;c;ZXZpbA==\x07\x1b[2J", "Fn\nforged: line"))
    owner = next(line for line in text.splitlines() if line.strip().startswith("owner:"))
    assert "\x1b" not in text and "\x07" not in text
    assert "forged: line" in owner  # the newline did not start a line of its own
