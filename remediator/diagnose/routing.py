"""Where a subnet's traffic to the internet goes, the way AWS forwards it:
longest-prefix match on the effective route table for a fixed set of public
IPv4 destinations, then a bounded walk through the hops (NAT gateway, NAT
instance, firewall / Gateway Load Balancer endpoint) to an internet gateway.
Pure: it reads the inventory through a ``RegionIndex`` and returns
``SubnetEgress`` values. The rules and their AWS sources are in
docs/findings.md ("How egress is judged").
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from remediator.domain.inventory import (
    Instance,
    InternetGateway,
    ManagedPrefixList,
    NatGateway,
    NetworkInterface,
    OwnerView,
    Route,
    RouteTable,
    Subnet,
    VpcEndpoint,
)
from remediator.domain.plan import Egress, SubnetEgress


class RegionIndex(Protocol):
    """The lookups the walk reads (``remediator.diagnose.egress.RegionIndex``)."""

    account_id: str

    @property
    def subnets(self) -> Mapping[str, Subnet]: ...
    @property
    def vpcs(self) -> Mapping[str, object]: ...
    @property
    def nats(self) -> Mapping[str, NatGateway]: ...
    @property
    def igws(self) -> Mapping[str, InternetGateway]: ...
    @property
    def endpoints(self) -> Mapping[str, VpcEndpoint]: ...
    @property
    def instances(self) -> Mapping[str, Instance]: ...
    @property
    def enis(self) -> Mapping[str, NetworkInterface]: ...
    @property
    def prefix_lists(self) -> Mapping[str, ManagedPrefixList]: ...
    @property
    def owner_views(self) -> Mapping[str, OwnerView]: ...
    def route_table_of(self, subnet_id: str) -> tuple[RouteTable | None, str]: ...


IPV4_DEFAULT = "0.0.0.0/0"
IPV6_DEFAULT = "::/0"
MAX_DEPTH = 3

# Public IPv4 destinations whose winning route decides a subnet's egress:
# two AWS service addresses (S3, the service range the Lambda API answers
# from) and two internet addresses, at least one in each /1 half, so that a
# split default route (0.0.0.0/1 + 128.0.0.0/1) and a more specific route
# over either AWS range are both seen. A fixed set keeps the answer
# deterministic and explainable; a route over none of them is not judged.
SAMPLES: tuple[str, ...] = ("3.5.0.1", "52.94.0.1", "104.16.0.1", "198.51.100.1")

# Worst first: the verdict on a subnet whose destinations go different ways.
_RANK: dict[str, int] = {
    "public": 0,
    "nat-broken": 1,
    "isolated": 2,
    "other": 3,
    "unknown": 3,
    "nat": 4,
    "served": 5,
}
OTHER_TEXT = "default route to a target whose egress remediator does not judge"


@dataclass(frozen=True)
class Leg:
    """How traffic leaves by one route: the class, the target's state, the
    words for it and the hops after the route. ``plain`` marks today's
    textbook paths, whose detail carries no hop chain."""

    egress: str
    target_state: str | None
    detail: str
    hops: tuple[str, ...] = ()
    plain: bool = True


@dataclass(frozen=True)
class Walk:
    """A subnet's verdict plus the hop chain that led to it."""

    result: SubnetEgress
    chain: tuple[str, ...]
    plain: bool


# ----------------------------------------------------------------- matching


@lru_cache(maxsize=4096)
def _net(cidr: str) -> ipaddress.IPv4Network | None:
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None
    return net if isinstance(net, ipaddress.IPv4Network) else None


def _gateway_endpoint(index: RegionIndex, target: str) -> bool:
    """A target that only serves AWS service prefixes: a Gateway endpoint, or
    an endpoint discovery did not read (AWS creates ``pl-`` routes for
    gateway endpoints; a firewall endpoint is read when present)."""
    if not target.startswith("vpce-"):
        return False
    ep = index.endpoints.get(target)
    return ep is None or ep.endpoint_type == "Gateway"


def unknown_prefix_routes(index: RegionIndex, rt: RouteTable) -> tuple[Route, ...]:
    """``pl-`` routes whose list was not read and whose target is not a gateway
    endpoint: which destinations they take is unknown."""
    return tuple(
        r
        for r in rt.routes
        if r.destination.startswith("pl-")
        and r.destination not in index.prefix_lists
        and not _gateway_endpoint(index, r.target)
    )


def winner(index: RegionIndex, rt: RouteTable, address: str) -> Route | None:
    """The route AWS uses for ``address``: the longest matching prefix
    (CIDR routes before prefix-list routes of the same length)."""
    ip = ipaddress.ip_address(address)
    best: tuple[int, int, Route] | None = None
    for r in rt.routes:
        if r.destination.startswith("pl-"):
            pl = index.prefix_lists.get(r.destination)
            cidrs = pl.cidrs if pl is not None else ()
            kind = 0
        else:
            cidrs = (r.destination,)
            kind = 1
        for cidr in cidrs:
            net = _net(cidr)
            if net is not None and ip in net:
                key = (net.prefixlen, kind, r)
                if best is None or key[:2] > best[:2]:
                    best = key
    return best[2] if best is not None else None


def routes_beating_default(index: RegionIndex, rt: RouteTable) -> tuple[str, ...]:
    """Routes other than ``0.0.0.0/0`` that win for a public destination (a
    default route added or replaced there would not carry that traffic)."""
    out = set()
    for address in SAMPLES:
        r = winner(index, rt, address)
        if (
            r is not None
            and r.destination != IPV4_DEFAULT
            and r.target != "local"
            and not _gateway_endpoint(index, r.target)
        ):
            out.add(f"{r.destination} -> {r.target}")
    out.update(f"{r.destination} -> {r.target}" for r in unknown_prefix_routes(index, rt))
    return tuple(sorted(out))


# ----------------------------------------------------------------- targets


def _name(dest: str) -> str:
    return "default route" if dest == IPV4_DEFAULT else f"route {dest}"


def _sub(index: RegionIndex, subnet_id: str, depth: int) -> Walk | None:
    return walk(index, subnet_id, depth + 1) if depth < MAX_DEPTH else None


def _nat_gateway(index: RegionIndex, vpc_id: str, owner: str, target: str, depth: int) -> Leg:
    nat = index.nats.get(target)
    view = index.owner_views.get(vpc_id)
    seen = _seen_from(view)
    if nat is None:
        if index.account_id and owner and owner != index.account_id and not seen:
            why = (
                f"; the owner's view through {view.role_arn} could not be read: {view.error}"
                if view is not None
                else ""
            )
            return Leg(
                "other",
                "not-visible",
                f"egress not verifiable from this account (owned by {owner}){why}",
                (f"{target} (owned by {owner}, not visible)",),
            )
        return Leg(
            "nat-broken", "missing", f"NAT gateway not found{seen}", (f"{target} (missing)",)
        )
    head = f"{target} ({nat.state})"
    if nat.state != "available":
        return Leg(
            "nat-broken", nat.state, f"NAT gateway is {nat.state}, not available{seen}", (head,)
        )
    home = _sub(index, nat.subnet_id, depth)
    tail = home.chain if home is not None else (f"{nat.subnet_id} (route loop)",)
    if nat.connectivity_type != "public":
        head = f"{target} (private, {nat.state})"
        if home is not None and home.result.egress in ("other", "unknown"):
            return Leg(
                "other",
                nat.state,
                f"private NAT gateway: its subnet {nat.subnet_id} sends traffic on to "
                f"{home.result.target or 'a target not judged'}; egress is decided outside this VPC",
                (head, *tail),
                plain=False,
            )
        return Leg(
            "nat-broken",
            nat.state,
            "NAT gateway is private: it gives no internet access",
            (head, *tail),
        )
    if home is None or home.result.egress != "public":
        where = home.result.detail if home is not None else "route loop"
        return Leg(
            "nat-broken",
            nat.state,
            f"NAT gateway sits in {nat.subnet_id}, which has no internet route ({where}){seen}",
            (head, *tail),
            plain=home is None or home.plain,
        )
    return Leg(
        "nat",
        nat.state,
        f"NAT gateway in public subnet {nat.subnet_id}{seen}",
        (head, *tail),
        plain=home.plain,
    )


def _seen_from(view: OwnerView | None) -> str:
    """The words saying a shared VPC's NAT was judged from its owner's view
    (``""``: from this account's own)."""
    if view is None or view.error:
        return ""
    return f" (read from the VPC owner's view: account {view.account_id}, role {view.role_arn})"


def _nat_instance(index: RegionIndex, target: str, depth: int) -> Leg | None:
    """A route to ``i-…`` or ``eni-…``: a NAT instance when the inventory has
    it; ``None`` when it does not (not judged)."""
    eni = index.enis.get(target) if target.startswith("eni-") else None
    inst_id = target if target.startswith("i-") else (eni.instance_id if eni else "")
    inst = index.instances.get(inst_id) if inst_id else None
    if inst is None and eni is None:
        return None
    holder: Any = eni if eni is not None else inst
    state = inst.state if inst is not None else "unknown"
    subnet_id = holder.subnet_id or (inst.subnet_id if inst is not None else "")
    public_ip = holder.public_ip or (inst.public_ip if inst is not None else "")
    wrong: list[str] = []
    if inst is not None and state != "running":
        wrong.append(f"instance {inst_id} is {state}")
    if holder.source_dest_check:
        wrong.append("source/destination check is on")
    if not public_ip:
        wrong.append("no public IP")
    home = _sub(index, subnet_id, depth) if subnet_id else None
    if home is None or home.result.egress != "public":
        wrong.append(f"its subnet {subnet_id or '?'} is not public")
    head = f"{target} (NAT instance{', ' + state if inst is not None else ''})"
    hops = (head, *(home.chain if home is not None else ()))
    if wrong:
        return Leg(
            "nat-broken",
            state,
            f"NAT instance {inst_id or target} does not forward to the internet: {'; '.join(wrong)}",
            hops,
            plain=False,
        )
    return Leg(
        "nat",
        state,
        f"NAT instance {inst_id or target} in public subnet {subnet_id}",
        hops,
        plain=False,
    )


def _firewall(index: RegionIndex, target: str, depth: int) -> Leg | None:
    ep = index.endpoints.get(target)
    if ep is None or ep.endpoint_type != "GatewayLoadBalancer" or not ep.subnet_ids:
        return None
    head = f"{target} (GatewayLoadBalancer)"
    sid = sorted(ep.subnet_ids)[0]
    home = _sub(index, sid, depth)
    if home is None:
        return Leg(
            "nat-broken", ep.state, f"firewall endpoint {target}: route loop", (head,), False
        )
    egress = home.result.egress
    if egress == "unknown":
        egress = "other"
    if egress == "isolated":
        egress = "nat-broken"
    return Leg(
        egress,
        ep.state,
        f"through firewall endpoint {target} in {sid}: {home.result.detail}",
        (head, *home.chain),
        plain=False,
    )


def judge_route(index: RegionIndex, vpc_id: str, owner: str, r: Route, depth: int) -> Leg:
    """Where traffic that wins route ``r`` ends up."""
    t = r.target
    if r.state != "active":
        return Leg(
            "nat-broken",
            r.state,
            f"{_name(r.destination)} is {r.state}: its target is gone",
            (f"{t} ({r.state})",),
        )
    if _gateway_endpoint(index, t) and r.destination.startswith("pl-"):
        return Leg("served", r.state, f"gateway endpoint {t} serves {r.destination}", (t,))
    if t.startswith("igw-"):
        igw = index.igws.get(t)
        if igw is not None and vpc_id not in igw.attached_vpc_ids:
            return Leg(
                "nat-broken",
                "detached",
                f"internet gateway {t} is not attached to {vpc_id}: no egress",
                (f"{t} (detached)",),
            )
        return Leg(
            "public",
            "attached",
            f"{_name(r.destination)} to an internet gateway: Lambda ENIs have no public IP here",
            (f"{t} (attached)",),
        )
    if t.startswith("nat-"):
        return _nat_gateway(index, vpc_id, owner, t, depth)
    if t.startswith("pcx-"):
        return Leg(
            "nat-broken",
            r.state,
            f"{_name(r.destination)} to VPC peering {t}: peering is not transitive, it gives no internet access",
            (f"{t} (peering)",),
        )
    leg = None
    if t.startswith(("i-", "eni-")):
        leg = _nat_instance(index, t, depth)
    elif t.startswith("vpce-"):
        leg = _firewall(index, t, depth)
    return leg if leg is not None else Leg("other", r.state, OTHER_TEXT, (f"{t} ({r.state})",))


# ----------------------------------------------------------------- subnets


def _ipv6_text(v6: Route | None) -> str | None:
    if v6 is None:
        return None
    kind = (
        "egress-only"
        if v6.target.startswith("eigw-")
        else "internet-gateway"
        if v6.target.startswith("igw-")
        else "other"
    )
    return f"{IPV6_DEFAULT} -> {v6.target} ({kind}, {v6.state})"


def _no_ipv4(
    base: dict[str, Any], v6: Route | None, ipv6: str | None, chain: tuple[str, ...]
) -> Walk:
    if v6 is not None and v6.target.startswith("igw-") and v6.state == "active":
        res = SubnetEgress(
            **base,
            route=f"{IPV6_DEFAULT} -> {v6.target}",
            target=v6.target,
            target_state=v6.state,
            egress="public",
            ipv6=ipv6,
            detail="IPv6 default route to an internet gateway and no IPv4 default route",
        )
        return Walk(res, (*chain, f"{IPV6_DEFAULT} -> {v6.target}"), True)
    res = SubnetEgress(
        **base,
        egress="isolated",
        ipv6=ipv6,
        detail="no 0.0.0.0/0 route"
        + (" (the ::/0 route gives IPv6 only)" if v6 is not None else ""),
    )
    return Walk(res, (*chain, "no route"), True)


def walk(index: RegionIndex, subnet_id: str, depth: int = 0) -> Walk:
    """The verdict on ``subnet_id`` with its hop chain (``depth`` bounds the
    recursion through NAT, instance and firewall subnets)."""
    subnet = index.subnets.get(subnet_id)
    if subnet is None:
        res = SubnetEgress(
            subnet_id=subnet_id, egress="unknown", detail="subnet not found in the account"
        )
        return Walk(res, (f"{subnet_id} (not found)",), True)
    rt, association = index.route_table_of(subnet_id)
    base: dict[str, Any] = {
        "subnet_id": subnet_id,
        "vpc_id": subnet.vpc_id,
        "availability_zone": subnet.availability_zone,
    }
    if rt is None:
        res = SubnetEgress(**base, egress="unknown", detail="no route table found for the subnet")
        return Walk(res, (subnet_id, "no route table"), True)
    base.update(route_table_id=rt.route_table_id, association=association)
    chain = (subnet_id, f"{rt.route_table_id} ({association})")
    v6 = next((r for r in rt.routes if r.destination == IPV6_DEFAULT), None)
    ipv6 = _ipv6_text(v6)
    vpc = index.vpcs.get(subnet.vpc_id)
    owner = subnet.owner_id or (getattr(vpc, "owner_id", "") if vpc is not None else "")
    unknown_pl = unknown_prefix_routes(index, rt)
    # destination -> winning route (None: no route, or only ``local``)
    wins: dict[str, Route | None] = {}
    for address in SAMPLES:
        r = winner(index, rt, address)
        wins[address] = None if r is None or r.target == "local" else r
    routes = sorted(
        {r for r in wins.values() if r is not None}, key=lambda r: (r.destination, r.target)
    )
    legs = {r: judge_route(index, subnet.vpc_id, owner, r, depth) for r in routes}
    found = _verdict(base, ipv6, chain, wins, legs) if routes else _no_ipv4(base, v6, ipv6, chain)
    if not unknown_pl:
        return found
    # do not guess: the route may or may not win for any public destination
    pl = unknown_pl[0]
    res = found.result.model_copy(
        update={
            "egress": "other",
            "route": f"{pl.destination} -> {pl.target}",
            "target": pl.target,
            "target_state": pl.state,
            "detail": f"route {pl.destination} -> {pl.target}: prefix list {pl.destination} was "
            f"not read, so which destinations it takes is unknown; the other routes give "
            f"{found.result.egress} ({found.result.detail})",
        }
    )
    return Walk(res, (*found.chain, f"{pl.destination} (not read)"), False)


def _verdict(
    base: dict[str, Any],
    ipv6: str | None,
    chain: tuple[str, ...],
    wins: dict[str, Route | None],
    legs: dict[Route, Leg],
) -> Walk:
    none_leg = Leg("isolated", None, "no route", ("no route",))
    per_dest = {a: (legs[r] if r is not None else none_leg) for a, r in wins.items()}
    candidates = [(r, leg) for r, leg in legs.items()]
    if any(r is None for r in wins.values()):
        candidates.append((None, none_leg))  # type: ignore[arg-type]
    candidates.sort(key=lambda c: (_RANK.get(c[1].egress, 3), c[0].destination if c[0] else ""))
    worst_route, worst = candidates[0]
    if worst.egress == "served":
        worst_route, worst = None, none_leg  # type: ignore[assignment]
    if worst_route is None:
        res = SubnetEgress(
            **base,
            egress="isolated",
            ipv6=ipv6,
            detail=_mixed("some public destinations have no route", chain, wins, per_dest),
        )
        return Walk(res, (*chain, "no route"), False)
    full = (*chain, worst_route.destination, *worst.hops)
    distinct = {(r.destination, r.target) for r in wins.values() if r is not None}
    single = len(legs) == 1 and None not in wins.values()
    plain = single and worst.plain and worst_route.destination == IPV4_DEFAULT
    if plain:
        detail = worst.detail
    elif single or all(leg.egress == worst.egress for leg in per_dest.values()):
        detail = f"{worst.detail}; path: {' -> '.join(full)}"
    else:
        detail = _mixed(worst.detail, chain, wins, per_dest)
    route = (
        ", ".join(f"{d} -> {t}" for d, t in sorted(distinct))
        if len(distinct) > 1
        else f"{worst_route.destination} -> {worst_route.target}"
    )
    egress: Egress = worst.egress  # type: ignore[assignment]
    res = SubnetEgress(
        **base,
        route=route,
        target=worst_route.target,
        target_state=worst.target_state,
        egress=egress,
        ipv6=ipv6,
        detail=detail,
    )
    return Walk(res, full, plain)


def _mixed(
    head: str, chain: tuple[str, ...], wins: dict[str, Route | None], per_dest: dict[str, Leg]
) -> str:
    parts = []
    for address in SAMPLES:
        r, leg = wins[address], per_dest[address]
        via = " -> ".join((r.destination, *leg.hops)) if r is not None else "no route"
        parts.append(f"{address} via {via} ({leg.egress})")
    return f"{head}; destinations go different ways from {' -> '.join(chain)}: {'; '.join(parts)}"
