"""``--verify reachability``: VPC Reachability Analyzer through the door, with
botocore's Stubber (moto does not implement it). A fake clock moves only when
the poll sleeps, so nothing really waits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from remediator.aws import door, reachability
from remediator.domain.errors import BadInput
from remediator.render import iam
from remediator.run.verify import check_option, reachability_targets
from tests import factories as f

REGION = "us-east-1"
ENI = "eni-0aaa"
PATH = "nip-0001"
ANALYSIS = "nia-0001"
TARGET = reachability.Target(
    function="orders-api",
    region=REGION,
    subnet_ids=("subnet-a",),
    security_group_ids=("sg-fn",),
    internet_gateway_id="igw-1",
)


@dataclass
class FakeTime:
    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _stubbed(timeout: float = 60.0) -> tuple[door.Aws, Stubber, FakeTime]:
    client = boto3.client(
        "ec2",
        region_name=REGION,
        config=door.executor_config(),
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    stub = Stubber(client)
    fake = FakeTime()
    settings = door.Settings(
        max_attempts=1,
        settle_timeout=timeout,
        poll_interval=10.0,
        clock=fake.clock,
        sleep=fake.sleep,
        jitter=door.no_jitter,
    )
    return door.Aws(lambda service, region: client, settings), stub, fake


def _enis(stub: Stubber, ids: list[str]) -> None:
    stub.add_response(
        "describe_network_interfaces",
        {"NetworkInterfaces": [{"NetworkInterfaceId": i} for i in ids]},
        {
            "Filters": [
                {"Name": "description", "Values": ["AWS Lambda VPC ENI-orders-api*"]},
                {"Name": "subnet-id", "Values": ["subnet-a"]},
            ]
        },
    )


def _create_and_start(stub: Stubber) -> None:
    stub.add_response(
        "create_network_insights_path",
        {"NetworkInsightsPath": {"NetworkInsightsPathId": PATH}},
        {
            "Source": ENI,
            "Destination": "igw-1",
            "Protocol": "tcp",
            "DestinationPort": 443,
            "ClientToken": ANY,
        },
    )
    stub.add_response(
        "start_network_insights_analysis",
        {"NetworkInsightsAnalysis": {"NetworkInsightsAnalysisId": ANALYSIS}},
        {"NetworkInsightsPathId": PATH, "ClientToken": ANY},
    )


def _analysis(stub: Stubber, status: str, **extra: Any) -> None:
    stub.add_response(
        "describe_network_insights_analyses",
        {
            "NetworkInsightsAnalyses": [
                {"NetworkInsightsAnalysisId": ANALYSIS, "Status": status, **extra}
            ]
        },
        {"NetworkInsightsAnalysisIds": [ANALYSIS]},
    )


def _cleanup(stub: Stubber, analysis: bool = True) -> None:
    if analysis:
        stub.add_response(
            "delete_network_insights_analysis",
            {"NetworkInsightsAnalysisId": ANALYSIS},
            {"NetworkInsightsAnalysisId": ANALYSIS},
        )
    stub.add_response(
        "delete_network_insights_path",
        {"NetworkInsightsPathId": PATH},
        {"NetworkInsightsPathId": PATH},
    )


def test_a_path_found_passes_and_everything_is_deleted() -> None:
    aws, stub, fake = _stubbed()
    _enis(stub, [ENI])
    _create_and_start(stub)
    _analysis(stub, "running")
    _analysis(stub, "succeeded", NetworkPathFound=True)
    _cleanup(stub)
    with stub:
        assert reachability.check(aws, TARGET) == []
        stub.assert_no_pending_responses()
    assert fake.sleeps == [10.0]


def test_a_path_not_found_fails_with_the_eni_and_the_first_explanation() -> None:
    aws, stub, _ = _stubbed()
    _enis(stub, [ENI])
    _create_and_start(stub)
    explanations = [
        {"ExplanationCode": "NO_ROUTE_TO_DESTINATION", "Component": {"Id": "rtb-1"}},
        {"ExplanationCode": "ENI_SG_RULES_MISMATCH"},
    ]
    _analysis(stub, "succeeded", NetworkPathFound=False, Explanations=explanations)
    _cleanup(stub)
    with stub:
        problems = reachability.check(aws, TARGET)
        stub.assert_no_pending_responses()
    assert problems == [
        "orders-api: no path from eni-0aaa to the internet: NO_ROUTE_TO_DESTINATION at rtb-1"
    ]


def test_an_analysis_running_past_the_timeout_could_not_finish() -> None:
    aws, stub, fake = _stubbed(timeout=25.0)
    _enis(stub, [ENI])
    _create_and_start(stub)
    for _ in range(4):  # at 0, 10, 20, 30 s
        _analysis(stub, "running")
    _cleanup(stub)
    with stub:
        problems = reachability.check(aws, TARGET)
        stub.assert_no_pending_responses()
    assert fake.sleeps == [10.0, 10.0, 10.0]
    assert len(problems) == 1
    assert "could not finish" in problems[0] and ENI in problems[0]


def test_access_denied_is_one_line_naming_the_permission_and_cleanup_still_runs() -> None:
    aws, stub, _ = _stubbed()
    _enis(stub, [ENI])
    stub.add_response(
        "create_network_insights_path",
        {"NetworkInsightsPath": {"NetworkInsightsPathId": PATH}},
        {
            "Source": ENI,
            "Destination": "igw-1",
            "Protocol": "tcp",
            "DestinationPort": 443,
            "ClientToken": ANY,
        },
    )
    stub.add_client_error(
        "start_network_insights_analysis",
        service_error_code="UnauthorizedOperation",
        service_message="You are not authorized to perform this operation.",
        http_status_code=403,
    )
    _cleanup(stub, analysis=False)
    with stub:
        problems = reachability.check(aws, TARGET)
        stub.assert_no_pending_responses()
    assert len(problems) == 1 and "\n" not in problems[0]
    assert "ec2:StartNetworkInsightsAnalysis" in problems[0]


def test_a_failed_cleanup_is_reported_and_the_path_delete_still_tried() -> None:
    aws, stub, _ = _stubbed()
    _enis(stub, [ENI])
    _create_and_start(stub)
    _analysis(stub, "succeeded", NetworkPathFound=True)
    stub.add_client_error(
        "delete_network_insights_analysis", service_error_code="UnauthorizedOperation"
    )
    _cleanup(stub, analysis=False)
    with stub:
        problems = reachability.check(aws, TARGET)
        stub.assert_no_pending_responses()
    assert problems == ["orders-api: could not delete Reachability Analyzer resources nia-0001"]


def test_no_lambda_eni_is_a_failure_not_a_pass() -> None:
    aws, stub, _ = _stubbed()
    _enis(stub, [])
    stub.add_response(
        "describe_network_interfaces",
        {"NetworkInterfaces": []},
        {
            "Filters": [
                {"Name": "interface-type", "Values": ["lambda"]},
                {"Name": "group-id", "Values": ["sg-fn"]},
                {"Name": "subnet-id", "Values": ["subnet-a"]},
            ]
        },
    )
    with stub:
        problems = reachability.check(aws, TARGET)
        stub.assert_no_pending_responses()
    assert problems == ["orders-api: reachability check found no Lambda network interface"]


def test_without_an_internet_gateway_the_destination_is_a_public_ip() -> None:
    aws, stub, _ = _stubbed()
    _enis(stub, [ENI])
    stub.add_response(
        "create_network_insights_path",
        {"NetworkInsightsPath": {"NetworkInsightsPathId": PATH}},
        {
            "Source": ENI,
            "DestinationIp": reachability.PUBLIC_IP,
            "Protocol": "tcp",
            "DestinationPort": 443,
            "ClientToken": ANY,
        },
    )
    stub.add_client_error("start_network_insights_analysis", service_error_code="InvalidParameter")
    _cleanup(stub, analysis=False)
    target = reachability.Target("orders-api", REGION, ("subnet-a",), ("sg-fn",))
    with stub:
        problems = reachability.check(aws, target)
        stub.assert_no_pending_responses()
    assert len(problems) == 1 and "could not finish" in problems[0]


@pytest.mark.parametrize(
    ("value", "expected"), [("model", "model"), ("reachability", "reachability")]
)
def test_the_verify_option(value: str, expected: str) -> None:
    assert check_option(value) == expected


def test_an_unknown_verify_option_is_bad_input() -> None:
    with pytest.raises(BadInput, match="--verify 'both'"):
        check_option("both")


def test_iam_policy_with_reachability_grants_the_analyzer() -> None:
    without = iam.allowed_actions(iam.policy_document(iam.PolicyOptions(mode="apply")))
    doc = iam.policy_document(iam.PolicyOptions(mode="apply", reachability=True))
    assert "ec2:StartNetworkInsightsAnalysis" not in without
    assert set(reachability.PERMISSIONS) <= set(iam.allowed_actions(doc))
    runner = iam.policy_document(
        iam.PolicyOptions(
            mode="auto", role_arn="arn:aws:iam::{account_id}:role/r", reachability=True
        )
    )
    assert "ec2:StartNetworkInsightsAnalysis" not in iam.allowed_actions(runner)
    with pytest.raises(BadInput, match="--reachability"):
        iam.policy_document(iam.PolicyOptions(mode="plan", reachability=True))


def test_the_targets_are_the_functions_an_egress_change_fixed_with_their_gateway() -> None:
    from remediator.changes import registry

    world = f.vpc_world(
        "a",
        azs="ab",
        functions=(
            f.function("moved", ["subnet-a-nat-a"]),
            f.function("private", ["subnet-a-iso-a"]),
        ),
    )
    inv = f.inventory(world)

    @dataclass
    class _Finding:
        id: str
        function: str
        region: str = REGION

    @dataclass
    class _Plan:
        findings: tuple[_Finding, ...]

    @dataclass
    class _Change:
        kind: str
        fixes: tuple[str, ...]
        target: str
        region: str = REGION

    assert {"ec2.put-nat-route", "ec2.create-lambda-endpoint"} <= set(registry.KINDS)
    plan = _Plan((_Finding("f1", "moved"), _Finding("f2", "private")))
    applied: list[Any] = [
        _Change("ec2.put-nat-route", ("f1",), "rtb-a-nat-a"),
        _Change("ec2.create-lambda-endpoint", ("f2",), "vpc-a"),
    ]
    targets = reachability_targets(plan, applied, inv)  # type: ignore[arg-type]
    assert [(t.function, t.subnet_ids, t.internet_gateway_id) for t in targets] == [
        ("moved", ("subnet-a-nat-a",), "igw-a")
    ]
    # a subnet move names the function by its ARN
    arn = next(fn.arn for fn in world.functions if fn.name == "private")
    moved = reachability_targets(plan, [_Change("lambda.update-vpc-config", (), arn)], inv)  # type: ignore[arg-type]
    assert [t.function for t in moved] == ["private"]


def test_the_verifier_asks_the_analyzer_after_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """``make_verifier(check="reachability")``: the model's check, then one
    analysis per ENI of each function an egress change fixed."""
    from remediator.run import verify as verifying

    subnets = ["subnet-a-nat-a", "subnet-a-nat-b"]
    world = f.vpc_world("a", azs="ab", functions=[f.function("orders-api", subnets)])
    monkeypatch.setattr(verifying.discover, "discover", lambda *a, **k: f.inventory(world))

    @dataclass
    class _Finding:
        id: str
        function: str
        region: str = REGION

    @dataclass
    class _Plan:
        findings: tuple[_Finding, ...]
        regions: tuple[str, ...] = (REGION,)

    @dataclass
    class _Change:
        kind: str
        fixes: tuple[str, ...]
        target: str
        region: str = REGION

    aws, stub, _ = _stubbed()
    stub.add_response(
        "describe_network_interfaces",
        {"NetworkInterfaces": [{"NetworkInterfaceId": ENI}]},
        {
            "Filters": [
                {"Name": "description", "Values": ["AWS Lambda VPC ENI-orders-api*"]},
                {"Name": "subnet-id", "Values": subnets},
            ]
        },
    )
    stub.add_response(
        "create_network_insights_path",
        {"NetworkInsightsPath": {"NetworkInsightsPathId": PATH}},
        {
            "Source": ENI,
            "Destination": "igw-a",
            "Protocol": "tcp",
            "DestinationPort": 443,
            "ClientToken": ANY,
        },
    )
    stub.add_response(
        "start_network_insights_analysis",
        {"NetworkInsightsAnalysis": {"NetworkInsightsAnalysisId": ANALYSIS}},
        {"NetworkInsightsPathId": PATH, "ClientToken": ANY},
    )
    _analysis(
        stub,
        "succeeded",
        NetworkPathFound=False,
        Explanations=[{"ExplanationCode": "NO_ROUTE_TO_DESTINATION"}],
    )
    _cleanup(stub)
    verify = verifying.make_verifier(None, None, f.policy(), check="reachability", aws=aws)
    plan = _Plan((_Finding("f1", "orders-api"),))
    applied: list[Any] = [_Change("ec2.put-nat-route", ("f1",), "rtb-a-nat-a")]
    with stub:
        problems = verify(plan, applied)  # type: ignore[arg-type]
        stub.assert_no_pending_responses()
    assert problems == [
        "orders-api: no path from eni-0aaa to the internet: NO_ROUTE_TO_DESTINATION"
    ]
    # the default check never calls the analyzer (no stubbed response left to use)
    assert verifying.make_verifier(None, None, f.policy(), aws=aws)(plan, applied) == []  # type: ignore[arg-type]
