"""The report renders plans for people: text, Markdown (with Mermaid) and JSON."""

from __future__ import annotations

import re
from typing import Any

import pytest

from remediator.changes import registry
from remediator.changes.registry import Change
from remediator.domain.errors import BadInput
from remediator.domain.plan import BlastRadius, Finding, Fingerprint, FunctionSummary, SubnetEgress
from remediator.planfile.model import Plan, PlanSummary
from remediator.render import report

REGION = "us-east-1"
VPC = "vpc-0shop"
ARN = "arn:aws:lambda:us-east-1:123456789012:function:"

PUBLIC_A = SubnetEgress(
    subnet_id="subnet-0pub1a",
    vpc_id=VPC,
    availability_zone="us-east-1a",
    route_table_id="rtb-0public",
    association="explicit",
    route="0.0.0.0/0 -> igw-0shop",
    target="igw-0shop",
    target_state="attached",
    egress="public",
    detail="default route to an internet gateway: Lambda ENIs have no public IP here",
)
PRIVATE_A = SubnetEgress(
    subnet_id="subnet-0prv1a",
    vpc_id=VPC,
    availability_zone="us-east-1a",
    route_table_id="rtb-0priva",
    association="explicit",
    route="0.0.0.0/0 -> nat-0shop",
    target="nat-0shop",
    target_state="available",
    egress="nat",
    detail="NAT gateway in public subnet subnet-0pub1a",
)
PRIVATE_B = PRIVATE_A.model_copy(
    update={
        "subnet_id": "subnet-0prv1b",
        "availability_zone": "us-east-1b",
        "route_table_id": "rtb-0privb",
    }
)
ISOLATED_C = SubnetEgress(
    subnet_id="subnet-0iso1c",
    vpc_id=VPC,
    availability_zone="us-east-1c",
    route_table_id="rtb-0isoc",
    association="main",
    egress="isolated",
    detail="no 0.0.0.0/0 route",
)


def make_change(**fields: Any) -> Change:
    """A typed change of any kind (``before``/``after`` given as plain dicts)."""
    return registry.build(fields)


def _plan(
    functions: tuple[FunctionSummary, ...] = (),
    findings: tuple[Finding, ...] = (),
    changes: tuple[Change, ...] = (),
) -> Plan:
    return Plan(
        plan_id="plan-0123456789",
        created_at="2025-01-01T00:00:00Z",
        tool_version="0.1.0",
        account_id="123456789012",
        regions=(REGION,),
        policy_digest="sha256:policy",
        summary=PlanSummary(functions=len(functions), changes=len(changes)),
        functions=functions,
        findings=findings,
        changes=changes,
        digest="sha256:abc123",
    )


def _seed_case_plan() -> Plan:
    """orders-api (mixed) planned, ledger-sync (isolated) blocked, two healthy/other."""
    mixed = Finding(
        id="f-mixed",
        region=REGION,
        function="orders-api",
        function_arn=ARN + "orders-api",
        code="public-subnets-mixed",
        severity="high",
        title="Some subnets are public: calls leaving the VPC hang intermittently",
        detail="1 of 3 subnets route 0.0.0.0/0 to an internet gateway.",
        subnet_ids=(PUBLIC_A.subnet_id,),
        affected_share=0.333,
        evidence=(PUBLIC_A,),
        status="planned",
        fixed_by=("c-subnets",),
    )
    isolated = Finding(
        id="f-iso",
        region=REGION,
        function="ledger-sync",
        function_arn=ARN + "ledger-sync",
        code="isolated-no-endpoint",
        severity="high",
        title="Isolated subnets and no usable Lambda endpoint",
        detail="1 of 1 subnets have no default route.",
        subnet_ids=(ISOLATED_C.subnet_id,),
        affected_share=1.0,
        evidence=(ISOLATED_C,),
        status="blocked",
        manual_step="Create a Lambda interface endpoint in vpc-0shop or add a NAT route.",
    )
    change_subnets = make_change(
        id="c-subnets",
        kind="lambda.update-vpc-config",
        region=REGION,
        target="orders-api",
        before={
            "SubnetIds": ["subnet-0pub1a", "subnet-0prv1a", "subnet-0prv1b"],
            "SecurityGroupIds": ["sg-0fn"],
        },
        after={"SubnetIds": ["subnet-0prv1a", "subnet-0prv1b"], "SecurityGroupIds": ["sg-0fn"]},
        depends_on=("c-route",),
        risk="low",
        reason="Drop the public subnet; the private ones reach the internet through a NAT.",
        blast_radius=BlastRadius(functions=("orders-api",)),
        fingerprint=Fingerprint(revision_id="rev-1", state_hash="sha256:x"),
        fixes=("f-mixed",),
    )
    change_route = make_change(
        id="c-route",
        kind="ec2.put-nat-route",
        region=REGION,
        target="rtb-0privb",
        before=None,
        after={"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-0shop"},
        risk="medium",
        reason="Make sure private-b's default route goes to the NAT.",
        blast_radius=BlastRadius(
            route_tables=("rtb-0privb",),
            subnet_ids=("subnet-0prv1b",),
            functions=("orders-api", "orders-fulfil"),
        ),
        fingerprint=Fingerprint(state_hash="sha256:y"),
        fixes=("f-mixed",),
    )
    functions = (
        FunctionSummary(
            region=REGION,
            name="orders-api",
            arn=ARN + "orders-api",
            status="affected",
            vpc_id=VPC,
            subnets=(PRIVATE_A, PRIVATE_B, PUBLIC_A),
            availability_zones=("us-east-1a", "us-east-1b"),
            finding_ids=("f-mixed",),
        ),
        FunctionSummary(
            region=REGION,
            name="ledger-sync",
            arn=ARN + "ledger-sync",
            status="affected",
            vpc_id=VPC,
            subnets=(ISOLATED_C,),
            availability_zones=("us-east-1c",),
            finding_ids=("f-iso",),
        ),
        FunctionSummary(
            region=REGION,
            name="db-migrator",
            arn=ARN + "db-migrator",
            status="exempt",
            vpc_id=VPC,
            subnets=(PUBLIC_A,),
            exempt_reason="tag remediator:exempt=true",
        ),
        FunctionSummary(
            region=REGION, name="thumbnailer", arn=ARN + "thumbnailer", status="not-in-vpc"
        ),
    )
    return _plan(functions, (mixed, isolated), (change_route, change_subnets))


def test_text_names_functions_codes_evidence_and_counts() -> None:
    text = report.render_text(_seed_case_plan())

    for name in ("orders-api", "ledger-sync", "db-migrator", "thumbnailer"):
        assert name in text
    assert "public-subnets-mixed" in text
    assert "isolated-no-endpoint" in text
    assert "0.0.0.0/0 -> igw-0shop" in text
    assert "subnet-0pub1a [us-east-1a] -> rtb-0public (explicit) -> 0.0.0.0/0 -> igw-0shop" in text
    assert "rtb-0isoc (main) -> no default route" in text
    assert "Create a Lambda interface endpoint in vpc-0shop" in text  # manual step
    assert "-subnet-0pub1a" in text  # what the subnet change removes
    assert text.rstrip().endswith("Plan: 2 changes (1 low, 1 medium, 0 high), 1 finding blocked.")
    assert "\x1b[" not in text


def test_text_lists_changes_in_plan_order_with_dependencies() -> None:
    text = report.render_text(_seed_case_plan())
    first, second = text.index("1. c-route"), text.index("2. c-subnets")
    assert first < second
    assert "depends on: c-route" in text
    assert "functions orders-api, orders-fulfil" in text  # blast radius


def test_text_colour_only_when_asked() -> None:
    plan = _seed_case_plan()
    assert "\x1b[" in report.render_text(plan, color=True)
    assert report.render_text(plan) == report.render_text(plan)


def test_markdown_has_mermaid_with_broken_edges_and_changes_table() -> None:
    md = report.render_markdown(_seed_case_plan())

    blocks = re.findall(r"```mermaid\n(.*?)```", md, flags=re.S)
    assert len(blocks) == 2  # one per function with findings
    orders = blocks[0]
    assert orders.startswith("flowchart LR\n")
    assert "-.->|broken|" in orders
    assert "classDef bad" in orders
    # Node ids are sanitised: the AWS ids only appear inside quoted labels.
    for node_id in re.findall(r"^\s+(\S+?)[\[(]", orders, flags=re.M):
        assert re.fullmatch(r"n\d+", node_id)
    assert re.search(r"^\s+n\d+ -.->\|broken\| n\d+$", orders, flags=re.M)
    # The isolated subnet's table has no default route: a broken edge too.
    assert "no default route" in blocks[1] and "-.->|broken|" in blocks[1]

    assert "| # | Id | Kind | Target | Risk |" in md
    assert "| 1 | `c-route` | `ec2.put-nat-route` | `rtb-0privb` | medium |" in md
    assert "## Blocked: needs a person" in md
    assert "sha256:abc123" in md and "remediator 0.1.0" in md


def test_markdown_healthy_nat_path_is_not_broken() -> None:
    finding = Finding(
        id="f-az",
        region=REGION,
        function="orders-fulfil",
        function_arn=ARN + "orders-fulfil",
        code="az-count-below-minimum",
        severity="low",
        title="Fewer Availability Zones than the policy minimum",
        detail="subnets span 1 Availability Zone(s)",
        evidence=(PRIVATE_A,),
        status="info",
    )
    summary = FunctionSummary(
        region=REGION,
        name="orders-fulfil",
        arn=ARN + "orders-fulfil",
        status="healthy",
        vpc_id=VPC,
        subnets=(PRIVATE_A,),
    )
    md = report.render_markdown(_plan((summary,), (finding,)))
    block = re.findall(r"```mermaid\n(.*?)```", md, flags=re.S)[0]
    assert "broken" not in block
    assert '-->|"0.0.0.0/0"|' in block
    assert "classDef ok" in block


def test_json_round_trips() -> None:
    plan = _seed_case_plan()
    text = report.render_json(plan)
    assert text.endswith("}\n")
    assert Plan.model_validate_json(text) == plan
    assert report.render(plan, "json") == text


def test_empty_plan_says_no_changes() -> None:
    plan = _plan()
    text = report.render_text(plan)
    assert "No changes. Every function's egress matches the policy." in text
    assert "No changes" in report.render_markdown(plan)


def test_only_blocked_findings_is_not_no_changes() -> None:
    plan = _seed_case_plan()
    plan = plan.model_copy(update={"changes": (), "findings": plan.findings[1:]})
    line = report.closing_line(plan)
    assert line == "Plan: 0 changes (0 low, 0 medium, 0 high), 1 finding blocked."
    undecided = plan.findings[0].model_copy(update={"status": "open"})
    line = report.closing_line(plan.model_copy(update={"findings": (undecided,)}))
    assert line == "Plan: 0 changes (0 low, 0 medium, 0 high), 0 findings blocked, 1 open."


@pytest.mark.parametrize("fmt", ["text", "markdown", "md", "json"])
def test_render_dispatches(fmt: str) -> None:
    assert report.render(_seed_case_plan(), fmt).endswith("\n")


@pytest.mark.parametrize("fmt", ["html", "", "TEXT"])
def test_unknown_format_is_bad_input(fmt: str) -> None:
    with pytest.raises(BadInput, match="Unknown report format"):
        report.render(_seed_case_plan(), fmt)


@pytest.mark.parametrize(
    ("kind", "before", "after", "expected"),
    [
        (
            "ec2.put-nat-route",
            None,
            {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-1"},
            "(none) -> DestinationCidrBlock=0.0.0.0/0 NatGatewayId=nat-1",
        ),
        (
            "ec2.enable-vpc-dns",
            {"EnableDnsSupport": True, "EnableDnsHostnames": False},
            {"EnableDnsSupport": True, "EnableDnsHostnames": True},
            "EnableDnsHostnames=false EnableDnsSupport=true -> EnableDnsHostnames=true EnableDnsSupport=true",
        ),
        (
            "ec2.create-endpoint-security-group",
            None,
            {
                "GroupName": "g",
                "Description": "d",
                "VpcId": "vpc-1",
                "IngressTcp443FromGroups": ["sg-1", "sg-2"],
            },
            "(none) -> Description=d GroupName=g IngressTcp443FromGroups=[sg-1, sg-2] VpcId=vpc-1",
        ),
    ],
)
def test_other_kinds_show_key_values(
    kind: str, before: dict[str, object] | None, after: dict[str, object], expected: str
) -> None:
    change = make_change(
        id="c",
        kind=kind,
        region=REGION,
        target="vpc-1",
        before=before,
        after=after,
        risk="low",
        reason="r",
        fingerprint=Fingerprint(state_hash="h"),
    )
    assert report.change_summary(change) == expected


def test_text_table_folds_long_names_to_the_width_and_colour_only_adds_codes() -> None:
    plan = _seed_case_plan()
    long_name = "n" * 64
    first = plan.functions[0].model_copy(update={"name": long_name})
    plan = plan.model_copy(
        update={"functions": (first, *plan.functions[1:]), "regions": (REGION, "eu-west-1")}
    )
    text = report.render_text(plan)
    table = text.split("\n\n")[1].splitlines()
    assert table[0].split() == [
        "Function",
        "Region",
        "Status",
        "VPC",
        "Subnets",
        "(egress)",
        "Share",
        "affected",
    ]
    assert set(table[1]) == {"\u2500"} and len(table[1]) <= report.WIDTH
    assert all(len(row) <= report.WIDTH for row in table)
    folded = [row.split()[0] for row in table[2:] if row.startswith("n")]
    assert "".join(folded) == long_name and len(folded) > 1
    coloured = report.render_text(plan, color=True)
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == text
    assert "\x1b[1;31maffected\x1b[0m" in coloured


def test_functions_with_the_same_problem_share_one_row_and_one_diagram() -> None:
    from remediator.planner import build_plan
    from tests import factories as fx

    world = fx.vpc_world(
        "a",
        "ab",
        functions=[
            *(fx.function(f"twin-{i}", [fx.pub("a", "a"), fx.natsub("a", "a")]) for i in range(3)),
            fx.function("other", [fx.iso("a", "a")]),
        ],
    )
    plan = build_plan(fx.inventory(world), fx.policy(), fx.NOW)
    md = report.render_markdown(plan)
    problems = md.split("## Problems", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in problems.splitlines() if re.match(r"^\| \d+ \|", line)]
    assert len(rows) == 2
    assert (
        "3: `twin-0`, `twin-1`, `twin-2`" in rows[1] or "3: `twin-0`, `twin-1`, `twin-2`" in rows[0]
    )
    assert md.count("```mermaid") == 2
    assert "λ twin-0 +2 more" in md
    assert "## 2. `twin-0` and 2 more — affected" in md or "## 1. `twin-0` and 2 more" in md


def test_dollar_signs_in_prose_are_escaped_for_github_math() -> None:
    seed = _seed_case_plan()
    detail = "alias 'live' runs version 1; $LATEST is broken too (costs $5 or $6)"
    findings = tuple(f.model_copy(update={"detail": detail}) for f in seed.findings)
    md = report.render_markdown(seed.model_copy(update={"findings": findings}))
    assert "\\$LATEST is broken too (costs \\$5 or \\$6)" in md
    prose = re.sub(r"```mermaid\n.*?```", "", md, flags=re.S)
    prose = re.sub(r"(`+).*?\1", "", prose)
    assert "$" not in prose.replace("\\$", "")
