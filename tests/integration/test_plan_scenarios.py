"""The whole read-only flow against moto: seed a world with boto3, discover it,
build the plan, and check findings (code, subnets, status) and changes
(kind, target, before/after) scenario by scenario."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws

from remediator import planfile, planner, sandbox
from remediator.aws import discover
from remediator.changes.registry import Change
from remediator.domain.inventory import Inventory
from remediator.domain.plan import Finding, FunctionSummary
from remediator.domain.policy import Policy, Settings, default_policy
from remediator.planfile.model import Plan
from tests.moto_worlds import function_zip

REGION = "us-east-1"
NOW = "2026-01-01T00:00:00Z"
AZ_A, AZ_B, AZ_C = f"{REGION}a", f"{REGION}b", f"{REGION}c"


# --------------------------------------------------------------------------
# A small world builder on top of boto3 (inside mock_aws)


@dataclass
class Aws:
    session: boto3.session.Session
    ec2: Any
    lam: Any
    iam: Any
    _role: str | None = None
    _cidr: int = 0
    arns: dict[str, str] = field(default_factory=dict)

    # -- network

    def vpc(self, *, ipv6: bool = False) -> tuple[str, str]:
        """A new VPC and its main route table."""
        self._cidr += 1
        kwargs: dict[str, Any] = {"CidrBlock": f"10.{self._cidr}.0.0/16"}
        if ipv6:
            kwargs["AmazonProvidedIpv6CidrBlock"] = True
        vpc_id = str(self.ec2.create_vpc(**kwargs)["Vpc"]["VpcId"])
        return vpc_id, self.main_table(vpc_id)

    def main_table(self, vpc_id: str) -> str:
        tables = self.ec2.describe_route_tables(
            Filters=[
                {"Name": "vpc-id", "Values": [vpc_id]},
                {"Name": "association.main", "Values": ["true"]},
            ]
        )["RouteTables"]
        assert len(tables) == 1
        return str(tables[0]["RouteTableId"])

    def igw(self, vpc_id: str) -> str:
        igw = str(self.ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"])
        self.ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
        return igw

    def subnet(self, vpc_id: str, az: str = AZ_A) -> str:
        vpc = self.ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
        second = vpc["CidrBlock"].split(".")[1]
        taken = self.ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
        n = len(taken["Subnets"])
        return str(
            self.ec2.create_subnet(
                VpcId=vpc_id, CidrBlock=f"10.{second}.{n}.0/24", AvailabilityZone=az
            )["Subnet"]["SubnetId"]
        )

    def table(self, vpc_id: str, subnets: list[str], **default_route: str) -> str:
        """An explicit route table for ``subnets``, with ``0.0.0.0/0 -> target`` if given."""
        rt = str(self.ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"])
        if default_route:
            self.ec2.create_route(
                RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0", **default_route
            )
        for s in subnets:
            self.ec2.associate_route_table(RouteTableId=rt, SubnetId=s)
        return rt

    def nat(self, subnet_id: str) -> str:
        allocation = self.ec2.allocate_address(Domain="vpc")["AllocationId"]
        return str(
            self.ec2.create_nat_gateway(SubnetId=subnet_id, AllocationId=allocation)["NatGateway"][
                "NatGatewayId"
            ]
        )

    def sg(self, vpc_id: str, name: str = "fn") -> str:
        return str(
            self.ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc_id)[
                "GroupId"
            ]
        )

    # -- lambda

    @property
    def role(self) -> str:
        if self._role is None:
            self._role = str(
                self.iam.create_role(
                    RoleName="lambda-role",
                    AssumeRolePolicyDocument='{"Version": "2012-10-17", "Statement": []}',
                )["Role"]["Arn"]
            )
        return self._role

    def function(self, name: str, subnets: list[str] | None = None, sgs: Sequence[str] = ()) -> str:
        params: dict[str, Any] = {
            "FunctionName": name,
            "Runtime": "python3.12",
            "Role": self.role,
            "Handler": "handler.handler",
            "Code": {"ZipFile": function_zip()},
        }
        if subnets is not None:
            params["VpcConfig"] = {"SubnetIds": subnets, "SecurityGroupIds": list(sgs)}
        arn = str(self.lam.create_function(**params)["FunctionArn"])
        self.arns[name] = arn
        return arn

    # -- the flow under test

    def plan(self, policy: Policy | None = None) -> Plan:
        """discover -> build_plan, reading what the policy needs (as `remediate plan` does)."""
        policy = policy or default_policy()
        return planner.build_plan(_discover(policy), policy, NOW)


def _discover(policy: Policy) -> Inventory:
    return discover.discover(
        boto3.Session(region_name=REGION),
        [REGION],
        need_tags=policy.uses_tags,
        dns_for_all_vpcs=policy.may_create_endpoints,
    )


@dataclass
class Shop:
    """A VPC with an IGW, public subnets in a/b, a NAT in public-a and NAT-routed
    private subnets in a/b (each its own table), and a function security group."""

    vpc: str
    main: str
    igw: str
    public_a: str
    public_b: str
    private_a: str
    private_b: str
    public_rt: str
    private_a_rt: str
    private_b_rt: str
    nat: str
    sg: str


@pytest.fixture
def aws() -> Iterator[Aws]:
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        yield Aws(
            session=session,
            ec2=session.client("ec2"),
            lam=session.client("lambda"),
            iam=session.client("iam"),
        )


def _shop(aws: Aws) -> Shop:
    vpc, main = aws.vpc()
    igw = aws.igw(vpc)
    public_a, public_b = aws.subnet(vpc, AZ_A), aws.subnet(vpc, AZ_B)
    private_a, private_b = aws.subnet(vpc, AZ_A), aws.subnet(vpc, AZ_B)
    public_rt = aws.table(vpc, [public_a, public_b], GatewayId=igw)
    nat = aws.nat(public_a)
    return Shop(
        vpc=vpc,
        main=main,
        igw=igw,
        public_a=public_a,
        public_b=public_b,
        private_a=private_a,
        private_b=private_b,
        public_rt=public_rt,
        private_a_rt=aws.table(vpc, [private_a], NatGatewayId=nat),
        private_b_rt=aws.table(vpc, [private_b], NatGatewayId=nat),
        nat=nat,
        sg=aws.sg(vpc),
    )


# --------------------------------------------------------------------------
# Plan lookups


def _findings(plan: Plan, function: str) -> list[Finding]:
    return [f for f in plan.findings if f.function == function]


def _finding(plan: Plan, function: str, code: str, qualifier: str = "$LATEST") -> Finding:
    found = [
        f
        for f in plan.findings
        if f.function == function and f.code == code and f.qualifier == qualifier
    ]
    assert len(found) == 1, [(f.function, f.code, f.qualifier) for f in plan.findings]
    return found[0]


def _codes(plan: Plan, function: str) -> set[str]:
    return {f.code for f in _findings(plan, function)}


def _summary(plan: Plan, function: str) -> FunctionSummary:
    return next(s for s in plan.functions if s.name == function)


def _changes(plan: Plan, target: str) -> list[Change]:
    return [c for c in plan.changes if c.target == target]


def _change(plan: Plan, fixed_by: tuple[str, ...]) -> list[Change]:
    ids = set(fixed_by)
    return [c for c in plan.changes if c.id in ids]


def _vpc_config(subnets: list[str], sgs: list[str]) -> dict[str, list[str]]:
    """A planned ``after``: sorted lists."""
    return {"SubnetIds": sorted(subnets), "SecurityGroupIds": sorted(sgs)}


def _as_created(subnets: list[str], sgs: list[str]) -> dict[str, list[str]]:
    """A ``before``: AWS's order, kept so that rollback restores the list exactly."""
    return {"SubnetIds": list(subnets), "SecurityGroupIds": list(sgs)}


# --------------------------------------------------------------------------
# Scenarios


def test_mixed_public_private_drops_only_the_public_subnet(aws: Aws) -> None:
    shop = _shop(aws)
    subnets = [shop.public_a, shop.private_a, shop.private_b]
    arn = aws.function("mixed", subnets, [shop.sg])

    plan = aws.plan()

    finding = _finding(plan, "mixed", "public-subnets-mixed")
    assert finding.subnet_ids == (shop.public_a,)
    assert finding.status == "planned"
    assert finding.affected_share == pytest.approx(1 / 3, abs=0.001)
    (evidence,) = finding.evidence
    assert (evidence.egress, evidence.route_table_id, evidence.association) == (
        "public",
        shop.public_rt,
        "explicit",
    )
    assert evidence.route == f"0.0.0.0/0 -> {shop.igw}"
    assert _codes(plan, "mixed") == {"public-subnets-mixed"}

    (change,) = _changes(plan, arn)
    assert change.kind == "lambda.update-vpc-config"
    assert finding.fixed_by == (change.id,)
    assert change.before == _as_created(subnets, [shop.sg])
    assert change.after == _vpc_config([shop.private_a, shop.private_b], [shop.sg])
    assert set(change.before["SubnetIds"]) - set(change.after["SubnetIds"]) == {shop.public_a}
    assert change.after["SecurityGroupIds"] == change.before["SecurityGroupIds"]
    assert change.risk == "low"
    assert plan.changes == (change,)


def test_all_public_moves_to_nat_routed_subnets_of_the_vpc(aws: Aws) -> None:
    shop = _shop(aws)
    arn = aws.function("public", [shop.public_a, shop.public_b], [shop.sg])

    plan = aws.plan()

    finding = _finding(plan, "public", "public-subnets-all")
    assert finding.subnet_ids == tuple(sorted([shop.public_a, shop.public_b]))
    assert finding.status == "planned"
    assert finding.severity == "critical"
    (change,) = _changes(plan, arn)
    assert change.kind == "lambda.update-vpc-config"
    assert finding.fixed_by == (change.id,)
    assert change.before == _as_created([shop.public_a, shop.public_b], [shop.sg])
    # Replaced: one NAT-routed subnet per AZ it had, security groups kept.
    assert change.after == _vpc_config([shop.private_a, shop.private_b], [shop.sg])


def test_all_public_without_alternative_is_blocked_with_a_manual_step(aws: Aws) -> None:
    vpc, _ = aws.vpc()
    igw = aws.igw(vpc)
    a, b = aws.subnet(vpc, AZ_A), aws.subnet(vpc, AZ_B)
    aws.table(vpc, [a, b], GatewayId=igw)
    arn = aws.function("stuck", [a, b], [aws.sg(vpc)])

    plan = aws.plan()

    finding = _finding(plan, "stuck", "public-subnets-all")
    assert finding.subnet_ids == tuple(sorted([a, b]))
    assert finding.status == "blocked"
    assert finding.fixed_by == ()
    assert finding.manual_step
    assert "no NAT-routed subnet" in finding.manual_step
    assert _changes(plan, arn) == []
    assert plan.changes == ()
    assert plan.summary.blocked == 1


def test_implicit_main_table_association_to_an_igw_is_public(aws: Aws) -> None:
    vpc, main = aws.vpc()
    igw = aws.igw(vpc)
    aws.ec2.create_route(RouteTableId=main, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    implicit = aws.subnet(vpc, AZ_A)  # no explicit association: uses the main table
    private = aws.subnet(vpc, AZ_B)
    spare = aws.subnet(vpc, AZ_A)  # NAT-routed, not used by the function
    nat = aws.nat(implicit)
    private_rt = aws.table(vpc, [private, spare], NatGatewayId=nat)
    sg = aws.sg(vpc)
    arn = aws.function("implicit", [implicit, private], [sg])

    plan = aws.plan()

    finding = _finding(plan, "implicit", "public-subnets-mixed")
    assert finding.subnet_ids == (implicit,)
    (evidence,) = finding.evidence
    assert evidence.association == "main"
    assert evidence.route_table_id == main
    assert evidence.egress == "public"
    assert evidence.route == f"0.0.0.0/0 -> {igw}"
    # The NAT sits in the implicitly public subnet, so the private one works.
    by_subnet = {s.subnet_id: s for s in _summary(plan, "implicit").subnets}
    assert by_subnet[private].egress == "nat"
    assert by_subnet[private].route_table_id == private_rt
    # Dropping the public subnet would lose AZ a: the spare NAT subnet there is added.
    (change,) = _changes(plan, arn)
    assert change.kind == "lambda.update-vpc-config"
    assert change.before == _as_created([implicit, private], [sg])
    assert change.after == _vpc_config([private, spare], [sg])
    assert change.risk == "medium"


def test_each_subnet_is_judged_by_its_own_vpcs_main_table(aws: Aws) -> None:
    # Created B first, so "the first main table found" would be the wrong one
    # for A; us-east-1's default VPC adds a third main table (to an IGW).
    vpc_b, main_b = aws.vpc()
    vpc_a, main_a = aws.vpc()
    igw_a = aws.igw(vpc_a)
    aws.igw(vpc_b)  # attached, but B's main table has no default route
    aws.ec2.create_route(RouteTableId=main_a, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_a)
    subnet_a = aws.subnet(vpc_a, AZ_A)
    subnet_b = aws.subnet(vpc_b, AZ_A)
    aws.function("in-a", [subnet_a], [aws.sg(vpc_a)])
    aws.function("in-b", [subnet_b], [aws.sg(vpc_b)])

    plan = aws.plan(Policy(defaults=Settings(min_azs=1)))

    a = _finding(plan, "in-a", "public-subnets-all")
    assert a.subnet_ids == (subnet_a,)
    (ev_a,) = a.evidence
    assert (ev_a.association, ev_a.route_table_id, ev_a.vpc_id, ev_a.egress) == (
        "main",
        main_a,
        vpc_a,
        "public",
    )
    assert _codes(plan, "in-a") == {"public-subnets-all"}

    b = _finding(plan, "in-b", "isolated-no-endpoint")
    assert b.subnet_ids == (subnet_b,)
    (ev_b,) = b.evidence
    assert (ev_b.association, ev_b.route_table_id, ev_b.vpc_id, ev_b.egress) == (
        "main",
        main_b,
        vpc_b,
        "isolated",
    )
    assert _codes(plan, "in-b") == {"isolated-no-endpoint"}
    assert _summary(plan, "in-a").vpc_id == vpc_a
    assert _summary(plan, "in-b").vpc_id == vpc_b


def test_ipv6_egress_only_route_does_not_change_the_ipv4_class(aws: Aws) -> None:
    vpc, _ = aws.vpc(ipv6=True)
    igw = aws.igw(vpc)
    eigw = str(
        aws.ec2.create_egress_only_internet_gateway(VpcId=vpc)["EgressOnlyInternetGateway"][
            "EgressOnlyInternetGatewayId"
        ]
    )
    public = aws.subnet(vpc, AZ_A)
    aws.table(vpc, [public], GatewayId=igw)
    nat = aws.nat(public)
    dual_a, dual_b = aws.subnet(vpc, AZ_A), aws.subnet(vpc, AZ_B)
    dual_rt = aws.table(vpc, [dual_a, dual_b], NatGatewayId=nat)
    aws.ec2.create_route(
        RouteTableId=dual_rt, DestinationIpv6CidrBlock="::/0", EgressOnlyInternetGatewayId=eigw
    )
    v6_only = aws.subnet(vpc, AZ_C)
    v6_rt = aws.table(vpc, [v6_only])
    aws.ec2.create_route(
        RouteTableId=v6_rt, DestinationIpv6CidrBlock="::/0", EgressOnlyInternetGatewayId=eigw
    )
    sg = aws.sg(vpc)
    healthy_arn = aws.function("dual", [dual_a, dual_b], [sg])
    aws.function("v6only", [v6_only], [sg])

    plan = aws.plan(Policy(defaults=Settings(min_azs=1)))

    dual = _summary(plan, "dual")
    assert dual.status == "healthy"
    assert _findings(plan, "dual") == []
    assert {s.egress for s in dual.subnets} == {"nat"}
    assert all(s.ipv6 and eigw in s.ipv6 and "egress-only" in s.ipv6 for s in dual.subnets)
    assert _changes(plan, healthy_arn) == []

    finding = _finding(plan, "v6only", "isolated-no-endpoint")
    assert finding.subnet_ids == (v6_only,)
    (evidence,) = finding.evidence
    assert evidence.egress == "isolated"
    assert evidence.ipv6 is not None and eigw in evidence.ipv6
    assert _summary(plan, "v6only").status == "affected"


def test_isolated_subnet_is_isolated_no_endpoint(aws: Aws) -> None:
    shop = _shop(aws)
    isolated = aws.subnet(shop.vpc, AZ_C)
    aws.table(shop.vpc, [isolated])
    arn = aws.function("lonely", [isolated], [shop.sg])

    plan = aws.plan()

    finding = _finding(plan, "lonely", "isolated-no-endpoint")
    assert finding.subnet_ids == (isolated,)
    assert finding.severity == "high"
    assert finding.evidence[0].egress == "isolated"
    # Default strategies: keep-private-subnets moves it to NAT-routed subnets,
    # one per AZ up to the policy's two.
    assert finding.status == "planned"
    (change,) = plan.changes
    assert (change.kind, change.target) == ("lambda.update-vpc-config", arn)
    assert finding.fixed_by == (change.id,)
    assert change.before == _as_created([isolated], [shop.sg])
    assert change.after == _vpc_config([shop.private_a, shop.private_b], [shop.sg])


def test_isolated_subnet_with_add_nat_route_gets_a_route_in_its_own_table(aws: Aws) -> None:
    shop = _shop(aws)
    isolated = aws.subnet(shop.vpc, AZ_A)
    isolated_rt = aws.table(shop.vpc, [isolated])
    arn = aws.function("lonely", [isolated], [shop.sg])
    policy = Policy(defaults=Settings(strategies=("add-nat-route",), min_azs=1))

    plan = aws.plan(policy)

    finding = _finding(plan, "lonely", "isolated-no-endpoint")
    assert finding.subnet_ids == (isolated,)
    assert finding.status == "planned"
    (change,) = plan.changes
    assert change.kind == "ec2.put-nat-route"
    assert change.target == isolated_rt
    assert change.before is None
    assert change.after == {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": shop.nat}
    assert finding.fixed_by == (change.id,)
    assert change.blast_radius.route_tables == (isolated_rt,)
    assert change.blast_radius.subnet_ids == (isolated,)
    # The function itself is not touched, and no shared table either.
    assert _changes(plan, arn) == []
    assert {c.target for c in plan.changes}.isdisjoint(
        {shop.main, shop.public_rt, shop.private_a_rt, shop.private_b_rt}
    )


def test_nat_gateway_in_a_private_subnet_is_nat_route_broken(aws: Aws) -> None:
    vpc, _ = aws.vpc()
    aws.igw(vpc)
    hidden = aws.subnet(vpc, AZ_A)
    aws.table(vpc, [hidden])  # no internet route where the NAT sits
    nat = aws.nat(hidden)
    a, b = aws.subnet(vpc, AZ_A), aws.subnet(vpc, AZ_B)
    aws.table(vpc, [a, b], NatGatewayId=nat)
    arn = aws.function("natless", [a, b], [aws.sg(vpc)])

    plan = aws.plan()

    finding = _finding(plan, "natless", "nat-route-broken")
    assert finding.subnet_ids == tuple(sorted([a, b]))
    assert {e.egress for e in finding.evidence} == {"nat-broken"}
    assert {e.target for e in finding.evidence} == {nat}
    assert all(hidden in e.detail for e in finding.evidence)
    # No NAT-routed subnet and no usable NAT: nothing safe to plan.
    assert finding.status == "blocked"
    assert finding.manual_step
    assert _changes(plan, arn) == []
    assert plan.changes == ()


def test_alias_on_an_old_public_version_is_moved_to_a_new_version(aws: Aws) -> None:
    shop = _shop(aws)
    arn = aws.function("pay", [shop.public_a, shop.public_b], [shop.sg])
    version = aws.lam.publish_version(FunctionName="pay")["Version"]
    aws.lam.create_alias(FunctionName="pay", Name="prod", FunctionVersion=version)
    aws.lam.update_function_configuration(
        FunctionName="pay",
        VpcConfig={"SubnetIds": [shop.private_a, shop.private_b], "SecurityGroupIds": [shop.sg]},
    )
    sha = aws.lam.get_function_configuration(FunctionName="pay")["CodeSha256"]

    plan = aws.plan()

    assert _codes(plan, "pay") == {"alias-config-broken"}
    finding = _finding(plan, "pay", "alias-config-broken", qualifier="prod")
    assert finding.subnet_ids == tuple(sorted([shop.public_a, shop.public_b]))
    assert finding.status == "planned"
    assert _summary(plan, "pay").status == "affected"
    (change,) = plan.changes
    assert change.kind == "lambda.publish-and-move-alias"
    assert change.target == f"{arn}:prod"
    assert change.before == {"FunctionVersion": version}
    assert change.after == {"FunctionVersion": "$NEW", "PublishFrom": "$LATEST", "CodeSha256": sha}
    assert finding.fixed_by == (change.id,)
    # $LATEST is already fine: no VPC change for it.
    assert _changes(plan, arn) == []


@pytest.mark.parametrize(
    ("private_dns", "open_443", "code"),
    [
        (False, True, "lambda-endpoint-private-dns-off"),
        (True, False, "lambda-endpoint-sg-blocks"),
    ],
)
def test_unusable_lambda_endpoint_for_an_isolated_function(
    aws: Aws, private_dns: bool, open_443: bool, code: str
) -> None:
    vpc, _ = aws.vpc()
    aws.ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    isolated = aws.subnet(vpc, AZ_A)
    aws.table(vpc, [isolated])
    fn_sg = aws.sg(vpc, "fn")
    endpoint_sg = aws.sg(vpc, "endpoint")
    if open_443:
        aws.ec2.authorize_security_group_ingress(
            GroupId=endpoint_sg,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 443,
                    "ToPort": 443,
                    "UserIdGroupPairs": [{"GroupId": fn_sg}],
                }
            ],
        )
    endpoint = aws.ec2.create_vpc_endpoint(
        VpcEndpointType="Interface",
        VpcId=vpc,
        ServiceName=f"com.amazonaws.{REGION}.lambda",
        SubnetIds=[isolated],
        SecurityGroupIds=[endpoint_sg],
        PrivateDnsEnabled=private_dns,
    )["VpcEndpoint"]["VpcEndpointId"]
    aws.function("behind-endpoint", [isolated], [fn_sg])
    policy = Policy(defaults=Settings(strategies=("lambda-endpoint",), min_azs=1))

    plan = aws.plan(policy)

    finding = _finding(plan, "behind-endpoint", code)
    assert finding.subnet_ids == (isolated,)
    assert endpoint in finding.detail
    assert _finding(plan, "behind-endpoint", "isolated-no-endpoint").subnet_ids == (isolated,)
    assert _codes(plan, "behind-endpoint") == {code, "isolated-no-endpoint"}
    # The existing endpoint is repaired, never a second one created.
    assert finding.status == "planned"
    changes = _change(plan, finding.fixed_by)
    kinds = {c.kind for c in changes}
    assert "ec2.create-lambda-endpoint" not in {c.kind for c in plan.changes}
    if code == "lambda-endpoint-private-dns-off":
        (fix,) = [c for c in changes if c.kind == "ec2.enable-endpoint-private-dns"]
        assert fix.target == endpoint
        assert (fix.before, fix.after) == (
            {"PrivateDnsEnabled": False},
            {"PrivateDnsEnabled": True},
        )
    else:
        assert kinds == {"ec2.authorize-endpoint-ingress"}
        (fix,) = changes
        assert fix.target == endpoint_sg
        assert fix.before is None
        assert fix.after == {
            "IpProtocol": "tcp",
            "FromPort": 443,
            "ToPort": 443,
            "SourceSecurityGroupIds": [fn_sg],
        }


def test_non_vpc_and_healthy_functions_get_no_findings_and_no_changes(aws: Aws) -> None:
    shop = _shop(aws)
    plain = aws.function("plain")
    healthy = aws.function("healthy", [shop.private_a, shop.private_b], [shop.sg])
    broken = aws.function("broken", [shop.public_a, shop.private_b], [shop.sg])

    plan = aws.plan()

    assert _summary(plan, "plain").status == "not-in-vpc"
    assert _summary(plan, "healthy").status == "healthy"
    assert _summary(plan, "broken").status == "affected"
    assert _findings(plan, "plain") == []
    assert _findings(plan, "healthy") == []
    targets = {c.target for c in plan.changes}
    assert broken in targets
    assert not any(t.startswith((plain, healthy)) for t in targets)
    assert all("plain" not in c.blast_radius.functions for c in plan.changes)
    assert plan.summary.not_in_vpc == 1
    assert plan.summary.healthy == 1


# --------------------------------------------------------------------------
# The sandbox world, and determinism


@pytest.fixture
def seeded(aws: Aws) -> sandbox.SeedInfo:
    return sandbox.seed(aws.session, REGION)


def test_sandbox_seed_plan(aws: Aws, seeded: sandbox.SeedInfo) -> None:
    plan = aws.plan()
    lam = aws.lam
    orders_api = lam.get_function_configuration(FunctionName="orders-api")
    public_a = seeded.subnets["public-a"]

    finding = _finding(plan, "orders-api", "public-subnets-mixed")
    assert finding.subnet_ids == (public_a,)
    (evidence,) = finding.evidence
    assert evidence.route == f"0.0.0.0/0 -> {seeded.internet_gateway_id}"
    assert evidence.route.startswith("0.0.0.0/0 -> igw-")
    assert evidence.route_table_id == seeded.route_tables["public"]

    arn = orders_api["FunctionArn"]
    (change,) = [c for c in _changes(plan, arn) if c.kind == "lambda.update-vpc-config"]
    before = [seeded.subnets[k] for k in ("public-a", "private-a", "private-b")]
    assert change.before == {
        "SubnetIds": before,
        "SecurityGroupIds": [seeded.security_groups["fn-sg"]],
    }
    assert change.after is not None
    assert set(change.before["SubnetIds"]) - set(change.after["SubnetIds"]) == {public_a}
    assert change.after["SubnetIds"] == sorted(set(before) - {public_a})
    assert change.after["SecurityGroupIds"] == change.before["SecurityGroupIds"]
    assert change.id in finding.fixed_by
    # The alias on the version published with the public subnet moves after the fix.
    alias = _finding(plan, "orders-api", "alias-config-broken", qualifier="live")
    assert alias.subnet_ids == (public_a,)
    (move,) = _changes(plan, f"{arn}:live")
    assert move.kind == "lambda.publish-and-move-alias"
    assert move.depends_on == (change.id,)
    ids = [c.id for c in plan.changes]
    assert ids.index(change.id) < ids.index(move.id)

    statuses = {s.name: s.status for s in plan.functions}
    assert statuses["db-migrator"] == "exempt"
    assert statuses["thumbnailer"] == "not-in-vpc"
    assert statuses["orders-fulfil"] == "healthy"
    assert _findings(plan, "db-migrator") == []
    assert _findings(plan, "orders-fulfil") == []
    assert _findings(plan, "thumbnailer") == []
    for name in ("db-migrator", "thumbnailer", "orders-fulfil"):
        fn_arn = lam.get_function_configuration(FunctionName=name)["FunctionArn"]
        assert not [c for c in plan.changes if c.target.startswith(fn_arn)], name


def test_plans_of_the_same_world_are_identical(aws: Aws, seeded: sandbox.SeedInfo) -> None:
    first = aws.plan()
    second = aws.plan()
    assert planfile.dumps(first) == planfile.dumps(second)
    inventory = _discover(default_policy())
    a = planner.build_plan(inventory, default_policy(), NOW)
    b = planner.build_plan(inventory, default_policy(), NOW)
    assert planfile.dumps(a) == planfile.dumps(b)
    assert a.digest == first.digest and a.plan_id == first.plan_id
    json.loads(planfile.dumps(a))
    calls = first.metadata["api_calls"]
    assert calls["lambda:ListFunctions"] >= 1
    assert calls["ec2:DescribeRouteTables"] >= 1
    assert calls["sts:GetCallerIdentity"] == 1
