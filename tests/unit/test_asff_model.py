"""ASFF that Security Hub accepts: every value valid by botocore's model
(patterns, lengths, enums, required members), batches of at most 100, and
findings that are gone closed on the next run with the same Id."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from remediator.domain.plan import Finding
from remediator.planfile.model import Plan
from remediator.render import asff
from remediator.run.artifacts import write_asff
from tests.asff_model import validate
from tests.fleet import fleet_plan


@pytest.fixture(scope="module")
def plan() -> Plan:
    return fleet_plan(600)


def test_every_finding_of_a_fleet_is_valid_by_the_model(plan: Plan) -> None:
    items = asff.findings(plan)
    assert len(items) >= 500
    errors = {e for item in items for e in validate(item)}
    assert errors == set()
    # blocked findings have no change: the key is left out, not empty
    blocked = [i for i in items if "blocked" in i["ProductFields"]["remediator/statuses"]]
    assert blocked and all("remediator/changes" not in i["ProductFields"] for i in blocked)
    for item in items:
        assert item["FindingProviderFields"]["Severity"] == item["Severity"]
        assert item["FindingProviderFields"]["Types"] == item["Types"]


@pytest.mark.parametrize(
    ("finding", "problem"),
    [
        ({"ProductFields": {"remediator/changes": ""}}, "does not match"),
        ({"Title": "x" * 257}, "the limit is 256"),
        ({"RecordState": "CLOSED"}, "not one of"),
        ({"Description": "two\nlines"}, "does not match"),
        ({"Workflow": {"Status": "DONE"}}, "not one of"),
        ({"Unknown": 1}, "not in the model"),
    ],
)
def test_the_validator_catches_what_the_service_refuses(
    plan: Plan, finding: dict[str, object], problem: str
) -> None:
    good = asff.findings(plan)[0]
    assert validate(good) == []
    bad = {**good, **finding}
    if "ProductFields" in finding:
        bad["ProductFields"] = {**good["ProductFields"], **finding["ProductFields"]}  # type: ignore[dict-item]
    assert any(problem in e for e in validate(bad))
    missing = {k: v for k, v in good.items() if k != "Resources"}
    assert any("Resources: required" in e for e in validate(missing))


def test_batches_hold_at_most_100_findings_and_all_of_them(plan: Plan, tmp_path: Path) -> None:
    items = asff.findings(plan)
    paths = write_asff(tmp_path, plan)
    assert [p.name for p in paths] == [f"asff-{i:04d}.json" for i in range(1, len(paths) + 1)]
    loaded = [json.loads(p.read_text()) for p in paths]
    assert all(0 < len(batch) <= asff.BATCH_SIZE for batch in loaded)
    assert [f for batch in loaded for f in batch] == items
    # a smaller write later leaves no stale batch behind
    (tmp_path / "asff-0099.json").write_text("[]")
    small = fleet_plan(50)
    assert [p.name for p in write_asff(tmp_path, small)] == ["asff-0001.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["asff-0001.json"]


def _fixed(plan: Plan, names: set[str]) -> Plan:
    """``plan`` with the findings of ``names`` gone (as a later plan shows)."""
    keep: list[Finding] = [f for f in plan.findings if f.function not in names]
    functions = [
        f.model_copy(update={"status": "healthy"}) if f.name in names else f for f in plan.functions
    ]
    return plan.model_copy(
        update={"findings": keep, "functions": functions, "created_at": "2030-01-01T00:00:00Z"}
    )


def test_findings_gone_since_the_previous_plan_are_closed_with_the_same_id(plan: Plan) -> None:
    before = asff.findings(plan)
    gone = {before[0]["Resources"][0]["Details"]["AwsLambdaFunction"]["FunctionName"]}
    gone.add(before[5]["Resources"][0]["Details"]["AwsLambdaFunction"]["FunctionName"])
    later = _fixed(plan, gone)
    after = asff.findings(later, previous=plan)
    closed = [f for f in after if f["RecordState"] == "ARCHIVED"]
    assert {f["Id"] for f in closed} == {before[0]["Id"], before[5]["Id"]}
    for f in closed:
        assert f["Workflow"] == {"Status": "RESOLVED"}
        assert f["Compliance"] == {"Status": "PASSED"}
        assert f["UpdatedAt"] == "2030-01-01T00:00:00Z"
        assert validate(f) == []
    active = [f for f in after if f["RecordState"] == "ACTIVE"]
    assert len(active) == len(before) - 2
    # nothing to close without a previous plan, or against another account
    assert all(f["RecordState"] == "ACTIVE" for f in asff.findings(later))
    other = plan.model_copy(update={"account_id": "210987654321"})
    assert asff.findings(later, previous=other) == active
