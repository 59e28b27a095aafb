"""Egress classification: the class of each subnet from its effective route
table, over a per-region index of the inventory. Pure.

Subnet classes (IPv4 default route of the effective route table):

- ``public``      active ``0.0.0.0/0`` (or ``::/0`` without an IPv4 default)
                  to an internet gateway: no egress for Lambda ENIs.
- ``nat``         active ``0.0.0.0/0`` to an available, public NAT gateway
                  that itself sits in a public subnet.
- ``nat-broken``  the default route is a blackhole, or its NAT gateway is
                  missing, not available, private, or in a subnet with no
                  internet route.
- ``isolated``    no IPv4 default route (``::/0`` to an egress-only gateway
                  does not change that).
- ``other``       transit gateway, peering, VGW, instance or ENI: egress not
                  judged.
- ``unknown``     the subnet or its route table was not found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from remediator.domain.findings import DEAD_ENDPOINT_STATES
from remediator.domain.inventory import (
    NatGateway,
    RegionInventory,
    RouteTable,
    SecurityGroup,
    Subnet,
    VpcConfig,
    VpcEndpoint,
)
from remediator.domain.plan import SubnetEgress

IPV4_DEFAULT = "0.0.0.0/0"
IPV6_DEFAULT = "::/0"


@dataclass
class RegionIndex:
    """Lookups over one region's inventory, built once, with a per-subnet
    classification cache (thousands of functions share a few subnets) and a
    per-VpcConfig verdict cache (and many share a whole config)."""

    inv: RegionInventory
    _cache: dict[str, SubnetEgress] = field(default_factory=dict)
    verdicts: dict[VpcConfig, Any] = field(default_factory=dict)
    """``verdict.judge_config``'s memo (a ``ConfigVerdict`` per config); typed
    loosely so this module does not import the one built on it."""

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
    def security_groups(self) -> dict[str, SecurityGroup]:
        return {g.group_id: g for g in self.inv.security_groups}

    @cached_property
    def vpcs(self) -> dict[str, object]:
        return {v.vpc_id: v for v in self.inv.vpcs}

    @cached_property
    def subnets_by_vpc(self) -> dict[str, tuple[Subnet, ...]]:
        out: dict[str, list[Subnet]] = {}
        for s in self.inv.subnets:
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

    def classify(self, subnet_id: str) -> SubnetEgress:
        cached = self._cache.get(subnet_id)
        if cached is None:
            cached = self._classify(subnet_id, depth=0)
            self._cache[subnet_id] = cached
        return cached

    def _classify(self, subnet_id: str, depth: int) -> SubnetEgress:
        subnet = self.subnets.get(subnet_id)
        if subnet is None:
            return SubnetEgress(
                subnet_id=subnet_id, egress="unknown", detail="subnet not found in the account"
            )
        rt, association = self.route_table_of(subnet_id)
        base: dict[str, Any] = {
            "subnet_id": subnet_id,
            "vpc_id": subnet.vpc_id,
            "availability_zone": subnet.availability_zone,
        }
        if rt is None:
            return SubnetEgress(
                **base, egress="unknown", detail="no route table found for the subnet"
            )
        base.update(route_table_id=rt.route_table_id, association=association)
        v4 = next((r for r in rt.routes if r.destination == IPV4_DEFAULT), None)
        v6 = next((r for r in rt.routes if r.destination == IPV6_DEFAULT), None)
        ipv6 = None
        if v6 is not None:
            kind = (
                "egress-only"
                if v6.target.startswith("eigw-")
                else "internet-gateway"
                if v6.target.startswith("igw-")
                else "other"
            )
            ipv6 = f"{IPV6_DEFAULT} -> {v6.target} ({kind}, {v6.state})"
        if v4 is None:
            if v6 is not None and v6.target.startswith("igw-") and v6.state == "active":
                return SubnetEgress(
                    **base,
                    route=f"{IPV6_DEFAULT} -> {v6.target}",
                    target=v6.target,
                    target_state=v6.state,
                    egress="public",
                    ipv6=ipv6,
                    detail="IPv6 default route to an internet gateway and no IPv4 default route",
                )
            return SubnetEgress(
                **base,
                egress="isolated",
                ipv6=ipv6,
                detail="no 0.0.0.0/0 route"
                + (" (the ::/0 route gives IPv6 only)" if v6 is not None else ""),
            )
        base.update(route=f"{IPV4_DEFAULT} -> {v4.target}", target=v4.target, ipv6=ipv6)
        if v4.state != "active":
            return SubnetEgress(
                **base,
                target_state=v4.state,
                egress="nat-broken",
                detail=f"default route is {v4.state}: its target is gone",
            )
        target = v4.target
        if target.startswith("igw-"):
            return SubnetEgress(
                **base,
                target_state="attached",
                egress="public",
                detail="default route to an internet gateway: Lambda ENIs have no public IP here",
            )
        if target.startswith("nat-"):
            nat = self.nats.get(target)
            if nat is None:
                return SubnetEgress(
                    **base,
                    target_state="missing",
                    egress="nat-broken",
                    detail="NAT gateway not found",
                )
            if nat.state != "available":
                return SubnetEgress(
                    **base,
                    target_state=nat.state,
                    egress="nat-broken",
                    detail=f"NAT gateway is {nat.state}, not available",
                )
            if nat.connectivity_type != "public":
                return SubnetEgress(
                    **base,
                    target_state=nat.state,
                    egress="nat-broken",
                    detail="NAT gateway is private: it gives no internet access",
                )
            home = self._classify(nat.subnet_id, depth + 1) if depth < 2 else None
            if home is None or home.egress != "public":
                where = home.detail if home is not None else "route loop"
                return SubnetEgress(
                    **base,
                    target_state=nat.state,
                    egress="nat-broken",
                    detail=f"NAT gateway sits in {nat.subnet_id}, which has no internet route ({where})",
                )
            return SubnetEgress(
                **base,
                target_state=nat.state,
                egress="nat",
                detail=f"NAT gateway in public subnet {nat.subnet_id}",
            )
        return SubnetEgress(
            **base,
            target_state=v4.state,
            egress="other",
            detail="default route to a target whose egress remediator does not judge",
        )
