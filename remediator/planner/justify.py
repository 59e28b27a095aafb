"""Whether each change of a plan is justified by the plan's own findings (pure).

Apply holds a plan file to what the planner could have written, so an edit
that keeps the file well-formed (and its digest recomputed) still cannot
slip in a change nobody diagnosed. A change is justified when:

* its fingerprint's ``state_hash`` is the hash of its ``state`` (the stale
  check compares the hash, rollback restores from the state);
* it fixes at least one finding, and every finding it names is in the plan,
  ``planned``, in its region, and lists the change in ``fixed_by``;
* some strategy that fixes each finding's code declares the change's kind
  (``Strategy.kinds``);
* its target belongs to each finding's function: the function itself
  (VpcConfig), ``function:alias`` (an alias move), a route table of one of
  its subnets (a route), its VPC (VPC DNS, a new endpoint and its group).
  What the file alone cannot place (an existing endpoint or its security
  group as a target, the subnets a VpcConfig moves to, the NAT gateway a
  route points at) must be in the function's VPC: ``Justification.in_vpc``
  lists those for apply to check against the live resources. A VpcConfig
  change keeps the function's security groups (no strategy changes them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from remediator.changes import registry as kinds
from remediator.changes.registry import Change
from remediator.domain.canonical import state_hash
from remediator.domain.plan import Finding, FunctionSummary
from remediator.planfile.model import Plan
from remediator.planner.strategies import LAMBDA_ENDPOINT, MOVE_ALIAS, SUBNET_STRATEGIES, Strategy

STRATEGIES: tuple[Strategy, ...] = (*SUBNET_STRATEGIES.values(), LAMBDA_ENDPOINT, MOVE_ALIAS)

VPC_TARGETS = frozenset(
    {kinds.ENABLE_VPC_DNS, kinds.CREATE_ENDPOINT_SG, kinds.CREATE_LAMBDA_ENDPOINT}
)
"""Kinds whose target is the function's VPC id."""
IN_VPC_TARGETS = frozenset({kinds.ENABLE_ENDPOINT_PRIVATE_DNS, kinds.AUTHORIZE_ENDPOINT_INGRESS})
"""Kinds whose target (an endpoint, a security group) must lie in the function's VPC."""


def kinds_for(code: str) -> frozenset[str]:
    """Every change kind a strategy that fixes ``code`` may propose."""
    return frozenset(k for s in STRATEGIES if code in s.codes for k in s.kinds)


@dataclass
class Justification:
    refused: list[tuple[Change, str]] = field(default_factory=list)
    """Changes no finding of the plan justifies, with why (one line each)."""
    in_vpc: dict[str, frozenset[str]] = field(default_factory=dict)
    """Change id -> the VPC ids its (existing) target must be in."""


def _target_problem(
    change: Change, finding: Finding, summary: FunctionSummary | None
) -> tuple[str | None, frozenset[str]]:
    """Why ``change``'s target is not ``finding``'s function's to change (None:
    it is), and the VPCs a target the file cannot place must be in."""
    fn = finding.function_arn
    vpcs = frozenset(
        v
        for v in (
            *(e.vpc_id for e in finding.evidence),
            *(s.vpc_id for s in (summary.subnets if summary else ())),
            summary.vpc_id if summary else None,
        )
        if v
    )
    kind, target = change.kind, change.target
    if kind == kinds.UPDATE_VPC_CONFIG:
        ok = target == fn and finding.qualifier == "$LATEST"
        if not ok:
            return f"its target is not function {finding.function}", frozenset()
        after = change.model_dump(mode="json", include={"after"})["after"] or {}
        groups = change.fingerprint.state.get("SecurityGroupIds")
        if sorted(after.get("SecurityGroupIds") or ()) != sorted(groups or ()):
            return "it changes the function's security groups, which no strategy does", frozenset()
        return None, vpcs  # the new subnets must be the function's VPC's
    if kind == kinds.MOVE_ALIAS:
        ok = target == f"{fn}:{finding.qualifier}"
        return (
            None if ok else f"its target is not alias {finding.function}:{finding.qualifier}"
        ), frozenset()
    if kind == kinds.PUT_NAT_ROUTE:
        tables = {e.route_table_id for e in finding.evidence} | {
            s.route_table_id for s in (summary.subnets if summary else ())
        }
        if target not in tables:
            return f"{target} is not a route table of {finding.function}'s subnets", frozenset()
        return None, vpcs  # the NAT gateway must be in the table's VPC
    if kind in VPC_TARGETS:
        return (
            None if target in vpcs else f"{target} is not {finding.function}'s VPC"
        ), frozenset()
    if kind in IN_VPC_TARGETS:
        if not vpcs:
            return f"{finding.function} has no VPC for {target} to be in", frozenset()
        return None, vpcs
    return f"no rule places a {kind} target", frozenset()


def _problem(
    change: Change,
    findings: dict[str, Finding],
    summaries: dict[tuple[str, str], FunctionSummary],
) -> tuple[str | None, frozenset[str]]:
    if state_hash(change.fingerprint.state) != change.fingerprint.state_hash:
        return "its fingerprint's state_hash is not the hash of its state", frozenset()
    if not change.fixes:
        return "it fixes no finding of the plan", frozenset()
    vpcs: frozenset[str] | None = None
    for fid in change.fixes:
        f = findings.get(fid)
        if f is None:
            return f"it names finding {fid}, which the plan does not have", frozenset()
        if f.status != "planned" or change.id not in f.fixed_by or f.region != change.region:
            return f"finding {fid} ({f.code}) is not planned to be fixed by it", frozenset()
        if change.kind not in kinds_for(f.code):
            return (
                f"no strategy for finding {fid} ({f.code}) makes a {change.kind} change",
                frozenset(),
            )
        why, need = _target_problem(change, f, summaries.get((f.region, f.function_arn)))
        if why is not None:
            return f"finding {fid} ({f.code}) does not justify it: {why}", frozenset()
        if need:
            vpcs = need if vpcs is None else vpcs & need
    return None, vpcs or frozenset()


def justify(plan: Plan, changes: Iterable[Change] | None = None) -> Justification:
    """Check ``changes`` (default: all of the plan's) against the plan's findings."""
    findings = {f.id: f for f in plan.findings}
    summaries = {(s.region, s.arn): s for s in plan.functions}
    out = Justification()
    for change in plan.changes if changes is None else changes:
        why, vpcs = _problem(change, findings, summaries)
        if why is not None:
            out.refused.append((change, why))
        elif vpcs:
            out.in_vpc[change.id] = vpcs
    return out
