"""The inventory: what exists in an account, as plain immutable data.

Discovery (``remediator.discover``) is the only producer of these values;
diagnosis and planning only read them. Every model is frozen and rejects
unknown fields, and every collection is a tuple sorted by the resource's id,
so two inventories of the same world compare equal and serialise to the same
bytes.

Enum-like fields that AWS extends over time (function state, route state,
NAT gateway state, endpoint state) are kept as plain strings: a value this
version of remediator has never seen is carried through, not rejected, and
the diagnosis treats it as "not the healthy value".
"""

from __future__ import annotations

from pydantic import Field

from remediator.domain.base import Frozen


class VpcConfig(Frozen):
    """A function's VpcConfig as Lambda returns it (VpcId is derived, not stored).

    Invariant: an empty ``subnet_ids`` means "not attached to a VPC"; the
    inventory stores ``None`` instead of an empty config for such functions.
    """

    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...]
    ipv6_allowed_for_dual_stack: bool = False


class FunctionVersion(Frozen):
    """A published (immutable) version: it keeps the VpcConfig it was published with."""

    version: str
    code_sha256: str
    vpc_config: VpcConfig | None = None
    revision_id: str | None = None


class Alias(Frozen):
    """An alias and the version(s) it routes to (weights for a canary split)."""

    name: str
    function_version: str
    additional_versions: tuple[str, ...] = ()
    revision_id: str | None = None


class Function(Frozen):
    """A Lambda function's ``$LATEST`` configuration plus what diagnosis needs.

    ``vpc_id`` is derived from the subnets (Lambda's own ``VpcId`` is not
    trusted). ``aliases`` and ``versions`` are only filled for functions
    whose diagnosis needs them (a published version on a different config);
    ``details_loaded`` says whether they were read.
    """

    name: str
    arn: str
    vpc_config: VpcConfig | None = None
    vpc_id: str | None = None
    code_sha256: str = ""
    revision_id: str | None = None
    state: str | None = None
    last_update_status: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    versions: tuple[FunctionVersion, ...] = ()
    aliases: tuple[Alias, ...] = ()
    details_loaded: bool = False


class Subnet(Frozen):
    """A subnet. ``owner_id`` is the account that owns it (another account's
    in a VPC shared through AWS RAM); ``""`` when discovery did not read it.
    ``availability_zone_id`` is the same zone in every account (names are not)."""

    subnet_id: str
    vpc_id: str
    availability_zone: str
    cidr_block: str = ""
    available_ip_address_count: int = 0
    map_public_ip_on_launch: bool = False
    owner_id: str = ""
    availability_zone_id: str = ""
    ipv6_cidr_blocks: tuple[str, ...] = ()


class Route(Frozen):
    """One route. ``target`` is the id of whatever the route points at
    (``igw-…``, ``nat-…``, ``tgw-…``, ``pcx-…``, ``eni-…``, ``i-…``,
    ``eigw-…``, ``vgw-…``, ``local``); ``state`` is ``active`` or
    ``blackhole`` (or a value AWS adds later)."""

    destination: str
    target: str
    state: str = "active"
    origin: str = ""


class RouteTable(Frozen):
    """A route table. ``main`` marks the VPC's main table, which every subnet
    without an explicit association uses. ``subnet_ids`` lists only the
    explicit associations."""

    route_table_id: str
    vpc_id: str
    main: bool = False
    subnet_ids: tuple[str, ...] = ()
    routes: tuple[Route, ...] = ()


class NatGateway(Frozen):
    nat_gateway_id: str
    vpc_id: str
    subnet_id: str
    state: str
    connectivity_type: str = "public"
    public_ips: tuple[str, ...] = ()


class InternetGateway(Frozen):
    internet_gateway_id: str
    attached_vpc_ids: tuple[str, ...] = ()


class SecurityGroupRule(Frozen):
    """A permission of a security group, flattened: one protocol/port range
    with the CIDRs, prefix lists and groups it allows. ``protocol`` ``-1``
    means all."""

    protocol: str
    from_port: int | None = None
    to_port: int | None = None
    cidrs: tuple[str, ...] = ()
    group_ids: tuple[str, ...] = ()
    ipv6_cidrs: tuple[str, ...] = ()
    prefix_list_ids: tuple[str, ...] = ()


class SecurityGroup(Frozen):
    group_id: str
    vpc_id: str
    group_name: str = ""
    ingress: tuple[SecurityGroupRule, ...] = ()
    egress: tuple[SecurityGroupRule, ...] = ()


class VpcEndpoint(Frozen):
    vpc_endpoint_id: str
    vpc_id: str
    service_name: str
    endpoint_type: str
    state: str
    private_dns_enabled: bool = False
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()


class Vpc(Frozen):
    """A VPC. The DNS attributes are ``None`` when they were not read (they
    are only read where a Lambda endpoint is in play). ``owner_id``: the
    account that owns it (``""`` when not read); a participant of a shared
    VPC sees the owner's subnets, route tables and NACLs, not its NAT
    gateways."""

    vpc_id: str
    owner_id: str = ""
    cidr_block: str = ""
    is_default: bool = False
    enable_dns_support: bool | None = None
    enable_dns_hostnames: bool | None = None


class NetworkAclEntry(Frozen):
    """One NACL rule. Rules are evaluated lowest ``rule_number`` first, per
    direction (``egress``); the first that matches decides; rule 32767 is the
    final deny. ``protocol`` is AWS's number as a string (``-1`` all, ``6``
    TCP); ports are ``None`` for protocols without ports."""

    rule_number: int
    egress: bool
    protocol: str
    rule_action: str
    cidr_block: str = ""
    ipv6_cidr_block: str = ""
    port_from: int | None = None
    port_to: int | None = None


class NetworkAcl(Frozen):
    """A network ACL and the subnets associated with it (every subnet has
    exactly one; a subnet not listed uses the VPC's default NACL)."""

    network_acl_id: str
    vpc_id: str
    is_default: bool = False
    subnet_ids: tuple[str, ...] = ()
    entries: tuple[NetworkAclEntry, ...] = ()


class Instance(Frozen):
    """An EC2 instance a route points at (a NAT instance), as far as egress
    needs it: it forwards only when running with source/destination check
    off, and reaches the internet only with a public IP. ``security_group_ids``:
    the instance's groups (its primary interface's), which filter what it
    forwards (``()`` when not read)."""

    instance_id: str
    state: str
    subnet_id: str = ""
    source_dest_check: bool = True
    public_ip: str = ""
    network_interface_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()


class NetworkInterface(Frozen):
    """A network interface: a route target (``eni-…``), or a workload in a
    subnet whose egress a route change would change (blast radius).
    ``security_group_ids``: its groups (a NAT instance's interface filters
    what it forwards)."""

    network_interface_id: str
    subnet_id: str
    vpc_id: str = ""
    interface_type: str = "interface"
    instance_id: str = ""
    source_dest_check: bool = True
    public_ip: str = ""
    description: str = ""
    security_group_ids: tuple[str, ...] = ()


class ManagedPrefixList(Frozen):
    """A managed prefix list a route or a security-group rule names."""

    prefix_list_id: str
    name: str = ""
    cidrs: tuple[str, ...] = ()


class OwnerView(Frozen):
    """Provenance of what discovery read from a VPC owner's account (a VPC
    shared through AWS RAM, whose NAT gateways, route-target instances and
    interfaces, and unshared subnets the participant cannot describe).

    ``error`` ``""``: the owner's view was read through ``role_arn`` and
    merged (``resource_ids``: every id taken from it; ``owner_only_subnet_ids``:
    subnets only the owner sees, which the account cannot attach functions
    to). Otherwise why it was not read; nothing of it was merged and the
    VPCs stay "not verifiable"."""

    account_id: str
    role_arn: str
    vpc_ids: tuple[str, ...]
    error: str = ""
    resource_ids: tuple[str, ...] = ()
    owner_only_subnet_ids: tuple[str, ...] = ()


class RegionInventory(Frozen):
    """Everything discovery read in one region, scoped to the VPCs in use.
    ``owner_views``: what was read from the owners of shared VPCs (empty
    unless asked for)."""

    region: str
    functions: tuple[Function, ...] = ()
    vpcs: tuple[Vpc, ...] = ()
    subnets: tuple[Subnet, ...] = ()
    route_tables: tuple[RouteTable, ...] = ()
    nat_gateways: tuple[NatGateway, ...] = ()
    internet_gateways: tuple[InternetGateway, ...] = ()
    vpc_endpoints: tuple[VpcEndpoint, ...] = ()
    security_groups: tuple[SecurityGroup, ...] = ()
    network_acls: tuple[NetworkAcl, ...] = ()
    instances: tuple[Instance, ...] = ()
    network_interfaces: tuple[NetworkInterface, ...] = ()
    prefix_lists: tuple[ManagedPrefixList, ...] = ()
    missing_subnet_ids: tuple[str, ...] = ()
    owner_views: tuple[OwnerView, ...] = ()


class Inventory(Frozen):
    """One account's discovered state across the regions asked for.

    ``api_calls`` counts the AWS operations discovery made, by
    ``service:Operation``; it travels into the plan's metadata.
    """

    account_id: str
    partition: str = "aws"
    regions: tuple[RegionInventory, ...] = ()
    api_calls: dict[str, int] = Field(default_factory=dict)
