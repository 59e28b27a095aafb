"""``ec2.put-nat-route``: point one IPv4 route of a route table at a NAT gateway.

The route is named by its destination CIDR: ``0.0.0.0/0`` (the default
route), or a route that wins over it by longest-prefix match (a split
``0.0.0.0/1`` + ``128.0.0.0/1``, a more specific ``52.0.0.0/8``), one change
per route. Plan side: the fingerprint hashes that route alone
(``route_state``): for ``0.0.0.0/0`` ``{RouteTableId, DefaultRoute}`` as it
has always been, for any other destination ``{RouteTableId,
DestinationCidrBlock, Route}``, so two changes to one table never make each
other stale. ``before`` is that route (None: the table had none, and undo
deletes the route the change added).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from remediator.changes.base import Handler, Kind, Live, Results
from remediator.domain.door import Door
from remediator.domain.inventory import RouteTable
from remediator.domain.plan import ChangeBase, KindValues
from remediator.domain.wire import route_table as _route_table

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


def _ipv4_cidr(value: str) -> str:
    """``value`` when it is an IPv4 CIDR in canonical form (``10.0.0.0/8``,
    not ``10.1.0.0/8``, ``10/8`` or an IPv6 block): what AWS echoes back in
    ``DestinationCidrBlock``, so the plan and the live route compare equal."""
    try:
        net = ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an IPv4 CIDR block ({exc})") from None
    if str(net) != value:
        raise ValueError(f"{value!r} is not in canonical form (expected {str(net)!r})")
    return value


Ipv4Cidr = Annotated[
    str,
    Field(pattern=r"^[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}$"),
    AfterValidator(_ipv4_cidr),
]
"""An IPv4 destination CIDR block, validated and canonical."""


class PutNatRouteBefore(KindValues):
    """The route the table had for the destination (what rollback puts back)."""

    DestinationCidrBlock: Ipv4Cidr
    Target: str
    State: str


class PutNatRouteAfter(KindValues):
    DestinationCidrBlock: Ipv4Cidr
    NatGatewayId: str


class PutNatRouteChange(ChangeBase):
    """A route table's route for ``after.DestinationCidrBlock`` pointed at a NAT
    gateway; undo restores ``before`` (null: deletes the route). ``before``
    and ``after`` name the same destination."""

    kind: Literal["ec2.put-nat-route"]
    before: PutNatRouteBefore | None = None
    after: PutNatRouteAfter

    @model_validator(mode="after")
    def _one_destination(self) -> PutNatRouteChange:
        if self.before is not None and (
            self.before.DestinationCidrBlock != self.after.DestinationCidrBlock
        ):
            raise ValueError(
                f"before names {self.before.DestinationCidrBlock} and after "
                f"{self.after.DestinationCidrBlock}: one change repoints one route"
            )
        return self


def _route_key(destination: str) -> str:
    return "DefaultRoute" if destination == DEFAULT else "Route"


def route_state(rt: RouteTable, destination: str = DEFAULT) -> dict[str, Any]:
    """The relevant state of a route table for the fingerprint of a change to
    its route for ``destination``: that route alone (``0.0.0.0/0`` keeps the
    shape plans have always had)."""
    route = next((r for r in rt.routes if r.destination == destination), None)
    found = (
        None
        if route is None
        else {
            "DestinationCidrBlock": route.destination,
            "Target": route.target,
            "State": route.state,
        }
    )
    if destination == DEFAULT:
        return {"RouteTableId": rt.route_table_id, "DefaultRoute": found}
    return {
        "RouteTableId": rt.route_table_id,
        "DestinationCidrBlock": destination,
        "Route": found,
    }


def restore(change: PutNatRouteChange, state: Mapping[str, Any]) -> PutNatRouteBefore | None:
    """The route of ``state`` for the change's destination (None: it had none).
    A state of another destination's route is refused (``KeyError``)."""
    destination = change.after.DestinationCidrBlock
    if destination != DEFAULT and state["DestinationCidrBlock"] != destination:
        raise KeyError(destination)
    route = state[_route_key(destination)]
    if route is None:
        return None
    before = PutNatRouteBefore.model_validate(route)
    if before.DestinationCidrBlock != destination:
        raise KeyError(destination)
    return before


def _target_param(target: str) -> dict[str, str]:
    for prefix, key in _TARGET_PARAMS:
        if target.startswith(prefix):
            return {key: target}
    return {"GatewayId": target}


class PutNatRoute(Handler[PutNatRouteChange]):
    kind = NAME

    def expected_after(self, change: PutNatRouteChange) -> dict[str, Any] | None:
        destination = change.after.DestinationCidrBlock
        route = {
            "DestinationCidrBlock": destination,
            "Target": change.after.NatGatewayId,
            "State": "active",
        }
        if destination == DEFAULT:
            return {"RouteTableId": change.target, "DefaultRoute": route}
        return {"RouteTableId": change.target, "DestinationCidrBlock": destination, "Route": route}

    def read(self, aws: Door, change: PutNatRouteChange, results: Results) -> Live:
        out = aws.call("ec2", change.region, "describe_route_tables", RouteTableIds=[change.target])
        tables = out.get("RouteTables", [])
        if not tables:
            return Live({"RouteTableId": change.target, "Missing": True})
        return Live(route_state(_route_table(tables[0]), change.after.DestinationCidrBlock))

    def check(
        self, aws: Door, change: PutNatRouteChange, live: Live, results: Results
    ) -> list[str]:
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
        self, aws: Door, change: PutNatRouteChange, live: Live, results: Results
    ) -> dict[str, Any]:
        op = "create_route" if change.before is None else "replace_route"
        aws.call(
            "ec2",
            change.region,
            op,
            RouteTableId=change.target,
            DestinationCidrBlock=change.after.DestinationCidrBlock,
            NatGatewayId=change.after.NatGatewayId,
        )
        return {"Operation": op}

    def undo(self, aws: Door, change: PutNatRouteChange, result: dict[str, Any]) -> None:
        if change.before is None:
            aws.call(
                "ec2",
                change.region,
                "delete_route",
                RouteTableId=change.target,
                DestinationCidrBlock=change.after.DestinationCidrBlock,
            )
            return
        aws.call(
            "ec2",
            change.region,
            "replace_route",
            RouteTableId=change.target,
            DestinationCidrBlock=change.before.DestinationCidrBlock,
            **_target_param(change.before.Target),
        )


KIND = Kind(
    name=NAME,
    phase=3,
    summary="Add (or replace) a route table's default route, or a route that wins over it, so it points at a NAT gateway.",
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
