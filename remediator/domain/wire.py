"""AWS's answers, as the inventory reads them: pure parsers from the raw
response shapes (boto3-stubs TypedDicts, for type checking only) to the
frozen inventory models.

Discovery and the change handlers both parse through here, so a live
fingerprint and a planned one are computed from the same reading of AWS.
Every parser sorts what AWS returns in no fixed order (associations, rules,
addresses) and keeps AWS's order where it is meaningful (a function's
subnets and security groups: rollback restores exactly what was there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, TypeVar

from remediator.domain.inventory import (
    Alias,
    Instance,
    InternetGateway,
    ManagedPrefixList,
    NatGateway,
    NetworkAcl,
    NetworkAclEntry,
    NetworkInterface,
    Route,
    RouteTable,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
    Vpc,
    VpcConfig,
    VpcEndpoint,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import (
        InstanceTypeDef,
        InternetGatewayTypeDef,
        IpPermissionOutputTypeDef,
        ManagedPrefixListTypeDef,
        NatGatewayTypeDef,
        NetworkAclEntryTypeDef,
        NetworkAclTypeDef,
        NetworkInterfaceTypeDef,
        PrefixListEntryTypeDef,
        RouteTableTypeDef,
        RouteTypeDef,
        SecurityGroupTypeDef,
        SubnetTypeDef,
        VpcEndpointTypeDef,
        VpcTypeDef,
    )
    from mypy_boto3_lambda.type_defs import AliasConfigurationTypeDef, FunctionConfigurationTypeDef

_T = TypeVar("_T")

# Route targets in the order the brief fixes: the first one present wins.
_ROUTE_TARGET_KEYS = (
    "GatewayId",
    "NatGatewayId",
    "TransitGatewayId",
    "VpcPeeringConnectionId",
    "NetworkInterfaceId",
    "InstanceId",
    "EgressOnlyInternetGatewayId",
    "LocalGatewayId",
    "CarrierGatewayId",
    "CoreNetworkArn",
)

_GONE_ASSOCIATION_STATES = frozenset({"disassociated", "failed"})
_LIVE_IPV6_STATES = frozenset({"associated", "associating"})

# Thousands of functions share a few hundred VpcConfigs; the models are frozen,
# so one object per distinct config serves them all (less time, less memory).
_VPC_CONFIGS: dict[tuple[tuple[str, ...], tuple[str, ...], bool], VpcConfig] = {}


def vpc_config(entry: FunctionConfigurationTypeDef) -> VpcConfig | None:
    raw = entry.get("VpcConfig") or {}
    # AWS's order is kept: rollback restores exactly what was there.
    subnets = tuple(raw.get("SubnetIds") or ())
    if not subnets:
        return None
    key = (
        subnets,
        tuple(raw.get("SecurityGroupIds") or ()),
        bool(raw.get("Ipv6AllowedForDualStack", False)),
    )
    config = _VPC_CONFIGS.get(key)
    if config is None:
        config = VpcConfig(
            subnet_ids=key[0], security_group_ids=key[1], ipv6_allowed_for_dual_stack=key[2]
        )
        if len(_VPC_CONFIGS) < 65536:
            _VPC_CONFIGS[key] = config
    return config


def version_key(version: str) -> tuple[int, int, str]:
    return (0, int(version), "") if version.isdigit() else (1, 0, version)


def alias(raw: AliasConfigurationTypeDef) -> Alias:
    weights = (raw.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return Alias(
        name=str(raw["Name"]),
        function_version=str(raw["FunctionVersion"]),
        additional_versions=tuple(sorted((str(k) for k in weights), key=version_key)),
        revision_id=raw.get("RevisionId"),
    )


def vpc(raw: VpcTypeDef, dns: tuple[bool, bool] | None) -> Vpc:
    return Vpc(
        vpc_id=str(raw["VpcId"]),
        owner_id=str(raw.get("OwnerId", "")),
        cidr_block=str(raw.get("CidrBlock", "")),
        is_default=bool(raw.get("IsDefault", False)),
        enable_dns_support=dns[0] if dns else None,
        enable_dns_hostnames=dns[1] if dns else None,
    )


def subnet(raw: SubnetTypeDef) -> Subnet:
    return Subnet(
        subnet_id=str(raw["SubnetId"]),
        vpc_id=str(raw["VpcId"]),
        availability_zone=str(raw.get("AvailabilityZone", "")),
        cidr_block=str(raw.get("CidrBlock", "")),
        available_ip_address_count=int(raw.get("AvailableIpAddressCount", 0)),
        map_public_ip_on_launch=bool(raw.get("MapPublicIpOnLaunch", False)),
        owner_id=str(raw.get("OwnerId", "")),
        availability_zone_id=str(raw.get("AvailabilityZoneId", "")),
        ipv6_cidr_blocks=tuple(
            sorted(
                str(a["Ipv6CidrBlock"])
                for a in raw.get("Ipv6CidrBlockAssociationSet") or ()
                if a.get("Ipv6CidrBlock")
                and str((a.get("Ipv6CidrBlockState") or {}).get("State", "associated"))
                in _LIVE_IPV6_STATES
            )
        ),
    )


def route_table(raw: RouteTableTypeDef) -> RouteTable:
    main = False
    subnet_ids: set[str] = set()
    for assoc in raw.get("Associations") or ():
        state = str((assoc.get("AssociationState") or {}).get("State", "associated"))
        if state in _GONE_ASSOCIATION_STATES:
            continue
        if assoc.get("Main"):
            main = True
        if assoc.get("SubnetId"):
            subnet_ids.add(str(assoc["SubnetId"]))
    routes = sorted(
        (route(r) for r in raw.get("Routes") or ()), key=lambda r: (r.destination, r.target)
    )
    return RouteTable(
        route_table_id=str(raw["RouteTableId"]),
        vpc_id=str(raw["VpcId"]),
        main=main,
        subnet_ids=tuple(sorted(subnet_ids)),
        routes=tuple(routes),
    )


def route(raw: RouteTypeDef) -> Route:
    destination = (
        raw.get("DestinationCidrBlock")
        or raw.get("DestinationIpv6CidrBlock")
        or raw.get("DestinationPrefixListId")
        or ""
    )
    fields: Mapping[str, object] = raw  # the target keys are read by name, in order
    target = next((str(fields[k]) for k in _ROUTE_TARGET_KEYS if fields.get(k)), "unknown")
    return Route(
        destination=str(destination),
        target=target,
        state=str(raw.get("State", "active")),
        origin=str(raw.get("Origin", "")),
    )


def nat_gateway(raw: NatGatewayTypeDef) -> NatGateway:
    addresses = raw.get("NatGatewayAddresses") or ()
    return NatGateway(
        nat_gateway_id=str(raw["NatGatewayId"]),
        vpc_id=str(raw.get("VpcId", "")),
        subnet_id=str(raw.get("SubnetId", "")),
        state=str(raw.get("State", "")),
        connectivity_type=str(raw.get("ConnectivityType") or "public"),
        public_ips=tuple(sorted(str(a["PublicIp"]) for a in addresses if a.get("PublicIp"))),
    )


def internet_gateway(raw: InternetGatewayTypeDef) -> InternetGateway:
    attached = {
        str(a["VpcId"])
        for a in raw.get("Attachments") or ()
        if a.get("VpcId") and a.get("State") != "detached"
    }
    return InternetGateway(
        internet_gateway_id=str(raw["InternetGatewayId"]), attached_vpc_ids=tuple(sorted(attached))
    )


def endpoint(raw: VpcEndpointTypeDef) -> VpcEndpoint:
    return VpcEndpoint(
        vpc_endpoint_id=str(raw["VpcEndpointId"]),
        vpc_id=str(raw["VpcId"]),
        service_name=str(raw["ServiceName"]),
        endpoint_type=str(raw.get("VpcEndpointType", "")),
        state=str(raw.get("State", "")).lower(),
        private_dns_enabled=bool(raw.get("PrivateDnsEnabled", False)),
        subnet_ids=tuple(sorted(str(s) for s in raw.get("SubnetIds") or ())),
        security_group_ids=tuple(sorted(str(g["GroupId"]) for g in raw.get("Groups") or ())),
    )


def security_group(raw: SecurityGroupTypeDef) -> SecurityGroup:
    return SecurityGroup(
        group_id=str(raw["GroupId"]),
        vpc_id=str(raw.get("VpcId", "")),
        group_name=str(raw.get("GroupName", "")),
        ingress=rules(raw.get("IpPermissions") or ()),
        egress=rules(raw.get("IpPermissionsEgress") or ()),
    )


def rules(permissions: Iterable[IpPermissionOutputTypeDef]) -> tuple[SecurityGroupRule, ...]:
    """IPv4 ranges go to ``cidrs``, IPv6 ranges to ``ipv6_cidrs``, prefix
    lists to ``prefix_list_ids``, groups to ``group_ids``."""
    rules = [
        SecurityGroupRule(
            protocol=str(p.get("IpProtocol", "-1")),
            from_port=p.get("FromPort"),
            to_port=p.get("ToPort"),
            cidrs=tuple(
                sorted(str(r["CidrIp"]) for r in p.get("IpRanges") or () if r.get("CidrIp"))
            ),
            ipv6_cidrs=tuple(
                sorted(str(r["CidrIpv6"]) for r in p.get("Ipv6Ranges") or () if r.get("CidrIpv6"))
            ),
            prefix_list_ids=tuple(
                sorted(
                    str(r["PrefixListId"])
                    for r in p.get("PrefixListIds") or ()
                    if r.get("PrefixListId")
                )
            ),
            group_ids=tuple(
                sorted(
                    str(g["GroupId"]) for g in p.get("UserIdGroupPairs") or () if g.get("GroupId")
                )
            ),
        )
        for p in permissions
    ]
    return tuple(
        sorted(
            rules,
            key=lambda r: (
                r.protocol,
                -1 if r.from_port is None else r.from_port,
                -1 if r.to_port is None else r.to_port,
                r.cidrs,
                r.ipv6_cidrs,
                r.prefix_list_ids,
                r.group_ids,
            ),
        )
    )


def network_acl(raw: NetworkAclTypeDef) -> NetworkAcl:
    entries = sorted(
        (network_acl_entry(e) for e in raw.get("Entries") or ()),
        key=lambda e: (e.egress, e.rule_number, e.cidr_block, e.ipv6_cidr_block),
    )
    return NetworkAcl(
        network_acl_id=str(raw["NetworkAclId"]),
        vpc_id=str(raw.get("VpcId", "")),
        is_default=bool(raw.get("IsDefault", False)),
        subnet_ids=tuple(
            sorted({str(a["SubnetId"]) for a in raw.get("Associations") or () if a.get("SubnetId")})
        ),
        entries=tuple(entries),
    )


def network_acl_entry(raw: NetworkAclEntryTypeDef) -> NetworkAclEntry:
    ports = raw.get("PortRange") or {}
    return NetworkAclEntry(
        rule_number=int(raw.get("RuleNumber", 32767)),
        egress=bool(raw.get("Egress", False)),
        protocol=str(raw.get("Protocol", "-1")),
        rule_action=str(raw.get("RuleAction", "")),
        cidr_block=str(raw.get("CidrBlock", "")),
        ipv6_cidr_block=str(raw.get("Ipv6CidrBlock", "")),
        port_from=ports.get("From"),
        port_to=ports.get("To"),
    )


def instance(raw: InstanceTypeDef) -> Instance:
    return Instance(
        instance_id=str(raw["InstanceId"]),
        state=str((raw.get("State") or {}).get("Name", "")),
        subnet_id=str(raw.get("SubnetId", "")),
        source_dest_check=bool(raw.get("SourceDestCheck", True)),
        public_ip=str(raw.get("PublicIpAddress", "")),
        network_interface_ids=tuple(
            sorted(
                str(n["NetworkInterfaceId"])
                for n in raw.get("NetworkInterfaces") or ()
                if n.get("NetworkInterfaceId")
            )
        ),
        security_group_ids=tuple(
            sorted({str(g["GroupId"]) for g in raw.get("SecurityGroups") or () if g.get("GroupId")})
        ),
    )


def network_interface(raw: NetworkInterfaceTypeDef) -> NetworkInterface:
    return NetworkInterface(
        network_interface_id=str(raw["NetworkInterfaceId"]),
        subnet_id=str(raw.get("SubnetId", "")),
        vpc_id=str(raw.get("VpcId", "")),
        interface_type=str(raw.get("InterfaceType") or "interface"),
        instance_id=str((raw.get("Attachment") or {}).get("InstanceId", "")),
        source_dest_check=bool(raw.get("SourceDestCheck", True)),
        public_ip=str((raw.get("Association") or {}).get("PublicIp", "")),
        description=str(raw.get("Description", "")),
        security_group_ids=tuple(
            sorted({str(g["GroupId"]) for g in raw.get("Groups") or () if g.get("GroupId")})
        ),
    )


def prefix_list(
    prefix_list_id: str,
    described: ManagedPrefixListTypeDef | None,
    entries: Iterable[PrefixListEntryTypeDef],
) -> ManagedPrefixList:
    return ManagedPrefixList(
        prefix_list_id=prefix_list_id,
        name=str((described or {}).get("PrefixListName", "")),
        cidrs=tuple(sorted({str(e["Cidr"]) for e in entries if e.get("Cidr")})),
    )


def unique(items: Iterable[_T], key: Callable[[_T], str]) -> tuple[_T, ...]:
    """Sorted by id, one per id (chunked filters never overlap, but be sure)."""
    by_id: dict[str, _T] = {}
    for item in items:
        by_id.setdefault(key(item), item)
    return tuple(by_id[k] for k in sorted(by_id))
