"""``add-nat-route``: give the route tables of isolated and NAT-broken
subnets a default route to an available public NAT gateway of the VPC (same
AZ first).

Public subnets are never touched (their IGW route serves others). Never in a
VPC another account owns (AWS RAM: only the owner may change its route
tables). A table shared with other subnets only when the policy allows it
(``allow_shared_route_table_changes``), with one exception the built-in
policy allows: a default route that is broken (a deleted, failed or private
NAT, a NAT without internet, a blackhole) serves no subnet of the table, so
repointing it at a working NAT harms no one (``repair_allowed``). Adding a
default route to an isolated shared table stays opt-in. Every table is
checked before anything is proposed, so a blocked strategy proposes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from remediator.changes import registry as kinds
from remediator.changes.ec2_nat_route import route_state
from remediator.diagnose import RegionIndex
from remediator.diagnose.routing import routes_beating_default
from remediator.domain.canonical import fingerprint
from remediator.domain.findings import SUBNET_CODES
from remediator.domain.inventory import NatGateway, RouteTable
from remediator.domain.plan import BlastRadius, Finding
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
MANUAL = "add a default route to a NAT gateway in the subnets' route tables"


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


def _route_blast(index: RegionIndex, rt: RouteTable) -> BlastRadius:
    subnets = index.subnets_using(rt)
    functions = sorted({f for s in subnets for f in index.functions_by_subnet.get(s, ())})
    note = (
        "main route table: every subnet of the VPC without an explicit association uses it"
        if rt.main
        else f"route table serves {len(subnets)} subnet(s)"
    )
    return BlastRadius(
        route_tables=(rt.route_table_id,), subnet_ids=subnets, functions=tuple(functions), note=note
    )


_Choice = tuple[RouteTable, BlastRadius, bool, NatGateway]


def repair_allowed(ctx: Context, rt: RouteTable, served: Sequence[str]) -> bool:
    """Whether the built-in policy lets ``rt``'s default route be repointed
    although the table serves several subnets: the table has a default route,
    and either every subnet it serves is one of the function's own (and it is
    not the main table, which every new subnet joins), or the route is broken
    for all of them (it serves no one today)."""
    if not any(r.destination == "0.0.0.0/0" for r in rt.routes):
        return False  # adding a default route to an isolated table: opt-in
    index = ctx.region_index
    own = set(ctx.fn.vpc_config.subnet_ids if ctx.fn.vpc_config is not None else ())
    if not rt.main and set(served) <= own:
        return True
    return all(index.classify(s).egress == "nat-broken" for s in served)


def _choose(ctx: Context) -> list[_Choice] | Blocked:
    """For every route table of the function's isolated / NAT-broken
    subnets: the table, its blast radius, whether it is shared, the NAT."""
    verdict, index = ctx.verdict, ctx.region_index
    assert verdict.vpc_id is not None
    foreign = shared_vpc_blocked(ctx)
    if foreign is not None:
        return foreign
    if verdict.of("public"):
        return Blocked("public subnets keep their internet gateway route (other workloads use it)")
    if verdict.of("unknown"):
        return Blocked("some subnets were not found")
    tables: dict[str, tuple[RouteTable, set[str]]] = {}
    for s in verdict.of("nat-broken", "isolated"):
        rt, _ = index.route_table_of(s.subnet_id)
        if rt is None:
            return Blocked(f"no route table found for {s.subnet_id}")
        if any(
            r.destination == "0.0.0.0/0" and r.target.startswith("igw-") and r.state == "active"
            for r in rt.routes
        ):
            return Blocked(f"{rt.route_table_id} routes to an internet gateway")
        beating = routes_beating_default(index, rt)
        if beating:
            return Blocked(
                f"{rt.route_table_id} has routes that win over 0.0.0.0/0 for public destinations ({', '.join(beating)}): a default route would not carry that traffic"
            )
        through = next(
            (
                r.target
                for r in rt.routes
                if r.destination == "0.0.0.0/0" and r.target.startswith("vpce-")
            ),
            None,
        )
        if through is not None:
            return Blocked(
                f"{rt.route_table_id} sends 0.0.0.0/0 through endpoint {through}: the path behind it needs the fix, not this route"
            )
        tables.setdefault(rt.route_table_id, (rt, set()))[1].add(s.availability_zone or "")
    chosen: list[_Choice] = []
    for rt_id in sorted(tables):
        rt, azs = tables[rt_id]
        blast = _route_blast(index, rt)
        shared = rt.main or len(blast.subnet_ids) > 1
        if (
            shared
            and not ctx.settings.allow_shared_route_table_changes
            and not repair_allowed(ctx, rt, blast.subnet_ids)
        ):
            return Blocked(
                f"{rt_id} is shared by {len(blast.subnet_ids)} subnet(s){' (main table)' if rt.main else ''}; the policy does not allow changing shared route tables"
            )
        nat = _pick_nat(index, verdict.vpc_id, azs)
        if nat is None:
            return Blocked(
                f"no available public NAT gateway in {verdict.vpc_id} (creating one costs money: never done implicitly)"
            )
        chosen.append((rt, blast, shared, nat))
    return chosen


def _route_change(ctx: Context, choice: _Choice) -> ProposedChange:
    rt, blast, shared, nat = choice
    rt_id = rt.route_table_id
    before_state = route_state(rt)
    old = before_state["DefaultRoute"]
    before = (
        None
        if old is None
        else {"DestinationCidrBlock": "0.0.0.0/0", "Target": old["Target"], "State": old["State"]}
    )
    verb = "add" if old is None else f"replace {old['State']} route to {old['Target']} with"
    subnets = ctx.region_index.subnets
    nat_az = subnets[nat.subnet_id].availability_zone if nat.subnet_id in subnets else "?"
    targets = sorted(s.subnet_id for s in ctx.verdict.of("nat-broken", "isolated"))
    return ProposedChange(
        kinds.PUT_NAT_ROUTE,
        rt_id,
        before=before,
        after={"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": nat.nat_gateway_id},
        risk="high" if shared else "medium",
        reason=f"{rt_id}: {verb} 0.0.0.0/0 -> {nat.nat_gateway_id} ({nat_az}) so {', '.join(targets)} reach the internet.",
        fp=fingerprint(before_state),
        blast=blast,
    )


def propose(ctx: Context, findings: Sequence[Finding]) -> Proposal | Blocked:
    fixes = tuple(f for f in findings if f.code in CODES)
    if not fixes:
        return Blocked("no subnet for a route")
    chosen = _choose(ctx)
    if isinstance(chosen, Blocked):
        return chosen
    if not chosen:
        return Blocked("nothing for add-nat-route to change")
    return Proposal(tuple(_route_change(ctx, c) for c in chosen), fixes)


STRATEGY = Strategy(NAME, frozenset(CODES), MANUAL, propose)
