"""The executor's AWS layer with botocore's Stubber (no moto, no network):
retries and backoff, the rate limiter, RevisionId, settling, the dry-run
guard. A fake clock advances only when the executor sleeps, so nothing
really waits and every delay is recorded."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import boto3
import pytest
from botocore.exceptions import ParamValidationError
from botocore.stub import Stubber

from remediator.aws import door
from remediator.changes import base, registry
from remediator.changes.lambda_vpc_config import UpdateVpcConfigAfter, vpc_config_state
from remediator.changes.registry import Change
from remediator.domain import errors
from remediator.domain.canonical import fingerprint
from remediator.domain.errors import AwsCallFailed
from remediator.domain.mode import Mode
from remediator.planfile.digest import with_digest
from remediator.planfile.model import Plan, PlanSummary
from remediator.run import engine

REGION = "us-east-1"
ACCOUNT = "123456789012"
FN_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:orders-api"
SG = "sg-0123456789abcdef0"
OLD = ["subnet-public-a", "subnet-private-a"]
NEW = ["subnet-private-a", "subnet-private-b"]


def make_change(**fields: Any) -> Change:
    """A typed change of any kind (``before``/``after`` given as plain dicts)."""
    return registry.build(fields)


@dataclass
class FakeTime:
    """A clock that moves only when something sleeps."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def _client(service: str) -> Any:
    return boto3.client(service, region_name=REGION, config=door.executor_config())


@dataclass
class Stubbed:
    aws: door.Aws
    stubbers: dict[str, Stubber]
    made: list[tuple[str, str]]

    @property
    def lam(self) -> Stubber:
        return self.stubbers["lambda"]

    @property
    def ec2(self) -> Stubber:
        return self.stubbers["ec2"]


@contextmanager
def _stubbed(time: FakeTime, mode: Mode = "apply", **overrides: Any) -> Iterator[Stubbed]:
    clients = {s: _client(s) for s in ("lambda", "ec2")}
    stubbers = {s: Stubber(c) for s, c in clients.items()}
    made: list[tuple[str, str]] = []

    def factory(service: str, region: str) -> Any:
        made.append((service, region))
        return clients[service]

    knobs: dict[str, Any] = {
        "clock": time.clock,
        "sleep": time.sleep,
        "base_delay": 0.5,
        "max_delay": 3.0,
        "lambda_rate": float("inf"),  # the limiter has its own tests: keep its sleeps out
        "settle_timeout": 60.0,
        "poll_interval": 5.0,
        "jitter": door.no_jitter,  # the sleeps asserted are exact
    }
    knobs.update(overrides)
    aws = door.Aws(factory, settings=door.Settings(**knobs), mode=mode)
    for s in stubbers.values():
        s.activate()
    try:
        yield Stubbed(aws, stubbers, made)
    finally:
        for s in stubbers.values():
            s.deactivate()


@pytest.fixture
def stubbed(fake_time: FakeTime) -> Iterator[Stubbed]:
    with _stubbed(fake_time) as stubbed:
        yield stubbed


def _update_params(revision: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "FunctionName": FN_ARN,
        "VpcConfig": {"SubnetIds": NEW, "SecurityGroupIds": [SG]},
    }
    if revision:
        params["RevisionId"] = revision
    return params


def _throttle(stubber: Stubber, code: str = "TooManyRequestsException", **meta: Any) -> None:
    stubber.add_client_error(
        "update_function_configuration",
        service_error_code=code,
        service_message="Rate exceeded",
        http_status_code=429 if code == "TooManyRequestsException" else 409,
        response_meta=meta or None,
    )


def _updated(stubber: Stubber) -> None:
    stubber.add_response(
        "update_function_configuration",
        {"FunctionName": "orders-api", "RevisionId": "rev-2", "LastUpdateStatus": "InProgress"},
        _update_params(),
    )


# --------------------------------------------------------------------------
# Retries and backoff


def test_throttling_is_retried_with_capped_exponential_backoff(
    stubbed: Stubbed, fake_time: FakeTime
) -> None:
    for _ in range(5):
        _throttle(stubbed.lam)
    _updated(stubbed.lam)

    out = stubbed.aws.call("lambda", REGION, "update_function_configuration", **_update_params())

    assert out["RevisionId"] == "rev-2"
    stubbed.lam.assert_no_pending_responses()
    assert stubbed.aws.retries == 5
    assert stubbed.aws.calls == ["lambda:UpdateFunctionConfiguration"] * 6
    assert fake_time.sleeps == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert all(a <= b for a, b in zip(fake_time.sleeps, fake_time.sleeps[1:], strict=False))
    assert max(fake_time.sleeps) == 3.0  # max_delay


def test_retry_after_header_is_honoured_within_the_cap(fake_time: FakeTime) -> None:
    with _stubbed(fake_time, max_delay=20.0) as stubbed:
        _throttle(stubbed.lam, HTTPHeaders={"retry-after": "7"})
        _throttle(stubbed.lam, HTTPHeaders={"retry-after": "60"})
        _updated(stubbed.lam)
        stubbed.aws.call("lambda", REGION, "update_function_configuration", **_update_params())
        assert fake_time.sleeps == [7.0, 20.0]


def test_resource_conflict_is_retried(stubbed: Stubbed, fake_time: FakeTime) -> None:
    _throttle(stubbed.lam, "ResourceConflictException")
    _throttle(stubbed.lam, "ResourceConflictException")
    _updated(stubbed.lam)

    out = stubbed.aws.call("lambda", REGION, "update_function_configuration", **_update_params())

    assert out["RevisionId"] == "rev-2"
    assert stubbed.aws.retries == 2
    assert fake_time.sleeps == [0.5, 1.0]
    stubbed.lam.assert_no_pending_responses()


def test_access_denied_is_not_retried(stubbed: Stubbed, fake_time: FakeTime) -> None:
    stubbed.lam.add_client_error(
        "update_function_configuration",
        service_error_code="AccessDeniedException",
        http_status_code=403,
    )
    with pytest.raises(AwsCallFailed) as caught:
        stubbed.aws.call("lambda", REGION, "update_function_configuration", **_update_params())
    assert caught.value.code == "AccessDeniedException"
    assert stubbed.aws.retries == 0
    assert fake_time.sleeps == []
    assert stubbed.aws.calls == ["lambda:UpdateFunctionConfiguration"]


def test_server_errors_are_retried(stubbed: Stubbed) -> None:
    stubbed.ec2.add_client_error(
        "describe_route_tables", service_error_code="Unavailable", http_status_code=503
    )
    stubbed.ec2.add_response("describe_route_tables", {"RouteTables": []})
    assert stubbed.aws.call("ec2", REGION, "describe_route_tables") == {"RouteTables": []}
    assert stubbed.aws.retries == 1


def test_max_attempts_exhausted_raises(fake_time: FakeTime) -> None:
    with _stubbed(fake_time, max_attempts=3) as stubbed:
        for _ in range(3):
            _throttle(stubbed.lam)
        with pytest.raises(AwsCallFailed) as caught:
            stubbed.aws.call("lambda", REGION, "update_function_configuration", **_update_params())
        assert caught.value.code == "TooManyRequestsException"
        assert stubbed.aws.retries == 2
        assert len(stubbed.aws.calls) == 3
        assert fake_time.sleeps == [0.5, 1.0]
        stubbed.lam.assert_no_pending_responses()


def test_a_malformed_request_is_not_retried(fake_time: FakeTime) -> None:
    # No Stubber here (its own parameter hook would answer first); botocore
    # refuses the request before sending it, and nothing listens on port 9.
    client = boto3.client(
        "lambda",
        region_name=REGION,
        endpoint_url="http://127.0.0.1:9",
        config=door.executor_config(),
    )
    aws = door.Aws(
        lambda service, region: client,
        settings=door.Settings(
            clock=fake_time.clock, sleep=fake_time.sleep, lambda_rate=float("inf")
        ),
    )
    with pytest.raises(ParamValidationError):
        aws.call(
            "lambda",
            REGION,
            "update_function_configuration",
            FunctionName=FN_ARN,
            VpcConfig={"SubnetIds": "subnet-not-a-list"},
        )
    assert aws.retries == 0
    assert fake_time.sleeps == []


# --------------------------------------------------------------------------
# Rate limiter


def test_rate_limiter_spaces_lambda_calls(fake_time: FakeTime) -> None:
    limiter = door.RateLimiter(15.0, fake_time.clock, fake_time.sleep)
    start = fake_time.now
    stamps = []
    for _ in range(30):
        limiter.acquire()
        stamps.append(fake_time.now)
    elapsed = fake_time.now - start
    assert elapsed >= 29 / 15 - 1e-9  # ~2 s: 30 calls, 15 per second
    assert elapsed < 2.0 + 1e-9
    # Never more than 15 calls in any one-second window.
    for i in range(len(stamps) - 15):
        assert stamps[i + 15] - stamps[i] >= 1.0 - 1e-9


def test_rate_limiter_does_not_sleep_when_calls_are_spread_out(fake_time: FakeTime) -> None:
    limiter = door.RateLimiter(15.0, fake_time.clock, fake_time.sleep)
    for _ in range(5):
        limiter.acquire()
        fake_time.now += 1.0
    assert fake_time.sleeps == []


def test_aws_call_rate_limits_lambda_but_not_ec2(fake_time: FakeTime) -> None:
    with _stubbed(fake_time, lambda_rate=15.0) as stubbed:
        for _ in range(30):
            stubbed.lam.add_response("list_functions", {"Functions": []})
            stubbed.ec2.add_response("describe_vpcs", {"Vpcs": []})
        start = fake_time.now
        for _ in range(30):
            stubbed.aws.call("ec2", REGION, "describe_vpcs")
        assert fake_time.now == start
        for _ in range(30):
            stubbed.aws.call("lambda", REGION, "list_functions")
        assert fake_time.now - start >= 29 / 15 - 1e-9


# --------------------------------------------------------------------------
# UpdateVpcConfig: RevisionId and settling


def _fp(state: dict[str, Any], revision: str | None = None) -> Any:
    return fingerprint(state, revision)


def _vpc_change() -> Change:
    return make_change(
        id="c-vpc",
        kind=registry.UPDATE_VPC_CONFIG,
        region=REGION,
        target=FN_ARN,
        before={"SubnetIds": OLD, "SecurityGroupIds": [SG]},
        after=vpc_config_state(NEW, [SG]),
        risk="low",
        reason="test",
        fingerprint=_fp(vpc_config_state(OLD, [SG]), "rev-1"),
    )


def _config(status: str = "Successful", revision: str = "rev-1", **extra: Any) -> dict[str, Any]:
    return {
        "FunctionName": "orders-api",
        "FunctionArn": FN_ARN,
        "RevisionId": revision,
        "VpcConfig": {"SubnetIds": OLD, "SecurityGroupIds": [SG], "VpcId": "vpc-1"},
        "State": "Active",
        "LastUpdateStatus": status,
        **extra,
    }


def _get(stubber: Stubber, status: str = "Successful", **extra: Any) -> None:
    stubber.add_response(
        "get_function_configuration", _config(status, **extra), {"FunctionName": FN_ARN}
    )


def test_update_vpc_config_sends_the_revision_id_it_read_and_waits_for_success(
    stubbed: Stubbed, fake_time: FakeTime
) -> None:
    change = _vpc_change()
    h = registry.handler(change.kind)
    _get(stubbed.lam)  # read
    stubbed.lam.add_response(
        "update_function_configuration",
        {"FunctionName": "orders-api", "RevisionId": "rev-2"},
        _update_params("rev-1"),
    )
    _get(stubbed.lam, "InProgress")
    _get(stubbed.lam, "InProgress")
    _get(stubbed.lam, "Successful")

    live = h.read(stubbed.aws, change, {})
    assert live.revision_id == "rev-1"
    assert engine.is_stale(change, live) is None
    result = h.apply(stubbed.aws, change, live, {})
    h.settle(stubbed.aws, change, result)

    assert result == {"RevisionId": "rev-2"}
    stubbed.lam.assert_no_pending_responses()
    # probe InProgress, probe InProgress, wait one poll interval, probe Successful
    assert fake_time.sleeps == [5.0]


def test_a_revision_id_mismatch_makes_the_target_stale(stubbed: Stubbed) -> None:
    change = _vpc_change()
    _get(stubbed.lam, revision="rev-9")
    live = registry.handler(change.kind).read(stubbed.aws, change, {})
    why = engine.is_stale(change, live)
    assert why is not None and "rev-9" in why


def test_update_vpc_config_without_revision_id_sends_none(stubbed: Stubbed) -> None:
    change = _vpc_change()
    stubbed.lam.add_response(
        "update_function_configuration", {"FunctionName": "orders-api"}, _update_params()
    )
    result = registry.handler(change.kind).apply(
        stubbed.aws, change, base.Live(change.fingerprint.state, None), {}
    )
    assert result == {"RevisionId": None}
    stubbed.lam.assert_no_pending_responses()


def test_settle_fails_at_once_on_failed_update(stubbed: Stubbed, fake_time: FakeTime) -> None:
    _get(
        stubbed.lam,
        "Failed",
        LastUpdateStatusReasonCode="SubnetOutOfIPAddresses",
        LastUpdateStatusReason="no IPs",
    )
    with pytest.raises(errors.ChangeFailed, match="SubnetOutOfIPAddresses"):
        registry.handler(registry.UPDATE_VPC_CONFIG).settle(stubbed.aws, _vpc_change(), {})
    assert fake_time.sleeps == []


def test_settle_stops_when_an_update_in_progress_fails(
    stubbed: Stubbed, fake_time: FakeTime
) -> None:
    _get(stubbed.lam, "InProgress")
    for _ in range(20):
        _get(stubbed.lam, "Failed", LastUpdateStatusReasonCode="InvalidSubnet")
    with pytest.raises(errors.ChangeFailed) as caught:
        registry.handler(registry.UPDATE_VPC_CONFIG).settle(stubbed.aws, _vpc_change(), {})
    assert "did not settle" not in str(caught.value)
    assert "InvalidSubnet" in str(caught.value)
    assert len(fake_time.sleeps) <= 1


def test_settle_times_out(stubbed: Stubbed, fake_time: FakeTime) -> None:
    for _ in range(30):
        _get(stubbed.lam, "InProgress")
    start = fake_time.now
    with pytest.raises(errors.ChangeFailed, match="did not settle within 60 s"):
        registry.handler(registry.UPDATE_VPC_CONFIG).settle(stubbed.aws, _vpc_change(), {})
    assert 60.0 <= fake_time.now - start <= 65.0
    assert set(fake_time.sleeps) == {5.0}


# --------------------------------------------------------------------------
# CreateLambdaEndpoint: settling


def _endpoint_change() -> Change:
    return make_change(
        id="c-ep",
        kind=registry.CREATE_LAMBDA_ENDPOINT,
        region=REGION,
        target="vpc-1",
        after={
            "ServiceName": f"com.amazonaws.{REGION}.lambda",
            "VpcEndpointType": "Interface",
            "VpcId": "vpc-1",
            "SubnetIds": ["subnet-a", "subnet-b"],
            "SecurityGroupFromChange": "c-sg",
            "PrivateDnsEnabled": True,
        },
        risk="high",
        reason="test",
        fingerprint=_fp({"VpcId": "vpc-1", "LambdaEndpoints": []}),
    )


def _endpoint_state(stubber: Stubber, state: str | None, eid: str = "vpce-1") -> None:
    endpoints = [] if state is None else [{"VpcEndpointId": eid, "State": state}]
    stubber.add_response(
        "describe_vpc_endpoints",
        {"VpcEndpoints": endpoints},
        {"Filters": [{"Name": "vpc-endpoint-id", "Values": [eid]}]},
    )


def test_endpoint_settle_polls_until_available(stubbed: Stubbed, fake_time: FakeTime) -> None:
    _endpoint_state(stubbed.ec2, "pendingAcceptance")
    _endpoint_state(stubbed.ec2, "pending")
    _endpoint_state(stubbed.ec2, "available")
    registry.handler(registry.CREATE_LAMBDA_ENDPOINT).settle(
        stubbed.aws, _endpoint_change(), {"VpcEndpointId": "vpce-1"}
    )
    stubbed.ec2.assert_no_pending_responses()
    assert fake_time.sleeps == [5.0, 5.0]


@pytest.mark.parametrize(("state", "shown"), [("failed", "failed"), (None, "None")])
def test_endpoint_settle_fails_on_a_failed_or_vanished_endpoint(
    stubbed: Stubbed, state: str | None, shown: str
) -> None:
    _endpoint_state(stubbed.ec2, "pending")
    _endpoint_state(stubbed.ec2, state)
    with pytest.raises(errors.ChangeFailed, match=f"vpce-1 is {shown}"):
        registry.handler(registry.CREATE_LAMBDA_ENDPOINT).settle(
            stubbed.aws, _endpoint_change(), {"VpcEndpointId": "vpce-1"}
        )


def test_endpoint_create_uses_the_group_of_the_change_it_depends_on(stubbed: Stubbed) -> None:
    change = _endpoint_change()
    h = registry.handler(change.kind)
    stubbed.aws.plan_id = "plan-abc"
    stubbed.aws.run_id = "run-1"
    stubbed.ec2.add_response(
        "create_vpc_endpoint",
        {"VpcEndpoint": {"VpcEndpointId": "vpce-9", "State": "pending"}},
        {
            "VpcEndpointType": "Interface",
            "VpcId": "vpc-1",
            "ServiceName": f"com.amazonaws.{REGION}.lambda",
            "SubnetIds": ["subnet-a", "subnet-b"],
            "SecurityGroupIds": ["sg-endpoint"],
            "PrivateDnsEnabled": True,
            "ClientToken": "run-1-c-ep",
            "TagSpecifications": [
                {
                    "ResourceType": "vpc-endpoint",
                    "Tags": [
                        {"Key": "remediator:change-id", "Value": "c-ep"},
                        {"Key": "remediator:plan-id", "Value": "plan-abc"},
                    ],
                }
            ],
        },
    )
    out = h.apply(stubbed.aws, change, base.Live({}), {"c-sg": {"GroupId": "sg-endpoint"}})
    assert out == {"VpcEndpointId": "vpce-9"}
    with pytest.raises(errors.ChangeFailed, match="c-sg"):
        h.apply(stubbed.aws, change, base.Live({}), {})


def test_the_client_token_belongs_to_the_run_and_the_change(fake_time: FakeTime) -> None:
    aws = door.Aws(lambda s, r: None, settings=door.Settings(clock=fake_time.clock))
    change = _endpoint_change()
    aws.plan_id, aws.run_id = "plan-abc", "run-1"
    assert base.client_token(aws, change) == "run-1-c-ep"
    aws.run_id = "run-2"  # the same plan applied again (after a rollback): another token
    assert base.client_token(aws, change) == "run-2-c-ep"
    aws.run_id = "auto-" + "x" * 80  # EC2 takes 64 characters: a hash, not a cut
    token = base.client_token(aws, change)
    assert len(token) == 64
    aws.run_id = "auto-" + "x" * 79 + "y"
    assert base.client_token(aws, change) != token


# --------------------------------------------------------------------------
# CreateEndpointSecurityGroup: a create whose answer was lost


def _sg_change() -> Change:
    return make_change(
        id="c-sg",
        kind=registry.CREATE_ENDPOINT_SG,
        region=REGION,
        target="vpc-1",
        after={
            "GroupName": "remediator-lambda-endpoint-vpc-1",
            "Description": "test",
            "VpcId": "vpc-1",
            "IngressTcp443FromGroups": [SG],
        },
        risk="low",
        reason="test",
        fingerprint=_fp(
            {"VpcId": "vpc-1", "GroupName": "remediator-lambda-endpoint-vpc-1", "Exists": False}
        ),
    )


def _sg_lookup(stubber: Stubber, groups: list[dict[str, Any]]) -> None:
    stubber.add_response(
        "describe_security_groups",
        {"SecurityGroups": groups},
        {
            "Filters": [
                {"Name": "vpc-id", "Values": ["vpc-1"]},
                {"Name": "group-name", "Values": ["remediator-lambda-endpoint-vpc-1"]},
            ]
        },
    )


def _sg(tags: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "GroupId": "sg-made",
        "GroupName": "remediator-lambda-endpoint-vpc-1",
        "VpcId": "vpc-1",
        "Tags": tags,
    }


def test_a_duplicate_group_carrying_the_change_tag_is_the_one_a_lost_attempt_made(
    stubbed: Stubbed,
) -> None:
    change = _sg_change()
    progress: list[dict[str, Any] | None] = []
    stubbed.aws.on_progress = progress.append
    stubbed.ec2.add_client_error(
        "create_security_group", service_error_code="InvalidGroup.Duplicate", http_status_code=400
    )
    _sg_lookup(stubbed.ec2, [_sg([{"Key": "remediator:change-id", "Value": "c-sg"}])])
    stubbed.ec2.add_response("authorize_security_group_ingress", {"Return": True})
    out = registry.handler(change.kind).apply(stubbed.aws, change, base.Live({}), {})
    assert out == {"GroupId": "sg-made"}
    assert progress == [{"GroupId": "sg-made"}]
    stubbed.ec2.assert_no_pending_responses()


def test_a_duplicate_group_without_the_change_tag_is_someone_elses(stubbed: Stubbed) -> None:
    change = _sg_change()
    stubbed.ec2.add_client_error(
        "create_security_group", service_error_code="InvalidGroup.Duplicate", http_status_code=400
    )
    _sg_lookup(stubbed.ec2, [_sg([{"Key": "remediator:change-id", "Value": "c-other"}])])
    with pytest.raises(AwsCallFailed, match=r"InvalidGroup\.Duplicate"):
        registry.handler(change.kind).apply(stubbed.aws, change, base.Live({}), {})
    stubbed.ec2.assert_no_pending_responses()


def test_the_groups_rule_retried_after_a_lost_answer_is_taken_as_made(stubbed: Stubbed) -> None:
    change = _sg_change()
    stubbed.ec2.add_response("create_security_group", {"GroupId": "sg-made"})
    stubbed.ec2.add_client_error(
        "authorize_security_group_ingress",
        service_error_code="InvalidPermission.Duplicate",
        http_status_code=400,
    )
    out = registry.handler(change.kind).apply(stubbed.aws, change, base.Live({}), {})
    assert out == {"GroupId": "sg-made"}  # not deleted, not failed
    stubbed.ec2.assert_no_pending_responses()


# --------------------------------------------------------------------------
# AuthorizeEndpointIngress: a rule whose answer was lost, a kill after it

OTHER = {
    "protocol": "tcp",
    "from_port": 443,
    "to_port": 443,
    "cidrs": ["10.0.0.0/8"],
    "group_ids": [],
}


def _ingress_change() -> Change:
    return make_change(
        id="c-in",
        kind=registry.AUTHORIZE_ENDPOINT_INGRESS,
        region=REGION,
        target="sg-ep",
        after={"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "SourceSecurityGroupIds": [SG]},
        risk="low",
        reason="test",
        fingerprint=_fp({"GroupId": "sg-ep", "Ingress": [OTHER]}),
    )


def test_an_ingress_rule_retried_after_a_lost_answer_is_done(stubbed: Stubbed) -> None:
    change = _ingress_change()
    stubbed.ec2.add_client_error(
        "authorize_security_group_ingress",
        service_error_code="InvalidPermission.Duplicate",
        http_status_code=400,
    )
    assert registry.handler(change.kind).apply(stubbed.aws, change, base.Live({}), {}) == {}
    stubbed.ec2.add_client_error(
        "authorize_security_group_ingress",
        service_error_code="InvalidPermission.NotFound",
        http_status_code=400,
    )
    with pytest.raises(AwsCallFailed, match="NotFound"):
        registry.handler(change.kind).apply(stubbed.aws, change, base.Live({}), {})


def test_an_ingress_rule_in_effect_after_a_kill_is_the_whole_change(stubbed: Stubbed) -> None:
    change = _ingress_change()
    h = registry.handler(change.kind)

    def own(*rules: dict[str, Any]) -> base.OwnWork | None:
        live = base.Live({"GroupId": "sg-ep", "Ingress": list(rules)})
        return h.own_work(stubbed.aws, change, live)

    ours = {**OTHER, "cidrs": [], "group_ids": [SG]}
    # AWS merges rules of the same ports: one rule or two, the same allowance
    merged = {**OTHER, "group_ids": [SG]}
    assert own(OTHER, ours) == base.OwnWork({}, complete=True)
    assert own(merged) == base.OwnWork({}, complete=True)
    assert own(OTHER) is None  # as planned: nothing happened
    assert own(ours) is None  # someone also removed the other rule: not only ours
    extra = {**OTHER, "cidrs": ["0.0.0.0/0"]}
    assert own(OTHER, ours, extra) is None  # and something else besides


# --------------------------------------------------------------------------
# EnableVpcDns: the state between its two calls


def _dns_change() -> Change:
    before = {"EnableDnsSupport": False, "EnableDnsHostnames": False}
    return make_change(
        id="c-dns",
        kind=registry.ENABLE_VPC_DNS,
        region=REGION,
        target="vpc-1",
        before=before,
        after={"EnableDnsSupport": True, "EnableDnsHostnames": True},
        risk="medium",
        reason="test",
        fingerprint=_fp(before),
    )


def test_enable_vpc_dns_journals_progress_between_its_two_calls(stubbed: Stubbed) -> None:
    change = _dns_change()
    progress: list[dict[str, Any] | None] = []
    stubbed.aws.on_progress = progress.append
    for key in ("EnableDnsSupport", "EnableDnsHostnames"):
        stubbed.ec2.add_response(
            "modify_vpc_attribute", {}, {"VpcId": "vpc-1", key: {"Value": True}}
        )
    registry.handler(change.kind).apply(stubbed.aws, change, base.Live({}), {})
    assert progress == [{"Set": ["EnableDnsSupport"]}]
    stubbed.ec2.assert_no_pending_responses()


def test_enable_vpc_dns_that_took_its_first_call_back_says_nothing_is_in_effect(
    stubbed: Stubbed,
) -> None:
    change = _dns_change()
    progress: list[dict[str, Any] | None] = []
    stubbed.aws.on_progress = progress.append
    stubbed.ec2.add_response(
        "modify_vpc_attribute", {}, {"VpcId": "vpc-1", "EnableDnsSupport": {"Value": True}}
    )
    stubbed.ec2.add_client_error(
        "modify_vpc_attribute", service_error_code="UnauthorizedOperation", http_status_code=403
    )
    stubbed.ec2.add_response(
        "modify_vpc_attribute", {}, {"VpcId": "vpc-1", "EnableDnsSupport": {"Value": False}}
    )
    with pytest.raises(AwsCallFailed, match="UnauthorizedOperation"):
        registry.handler(change.kind).apply(stubbed.aws, change, base.Live({}), {})
    assert progress == [{"Set": ["EnableDnsSupport"]}, None]
    stubbed.ec2.assert_no_pending_responses()


def test_enable_vpc_dns_owns_the_state_between_its_two_calls(stubbed: Stubbed) -> None:
    change = _dns_change()
    h = registry.handler(change.kind)

    def own(support: bool, hostnames: bool) -> base.OwnWork | None:
        live = base.Live({"EnableDnsSupport": support, "EnableDnsHostnames": hostnames})
        return h.own_work(stubbed.aws, change, live)

    assert own(True, False) == base.OwnWork({})
    # hostnames without support is not a state its calls make: someone else's
    assert own(False, True) is None
    assert own(False, False) is None  # as planned
    assert own(True, True) is None  # as it leaves it (recognised as done, not as a part)


# --------------------------------------------------------------------------
# Dry run: the guard, and check_plan reads only


def test_dry_run_guard_raises_before_any_request(fake_time: FakeTime) -> None:
    made: list[str] = []

    def factory(service: str, region: str) -> Any:
        made.append(service)
        raise AssertionError("no client may be made for a refused call")

    aws = door.Aws(
        factory,
        settings=door.Settings(clock=fake_time.clock, sleep=fake_time.sleep),
        dry_run=True,
    )
    with pytest.raises(AssertionError, match="dry-run must not call ec2:CreateRoute"):
        aws.call(
            "ec2",
            REGION,
            "create_route",
            RouteTableId="rtb-1",
            DestinationCidrBlock="0.0.0.0/0",
            NatGatewayId="nat-1",
        )
    with pytest.raises(AssertionError, match="lambda:UpdateFunctionConfiguration"):
        aws.call("lambda", REGION, "update_function_configuration", FunctionName="f")
    assert made == []
    assert aws.calls == []


def test_dry_run_guard_lets_reads_through(fake_time: FakeTime) -> None:
    with _stubbed(fake_time, mode="check") as stubbed:
        stubbed.ec2.add_response("describe_vpcs", {"Vpcs": []})
        assert stubbed.aws.call("ec2", REGION, "describe_vpcs") == {"Vpcs": []}


class FakeWorld:
    """Answers every read the handlers make, from a tiny fixed world, and
    records every operation; has no mutating operation at all."""

    SUBNETS: ClassVar[dict[str, str]] = {
        "subnet-public-a": "us-east-1a",
        "subnet-private-a": "us-east-1a",
        "subnet-private-b": "us-east-1b",
        "subnet-iso-a": "us-east-1a",
        "subnet-a": "us-east-1a",
        "subnet-b": "us-east-1b",
    }

    def __init__(self) -> None:
        self.operations: list[str] = []

    def __getattr__(self, name: str) -> Any:
        if not name.startswith(("describe_", "get_", "list_")):
            raise AssertionError(f"mutating call {name}")
        answer = getattr(self, "_" + name)

        def call(**params: Any) -> dict[str, Any]:
            self.operations.append(name)
            return dict(answer(**params))

        return call

    def _get_caller_identity(self) -> dict[str, Any]:
        return {"Account": ACCOUNT}

    def _get_function_configuration(self, FunctionName: str) -> dict[str, Any]:
        return _config(CodeSha256="sha-1")

    def _get_alias(self, FunctionName: str, Name: str) -> dict[str, Any]:
        return {"FunctionVersion": "1", "RevisionId": "alias-rev"}

    def _describe_subnets(self, Filters: list[dict[str, Any]]) -> dict[str, Any]:
        ids = Filters[0]["Values"]
        return {
            "Subnets": [
                {
                    "SubnetId": s,
                    "VpcId": "vpc-1",
                    "AvailabilityZone": self.SUBNETS[s],
                    "AvailableIpAddressCount": 100,
                }
                for s in ids
                if s in self.SUBNETS
            ]
        }

    def _describe_route_tables(self, RouteTableIds: list[str]) -> dict[str, Any]:
        return {
            "RouteTables": [
                {
                    "RouteTableId": RouteTableIds[0],
                    "VpcId": "vpc-1",
                    "Routes": [{"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local"}],
                    "Associations": [{"SubnetId": "subnet-iso-a"}],
                }
            ]
        }

    def _describe_nat_gateways(self, NatGatewayIds: list[str]) -> dict[str, Any]:
        return {"NatGateways": [{"NatGatewayId": NatGatewayIds[0], "State": "available"}]}

    def _describe_vpc_attribute(self, VpcId: str, Attribute: str) -> dict[str, Any]:
        key = Attribute[0].upper() + Attribute[1:]
        return {key: {"Value": False}}

    def _describe_security_groups(self, **params: Any) -> dict[str, Any]:
        if "GroupIds" in params:
            return {"SecurityGroups": [{"GroupId": params["GroupIds"][0], "IpPermissions": []}]}
        return {"SecurityGroups": []}

    def _describe_vpc_endpoints(self, **params: Any) -> dict[str, Any]:
        if "VpcEndpointIds" in params:
            return {
                "VpcEndpoints": [
                    {"VpcEndpointId": params["VpcEndpointIds"][0], "PrivateDnsEnabled": False}
                ]
            }
        return {"VpcEndpoints": []}


def _every_kind() -> list[Change]:
    def change(
        kind: str,
        target: str,
        before: Any,
        after: dict[str, Any],
        state: dict[str, Any],
        revision: str | None = None,
    ) -> Change:
        return make_change(
            id=f"c-{kind}",
            kind=kind,
            region=REGION,
            target=target,
            before=before,
            after=after,
            risk="low",
            reason=kind,
            fingerprint=_fp(state, revision),
        )

    route_state = {"RouteTableId": "rtb-iso", "DefaultRoute": None}
    sg_after = {
        "GroupName": "remediator-lambda-endpoint-vpc-1",
        "Description": "d",
        "VpcId": "vpc-1",
        "IngressTcp443FromGroups": [SG],
    }
    return [
        change(
            registry.ENABLE_VPC_DNS,
            "vpc-1",
            {"EnableDnsSupport": False, "EnableDnsHostnames": False},
            {"EnableDnsSupport": True, "EnableDnsHostnames": True},
            {"EnableDnsSupport": False, "EnableDnsHostnames": False},
        ),
        change(
            registry.CREATE_ENDPOINT_SG,
            "vpc-1",
            None,
            sg_after,
            {"VpcId": "vpc-1", "GroupName": sg_after["GroupName"], "Exists": False},
        ),
        change(
            registry.AUTHORIZE_ENDPOINT_INGRESS,
            "sg-endpoint",
            None,
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "SourceSecurityGroupIds": [SG]},
            {"GroupId": "sg-endpoint", "Ingress": []},
        ),
        _endpoint_change().model_copy(update={"depends_on": ("c-" + registry.CREATE_ENDPOINT_SG,)}),
        change(
            registry.ENABLE_ENDPOINT_PRIVATE_DNS,
            "vpce-1",
            {"PrivateDnsEnabled": False},
            {"PrivateDnsEnabled": True},
            {"VpcEndpointId": "vpce-1", "PrivateDnsEnabled": False},
        ),
        change(
            registry.PUT_NAT_ROUTE,
            "rtb-iso",
            None,
            {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-1"},
            route_state,
        ),
        _vpc_change(),
        change(
            registry.MOVE_ALIAS,
            f"{FN_ARN}:live",
            {"FunctionVersion": "1"},
            {"FunctionVersion": "$NEW", "PublishFrom": "$LATEST", "CodeSha256": "sha-1"},
            {"AliasArn": f"{FN_ARN}:live", "FunctionVersion": "1"},
            "alias-rev",
        ),
    ]


def _plan(changes: list[Change]) -> Plan:
    return with_digest(
        Plan(
            plan_id="plan-test",
            created_at="2026-01-01T00:00:00Z",
            tool_version="0",
            account_id=ACCOUNT,
            regions=(REGION,),
            policy_digest="sha256:0",
            summary=PlanSummary(changes=len(changes)),
            changes=tuple(changes),
        )
    )


@pytest.mark.parametrize("dry_run", [True, False])
def test_check_plan_reads_only_and_validates_every_kind(fake_time: FakeTime, dry_run: bool) -> None:
    world = FakeWorld()
    aws = door.Aws(
        lambda service, region: world,
        settings=door.Settings(clock=fake_time.clock, sleep=fake_time.sleep),
        dry_run=dry_run,
    )
    changes = _every_kind()
    assert {c.kind for c in changes} == set(registry.KINDS)
    reports = engine.check_plan(aws, _plan(changes), changes)

    assert [(r.change_id, r.outcome) for r in reports] == [(c.id, "would-apply") for c in changes]
    assert world.operations
    assert all(op.startswith(("describe_", "get_", "list_")) for op in world.operations)
    assert all(c.split(":")[1].startswith(door.READ_PREFIXES) for c in aws.calls)


def test_check_plan_reports_stale_and_invalid_changes(fake_time: FakeTime) -> None:
    world = FakeWorld()
    aws = door.Aws(
        lambda service, region: world,
        settings=door.Settings(clock=fake_time.clock, sleep=fake_time.sleep),
        dry_run=True,
    )
    vpc = _vpc_change()
    stale = vpc.model_copy(
        update={"id": "c-stale", "fingerprint": _fp(vpc_config_state(NEW, [SG]))}
    )
    invalid = vpc.model_copy(
        update={
            "id": "c-invalid",
            "after": UpdateVpcConfigAfter(SubnetIds=("subnet-gone",), SecurityGroupIds=(SG,)),
        }
    )
    reports = engine.check_plan(aws, _plan([stale, invalid]), [stale, invalid])
    assert [r.outcome for r in reports] == ["stale", "invalid"]
    assert "subnet-gone" in reports[1].detail
