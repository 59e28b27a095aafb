"""``ec2.put-nat-route``: point a route table's default route at a NAT gateway.

Plan side: the fingerprint hashes the table's default route
(``route_state``); ``before`` is that route (None: the table had none, and
undo deletes the route the change added).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from remediator.aws.discover import _route_table
from remediator.aws.door import Aws
from remediator.changes.base import Handler, Kind, Live, Results
from remediator.domain.inventory import RouteTable
from remediator.domain.plan import ChangeBase, KindValues

NAME = "ec2.put-nat-route"
DEFAULT = "0.0.0.0/0"

# the parameter of CreateRoute/ReplaceRoute that names each kind of target
_TARGET_PARAMS = (
    ("igw-", "GatewayId"),
    ("vgw-", "GatewayId"),
    ("nat-", "NatGatewayId"),
    ("tgw-", "TransitGatewayId"),
    ("pcx-", "VpcPeeringConnectionId"),
    ("eni-", "NetworkInterfaceId"),
    ("i-", "InstanceId"),
    ("eigw-", "EgressOnlyInternetGatewayId"),
    ("lgw-", "LocalGatewayId"),
)


class PutNatRouteBefore(KindValues):
    """The default route the table had (what rollback puts back)."""

    DestinationCidrBlock: Literal["0.0.0.0/0"]
    Target: str
    State: str


class PutNatRouteAfter(KindValues):
    DestinationCidrBlock: Literal["0.0.0.0/0"]
    NatGatewayId: str


class PutNatRouteChange(ChangeBase):
    """A route table's default route pointed at a NAT gateway; undo restores ``before`` (null: deletes the route)."""

    kind: Literal["ec2.put-nat-route"]
    before: PutNatRouteBefore | None = None
    after: PutNatRouteAfter


def route_state(rt: RouteTable) -> dict[str, Any]:
    """The relevant state of a route table for its fingerprint: its default route."""
    route = next((r for r in rt.routes if r.destination == DEFAULT), None)
    return {
        "RouteTableId": rt.route_table_id,
        "DefaultRoute": None
        if route is None
        else {
            "DestinationCidrBlock": route.destination,
            "Target": route.target,
            "State": route.state,
        },
    }


def restore(change: PutNatRouteChange, state: Mapping[str, Any]) -> PutNatRouteBefore | None:
    """The default route of ``state`` (None: it had none)."""
    route = state["DefaultRoute"]
    return None if route is None else PutNatRouteBefore.model_validate(route)


def _target_param(target: str) -> dict[str, str]:
    for prefix, key in _TARGET_PARAMS:
        if target.startswith(prefix):
            return {key: target}
    return {"GatewayId": target}


class PutNatRoute(Handler[PutNatRouteChange]):
    kind = NAME

    def expected_after(self, change: PutNatRouteChange) -> dict[str, Any] | None:
        route = {
            "DestinationCidrBlock": DEFAULT,
            "Target": change.after.NatGatewayId,
            "State": "active",
        }
        return {"RouteTableId": change.target, "DefaultRoute": route}

    def read(self, aws: Aws, change: PutNatRouteChange, results: Results) -> Live:
        out = aws.call("ec2", change.region, "describe_route_tables", RouteTableIds=[change.target])
        tables = out.get("RouteTables", [])
        if not tables:
            return Live({"RouteTableId": change.target, "Missing": True})
        return Live(route_state(_route_table(tables[0])))

    def check(self, aws: Aws, change: PutNatRouteChange, live: Live, results: Results) -> list[str]:
        nat_id = change.after.NatGatewayId
        nats = aws.call("ec2", change.region, "describe_nat_gateways", NatGatewayIds=[nat_id]).get(
            "NatGateways", []
        )
        if not nats:
            return [f"{nat_id} not found"]
        if nats[0].get("State") != "available":
            return [f"{nat_id} is {nats[0].get('State')}, not available"]
        return []

    def apply(
        self, aws: Aws, change: PutNatRouteChange, live: Live, results: Results
    ) -> dict[str, Any]:
        op = "create_route" if change.before is None else "replace_route"
        aws.call(
            "ec2",
            change.region,
            op,
            RouteTableId=change.target,
            DestinationCidrBlock=DEFAULT,
            NatGatewayId=change.after.NatGatewayId,
        )
        return {"Operation": op}

    def undo(self, aws: Aws, change: PutNatRouteChange, result: dict[str, Any]) -> None:
        if change.before is None:
            aws.call(
                "ec2",
                change.region,
                "delete_route",
                RouteTableId=change.target,
                DestinationCidrBlock=DEFAULT,
            )
            return
        aws.call(
            "ec2",
            change.region,
            "replace_route",
            RouteTableId=change.target,
            DestinationCidrBlock=DEFAULT,
            **_target_param(change.before.Target),
        )


KIND = Kind(
    name=NAME,
    phase=3,
    summary="Add (or replace) a route table's default route so it points at a NAT gateway.",
    reversible=True,
    permissions=(
        "ec2:CreateRoute",
        "ec2:ReplaceRoute",
        "ec2:DeleteRoute",
        "ec2:DescribeRouteTables",
        "ec2:DescribeNatGateways",
    ),
    change=PutNatRouteChange,
    before=PutNatRouteBefore,
    after=PutNatRouteAfter,
    handler=PutNatRoute(),
    restore=restore,
)
