"""``trust.refuse_unjustified`` reads the live VPC of every placed resource of
the chosen changes together: one describe per region and kind, whatever the
number of changes, and still refuses the first change whose resource lies in
another VPC (a resource that is gone is left to the stale check)."""

from __future__ import annotations

from typing import Any

import pytest

from remediator.changes import registry
from remediator.domain.errors import BadInput
from remediator.planfile.model import Plan
from remediator.run import trust
from tests import factories as fx
from tests.unit.test_planner import plan

A = "a"


class _Ec2:
    """A door that answers DescribeSubnets from ``vpc_of`` (subnet -> VPC;
    an id not in it does not exist) and records every call."""

    def __init__(self, vpc_of: dict[str, str]) -> None:
        self.vpc_of = vpc_of
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def call(self, service: str, region: str, op: str, **params: Any) -> dict[str, Any]:
        self.calls.append((region, op, params))
        assert (service, op) == ("ec2", "describe_subnets"), (service, op)
        (flt,) = params["Filters"]
        assert flt["Name"] == "subnet-id"
        found = [
            {"SubnetId": s, "VpcId": self.vpc_of[s]} for s in flt["Values"] if s in self.vpc_of
        ]
        return {"Subnets": found}


def _three_vpc_changes() -> Plan:
    world = fx.vpc_world(A, "ab")
    fns = [
        fx.function("api", [fx.pub(A, "a"), fx.natsub(A, "a"), fx.natsub(A, "b")]),
        fx.function("jobs", [fx.pub(A, "b"), fx.natsub(A, "a")]),
        fx.function("web", [fx.pub(A, "a"), fx.natsub(A, "b")]),
    ]
    p = plan(fx.add(world, *fns))
    assert len([c for c in p.changes if c.kind == registry.UPDATE_VPC_CONFIG]) == 3
    return p


NATS = [fx.natsub(A, "a"), fx.natsub(A, "b")]


@pytest.mark.parametrize(
    ("case", "vpc_of", "refused"),
    [
        ("all in the function's VPC", {s: fx.vpc_id(A) for s in NATS}, None),
        ("one subnet gone: the stale check's", {NATS[0]: fx.vpc_id(A)}, None),
        (
            "a subnet in another VPC",
            {NATS[0]: fx.vpc_id(A), NATS[1]: "vpc-elsewhere"},
            fx.natsub(A, "b"),
        ),
    ],
)
def test_one_describe_for_every_change_and_the_same_verdict(
    case: str, vpc_of: dict[str, str], refused: str | None
) -> None:
    p = _three_vpc_changes()
    aws = _Ec2(vpc_of)
    if refused is None:
        trust.refuse_unjustified(aws, p, p.changes)  # type: ignore[arg-type]
    else:
        with pytest.raises(BadInput) as info:
            trust.refuse_unjustified(aws, p, p.changes)  # type: ignore[arg-type]
        # the first change (in plan order) that places the foreign subnet
        first = next(
            c
            for c in p.changes
            if refused in c.model_dump(mode="json")["after"].get("SubnetIds", [])
        )
        assert first.id in info.value.message and refused in info.value.message
    assert len(aws.calls) == 1, case
    (_, _, params) = aws.calls[0]
    assert params["Filters"][0]["Values"] == sorted(NATS)


def test_ids_are_read_in_chunks_within_the_filter_limit() -> None:
    ids = [f"subnet-{i:04d}" for i in range(250)]
    aws = _Ec2({i: fx.vpc_id(A) for i in ids})
    got = trust._vpcs_of_placed(
        aws, [("us-east-1", "subnet", ids[:130]), ("us-east-1", "subnet", ids[100:])]
    )  # type: ignore[arg-type]
    assert got[("us-east-1", "subnet")] == {i: fx.vpc_id(A) for i in ids}
    sizes = [len(params["Filters"][0]["Values"]) for _, _, params in aws.calls]
    assert sizes == [100, 100, 50]
