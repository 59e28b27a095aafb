"""Filters and dual-stack against moto, planned and applied in-process the way
``remediate plan`` and ``remediate apply`` run:

- a dual-stack function (``Ipv6AllowedForDualStack``) moved off a public
  subnet keeps the flag through ``UpdateFunctionConfiguration`` (and a
  rollback restores it): moto, like AWS's replace-the-whole-VpcConfig
  semantics, drops it when a call leaves it out;
- a function whose security group limits egress to the VPC gets the Lambda
  endpoint path (no rule is added to its group), and the re-plan calls it
  healthy with the ``security-group-egress-vpc-only`` note.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from remediator.changes import registry as kinds
from remediator.domain import findings as codes
from remediator.domain.outcomes import EXIT_OK
from remediator.domain.policy import parse_policy
from remediator.run.apply import ApplyOptions, run_apply, run_rollback
from tests.integration.test_apply_flow import ALLOW_ALL, NOW, REGION, World
from tests.moto_worlds import function_zip


def _nat_vpc(ec2: Any, n: int) -> tuple[str, str, list[str]]:
    """VPC 10.n/16: an IGW, a public subnet with a NAT gateway, and two
    private subnets (AZs a, b) routed to it. Returns (vpc, public, private)."""
    vpc = ec2.create_vpc(CidrBlock=f"10.{n}.0.0/16")["Vpc"]["VpcId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    public = ec2.create_subnet(
        VpcId=vpc, CidrBlock=f"10.{n}.0.0/24", AvailabilityZone=f"{REGION}a"
    )["Subnet"]["SubnetId"]
    public_rt = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=public_rt, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    ec2.associate_route_table(RouteTableId=public_rt, SubnetId=public)
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=allocation)["NatGateway"][
        "NatGatewayId"
    ]
    private = []
    for i, az in enumerate("ab"):
        subnet = ec2.create_subnet(
            VpcId=vpc, CidrBlock=f"10.{n}.{10 + i}.0/24", AvailabilityZone=f"{REGION}{az}"
        )["Subnet"]["SubnetId"]
        table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
        ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
        private.append(subnet)
    return vpc, public, private


def _function(lam: Any, name: str, vpc_config: dict[str, Any]) -> None:
    role = boto3.client("iam", region_name=REGION).create_role(
        RoleName=f"{name}-role", AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="h.h",
        Code={"ZipFile": function_zip()},
        VpcConfig=vpc_config,
    )


@pytest.fixture
def bare(session: boto3.session.Session, tmp_path: Path) -> World:
    """An empty moto account."""
    return World(session=session, tmp=tmp_path)


def test_a_subnet_move_keeps_ipv6_allowed_for_dual_stack(bare: World) -> None:
    _, public, private = _nat_vpc(bare.ec2, 4)
    sg = bare.ec2.create_security_group(
        GroupName="ds", Description="ds", VpcId=_vpc_of(bare, public)
    )["GroupId"]
    config = {
        "SubnetIds": [public, *private],
        "SecurityGroupIds": [sg],
        "Ipv6AllowedForDualStack": True,
    }
    _function(bare.lam, "dual", config)
    _function(bare.lam, "plain", {**config, "Ipv6AllowedForDualStack": False})
    policy = parse_policy(ALLOW_ALL)

    plan, path = bare.plan(policy)
    by_fn = {
        c.target.rsplit(":", 1)[1]: c for c in plan.changes if c.kind == kinds.UPDATE_VPC_CONFIG
    }
    assert by_fn["dual"].model_dump(mode="json")["after"]["Ipv6AllowedForDualStack"] is True
    assert "Ipv6AllowedForDualStack" not in by_fn["plain"].model_dump(mode="json")["after"]

    outcome = run_apply(plan, path, bare.aws(), ApplyOptions(max_risk="high", now=lambda: NOW))
    assert outcome.exit_code == EXIT_OK, "\n".join(outcome.lines)
    live = bare.config("dual")["VpcConfig"]
    assert sorted(live["SubnetIds"]) == sorted(private)
    assert live["Ipv6AllowedForDualStack"] is True
    assert not bare.config("plain")["VpcConfig"].get("Ipv6AllowedForDualStack")

    rolled = run_rollback(plan, path.parent / "p.journal.jsonl", bare.aws(), None, lambda: NOW)
    assert rolled.exit_code == EXIT_OK, "\n".join(rolled.lines)
    back = bare.config("dual")["VpcConfig"]
    assert public in back["SubnetIds"] and back["Ipv6AllowedForDualStack"] is True

    # what remediator guards against: a VpcConfig without the key drops it
    bare.lam.update_function_configuration(
        FunctionName="dual", VpcConfig={"SubnetIds": private, "SecurityGroupIds": [sg]}
    )
    assert not bare.config("dual")["VpcConfig"].get("Ipv6AllowedForDualStack")


def _vpc_of(world: World, subnet: str) -> str:
    return str(world.ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["VpcId"])


def test_vpc_only_egress_gets_the_lambda_endpoint_path(bare: World) -> None:
    vpc, _, private = _nat_vpc(bare.ec2, 5)
    sg = bare.ec2.create_security_group(GroupName="vpc-only", Description="vpc-only", VpcId=vpc)[
        "GroupId"
    ]
    bare.ec2.revoke_security_group_egress(
        GroupId=sg, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    bare.ec2.authorize_security_group_egress(
        GroupId=sg,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [{"CidrIp": "10.5.0.0/16"}],
            }
        ],
    )
    _function(bare.lam, "locked", {"SubnetIds": private, "SecurityGroupIds": [sg]})
    egress_before = bare.ec2.describe_security_groups(GroupIds=[sg])["SecurityGroups"][0][
        "IpPermissionsEgress"
    ]
    policy = parse_policy(ALLOW_ALL)

    plan, path = bare.plan(policy)
    (finding,) = [f for f in plan.findings if f.code == codes.SG_EGRESS_BLOCKS]
    assert finding.status == "planned"
    assert {c.kind for c in plan.changes} >= {
        kinds.CREATE_ENDPOINT_SG,
        kinds.CREATE_LAMBDA_ENDPOINT,
    }
    assert all(c.target != sg for c in plan.changes)

    outcome = run_apply(plan, path, bare.aws(), ApplyOptions(max_risk="high", now=lambda: NOW))
    assert outcome.exit_code == EXIT_OK, "\n".join(outcome.lines)

    again, _ = bare.plan(policy, name="again.json")
    assert again.changes == ()
    status = {s.name: s.status for s in again.functions}
    assert status["locked"] == "healthy"
    notes = [f for f in again.findings if f.function == "locked"]
    assert [f.code for f in notes] == [codes.SG_EGRESS_VPC_ONLY]
    assert notes[0].status == "info"
    # the customer's group is as it was
    assert (
        bare.ec2.describe_security_groups(GroupIds=[sg])["SecurityGroups"][0]["IpPermissionsEgress"]
        == egress_before
    )
