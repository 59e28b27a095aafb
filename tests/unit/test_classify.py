"""RegionIndex.classify: subnet -> effective route table -> default route -> target.

One table of cases; each builds a small world, classifies one subnet and
checks the egress class and the evidence chain.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from remediator.diagnose import RegionIndex
from remediator.domain.inventory import RegionInventory
from tests import factories as fx

A = "a"  # the VPC tag of the base world


def base() -> RegionInventory:
    return fx.vpc_world(A, "ab")


def lone(
    world: RegionInventory, name: str, *routes: Any, x: str = "a", v: str = A
) -> RegionInventory:
    """Add ``subnet-<name>`` with its own explicitly associated ``rtb-<name>``."""
    sid = f"subnet-{name}"
    return fx.add(
        world,
        fx.subnet(sid, v, x),
        fx.route_table(f"rtb-{name}", v, routes, [sid]),
    )


def nat_in_state(state: str, connectivity: str = "public") -> Callable[[], RegionInventory]:
    def build() -> RegionInventory:
        w = fx.add(base(), fx.nat("nat-odd", A, fx.pub(A, "a"), state, connectivity))
        return lone(w, "x", fx.default_route("nat-odd"))

    return build


def two_vpcs(b_tag: str) -> Callable[[], RegionInventory]:
    """VPC a (main table: local only) and another VPC whose main table sends
    0.0.0.0/0 to its internet gateway."""

    def build() -> RegionInventory:
        other = fx.vpc_world(b_tag, "a", private=False)
        other = fx.set_default_route(other, fx.main_rt(b_tag), fx.igw_id(b_tag))
        return fx.merge(base(), other)

    return build


def nat_in_isolated_subnet() -> RegionInventory:
    w = fx.add(base(), fx.nat("nat-stray", A, fx.iso(A, "a")))
    return lone(w, "x", fx.default_route("nat-stray"))


def nat_in_nat_routed_subnet() -> RegionInventory:
    # The NAT's own subnet reaches the internet only through another NAT:
    # it is not public, so the NAT gives no internet access.
    w = fx.add(base(), fx.nat("nat-chained", A, fx.natsub(A, "a")))
    return lone(w, "x", fx.default_route("nat-chained"))


def no_main_table() -> RegionInventory:
    return fx.remove(base(), fx.main_rt(A))


# id, world builder, subnet, expected SubnetEgress fields (subset)
CASES: list[tuple[str, Callable[[], RegionInventory], str, dict[str, Any]]] = [
    (
        "explicit-igw-active-is-public",
        base,
        fx.pub(A, "a"),
        dict(
            egress="public",
            association="explicit",
            route_table_id=fx.public_rt(A),
            route="0.0.0.0/0 -> igw-a",
            target="igw-a",
            target_state="attached",
            vpc_id="vpc-a",
            availability_zone="us-east-1a",
        ),
    ),
    (
        "implicit-main-table-local-only-is-isolated",
        base,
        fx.iso(A, "b"),
        dict(
            egress="isolated",
            association="main",
            route_table_id=fx.main_rt(A),
            route=None,
            target=None,
            target_state=None,
            ipv6=None,
            availability_zone="us-east-1b",
        ),
    ),
    (
        "main-table-of-own-vpc-a-while-b-main-is-public",
        two_vpcs("b"),
        fx.iso(A, "a"),
        dict(egress="isolated", association="main", route_table_id=fx.main_rt(A)),
    ),
    (
        "main-table-of-own-vpc-b-is-public",
        two_vpcs("b"),
        fx.iso("b", "a"),
        dict(
            egress="public",
            association="main",
            route_table_id=fx.main_rt("b"),
            target="igw-b",
            vpc_id="vpc-b",
        ),
    ),
    (
        "main-table-of-own-vpc-sorting-after",
        two_vpcs("z"),
        fx.iso(A, "a"),
        dict(egress="isolated", association="main", route_table_id=fx.main_rt(A)),
    ),
    (
        "explicit-wins-over-main",
        lambda: fx.set_default_route(base(), fx.main_rt(A), "igw-a"),
        fx.natsub(A, "a"),
        dict(egress="nat", association="explicit", route_table_id=fx.nat_rt(A, "a")),
    ),
    (
        "igw-blackhole-is-nat-broken",
        lambda: lone(base(), "x", fx.default_route("igw-a", "blackhole")),
        "subnet-x",
        dict(
            egress="nat-broken",
            association="explicit",
            route_table_id="rtb-x",
            route="0.0.0.0/0 -> igw-a",
            target="igw-a",
            target_state="blackhole",
        ),
    ),
    (
        "nat-available-public-in-public-subnet",
        base,
        fx.natsub(A, "b"),
        dict(
            egress="nat",
            association="explicit",
            route_table_id=fx.nat_rt(A, "b"),
            route="0.0.0.0/0 -> nat-a-b",
            target="nat-a-b",
            target_state="available",
        ),
    ),
    (
        "nat-missing",
        lambda: lone(base(), "x", fx.default_route("nat-gone")),
        "subnet-x",
        dict(egress="nat-broken", target="nat-gone", target_state="missing"),
    ),
    (
        "nat-blackhole-route",
        lambda: lone(base(), "x", fx.default_route("nat-gone", "blackhole")),
        "subnet-x",
        dict(egress="nat-broken", target="nat-gone", target_state="blackhole"),
    ),
    (
        "nat-pending",
        nat_in_state("pending"),
        "subnet-x",
        dict(egress="nat-broken", target="nat-odd", target_state="pending"),
    ),
    (
        "nat-failed",
        nat_in_state("failed"),
        "subnet-x",
        dict(egress="nat-broken", target="nat-odd", target_state="failed"),
    ),
    (
        "nat-deleted",
        nat_in_state("deleted"),
        "subnet-x",
        dict(egress="nat-broken", target="nat-odd", target_state="deleted"),
    ),
    (
        "nat-deleting",
        nat_in_state("deleting"),
        "subnet-x",
        dict(egress="nat-broken", target="nat-odd", target_state="deleting"),
    ),
    (
        "nat-unknown-state",
        nat_in_state("weird"),
        "subnet-x",
        dict(egress="nat-broken", target="nat-odd", target_state="weird"),
    ),
    (
        "nat-private-connectivity",
        nat_in_state("available", "private"),
        "subnet-x",
        dict(egress="nat-broken", target="nat-odd", target_state="available"),
    ),
    (
        "nat-in-subnet-without-internet-route",
        nat_in_isolated_subnet,
        "subnet-x",
        dict(egress="nat-broken", target="nat-stray", target_state="available"),
    ),
    (
        "nat-in-nat-routed-subnet",
        nat_in_nat_routed_subnet,
        "subnet-x",
        dict(egress="nat-broken", target="nat-chained", target_state="available"),
    ),
    (
        "no-default-route-explicit-table",
        lambda: lone(base(), "x"),
        "subnet-x",
        dict(egress="isolated", association="explicit", route_table_id="rtb-x", route=None),
    ),
    (
        "ipv6-egress-only-is-isolated",
        lambda: lone(base(), "x", fx.route("::/0", "eigw-a")),
        "subnet-x",
        dict(egress="isolated", route=None, target=None),
    ),
    (
        "ipv6-igw-without-ipv4-default-is-public",
        lambda: lone(base(), "x", fx.route("::/0", "igw-a")),
        "subnet-x",
        dict(egress="public", route="::/0 -> igw-a", target="igw-a", target_state="active"),
    ),
    (
        "ipv6-igw-blackhole-without-ipv4-is-isolated",
        lambda: lone(base(), "x", fx.route("::/0", "igw-a", "blackhole")),
        "subnet-x",
        dict(egress="isolated"),
    ),
    (
        "ipv4-nat-with-ipv6-eigw-is-nat",
        lambda: lone(base(), "x", fx.default_route("nat-a-a"), fx.route("::/0", "eigw-a")),
        "subnet-x",
        dict(
            egress="nat", route="0.0.0.0/0 -> nat-a-a", target="nat-a-a", target_state="available"
        ),
    ),
    (
        "ipv4-nat-with-ipv6-igw-is-nat",
        lambda: lone(base(), "x", fx.default_route("nat-a-a"), fx.route("::/0", "igw-a")),
        "subnet-x",
        dict(egress="nat", target="nat-a-a"),
    ),
    *[
        (
            f"other-target-{prefix.rstrip('-')}",
            (lambda t=target: lone(base(), "x", fx.default_route(t))),
            "subnet-x",
            dict(
                egress="other",
                route=f"0.0.0.0/0 -> {target}",
                target=target,
                target_state="active",
            ),
        )
        for prefix, target in [
            ("tgw-", "tgw-0123"),
            ("eni-", "eni-0123"),
            ("i-", "i-0123"),
            ("vgw-", "vgw-0123"),
        ]
    ],
    (
        # peering is not transitive: a default route to pcx- gives no egress
        "peering-default-route-is-nat-broken",
        lambda: lone(base(), "x", fx.default_route("pcx-0123")),
        "subnet-x",
        dict(
            egress="nat-broken",
            route="0.0.0.0/0 -> pcx-0123",
            target="pcx-0123",
            target_state="active",
        ),
    ),
    (
        "subnet-not-found",
        base,
        "subnet-nowhere",
        dict(
            egress="unknown",
            association="none",
            vpc_id=None,
            availability_zone=None,
            route_table_id=None,
            route=None,
            target=None,
        ),
    ),
    (
        "no-route-table-at-all",
        no_main_table,
        fx.iso(A, "a"),
        dict(egress="unknown", association="none", route_table_id=None, vpc_id="vpc-a"),
    ),
]


@pytest.mark.parametrize(
    ("build", "subnet_id", "expected"),
    [pytest.param(b, s, e, id=i) for i, b, s, e in CASES],
)
def test_classify(
    build: Callable[[], RegionInventory], subnet_id: str, expected: dict[str, Any]
) -> None:
    result = RegionIndex(build()).classify(subnet_id)
    assert result.subnet_id == subnet_id
    got = {key: getattr(result, key) for key in expected}
    assert got == expected, result.detail
    assert result.detail


@pytest.mark.parametrize(
    ("routes", "fragment"),
    [
        ((fx.route("::/0", "eigw-a"),), "egress-only"),
        ((fx.default_route("nat-a-a"), fx.route("::/0", "eigw-a")), "egress-only"),
        ((fx.route("::/0", "igw-a"),), "internet-gateway"),
        ((fx.route("::/0", "eigw-a", "blackhole"),), "blackhole"),
    ],
)
def test_ipv6_text(routes: tuple[Any, ...], fragment: str) -> None:
    result = RegionIndex(lone(base(), "x", *routes)).classify("subnet-x")
    assert result.ipv6 is not None
    assert fragment in result.ipv6
    assert "::/0" in result.ipv6


def test_no_ipv6_route_means_no_ipv6_text() -> None:
    assert RegionIndex(base()).classify(fx.natsub(A, "a")).ipv6 is None


def test_isolated_with_eigw_detail_says_ipv6_only() -> None:
    result = RegionIndex(lone(base(), "x", fx.route("::/0", "eigw-a"))).classify("subnet-x")
    assert "IPv6" in result.detail


def test_classification_is_cached_and_stable() -> None:
    index = RegionIndex(base())
    first = index.classify(fx.natsub(A, "a"))
    assert index.classify(fx.natsub(A, "a")) is first
    assert RegionIndex(base()).classify(fx.natsub(A, "a")) == first


def test_subnets_using_main_table_lists_implicit_subnets_of_its_vpc_only() -> None:
    world = two_vpcs("b")()
    index = RegionIndex(world)
    main_a = next(t for t in world.route_tables if t.route_table_id == fx.main_rt(A))
    assert index.subnets_using(main_a) == (fx.iso(A, "a"), fx.iso(A, "b"))
