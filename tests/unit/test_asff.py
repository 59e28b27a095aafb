"""ASFF export: one Security Hub finding per affected function, with the
fields Security Hub requires, deterministic, built from the plan alone."""

from __future__ import annotations

import json

import pytest

from remediator.planfile.model import Plan
from remediator.planner import build_plan
from remediator.render import asff
from tests import factories as fx

ACCOUNT = fx.ACCOUNT
REQUIRED = {
    "SchemaVersion",
    "Id",
    "ProductArn",
    "GeneratorId",
    "AwsAccountId",
    "Types",
    "CreatedAt",
    "UpdatedAt",
    "Severity",
    "Title",
    "Description",
    "Resources",
}


def _plan(now: str = fx.NOW) -> Plan:
    """mixed (public + NAT: planned), all-public in a VPC without NAT
    (blocked), a healthy one, an exempt one and one outside any VPC."""
    shop = fx.vpc_world(
        "a",
        "ab",
        functions=[
            fx.function("mixed", [fx.pub("a", "a"), fx.natsub("a", "a"), fx.natsub("a", "b")]),
            fx.function("healthy", [fx.natsub("a", "a"), fx.natsub("a", "b")]),
            fx.function("exempt", [fx.pub("a", "a")], tags={"remediator:exempt": "true"}),
            fx.function("outside", None),
        ],
    )
    legacy = fx.vpc_world(
        "b",
        "ab",
        private=False,
        isolated=False,
        nat_azs="",
        functions=[fx.function("stuck", [fx.pub("b", "a"), fx.pub("b", "b")], v="b")],
    )
    return build_plan(fx.inventory(fx.merge(shop, legacy)), fx.policy(), now)


@pytest.fixture(scope="module")
def plan() -> Plan:
    return _plan()


def _by_name(findings: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {
        str(f["Resources"][0]["Details"]["AwsLambdaFunction"]["FunctionName"]): f for f in findings
    }  # type: ignore[index]


def test_one_finding_per_affected_function(plan: Plan) -> None:
    affected = sorted(f.name for f in plan.functions if f.status == "affected")
    assert affected == ["mixed", "stuck"]
    found = asff.findings(plan)
    assert sorted(_by_name(found)) == affected
    assert len({f["Id"] for f in found}) == len(found)


def test_required_fields_and_their_values(plan: Plan) -> None:
    for finding in asff.findings(plan):
        assert finding.keys() >= REQUIRED
        assert finding["SchemaVersion"] == "2018-10-08"
        assert finding["AwsAccountId"] == ACCOUNT
        assert finding["ProductArn"] == (
            f"arn:aws:securityhub:{fx.REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
        )
        assert finding["Types"] == ["Software and Configuration Checks/AWS Security Best Practices"]
        assert finding["CreatedAt"] == finding["UpdatedAt"] == plan.created_at
        assert str(finding["GeneratorId"]).startswith("remediator/")
        (resource,) = finding["Resources"]  # type: ignore[misc]
        assert resource["Type"] == "AwsLambdaFunction"
        assert resource["Id"].startswith(f"arn:aws:lambda:{fx.REGION}:{ACCOUNT}:function:")
        assert resource["Region"] == fx.REGION
        assert 0 < len(str(finding["Title"])) <= 256
        assert 0 < len(str(finding["Description"])) <= 1024
        text = finding["Remediation"]["Recommendation"]["Text"]  # type: ignore[index]
        assert 0 < len(text) <= 512
        assert all(isinstance(v, str) for v in finding["ProductFields"].values())  # type: ignore[attr-defined]


def test_severity_and_generator_come_from_the_worst_finding(plan: Plan) -> None:
    found = _by_name(asff.findings(plan))
    assert found["mixed"]["Severity"] == {"Label": "HIGH", "Original": "high"}
    assert found["mixed"]["GeneratorId"] == "remediator/public-subnets-mixed"
    assert found["stuck"]["Severity"] == {"Label": "CRITICAL", "Original": "critical"}
    assert found["stuck"]["GeneratorId"] == "remediator/public-subnets-all"


@pytest.mark.parametrize(
    ("severity", "label"),
    [
        ("critical", "CRITICAL"),
        ("high", "HIGH"),
        ("medium", "MEDIUM"),
        ("low", "LOW"),
        ("info", "INFORMATIONAL"),
    ],
)
def test_every_severity_has_its_label(severity: str, label: str, plan: Plan) -> None:
    mixed = next(f for f in plan.findings if f.function == "mixed")
    changed = plan.model_copy(
        update={
            "findings": tuple(
                f.model_copy(update={"severity": severity}) if f.id == mixed.id else f
                for f in plan.findings
            )
        }
    )
    found = _by_name(asff.findings(changed))
    assert found["mixed"]["Severity"]["Label"] == label  # type: ignore[index]


def test_recommendation_is_the_planned_change_or_the_manual_step(plan: Plan) -> None:
    found = _by_name(asff.findings(plan))
    mixed_change = next(c for c in plan.changes if c.target.endswith(":function:mixed"))
    text = found["mixed"]["Remediation"]["Recommendation"]["Text"]  # type: ignore[index]
    assert text.startswith(f"Planned in remediator plan {plan.plan_id}: ")
    assert mixed_change.reason in text
    stuck = next(f for f in plan.findings if f.function == "stuck")
    assert stuck.status == "blocked" and stuck.manual_step
    stuck_text = found["stuck"]["Remediation"]["Recommendation"]["Text"]  # type: ignore[index]
    step = stuck.manual_step
    assert stuck_text == (step if len(step) <= 512 else step[:511] + "…")
    assert found["mixed"]["ProductFields"]["remediator/changes"] == mixed_change.id  # type: ignore[index]


def test_deterministic_and_id_stable_across_plans_of_the_same_world(plan: Plan) -> None:
    assert asff.render(plan) == asff.render(_plan())
    later = _plan(now="2025-02-01T00:00:00Z")
    assert [f["Id"] for f in asff.findings(later)] == [f["Id"] for f in asff.findings(plan)]
    assert {f["UpdatedAt"] for f in asff.findings(later)} == {"2025-02-01T00:00:00Z"}
    text = asff.render(plan)
    assert text.endswith("\n")
    assert json.loads(text) == asff.findings(plan)


def test_a_plan_without_affected_functions_gives_an_empty_array() -> None:
    world = fx.vpc_world("a", "ab", functions=[fx.function("ok", [fx.natsub("a", "a")])])
    clean = build_plan(fx.inventory(world), fx.policy(min_azs=1), fx.NOW)
    assert asff.render(clean) == "[]\n"


def test_long_texts_are_clipped_to_the_asff_limits(plan: Plan) -> None:
    long_detail = "x" * 5000
    changed = plan.model_copy(
        update={
            "findings": tuple(
                f.model_copy(update={"detail": long_detail, "title": "t" * 400})
                for f in plan.findings
            )
        }
    )
    for finding in asff.findings(changed):
        assert len(str(finding["Description"])) == 1024
        assert len(str(finding["Title"])) == 256
        assert str(finding["Description"]).endswith("…")


def test_blocked_findings_carry_no_empty_value_and_validate(plan: Plan) -> None:
    from tests.asff_model import validate

    stuck = _by_name(asff.findings(plan))["stuck"]
    fields = stuck["ProductFields"]
    assert isinstance(fields, dict)
    assert "remediator/changes" not in fields and fields["remediator/statuses"] == "blocked"
    assert all(str(v).strip() for v in fields.values())
    assert stuck["FindingProviderFields"] == {
        "Severity": stuck["Severity"],
        "Types": stuck["Types"],
    }
    assert validate(stuck) == []


def test_render_and_batches_hold_the_same_findings(plan: Plan) -> None:
    (name, text), *rest = asff.batches(plan)
    assert name == "asff-0001.json" and not rest
    assert text == asff.render(plan)
    assert asff.batches(plan.model_copy(update={"functions": ()})) == [("asff-0001.json", "[]\n")]
