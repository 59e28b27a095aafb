"""The plan-side state of a change's target: what its fingerprint hashes (AWS names)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from remediator.domain.inventory import RouteTable


def vpc_config_state(subnet_ids: Iterable[str], group_ids: Iterable[str]) -> dict[str, Any]:
    """The relevant state of a function for its fingerprint (AWS names)."""
    return {"SubnetIds": sorted(subnet_ids), "SecurityGroupIds": sorted(group_ids)}


def route_state(rt: RouteTable) -> dict[str, Any]:
    route = next((r for r in rt.routes if r.destination == "0.0.0.0/0"), None)
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
