"""A synthetic estate for the benchmark, seeded into a running moto server.

The network (10 VPCs, 220 subnets, their route tables, internet and NAT
gateways, security groups and one Lambda interface endpoint) is created
through ordinary boto3 calls against the server: a few hundred calls, about
a second, whatever the number of functions.

The functions are created *directly in moto's Lambda backend*, inside this
process (the server is moto's ``ThreadedMotoServer``, which runs in-process
and shares the backends). Through the HTTP API a ``CreateFunction`` costs
about 3 ms in moto (10,000 functions: ~30 s per size); through the backend it
costs ~0.1 ms. The functions are the same objects either way: moto's own
``create_function`` / ``publish_version`` / ``update_function_configuration``
/ ``create_alias`` backend methods, which its HTTP handlers call. This
shortcut is for seeding only; everything measured goes through HTTP.

The mix (deterministic for a given size and seed):

=========================  =====  ==========================================
kind                       share  VpcConfig
=========================  =====  ==========================================
healthy                    ~46%   2-3 NAT-routed subnets in distinct AZs
mixed                      ~12%   one public subnet + NAT-routed subnets
all-public                  ~8%   two public subnets
isolated                    ~8%   isolated subnets (VPC 0 has a usable Lambda
                                  endpoint; the others none)
nat-broken                  ~5%   a subnet whose NAT is deleted or sits in an
                                  isolated subnet, + a NAT-routed one
main-table                  ~4%   subnets on the VPC's main table (IGW route
                                  in even VPCs, none in odd ones)
single-AZ                   ~4%   one NAT-routed subnet (below min_azs)
exempt                      ~3%   public, tagged ``remediator:exempt=true``
not in a VPC                ~5%   none
with version + alias       ~10%   ``live`` alias on version 1; in half of them
                                  version 1 was published with public
                                  subnets and ``$LATEST`` moved to NAT ones
=========================  =====  ==========================================
"""

from __future__ import annotations

import base64
import json
import random
from dataclasses import dataclass, field
from typing import Any

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
VPCS = 10
AZS = ("a", "b", "c")
ROLE_NAME = "remediator-bench-lambda"

# (kind, weight): the function mix, see the module docstring.
MIX: tuple[tuple[str, int], ...] = (
    ("healthy", 46),
    ("mixed", 12),
    ("all-public", 8),
    ("isolated", 8),
    ("nat-broken", 5),
    ("main-table", 4),
    ("single-az", 4),
    ("exempt", 3),
    ("no-vpc", 5),
    ("alias-broken", 5),
    ("alias-ok", 5),
)


@dataclass
class VpcPlan:
    """The ids of one VPC's network, by role."""

    vpc_id: str
    public: list[str] = field(default_factory=list)  # one per AZ
    private: dict[str, list[str]] = field(default_factory=dict)  # AZ -> NAT-routed subnets
    isolated: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)
    main: list[str] = field(default_factory=list)  # on the main route table
    groups: list[str] = field(default_factory=list)


@dataclass
class Network:
    vpcs: list[VpcPlan]
    subnets: int
    route_tables: int
    nat_gateways: int
    endpoints: int


def _tags(name: str) -> list[dict[str, Any]]:
    return [{"Key": "Name", "Value": name}, {"Key": "remediator:bench", "Value": "true"}]


def seed_network(ec2: Any, vpc_count: int = VPCS) -> Network:
    """Create the VPCs (22 subnets, 9 route tables and 4 NAT gateways each),
    their gateways and groups through the API."""
    vpcs: list[VpcPlan] = []
    subnets = tables = nats = 0
    for v in range(vpc_count):
        vpc_id = ec2.create_vpc(
            CidrBlock=f"10.{v}.0.0/16",
            TagSpecifications=[{"ResourceType": "vpc", "Tags": _tags(f"bench-{v}")}],
        )["Vpc"]["VpcId"]
        plan = VpcPlan(vpc_id)
        igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
        cidr = iter(range(256))

        def subnet(az: str, vpc_id: str = vpc_id, v: int = v, cidr: Any = cidr) -> str:
            nonlocal subnets
            subnets += 1
            return str(
                ec2.create_subnet(
                    VpcId=vpc_id,
                    CidrBlock=f"10.{v}.{next(cidr)}.0/24",
                    AvailabilityZone=f"{REGION}{az}",
                )["Subnet"]["SubnetId"]
            )

        def table(subnet_ids: list[str], vpc_id: str = vpc_id) -> str:
            nonlocal tables
            tables += 1
            rtb = str(ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"])
            for sid in subnet_ids:
                ec2.associate_route_table(RouteTableId=rtb, SubnetId=sid)
            return rtb

        # public: one subnet per AZ on one table -> IGW
        plan.public = [subnet(az) for az in AZS]
        rtb = table(plan.public)
        ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)

        # NAT gateways in public-a and public-b
        nat_ids = []
        for sid in plan.public[:2]:
            alloc = ec2.allocate_address(Domain="vpc")["AllocationId"]
            nat_ids.append(
                ec2.create_nat_gateway(SubnetId=sid, AllocationId=alloc)["NatGateway"][
                    "NatGatewayId"
                ]
            )
            nats += 1

        # private: three per AZ, one table per AZ -> NAT (c uses NAT a)
        for i, az in enumerate(AZS):
            plan.private[az] = [subnet(az) for _ in range(3)]
            rtb = table(plan.private[az])
            ec2.create_route(
                RouteTableId=rtb,
                DestinationCidrBlock="0.0.0.0/0",
                NatGatewayId=nat_ids[i if i < 2 else 0],
            )

        # isolated: one per AZ on one table with only the local route
        plan.isolated = [subnet(az) for az in AZS]
        table(plan.isolated)

        # broken: a NAT gateway that sits in an isolated subnet, and one that is deleted
        alloc = ec2.allocate_address(Domain="vpc")["AllocationId"]
        stranded = ec2.create_nat_gateway(SubnetId=plan.isolated[0], AllocationId=alloc)[
            "NatGateway"
        ]["NatGatewayId"]
        alloc = ec2.allocate_address(Domain="vpc")["AllocationId"]
        gone = ec2.create_nat_gateway(SubnetId=plan.public[2], AllocationId=alloc)["NatGateway"][
            "NatGatewayId"
        ]
        ec2.delete_nat_gateway(NatGatewayId=gone)
        nats += 2
        for az, nat in zip(AZS, (stranded, gone, stranded), strict=True):
            sid = subnet(az)
            plan.broken.append(sid)
            rtb = table([sid])
            ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)

        # main table: four subnets without an explicit association
        main = ec2.describe_route_tables(
            Filters=[
                {"Name": "vpc-id", "Values": [vpc_id]},
                {"Name": "association.main", "Values": ["true"]},
            ]
        )["RouteTables"][0]["RouteTableId"]
        tables += 1
        if v % 2 == 0:
            ec2.create_route(RouteTableId=main, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
        plan.main = [subnet(az) for az in ("a", "b", "a", "b")]

        for g in range(3):
            plan.groups.append(
                ec2.create_security_group(
                    GroupName=f"bench-fn-{v}-{g}", Description="bench functions", VpcId=vpc_id
                )["GroupId"]
            )
        vpcs.append(plan)

    # VPC 0: a usable Lambda interface endpoint (private DNS on, 443 from the groups)
    first = vpcs[0]
    ep_sg = ec2.create_security_group(
        GroupName="bench-lambda-endpoint", Description="bench endpoint", VpcId=first.vpc_id
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=ep_sg,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "UserIdGroupPairs": [{"GroupId": g} for g in first.groups],
            }
        ],
    )
    for attr in ("EnableDnsSupport", "EnableDnsHostnames"):
        ec2.modify_vpc_attribute(VpcId=first.vpc_id, **{attr: {"Value": True}})
    ec2.create_vpc_endpoint(
        VpcId=first.vpc_id,
        ServiceName=f"com.amazonaws.{REGION}.lambda",
        VpcEndpointType="Interface",
        SubnetIds=first.isolated,
        SecurityGroupIds=[ep_sg],
        PrivateDnsEnabled=True,
    )
    return Network(vpcs, subnets, tables, nats, endpoints=1)


def _config(subnet_ids: list[str], group: str) -> dict[str, list[str]]:
    return {"SubnetIds": subnet_ids, "SecurityGroupIds": [group]}


def function_specs(network: Network, n: int, seed: int = 5) -> list[dict[str, Any]]:
    """``n`` function descriptions (kind, name, VpcConfig, tags, and for the
    alias kinds the VpcConfig version 1 is published with)."""
    rnd = random.Random(seed)
    kinds = [k for k, _ in MIX]
    weights = [w for _, w in MIX]
    out = []
    for i in range(n):
        kind = rnd.choices(kinds, weights)[0]
        vpc = network.vpcs[rnd.randrange(len(network.vpcs))]
        group = rnd.choice(vpc.groups)
        azs = rnd.sample(AZS, rnd.choice((2, 3)))
        nat_routed = [rnd.choice(vpc.private[az]) for az in azs]
        public = rnd.sample(vpc.public, 2)
        spec: dict[str, Any] = {"name": f"bench-{kind}-{i:05d}", "kind": kind, "tags": {}}
        if kind in ("healthy", "alias-ok"):
            spec["vpc"] = _config(nat_routed, group)
        elif kind == "mixed":
            spec["vpc"] = _config([public[0], *nat_routed], group)
        elif kind == "all-public":
            spec["vpc"] = _config(public, group)
        elif kind == "isolated":
            spec["vpc"] = _config(rnd.sample(vpc.isolated, 2), group)
        elif kind == "nat-broken":
            spec["vpc"] = _config([rnd.choice(vpc.broken), nat_routed[0]], group)
        elif kind == "main-table":
            spec["vpc"] = _config(vpc.main[:2], group)
        elif kind == "single-az":
            spec["vpc"] = _config(nat_routed[:1], group)
        elif kind == "exempt":
            spec["vpc"] = _config(public, group)
            spec["tags"] = {"remediator:exempt": "true"}
        elif kind == "alias-broken":
            spec["published"] = _config(public, group)
            spec["vpc"] = _config(nat_routed, group)
        else:  # no-vpc
            spec["vpc"] = None
        spec["tags"] = {"team": f"team-{i % 17}", **spec["tags"]}
        out.append(spec)
    return out


def _code() -> str:
    from remediator.sandbox import function_zip

    return base64.b64encode(function_zip()).decode()


def seed_functions(iam: Any, specs: list[dict[str, Any]], account_id: str = ACCOUNT_ID) -> int:
    """Create the functions in moto's Lambda backend (in this process), in
    ``account_id`` (``iam`` must be a client of that account).

    Returns the number of published versions created.
    """
    from moto.awslambda.models import lambda_backends

    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role_arn = iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust))[
        "Role"
    ]["Arn"]
    backend = lambda_backends[account_id][REGION]
    code = _code()
    versions = 0
    for spec in specs:
        body: dict[str, Any] = {
            "FunctionName": spec["name"],
            "Runtime": "python3.12",
            "Role": role_arn,
            "Handler": "index.handler",
            "Code": {"ZipFile": code},
            "Timeout": 10,
            "Tags": spec["tags"],
        }
        first = spec.get("published", spec["vpc"])
        if first is not None:
            body["VpcConfig"] = first
        backend.create_function(body)
        if spec["kind"] in ("alias-broken", "alias-ok"):
            version = backend.publish_version(spec["name"])
            versions += 1
            if spec["kind"] == "alias-broken":
                backend.update_function_configuration(
                    spec["name"], None, {"VpcConfig": spec["vpc"]}
                )
            backend.create_alias(
                name="live",
                function_name=spec["name"],
                function_version=str(version.version),  # type: ignore[union-attr]
                description="",
                routing_config=None,  # type: ignore[arg-type]
            )
    return versions
