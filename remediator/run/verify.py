"""verify: after apply, read the touched functions again and diagnose them.

A verification passes when every finding the applied changes fix is gone
and no new finding (above ``info``) appeared on those functions. Used by
``remediate apply`` and by every target of ``remediate auto``.

``check="reachability"`` (``--verify reachability``) adds a check that is not
remediator's own model: VPC Reachability Analyzer (``aws.reachability``)
analyses the path from each Hyperplane ENI of every function a change of
subnets or a NAT route fixed (``EGRESS_KINDS``) to the
internet (TCP 443). A path not found is a failed verification. Changes that
make a function private (Lambda endpoint, DNS) are checked by the model only.
AWS bills every analysis.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from remediator.aws import discover, reachability
from remediator.aws import session as sessions
from remediator.aws.door import Aws, Settings
from remediator.aws.owner_view import AssumedRoles, OwnerViews
from remediator.changes import ec2_nat_route, lambda_vpc_config
from remediator.changes.registry import Change
from remediator.diagnose import diagnose
from remediator.diagnose.alias_reads import alias_reads_needed
from remediator.domain.errors import BadInput
from remediator.domain.inventory import Inventory
from remediator.domain.policy import Policy
from remediator.planfile.model import Plan

Verify = Callable[[Plan, list[Change]], list[str]]
"""``verify(plan, applied)``: the problems left, one line each; empty when the fix holds."""

Check = Literal["model", "reachability"]
CHECKS: tuple[str, ...] = ("model", "reachability")
EGRESS_KINDS = frozenset({lambda_vpc_config.NAME, ec2_nat_route.NAME})
"""Changes after which a function is meant to reach the internet."""


def check_option(value: str) -> Check:
    """``--verify VALUE`` checked: ``model`` or ``reachability``."""
    if value == "model":
        return "model"
    if value == "reachability":
        return "reachability"
    raise BadInput(f"--verify {value!r} is not one of {', '.join(CHECKS)}.")


def reachability_targets(
    plan: Plan, applied: list[Change], inventory: Inventory
) -> list[reachability.Target]:
    """The functions an egress change fixed, as they are now (sorted by region, name)."""
    fixed = {fid for c in applied if c.kind in EGRESS_KINDS for fid in c.fixes}
    wanted = {(f.region, f.function) for f in plan.findings if f.id in fixed}
    # a subnet move's target is the function's ARN
    wanted |= {(c.region, c.target) for c in applied if c.kind == lambda_vpc_config.NAME}
    targets: list[reachability.Target] = []
    for region in inventory.regions:
        for fn in region.functions:
            named = {(region.region, fn.name), (region.region, fn.arn)}
            if not named & wanted or fn.vpc_config is None:
                continue
            igws = sorted(
                g.internet_gateway_id
                for g in region.internet_gateways
                if fn.vpc_id and fn.vpc_id in g.attached_vpc_ids
            )
            targets.append(
                reachability.Target(
                    function=fn.name,
                    region=region.region,
                    subnet_ids=fn.vpc_config.subnet_ids,
                    security_group_ids=fn.vpc_config.security_group_ids,
                    internet_gateway_id=igws[0] if igws else "",
                )
            )
    return sorted(targets, key=lambda t: (t.region, t.function))


def make_verifier(
    session: Any,
    endpoint_url: str | None,
    policy: Policy,
    *,
    check: Check = "model",
    aws: Aws | None = None,
    settings: Settings | None = None,
    by_name: bool = False,
) -> Verify:
    """A ``Verify`` that re-discovers through ``session`` (and ``endpoint_url``)
    only the functions whose findings ``applied`` fixes, under ``policy``;
    with ``check="reachability"`` also asks Reachability Analyzer (through
    ``aws``, or a door made from ``session`` with ``settings``). ``by_name``
    reads each function by name (``discover.Scope``) instead of listing the
    region's functions: an event run's verification sweeps nothing."""

    # the policy's network role: shared VPCs are judged from their owners' view again
    template = policy.network_role_arn
    owner_views = OwnerViews(AssumedRoles(), template=template) if template else None

    def verify(plan: Plan, applied: list[Change]) -> list[str]:
        fixed = {fid for c in applied for fid in c.fixes}
        names = sorted({f.function for f in plan.findings if f.id in fixed})
        if not names:
            return []
        inventory = discover.discover(
            session,
            list(plan.regions),
            endpoint_url=endpoint_url,
            function_patterns=() if by_name else names,
            scope=discover.Scope(functions=tuple(names)) if by_name else None,
            need_tags=policy.reads_tags,
            tags_from=policy.tags_from,
            tag_keys=policy.read_tag_keys,
            versions_read=policy.versions_read,
            dns_for_all_vpcs=policy.may_create_endpoints,
            owner_views=owner_views,
            needs_details=alias_reads_needed,
        )
        now = diagnose(inventory, policy)
        known = {f.id for f in plan.findings}
        problems = [
            f"{f.function}:{f.qualifier} {f.code} is still there"
            for f in now.findings
            if f.id in fixed
        ]
        problems += [
            f"{f.function}:{f.qualifier} new finding {f.code}"
            for f in now.findings
            if f.id not in known and f.severity != "info"
        ]
        if check == "reachability":
            door = aws or Aws(
                sessions.client_factory(session, endpoint_url=endpoint_url, config="write"),
                settings,
            )
            problems += reachability.check_all(door, reachability_targets(plan, applied, inventory))
        return problems

    return verify
