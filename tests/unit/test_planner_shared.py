"""The planner never plans a change the account may not make, and repairs a
broken default route even in a table several subnets use.

* In a VPC another account owns (AWS RAM: ``Vpc.owner_id`` or
  ``Subnet.owner_id`` set and not the account's own), no route, endpoint or
  VPC-attribute change is planned; the function's own VpcConfig may still
  move to other shared subnets. An owner not read (``""``) is the account's.
* A default route that serves no one (deleted, failed or private NAT, a NAT
  without internet, a blackhole) may be repointed by the built-in policy
  although the table serves several subnets; adding a default route to a
  shared isolated table stays opt-in (``allow_shared_route_table_changes``).
"""

from __future__ import annotations

from typing import Any

import pytest

from remediator.domain.inventory import RegionInventory, Subnet, Vpc
from remediator.domain.plan import Finding
from remediator.domain.policy import Policy
from remediator.planfile.model import Plan
from remediator.planner import build_plan
from tests import factories as fx

OTHER = "999999999999"
ROUTE, VPC_CONFIG, ENDPOINT = (
    "ec2.put-nat-route",
    "lambda.update-vpc-config",
    ("ec2.create-lambda-endpoint"),
)
ONLY_ROUTES = {"strategies": ("add-nat-route",)}
ONLY_ENDPOINT = {"strategies": ("lambda-endpoint",), "allow_endpoint_creation": True}
ONLY_MOVE = {"strategies": ("keep-private-subnets",)}


def _plan(world: RegionInventory, **settings: Any) -> Plan:
    pol: Policy = fx.policy(**settings)
    return build_plan(fx.inventory(world), pol, fx.NOW)


def _kinds(p: Plan) -> list[str]:
    return sorted(c.kind for c in p.changes)


def _fn_findings(p: Plan, name: str = "fn") -> list[Finding]:
    return [f for f in p.findings if f.function == name and f.qualifier == "$LATEST"]


def _owned(world: RegionInventory, vpc_owner: str = "", subnet_owner: str = "") -> RegionInventory:
    vpcs = [v.model_copy(update={"owner_id": vpc_owner}) for v in world.vpcs]
    subnets = [s.model_copy(update={"owner_id": subnet_owner}) for s in world.subnets]
    return fx.add(world, *vpcs, *subnets)


def _isolated(functions: list[str]) -> RegionInventory:
    return fx.vpc_world(
        "a", azs="ab", isolated_tables="own", functions=[fx.function("fn", functions)]
    )


# ------------------------------------------------------------------ shared VPC

SHARED_CASES = [
    # (id, vpc owner, subnet owner, settings, subnets, kinds planned)
    ("own-route", "", "", ONLY_ROUTES, ["subnet-a-iso-a"], [ROUTE]),
    ("owner-is-self-route", fx.ACCOUNT, fx.ACCOUNT, ONLY_ROUTES, ["subnet-a-iso-a"], [ROUTE]),
    ("vpc-shared-route", OTHER, "", ONLY_ROUTES, ["subnet-a-iso-a"], []),
    ("subnet-shared-route", "", OTHER, ONLY_ROUTES, ["subnet-a-iso-a"], []),
    ("own-endpoint", "", "", ONLY_ENDPOINT, ["subnet-a-iso-a", "subnet-a-iso-b"], [ENDPOINT]),
    ("vpc-shared-endpoint", OTHER, OTHER, ONLY_ENDPOINT, ["subnet-a-iso-a", "subnet-a-iso-b"], []),
    ("shared-move", OTHER, OTHER, ONLY_MOVE, ["subnet-a-iso-a", "subnet-a-nat-b"], [VPC_CONFIG]),
]


@pytest.mark.parametrize(
    ("vpc_owner", "subnet_owner", "settings", "subnets", "kinds"),
    [c[1:] for c in SHARED_CASES],
    ids=[c[0] for c in SHARED_CASES],
)
def test_a_shared_vpc_gets_no_route_or_endpoint_change(
    vpc_owner: str,
    subnet_owner: str,
    settings: dict[str, Any],
    subnets: list[str],
    kinds: list[str],
) -> None:
    p = _plan(_owned(_isolated(subnets), vpc_owner, subnet_owner), **settings)
    planned = sorted({k for k in _kinds(p) if k in (ROUTE, ENDPOINT, VPC_CONFIG)})
    assert planned == kinds
    if not kinds:
        blocked = [f for f in _fn_findings(p) if f.status == "blocked"]
        assert blocked
        assert all(f.manual_step and f"owned by account {OTHER}" in f.manual_step for f in blocked)


def test_a_shared_vpc_plans_no_vpc_attribute_change_either() -> None:
    world = fx.vpc_world(
        "a",
        azs="ab",
        isolated_tables="own",
        dns=(False, False),
        functions=[fx.function("fn", ["subnet-a-iso-a", "subnet-a-iso-b"])],
    )
    assert "ec2.enable-vpc-dns" in _kinds(_plan(world, **ONLY_ENDPOINT))
    assert _kinds(_plan(_owned(world, OTHER), **ONLY_ENDPOINT)) == []


# ------------------------------------------------------- repairing broken routes


def _shared_table(target: str, *, extra_fn: bool = False, **nat_kw: Any) -> RegionInventory:
    """``rtb-a-nat-a`` serves the function's ``subnet-a-nat-a`` and another
    subnet; its default route points at ``target``."""
    world = fx.vpc_world("a", azs="ab", functions=[fx.function("fn", ["subnet-a-nat-a"])])
    other = fx.subnet("subnet-a-other-a", "a", "a", cidr="10.1.99.0/24")
    table = fx.route_table(
        "rtb-a-nat-a", "a", [fx.default_route(target)], ["subnet-a-nat-a", other.subnet_id]
    )
    items: list[Any] = [other, table]
    if nat_kw:
        items.append(fx.nat(target, "a", nat_kw.pop("subnet", "subnet-a-pub-a"), **nat_kw))
    if extra_fn:
        items.append(fx.function("fn", ["subnet-a-nat-a", other.subnet_id]))
    return fx.add(world, *items)


def _no_internet_home() -> RegionInventory:
    return _shared_table("nat-a-home", subnet="subnet-a-iso-a")


REPAIR_CASES = [
    # (id, world, planned?)
    ("deleted-nat", _shared_table("nat-gone"), True),
    ("failed-nat", _shared_table("nat-a-failed", state="failed"), True),
    ("private-nat", _shared_table("nat-a-private", connectivity="private"), True),
    ("nat-without-internet", _no_internet_home(), True),
    ("both-subnets-the-functions", _shared_table("nat-gone", extra_fn=True), True),
]


@pytest.mark.parametrize(
    ("world", "planned"), [c[1:] for c in REPAIR_CASES], ids=[c[0] for c in REPAIR_CASES]
)
def test_a_broken_default_route_in_a_shared_table_is_repointed(
    world: RegionInventory, planned: bool
) -> None:
    p = _plan(world, **ONLY_ROUTES)
    routes = [c for c in p.changes if c.kind == ROUTE]
    assert bool(routes) is planned
    (change,) = routes
    assert change.target == "rtb-a-nat-a"
    assert change.after.model_dump(exclude_none=True)["NatGatewayId"] == "nat-a-a"  # same AZ
    assert change.risk == "high"  # shared: a person still reviews it
    assert set(change.blast_radius.subnet_ids) == {"subnet-a-nat-a", "subnet-a-other-a"}


def test_a_working_route_in_the_same_shared_table_is_not_touched() -> None:
    p = _plan(_shared_table("nat-a-a"), **ONLY_ROUTES)
    assert [c for c in p.changes if c.kind == ROUTE] == []


def _isolated_shared(main: bool) -> RegionInventory:
    """The function's isolated subnet on a table (the main one, or its own)
    that another subnet uses too, with no default route."""
    world = fx.vpc_world(
        "a", azs="ab", isolated_tables="main", functions=[fx.function("fn", ["subnet-a-iso-a"])]
    )
    if main:
        return world
    table = fx.route_table("rtb-a-iso", "a", [], ["subnet-a-iso-a", "subnet-a-iso-b"])
    return fx.add(world, table)


ISOLATED_CASES = [
    ("main-table", True, {}, False),
    ("explicit-shared-table", False, {}, False),
    ("main-table-allowed", True, {"allow_shared_route_table_changes": True}, True),
    ("explicit-shared-allowed", False, {"allow_shared_route_table_changes": True}, True),
]


@pytest.mark.parametrize(
    ("main", "extra", "planned"),
    [c[1:] for c in ISOLATED_CASES],
    ids=[c[0] for c in ISOLATED_CASES],
)
def test_adding_a_default_route_to_a_shared_isolated_table_stays_opt_in(
    main: bool, extra: dict[str, Any], planned: bool
) -> None:
    p = _plan(_isolated_shared(main), **ONLY_ROUTES, **extra)
    assert bool([c for c in p.changes if c.kind == ROUTE]) is planned
    if not planned:
        blocked = [f for f in _fn_findings(p) if f.status == "blocked"]
        assert any(f.manual_step and "is shared by" in f.manual_step for f in blocked)


def test_a_shared_vpc_broken_route_is_not_repaired_either() -> None:
    world = _owned(_shared_table("nat-a-failed", state="failed"), OTHER, OTHER)
    assert [c for c in _plan(world, **ONLY_ROUTES).changes if c.kind == ROUTE] == []


def test_models_used_exist() -> None:
    assert Vpc(vpc_id="vpc-x", owner_id=OTHER).owner_id == OTHER
    assert Subnet(subnet_id="s", vpc_id="v", availability_zone="z").owner_id == ""
