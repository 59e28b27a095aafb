"""The EC2 side of discovery: the network of one region's VPC functions.

A fixed set of *batched* describes scoped to the VPCs in use (filters of at
most ``FILTER_CHUNK`` values per call), so the number of EC2 calls does not
grow with the number of functions. Every answer is parsed by
``domain.wire``, typed by boto3-stubs' response shapes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

from remediator.aws.door import Aws
from remediator.domain import errors, wire
from remediator.domain.inventory import (
    Instance,
    ManagedPrefixList,
    NetworkAcl,
    NetworkInterface,
    RegionInventory,
    VpcConfig,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import (
        InstanceTypeDef,
        InternetGatewayTypeDef,
        ManagedPrefixListTypeDef,
        NatGatewayTypeDef,
        NetworkAclTypeDef,
        NetworkInterfaceTypeDef,
        PrefixListEntryTypeDef,
        ReservationTypeDef,
        RouteTableTypeDef,
        SecurityGroupTypeDef,
        SubnetTypeDef,
        VpcEndpointTypeDef,
        VpcTypeDef,
    )

log = structlog.get_logger(__name__)

FILTER_CHUNK = 200
"""Most values one EC2 ``Filters`` entry accepts; longer lists are split."""

GATEWAY_LOAD_BALANCER = "GatewayLoadBalancer"
"""The endpoint type of Network Firewall and GWLB endpoints (route targets ``vpce-…``)."""

AWS_OWNER = "AWS"
"""The ``OwnerId`` of AWS-managed prefix lists (``com.amazonaws.<region>.s3``…)."""


@dataclass
class _Filtered:
    """EC2 reads through the door, filtered by a list of values."""

    aws: Aws

    def filtered_items(
        self,
        region: str,
        method: str,
        key: str,
        filter_name: str,
        values: Iterable[str],
        *,
        filter_param: str = "Filters",
    ) -> list[Any]:
        """EC2 items matching ``filter_name`` in ``values``, in chunks of FILTER_CHUNK."""
        ordered = sorted(set(values))
        found: list[Any] = []
        for start in range(0, len(ordered), FILTER_CHUNK):
            chunk = ordered[start : start + FILTER_CHUNK]
            params = {filter_param: [{"Name": filter_name, "Values": chunk}]}
            found.extend(self.aws.items("ec2", region, method, key, **params))
        return found


def filtered(
    aws: Aws, region: str, method: str, key: str, filter_name: str, values: Iterable[str]
) -> list[Any]:
    """EC2 items whose ``filter_name`` is one of ``values`` (chunked)."""
    return _Filtered(aws).filtered_items(region, method, key, filter_name, values)


# What one describe of a resource kind says about the resource's VPC and
# state: (method, result key, filter, id key, filter parameter).
_RESOURCE_READS: dict[str, tuple[str, str, str, str, str]] = {
    "rtb": ("describe_route_tables", "RouteTables", "route-table-id", "RouteTableId", "Filters"),
    "acl": ("describe_network_acls", "NetworkAcls", "network-acl-id", "NetworkAclId", "Filters"),
    "sg": ("describe_security_groups", "SecurityGroups", "group-id", "GroupId", "Filters"),
    "nat": ("describe_nat_gateways", "NatGateways", "nat-gateway-id", "NatGatewayId", "Filter"),
    "vpce": (
        "describe_vpc_endpoints",
        "VpcEndpoints",
        "vpc-endpoint-id",
        "VpcEndpointId",
        "Filters",
    ),
    "subnet": ("describe_subnets", "Subnets", "subnet-id", "SubnetId", "Filters"),
    "igw": (
        "describe_internet_gateways",
        "InternetGateways",
        "internet-gateway-id",
        "InternetGatewayId",
        "Filters",
    ),
}


@dataclass(frozen=True)
class Located:
    """A network resource an event named: its VPC (None: not found, or an
    internet gateway attached to none) and its state where it has one."""

    resource_id: str
    vpc_id: str | None
    state: str | None = None


def locate(aws: Aws, region: str, resource_ids: Iterable[str]) -> list[Located]:
    """The VPC of each resource: one filtered describe per kind named. A
    deleted NAT gateway still describes (state ``deleted``, with its VPC)
    for a while; a resource that does not describe has no VPC."""
    by_kind: dict[str, list[str]] = {}
    for rid in sorted(set(resource_ids)):
        by_kind.setdefault(rid.split("-", 1)[0], []).append(rid)
    found: dict[str, Located] = {}
    reads = _Filtered(aws)
    for kind, ids in sorted(by_kind.items()):
        if kind not in _RESOURCE_READS:
            continue
        method, key, name, id_key, param = _RESOURCE_READS[kind]
        for item in reads.filtered_items(region, method, key, name, ids, filter_param=param):
            vpc = item.get("VpcId") or next(
                (a.get("VpcId") for a in item.get("Attachments") or () if a.get("VpcId")), None
            )
            state = item.get("State")
            found[str(item[id_key])] = Located(
                str(item[id_key]), str(vpc) if vpc else None, str(state) if state else None
            )
    return [found.get(rid, Located(rid, None)) for rid in sorted(set(resource_ids))]


@dataclass
class Network:
    """The EC2 side of a region, already converted and sorted (``ec2``: the
    region's inventory without its functions), and the VPC of each subnet
    the functions use."""

    ec2: RegionInventory
    subnet_vpcs: dict[str, str] = field(default_factory=dict)

    def vpc_of(self, config: VpcConfig | None) -> str | None:
        """The VPC of a config's subnets (the first subnet that exists decides)."""
        if config is None:
            return None
        for subnet_id in config.subnet_ids:
            if subnet_id in self.subnet_vpcs:
                return self.subnet_vpcs[subnet_id]
        return None


def read_network(
    aws: Aws,
    region: str,
    subnet_ids: set[str],
    function_group_ids: set[str],
    *,
    dns_for_all_vpcs: bool,
) -> Network:
    reads = _Filtered(aws)
    used: list[SubnetTypeDef] = reads.filtered_items(
        region, "describe_subnets", "Subnets", "subnet-id", subnet_ids
    )
    found_ids = {str(s["SubnetId"]) for s in used}
    missing = tuple(sorted(subnet_ids - found_ids))
    vpc_ids = sorted({str(s["VpcId"]) for s in used})
    if not vpc_ids:
        return Network(RegionInventory(region=region, missing_subnet_ids=missing))

    raw_subnets: list[SubnetTypeDef] = reads.filtered_items(
        region, "describe_subnets", "Subnets", "vpc-id", vpc_ids
    )
    raw_vpcs: list[VpcTypeDef] = reads.filtered_items(
        region, "describe_vpcs", "Vpcs", "vpc-id", vpc_ids
    )
    raw_tables: list[RouteTableTypeDef] = reads.filtered_items(
        region, "describe_route_tables", "RouteTables", "vpc-id", vpc_ids
    )
    raw_igws: list[InternetGatewayTypeDef] = reads.filtered_items(
        region, "describe_internet_gateways", "InternetGateways", "attachment.vpc-id", vpc_ids
    )
    raw_nats: list[NatGatewayTypeDef] = reads.filtered_items(
        region, "describe_nat_gateways", "NatGateways", "vpc-id", vpc_ids, filter_param="Filter"
    )
    raw_endpoints: list[VpcEndpointTypeDef] = reads.filtered_items(
        region, "describe_vpc_endpoints", "VpcEndpoints", "vpc-id", vpc_ids
    )
    endpoints = tuple(
        sorted(
            (
                wire.endpoint(e)
                for e in raw_endpoints
                if str(e.get("ServiceName", "")).endswith(".lambda")
                or e.get("VpcEndpointType") == GATEWAY_LOAD_BALANCER
            ),
            key=lambda e: e.vpc_endpoint_id,
        )
    )
    lambda_endpoints = [e for e in endpoints if e.service_name.endswith(".lambda")]
    group_ids = function_group_ids | {g for e in lambda_endpoints for g in e.security_group_ids}
    raw_groups: list[SecurityGroupTypeDef] = (
        reads.filtered_items(
            region, "describe_security_groups", "SecurityGroups", "group-id", group_ids
        )
        if group_ids
        else []
    )

    path = _read_egress_path(
        aws,
        region,
        vpc_ids,
        raw_tables,
        [g for g in raw_groups if str(g["GroupId"]) in function_group_ids],
    )

    # the groups of the NAT instances routes point at filter what they
    # forward: one more filtered read, only of groups not read above
    hop_groups = _hop_group_ids(path, raw_tables) - group_ids
    if hop_groups:
        raw_groups = raw_groups + reads.filtered_items(
            region, "describe_security_groups", "SecurityGroups", "group-id", hop_groups
        )

    dns_vpcs = vpc_ids if dns_for_all_vpcs else sorted({e.vpc_id for e in lambda_endpoints})
    dns = _dns_attributes(aws, region, dns_vpcs)

    ec2 = RegionInventory(
        region=region,
        vpcs=wire.unique(
            (wire.vpc(v, dns.get(str(v["VpcId"]))) for v in raw_vpcs), lambda v: v.vpc_id
        ),
        subnets=wire.unique((wire.subnet(s) for s in raw_subnets), lambda s: s.subnet_id),
        route_tables=wire.unique(
            (wire.route_table(t) for t in raw_tables), lambda t: t.route_table_id
        ),
        nat_gateways=wire.unique(
            (wire.nat_gateway(n) for n in raw_nats), lambda n: n.nat_gateway_id
        ),
        internet_gateways=wire.unique(
            (wire.internet_gateway(g) for g in raw_igws), lambda g: g.internet_gateway_id
        ),
        vpc_endpoints=endpoints,
        security_groups=wire.unique(
            (wire.security_group(g) for g in raw_groups), lambda g: g.group_id
        ),
        network_acls=path.network_acls,
        instances=path.instances,
        network_interfaces=path.network_interfaces,
        prefix_lists=path.prefix_lists,
        missing_subnet_ids=missing,
    )
    log.info(
        "network_read",
        region=region,
        vpcs=len(ec2.vpcs),
        subnets=len(ec2.subnets),
        route_tables=len(ec2.route_tables),
        nat_gateways=len(ec2.nat_gateways),
        lambda_endpoints=len(lambda_endpoints),
        gwlb_endpoints=len(endpoints) - len(lambda_endpoints),
        security_groups=len(ec2.security_groups),
        network_acls=len(ec2.network_acls),
        network_interfaces=len(ec2.network_interfaces),
        instances=len(ec2.instances),
        prefix_lists=len(ec2.prefix_lists),
        dns_vpcs=len(dns),
    )
    return Network(ec2, {str(s["SubnetId"]): str(s["VpcId"]) for s in used})


def _dns_attributes(aws: Aws, region: str, vpc_ids: list[str]) -> dict[str, tuple[bool, bool]]:
    """(enableDnsSupport, enableDnsHostnames) of each VPC: two calls each."""
    dns: dict[str, tuple[bool, bool]] = {}
    for vpc_id in vpc_ids:
        support = aws.call(
            "ec2", region, "describe_vpc_attribute", VpcId=vpc_id, Attribute="enableDnsSupport"
        )
        hostnames = aws.call(
            "ec2", region, "describe_vpc_attribute", VpcId=vpc_id, Attribute="enableDnsHostnames"
        )
        dns[vpc_id] = (
            bool((support.get("EnableDnsSupport") or {}).get("Value", False)),
            bool((hostnames.get("EnableDnsHostnames") or {}).get("Value", False)),
        )
    return dns


@dataclass(frozen=True)
class _EgressPath:
    """What lies on a subnet's way out besides routes and gateways."""

    network_acls: tuple[NetworkAcl, ...] = ()
    instances: tuple[Instance, ...] = ()
    network_interfaces: tuple[NetworkInterface, ...] = ()
    prefix_lists: tuple[ManagedPrefixList, ...] = ()


def _hop_group_ids(path: _EgressPath, raw_tables: list[RouteTableTypeDef]) -> set[str]:
    """The security groups of the instances and interfaces routes point at."""
    targets = {
        str(r["NetworkInterfaceId"])
        for t in raw_tables
        for r in t.get("Routes") or ()
        if r.get("NetworkInterfaceId")
    }
    return {g for i in path.instances for g in i.security_group_ids} | {
        g
        for e in path.network_interfaces
        if e.network_interface_id in targets
        for g in e.security_group_ids
    }


def _read_egress_path(
    aws: Aws,
    region: str,
    vpc_ids: list[str],
    raw_tables: list[RouteTableTypeDef],
    function_groups: list[SecurityGroupTypeDef],
) -> _EgressPath:
    """The NACLs and network interfaces of the VPCs in use (one filtered read
    each), the instances routes point at (directly or through an ``eni-``
    target: one filtered read, only when there are any), and the managed
    prefix lists that routes or the functions' egress rules name (one filtered
    describe, then the entries of each distinct list)."""
    reads = _Filtered(aws)
    raw_acls: list[NetworkAclTypeDef] = reads.filtered_items(
        region, "describe_network_acls", "NetworkAcls", "vpc-id", vpc_ids
    )
    raw_enis: list[NetworkInterfaceTypeDef] = reads.filtered_items(
        region, "describe_network_interfaces", "NetworkInterfaces", "vpc-id", vpc_ids
    )
    routes = [r for t in raw_tables for r in t.get("Routes") or ()]
    eni_targets = {str(r["NetworkInterfaceId"]) for r in routes if r.get("NetworkInterfaceId")}
    instance_ids = {str(r["InstanceId"]) for r in routes if r.get("InstanceId")} | {
        str(e["Attachment"]["InstanceId"])
        for e in raw_enis
        if str(e["NetworkInterfaceId"]) in eni_targets
        and (e.get("Attachment") or {}).get("InstanceId")
    }
    reservations: list[ReservationTypeDef] = (
        reads.filtered_items(
            region, "describe_instances", "Reservations", "instance-id", instance_ids
        )
        if instance_ids
        else []
    )
    raw_instances: list[InstanceTypeDef] = [
        i for r in reservations for i in r.get("Instances") or ()
    ]
    list_ids = {
        str(r["DestinationPrefixListId"]) for r in routes if r.get("DestinationPrefixListId")
    } | {
        str(p["PrefixListId"])
        for g in function_groups
        for perm in g.get("IpPermissionsEgress") or ()
        for p in perm.get("PrefixListIds") or ()
        if p.get("PrefixListId")
    }
    return _EgressPath(
        network_acls=wire.unique(
            (wire.network_acl(a) for a in raw_acls), lambda a: a.network_acl_id
        ),
        instances=wire.unique((wire.instance(i) for i in raw_instances), lambda i: i.instance_id),
        network_interfaces=wire.unique(
            (wire.network_interface(e) for e in raw_enis), lambda e: e.network_interface_id
        ),
        prefix_lists=_read_prefix_lists(aws, region, list_ids),
    )


def _read_prefix_lists(aws: Aws, region: str, list_ids: set[str]) -> tuple[ManagedPrefixList, ...]:
    """Each named list with its entries. A list that cannot be described or
    whose entries cannot be read is left out (its CIDRs are unknown: the path
    judgement must not take it as empty) only when AWS owns it; a customer
    list that cannot be read fails discovery like any other read."""
    if not list_ids:
        return ()
    described: list[ManagedPrefixListTypeDef] = _Filtered(aws).filtered_items(
        region, "describe_managed_prefix_lists", "PrefixLists", "prefix-list-id", list_ids
    )
    by_id = {str(d["PrefixListId"]): d for d in described if d.get("PrefixListId")}
    found: list[ManagedPrefixList] = []
    for list_id in sorted(list_ids):
        meta = by_id.get(list_id)
        if meta is None:
            log.warning("prefix_list_not_found", region=region, prefix_list_id=list_id)
            continue
        try:
            entries: list[PrefixListEntryTypeDef] = list(
                aws.items(
                    "ec2",
                    region,
                    "get_managed_prefix_list_entries",
                    "Entries",
                    PrefixListId=list_id,
                )
            )
        except errors.AwsAccessError as exc:
            if str(meta.get("OwnerId", "")) != AWS_OWNER:
                raise
            log.warning(
                "aws_prefix_list_unread", region=region, prefix_list_id=list_id, error=str(exc)
            )
            continue
        found.append(wire.prefix_list(list_id, meta, entries))
    return tuple(found)
