"""What apply holds a plan file to besides its digest: its signature, the
risk of each change re-derived from the live state, and the findings that
justify each change. Every refusal comes before the lock and before any
write, and names the change (or the file) in one line.

* ``check_plan`` — the plan's signature (``planfile.signing``), refused when
  missing and required, stale, foreign or forged.
* ``effective_risks`` — per change, the higher of the file's risk and
  ``changes.risk.derived_risk`` on the target's state (a route table's
  associations read live), so a risk lowered in the file never lowers what
  ``--max-risk`` and approvals are checked against.
* ``refuse_unjustified`` — ``planner.justify`` on the changes that would run,
  then the live VPC of what the file alone cannot place (an endpoint, a
  security group, a VpcConfig's new subnets, a route's NAT gateway).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from remediator.aws import door
from remediator.changes import registry as kinds
from remediator.changes.registry import Change
from remediator.changes.risk import effective_risk
from remediator.domain.errors import AwsCallFailed, BadInput
from remediator.domain.plan import Risk
from remediator.planfile.model import Plan
from remediator.planfile.signing import Checked, Trust, check_plan, checked
from remediator.planner.justify import justify
from remediator.render.common import term

__all__ = [
    "Checked",
    "Trust",
    "check_plan",
    "checked",
    "effective_risks",
    "refuse_unjustified",
]

_CHUNK = 100
"""Ids per describe filter (EC2 takes up to 200 values per filter)."""
_HINT = "Re-run `remediate plan` and review the new plan; plan files must not be edited by hand."


def _after(change: Change) -> dict[str, Any]:
    after = change.model_dump(mode="json", include={"after"})["after"]
    return dict(after) if isinstance(after, dict) else {}


def _shared_tables(aws: door.Aws, changes: Sequence[Change]) -> dict[str, bool]:
    """Route table id -> whether it is shared (the main table, or explicitly
    associated with more than one subnet), as AWS has it now."""
    out: dict[str, bool] = {}
    by_region: dict[str, set[str]] = {}
    for c in changes:
        if c.kind == kinds.PUT_NAT_ROUTE:
            by_region.setdefault(c.region, set()).add(c.target)
    for region, ids in sorted(by_region.items()):
        found = aws.call(
            "ec2",
            region,
            "describe_route_tables",
            Filters=[{"Name": "route-table-id", "Values": sorted(ids)}],
        ).get("RouteTables", [])
        for rt in found:
            assoc = rt.get("Associations") or []
            subnets = {a["SubnetId"] for a in assoc if a.get("SubnetId")}
            out[rt.get("RouteTableId", "")] = any(a.get("Main") for a in assoc) or len(subnets) > 1
    return out


def effective_risks(aws: door.Aws | None, plan: Plan) -> dict[str, Risk]:
    """Change id -> the risk apply treats it as (``aws`` None: no live reads,
    a route table's sharing taken from the file's risk as a floor)."""
    shared = _shared_tables(aws, plan.changes) if aws is not None else {}
    return {
        c.id: effective_risk(
            c, shared_table=shared.get(c.target) if c.kind == kinds.PUT_NAT_ROUTE else None
        )
        for c in plan.changes
    }


def _refuse(change: Change, why: str) -> BadInput:
    return BadInput(
        term(
            f"Change {change.id} ({change.kind} {change.target}) is not justified by the plan's findings: {why}."
        ),
        hint=_HINT,
    )


def _vpc_of(aws: door.Aws, region: str, kind: str, ids: list[str]) -> dict[str, str]:
    """Resource id -> its VPC id, for what exists of ``ids``."""
    if kind == "subnet":
        found = aws.call(
            "ec2", region, "describe_subnets", Filters=[{"Name": "subnet-id", "Values": ids}]
        ).get("Subnets", [])
        return {s["SubnetId"]: s.get("VpcId", "") for s in found}
    if kind == "sg":
        found = aws.call(
            "ec2", region, "describe_security_groups", Filters=[{"Name": "group-id", "Values": ids}]
        ).get("SecurityGroups", [])
        return {g["GroupId"]: g.get("VpcId", "") for g in found}
    if kind == "nat":
        found = aws.call(
            "ec2",
            region,
            "describe_nat_gateways",
            Filters=[{"Name": "nat-gateway-id", "Values": ids}],
        ).get("NatGateways", [])
        return {n["NatGatewayId"]: n.get("VpcId", "") for n in found}
    out: dict[str, str] = {}
    for vpce in ids:  # one at a time: a missing id fails the whole call
        try:
            found = aws.call("ec2", region, "describe_vpc_endpoints", VpcEndpointIds=[vpce])
        except AwsCallFailed as exc:
            if "NotFound" in exc.code:
                continue
            raise
        for e in found.get("VpcEndpoints", []):
            out[e.get("VpcEndpointId", "")] = e.get("VpcId", "")
    return out


def _placed(change: Change) -> tuple[str, list[str]]:
    """What of ``change`` must lie in its function's VPC: (resource kind, ids)."""
    after = _after(change)
    if change.kind == kinds.UPDATE_VPC_CONFIG:
        return "subnet", sorted(after.get("SubnetIds") or ())
    if change.kind == kinds.PUT_NAT_ROUTE:
        return "nat", [str(after.get("NatGatewayId", ""))]
    if change.kind == kinds.AUTHORIZE_ENDPOINT_INGRESS:
        return "sg", [change.target]
    return "vpce", [change.target]


def _vpcs_of_placed(
    aws: door.Aws, placed: Sequence[tuple[str, str, list[str]]]
) -> dict[tuple[str, str], dict[str, str]]:
    """(region, kind) -> resource id -> VPC id, for every (region, kind, ids)
    in ``placed``: one describe per region and kind (in chunks of
    ``_CHUNK`` ids) rather than one per change; endpoints one at a time."""
    wanted: dict[tuple[str, str], set[str]] = {}
    for region, kind, ids in placed:
        wanted.setdefault((region, kind), set()).update(ids)
    out: dict[tuple[str, str], dict[str, str]] = {}
    for (region, kind), each in sorted(wanted.items()):
        ordered = sorted(each)
        found: dict[str, str] = {}
        for start in range(0, len(ordered), _CHUNK):
            found.update(_vpc_of(aws, region, kind, ordered[start : start + _CHUNK]))
        out[(region, kind)] = found
    return out


def refuse_unjustified(aws: door.Aws, plan: Plan, changes: Iterable[Change]) -> None:
    """Refuse (``BadInput``, naming the first such change) a change the plan's
    findings do not justify, or whose placed resources are not in its
    function's VPC. Reads only: the live VPC of every placed resource, read
    together (``_vpcs_of_placed``), then each change in order."""
    chosen = list(changes)
    verdict = justify(plan, chosen)
    if verdict.refused:
        change, why = verdict.refused[0]
        raise _refuse(change, why)
    placed = {c.id: _placed(c) for c in chosen if verdict.in_vpc.get(c.id)}
    live = _vpcs_of_placed(
        aws, [(c.region, *placed[c.id]) for c in chosen if c.id in placed and placed[c.id][1]]
    )
    for change in chosen:
        vpcs = verdict.in_vpc.get(change.id)
        if not vpcs:
            continue
        kind, ids = placed[change.id]
        if not ids:
            continue
        where = live[(change.region, kind)]
        # a resource that is gone is the stale check's to report
        outside = [i for i in ids if i in where and where[i] not in vpcs]
        if outside:
            raise _refuse(
                change,
                f"{outside[0]} is in {where[outside[0]] or 'no VPC'}, not in {', '.join(sorted(vpcs))}",
            )
