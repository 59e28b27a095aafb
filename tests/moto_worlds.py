"""Worlds built through the AWS API on moto, shared by the apply, IAM and
reliability tests (the pure factories for inventories are in
``tests/factories.py``)."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import Any

REGION = "us-east-1"


def function_zip() -> bytes:
    """A one-line handler, zipped with a fixed timestamp: the same CodeSha256
    on every run."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("h.py", date_time=(2024, 1, 1, 0, 0, 0))
        archive.writestr(info, "def h(event, context):\n    return 1\n")
    return buffer.getvalue()


def create_function(lam: Any, name: str, role: str, subnets: list[str], groups: list[str]) -> None:
    lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="h.h",
        Code={"ZipFile": function_zip()},
        VpcConfig={"SubnetIds": subnets, "SecurityGroupIds": groups},
    )


@dataclass
class Ec2World:
    """The ids the EC2 part's tests look at."""

    nat_vpc: str
    nat_id: str
    isolated_tables: list[str]
    api_vpc: str
    api_subnets: list[str]
    api_sg: str
    endpoint_vpc: str | None = None


def seed_ec2_part(ec2: Any, lam: Any, role: str, *, endpoint_vpc: bool = False) -> Ec2World:
    """The functions whose fixes are EC2 changes.

    - VPC 10.1/16: an internet gateway, a NAT gateway in a public subnet, and
      ``iso-nat`` in two isolated subnets with a route table each -> two
      ``ec2.put-nat-route``.
    - VPC 10.2/16: no gateway at all, DNS attributes off, ``iso-api`` in two
      subnets -> ``enable-vpc-dns``, an endpoint security group and a Lambda
      endpoint.
    - with ``endpoint_vpc``, VPC 10.3/16: DNS on and a Lambda endpoint with
      private DNS off whose group does not allow 443 from ``iso-endpoint``
      -> enable the endpoint's private DNS and authorize the ingress.
    """
    vpc1 = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc1)
    public = ec2.create_subnet(VpcId=vpc1, CidrBlock="10.1.0.0/24", AvailabilityZone=f"{REGION}a")[
        "Subnet"
    ]["SubnetId"]
    public_rt = ec2.create_route_table(VpcId=vpc1)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=public_rt, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    ec2.associate_route_table(RouteTableId=public_rt, SubnetId=public)
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=allocation)["NatGateway"][
        "NatGatewayId"
    ]
    isolated, tables = [], []
    for i, az in enumerate("ab"):
        subnet = ec2.create_subnet(
            VpcId=vpc1, CidrBlock=f"10.1.{10 + i}.0/24", AvailabilityZone=f"{REGION}{az}"
        )["Subnet"]["SubnetId"]
        table = ec2.create_route_table(VpcId=vpc1)["RouteTable"]["RouteTableId"]
        ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
        isolated.append(subnet)
        tables.append(table)
    sg1 = ec2.create_security_group(GroupName="fn1", Description="fn1", VpcId=vpc1)["GroupId"]
    create_function(lam, "iso-nat", role, isolated, [sg1])

    vpc2, subnets2 = _vpc(ec2, 2, dns=False)
    sg2 = ec2.create_security_group(GroupName="fn2", Description="fn2", VpcId=vpc2)["GroupId"]
    create_function(lam, "iso-api", role, subnets2, [sg2])

    vpc3 = None
    if endpoint_vpc:
        vpc3, subnets3 = _vpc(ec2, 3, dns=True)
        sg3 = ec2.create_security_group(GroupName="fn3", Description="fn3", VpcId=vpc3)["GroupId"]
        endpoint_sg = ec2.create_security_group(GroupName="ep3", Description="ep3", VpcId=vpc3)[
            "GroupId"
        ]
        ec2.create_vpc_endpoint(
            VpcEndpointType="Interface",
            VpcId=vpc3,
            ServiceName=f"com.amazonaws.{REGION}.lambda",
            SubnetIds=subnets3,
            SecurityGroupIds=[endpoint_sg],
            PrivateDnsEnabled=False,
        )
        create_function(lam, "iso-endpoint", role, subnets3, [sg3])
    return Ec2World(
        nat_vpc=vpc1,
        nat_id=nat,
        isolated_tables=sorted(tables),
        api_vpc=vpc2,
        api_subnets=sorted(subnets2),
        api_sg=sg2,
        endpoint_vpc=vpc3,
    )


def _vpc(ec2: Any, n: int, *, dns: bool) -> tuple[str, list[str]]:
    """VPC 10.n/16 with both DNS attributes set to ``dns`` and two subnets
    in two Availability Zones, on its main route table (no default route)."""
    vpc = ec2.create_vpc(CidrBlock=f"10.{n}.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": dns})
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": dns})
    subnets = [
        ec2.create_subnet(
            VpcId=vpc, CidrBlock=f"10.{n}.{i}.0/24", AvailabilityZone=f"{REGION}{az}"
        )["Subnet"]["SubnetId"]
        for i, az in enumerate("ab")
    ]
    return vpc, subnets
