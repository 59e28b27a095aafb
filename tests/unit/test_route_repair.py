"""``add-nat-route`` repairs the routes that win by longest-prefix match.

One world per case: ``subnet-x`` (AZ a) on its own ``rtb-x`` with the routes
of the case, in the VPC of ``factories.vpc_world`` (a working public NAT per
AZ). Each case says which routes the plan repoints (destination, old
target, old state, in apply order) or the words of the blocked reason.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remediator.changes import registry
from remediator.diagnose import RegionIndex
from remediator.diagnose.routing import SAMPLES, winner
from remediator.domain.findings import NAT_BROKEN, PUBLIC_ALL
from remediator.domain.inventory import NetworkInterface, RegionInventory, Route
from remediator.domain.plan import Finding, WorkloadInterface
from remediator.planfile import dumps, parse_plan
from remediator.planfile.model import Plan
from remediator.planner import build_plan
from remediator.planner.builder import change_id
from remediator.render.report import render_markdown, render_text
from tests import factories as fx

A = "a"
NAT = fx.nat_id(A, "a")  # the working NAT in AZ a
IGW = fx.igw_id(A)
ROUTE = registry.PUT_NAT_ROUTE
r = fx.route


def world(
    *routes: Route, serves: tuple[str, ...] = (), extra: tuple[Any, ...] = ()
) -> RegionInventory:
    """``subnet-x`` on ``rtb-x`` (``routes``), also serving ``serves``."""
    base = fx.vpc_world(A, "ab")
    others = [fx.subnet(s, A, "a") for s in serves]
    table = fx.route_table("rtb-x", A, routes, ["subnet-x", *serves])
    return fx.add(base, fx.subnet("subnet-x", A, "a"), *others, table, *extra)


def plan_of(w: RegionInventory, **settings: Any) -> Plan:
    w = fx.add(w, fx.function("fn", ["subnet-x"], [fx.fn_sg(A)]))
    policy = fx.policy(strategies=("add-nat-route",), min_azs=1, **settings)
    return build_plan(fx.inventory(w), policy, fx.NOW)


def subnet_findings(p: Plan) -> list[Finding]:
    return [f for f in p.findings if f.function == "fn" and f.severity != "info"]


HALF = ("0.0.0.0/1", "128.0.0.0/1")
FAILED_NAT = fx.nat("nat-failed", A, fx.pub(A, "a"), state="failed")
PRIVATE_NAT = fx.nat("nat-private", A, fx.pub(A, "a"), connectivity="private")

# (id, routes, extra resources, settings, repointed [(dest, old target, old state)], blocked words)
CASES: list[
    tuple[str, tuple[Route, ...], tuple[Any, ...], dict[str, Any], list[tuple[str, str, str]], str]
] = [
    (
        "split-to-blackhole",
        tuple(r(h, "nat-gone", "blackhole") for h in HALF),
        (),
        {},
        [(h, "nat-gone", "blackhole") for h in HALF],
        "",
    ),
    (
        "split-to-failed-nat",
        tuple(r(h, "nat-failed") for h in HALF),
        (FAILED_NAT,),
        {},
        [(h, "nat-failed", "active") for h in HALF],
        "",
    ),
    (
        "split-to-private-nat",
        tuple(r(h, "nat-private") for h in HALF),
        (PRIVATE_NAT,),
        {},
        [(h, "nat-private", "active") for h in HALF],
        "",
    ),
    (
        "more-specific-8-broken-and-broken-default",
        (r("52.0.0.0/8", "nat-gone", "blackhole"), fx.default_route("nat-failed")),
        (FAILED_NAT,),
        {},
        [("0.0.0.0/0", "nat-failed", "active"), ("52.0.0.0/8", "nat-gone", "blackhole")],
        "",
    ),
    (
        # the broken default loses to the halves for every destination: left alone
        "broken-default-and-broken-split",
        (fx.default_route("nat-old", "blackhole"), *(r(h, "nat-gone", "blackhole") for h in HALF)),
        (),
        {},
        [(h, "nat-gone", "blackhole") for h in HALF],
        "",
    ),
    (
        # a half that works keeps its NAT; the broken half is repointed
        "one-half-works",
        (r("0.0.0.0/1", fx.nat_id(A, "b")), r("128.0.0.0/1", "nat-gone", "blackhole")),
        (),
        {},
        [("128.0.0.0/1", "nat-gone", "blackhole")],
        "",
    ),
    (
        "peering-more-specific",
        (r("52.0.0.0/8", "pcx-1"), fx.default_route(NAT)),
        (),
        {},
        [("52.0.0.0/8", "pcx-1", "active")],
        "",
    ),
    (
        "one-winner-to-igw",
        (r("0.0.0.0/1", IGW), r("128.0.0.0/1", "nat-gone", "blackhole")),
        (),
        {},
        [],
        f"public subnets keep their internet gateway routes (0.0.0.0/1 -> {IGW}",
    ),
    (
        "one-winner-to-tgw",
        (r("0.0.0.0/1", "tgw-1"), r("128.0.0.0/1", "nat-gone", "blackhole")),
        (),
        {},
        [],
        "rtb-x sends 0.0.0.0/1 to tgw-1, whose egress remediator does not judge",
    ),
    (
        "one-winner-through-a-firewall-endpoint",
        (r("0.0.0.0/1", "vpce-fw"), r("128.0.0.0/1", "nat-gone", "blackhole")),
        (),
        {},
        [],
        "rtb-x sends 0.0.0.0/1 through endpoint vpce-fw",
    ),
    (
        # 128/1 broken and nothing for the lower half: a default route alone
        # would not carry the upper half, and remediator does not do both
        "broken-half-and-no-route",
        (r("128.0.0.0/1", "nat-gone", "blackhole"),),
        (),
        {},
        [],
        "(128.0.0.0/1 -> nat-gone) and no route for others (3.5.0.1",
    ),
    (
        "shared-table-repaired-by-the-built-in-policy",
        tuple(r(h, "nat-gone", "blackhole") for h in HALF),
        (),
        {"serves": ("subnet-y",)},
        [(h, "nat-gone", "blackhole") for h in HALF],
        "",
    ),
    (
        "isolated-own-table-gets-a-default-route",
        (),
        (),
        {},
        [("0.0.0.0/0", "", "")],
        "",
    ),
    (
        "isolated-shared-table-stays-opt-in",
        (),
        (),
        {"serves": ("subnet-y",)},
        [],
        "rtb-x is shared by 2 subnet(s); the policy does not allow changing shared route tables",
    ),
    (
        "isolated-shared-table-when-allowed",
        (),
        (),
        {"serves": ("subnet-y",), "allow_shared_route_table_changes": True},
        [("0.0.0.0/0", "", "")],
        "",
    ),
]


@pytest.mark.parametrize(
    ("routes", "extra", "settings", "repointed", "blocked"),
    [pytest.param(*c[1:], id=c[0]) for c in CASES],
)
def test_route_repair(
    routes: tuple[Route, ...],
    extra: tuple[Any, ...],
    settings: dict[str, Any],
    repointed: list[tuple[str, str, str]],
    blocked: str,
) -> None:
    settings = dict(settings)
    serves = settings.pop("serves", ())
    p = plan_of(world(*routes, serves=serves, extra=extra), **settings)
    changes = sorted(
        (c for c in p.changes if c.kind == ROUTE),
        key=lambda c: ipaddress.ip_network(c.after.DestinationCidrBlock),
    )
    got = [
        (
            c.after.DestinationCidrBlock,
            c.before.Target if c.before else "",
            c.before.State if c.before else "",
        )
        for c in changes
    ]
    assert got == repointed
    problems = subnet_findings(p)
    assert problems
    if blocked:
        assert all(f.status == "blocked" for f in problems)
        assert all(f.manual_step and blocked in f.manual_step for f in problems), [
            f.manual_step for f in problems
        ]
        return
    assert all(f.status == "planned" for f in problems)
    for c in changes:
        assert c.target == "rtb-x"
        assert c.after.NatGatewayId == NAT  # same AZ first
        assert c.risk == ("high" if serves else "medium")
        assert set(c.blast_radius.subnet_ids) == {"subnet-x", *serves}
        assert registry.check_before(c) is None
        assert set(c.fixes) == {f.id for f in problems}
    # one change per route, ids apart, independent of each other
    assert len({c.id for c in changes}) == len(changes)
    assert all(c.depends_on == () for c in changes)
    assert dumps(parse_plan(dumps(p))) == dumps(p)


def test_the_default_route_change_keeps_its_id_and_fingerprint_shape() -> None:
    p = plan_of(world(fx.default_route("nat-gone", "blackhole")))
    (c,) = p.changes
    assert c.id == change_id(ROUTE, fx.REGION, "rtb-x")
    assert c.fingerprint.state == {
        "RouteTableId": "rtb-x",
        "DefaultRoute": {
            "DestinationCidrBlock": "0.0.0.0/0",
            "Target": "nat-gone",
            "State": "blackhole",
        },
    }
    assert c.reason.startswith("rtb-x: replace blackhole route to nat-gone with 0.0.0.0/0 -> ")


def test_each_split_route_has_its_own_fingerprint_and_id() -> None:
    p = plan_of(world(*(r(h, "nat-gone", "blackhole") for h in HALF)))
    low, high = sorted(p.changes, key=lambda c: c.after.DestinationCidrBlock)
    assert low.id == change_id(ROUTE, fx.REGION, "rtb-x", "0.0.0.0/1")
    assert high.id == change_id(ROUTE, fx.REGION, "rtb-x", "128.0.0.0/1")
    assert low.fingerprint.state == {
        "RouteTableId": "rtb-x",
        "DestinationCidrBlock": "0.0.0.0/1",
        "Route": {"DestinationCidrBlock": "0.0.0.0/1", "Target": "nat-gone", "State": "blackhole"},
    }
    assert low.fingerprint.state_hash != high.fingerprint.state_hash
    assert "0.0.0.0/1 to nat-gone with 0.0.0.0/1 -> " in low.reason
    assert "2 routes win by longest prefix" in low.reason


def test_the_same_plan_twice_is_the_same_bytes() -> None:
    w = world(*(r(h, "nat-gone", "blackhole") for h in HALF))
    assert dumps(plan_of(w)) == dumps(plan_of(w))


# ------------------------------------------------------------ blast radius


def eni(
    eni_id: str, subnet: str, kind: str = "interface", instance: str = "", desc: str = ""
) -> NetworkInterface:
    return NetworkInterface(
        network_interface_id=eni_id,
        subnet_id=subnet,
        vpc_id=fx.vpc_id(A),
        interface_type=kind,
        instance_id=instance,
        description=desc,
    )


ENIS = (
    eni("eni-1", "subnet-x", instance="i-1"),
    eni("eni-2", "subnet-y", "network_load_balancer"),
    eni("eni-3", "subnet-x", "lambda", desc="AWS Lambda VPC ENI-fn-abc"),
    eni("eni-4", "subnet-y", desc="AWS Lambda VPC ENI-other-abc"),
    eni("eni-5", fx.pub(A, "a"), "nat_gateway"),  # not in a subnet the table serves
)


def _with_enis(w: RegionInventory) -> RegionInventory:
    return w.model_copy(update={"network_interfaces": ENIS})


def test_the_blast_radius_lists_the_workloads_that_gain_egress() -> None:
    w = _with_enis(world(*(r(h, "nat-gone", "blackhole") for h in HALF), serves=("subnet-y",)))
    p = plan_of(w)
    for c in p.changes:
        assert c.blast_radius.network_interfaces == (
            WorkloadInterface(
                network_interface_id="eni-1", subnet_id="subnet-x", instance_id="i-1"
            ),
            WorkloadInterface(
                network_interface_id="eni-2",
                subnet_id="subnet-y",
                interface_type="network_load_balancer",
            ),
        )
        assert c.blast_radius.lambda_interfaces == 2
    text, md = render_text(p, color=False), render_markdown(p)
    shown = "workloads gaining egress: eni-1 (instance i-1), eni-2 (network_load_balancer), 2 Lambda ENIs"
    assert shown in text and shown in md
    data = json.loads(dumps(p))
    assert data["changes"][0]["blast_radius"]["lambda_interfaces"] == 2
    assert parse_plan(dumps(p)) == p


def test_an_empty_blast_radius_list_is_not_in_the_plan_json() -> None:
    p = plan_of(world(*(r(h, "nat-gone", "blackhole") for h in HALF)))
    blast = json.loads(dumps(p))["changes"][0]["blast_radius"]
    assert set(blast) == {"route_tables", "subnet_ids", "functions", "note"}


def test_only_lambda_interfaces_say_so() -> None:
    lambda_only = (eni("eni-3", "subnet-x", "lambda"),)
    w = world(fx.default_route("nat-gone", "blackhole"))
    p = plan_of(w.model_copy(update={"network_interfaces": lambda_only}))
    assert "workloads gaining egress: no instance or other service, 1 Lambda ENI" in render_text(
        p, color=False
    )


# ------------------------------------------------------------ finding texts


def _finding(p: Plan, code: str) -> Finding:
    return next(f for f in p.findings if f.code == code)


def test_public_texts_name_the_split_route_that_makes_a_subnet_public() -> None:
    p = plan_of(world(*(r(h, IGW) for h in HALF)))
    f = _finding(p, PUBLIC_ALL)
    assert f"(0.0.0.0/1, 128.0.0.0/1 -> {IGW}) to an internet gateway" in f.detail
    assert "0.0.0.0/0" not in f.detail
    assert f.manual_step and f"0.0.0.0/1, 128.0.0.0/1 -> {IGW}" in f.manual_step


def test_public_texts_keep_their_words_for_a_default_route() -> None:
    f = _finding(plan_of(world(fx.default_route(IGW))), PUBLIC_ALL)
    assert "1 of 1 subnets route 0.0.0.0/0 to an internet gateway;" in f.detail
    assert f.manual_step and "keep their internet gateway route (other workloads use it)" in (
        f.manual_step
    )


@pytest.mark.parametrize(
    ("routes", "words"),
    [
        ((fx.default_route("nat-gone", "blackhole"),), "a default route whose NAT path does not"),
        (
            tuple(r(h, "nat-gone", "blackhole") for h in HALF),
            "a winning route whose path (0.0.0.0/1, 128.0.0.0/1 -> nat-gone) does not",
        ),
    ],
)
def test_nat_broken_text_names_the_winning_route(routes: tuple[Route, ...], words: str) -> None:
    assert words in _finding(plan_of(world(*routes)), NAT_BROKEN).detail


# ------------------------------------------------- applied, the fix is real

DESTS = ("0.0.0.0/0", "0.0.0.0/1", "128.0.0.0/1", "52.0.0.0/8", "3.0.0.0/8", "192.0.0.0/2")
TARGETS = (
    ("nat-gone", "blackhole"),
    ("nat-failed", "active"),
    (fx.nat_id(A, "b"), "active"),  # a working NAT in the other AZ
    ("pcx-1", "active"),
    ("tgw-1", "active"),
    (IGW, "active"),
)


def _applied(w: RegionInventory, p: Plan) -> RegionInventory:
    """``w`` with the plan's route changes made, as AWS would make them."""
    rt = next(t for t in w.route_tables if t.route_table_id == "rtb-x")
    routes = {x.destination: x for x in rt.routes}
    for c in p.changes:
        assert c.kind == ROUTE and c.target == "rtb-x"
        dest = c.after.DestinationCidrBlock
        assert (dest in routes) is (c.before is not None)  # ReplaceRoute vs CreateRoute
        routes[dest] = r(dest, c.after.NatGatewayId)
    return fx.add(w, rt.model_copy(update={"routes": tuple(routes.values())}))


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(DESTS), st.sampled_from(range(len(TARGETS))), min_size=0, max_size=4
    )
)
def test_a_planned_route_repair_leaves_the_subnet_nat_routed(chosen: dict[str, int]) -> None:
    routes = tuple(r(d, *TARGETS[t]) for d, t in sorted(chosen.items()))
    w = world(*routes, extra=(FAILED_NAT,))
    p = plan_of(w)
    before = RegionIndex(fx.add(w, fx.function("fn", ["subnet-x"]))).classify("subnet-x")
    if before.egress in ("nat", "public", "other"):
        assert p.changes == ()
        return
    if not p.changes:
        assert all(f.status == "blocked" for f in subnet_findings(p))
        return
    # every change touches a route that wins for a public destination (or
    # adds the default route where none wins), and the result works
    index = RegionIndex(w)
    rt = next(t for t in w.route_tables if t.route_table_id == "rtb-x")
    wins = {a: winner(index, rt, a) for a in SAMPLES}
    winners = {x.destination for x in wins.values() if x is not None}
    for c in p.changes:
        dest = c.after.DestinationCidrBlock
        if c.before is None:  # an added default route carries what no route wins
            assert dest == "0.0.0.0/0" and None in wins.values()
        else:
            assert dest in winners
    fixed = _applied(fx.add(w, fx.function("fn", ["subnet-x"])), p)
    assert RegionIndex(fixed).classify("subnet-x").egress == "nat"
    again = plan_of(fixed)
    assert again.changes == () and subnet_findings(again) == []
