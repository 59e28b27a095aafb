"""``add-nat-route``: give the route tables of isolated and NAT-broken
subnets a working path to an available public NAT gateway of the VPC (same
AZ first), by the routes AWS actually uses.

Per route table, the routes that win by longest-prefix match for the public
destinations remediator judges (``routing.SAMPLES``) decide the fix:

* no route wins for any of them (an isolated table): add ``0.0.0.0/0``;
* every winning route that is not a working NAT route is broken (a
  blackhole; a deleted, failed or private NAT; a NAT without internet; a NAT
  instance that does not forward; peering): one change per broken winner,
  repointing that route at the NAT (``0.0.0.0/0``, ``0.0.0.0/1`` +
  ``128.0.0.0/1``, ``52.0.0.0/8``…). A route that no destination takes is
  never added or edited;
* a winner to an internet gateway, through an endpoint (a firewall), to a
  target remediator does not judge (transit gateway, VGW…), a prefix-list
  route, or a mix of routes and destinations without one: blocked, naming
  the route.

Public subnets are never touched (their IGW route serves others). Never in a
VPC another account owns (AWS RAM: only the owner may change its route
tables). A table shared with other subnets only when the policy allows it
(``allow_shared_route_table_changes``), with one exception the built-in
policy allows: broken winning routes serve no subnet of the table, so
repointing them at a working NAT harms no one (``repair_allowed``). Adding a
default route to an isolated shared table stays opt-in. Every table is
checked before anything is proposed, so a blocked strategy proposes nothing.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import NamedTuple

from remediator.changes import registry as kinds
from remediator.changes.ec2_nat_route import DEFAULT, route_state
from remediator.changes.risk import change_risk
from remediator.diagnose import RegionIndex
from remediator.diagnose.findings import routes_phrase
from remediator.diagnose.routing import SAMPLES, judge_route, unknown_prefix_routes, winner
from remediator.domain.canonical import fingerprint
from remediator.domain.findings import SUBNET_CODES
from remediator.domain.inventory import NatGateway, NetworkInterface, Route, RouteTable
from remediator.domain.plan import BlastRadius, Finding, WorkloadInterface
from remediator.planner.strategies.base import (
    Blocked,
    Context,
    Proposal,
    ProposedChange,
    Strategy,
    shared_vpc_blocked,
)

NAME = "add-nat-route"
CODES = SUBNET_CODES
MANUAL = (
    "in the subnets' route tables, point the routes that win for internet destinations "
    "(0.0.0.0/0, or the more specific routes named above) at a working NAT gateway"
)

_SAFE = re.compile(r"[^A-Za-z0-9_.:-]")


def _pick_nat(index: RegionIndex, vpc_id: str, azs: set[str]) -> NatGateway | None:
    good = []
    for nat in index.inv.nat_gateways:
        if nat.vpc_id != vpc_id or nat.state != "available" or nat.connectivity_type != "public":
            continue
        if index.classify(nat.subnet_id).egress != "public":
            continue
        az = (
            index.subnets[nat.subnet_id].availability_zone if nat.subnet_id in index.subnets else ""
        )
        good.append((az not in azs, nat.nat_gateway_id, nat))
    return min(good, key=lambda t: (t[0], t[1]))[2] if good else None


def is_lambda_interface(eni: NetworkInterface) -> bool:
    """A Lambda (Hyperplane) interface: type ``lambda``, or the description
    Lambda gives its interfaces (``AWS Lambda VPC ENI-…``)."""
    return eni.interface_type == "lambda" or eni.description.startswith("AWS Lambda VPC ENI")


def _interfaces(index: RegionIndex, subnets: Sequence[str]) -> tuple[list[WorkloadInterface], int]:
    """The non-Lambda interfaces in ``subnets`` (sorted by id) and how many
    Lambda interfaces are there too: the workloads whose egress the route
    change changes."""
    shown: list[WorkloadInterface] = []
    lambdas = 0
    by_subnet = index.enis_by_subnet
    for eni in (e for s in subnets for e in by_subnet.get(s, ())):
        if is_lambda_interface(eni):
            lambdas += 1
            continue
        shown.append(
            WorkloadInterface(
                network_interface_id=_SAFE.sub("", eni.network_interface_id),
                subnet_id=_SAFE.sub("", eni.subnet_id),
                interface_type=_SAFE.sub("", eni.interface_type) or "interface",
                instance_id=_SAFE.sub("", eni.instance_id),
            )
        )
    shown.sort(key=lambda e: e.network_interface_id)
    return shown, lambdas


def _route_blast(index: RegionIndex, rt: RouteTable) -> BlastRadius:
    subnets = index.subnets_using(rt)
    functions = sorted({f for s in subnets for f in index.functions_by_subnet.get(s, ())})
    note = (
        "main route table: every subnet of the VPC without an explicit association uses it"
        if rt.main
        else f"route table serves {len(subnets)} subnet(s)"
    )
    enis, lambdas = _interfaces(index, subnets)
    return BlastRadius(
        route_tables=(rt.route_table_id,),
        subnet_ids=subnets,
        functions=tuple(functions),
        note=note,
        network_interfaces=tuple(enis),
        lambda_interfaces=lambdas,
    )


class _Fix(NamedTuple):
    """What one table needs: the broken winning routes to repoint (in
    destination order), or ``add`` a default route (no route wins)."""

    routes: tuple[Route, ...]
    add: bool


def _cidr_order(r: Route) -> tuple[int, int]:
    net = ipaddress.ip_network(r.destination, strict=False)
    return int(net.network_address), net.prefixlen


def table_fix(index: RegionIndex, rt: RouteTable, vpc_id: str) -> _Fix | Blocked:
    """The fix of ``rt`` by the routes that win for the public destinations
    (``routing.SAMPLES``), or why there is none remediator may make."""
    rt_id = rt.route_table_id
    unknown = unknown_prefix_routes(index, rt)
    if unknown:
        shown = ", ".join(f"{r.destination} -> {r.target}" for r in unknown)
        return Blocked(
            f"{rt_id} has routes that win over 0.0.0.0/0 for public destinations ({shown}): a default route would not carry that traffic"
        )
    wins: dict[str, Route | None] = {}
    for address in SAMPLES:
        r = winner(index, rt, address)
        wins[address] = None if r is None or r.target == "local" else r
    routes = sorted({r for r in wins.values() if r is not None}, key=lambda r: r.destination)
    broken: list[Route] = []
    for r in routes:
        leg = judge_route(index, vpc_id, "", r, 0)
        if leg.egress in ("served", "nat"):
            continue  # a gateway endpoint's service range, or a working NAT path
        if r.target.startswith("vpce-"):
            return Blocked(
                f"{rt_id} sends {r.destination} through endpoint {r.target}: the path behind it needs the fix, not this route"
            )
        if r.target.startswith("igw-") and r.state == "active":
            if r.destination == DEFAULT:
                return Blocked(f"{rt_id} routes to an internet gateway")
            return Blocked(
                f"{rt_id} routes {r.destination} to internet gateway {r.target}: that route serves public workloads"
            )
        if leg.egress != "nat-broken":
            return Blocked(
                f"{rt_id} sends {r.destination} to {r.target}, whose egress remediator does not judge ({leg.detail}): repointing it could cut a path that works"
            )
        if r.destination.startswith("pl-"):
            return Blocked(
                f"{rt_id} sends prefix list {r.destination} to {r.target} ({leg.detail}): repair prefix-list routes by hand"
            )
        broken.append(r)
    unmatched = [a for a, r in wins.items() if r is None]
    if unmatched and broken:
        shown = ", ".join(f"{r.destination} -> {r.target}" for r in broken)
        return Blocked(
            f"{rt_id}: broken routes win for some public destinations ({shown}) and no route for others ({', '.join(unmatched)}): a default route alone would not carry the traffic those routes take; repair the table by hand"
        )
    if unmatched:
        return _Fix((), add=True)
    if not broken:
        return Blocked(f"{rt_id} has no broken route to repair")
    return _Fix(tuple(sorted(broken, key=_cidr_order)), add=False)


_Choice = tuple[RouteTable, BlastRadius, bool, NatGateway, _Fix]


def repair_allowed(ctx: Context, rt: RouteTable, served: Sequence[str], adding: bool) -> bool:
    """Whether the built-in policy lets ``rt``'s winning routes be repointed
    although the table serves several subnets: the change repairs routes
    (``adding`` a default route to an isolated table stays opt-in), and
    either every subnet it serves is one of the function's own (and it is
    not the main table, which every new subnet joins), or the table is
    broken for all of them (the routes serve no one today)."""
    if adding:
        return False
    index = ctx.region_index
    own = set(ctx.fn.vpc_config.subnet_ids if ctx.fn.vpc_config is not None else ())
    if not rt.main and set(served) <= own:
        return True
    return all(index.classify(s).egress == "nat-broken" for s in served)


def _choose(ctx: Context) -> list[_Choice] | Blocked:
    """For every route table of the function's isolated / NAT-broken
    subnets: the table, its blast radius, whether it is shared, the NAT and
    the fix."""
    verdict, index = ctx.verdict, ctx.region_index
    assert verdict.vpc_id is not None
    foreign = shared_vpc_blocked(ctx)
    if foreign is not None:
        return foreign
    public = verdict.of("public")
    if public:
        routes = routes_phrase(public)
        if not routes or all(p.startswith(f"{DEFAULT} -> ") for p in routes.split("; ")):
            return Blocked(
                "public subnets keep their internet gateway route (other workloads use it)"
            )
        return Blocked(
            f"public subnets keep their internet gateway routes ({routes}: other workloads use them)"
        )
    if verdict.of("unknown"):
        return Blocked("some subnets were not found")
    tables: dict[str, tuple[RouteTable, set[str]]] = {}
    fixes: dict[str, _Fix] = {}
    for s in verdict.of("nat-broken", "isolated"):
        rt, _ = index.route_table_of(s.subnet_id)
        if rt is None:
            return Blocked(f"no route table found for {s.subnet_id}")
        if rt.route_table_id not in fixes:
            fix = table_fix(index, rt, verdict.vpc_id)
            if isinstance(fix, Blocked):
                return fix
            fixes[rt.route_table_id] = fix
        tables.setdefault(rt.route_table_id, (rt, set()))[1].add(s.availability_zone or "")
    chosen: list[_Choice] = []
    for rt_id in sorted(tables):
        rt, azs = tables[rt_id]
        fix = fixes[rt_id]
        blast = _route_blast(index, rt)
        shared = rt.main or len(blast.subnet_ids) > 1
        if (
            shared
            and not ctx.settings.allow_shared_route_table_changes
            and not repair_allowed(ctx, rt, blast.subnet_ids, fix.add)
        ):
            return Blocked(
                f"{rt_id} is shared by {len(blast.subnet_ids)} subnet(s){' (main table)' if rt.main else ''}; the policy does not allow changing shared route tables"
            )
        nat = _pick_nat(index, verdict.vpc_id, azs)
        if nat is None:
            return Blocked(
                f"no available public NAT gateway in {verdict.vpc_id} (creating one costs money: never done implicitly)"
            )
        chosen.append((rt, blast, shared, nat, fix))
    return chosen


def _route_changes(ctx: Context, choice: _Choice) -> list[ProposedChange]:
    """The table's changes, one per route in destination order (the default
    route's change keeps the id it has always had). They do not depend on
    each other: each repairs the destinations its route wins, so one applied
    without the other is a partial repair, never a new break; the plan
    orders them by target and id, like every change."""
    rt, blast, shared, nat, fix = choice
    rt_id = rt.route_table_id
    subnets = ctx.region_index.subnets
    nat_az = subnets[nat.subnet_id].availability_zone if nat.subnet_id in subnets else "?"
    targets = ", ".join(sorted(s.subnet_id for s in ctx.verdict.of("nat-broken", "isolated")))
    wins = (
        f" ({len(fix.routes)} routes win by longest prefix: each is repointed)"
        if len(fix.routes) > 1
        else ""
    )
    out: list[ProposedChange] = []
    for dest, old in [(DEFAULT, None)] if fix.add else [(r.destination, r) for r in fix.routes]:
        state = route_state(rt, dest)
        before = (
            None
            if old is None
            else {"DestinationCidrBlock": dest, "Target": old.target, "State": old.state}
        )
        if old is None:
            verb = "add"
        elif dest == DEFAULT:
            verb = f"replace {old.state} route to {old.target} with"
        else:
            verb = f"replace {old.state} route {dest} to {old.target} with"
        key = "" if dest == DEFAULT else dest
        out.append(
            ProposedChange(
                kinds.PUT_NAT_ROUTE,
                rt_id,
                before=before,
                after={"DestinationCidrBlock": dest, "NatGatewayId": nat.nat_gateway_id},
                risk=change_risk(kinds.PUT_NAT_ROUTE, shared_table=shared),
                reason=f"{rt_id}: {verb} {dest} -> {nat.nat_gateway_id} ({nat_az}) so {targets} reach the internet{wins}.",
                fp=fingerprint(state),
                blast=blast,
                key=key,
            )
        )
    return out


def propose(ctx: Context, findings: Sequence[Finding]) -> Proposal | Blocked:
    fixes = tuple(f for f in findings if f.code in CODES)
    if not fixes:
        return Blocked("no subnet for a route")
    chosen = _choose(ctx)
    if isinstance(chosen, Blocked):
        return chosen
    if not chosen:
        return Blocked("nothing for add-nat-route to change")
    return Proposal(tuple(c for choice in chosen for c in _route_changes(ctx, choice)), fixes)


STRATEGY = Strategy(NAME, frozenset(CODES), MANUAL, propose, frozenset({kinds.PUT_NAT_ROUTE}))
