"""Discovery reads a function's aliases only when its diagnosis needs them (moto).

The world (us-east-1): one VPC with an internet gateway, two public subnets
(one holds a NAT gateway) and two private subnets routed to the NAT. Each
function has the shape its name says (``v1``: published version 1, which the
alias ``live`` runs; ``$LATEST`` then moved where the table says).

With the rule ``run`` passes (``alias_reads_needed``), ``ListAliases`` goes
only to the functions in a VPC with a published VPC version where ``$LATEST``
or a published version has no egress; the plan is the same as with today's
rule (every function with a published VPC version), the EC2 describes too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from remediator import planner
from remediator.aws import discover as discovery
from remediator.diagnose.alias_reads import alias_reads_needed
from remediator.domain.findings import ALIAS_BROKEN, LATEST_BROKEN_ALIAS_OK
from remediator.domain.inventory import Inventory
from remediator.domain.policy import default_policy
from tests.moto_worlds import function_zip

REGION = "us-east-1"
NOW = "2026-01-01T00:00:00Z"


@dataclass(frozen=True)
class Shape:
    """A function: where version 1 was published, where ``$LATEST`` is now
    (``None``: no VPC; ``"same"``: not moved), whether ``live`` exists."""

    published: str | None
    latest: str | None
    alias: bool = True


# name -> (shape, ListAliases expected, the alias findings expected)
CASES: dict[str, tuple[Shape, bool, set[str]]] = {
    "healthy-both": (Shape("private", "same"), False, set()),
    "healthy-moved": (Shape("private", "private2"), False, set()),
    "broken-version": (Shape("public", "private"), True, {ALIAS_BROKEN}),
    "broken-latest": (Shape("private", "public"), True, {LATEST_BROKEN_ALIAS_OK}),
    "broken-both": (Shape("public", "same"), True, {ALIAS_BROKEN}),
    "broken-version-no-alias": (Shape("public", "private", alias=False), True, set()),
    "latest-left-the-vpc": (Shape("public", None), False, set()),
    "version-outside-vpc": (Shape(None, "public"), False, set()),
    "no-version-broken": (Shape("public", "same", alias=False), False, set()),
}


@pytest.fixture(scope="module")
def world() -> Iterator[boto3.session.Session]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", REGION)
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
            env.delenv(name, raising=False)
        with mock_aws():
            session = discovery.make_session()
            _seed(session)
            yield session


def _seed(session: boto3.session.Session) -> None:
    ec2 = session.client("ec2", region_name=REGION)
    lam = session.client("lambda", region_name=REGION)
    iam = session.client("iam", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)

    def subnet(cidr: str, az: str) -> str:
        return str(
            ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=f"{REGION}{az}")[
                "Subnet"
            ]["SubnetId"]
        )

    def table(subnets: list[str], **route: str) -> None:
        rt = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        ec2.create_route(RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0", **route)
        for s in subnets:
            ec2.associate_route_table(RouteTableId=rt, SubnetId=s)

    public = [subnet("10.0.0.0/24", "a"), subnet("10.0.1.0/24", "b")]
    private = [subnet("10.0.10.0/24", "a"), subnet("10.0.11.0/24", "b")]
    private2 = [subnet("10.0.20.0/24", "a"), subnet("10.0.21.0/24", "b")]
    table(public, GatewayId=igw)
    nat = ec2.create_nat_gateway(SubnetId=public[0])["NatGateway"]["NatGatewayId"]
    table(private + private2, NatGatewayId=nat)
    group = ec2.create_security_group(GroupName="fn", Description="fn", VpcId=vpc)["GroupId"]
    role = iam.create_role(
        RoleName="fn-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    places = {"public": public, "private": private, "private2": private2}

    def config(place: str | None) -> dict[str, list[str]]:
        subnets = places[place] if place else []
        return {"SubnetIds": subnets, "SecurityGroupIds": [group] if subnets else []}

    for name, (shape, _, _) in CASES.items():
        body: dict[str, Any] = {
            "FunctionName": name,
            "Runtime": "python3.12",
            "Role": role,
            "Handler": "h.h",
            "Code": {"ZipFile": function_zip()},
        }
        if shape.published:
            body["VpcConfig"] = config(shape.published)
        lam.create_function(**body)
        if shape.alias or shape.latest != "same":
            version = lam.publish_version(FunctionName=name)["Version"]
            if shape.alias:
                lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
        if shape.latest != "same":
            lam.update_function_configuration(FunctionName=name, VpcConfig=config(shape.latest))


def _discover(session: boto3.session.Session, **kwargs: Any) -> tuple[Inventory, list[str]]:
    """The inventory, and the functions ``ListAliases`` was sent for."""
    asked: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        asked.append(str(params["FunctionName"]))

    session.events.register("provide-client-params.lambda.ListAliases", record)
    try:
        inventory = discovery.discover(session, [REGION], **kwargs)
    finally:
        session.events.unregister("provide-client-params.lambda.ListAliases", record)
    return inventory, asked


def test_the_world_has_the_shapes_the_cases_name(world: boto3.session.Session) -> None:
    """Guard: moto kept each function's $LATEST and version 1 where the table says."""
    inventory, _ = _discover(world)
    by_name = {f.name: f for f in inventory.regions[0].functions}
    assert sorted(by_name) == sorted(CASES)
    assert by_name["latest-left-the-vpc"].vpc_config is None
    assert by_name["version-outside-vpc"].vpc_config is not None
    assert by_name["version-outside-vpc"].versions == ()  # no VPC version: never read


def test_aliases_are_read_only_for_functions_a_diagnosis_needs_them_for(
    world: boto3.session.Session,
) -> None:
    inventory, asked = _discover(world, needs_details=alias_reads_needed)

    assert sorted(asked) == sorted(n for n, (_, read, _) in CASES.items() if read)
    assert len(asked) == len(set(asked))
    for fn in inventory.regions[0].functions:
        read = CASES[fn.name][1]
        # details_loaded says what was read: versions and aliases, or neither
        assert fn.details_loaded is read, fn.name
        if not read:
            assert (fn.versions, fn.aliases) == ((), ()), fn.name
        elif CASES[fn.name][0].alias:
            assert [a.name for a in fn.aliases] == ["live"], fn.name
    assert inventory.api_calls["lambda:ListAliases"] == len(asked)


def test_without_a_rule_every_function_with_a_vpc_version_is_read(
    world: boto3.session.Session,
) -> None:
    _, asked = _discover(world)

    with_vpc_version = {
        n
        for n, (shape, _, _) in CASES.items()
        if shape.published and (shape.alias or shape.latest != "same")
    }
    assert sorted(asked) == sorted(with_vpc_version)


def test_the_plan_and_the_ec2_reads_are_the_same_with_the_rule(
    world: boto3.session.Session,
) -> None:
    everything, asked_all = _discover(world)
    needed, asked = _discover(world, needs_details=alias_reads_needed)
    assert len(asked) < len(asked_all)

    # the EC2 describes (and every call but ListAliases) do not change
    other = lambda inv: {k: v for k, v in inv.api_calls.items() if k != "lambda:ListAliases"}  # noqa: E731
    assert other(needed) == other(everything)
    assert any(k.startswith("ec2:") for k in other(needed))

    before = planner.build_plan(everything, default_policy(), NOW).model_dump(mode="json")
    after = planner.build_plan(needed, default_policy(), NOW).model_dump(mode="json")
    calls = (before["metadata"].pop("api_calls"), after["metadata"].pop("api_calls"))
    before.pop("digest", None)
    after.pop("digest", None)
    assert after == before
    assert calls[0]["lambda:ListAliases"] == len(asked_all)
    assert calls[1]["lambda:ListAliases"] == len(asked)

    codes: dict[str, set[str]] = {name: set() for name in CASES}
    for f in after["findings"]:
        if f["code"] in (ALIAS_BROKEN, LATEST_BROKEN_ALIAS_OK):
            codes[f["function"]].add(f["code"])
    assert codes == {name: expected for name, (_, _, expected) in CASES.items()}
