"""Discovery against botocore Stubbers: pagination, filter batching, error
translation and unknown enum values, without moto."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest
import structlog.testing
from botocore.stub import Stubber

from remediator.aws import discover as discovery
from remediator.domain import errors
from remediator.domain.inventory import Inventory

REGION = "us-east-1"
ACCOUNT = "123456789012"
VPC = "vpc-0aaa"
SG = "sg-0fn"


class Stubs:
    """Stubbed clients per (service, region), handed to discover() as client_factory."""

    def __init__(self) -> None:
        self.session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        self._clients: dict[tuple[str, str], Any] = {}
        self._stubbers: dict[tuple[str, str], Stubber] = {}

    def __call__(self, service: str, region: str) -> Any:
        return self._clients[(service, region)]

    def stub(self, service: str, region: str = REGION) -> Stubber:
        key = (service, region)
        if key not in self._stubbers:
            client = self.session.client(service, region_name=region)  # type: ignore[call-overload]
            stubber = Stubber(client)
            stubber.activate()
            self._clients[key] = client
            self._stubbers[key] = stubber
        return self._stubbers[key]

    def assert_no_pending_responses(self) -> None:
        for stubber in self._stubbers.values():
            stubber.assert_no_pending_responses()


@pytest.fixture
def stubs() -> Iterator[Stubs]:
    yield Stubs()


def _identity(stubs: Stubs, arn: str = f"arn:aws:iam::{ACCOUNT}:user/tester") -> None:
    stubs.stub("sts").add_response(
        "get_caller_identity", {"Account": ACCOUNT, "Arn": arn, "UserId": "AIDTEST"}, {}
    )


def _fn(
    name: str,
    subnets: Sequence[str] = (),
    sgs: Sequence[str] = (),
    *,
    version: str = "$LATEST",
    **extra: Any,
) -> dict[str, Any]:
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}:{version}"
    entry: dict[str, Any] = {
        "FunctionName": name,
        "FunctionArn": arn,
        "Version": version,
        "CodeSha256": f"sha-{name}-{version}",
        "RevisionId": f"rev-{name}-{version}",
        **extra,
    }
    if subnets:
        entry["VpcConfig"] = {
            "SubnetIds": list(subnets),
            "SecurityGroupIds": list(sgs),
            "VpcId": "vpc-123abc",
        }
    return entry


def _list_functions(stubs: Stubs, *pages: list[dict[str, Any]]) -> None:
    lam = stubs.stub("lambda")
    for index, page in enumerate(pages):
        params: dict[str, Any] = {"FunctionVersion": "ALL"}
        if index:
            params["Marker"] = f"marker-{index}"
        response: dict[str, Any] = {"Functions": page}
        if index < len(pages) - 1:
            response["NextMarker"] = f"marker-{index + 1}"
        lam.add_response("list_functions", response, params)


def _subnet(subnet_id: str, vpc: str = VPC, az: str = "us-east-1a") -> dict[str, Any]:
    return {
        "SubnetId": subnet_id,
        "VpcId": vpc,
        "AvailabilityZone": az,
        "CidrBlock": "10.0.0.0/24",
        "AvailableIpAddressCount": 250,
        "MapPublicIpOnLaunch": False,
    }


def _filters(name: str, values: Sequence[str], param: str = "Filters") -> dict[str, Any]:
    return {param: [{"Name": name, "Values": sorted(values)}]}


def _network(
    stubs: Stubs,
    *,
    used_subnets: Sequence[str],
    route_table_pages: Sequence[list[dict[str, Any]]] = ([],),
    nat_gateways: Sequence[dict[str, Any]] = (),
    endpoints: Sequence[dict[str, Any]] = (),
    group_ids: Sequence[str] = (SG,),
    stop_after: str | None = None,
    subnets: Sequence[dict[str, Any]] | None = None,
    vpc: dict[str, Any] | None = None,
    groups: Sequence[dict[str, Any]] | None = None,
    network_acls: Sequence[dict[str, Any]] = (),
    interface_pages: Sequence[list[dict[str, Any]]] = ([],),
    instances: Mapping[str, dict[str, Any]] = {},
    prefix_lists: Mapping[str, tuple[str, Sequence[str]]] = {},
) -> None:
    """Queue the EC2 answers of one region with one VPC, in discovery's call order.

    ``stop_after`` ends the queue after that operation (for error tests that
    make the next call fail). ``instances``: the instances DescribeInstances
    answers, by id; ``prefix_lists``: (owner, CIDRs) by list id.
    """
    ec2 = stubs.stub("ec2")
    subnets = list(subnets) if subnets is not None else [_subnet(s) for s in used_subnets]
    ec2.add_response("describe_subnets", {"Subnets": subnets}, _filters("subnet-id", used_subnets))
    ec2.add_response("describe_subnets", {"Subnets": subnets}, _filters("vpc-id", [VPC]))
    ec2.add_response(
        "describe_vpcs",
        {"Vpcs": [vpc or {"VpcId": VPC, "CidrBlock": "10.0.0.0/16", "IsDefault": False}]},
        _filters("vpc-id", [VPC]),
    )
    if stop_after == "describe_vpcs":
        return
    for index, tables in enumerate(route_table_pages):
        params = _filters("vpc-id", [VPC])
        if index:
            params["NextToken"] = f"token-{index}"
        response: dict[str, Any] = {"RouteTables": tables}
        if index < len(route_table_pages) - 1:
            response["NextToken"] = f"token-{index + 1}"
        ec2.add_response("describe_route_tables", response, params)
    ec2.add_response(
        "describe_internet_gateways",
        {"InternetGateways": []},
        _filters("attachment.vpc-id", [VPC]),
    )
    ec2.add_response(
        "describe_nat_gateways",
        {"NatGateways": list(nat_gateways)},
        _filters("vpc-id", [VPC], param="Filter"),
    )
    ec2.add_response(
        "describe_vpc_endpoints", {"VpcEndpoints": list(endpoints)}, _filters("vpc-id", [VPC])
    )
    ec2.add_response(
        "describe_security_groups",
        {
            "SecurityGroups": list(groups)
            if groups is not None
            else [{"GroupId": g, "VpcId": VPC, "GroupName": g} for g in group_ids]
        },
        _filters("group-id", group_ids),
    )
    if stop_after == "describe_security_groups":
        return
    ec2.add_response(
        "describe_network_acls", {"NetworkAcls": list(network_acls)}, _filters("vpc-id", [VPC])
    )
    if stop_after == "describe_network_acls":
        return
    _pages(ec2, "describe_network_interfaces", "NetworkInterfaces", interface_pages)
    if instances:
        ec2.add_response(
            "describe_instances",
            {"Reservations": [{"Instances": list(instances.values())}]},
            _filters("instance-id", list(instances)),
        )
    if prefix_lists:
        ec2.add_response(
            "describe_managed_prefix_lists",
            {
                "PrefixLists": [
                    {"PrefixListId": i, "PrefixListName": f"name-{i}", "OwnerId": owner}
                    for i, (owner, _) in prefix_lists.items()
                ]
            },
            _filters("prefix-list-id", list(prefix_lists)),
        )
        for list_id in sorted(prefix_lists):
            if stop_after == f"describe_managed_prefix_lists:{list_id}":
                return
            ec2.add_response(
                "get_managed_prefix_list_entries",
                {"Entries": [{"Cidr": c} for c in prefix_lists[list_id][1]]},
                {"PrefixListId": list_id},
            )


def _pages(ec2: Stubber, operation: str, key: str, pages: Sequence[list[dict[str, Any]]]) -> None:
    for index, items in enumerate(pages):
        params = _filters("vpc-id", [VPC])
        if index:
            params["NextToken"] = f"token-{index}"
        response: dict[str, Any] = {key: items}
        if index < len(pages) - 1:
            response["NextToken"] = f"token-{index + 1}"
        ec2.add_response(operation, response, params)


def _discover(stubs: Stubs, **kwargs: Any) -> Inventory:
    inventory = discovery.discover(None, [REGION], client_factory=stubs, **kwargs)
    stubs.assert_no_pending_responses()
    return inventory


def test_list_functions_follows_next_marker(stubs: Stubs) -> None:
    _identity(stubs, arn=f"arn:aws-cn:iam::{ACCOUNT}:user/tester")
    _list_functions(
        stubs,
        [_fn("alpha"), _fn("beta")],
        [_fn("gamma"), _fn("alpha", version="1")],
        [_fn("delta")],
    )

    inventory = _discover(stubs)

    [region] = inventory.regions
    assert [f.name for f in region.functions] == ["alpha", "beta", "delta", "gamma"]
    alpha = region.functions[0]
    assert alpha.arn == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:alpha"
    assert alpha.code_sha256 == "sha-alpha-$LATEST"
    assert alpha.revision_id == "rev-alpha-$LATEST"
    # A version without a VPC config: no alias lookup, no details.
    assert (alpha.details_loaded, alpha.versions) == (False, ())
    assert inventory.partition == "aws-cn"
    assert inventory.account_id == ACCOUNT
    # No VPC function: not a single EC2 call.
    assert inventory.api_calls == {"lambda:ListFunctions": 3, "sts:GetCallerIdentity": 1}


def test_route_tables_from_every_page_arrive(stubs: Stubs) -> None:
    _identity(stubs)
    _list_functions(stubs, [_fn("fn", ["subnet-a"], [SG])])
    page_one = [
        {
            "RouteTableId": "rtb-main",
            "VpcId": VPC,
            "Associations": [{"Main": True, "RouteTableId": "rtb-main"}],
            "Routes": [
                {"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active"}
            ],
        }
    ]
    page_two = [
        {
            "RouteTableId": "rtb-private",
            "VpcId": VPC,
            "Associations": [
                {"Main": False, "SubnetId": "subnet-a", "RouteTableId": "rtb-private"},
                {
                    "Main": False,
                    "SubnetId": "subnet-gone",
                    "AssociationState": {"State": "disassociated"},
                },
            ],
            "Routes": [
                {
                    "DestinationCidrBlock": "0.0.0.0/0",
                    "NatGatewayId": "nat-1",
                    "State": "active",
                    "Origin": "CreateRoute",
                },
                {
                    "DestinationIpv6CidrBlock": "::/0",
                    "EgressOnlyInternetGatewayId": "eigw-1",
                    "State": "active",
                },
                {"DestinationPrefixListId": "pl-s3", "GatewayId": "vpce-s3", "State": "active"},
                {"DestinationCidrBlock": "172.16.0.0/12", "CoreNetworkArn": "arn:core"},
                {"DestinationCidrBlock": "192.168.0.0/16", "State": "blackhole"},
            ],
        }
    ]
    _network(
        stubs,
        used_subnets=["subnet-a"],
        route_table_pages=[page_one, page_two],
        prefix_lists={"pl-s3": ("AWS", ["52.216.0.0/15", "3.5.0.0/19"])},
    )

    inventory = _discover(stubs)

    [region] = inventory.regions
    assert [t.route_table_id for t in region.route_tables] == ["rtb-main", "rtb-private"]
    main, private = region.route_tables
    assert (main.main, main.subnet_ids) == (True, ())
    assert (private.main, private.subnet_ids) == (False, ("subnet-a",))
    assert [(r.destination, r.target, r.state, r.origin) for r in private.routes] == [
        ("0.0.0.0/0", "nat-1", "active", "CreateRoute"),
        ("172.16.0.0/12", "arn:core", "active", ""),
        ("192.168.0.0/16", "unknown", "blackhole", ""),
        ("::/0", "eigw-1", "active", ""),
        ("pl-s3", "vpce-s3", "active", ""),
    ]
    assert inventory.api_calls["ec2:DescribeRouteTables"] == 2
    # the prefix list a route names is read, with its entries
    [listed] = region.prefix_lists
    assert (listed.prefix_list_id, listed.name) == ("pl-s3", "name-pl-s3")
    assert listed.cidrs == ("3.5.0.0/19", "52.216.0.0/15")
    fn = region.functions[0]
    assert fn.vpc_id == VPC  # from DescribeSubnets, not Lambda's "vpc-123abc"


def test_subnet_filters_are_sent_in_chunks_of_200(stubs: Stubs) -> None:
    _identity(stubs)
    subnets = [f"subnet-{i:04d}" for i in range(255)]
    functions = [_fn(f"fn-{i:02d}", subnets[i * 15 : (i + 1) * 15], [SG]) for i in range(17)]
    _list_functions(stubs, functions)
    ec2 = stubs.stub("ec2")
    for chunk in (subnets[:200], subnets[200:]):
        ec2.add_response(
            "describe_subnets",
            {"Subnets": [_subnet(s) for s in chunk]},
            _filters("subnet-id", chunk),
        )
    ec2.add_response(
        "describe_subnets",
        {"Subnets": [_subnet(s) for s in subnets]},
        _filters("vpc-id", [VPC]),
    )
    ec2.add_response("describe_vpcs", {"Vpcs": [{"VpcId": VPC}]}, _filters("vpc-id", [VPC]))
    for operation, key, filter_name, param in (
        ("describe_route_tables", "RouteTables", "vpc-id", "Filters"),
        ("describe_internet_gateways", "InternetGateways", "attachment.vpc-id", "Filters"),
        ("describe_nat_gateways", "NatGateways", "vpc-id", "Filter"),
        ("describe_vpc_endpoints", "VpcEndpoints", "vpc-id", "Filters"),
    ):
        ec2.add_response(operation, {key: []}, _filters(filter_name, [VPC], param))
    ec2.add_response("describe_security_groups", {"SecurityGroups": []}, _filters("group-id", [SG]))
    ec2.add_response("describe_network_acls", {"NetworkAcls": []}, _filters("vpc-id", [VPC]))
    ec2.add_response(
        "describe_network_interfaces", {"NetworkInterfaces": []}, _filters("vpc-id", [VPC])
    )

    inventory = _discover(stubs)

    assert inventory.api_calls["ec2:DescribeSubnets"] == 3
    assert len(inventory.regions[0].subnets) == 255
    assert inventory.regions[0].missing_subnet_ids == ()


def test_unknown_enum_values_are_carried_through(stubs: Stubs) -> None:
    _identity(stubs)
    _list_functions(stubs, [_fn("fn", ["subnet-a"], [SG], State="Hibernating")])
    tables = [
        {
            "RouteTableId": "rtb-1",
            "VpcId": VPC,
            "Associations": [{"Main": True}],
            "Routes": [
                {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-1", "State": "weird"}
            ],
        }
    ]
    nat = {
        "NatGatewayId": "nat-1",
        "VpcId": VPC,
        "SubnetId": "subnet-pub",
        "State": "newstate",
        "ConnectivityType": "something-new",
        "NatGatewayAddresses": [{"PublicIp": "203.0.113.9"}, {"PrivateIp": "10.0.0.9"}],
    }
    endpoint = {
        "VpcEndpointId": "vpce-1",
        "VpcId": VPC,
        "ServiceName": f"com.amazonaws.{REGION}.lambda",
        "VpcEndpointType": "Interface",
        "State": "SomethingNew",
        "PrivateDnsEnabled": True,
        "SubnetIds": ["subnet-b", "subnet-a"],
        "Groups": [{"GroupId": "sg-0ep", "GroupName": "ep"}],
    }
    _network(
        stubs,
        used_subnets=["subnet-a"],
        route_table_pages=[tables],
        nat_gateways=[nat],
        endpoints=[endpoint],
        group_ids=[SG, "sg-0ep"],
    )
    ec2 = stubs.stub("ec2")
    for attribute, key in (
        ("enableDnsSupport", "EnableDnsSupport"),
        ("enableDnsHostnames", "EnableDnsHostnames"),
    ):
        ec2.add_response(
            "describe_vpc_attribute",
            {"VpcId": VPC, key: {"Value": True}},
            {"VpcId": VPC, "Attribute": attribute},
        )

    inventory = _discover(stubs)

    [region] = inventory.regions
    assert region.functions[0].state == "Hibernating"
    assert region.route_tables[0].routes[0].state == "weird"
    [found_nat] = region.nat_gateways
    assert (found_nat.state, found_nat.connectivity_type) == ("newstate", "something-new")
    assert found_nat.public_ips == ("203.0.113.9",)
    [found_endpoint] = region.vpc_endpoints
    assert found_endpoint.state == "somethingnew"
    assert found_endpoint.subnet_ids == ("subnet-a", "subnet-b")
    assert [g.group_id for g in region.security_groups] == ["sg-0ep", SG]  # sorted
    [vpc] = region.vpcs
    assert (vpc.enable_dns_support, vpc.enable_dns_hostnames) == (True, True)


def test_aliases_are_paginated_and_read_only_for_vpc_versions(stubs: Stubs) -> None:
    _identity(stubs)
    _list_functions(
        stubs,
        [
            _fn("app", ["subnet-a"], [SG]),
            _fn("app", ["subnet-a"], [SG], version="10"),
            _fn("app", version="9"),
            _fn("other"),
            _fn("other", version="1"),
        ],
    )
    lam = stubs.stub("lambda")
    lam.add_response(
        "list_aliases",
        {
            "Aliases": [{"Name": "prod", "FunctionVersion": "9", "RevisionId": "r1"}],
            "NextMarker": "m",
        },
        {"FunctionName": "app"},
    )
    lam.add_response(
        "list_aliases",
        {
            "Aliases": [
                {
                    "Name": "canary",
                    "FunctionVersion": "9",
                    "RoutingConfig": {"AdditionalVersionWeights": {"10": 0.05}},
                }
            ]
        },
        {"FunctionName": "app", "Marker": "m"},
    )
    _network(stubs, used_subnets=["subnet-a"])

    region = _discover(stubs).regions[0]

    app, other = region.functions
    assert app.details_loaded
    assert [v.version for v in app.versions] == ["9", "10"]  # numeric order
    assert app.versions[0].vpc_config is None
    assert [(a.name, a.function_version, a.additional_versions) for a in app.aliases] == [
        ("canary", "9", ("10",)),
        ("prod", "9", ()),
    ]
    assert (other.details_loaded, other.versions, other.aliases) == (False, (), ())


@pytest.mark.parametrize(
    ("service", "operation", "code", "expected"),
    [
        (
            "ec2",
            "describe_route_tables",
            "UnauthorizedOperation",
            "missing IAM permission ec2:DescribeRouteTables in us-east-1",
        ),
        (
            "lambda",
            "list_functions",
            "AccessDeniedException",
            "missing IAM permission lambda:ListFunctions in us-east-1",
        ),
        (
            "sts",
            "get_caller_identity",
            "ExpiredToken",
            "AWS rejected the credentials (ExpiredToken) calling sts:GetCallerIdentity in us-east-1",
        ),
        (
            "lambda",
            "list_functions",
            "InvalidParameterValueException",
            "AWS error InvalidParameterValueException calling lambda:ListFunctions "
            "in us-east-1: bad value here",
        ),
    ],
)
def test_aws_errors_become_one_line_access_errors(
    stubs: Stubs, service: str, operation: str, code: str, expected: str
) -> None:
    if service == "sts":
        stubs.stub("sts").add_client_error(operation, code, "The token\nhas expired", 403)
    else:
        _identity(stubs)
    if service == "lambda":
        stubs.stub("lambda").add_client_error(operation, code, "bad value\n here", 400)
    if service == "ec2":
        _list_functions(stubs, [_fn("fn", ["subnet-a"], [SG])])
        _network(stubs, used_subnets=["subnet-a"], stop_after="describe_vpcs")
        stubs.stub("ec2").add_client_error(operation, code, "You are not authorized.", 403)

    with pytest.raises(errors.AwsAccessError) as caught:
        discovery.discover(None, [REGION], client_factory=stubs)

    message = str(caught.value)
    assert expected in message
    assert "\n" not in message
    assert caught.value.hint


def _empty_aws_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "config"
    credentials = tmp_path / "credentials"
    config.write_text("")
    credentials.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


def test_no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _empty_aws_config(monkeypatch, tmp_path)

    with pytest.raises(errors.AwsAccessError) as caught:
        # The endpoint keeps the test off the network should signing ever succeed.
        discovery.discover(discovery.make_session(), [REGION], endpoint_url="http://127.0.0.1:9")

    assert caught.value.message == "No AWS credentials found."
    assert caught.value.hint is not None and "remediate demo" in caught.value.hint


def test_unknown_profile_is_bad_input(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _empty_aws_config(monkeypatch, tmp_path)

    with pytest.raises(errors.BadInput) as caught:
        discovery.make_session("nosuchprofile")

    assert "'nosuchprofile'" in str(caught.value)
    assert "aws configure list-profiles" in str(caught.value)


def test_unreachable_endpoint_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    session = discovery.make_session()
    sends: list[str] = []
    session.events.register("before-send", lambda **_: sends.append("send"))

    started = time.monotonic()
    with pytest.raises(errors.AwsAccessError) as caught:
        discovery.discover(session, [REGION], endpoint_url="http://127.0.0.1:9")
    elapsed = time.monotonic() - started

    message = str(caught.value)
    assert "http://127.0.0.1:9" in message
    assert "cannot be reached" in message
    assert "sts:GetCallerIdentity" in message
    assert "--endpoint-url" in message
    assert len(sends) == discovery.CONNECT_ATTEMPTS  # not the full retry budget
    assert elapsed < 10


def test_call_counter_counts_each_call_once_even_when_attached_twice(stubs: Stubs) -> None:
    counter = discovery.CallCounter()
    stubber = stubs.stub("sts")
    client = stubs("sts", REGION)
    counter.attach(client)
    counter.attach(client)
    for _ in range(2):
        stubber.add_response("get_caller_identity", {"Account": ACCOUNT}, {})
        client.get_caller_identity()

    assert counter.counts == {"sts:GetCallerIdentity": 2}


def test_no_regions_is_bad_input(stubs: Stubs) -> None:
    with pytest.raises(errors.BadInput):
        discovery.discover(None, [], client_factory=stubs)


def test_patterns_span_regions_and_unmatched_ones_name_every_region(stubs: Stubs) -> None:
    _identity(stubs)
    for region, names in ((REGION, ["api", "worker"]), ("eu-west-1", ["api-eu"])):
        stubs.stub("lambda", region).add_response(
            "list_functions", {"Functions": [_fn(n) for n in names]}, {"FunctionVersion": "ALL"}
        )

    inventory = discovery.discover(
        None, [REGION, "eu-west-1"], function_patterns=["api*"], client_factory=stubs
    )
    assert [(r.region, [f.name for f in r.functions]) for r in inventory.regions] == [
        ("eu-west-1", ["api-eu"]),
        (REGION, ["api"]),
    ]

    _identity(stubs)
    for region, names in ((REGION, ["api"]), ("eu-west-1", [])):
        stubs.stub("lambda", region).add_response(
            "list_functions", {"Functions": [_fn(n) for n in names]}, {"FunctionVersion": "ALL"}
        )
    with pytest.raises(errors.BadInput) as caught:
        discovery.discover(
            None, [REGION, "eu-west-1"], function_patterns=["nope"], client_factory=stubs
        )
    assert str(caught.value) == (
        "function 'nope' not found in us-east-1, eu-west-1; check the name or region"
    )


def test_invalid_region_is_bad_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")

    with pytest.raises(errors.BadInput, match="'us east 1' is not a valid AWS region"):
        discovery.discover(discovery.make_session(), ["us east 1"])


def test_progress_and_log_events(stubs: Stubs) -> None:
    _identity(stubs)
    _list_functions(stubs, [_fn("fn", ["subnet-a"], [SG])])
    _network(stubs, used_subnets=["subnet-a"])
    messages: list[str] = []

    with structlog.testing.capture_logs() as logs:
        inventory = _discover(stubs, progress=messages.append)

    assert messages[:2] == ["reading the caller identity", "listing functions in us-east-1"]
    events = {entry["event"]: entry for entry in logs}
    assert events["functions_listed"]["functions"] == 1
    assert events["network_read"]["vpcs"] == 1
    assert events["inventory_discovered"]["api_calls"] == sum(inventory.api_calls.values())


def _tag_page(
    stubs: Stubs, mappings: list[dict[str, Any]], token: str | None, next_token: str | None
) -> None:
    params: dict[str, Any] = {"ResourceTypeFilters": ["lambda:function"], "ResourcesPerPage": 100}
    if token:
        params["PaginationToken"] = token
    response: dict[str, Any] = {"ResourceTagMappingList": mappings}
    if next_token:
        response["PaginationToken"] = next_token
    stubs.stub("resourcegroupstaggingapi").add_response("get_resources", response, params)


def _arn(name: str, qualifier: str = "") -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}" + (
        f":{qualifier}" if qualifier else ""
    )


def test_tags_from_the_tagging_api_are_read_in_pages_not_per_function(stubs: Stubs) -> None:
    _identity(stubs)
    _list_functions(
        stubs,
        [_fn("alpha", ["subnet-a"], [SG]), _fn("beta", ["subnet-a"], [SG])],
        [_fn("gamma", ["subnet-a"], [SG]), _fn("plain")],
    )
    _tag_page(
        stubs,
        [
            {
                "ResourceARN": _arn("alpha"),
                "Tags": [
                    {"Key": "team", "Value": "pay"},
                    {"Key": "remediator:exempt", "Value": "true"},
                ],
            },
            # a version's own ARN is not the function's: its tags do not count
            {"ResourceARN": _arn("beta", "live"), "Tags": [{"Key": "x", "Value": "1"}]},
        ],
        None,
        "page-2",
    )
    _tag_page(
        stubs,
        [{"ResourceARN": _arn("gamma"), "Tags": []}, {"ResourceARN": _arn("deleted-fn")}],
        "page-2",
        None,
    )
    _network(stubs, used_subnets=["subnet-a"])

    inventory = _discover(stubs, need_tags=True, tags_from="tagging-api")

    tags = {f.name: f.tags for f in inventory.regions[0].functions}
    assert tags == {
        "alpha": {"remediator:exempt": "true", "team": "pay"},
        "beta": {},
        "gamma": {},
        "plain": {},
    }
    assert inventory.api_calls["resourcegroupstaggingapi:GetResources"] == 2
    assert "lambda:ListTags" not in inventory.api_calls


def test_tags_from_the_tagging_api_without_permission_names_it(stubs: Stubs) -> None:
    _identity(stubs)
    _list_functions(stubs, [_fn("alpha", ["subnet-a"], [SG])])
    stubs.stub("resourcegroupstaggingapi").add_client_error(
        "get_resources", service_error_code="AccessDeniedException", http_status_code=400
    )
    with pytest.raises(errors.AwsAccessError, match=r"missing IAM permission tag:GetResources"):
        discovery.discover(
            None, [REGION], client_factory=stubs, need_tags=True, tags_from="tagging-api"
        )


# --------------------------------------------------------------------------
# The egress path: interfaces, route-target instances, NACLs, shared VPCs

OWNER = "111122223333"


def _eni(eni_id: str, subnet: str, instance: str | None = None, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "NetworkInterfaceId": eni_id,
        "SubnetId": subnet,
        "VpcId": VPC,
        "InterfaceType": "interface",
        "SourceDestCheck": True,
        **extra,
    }
    if instance:
        entry["Attachment"] = {"InstanceId": instance}
    return entry


def test_interfaces_from_every_page_and_the_instances_routes_point_at(stubs: Stubs) -> None:
    _identity(stubs)
    _list_functions(stubs, [_fn("fn", ["subnet-a"], [SG])])
    tables = [
        {
            "RouteTableId": "rtb-a",
            "VpcId": VPC,
            "Associations": [{"Main": True}],
            "Routes": [
                # a NAT instance by its id (AWS also names its interface)
                {
                    "DestinationCidrBlock": "0.0.0.0/0",
                    "InstanceId": "i-nat",
                    "NetworkInterfaceId": "eni-nat",
                    "State": "active",
                },
                # an appliance by its interface only
                {"DestinationCidrBlock": "192.0.2.0/24", "NetworkInterfaceId": "eni-appliance"},
            ],
        }
    ]
    page_one = [
        _eni("eni-lambda", "subnet-a", InterfaceType="lambda", Description="AWS Lambda VPC ENI")
    ]
    page_two = [
        _eni("eni-appliance", "subnet-pub", "i-appliance", SourceDestCheck=False),
        _eni("eni-nat", "subnet-pub", "i-nat", Association={"PublicIp": "198.51.100.7"}),
        _eni("eni-bystander", "subnet-pub", "i-bystander"),
    ]
    instances = {
        "i-appliance": {"InstanceId": "i-appliance", "State": {"Name": "stopped"}},
        "i-nat": {
            "InstanceId": "i-nat",
            "State": {"Name": "running"},
            "SubnetId": "subnet-pub",
            "SourceDestCheck": False,
            "PublicIpAddress": "198.51.100.7",
            "NetworkInterfaces": [{"NetworkInterfaceId": "eni-nat"}],
        },
    }
    _network(
        stubs,
        used_subnets=["subnet-a"],
        route_table_pages=[tables],
        interface_pages=[page_one, page_two],
        instances=instances,
    )

    inventory = _discover(stubs)

    [region] = inventory.regions
    assert [e.network_interface_id for e in region.network_interfaces] == [
        "eni-appliance",
        "eni-bystander",
        "eni-lambda",
        "eni-nat",
    ]
    enis = {e.network_interface_id: e for e in region.network_interfaces}
    assert enis["eni-nat"].public_ip == "198.51.100.7"
    assert enis["eni-nat"].instance_id == "i-nat"
    assert enis["eni-appliance"].source_dest_check is False
    assert enis["eni-lambda"].interface_type == "lambda"
    assert enis["eni-lambda"].instance_id == ""
    # the bystander's instance is no route target: not read
    assert [i.instance_id for i in region.instances] == ["i-appliance", "i-nat"]
    nat = region.instances[1]
    assert (nat.state, nat.source_dest_check, nat.public_ip) == ("running", False, "198.51.100.7")
    assert nat.network_interface_ids == ("eni-nat",)
    assert inventory.api_calls["ec2:DescribeNetworkInterfaces"] == 2
    assert inventory.api_calls["ec2:DescribeInstances"] == 1


def test_shared_vpc_participant_sees_owners_zone_ids_ipv6_and_nacls(stubs: Stubs) -> None:
    _identity(stubs)
    _list_functions(stubs, [_fn("fn", ["subnet-a"], [SG])])
    shared = {
        **_subnet("subnet-a"),
        "OwnerId": OWNER,
        "AvailabilityZoneId": "use1-az4",
        "Ipv6CidrBlockAssociationSet": [
            {
                "Ipv6CidrBlock": "2600:1f18::/64",
                "Ipv6CidrBlockState": {"State": "associated"},
            },
            {
                "Ipv6CidrBlock": "2600:1f18:0:1::/64",
                "Ipv6CidrBlockState": {"State": "disassociated"},
            },
        ],
    }
    acl = {
        "NetworkAclId": "acl-1",
        "VpcId": VPC,
        "IsDefault": True,
        "OwnerId": OWNER,
        "Associations": [{"NetworkAclId": "acl-1", "SubnetId": "subnet-a"}],
        "Entries": [
            {"RuleNumber": 32767, "Egress": True, "Protocol": "-1", "RuleAction": "deny"},
            {
                "RuleNumber": 100,
                "Egress": False,
                "Protocol": "6",
                "RuleAction": "allow",
                "CidrBlock": "0.0.0.0/0",
                "PortRange": {"From": 1024, "To": 65535},
            },
            {
                "RuleNumber": 100,
                "Egress": True,
                "Protocol": "-1",
                "RuleAction": "allow",
                "Ipv6CidrBlock": "::/0",
            },
        ],
    }
    group = {
        "GroupId": SG,
        "VpcId": VPC,
        "IpPermissionsEgress": [
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [{"CidrIp": "10.0.0.0/16"}],
                "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
                "PrefixListIds": [{"PrefixListId": "pl-partners"}],
            }
        ],
    }
    _network(
        stubs,
        used_subnets=["subnet-a"],
        subnets=[shared],
        vpc={"VpcId": VPC, "OwnerId": OWNER, "CidrBlock": "10.0.0.0/16"},
        groups=[group],
        network_acls=[acl],
        prefix_lists={"pl-partners": (ACCOUNT, ["203.0.113.0/24"])},
    )

    [region] = _discover(stubs).regions

    [subnet] = region.subnets
    assert (subnet.owner_id, subnet.availability_zone_id) == (OWNER, "use1-az4")
    assert subnet.ipv6_cidr_blocks == ("2600:1f18::/64",)
    assert region.vpcs[0].owner_id == OWNER
    [nacl] = region.network_acls
    assert (nacl.is_default, nacl.subnet_ids) == (True, ("subnet-a",))
    # inbound first, then outbound, each by rule number
    assert [(e.egress, e.rule_number, e.protocol, e.rule_action) for e in nacl.entries] == [
        (False, 100, "6", "allow"),
        (True, 100, "-1", "allow"),
        (True, 32767, "-1", "deny"),
    ]
    assert (nacl.entries[0].port_from, nacl.entries[0].port_to) == (1024, 65535)
    assert nacl.entries[1].ipv6_cidr_block == "::/0"
    assert nacl.entries[2].port_from is None
    [rule] = region.security_groups[0].egress
    assert (rule.cidrs, rule.ipv6_cidrs, rule.prefix_list_ids) == (
        ("10.0.0.0/16",),
        ("::/0",),
        ("pl-partners",),
    )
    assert region.prefix_lists[0].cidrs == ("203.0.113.0/24",)


def test_network_acls_without_permission_names_it(stubs: Stubs) -> None:
    _identity(stubs)
    _list_functions(stubs, [_fn("fn", ["subnet-a"], [SG])])
    _network(stubs, used_subnets=["subnet-a"], stop_after="describe_security_groups")
    stubs.stub("ec2").add_client_error(
        "describe_network_acls", "UnauthorizedOperation", "You are not authorized.", 403
    )

    with pytest.raises(errors.AwsAccessError) as caught:
        discovery.discover(None, [REGION], client_factory=stubs)

    assert "missing IAM permission ec2:DescribeNetworkAcls in us-east-1" in str(caught.value)
    assert "ec2:DescribeNetworkAcls" in discovery.READ_PERMISSIONS


def _prefix_list_group(*list_ids: str) -> dict[str, Any]:
    return {
        "GroupId": SG,
        "VpcId": VPC,
        "IpPermissionsEgress": [
            {"IpProtocol": "tcp", "PrefixListIds": [{"PrefixListId": i} for i in list_ids]}
        ],
    }


def test_an_unreadable_aws_prefix_list_is_left_out_not_taken_as_empty(stubs: Stubs) -> None:
    _identity(stubs)
    _list_functions(stubs, [_fn("fn", ["subnet-a"], [SG])])
    _network(
        stubs,
        used_subnets=["subnet-a"],
        groups=[_prefix_list_group("pl-aws", "pl-mine")],
        prefix_lists={"pl-aws": ("AWS", []), "pl-mine": (ACCOUNT, ["192.0.2.0/24"])},
        stop_after="describe_managed_prefix_lists:pl-aws",
    )
    ec2 = stubs.stub("ec2")
    ec2.add_client_error(
        "get_managed_prefix_list_entries", "UnauthorizedOperation", "not authorized", 403
    )
    ec2.add_response(
        "get_managed_prefix_list_entries",
        {"Entries": [{"Cidr": "192.0.2.0/24"}]},
        {"PrefixListId": "pl-mine"},
    )

    [region] = _discover(stubs).regions

    assert [(p.prefix_list_id, p.cidrs) for p in region.prefix_lists] == [
        ("pl-mine", ("192.0.2.0/24",))
    ]


def test_an_unreadable_customer_prefix_list_names_the_permission(stubs: Stubs) -> None:
    _identity(stubs)
    _list_functions(stubs, [_fn("fn", ["subnet-a"], [SG])])
    _network(
        stubs,
        used_subnets=["subnet-a"],
        groups=[_prefix_list_group("pl-mine")],
        prefix_lists={"pl-mine": (ACCOUNT, [])},
        stop_after="describe_managed_prefix_lists:pl-mine",
    )
    stubs.stub("ec2").add_client_error(
        "get_managed_prefix_list_entries", "UnauthorizedOperation", "not authorized", 403
    )

    with pytest.raises(errors.AwsAccessError) as caught:
        discovery.discover(None, [REGION], client_factory=stubs)

    assert "missing IAM permission ec2:GetManagedPrefixListEntries" in str(caught.value)
