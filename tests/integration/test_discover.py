"""Discovery against moto: a small account with the shapes the diagnosis cares about.

The world (us-east-1):

* VPC A: two public subnets (route table -> IGW), a NAT gateway in public-a,
  two private subnets (route table -> NAT), an isolated subnet on the main
  route table (implicit association), a Lambda interface endpoint with its
  own security group.
* VPC B: one subnet on the main route table, whose main table sends
  0.0.0.0/0 to VPC B's internet gateway (a main table unlike VPC A's).
* Functions: ``plain`` (no VPC), ``mixed`` (public-a + private-b),
  ``public`` (public-a + public-b), ``isolated`` (VPC A isolated subnet),
  ``vpcb`` (VPC B), ``versioned`` (published versions 1 and 2 and an alias
  ``live`` on 1 with a canary on 2).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from remediator.aws import discover as discovery
from remediator.domain import errors
from remediator.domain.inventory import Function, Inventory, RegionInventory
from tests.moto_worlds import function_zip

REGION = "us-east-1"
LAMBDA_SERVICE = f"com.amazonaws.{REGION}.lambda"


@pytest.fixture(scope="module")
def mocked() -> Iterator[boto3.session.Session]:
    """One moto account for the module (discovery only reads) and one session,
    so the service models are loaded once."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", REGION)
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
            env.delenv(name, raising=False)
        with mock_aws():
            yield discovery.make_session()


@dataclass
class World:
    vpc_a: str
    vpc_b: str
    public_a: str
    public_b: str
    private_a: str
    private_b: str
    isolated: str
    subnet_b: str
    igw_a: str
    igw_b: str
    nat: str
    nat_ip: str
    public_rt: str
    private_rt: str
    main_rt_a: str
    main_rt_b: str
    fn_sg: str
    endpoint_sg: str
    endpoint: str
    role_arn: str
    session: boto3.session.Session


def _build_network(ec2: Any, region: str = REGION) -> dict[str, str]:
    ids: dict[str, str] = {}
    vpc_a = ec2.create_vpc(CidrBlock="10.10.0.0/16")["Vpc"]["VpcId"]
    vpc_b = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    ids |= {"vpc_a": vpc_a, "vpc_b": vpc_b}

    def subnet(vpc: str, cidr: str, az: str) -> str:
        return str(
            ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]
        )

    az_a, az_b = f"{region}a", f"{region}b"
    ids["public_a"] = subnet(vpc_a, "10.10.0.0/24", az_a)
    ids["public_b"] = subnet(vpc_a, "10.10.1.0/24", az_b)
    ids["private_a"] = subnet(vpc_a, "10.10.10.0/24", az_a)
    ids["private_b"] = subnet(vpc_a, "10.10.11.0/24", az_b)
    ids["isolated"] = subnet(vpc_a, "10.10.20.0/24", az_a)
    ids["subnet_b"] = subnet(vpc_b, "10.20.0.0/24", az_a)

    for key, vpc in (("igw_a", vpc_a), ("igw_b", vpc_b)):
        igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
        ids[key] = igw

    public_rt = ec2.create_route_table(VpcId=vpc_a)["RouteTable"]["RouteTableId"]
    ec2.create_route(
        RouteTableId=public_rt, DestinationCidrBlock="0.0.0.0/0", GatewayId=ids["igw_a"]
    )
    for key in ("public_a", "public_b"):
        ec2.associate_route_table(RouteTableId=public_rt, SubnetId=ids[key])

    allocation = ec2.allocate_address(Domain="vpc")
    nat = ec2.create_nat_gateway(SubnetId=ids["public_a"], AllocationId=allocation["AllocationId"])
    ids["nat"] = nat["NatGateway"]["NatGatewayId"]
    ids["nat_ip"] = allocation["PublicIp"]

    private_rt = ec2.create_route_table(VpcId=vpc_a)["RouteTable"]["RouteTableId"]
    ec2.create_route(
        RouteTableId=private_rt, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=ids["nat"]
    )
    for key in ("private_a", "private_b"):
        ec2.associate_route_table(RouteTableId=private_rt, SubnetId=ids[key])
    ids |= {"public_rt": public_rt, "private_rt": private_rt}

    for key, vpc in (("main_rt_a", vpc_a), ("main_rt_b", vpc_b)):
        tables = ec2.describe_route_tables(
            Filters=[
                {"Name": "vpc-id", "Values": [vpc]},
                {"Name": "association.main", "Values": ["true"]},
            ]
        )["RouteTables"]
        ids[key] = tables[0]["RouteTableId"]
    ec2.create_route(
        RouteTableId=ids["main_rt_b"], DestinationCidrBlock="0.0.0.0/0", GatewayId=ids["igw_b"]
    )

    fn_sg = ec2.create_security_group(GroupName="fn", Description="fn", VpcId=vpc_a)["GroupId"]
    endpoint_sg = ec2.create_security_group(
        GroupName="lambda-endpoint", Description="endpoint", VpcId=vpc_a
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=endpoint_sg,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "UserIdGroupPairs": [{"GroupId": fn_sg}],
                "IpRanges": [{"CidrIp": "10.10.0.0/16"}],
            }
        ],
    )
    endpoint = ec2.create_vpc_endpoint(
        VpcEndpointType="Interface",
        VpcId=vpc_a,
        ServiceName=f"com.amazonaws.{region}.lambda",
        SubnetIds=[ids["private_a"], ids["private_b"]],
        SecurityGroupIds=[endpoint_sg],
        PrivateDnsEnabled=True,
    )["VpcEndpoint"]["VpcEndpointId"]
    # A gateway endpoint for another service: discovery must leave it out.
    ec2.create_vpc_endpoint(
        VpcEndpointType="Gateway",
        VpcId=vpc_a,
        ServiceName=f"com.amazonaws.{region}.s3",
        RouteTableIds=[private_rt],
    )
    ids |= {"fn_sg": fn_sg, "endpoint_sg": endpoint_sg, "endpoint": endpoint}
    return ids


def _role(iam: Any, name: str = "lambda-role") -> str:
    return str(
        iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument='{"Version": "2012-10-17", "Statement": []}',
        )["Role"]["Arn"]
    )


def _create_function(
    lam: Any, name: str, role: str, subnets: list[str] | None, sgs: list[str]
) -> None:
    params: dict[str, Any] = {
        "FunctionName": name,
        "Runtime": "python3.12",
        "Role": role,
        "Handler": "handler.handler",
        "Code": {"ZipFile": function_zip()},
    }
    if subnets is not None:
        params["VpcConfig"] = {"SubnetIds": subnets, "SecurityGroupIds": sgs}
    lam.create_function(**params)


def _clients(session: boto3.session.Session, region: str) -> tuple[Any, Any, Any]:
    return (
        session.client("ec2", region_name=region),
        session.client("lambda", region_name=region),
        session.client("iam", region_name=region),
    )


@pytest.fixture(scope="module")
def world(mocked: boto3.session.Session) -> World:
    ec2, lam, iam = _clients(mocked, REGION)
    ids = _build_network(ec2)
    role = _role(iam)
    sg = [ids["fn_sg"]]
    _create_function(lam, "plain", role, None, [])
    _create_function(lam, "mixed", role, [ids["public_a"], ids["private_b"]], sg)
    _create_function(lam, "public", role, [ids["public_a"], ids["public_b"]], sg)
    _create_function(lam, "isolated", role, [ids["isolated"]], sg)
    _create_function(lam, "vpcb", role, [ids["subnet_b"]], [])
    _create_function(lam, "versioned", role, [ids["public_a"]], sg)
    lam.publish_version(FunctionName="versioned")
    lam.update_function_configuration(
        FunctionName="versioned",
        VpcConfig={"SubnetIds": [ids["private_a"], ids["private_b"]], "SecurityGroupIds": sg},
    )
    lam.publish_version(FunctionName="versioned")
    lam.create_alias(
        FunctionName="versioned",
        Name="live",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}},
    )
    lam.tag_resource(
        Resource=lam.get_function(FunctionName="mixed")["Configuration"]["FunctionArn"],
        Tags={"team": "payments"},
    )
    return World(**ids, role_arn=role, session=mocked)


def _run(session: boto3.session.Session, region: str = REGION, **kwargs: Any) -> Inventory:
    return discovery.discover(session, [region], **kwargs)


def _region(inventory: Inventory, region: str = REGION) -> RegionInventory:
    assert [r.region for r in inventory.regions] == [region]
    return inventory.regions[0]


def _function(region: RegionInventory, name: str) -> Function:
    return next(f for f in region.functions if f.name == name)


def test_functions_and_their_vpcs(world: World) -> None:
    inventory = _run(world.session)
    region = _region(inventory)

    assert inventory.account_id == "123456789012"
    assert inventory.partition == "aws"
    assert [f.name for f in region.functions] == [
        "isolated",
        "mixed",
        "plain",
        "public",
        "versioned",
        "vpcb",
    ]
    plain = _function(region, "plain")
    assert plain.vpc_config is None and plain.vpc_id is None
    assert plain.arn.endswith(":function:plain")

    mixed = _function(region, "mixed")
    assert mixed.vpc_config is not None
    # AWS's order is kept (rollback restores it exactly)
    assert mixed.vpc_config.subnet_ids == (world.public_a, world.private_b)
    assert mixed.vpc_config.security_group_ids == (world.fn_sg,)
    # Derived from the subnets: moto's Lambda answers VpcId "vpc-123abc".
    assert mixed.vpc_id == world.vpc_a
    assert _function(region, "vpcb").vpc_id == world.vpc_b
    assert mixed.code_sha256
    assert mixed.tags == {}  # not asked for
    assert region.missing_subnet_ids == ()


def test_versions_and_aliases_only_for_functions_with_a_vpc_version(world: World) -> None:
    region = _region(_run(world.session))

    versioned = _function(region, "versioned")
    assert versioned.details_loaded
    assert [v.version for v in versioned.versions] == ["1", "2"]
    v1, v2 = versioned.versions
    assert v1.vpc_config is not None and v1.vpc_config.subnet_ids == (world.public_a,)
    assert v2.vpc_config is not None
    assert sorted(v2.vpc_config.subnet_ids) == sorted([world.private_a, world.private_b])
    assert versioned.vpc_config == v2.vpc_config
    assert [(a.name, a.function_version, a.additional_versions) for a in versioned.aliases] == [
        ("live", "1", ("2",))
    ]
    for name in ("plain", "mixed", "public", "isolated", "vpcb"):
        fn = _function(region, name)
        assert (fn.details_loaded, fn.versions, fn.aliases) == (False, (), ())


def test_subnets_cover_every_subnet_of_the_vpcs_in_use(world: World) -> None:
    region = _region(_run(world.session))

    assert [v.vpc_id for v in region.vpcs] == sorted([world.vpc_a, world.vpc_b])
    by_id = {s.subnet_id: s for s in region.subnets}
    expected = {
        world.public_a,
        world.public_b,
        world.private_a,
        world.private_b,
        world.isolated,
        world.subnet_b,
    }
    assert set(by_id) == expected
    assert [s.subnet_id for s in region.subnets] == sorted(expected)
    assert by_id[world.private_b].vpc_id == world.vpc_a
    assert by_id[world.private_b].availability_zone == "us-east-1b"
    assert by_id[world.private_b].cidr_block == "10.10.11.0/24"
    assert by_id[world.private_b].available_ip_address_count > 0
    # The default VPC is not in use and stays out.
    assert all(not v.is_default for v in region.vpcs)


def test_route_tables_main_flag_and_explicit_associations(world: World) -> None:
    region = _region(_run(world.session))
    tables = {t.route_table_id: t for t in region.route_tables}

    assert set(tables) == {world.public_rt, world.private_rt, world.main_rt_a, world.main_rt_b}
    assert [t.route_table_id for t in region.route_tables] == sorted(tables)

    public = tables[world.public_rt]
    assert not public.main
    assert public.subnet_ids == tuple(sorted([world.public_a, world.public_b]))
    default = next(r for r in public.routes if r.destination == "0.0.0.0/0")
    assert (default.target, default.state) == (world.igw_a, "active")
    assert any(r.target == "local" for r in public.routes)

    private = tables[world.private_rt]
    assert private.subnet_ids == tuple(sorted([world.private_a, world.private_b]))
    assert [r.target for r in private.routes if r.destination == "0.0.0.0/0"] == [world.nat]

    main_a = tables[world.main_rt_a]
    assert main_a.main and main_a.vpc_id == world.vpc_a
    assert main_a.subnet_ids == ()  # the isolated subnet is associated implicitly
    assert [r.destination for r in main_a.routes] == ["10.10.0.0/16"]

    main_b = tables[world.main_rt_b]
    assert main_b.main and main_b.vpc_id == world.vpc_b
    assert [(r.destination, r.target) for r in main_b.routes if r.destination == "0.0.0.0/0"] == [
        ("0.0.0.0/0", world.igw_b)
    ]


def test_gateways_endpoint_and_security_groups(world: World) -> None:
    region = _region(_run(world.session))

    assert [
        (g.internet_gateway_id, g.attached_vpc_ids) for g in region.internet_gateways
    ] == sorted([(world.igw_a, (world.vpc_a,)), (world.igw_b, (world.vpc_b,))])

    [nat] = region.nat_gateways
    assert nat.nat_gateway_id == world.nat
    assert (nat.vpc_id, nat.subnet_id) == (world.vpc_a, world.public_a)
    assert nat.state == "available"
    assert nat.connectivity_type == "public"
    assert nat.public_ips == (world.nat_ip,)

    [endpoint] = region.vpc_endpoints  # the S3 gateway endpoint is left out
    assert endpoint.vpc_endpoint_id == world.endpoint
    assert endpoint.vpc_id == world.vpc_a
    assert endpoint.service_name == LAMBDA_SERVICE
    assert endpoint.endpoint_type == "Interface"
    assert endpoint.state == endpoint.state.lower()
    assert endpoint.private_dns_enabled
    assert endpoint.subnet_ids == tuple(sorted([world.private_a, world.private_b]))
    assert endpoint.security_group_ids == (world.endpoint_sg,)

    groups = {g.group_id: g for g in region.security_groups}
    assert set(groups) == {world.fn_sg, world.endpoint_sg}
    endpoint_sg = groups[world.endpoint_sg]
    assert endpoint_sg.vpc_id == world.vpc_a
    assert endpoint_sg.group_name == "lambda-endpoint"
    [rule] = endpoint_sg.ingress
    assert (rule.protocol, rule.from_port, rule.to_port) == ("tcp", 443, 443)
    assert rule.cidrs == ("10.10.0.0/16",)
    assert rule.group_ids == (world.fn_sg,)
    # A new group allows all egress.
    assert [(r.protocol, r.cidrs) for r in groups[world.fn_sg].egress] == [("-1", ("0.0.0.0/0",))]


def test_dns_attributes_read_for_the_endpoint_vpc_only(world: World) -> None:
    inventory = _run(world.session)
    vpcs = {v.vpc_id: v for v in _region(inventory).vpcs}

    assert vpcs[world.vpc_a].enable_dns_support is True
    assert vpcs[world.vpc_a].enable_dns_hostnames is False
    assert (vpcs[world.vpc_b].enable_dns_support, vpcs[world.vpc_b].enable_dns_hostnames) == (
        None,
        None,
    )
    assert inventory.api_calls["ec2:DescribeVpcAttribute"] == 2

    everywhere = _run(world.session, dns_for_all_vpcs=True)
    vpcs = {v.vpc_id: v for v in _region(everywhere).vpcs}
    assert vpcs[world.vpc_b].enable_dns_support is True
    assert everywhere.api_calls["ec2:DescribeVpcAttribute"] == 4


def test_api_calls_are_counted(world: World) -> None:
    inventory = _run(world.session)

    assert inventory.api_calls == {
        "ec2:DescribeInternetGateways": 1,
        "ec2:DescribeManagedPrefixLists": 1,
        "ec2:DescribeNatGateways": 1,
        "ec2:DescribeNetworkAcls": 1,
        "ec2:DescribeNetworkInterfaces": 1,
        "ec2:DescribeRouteTables": 1,
        "ec2:DescribeSecurityGroups": 1,
        "ec2:DescribeSubnets": 2,
        "ec2:DescribeVpcAttribute": 2,
        "ec2:DescribeVpcEndpoints": 1,
        "ec2:DescribeVpcs": 1,
        "ec2:GetManagedPrefixListEntries": 1,
        "lambda:ListAliases": 1,
        "lambda:ListFunctions": 1,
        "sts:GetCallerIdentity": 1,
    }
    assert list(inventory.api_calls) == sorted(inventory.api_calls)


def test_tags_read_only_when_asked_and_only_for_vpc_functions(world: World) -> None:
    inventory = _run(world.session, need_tags=True, tags_from="lambda")
    region = _region(inventory)

    assert _function(region, "mixed").tags == {"team": "payments"}
    assert _function(region, "plain").tags == {}
    vpc_functions = [f for f in region.functions if f.vpc_config is not None]
    assert inventory.api_calls["lambda:ListTags"] == len(vpc_functions) == 5


def test_tags_from_the_tagging_api_match_list_tags_in_one_call(world: World) -> None:
    by_function = _run(world.session, need_tags=True, tags_from="lambda")
    by_page = _run(world.session, need_tags=True)  # the default

    assert by_page.model_copy(update={"api_calls": {}}) == by_function.model_copy(
        update={"api_calls": {}}
    )
    assert by_page.api_calls["resourcegroupstaggingapi:GetResources"] == 1
    assert "lambda:ListTags" not in by_page.api_calls


def test_function_patterns_narrow_the_inventory(world: World) -> None:
    inventory = _run(world.session, function_patterns=["mix*", "plain"])
    region = _region(inventory)

    assert [f.name for f in region.functions] == ["mixed", "plain"]
    # Only VPC A is in use now, and no function has a VPC version.
    assert [v.vpc_id for v in region.vpcs] == [world.vpc_a]
    assert "lambda:ListAliases" not in inventory.api_calls


def test_patterns_with_only_non_vpc_functions_make_no_ec2_calls(world: World) -> None:
    inventory = _run(world.session, function_patterns=["plain"])

    assert [f.name for f in _region(inventory).functions] == ["plain"]
    assert _region(inventory).vpcs == ()
    assert not [op for op in inventory.api_calls if op.startswith("ec2:")]


def test_unknown_function_name_is_bad_input(world: World) -> None:
    with pytest.raises(errors.BadInput) as caught:
        _run(world.session, function_patterns=["mixed", "nosuchfn"])

    assert str(caught.value) == (
        "function 'nosuchfn' not found in us-east-1; check the name or region"
    )


def test_missing_subnet_is_reported(world: World) -> None:
    lam = world.session.client("lambda", region_name=REGION)
    ghost = "subnet-0000000000000dead"
    _create_function(lam, "ghost", world.role_arn, [ghost, world.private_a], [world.fn_sg])
    try:
        region = _region(_run(world.session, function_patterns=["ghost"]))
    finally:
        lam.delete_function(FunctionName="ghost")  # the world is shared by the module

    assert region.missing_subnet_ids == (ghost,)
    assert _function(region, "ghost").vpc_id == world.vpc_a


def test_progress_is_reported(world: World) -> None:
    messages: list[str] = []
    _run(world.session, progress=messages.append)

    assert "listing functions in us-east-1" in messages
    assert any("network" in m and REGION in m for m in messages)


def test_inventory_is_deterministic(world: World) -> None:
    assert _run(world.session).model_dump_json() == _run(world.session).model_dump_json()


def _seed(session: boto3.session.Session, region: str, count: int) -> dict[str, int]:
    """``count`` VPC functions spread over the same two VPCs, alone in ``region``."""
    ec2, lam, iam = _clients(session, region)
    ids = _build_network(ec2, region)
    role = _role(iam, f"role-{region}")
    layouts = [
        [ids["public_a"], ids["private_b"]],
        [ids["private_a"], ids["private_b"]],
        [ids["public_a"], ids["public_b"]],
        [ids["isolated"]],
        [ids["subnet_b"]],
    ]
    for i in range(count):
        layout = layouts[i % len(layouts)]
        sgs = [ids["fn_sg"]] if layout[0] != ids["subnet_b"] else []
        _create_function(lam, f"fn-{i:03d}", role, layout, sgs)
    inventory = _run(session, region)
    assert len(_region(inventory, region).functions) == count
    assert len(_region(inventory, region).vpcs) == 2
    return inventory.api_calls


def test_ec2_call_count_does_not_grow_with_functions(mocked: boto3.session.Session) -> None:
    # Two fresh regions of the module's moto account: 5 functions vs 40.
    few = _seed(mocked, "us-west-2", 5)
    many = _seed(mocked, "eu-west-1", 40)

    ec2_few = {op: n for op, n in few.items() if op.startswith("ec2:")}
    ec2_many = {op: n for op, n in many.items() if op.startswith("ec2:")}
    assert ec2_few == ec2_many
    assert ec2_few["ec2:DescribeSubnets"] == 2  # used subnets, then all subnets of their VPCs
    # Only Lambda's list pages may grow (moto answers in one page), and no
    # per-function call appears.
    assert {op: n for op, n in many.items() if not op.startswith("ec2:")} == {
        "lambda:ListFunctions": 1,
        "sts:GetCallerIdentity": 1,
    }


# --------------------------------------------------------------------------
# The egress path beyond routes and gateways (a world of its own region)

PATH_REGION = "ap-southeast-2"


@dataclass
class PathWorld:
    vpc: str
    fn_subnet: str
    nat_subnet: str
    eni_subnet: str
    nacl: str
    nat_instance: str
    eni_instance: str
    eni: str
    prefix_list: str
    fn_sg: str
    gwlb_endpoint: str
    inventory: Inventory


def _instance(ec2: Any, subnet: str, groups: tuple[str, ...] = ()) -> dict[str, Any]:
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    extra: dict[str, Any] = {"SecurityGroupIds": list(groups)} if groups else {}
    found = ec2.run_instances(
        ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro", SubnetId=subnet, **extra
    )
    return dict(found["Instances"][0])


def _gwlb_endpoint(ec2: Any, vpc: str, subnet: str) -> str:
    """A Gateway Load Balancer endpoint (what a Network Firewall endpoint is)."""
    created = ec2.create_vpc_endpoint(
        VpcEndpointType="GatewayLoadBalancer",
        VpcId=vpc,
        ServiceName=f"com.amazonaws.vpce.{PATH_REGION}.vpce-svc-0123456789abcdef0",
        SubnetIds=[subnet],
    )
    return str(created["VpcEndpoint"]["VpcEndpointId"])


@pytest.fixture(scope="module")
def path_world(mocked: boto3.session.Session) -> PathWorld:
    ec2, lam, iam = _clients(mocked, PATH_REGION)
    vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]

    def subnet(cidr: str) -> str:
        made = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=f"{PATH_REGION}a")
        return str(made["Subnet"]["SubnetId"])

    fn_subnet, nat_subnet, eni_subnet = (
        subnet("10.30.1.0/24"),
        subnet("10.30.2.0/24"),
        subnet("10.30.3.0/24"),
    )
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)

    nat_sg = ec2.create_security_group(GroupName="nat", Description="nat", VpcId=vpc)["GroupId"]
    nat_instance = _instance(ec2, nat_subnet, (nat_sg,))
    ec2.modify_instance_attribute(
        InstanceId=nat_instance["InstanceId"], SourceDestCheck={"Value": False}
    )
    eni_instance = _instance(ec2, eni_subnet)
    eni = eni_instance["NetworkInterfaces"][0]["NetworkInterfaceId"]

    prefix_list = ec2.create_managed_prefix_list(
        PrefixListName="partners",
        Entries=[{"Cidr": "203.0.113.0/24"}, {"Cidr": "198.51.100.0/24"}],
        MaxEntries=5,
        AddressFamily="IPv4",
    )["PrefixList"]["PrefixListId"]

    fn_rt = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(
        RouteTableId=fn_rt, DestinationCidrBlock="0.0.0.0/0", InstanceId=nat_instance["InstanceId"]
    )
    ec2.create_route(RouteTableId=fn_rt, DestinationPrefixListId=prefix_list, GatewayId=igw)
    ec2.associate_route_table(RouteTableId=fn_rt, SubnetId=fn_subnet)
    eni_rt = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=eni_rt, DestinationCidrBlock="0.0.0.0/0", NetworkInterfaceId=eni)
    ec2.associate_route_table(RouteTableId=eni_rt, SubnetId=eni_subnet)

    nacl = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    ec2.create_network_acl_entry(
        NetworkAclId=nacl,
        RuleNumber=100,
        Protocol="6",
        RuleAction="allow",
        Egress=True,
        CidrBlock="0.0.0.0/0",
        PortRange={"From": 443, "To": 443},
    )
    ec2.create_network_acl_entry(
        NetworkAclId=nacl,
        RuleNumber=110,
        Protocol="-1",
        RuleAction="deny",
        Egress=False,
        Ipv6CidrBlock="::/0",
    )
    default_acl = ec2.describe_network_acls(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc]},
            {"Name": "default", "Values": ["true"]},
        ]
    )["NetworkAcls"][0]
    association = next(
        a["NetworkAclAssociationId"]
        for a in default_acl["Associations"]
        if a["SubnetId"] == fn_subnet
    )
    ec2.replace_network_acl_association(AssociationId=association, NetworkAclId=nacl)

    fn_sg = ec2.create_security_group(GroupName="fn", Description="fn", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_egress(
        GroupId=fn_sg,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
                "PrefixListIds": [{"PrefixListId": prefix_list}],
            }
        ],
    )
    gwlb = _gwlb_endpoint(ec2, vpc, nat_subnet)

    _create_function(lam, "pathfn", _role(iam, "path-role"), [fn_subnet], [fn_sg])
    inventory = _run(mocked, PATH_REGION)
    return PathWorld(
        vpc=vpc,
        fn_subnet=fn_subnet,
        nat_subnet=nat_subnet,
        eni_subnet=eni_subnet,
        nacl=nacl,
        nat_instance=nat_instance["InstanceId"],
        eni_instance=eni_instance["InstanceId"],
        eni=eni,
        prefix_list=prefix_list,
        fn_sg=fn_sg,
        gwlb_endpoint=gwlb,
        inventory=inventory,
    )


def test_network_acls_with_entries_associations_and_default(path_world: PathWorld) -> None:
    region = _region(path_world.inventory, PATH_REGION)
    acls = {a.network_acl_id: a for a in region.network_acls}
    custom = acls[path_world.nacl]
    assert not custom.is_default
    assert custom.subnet_ids == (path_world.fn_subnet,)
    rules = {(e.egress, e.rule_number): e for e in custom.entries}
    assert rules[(True, 100)].protocol == "6"
    assert rules[(True, 100)].rule_action == "allow"
    assert rules[(True, 100)].cidr_block == "0.0.0.0/0"
    assert (rules[(True, 100)].port_from, rules[(True, 100)].port_to) == (443, 443)
    assert rules[(False, 110)].ipv6_cidr_block == "::/0"
    assert rules[(False, 110)].rule_action == "deny"
    (default,) = [a for a in region.network_acls if a.is_default]
    assert path_world.fn_subnet not in default.subnet_ids
    assert path_world.nat_subnet in default.subnet_ids
    assert all(a.vpc_id == path_world.vpc for a in region.network_acls)


def test_route_targets_instances_and_interfaces(path_world: PathWorld) -> None:
    region = _region(path_world.inventory, PATH_REGION)
    instances = {i.instance_id: i for i in region.instances}
    # the instance a route names, and the one behind an eni- target; nothing else
    assert set(instances) == {path_world.nat_instance, path_world.eni_instance}
    nat = instances[path_world.nat_instance]
    assert nat.state == "running"
    assert nat.subnet_id == path_world.nat_subnet
    assert nat.source_dest_check is False
    assert instances[path_world.eni_instance].source_dest_check is True
    assert path_world.eni in instances[path_world.eni_instance].network_interface_ids
    enis = {e.network_interface_id: e for e in region.network_interfaces}
    assert enis[path_world.eni].instance_id == path_world.eni_instance
    assert enis[path_world.eni].subnet_id == path_world.eni_subnet
    assert enis[path_world.eni].vpc_id == path_world.vpc


def test_prefix_lists_routes_and_security_group_rules(path_world: PathWorld) -> None:
    region = _region(path_world.inventory, PATH_REGION)
    (table,) = [t for t in region.route_tables if path_world.fn_subnet in t.subnet_ids]
    destinations = {r.destination for r in table.routes}
    assert path_world.prefix_list in destinations
    assert "0.0.0.0/0" in destinations
    (listed,) = region.prefix_lists
    assert listed.prefix_list_id == path_world.prefix_list
    assert listed.name == "partners"
    assert listed.cidrs == ("198.51.100.0/24", "203.0.113.0/24")
    (group,) = [g for g in region.security_groups if g.group_id == path_world.fn_sg]
    (rule,) = [r for r in group.egress if r.protocol == "tcp"]
    assert rule.ipv6_cidrs == ("::/0",)
    assert rule.prefix_list_ids == (path_world.prefix_list,)
    assert rule.cidrs == ()
    everything = [r for r in group.egress if r.protocol == "-1"]
    assert everything and everything[0].cidrs == ("0.0.0.0/0",)


def test_gateway_load_balancer_endpoints_are_kept(path_world: PathWorld) -> None:
    region = _region(path_world.inventory, PATH_REGION)
    (endpoint,) = region.vpc_endpoints
    assert endpoint.vpc_endpoint_id == path_world.gwlb_endpoint
    assert endpoint.endpoint_type == "GatewayLoadBalancer"
    assert endpoint.subnet_ids == (path_world.nat_subnet,)


def test_owners_zone_ids_of_subnets_and_vpcs(path_world: PathWorld) -> None:
    region = _region(path_world.inventory, PATH_REGION)
    account = path_world.inventory.account_id
    assert {v.owner_id for v in region.vpcs} == {account}
    assert {s.owner_id for s in region.subnets} == {account}
    assert all(s.availability_zone_id for s in region.subnets)


def test_egress_path_reads_are_a_constant_few_calls(path_world: PathWorld) -> None:
    calls = path_world.inventory.api_calls
    for op in (
        "ec2:DescribeNetworkAcls",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeInstances",
        "ec2:DescribeManagedPrefixLists",
        "ec2:GetManagedPrefixListEntries",
    ):
        assert calls[op] == 1, op


def test_nat_instance_groups_are_read_with_one_filtered_describe(path_world: PathWorld) -> None:
    """The groups of the instances and interfaces routes point at filter what
    a NAT instance forwards: discovery records them and reads their rules."""
    region = _region(path_world.inventory, PATH_REGION)
    instances = {i.instance_id: i for i in region.instances}
    enis = {e.network_interface_id: e for e in region.network_interfaces}
    nat_groups = instances[path_world.nat_instance].security_group_ids
    assert nat_groups
    assert enis[path_world.eni].security_group_ids
    read = {g.group_id for g in region.security_groups}
    assert set(nat_groups) | set(enis[path_world.eni].security_group_ids) <= read
    assert path_world.fn_sg in read
    # the function's groups, then the hop groups not read yet: two calls in all
    assert path_world.inventory.api_calls["ec2:DescribeSecurityGroups"] == 2


def test_versions_read_by_alias_give_the_same_diagnosis(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An account that keeps hundreds of versions per function is read by
    alias (``aws.versions``); forced here by a sample of one entry: the
    versions the aliases run, their configs and the findings are those of
    the whole listing."""
    from remediator.aws import versions
    from remediator.diagnose import diagnose
    from remediator.domain.policy import default_policy

    listed = _run(world.session)
    monkeypatch.setattr(versions, "SAMPLE_ENTRIES", 1)
    monkeypatch.setattr(versions, "SWITCH_VERSIONS_PER_FUNCTION", 0)
    by_alias = _run(world.session)

    # the whole listing was left after its first page, then $LATEST listed
    assert by_alias.api_calls["lambda:ListFunctions"] == 2
    assert by_alias.api_calls["lambda:ListAliases"] == 6  # every function
    assert by_alias.api_calls["lambda:GetFunctionConfiguration"] == 2  # versions 1 and 2
    a, b = _function(_region(listed), "versioned"), _function(_region(by_alias), "versioned")
    assert (b.versions, b.aliases) == (a.versions, a.aliases)

    def codes(inventory: Inventory) -> list[tuple[str, str]]:
        found = diagnose(inventory, default_policy()).findings
        return sorted((f.function, f.code) for f in found)

    assert codes(by_alias) == codes(listed)
    assert ("versioned", "alias-config-broken") in codes(listed)
