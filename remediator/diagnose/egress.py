"""Egress classification: the class of each subnet from its effective route
table, over a per-region index of the inventory. Pure.

The path itself (longest-prefix match over public destinations, then the
hops: internet gateway attachment, NAT gateway, NAT instance, firewall
endpoint, peering, transit gateway, shared VPCs) is judged by
``remediator.diagnose.routing``; the classes (docs/findings.md):

- ``public``      the winning routes reach an attached internet gateway:
                  no egress for Lambda ENIs.
- ``nat``         they reach an available public NAT gateway (or a working
                  NAT instance) in a public subnet.
- ``nat-broken``  blackhole, peering, detached IGW, or a NAT path that does
                  not reach the internet.
- ``isolated``    no route wins for a public destination.
- ``other``       decided outside this VPC or not visible: not judged.
- ``unknown``     the subnet or its route table was not found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from remediator.diagnose import routing
from remediator.domain.findings import DEAD_ENDPOINT_STATES
from remediator.domain.inventory import (
    Instance,
    InternetGateway,
    ManagedPrefixList,
    NatGateway,
    NetworkAcl,
    NetworkInterface,
    OwnerView,
    RegionInventory,
    RouteTable,
    SecurityGroup,
    Subnet,
    VpcEndpoint,
)
from remediator.domain.plan import SubnetEgress

IPV4_DEFAULT = routing.IPV4_DEFAULT
IPV6_DEFAULT = routing.IPV6_DEFAULT


@dataclass
class RegionIndex:
    """Lookups over one region's inventory, built once, with a per-subnet
    classification cache (thousands of functions share a few subnets) and a
    per-VpcConfig verdict cache (and many share a whole config)."""

    inv: RegionInventory
    account_id: str = ""
    """The account the inventory was read from (``""``: not known): a VPC
    another account owns hides its NAT gateways from this one."""
    _cache: dict[str, SubnetEgress] = field(default_factory=dict)
    verdicts: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    """``verdict.judge_config``'s memo (a ``ConfigVerdict`` per config, by
    its field values); typed loosely so this module does not import the one
    built on it."""
    nacl_verdicts: dict[tuple[str, bool, str, tuple[int, int]], Any] = field(default_factory=dict)
    """``filters.nacl_allows``'s memo by (NACL id, direction, peer, ports):
    thousands of configs share a few NACLs and subnets."""
    nacl_paths: dict[tuple[str, str, str, bool], Any] = field(default_factory=dict)
    """``filters``' memo of each subnet's failing NACL checks, by (subnet,
    its egress class, the Lambda endpoint, whether it is usable)."""
    sg_egress: dict[tuple[tuple[str, ...], str, tuple[str, ...], tuple[str, ...]], Any] = field(
        default_factory=dict
    )
    """``filters``' memo of what a list of security groups lets out, by (group
    ids, VPC CIDR, the endpoint's subnets and groups)."""
    hops: dict[tuple[str, str | None], Any] = field(default_factory=dict)
    """``filters.hops``' memo of a NAT-routed subnet's path, by (subnet, target)."""
    _nat_subnets: dict[str, tuple[Subnet, ...]] = field(default_factory=dict)
    planner_memo: dict[Any, Any] = field(default_factory=dict)
    """What the planner derives from this region's inventory alone, by a key
    that starts with the deriving strategy's name (it lives as long as the
    index: one ``build_plan``)."""

    @cached_property
    def subnets(self) -> dict[str, Subnet]:
        return {s.subnet_id: s for s in self.inv.subnets}

    @cached_property
    def explicit_table(self) -> dict[str, RouteTable]:
        return {sid: rt for rt in self.inv.route_tables for sid in rt.subnet_ids}

    @cached_property
    def main_table(self) -> dict[str, RouteTable]:
        return {rt.vpc_id: rt for rt in self.inv.route_tables if rt.main}

    @cached_property
    def nats(self) -> dict[str, NatGateway]:
        return {n.nat_gateway_id: n for n in self.inv.nat_gateways}

    @cached_property
    def igws(self) -> dict[str, InternetGateway]:
        return {g.internet_gateway_id: g for g in self.inv.internet_gateways}

    @cached_property
    def endpoints(self) -> dict[str, VpcEndpoint]:
        return {e.vpc_endpoint_id: e for e in self.inv.vpc_endpoints}

    @cached_property
    def instances(self) -> dict[str, Instance]:
        return {i.instance_id: i for i in self.inv.instances}

    @cached_property
    def nacls_by_subnet(self) -> dict[str, NetworkAcl]:
        """The NACL associated with each subnet (the first listed, as AWS has one)."""
        out: dict[str, NetworkAcl] = {}
        for acl in self.inv.network_acls:
            for subnet_id in acl.subnet_ids:
                out.setdefault(subnet_id, acl)
        return out

    @cached_property
    def default_nacls(self) -> dict[str, NetworkAcl]:
        """Each VPC's default NACL (the first listed)."""
        out: dict[str, NetworkAcl] = {}
        for acl in self.inv.network_acls:
            if acl.is_default:
                out.setdefault(acl.vpc_id, acl)
        return out

    @cached_property
    def enis(self) -> dict[str, NetworkInterface]:
        return {n.network_interface_id: n for n in self.inv.network_interfaces}

    @cached_property
    def enis_by_subnet(self) -> dict[str, tuple[NetworkInterface, ...]]:
        """The network interfaces of each subnet (a route change's blast radius)."""
        out: dict[str, list[NetworkInterface]] = {}
        for n in self.inv.network_interfaces:
            out.setdefault(n.subnet_id, []).append(n)
        return {k: tuple(v) for k, v in out.items()}

    @cached_property
    def prefix_lists(self) -> dict[str, ManagedPrefixList]:
        return {p.prefix_list_id: p for p in self.inv.prefix_lists}

    @cached_property
    def security_groups(self) -> dict[str, SecurityGroup]:
        return {g.group_id: g for g in self.inv.security_groups}

    @cached_property
    def vpcs(self) -> dict[str, object]:
        return {v.vpc_id: v for v in self.inv.vpcs}

    @cached_property
    def owner_views(self) -> dict[str, OwnerView]:
        """What was read from the owner of each shared VPC, by VPC id."""
        return {vpc: v for v in self.inv.owner_views for vpc in v.vpc_ids}

    @cached_property
    def subnets_by_vpc(self) -> dict[str, tuple[Subnet, ...]]:
        """The subnets of each VPC this account can use (not those only a
        shared VPC's owner sees: they are there to judge the owner's path)."""
        hidden = {s for v in self.inv.owner_views for s in v.owner_only_subnet_ids}
        out: dict[str, list[Subnet]] = {}
        for s in self.inv.subnets:
            if s.subnet_id in hidden:
                continue
            out.setdefault(s.vpc_id, []).append(s)
        return {k: tuple(v) for k, v in out.items()}

    @cached_property
    def lambda_endpoints(self) -> dict[str, tuple[VpcEndpoint, ...]]:
        out: dict[str, list[VpcEndpoint]] = {}
        for e in self.inv.vpc_endpoints:
            if e.service_name.endswith(".lambda") and e.state not in DEAD_ENDPOINT_STATES:
                out.setdefault(e.vpc_id, []).append(e)
        return {k: tuple(v) for k, v in out.items()}

    @cached_property
    def functions_by_subnet(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, set[str]] = {}
        for fn in self.inv.functions:
            if fn.vpc_config:
                for sid in fn.vpc_config.subnet_ids:
                    out.setdefault(sid, set()).add(fn.name)
        return {k: tuple(sorted(v)) for k, v in out.items()}

    def route_table_of(self, subnet_id: str) -> tuple[RouteTable | None, str]:
        rt = self.explicit_table.get(subnet_id)
        if rt is not None:
            return rt, "explicit"
        subnet = self.subnets.get(subnet_id)
        if subnet is None:
            return None, "none"
        main = self.main_table.get(subnet.vpc_id)
        return (main, "main") if main is not None else (None, "none")

    def subnets_using(self, rt: RouteTable) -> tuple[str, ...]:
        """Every subnet whose effective route table is ``rt``."""
        if not rt.main:
            return tuple(sorted(rt.subnet_ids))
        explicit = self.explicit_table
        implicit = [
            s.subnet_id
            for s in self.subnets_by_vpc.get(rt.vpc_id, ())
            if s.subnet_id not in explicit
        ]
        return tuple(sorted(set(implicit) | set(rt.subnet_ids)))

    def nat_subnets(self, vpc_id: str) -> tuple[Subnet, ...]:
        """The subnets of ``vpc_id`` (``subnets_by_vpc``) classified ``nat``,
        in that order; once per VPC."""
        found = self._nat_subnets.get(vpc_id)
        if found is None:
            found = self._nat_subnets[vpc_id] = tuple(
                s
                for s in self.subnets_by_vpc.get(vpc_id, ())
                if self.classify(s.subnet_id).egress == "nat"
            )
        return found

    def classify(self, subnet_id: str) -> SubnetEgress:
        cached = self._cache.get(subnet_id)
        if cached is None:
            cached = self._classify(subnet_id, depth=0)
            self._cache[subnet_id] = cached
        return cached

    def _classify(self, subnet_id: str, depth: int) -> SubnetEgress:
        return routing.walk(self, subnet_id, depth).result
