"""The egress path, judged the way AWS forwards a packet: longest-prefix
match over public destinations, then the hops (IGW attachment, NAT gateway,
NAT instance, firewall endpoint, peering, transit gateway, shared VPCs).

One world per rule or topology; each asserts the egress class and the words
or hops of the evidence.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from remediator.diagnose import RegionIndex, diagnose
from remediator.diagnose.routing import SAMPLES, routes_beating_default, winner
from remediator.domain.findings import EGRESS_UNKNOWN, NAT_BROKEN
from remediator.domain.inventory import (
    Instance,
    InternetGateway,
    ManagedPrefixList,
    NetworkInterface,
    RegionInventory,
    Route,
    Subnet,
    VpcEndpoint,
)
from remediator.planner import build_plan
from tests import factories as fx

A = "a"
ACCOUNT = fx.ACCOUNT
NAT = fx.nat_id(A, "a")
IGW = fx.igw_id(A)
PUB = fx.pub(A, "a")


def base() -> RegionInventory:
    return fx.vpc_world(A, "ab")


def lone(world: RegionInventory, name: str, *routes: Route, x: str = "a") -> RegionInventory:
    """``subnet-<name>`` with its own explicitly associated ``rtb-<name>``."""
    sid = f"subnet-{name}"
    return fx.add(world, fx.subnet(sid, A, x), fx.route_table(f"rtb-{name}", A, routes, [sid]))


def put(world: RegionInventory, **extra: tuple[Any, ...]) -> RegionInventory:
    """Add instances, interfaces, prefix lists (collections ``fx.add`` does not know)."""
    return world.model_copy(update={k: tuple(getattr(world, k)) + v for k, v in extra.items()})


r = fx.route
HALVES = (r("0.0.0.0/1", IGW), r("128.0.0.0/1", IGW))


def pl(pl_id: str, *cidrs: str) -> ManagedPrefixList:
    return ManagedPrefixList(prefix_list_id=pl_id, cidrs=cidrs)


def gwlb(ep_id: str, subnet_id: str, kind: str = "GatewayLoadBalancer") -> VpcEndpoint:
    return VpcEndpoint(
        vpc_endpoint_id=ep_id,
        vpc_id=fx.vpc_id(A),
        service_name="com.amazonaws.vpce.us-east-1.vpce-svc-fw",
        endpoint_type=kind,
        state="available",
        subnet_ids=(subnet_id,),
    )


def firewall(*fw_routes: Route) -> RegionInventory:
    """subnet-x -> vpce-fw (GWLB in subnet-fw) -> subnet-fw's table."""
    w = lone(base(), "fw", *fw_routes)
    w = fx.add(w, gwlb("vpce-fw", "subnet-fw"))
    return lone(w, "x", r("0.0.0.0/0", "vpce-fw"))


def instance(
    *, state: str = "running", sdc: bool = False, ip: str = "198.51.100.7", subnet: str = PUB
) -> Instance:
    return Instance(
        instance_id="i-nat",
        state=state,
        subnet_id=subnet,
        source_dest_check=sdc,
        public_ip=ip,
        network_interface_ids=("eni-nat",),
    )


def nat_instance(target: str = "i-nat", **kw: Any) -> RegionInventory:
    inst = instance(**kw)
    eni = NetworkInterface(
        network_interface_id="eni-nat",
        subnet_id=inst.subnet_id,
        vpc_id=fx.vpc_id(A),
        instance_id="i-nat",
        source_dest_check=inst.source_dest_check,
        public_ip=inst.public_ip,
    )
    w = put(base(), instances=(inst,), network_interfaces=(eni,))
    return lone(w, "x", fx.default_route(target))


def detached() -> RegionInventory:
    return fx.add(base(), InternetGateway(internet_gateway_id=IGW, attached_vpc_ids=()))


def private_nat(*onward: Route) -> RegionInventory:
    w = lone(base(), "pn", *onward)
    w = fx.add(w, fx.nat("nat-priv", A, "subnet-pn", connectivity="private"))
    return lone(w, "x", fx.default_route("nat-priv"))


def shared(owner: str) -> RegionInventory:
    """A participant's view: the owner's subnet routes to a NAT it cannot see."""
    w = base()
    sub = Subnet(
        subnet_id="subnet-x", vpc_id=fx.vpc_id(A), availability_zone=fx.az("a"), owner_id=owner
    )
    w = fx.add(w, sub, fx.route_table("rtb-x", A, [fx.default_route("nat-hidden")], ["subnet-x"]))
    return w


# id, world, account, expected fields, fragments the detail must hold
CASES: list[tuple[str, Callable[[], RegionInventory], str, dict[str, Any], tuple[str, ...]]] = [
    # --- rule 1: longest-prefix match
    (
        "split-default-to-igw-is-public",
        lambda: lone(base(), "x", *HALVES),
        "",
        dict(egress="public", target=IGW, route=f"0.0.0.0/1 -> {IGW}, 128.0.0.0/1 -> {IGW}"),
        ("path: subnet-x -> rtb-x (explicit) -> 0.0.0.0/1 -> igw-a (attached)",),
    ),
    (
        # the re-plan after adding 0.0.0.0/0 -> nat must still see public
        "split-igw-beats-default-nat",
        lambda: lone(base(), "x", *HALVES, fx.default_route(NAT)),
        "",
        dict(egress="public", target=IGW),
        ("internet gateway",),
    ),
    (
        "half-to-nat-half-to-igw-is-judged-by-the-worst",
        lambda: lone(base(), "x", r("0.0.0.0/1", NAT), r("128.0.0.0/1", IGW)),
        "",
        dict(egress="public", target=IGW),
        (
            "104.16.0.1 via 0.0.0.0/1 -> nat-a-a (available)",
            "(nat)",
            "198.51.100.1 via 128.0.0.0/1",
            "(public)",
        ),
    ),
    (
        "more-specific-peering-route-over-aws-range-breaks-it",
        lambda: lone(base(), "x", fx.default_route(NAT), r("52.94.0.0/16", "pcx-1")),
        "",
        dict(
            egress="nat-broken", target="pcx-1", route="0.0.0.0/0 -> nat-a-a, 52.94.0.0/16 -> pcx-1"
        ),
        (
            "52.94.0.1 via 52.94.0.0/16 -> pcx-1",
            "3.5.0.1 via 0.0.0.0/0 -> nat-a-a",
            "not transitive",
        ),
    ),
    (
        "more-specific-blackhole-breaks-it",
        lambda: lone(base(), "x", fx.default_route(NAT), r("128.0.0.0/1", "nat-gone", "blackhole")),
        "",
        dict(egress="nat-broken", target="nat-gone", target_state="blackhole"),
        ("route 128.0.0.0/1 is blackhole",),
    ),
    (
        "private-range-route-does-not-matter",
        lambda: lone(base(), "x", fx.default_route(NAT), r("10.0.0.0/8", "pcx-1")),
        "",
        dict(egress="nat", target=NAT, route=f"0.0.0.0/0 -> {NAT}"),
        (f"NAT gateway in public subnet {PUB}",),
    ),
    (
        "known-prefix-list-to-igw-wins-over-default-nat",
        lambda: put(
            lone(base(), "x", fx.default_route(NAT), r("pl-halves", IGW)),
            prefix_lists=(pl("pl-halves", "0.0.0.0/1", "128.0.0.0/1"),),
        ),
        "",
        dict(egress="public", target=IGW),
        (),
    ),
    (
        "unknown-prefix-list-to-igw-is-not-guessed",
        lambda: lone(base(), "x", fx.default_route(NAT), r("pl-unread", IGW)),
        "",
        dict(egress="other", target=IGW, route=f"pl-unread -> {IGW}"),
        ("prefix list pl-unread was not read", "the other routes give nat"),
    ),
    (
        "unread-gateway-endpoint-prefix-list-is-textbook-nat",
        lambda: lone(base(), "x", fx.default_route(NAT), r("pl-s3", "vpce-s3")),
        "",
        dict(
            egress="nat", route=f"0.0.0.0/0 -> {NAT}", detail=f"NAT gateway in public subnet {PUB}"
        ),
        (),
    ),
    (
        "known-s3-prefix-list-to-gateway-endpoint-serves-its-range",
        lambda: put(
            fx.add(
                lone(base(), "x", fx.default_route(NAT), r("pl-s3", "vpce-s3")),
                gwlb("vpce-s3", "subnet-x", kind="Gateway"),
            ),
            prefix_lists=(pl("pl-s3", "3.5.0.0/16"),),
        ),
        "",
        dict(egress="nat", target=NAT),
        ("3.5.0.1 via pl-s3 -> vpce-s3 (served)",),
    ),
    (
        "only-a-gateway-endpoint-route-is-isolated",
        lambda: put(
            fx.add(
                lone(base(), "x", r("pl-s3", "vpce-s3")),
                gwlb("vpce-s3", "subnet-x", kind="Gateway"),
            ),
            prefix_lists=(pl("pl-s3", "3.5.0.0/16"),),
        ),
        "",
        dict(egress="isolated", route=None),
        ("104.16.0.1 via no route",),
    ),
    # --- rule 2: hops
    (
        "detached-igw-is-no-egress",
        lambda: lone(detached(), "x", fx.default_route(IGW)),
        "",
        dict(egress="nat-broken", target=IGW, target_state="detached"),
        ("not attached to vpc-a",),
    ),
    (
        "nat-in-subnet-whose-igw-is-detached-is-broken",
        lambda: lone(detached(), "x", fx.default_route(NAT)),
        "",
        dict(egress="nat-broken", target=NAT),
        ("no internet route", "not attached"),
    ),
    (
        "private-nat-onward-to-tgw-is-unknown",
        lambda: private_nat(fx.default_route("tgw-1")),
        "",
        dict(egress="other", target="nat-priv"),
        (
            "private NAT gateway",
            "tgw-1",
            "decided outside this VPC",
            "nat-priv (private, available) -> subnet-pn",
        ),
    ),
    (
        "private-nat-onward-to-igw-is-no-internet",
        lambda: private_nat(fx.default_route(IGW)),
        "",
        dict(egress="nat-broken", target="nat-priv"),
        ("private: it gives no internet access",),
    ),
    (
        "nat-instance-that-works-is-nat",
        nat_instance,
        "",
        dict(egress="nat", target="i-nat", target_state="running"),
        (
            f"NAT instance i-nat in public subnet {PUB}",
            "i-nat (NAT instance, running) -> subnet-a-pub-a",
        ),
    ),
    (
        "nat-instance-by-eni-is-nat",
        lambda: nat_instance("eni-nat"),
        "",
        dict(egress="nat", target="eni-nat"),
        ("NAT instance i-nat",),
    ),
    (
        "nat-instance-with-check-on-and-no-ip-is-broken",
        lambda: nat_instance(sdc=True, ip=""),
        "",
        dict(egress="nat-broken", target="i-nat"),
        ("source/destination check is on", "no public IP"),
    ),
    (
        "stopped-nat-instance-in-isolated-subnet-is-broken",
        lambda: nat_instance(state="stopped", subnet=fx.iso(A, "a")),
        "",
        dict(egress="nat-broken", target_state="stopped"),
        ("instance i-nat is stopped", f"its subnet {fx.iso(A, 'a')} is not public"),
    ),
    (
        "unknown-instance-target-stays-unknown",
        lambda: lone(base(), "x", fx.default_route("i-nowhere")),
        "",
        dict(egress="other", target="i-nowhere"),
        ("does not judge",),
    ),
    (
        "firewall-in-front-of-working-nat-is-healthy",
        lambda: firewall(fx.default_route(NAT)),
        "",
        dict(egress="nat", target="vpce-fw"),
        (
            "path: subnet-x -> rtb-x (explicit) -> 0.0.0.0/0 -> vpce-fw (GatewayLoadBalancer) -> "
            "subnet-fw -> rtb-fw (explicit) -> 0.0.0.0/0 -> nat-a-a (available) -> subnet-a-pub-a -> "
            "rtb-a-public (explicit) -> 0.0.0.0/0 -> igw-a (attached)",
        ),
    ),
    (
        "firewall-straight-to-igw-is-public",
        lambda: firewall(fx.default_route(IGW)),
        "",
        dict(egress="public", target="vpce-fw"),
        ("through firewall endpoint vpce-fw",),
    ),
    (
        "firewall-with-no-onward-route-is-broken",
        lambda: firewall(),
        "",
        dict(egress="nat-broken", target="vpce-fw"),
        ("no 0.0.0.0/0 route",),
    ),
    (
        "peering-default-route-is-broken",
        lambda: lone(base(), "x", fx.default_route("pcx-1")),
        "",
        dict(egress="nat-broken", target="pcx-1"),
        ("not transitive",),
    ),
    (
        "transit-gateway-is-unknown",
        lambda: lone(base(), "x", fx.default_route("tgw-1")),
        "",
        dict(egress="other", target="tgw-1"),
        (),
    ),
    (
        "vgw-is-unknown",
        lambda: lone(base(), "x", fx.default_route("vgw-1")),
        "",
        dict(egress="other", target="vgw-1"),
        (),
    ),
    # --- rule 3: shared VPCs
    (
        "shared-vpc-nat-not-visible-is-unknown",
        lambda: shared("999999999999"),
        ACCOUNT,
        dict(
            egress="other",
            target="nat-hidden",
            detail="egress not verifiable from this account (owned by 999999999999)",
        ),
        (),
    ),
    (
        "own-vpc-missing-nat-is-broken",
        lambda: shared(ACCOUNT),
        ACCOUNT,
        dict(egress="nat-broken", target_state="missing"),
        ("NAT gateway not found",),
    ),
    (
        "owner-unknown-account-unknown-missing-nat-is-broken",
        lambda: shared(""),
        "",
        dict(egress="nat-broken", target_state="missing"),
        (),
    ),
]


@pytest.mark.parametrize(
    ("build", "account", "expected", "fragments"),
    [pytest.param(b, a, e, f, id=i) for i, b, a, e, f in CASES],
)
def test_path(
    build: Callable[[], RegionInventory],
    account: str,
    expected: dict[str, Any],
    fragments: tuple[str, ...],
) -> None:
    result = RegionIndex(build(), account).classify("subnet-x")
    got = {key: getattr(result, key) for key in expected}
    assert got == expected, result.detail
    for fragment in fragments:
        assert fragment in result.detail


def test_samples_cover_both_halves() -> None:
    rt = fx.route_table("rtb-h", A, HALVES)
    index = RegionIndex(base())
    winners = {winner(index, rt, a).destination for a in SAMPLES}  # type: ignore[union-attr]
    assert winners == {"0.0.0.0/1", "128.0.0.0/1"}


def test_longest_prefix_wins_and_cidr_beats_prefix_list_of_same_length() -> None:
    index = RegionIndex(put(base(), prefix_lists=(pl("pl-x", "52.94.0.0/16"),)))
    rt = fx.route_table(
        "rtb-l",
        A,
        [
            fx.default_route(NAT),
            r("52.0.0.0/8", "pcx-1"),
            r("pl-x", "igw-a"),
            r("52.94.0.0/16", "tgw-1"),
        ],
    )
    assert winner(index, rt, "52.94.0.1").target == "tgw-1"  # type: ignore[union-attr]
    assert winner(index, rt, "52.1.0.1").target == "pcx-1"  # type: ignore[union-attr]
    assert winner(index, rt, "104.16.0.1").target == NAT  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("routes", "expected"),
    [
        ((fx.default_route(NAT),), ()),
        ((fx.default_route(NAT), r("pl-s3", "vpce-s3")), ()),
        ((*HALVES, fx.default_route(NAT)), (f"0.0.0.0/1 -> {IGW}", f"128.0.0.0/1 -> {IGW}")),
        ((r("pl-unread", "pcx-1"),), ("pl-unread -> pcx-1",)),
    ],
)
def test_routes_beating_default(routes: tuple[Route, ...], expected: tuple[str, ...]) -> None:
    rt = fx.route_table("rtb-b", A, routes)
    assert routes_beating_default(RegionIndex(base()), rt) == expected


def _plan(world: RegionInventory, subnets: list[str]) -> Any:
    fn = fx.function("fn", subnets, [fx.fn_sg(A)])
    world = fx.add(world, fn)
    policy = fx.policy(strategies=("add-nat-route",), min_azs=1)
    return build_plan(fx.inventory(world), policy, fx.NOW)


def test_shared_vpc_unverifiable_nat_is_an_info_finding_not_nat_broken() -> None:
    inv = fx.inventory(
        fx.add(shared("999999999999"), fx.function("fn", ["subnet-x"], [fx.fn_sg(A)]))
    )
    codes = {f.code: f.severity for f in diagnose(inv, fx.policy()).findings}
    assert codes.get(EGRESS_UNKNOWN) == "info"
    assert NAT_BROKEN not in codes


def test_no_nat_route_is_proposed_where_more_specific_routes_win() -> None:
    # a more specific blackhole route breaks the subnet; a default route to
    # the NAT would not carry that traffic, so add-nat-route must not offer it
    world = lone(base(), "x", r("128.0.0.0/1", "nat-gone", "blackhole"))
    assert not [c for c in _plan(world, ["subnet-x"]).changes if c.kind == "ec2.put-nat-route"]
    # the same table with the blackhole as its default route does get one
    world = lone(base(), "x", fx.default_route("nat-gone", "blackhole"))
    assert [c for c in _plan(world, ["subnet-x"]).changes if c.kind == "ec2.put-nat-route"]
    diag = diagnose(
        fx.inventory(fx.add(world, fx.function("fn", ["subnet-x"], [fx.fn_sg(A)]))), fx.policy()
    )
    assert any(f.code == NAT_BROKEN for f in diag.findings)
