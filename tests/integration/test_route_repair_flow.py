"""Split default routes repaired on moto: plan -> apply -> re-plan -> rollback.

The world (VPC 10.7/16, built through the AWS API):

* ``public`` (AZ a): ``0.0.0.0/0 -> igw``, the working NAT ``nat-ok``;
* ``home`` (AZ b): no internet route, and the NAT ``nat-noinet`` in it
  (available, but without internet);
* ``dead`` (AZ a): ``0.0.0.0/1`` + ``128.0.0.0/1`` to a NAT gateway that was
  deleted, and an EC2 instance (a workload that gains egress);
* ``lost`` (AZ b): ``0.0.0.0/1`` + ``128.0.0.0/1`` to ``nat-noinet``;
* the function ``split-fn`` in ``dead`` and ``lost``.

moto differences worked around (how AWS behaves, from the VPC User Guide and
the EC2 API reference):

* AWS shows a route to a deleted NAT gateway as ``blackhole``; moto keeps it
  ``active``: an ``after-call`` hook on DescribeRouteTables rewrites it.
* AWS refuses a route to a NAT gateway that no longer exists
  (``InvalidNatGatewayID.NotFound``); moto accepts it: a
  ``before-parameter-build`` hook on CreateRoute/ReplaceRoute refuses it. So
  rollback cannot re-create a blackhole route: that undo fails and is named
  ("left to undo by hand"), as for a ``0.0.0.0/0`` blackhole today; the
  routes it could not restore keep the working NAT.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from remediator.changes import registry
from remediator.domain.outcomes import EXIT_OK, EXIT_ROLLBACK_INCOMPLETE
from remediator.domain.policy import default_policy
from remediator.planfile.model import Plan
from remediator.run.apply import ApplyOptions, run_apply, run_rollback
from remediator.run.journal import read_journal
from tests.integration.test_apply_flow import NOW, REGION, World, _nth, _text, client_error
from tests.moto_worlds import create_function

HALVES = ("0.0.0.0/1", "128.0.0.0/1")


@dataclass
class Ids:
    vpc: str
    nat_ok: str
    nat_dead: str
    nat_noinet: str
    dead_rt: str
    lost_rt: str
    instance_eni: str


class AwsRouteRules:
    """What AWS does that moto does not, for routes to a deleted NAT gateway."""

    def __init__(self) -> None:
        self.deleted: set[str] = set()

    def blackholes(self, parsed: dict[str, Any], **_: Any) -> None:
        for table in parsed.get("RouteTables", []):
            for route in table.get("Routes", []):
                if route.get("NatGatewayId") in self.deleted:
                    route["State"] = "blackhole"

    def refuse(self, params: dict[str, Any], **_: Any) -> None:
        nat = params.get("NatGatewayId")
        if nat in self.deleted:
            raise client_error("InvalidNatGatewayID.NotFound", "ReplaceRoute")


@pytest.fixture
def rules(session: boto3.session.Session) -> Iterator[AwsRouteRules]:
    """Registered on the botocore session before any client is made, so
    discovery's clients and the executor's both see AWS's behaviour."""
    aws = AwsRouteRules()
    events = session._session  # the botocore session under boto3's
    handlers = [
        ("after-call.ec2.DescribeRouteTables", aws.blackholes),
        ("before-parameter-build.ec2.ReplaceRoute", aws.refuse),
        ("before-parameter-build.ec2.CreateRoute", aws.refuse),
    ]
    for event, handler in handlers:
        events.register(event, handler)
    yield aws
    for event, handler in handlers:
        events.unregister(event, handler)


def _subnet(ec2: Any, vpc: str, block: int, az: str) -> tuple[str, str]:
    subnet = ec2.create_subnet(
        VpcId=vpc, CidrBlock=f"10.7.{block}.0/24", AvailabilityZone=f"{REGION}{az}"
    )["Subnet"]["SubnetId"]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
    return subnet, table


def _nat(ec2: Any, subnet: str) -> str:
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    return str(
        ec2.create_nat_gateway(SubnetId=subnet, AllocationId=allocation)["NatGateway"][
            "NatGatewayId"
        ]
    )


def seed(session: boto3.session.Session, rules: AwsRouteRules, *, with_dead: bool = True) -> Ids:
    """The world above; without ``with_dead`` the function is in ``lost`` alone."""
    ec2, lam, iam = session.client("ec2"), session.client("lambda"), session.client("iam")
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    public, public_rt = _subnet(ec2, vpc, 0, "a")
    ec2.create_route(RouteTableId=public_rt, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    nat_ok, nat_dead = _nat(ec2, public), _nat(ec2, public)
    home, _ = _subnet(ec2, vpc, 1, "b")
    nat_noinet = _nat(ec2, home)
    dead, dead_rt = _subnet(ec2, vpc, 10, "a")
    lost, lost_rt = _subnet(ec2, vpc, 11, "b")
    for half in HALVES:
        ec2.create_route(RouteTableId=dead_rt, DestinationCidrBlock=half, NatGatewayId=nat_dead)
        ec2.create_route(RouteTableId=lost_rt, DestinationCidrBlock=half, NatGatewayId=nat_noinet)
    ec2.delete_nat_gateway(NatGatewayId=nat_dead)
    rules.deleted.add(nat_dead)
    image = ec2.describe_images()["Images"][0]["ImageId"]
    ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=dead)
    enis = ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [dead]}])
    instance_eni = next(
        e["NetworkInterfaceId"]
        for e in enis["NetworkInterfaces"]
        if (e.get("Attachment") or {}).get("InstanceId")
    )
    group = ec2.create_security_group(GroupName="fn", Description="fn", VpcId=vpc)["GroupId"]
    role = iam.create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    create_function(lam, "split-fn", role, [dead, lost] if with_dead else [lost], [group])
    return Ids(vpc, nat_ok, nat_dead, nat_noinet, dead_rt, lost_rt, instance_eni)


@pytest.fixture
def split_world(
    session: boto3.session.Session, rules: AwsRouteRules, tmp_path: Path
) -> tuple[World, Ids]:
    return World(session=session, tmp=tmp_path), seed(session, rules)


def _halves(world: World, table: str) -> dict[str, tuple[str | None, str]]:
    routes = world.ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"][0]["Routes"]
    return {
        r["DestinationCidrBlock"]: (r.get("NatGatewayId"), r["State"])
        for r in routes
        if r.get("DestinationCidrBlock") in HALVES
    }


def _route_changes(plan: Plan) -> list[Any]:
    return [c for c in plan.changes if c.kind == registry.PUT_NAT_ROUTE]


def test_split_routes_are_repointed_and_rolled_back_where_aws_allows(
    split_world: tuple[World, Ids],
) -> None:
    world, ids = split_world
    assert _halves(world, ids.dead_rt) == {h: (ids.nat_dead, "blackhole") for h in HALVES}
    plan, path = world.plan(default_policy())
    changes = _route_changes(plan)
    got = sorted((c.target, c.after.DestinationCidrBlock, c.before.Target) for c in changes)
    assert got == sorted(
        [(ids.dead_rt, h, ids.nat_dead) for h in HALVES]
        + [(ids.lost_rt, h, ids.nat_noinet) for h in HALVES]
    )
    assert {c.after.NatGatewayId for c in changes} == {ids.nat_ok}
    dead = [c for c in changes if c.target == ids.dead_rt]
    assert all(
        [e.network_interface_id for e in c.blast_radius.network_interfaces] == [ids.instance_eni]
        for c in dead
    )
    assert [c for c in plan.changes if c.kind != registry.PUT_NAT_ROUTE] == []

    outcome = run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high"))
    assert outcome.exit_code == EXIT_OK, _text(outcome)
    for table in (ids.dead_rt, ids.lost_rt):
        assert _halves(world, table) == {h: (ids.nat_ok, "active") for h in HALVES}

    again, _ = world.plan(default_policy(), name="again.json")
    assert again.changes == ()
    assert [f for f in again.findings if f.function == "split-fn" and f.severity != "info"] == []
    assert [s.status for s in again.functions if s.name == "split-fn"] == ["healthy"]

    rolled = run_rollback(plan, outcome.journal or path, world.aws(), None, lambda: NOW)
    # the routes to the NAT without internet are restored; AWS cannot route
    # to the deleted NAT again, so those two are named and keep the working NAT
    assert rolled.exit_code == EXIT_ROLLBACK_INCOMPLETE, _text(rolled)
    assert _halves(world, ids.lost_rt) == {h: (ids.nat_noinet, "active") for h in HALVES}
    assert _halves(world, ids.dead_rt) == {h: (ids.nat_ok, "active") for h in HALVES}
    left = rolled.lines[-1]
    assert all(c.id in left for c in dead), left
    assert "InvalidNatGatewayID.NotFound" in _text(rolled)


def test_a_fault_between_the_two_replace_route_calls_leaves_a_journal_rollback_undoes(
    session: boto3.session.Session, rules: AwsRouteRules, tmp_path: Path
) -> None:
    world, ids = World(session=session, tmp=tmp_path), seed(session, rules, with_dead=False)
    plan, path = world.plan(default_policy())
    changes = _route_changes(plan)
    assert sorted(c.after.DestinationCidrBlock for c in changes) == list(HALVES)
    assert {c.target for c in changes} == {ids.lost_rt}
    before = _halves(world, ids.lost_rt)
    assert before == {h: (ids.nat_noinet, "active") for h in HALVES}

    def die(_: str) -> None:
        raise KeyboardInterrupt

    world.hooks.on("ReplaceRoute", _nth(2), die)
    with pytest.raises(KeyboardInterrupt):
        run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high"))
    journal_path = path.parent / "p.journal.jsonl"
    view = read_journal(journal_path)
    assert view.finished is None
    assert [view.records[c].state for c in view.order] == ["done", "intent"]
    first, second = (next(c for c in changes if c.id == cid) for cid in view.order)
    # one half moved to the working NAT, the other did not
    halves = _halves(world, ids.lost_rt)
    assert halves[first.after.DestinationCidrBlock] == (ids.nat_ok, "active")
    assert halves[second.after.DestinationCidrBlock] == (ids.nat_noinet, "active")

    world.hooks.rules.clear()
    rolled = run_rollback(plan, journal_path, world.aws(), None, lambda: NOW)
    assert rolled.exit_code == EXIT_OK, _text(rolled)
    assert _halves(world, ids.lost_rt) == before
    assert read_journal(journal_path).records[first.id].state == "undone"
    again = run_rollback(plan, journal_path, world.aws(), None, lambda: NOW)
    assert again.exit_code == EXIT_OK, _text(again)
    assert _halves(world, ids.lost_rt) == before
