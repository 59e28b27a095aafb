"""A planned fleet built with tests/factories.py: ``n`` functions over ten
VPCs (a third without NAT gateways), five subnet shapes per VPC and one in 50
functions exempt, so its plan has planned, blocked, healthy and exempt
functions in a few dozen distinct problems."""

from __future__ import annotations

from functools import lru_cache

from remediator.planfile.model import Plan
from remediator.planner import build_plan
from tests import factories as fx

VPCS = "abcdefghij"


@lru_cache(maxsize=4)
def fleet_plan(n: int) -> Plan:
    worlds = []
    for k, v in enumerate(VPCS):
        nat = k % 3 != 0
        functions = []
        for i in range(n // len(VPCS)):
            shape = i % 5
            if shape == 0:
                subnets = [fx.pub(v, "a"), fx.natsub(v, "a")] if nat else [fx.pub(v, "a")]
            elif shape == 1:
                subnets = [fx.pub(v, "a"), fx.pub(v, "b")]
            elif shape == 2:
                subnets = [fx.iso(v, "a")]
            elif shape == 3:
                subnets = [fx.natsub(v, "a"), fx.natsub(v, "b")] if nat else [fx.iso(v, "b")]
            else:
                subnets = [fx.pub(v, "b")]
            tags = {"remediator:exempt": "true"} if i % 50 == 7 else None
            functions.append(fx.function(f"svc-{v}-{i:05d}", subnets, v=v, tags=tags))
        worlds.append(
            fx.vpc_world(v, "ab", private=nat, nat_azs=None if nat else "", functions=functions)
        )
    return build_plan(fx.inventory(fx.merge(*worlds)), fx.policy(max_changes=10_000), fx.NOW)
