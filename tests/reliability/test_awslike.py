"""The AWS-like fixture: each behaviour moto lacks, shown on its own, then
the apply flow (plan -> dry run -> apply -> rollback) running on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError

from remediator.changes import registry
from remediator.domain.outcomes import EXIT_OK, EXIT_STALE
from remediator.run.apply import ApplyOptions, run_apply, run_rollback
from remediator.run.journal import read_journal
from tests.reliability.conftest import (
    NOW,
    REGION,
    World,
    add_extra_functions,
    open_world,
    outcome_text,
)


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


# --------------------------------------------------------------------------
# Each behaviour


def test_list_functions_pages_of_50(world: World) -> None:
    add_extra_functions(world, 60)  # 8 seeded + 60
    lam = world.factory("lambda", REGION)
    first = lam.list_functions()
    assert len(first["Functions"]) == 50
    assert first["NextMarker"]
    second = lam.list_functions(Marker=first["NextMarker"])
    assert len(second["Functions"]) == 18
    assert "NextMarker" not in second
    assert len(lam.list_functions(MaxItems=7)["Functions"]) == 7
    names = [
        f["FunctionName"]
        for p in lam.get_paginator("list_functions").paginate()
        for f in p["Functions"]
    ]
    assert len(names) == len(set(names)) == 68
    with pytest.raises(ClientError) as caught:
        lam.list_functions(Marker="forged")
    assert _code(caught) == "InvalidParameterValueException"


def test_ec2_describes_page(world: World) -> None:
    world.awslike.ec2_page = 2
    ec2 = world.factory("ec2", REGION)
    first = ec2.describe_subnets()
    assert len(first["Subnets"]) == 2 and first["NextToken"]
    everything = [s for p in ec2.get_paginator("describe_subnets").paginate() for s in p["Subnets"]]
    assert len(everything) == len(world.raw("ec2").describe_subnets()["Subnets"])
    assert len(ec2.describe_route_tables(MaxResults=5)["RouteTables"]) == 2  # page below MaxResults


def test_discovery_follows_every_page(world: World) -> None:
    """Discovery with 1-item EC2 pages and 50-function Lambda pages sees the
    same world, and plans the same changes, as with everything on one page."""
    add_extra_functions(world, 55)
    whole, _ = world.plan(name="whole.json")
    world.awslike.ec2_page = 1
    paged, _ = world.plan(name="paged.json")
    assert world.awslike.seen["lambda-page"] >= 4  # two plans, two pages each at least
    assert [c.model_dump() for c in paged.changes] == [c.model_dump() for c in whole.changes]
    assert len(paged.changes) == 5 + 55


def test_update_in_progress_conflict_and_revision_ids(world: World) -> None:
    lam = world.factory("lambda", REGION)
    assert world.info is not None
    cfg = lam.get_function_configuration(FunctionName="reports-nightly")
    revision = cfg["RevisionId"]
    assert cfg["LastUpdateStatus"] == "Successful"
    vpc = {
        "SubnetIds": [world.info.subnets["private-a"]],
        "SecurityGroupIds": [world.info.security_groups["fn-sg"]],
    }
    with pytest.raises(ClientError) as caught:
        lam.update_function_configuration(
            FunctionName="reports-nightly", VpcConfig=vpc, RevisionId="stale"
        )
    assert _code(caught) == "PreconditionFailedException"
    updated = lam.update_function_configuration(
        FunctionName="reports-nightly", VpcConfig=vpc, RevisionId=revision
    )
    assert updated["LastUpdateStatus"] == "InProgress"
    assert updated["RevisionId"] != revision
    # a second update while the first settles: 409
    with pytest.raises(ClientError) as caught:
        lam.update_function_configuration(FunctionName="reports-nightly", VpcConfig=vpc)
    assert _code(caught) == "ResourceConflictException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    states = [
        lam.get_function_configuration(FunctionName="reports-nightly")["LastUpdateStatus"]
        for _ in range(3)
    ]
    assert states[-1] == "Successful" and "InProgress" in states
    # a hand edit by any client moves the RevisionId too
    before = lam.get_function_configuration(FunctionName="reports-nightly")["RevisionId"]
    world.raw("lambda").update_function_configuration(FunctionName="reports-nightly", Timeout=30)
    assert lam.get_function_configuration(FunctionName="reports-nightly")["RevisionId"] != before
    # the same RevisionId in the list and in the configuration (the planner compares them)
    listed = {f["FunctionName"]: f["RevisionId"] for f in lam.list_functions()["Functions"]}
    assert (
        listed["reports-nightly"]
        == lam.get_function_configuration(FunctionName="reports-nightly")["RevisionId"]
    )


def test_alias_revision_id_is_checked(world: World) -> None:
    lam = world.factory("lambda", REGION)
    with pytest.raises(ClientError) as caught:
        lam.update_alias(
            FunctionName="orders-api", Name="live", FunctionVersion="1", RevisionId="old"
        )
    assert _code(caught) == "PreconditionFailedException"
    current = lam.get_alias(FunctionName="orders-api", Name="live")["RevisionId"]
    lam.update_alias(
        FunctionName="orders-api", Name="live", FunctionVersion="1", RevisionId=current
    )


def test_vpc_config_validation(world: World) -> None:
    assert world.info is not None
    lam = world.factory("lambda", REGION)
    sg = world.info.security_groups["fn-sg"]
    cases: list[tuple[dict[str, Any], str, str]] = [
        (
            {"SubnetIds": ["subnet-00000000"], "SecurityGroupIds": [sg]},
            "InvalidParameterValueException",
            "InvalidSubnetID.NotFound",
        ),
        (
            {
                "SubnetIds": [world.info.subnets["private-a"], world.info.subnets["legacy-a"]],
                "SecurityGroupIds": [sg],
            },
            "InvalidParameterValueException",
            "different VPCs",
        ),
        (
            {"SubnetIds": [world.info.subnets["private-a"]], "SecurityGroupIds": ["sg-00000000"]},
            "InvalidParameterValueException",
            "InvalidGroup.NotFound",
        ),
        (
            {
                "SubnetIds": [world.info.subnets["private-a"]],
                "SecurityGroupIds": [world.info.security_groups["legacy-fn-sg"]],
            },
            "InvalidParameterValueException",
            "different VPCs",
        ),
        (
            {"SubnetIds": [f"subnet-{i:08x}" for i in range(17)], "SecurityGroupIds": [sg]},
            "ValidationException",
            "16",
        ),
        (
            {"SubnetIds": [world.info.subnets["private-a"]], "SecurityGroupIds": [sg] * 6},
            "ValidationException",
            "5",
        ),
    ]
    before = world.snapshot()
    for vpc, code, text in cases:
        with pytest.raises(ClientError) as caught:
            lam.update_function_configuration(FunctionName="reports-nightly", VpcConfig=vpc)
        assert _code(caught) == code, vpc
        assert text in str(caught.value), str(caught.value)
    assert world.snapshot() == before


def test_dry_run_is_answered_not_executed(world: World) -> None:
    assert world.info is not None
    ec2 = world.factory("ec2", REGION)
    before = world.snapshot()
    with pytest.raises(ClientError) as caught:
        ec2.create_route(
            RouteTableId=world.info.route_tables["private-c"],
            DestinationCidrBlock="0.0.0.0/0",
            NatGatewayId=world.info.nat_gateway_id,
            DryRun=True,
        )
    assert _code(caught) == "DryRunOperation"
    with pytest.raises(ClientError):
        ec2.create_security_group(
            GroupName="x", Description="x", VpcId=world.info.vpc_id, DryRun=True
        )
    assert world.snapshot() == before


def test_nat_gateway_and_endpoint_pending_then_available_and_blackhole(world: World) -> None:
    assert world.info is not None
    ec2 = world.factory("ec2", REGION)
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=world.info.subnets["public-b"], AllocationId=allocation)[
        "NatGateway"
    ]
    assert nat["State"] == "pending"
    states = [
        ec2.describe_nat_gateways(NatGatewayIds=[nat["NatGatewayId"]])["NatGateways"][0]["State"]
        for _ in range(3)
    ]
    assert states == ["pending", "pending", "available"]

    endpoint = ec2.create_vpc_endpoint(
        VpcEndpointType="Interface",
        VpcId=world.info.vpc_id,
        ServiceName=f"com.amazonaws.{REGION}.lambda",
        SubnetIds=[world.info.subnets["private-c"]],
    )["VpcEndpoint"]
    assert endpoint["State"] == "pending"
    eid = endpoint["VpcEndpointId"]
    states = [
        ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-endpoint-id", "Values": [eid]}])[
            "VpcEndpoints"
        ][0]["State"]
        for _ in range(3)
    ]
    assert states == ["pending", "pending", "available"]
    ec2.delete_vpc_endpoints(VpcEndpointIds=[eid])
    assert (
        ec2.describe_vpc_endpoints(VpcEndpointIds=[eid])["VpcEndpoints"][0]["State"] == "deleting"
    )

    # the seeded NAT goes: the private tables' default routes become blackholes
    table = world.info.route_tables["private-a"]

    def default_route() -> dict[str, Any]:
        routes = ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"][0]["Routes"]
        return next(r for r in routes if r.get("DestinationCidrBlock") == "0.0.0.0/0")

    assert default_route()["State"] == "active"
    ec2.delete_nat_gateway(NatGatewayId=world.info.nat_gateway_id)
    assert default_route()["State"] == "blackhole"
    raw_routes = world.raw("ec2").describe_route_tables(RouteTableIds=[table])["RouteTables"][0][
        "Routes"
    ]
    assert {r["State"] for r in raw_routes} == {"active"}, "moto alone keeps it active"


def test_a_blackholed_nat_is_diagnosed_and_not_used(world: World) -> None:
    """With the NAT gone, the private subnets are broken (nat-broken), so the
    planner no longer offers them to orders-api."""
    assert world.info is not None
    world.raw("ec2").delete_nat_gateway(NatGatewayId=world.info.nat_gateway_id)
    plan, _ = world.plan(functions=("orders-api", "orders-fulfil"))
    codes = {(f.function, f.code) for f in plan.findings}
    assert any(fn == "orders-fulfil" for fn, _ in codes), codes
    for change in plan.changes:
        if change.kind == registry.UPDATE_VPC_CONFIG:
            assert world.info.subnets["private-a"] not in change.after["SubnetIds"]


# --------------------------------------------------------------------------
# The apply flow on it


def test_plan_dry_run_apply_rollback_on_the_awslike_world(
    tmp_path: Path, botocore_session: botocore.session.Session
) -> None:
    with open_world(tmp_path, botocore_session, ec2_part=True, extra=3) as world:
        world.awslike.ec2_page = 3
        plan, path = world.plan()
        assert all(
            c.fingerprint.revision_id for c in plan.changes if c.kind == registry.UPDATE_VPC_CONFIG
        )
        assert {c.kind for c in plan.changes} >= {
            registry.UPDATE_VPC_CONFIG,
            registry.MOVE_ALIAS,
            registry.PUT_NAT_ROUTE,
            registry.ENABLE_VPC_DNS,
            registry.CREATE_ENDPOINT_SG,
            registry.CREATE_LAMBDA_ENDPOINT,
        }
        before = world.snapshot()

        dry = run_apply(
            plan, path, world.aws(dry_run=True), ApplyOptions(dry_run=True, max_risk="high")
        )
        assert dry.exit_code == EXIT_OK, outcome_text(dry)
        assert world.recorder.mutations() == []
        assert world.snapshot() == before

        applied = run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high", now=lambda: NOW))
        assert applied.exit_code == EXIT_OK, outcome_text(applied)
        seen = world.awslike.seen
        assert seen["update-in-progress"] >= len(
            [c for c in plan.changes if c.kind == registry.UPDATE_VPC_CONFIG]
        )
        assert seen["pending-state"] >= 1, seen  # the endpoint was waited for
        again, _ = world.plan(name="again.json")
        assert again.changes == ()

        rolled = run_rollback(
            plan, path.with_name("p.journal.jsonl"), world.aws(), None, lambda: NOW
        )
        assert rolled.exit_code == EXIT_OK, outcome_text(rolled)
        assert world.snapshot() == before


def test_a_hand_edit_between_check_and_write_is_a_revision_conflict(world: World) -> None:
    """RevisionId rides on the update: a hand edit (here: the timeout, which
    the state hash does not cover) landing between the stale check and the
    write is refused by AWS (412), and the run rolls back with exit 3."""
    plan, path = world.plan()
    first = next(c for c in plan.changes if c.kind == registry.UPDATE_VPC_CONFIG)
    name = first.target.rsplit(":", 1)[1]
    edited: list[str] = []

    def edit(op: str) -> None:
        if op == "UpdateFunctionConfiguration" and not edited:
            world.raw("lambda").update_function_configuration(FunctionName=name, Timeout=42)
            edited.append(name)

    world.recorder.before_hooks.append(edit)
    before = world.snapshot()
    outcome = run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high", now=lambda: NOW))

    assert edited == [name]
    assert outcome.exit_code == EXIT_STALE, outcome_text(outcome)
    assert world.awslike.seen["precondition-failed"] == 1
    after = world.snapshot()
    for a, b in zip(before["functions"], after["functions"], strict=True):
        if a["name"] != name:
            assert a == b, a["name"]
    assert world.raw("lambda").get_function_configuration(FunctionName=name)["Timeout"] == 42
    view = read_journal(path.with_name("p.journal.jsonl"))
    assert view.finished is not None and view.finished["outcome"] == "stale"


def test_a_create_repeated_with_its_client_token_returns_the_first_resource(world: World) -> None:
    assert world.info is not None
    ec2 = world.factory("ec2", REGION)
    params = {
        "VpcEndpointType": "Interface",
        "VpcId": world.info.vpc_id,
        "ServiceName": f"com.amazonaws.{REGION}.lambda",
        "SubnetIds": [world.info.subnets["private-c"]],
        "ClientToken": "token-1",
    }
    first = ec2.create_vpc_endpoint(**params)["VpcEndpoint"]["VpcEndpointId"]
    again = ec2.create_vpc_endpoint(**params)["VpcEndpoint"]["VpcEndpointId"]
    assert again == first
    live = [
        e
        for e in world.raw("ec2").describe_vpc_endpoints()["VpcEndpoints"]
        if e["State"] != "deleted"
    ]
    assert len(live) == 1
    world.awslike.forget_client_tokens()  # a day later: a new endpoint
    assert ec2.create_vpc_endpoint(**params)["VpcEndpoint"]["VpcEndpointId"] != first
