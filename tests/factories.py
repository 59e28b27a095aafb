"""Builders for inventories: small VPC worlds that tests compose.

Everything here is plain data (``remediator.models``): no moto, no network.

Naming convention of :func:`vpc_world` for a VPC tag ``v`` and AZ letter ``x``
(region ``us-east-1``, AZ ``us-east-1x``):

========================  ===================================================
``vpc-v``                 the VPC (``10.N.0.0/16``)
``igw-v``                 its internet gateway
``subnet-v-pub-x``        public subnet (``rtb-v-public`` -> ``igw-v``)
``nat-v-x``               public NAT gateway in ``subnet-v-pub-x``
``subnet-v-nat-x``        private subnet (``rtb-v-nat-x`` -> ``nat-v-x``, or
                          the first NAT when AZ ``x`` has none)
``subnet-v-iso-x``        isolated subnet: implicit on the main table
                          ``rtb-v-main`` (local only) or, with
                          ``isolated_tables="own"``, on ``rtb-v-iso-x``
``sg-v-fn``               the functions' security group
``sg-v-default``          the VPC's default security group
========================  ===================================================

Compose with :func:`add` (adds or replaces resources by id) and
:func:`merge` (several worlds in one region), then wrap in :func:`inventory`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from remediator.domain.inventory import (
    Alias,
    Function,
    FunctionVersion,
    InternetGateway,
    Inventory,
    NatGateway,
    RegionInventory,
    Route,
    RouteTable,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
    Vpc,
    VpcConfig,
    VpcEndpoint,
)
from remediator.domain.policy import Policy, Rule, Settings, default_policy

REGION = "us-east-1"
ACCOUNT = "123456789012"
NOW = "2025-01-01T00:00:00Z"
CODE_SHA = "c0de" * 16
FREE_IPS = 250


# --------------------------------------------------------------------------- ids


def az(letter: str, region: str = REGION) -> str:
    return f"{region}{letter}"


def vpc_id(v: str) -> str:
    return f"vpc-{v}"


def igw_id(v: str) -> str:
    return f"igw-{v}"


def pub(v: str, x: str) -> str:
    return f"subnet-{v}-pub-{x}"


def natsub(v: str, x: str) -> str:
    return f"subnet-{v}-nat-{x}"


def iso(v: str, x: str) -> str:
    return f"subnet-{v}-iso-{x}"


def nat_id(v: str, x: str) -> str:
    return f"nat-{v}-{x}"


def fn_sg(v: str) -> str:
    return f"sg-{v}-fn"


def default_sg(v: str) -> str:
    return f"sg-{v}-default"


def main_rt(v: str) -> str:
    return f"rtb-{v}-main"


def public_rt(v: str) -> str:
    return f"rtb-{v}-public"


def nat_rt(v: str, x: str) -> str:
    return f"rtb-{v}-nat-{x}"


def iso_rt(v: str, x: str) -> str:
    return f"rtb-{v}-iso-{x}"


def arn(name: str, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:aws:lambda:{region}:{account}:function:{name}"


def _octet(v: str) -> int:
    return sum(ord(c) for c in v) % 250 + 1


def subnet_cidr(v: str, block: int) -> str:
    return f"10.{_octet(v)}.{block}.0/24"


# ---------------------------------------------------------------- single models


def route(destination: str, target: str, state: str = "active") -> Route:
    return Route(destination=destination, target=target, state=state)


def default_route(target: str, state: str = "active") -> Route:
    return route("0.0.0.0/0", target, state)


def local_route(v: str) -> Route:
    return route(f"10.{_octet(v)}.0.0/16", "local")


def route_table(
    rt_id: str,
    v: str,
    routes: Iterable[Route] = (),
    subnets: Iterable[str] = (),
    *,
    main: bool = False,
) -> RouteTable:
    return RouteTable(
        route_table_id=rt_id,
        vpc_id=vpc_id(v),
        main=main,
        subnet_ids=tuple(sorted(subnets)),
        routes=(local_route(v), *routes),
    )


def subnet(
    subnet_id: str,
    v: str,
    x: str,
    *,
    cidr: str = "",
    free_ips: int = FREE_IPS,
    region: str = REGION,
) -> Subnet:
    return Subnet(
        subnet_id=subnet_id,
        vpc_id=vpc_id(v),
        availability_zone=az(x, region),
        cidr_block=cidr,
        available_ip_address_count=free_ips,
    )


def nat(
    nat_gateway_id: str,
    v: str,
    subnet_id: str,
    state: str = "available",
    connectivity: str = "public",
) -> NatGateway:
    return NatGateway(
        nat_gateway_id=nat_gateway_id,
        vpc_id=vpc_id(v),
        subnet_id=subnet_id,
        state=state,
        connectivity_type=connectivity,
        public_ips=("203.0.113.10",) if connectivity == "public" else (),
    )


def allow_443_from_groups(*group_ids: str, protocol: str = "tcp") -> SecurityGroupRule:
    return SecurityGroupRule(protocol=protocol, from_port=443, to_port=443, group_ids=group_ids)


def allow_443_from_cidrs(*cidrs: str) -> SecurityGroupRule:
    return SecurityGroupRule(protocol="tcp", from_port=443, to_port=443, cidrs=cidrs)


def allow_all_egress() -> SecurityGroupRule:
    return SecurityGroupRule(protocol="-1", cidrs=("0.0.0.0/0",))


def security_group(
    group_id: str, v: str, ingress: Iterable[SecurityGroupRule] = (), name: str = ""
) -> SecurityGroup:
    return SecurityGroup(
        group_id=group_id,
        vpc_id=vpc_id(v),
        group_name=name or group_id,
        ingress=tuple(ingress),
        egress=(allow_all_egress(),),
    )


def endpoint(
    v: str = "a",
    subnets: Iterable[str] = (),
    sgs: Iterable[str] = ("sg-a-endpoint",),
    *,
    private_dns: bool = True,
    state: str = "available",
    endpoint_id: str | None = None,
    region: str = REGION,
    service: str = "lambda",
) -> VpcEndpoint:
    return VpcEndpoint(
        vpc_endpoint_id=endpoint_id or f"vpce-{v}-{service}",
        vpc_id=vpc_id(v),
        service_name=f"com.amazonaws.{region}.{service}",
        endpoint_type="Interface",
        state=state,
        private_dns_enabled=private_dns,
        subnet_ids=tuple(sorted(subnets)),
        security_group_ids=tuple(sgs),
    )


def vpc_config(subnets: Iterable[str], sgs: Iterable[str]) -> VpcConfig:
    return VpcConfig(subnet_ids=tuple(subnets), security_group_ids=tuple(sgs))


def version(
    number: str,
    subnets: Iterable[str] | None,
    sgs: Iterable[str] = (),
    code_sha256: str = CODE_SHA,
) -> FunctionVersion:
    return FunctionVersion(
        version=number,
        code_sha256=code_sha256,
        vpc_config=None if subnets is None else vpc_config(subnets, sgs),
        revision_id=f"rev-v{number}",
    )


def alias(name: str, function_version: str, *additional: str) -> Alias:
    return Alias(
        name=name,
        function_version=function_version,
        additional_versions=additional,
        revision_id=f"rev-alias-{name}",
    )


def function(
    name: str,
    subnets: Iterable[str] | None,
    sgs: Iterable[str] | None = None,
    *,
    v: str = "a",
    region: str = REGION,
    tags: Mapping[str, str] | None = None,
    code_sha256: str = CODE_SHA,
    versions: Iterable[FunctionVersion] = (),
    aliases: Iterable[Alias] = (),
) -> Function:
    """A function in VPC ``vpc-v`` (``subnets=None``: not in a VPC). The
    security groups default to ``sg-v-fn``."""
    subnet_list = None if subnets is None else tuple(subnets)
    config = (
        None
        if not subnet_list
        else vpc_config(subnet_list, (fn_sg(v),) if sgs is None else tuple(sgs))
    )
    versions = tuple(versions)
    aliases = tuple(aliases)
    return Function(
        name=name,
        arn=arn(name, region),
        vpc_config=config,
        vpc_id=vpc_id(v) if config else None,
        code_sha256=code_sha256,
        revision_id=f"rev-{name}",
        state="Active",
        last_update_status="Successful",
        tags=dict(tags or {}),
        versions=tuple(sorted(versions, key=lambda ver: ver.version)),
        aliases=tuple(sorted(aliases, key=lambda a: a.name)),
        details_loaded=bool(versions or aliases),
    )


# ------------------------------------------------------------------ the worlds


def vpc_world(
    v: str = "a",
    azs: str | Sequence[str] = "abc",
    *,
    public: bool = True,
    nat_azs: str | Sequence[str] | None = None,
    private: bool = True,
    isolated: bool = True,
    isolated_tables: str = "main",
    dns: tuple[bool | None, bool | None] = (True, True),
    region: str = REGION,
    functions: Iterable[Function] = (),
) -> RegionInventory:
    """A VPC with an IGW, public subnets, NAT gateways (one per AZ in
    ``nat_azs``, default every AZ; needs ``public``), private NAT-routed
    subnets and isolated subnets, in the given AZs."""
    azs = list(azs)
    nat_azs = list(azs if nat_azs is None else nat_azs) if public else []
    vpcs = [
        Vpc(
            vpc_id=vpc_id(v),
            cidr_block=f"10.{_octet(v)}.0.0/16",
            enable_dns_support=dns[0],
            enable_dns_hostnames=dns[1],
        )
    ]
    subnets: list[Subnet] = []
    tables: list[RouteTable] = [route_table(main_rt(v), v, main=True)]
    nats: list[NatGateway] = []
    if public:
        for i, x in enumerate(azs):
            subnets.append(subnet(pub(v, x), v, x, cidr=subnet_cidr(v, i), region=region))
        tables.append(
            route_table(
                public_rt(v),
                v,
                [default_route(igw_id(v))],
                [pub(v, x) for x in azs],
            )
        )
        nats = [nat(nat_id(v, x), v, pub(v, x)) for x in nat_azs]
    if private and nats:
        for i, x in enumerate(azs):
            subnets.append(subnet(natsub(v, x), v, x, cidr=subnet_cidr(v, 10 + i), region=region))
            target = nat_id(v, x) if x in nat_azs else nat_id(v, nat_azs[0])
            tables.append(route_table(nat_rt(v, x), v, [default_route(target)], [natsub(v, x)]))
    if isolated:
        for i, x in enumerate(azs):
            subnets.append(subnet(iso(v, x), v, x, cidr=subnet_cidr(v, 20 + i), region=region))
            if isolated_tables == "own":
                tables.append(route_table(iso_rt(v, x), v, [], [iso(v, x)]))
    return RegionInventory(
        region=region,
        functions=tuple(sorted(functions, key=lambda f: f.name)),
        vpcs=tuple(vpcs),
        subnets=tuple(sorted(subnets, key=lambda s: s.subnet_id)),
        route_tables=tuple(sorted(tables, key=lambda t: t.route_table_id)),
        nat_gateways=tuple(sorted(nats, key=lambda n: n.nat_gateway_id)),
        internet_gateways=(
            (InternetGateway(internet_gateway_id=igw_id(v), attached_vpc_ids=(vpc_id(v),)),)
            if public
            else ()
        ),
        security_groups=(
            security_group(default_sg(v), v, name="default"),
            security_group(fn_sg(v), v, name="functions"),
        ),
    )


_COLLECTIONS: dict[type, tuple[str, str]] = {
    Function: ("functions", "name"),
    Vpc: ("vpcs", "vpc_id"),
    Subnet: ("subnets", "subnet_id"),
    RouteTable: ("route_tables", "route_table_id"),
    NatGateway: ("nat_gateways", "nat_gateway_id"),
    InternetGateway: ("internet_gateways", "internet_gateway_id"),
    VpcEndpoint: ("vpc_endpoints", "vpc_endpoint_id"),
    SecurityGroup: ("security_groups", "group_id"),
}


def add(world: RegionInventory, *items: Any) -> RegionInventory:
    """Add resources to a region, replacing any with the same id; every
    collection stays sorted by id (as discovery returns it)."""
    updates: dict[str, dict[str, Any]] = {}
    for item in items:
        field_name, key = _COLLECTIONS[type(item)]
        if field_name not in updates:  # each collection indexed once, not once per item
            updates[field_name] = {getattr(x, key): x for x in getattr(world, field_name)}
        updates[field_name][getattr(item, key)] = item
    return world.model_copy(
        update={name: tuple(bucket[k] for k in sorted(bucket)) for name, bucket in updates.items()}
    )


def remove(world: RegionInventory, *ids: str) -> RegionInventory:
    """Drop resources (of any kind) by id."""
    gone = set(ids)
    update = {}
    for field_name, key in _COLLECTIONS.values():
        items = getattr(world, field_name)
        kept = tuple(x for x in items if getattr(x, key) not in gone)
        if len(kept) != len(items):
            update[field_name] = kept
    return world.model_copy(update=update)


def merge(*worlds: RegionInventory) -> RegionInventory:
    """Several worlds of one region as one region inventory."""
    out = RegionInventory(region=worlds[0].region)
    for w in worlds:
        items: list[Any] = []
        for field_name, _ in _COLLECTIONS.values():
            items.extend(getattr(w, field_name))
        out = add(out, *items)
    return out


def set_default_route(
    world: RegionInventory, rt_id: str, target: str | None, state: str = "active"
) -> RegionInventory:
    """Replace (or with ``target=None`` remove) a table's 0.0.0.0/0 route."""
    rt = next(t for t in world.route_tables if t.route_table_id == rt_id)
    routes = [r for r in rt.routes if r.destination != "0.0.0.0/0"]
    if target is not None:
        routes.append(default_route(target, state))
    return add(world, rt.model_copy(update={"routes": tuple(routes)}))


def inventory(*regions: RegionInventory, account: str = ACCOUNT) -> Inventory:
    return Inventory(account_id=account, regions=tuple(sorted(regions, key=lambda r: r.region)))


def policy(rules: Iterable[Rule] = (), max_changes: int = 100, **defaults: Any) -> Policy:
    """A policy whose defaults are ``Settings(**defaults)``; like the built-in
    policy, functions tagged ``remediator:exempt=true`` are exempt (the
    given ``rules`` come after that rule)."""
    return Policy(
        defaults=Settings(**defaults),
        rules=(*default_policy().rules, *rules),
        max_changes=max_changes,
    )
