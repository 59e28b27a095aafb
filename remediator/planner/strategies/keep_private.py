"""``keep-private-subnets``: list only the function's subnets that have
egress (NAT-routed, or routed to a target remediator does not judge); when
that would leave fewer AZs than the policy minimum, add NAT-routed subnets of
the same VPC, lost AZs first.

Never empties a function, never lists more than ``MAX_SUBNETS`` subnets,
never ends with fewer AZs than it had while the minimum is not met. When the
function leaves every isolated subnet and the VPC's endpoint does not carry
the Lambda API's DNS, the endpoint findings are moot and fixed too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from remediator.changes import registry as kinds
from remediator.changes.lambda_vpc_config import vpc_config_state, vpc_config_values
from remediator.changes.risk import change_risk
from remediator.domain.base import construct
from remediator.domain.canonical import state_hash
from remediator.domain.findings import AZ_BELOW_MIN, ENDPOINT_CODES, SUBNET_CODES
from remediator.domain.inventory import Subnet
from remediator.domain.plan import BlastRadius, Finding, Fingerprint
from remediator.planner.strategies.base import (
    Blocked,
    Context,
    Proposal,
    ProposedChange,
    Strategy,
)

NAME = "keep-private-subnets"
MAX_SUBNETS = 16
CODES = SUBNET_CODES | {AZ_BELOW_MIN} | ENDPOINT_CODES
MANUAL = (
    "list only subnets whose route table sends internet traffic (0.0.0.0/0, or the more "
    "specific routes that win over it) to a working NAT gateway"
)


def _by_room(ctx: Context, vpc_id: str) -> tuple[Subnet, ...]:
    """The VPC's NAT-routed subnets with free addresses, most free first
    (then by id); once per VPC and region index."""
    key = (NAME, "by-room", vpc_id)
    found: tuple[Subnet, ...] | None = ctx.region_index.planner_memo.get(key)
    if found is None:
        found = ctx.region_index.planner_memo[key] = tuple(
            sorted(
                (
                    s
                    for s in ctx.region_index.nat_subnets(vpc_id)
                    if s.available_ip_address_count > 0
                ),
                key=lambda s: (-s.available_ip_address_count, s.subnet_id),
            )
        )
    return found


def _new_subnets(ctx: Context) -> tuple[list[str], list[str], set[str | None]]:
    """(kept, added, AZs after): what works stays, NAT-routed subnets are
    added while the AZ floor is not met. A function of the verdict and the
    AZ floor alone, worked out once per verdict (``ConfigVerdict.memo``);
    each call gets its own lists."""
    key = (NAME, "new-subnets", ctx.settings.min_azs)
    found: tuple[tuple[str, ...], tuple[str, ...], frozenset[str | None]] | None = (
        ctx.verdict.memo.get(key)
    )
    if found is None:
        kept, added, kept_azs = _choose_subnets(ctx, set(ctx.verdict.azs))
        found = ctx.verdict.memo[key] = (tuple(kept), tuple(added), frozenset(kept_azs))
    return list(found[0]), list(found[1]), set(found[2])


def _choose_subnets(
    ctx: Context, before_azs: set[str]
) -> tuple[list[str], list[str], set[str | None]]:
    verdict, settings = ctx.verdict, ctx.settings
    assert verdict.vpc_id is not None
    # keep what works and what remediator does not judge (transit gateway,
    # peering…): only subnets known to have no egress are dropped
    kept = [s.subnet_id for s in verdict.subnets if s.egress in ("nat", "other")]
    az_of = {s.subnet_id: s.availability_zone for s in verdict.subnets}
    kept_azs = {az_of[s] for s in kept}
    added: list[str] = []
    if len(kept_azs) < settings.min_azs:
        # by (in an AZ it loses, most free addresses, id): the subnets of the
        # AZs it had first, each part in the VPC's order by room
        room = [s for s in _by_room(ctx, verdict.vpc_id) if s.subnet_id not in kept]
        candidates = [s for s in room if s.availability_zone in before_azs]
        candidates += [s for s in room if s.availability_zone not in before_azs]
        for s in candidates:
            if len(kept_azs) >= settings.min_azs or len(kept) + len(added) >= MAX_SUBNETS:
                break
            if s.availability_zone in kept_azs:
                continue
            added.append(s.subnet_id)
            kept_azs.add(s.availability_zone)
    return kept, added, kept_azs


def _fingerprint(ctx: Context, state: dict[str, Any], revision_id: str | None) -> Fingerprint:
    """``fingerprint(state, revision_id)``, the state's hash worked out once
    per VpcConfig state in the region (functions share configs): the state
    holds only the sorted subnet and group ids and the dual-stack flag."""
    key = (
        NAME,
        "state-hash",
        *((k, tuple(v) if isinstance(v, list) else v) for k, v in state.items()),
    )
    digest: str | None = ctx.region_index.planner_memo.get(key)
    if digest is None:
        digest = ctx.region_index.planner_memo[key] = state_hash(state)
    return construct(
        Fingerprint, {"revision_id": revision_id, "state_hash": digest, "state": state}
    )


def propose(ctx: Context, findings: Sequence[Finding]) -> Proposal | Blocked:
    fn, verdict, settings = ctx.fn, ctx.verdict, ctx.settings
    assert fn.vpc_config is not None and verdict.vpc_id is not None
    current = list(fn.vpc_config.subnet_ids)
    before_azs = set(verdict.azs)
    kept, added, kept_azs = _new_subnets(ctx)
    new = sorted(set(kept) | set(added))
    if not new:
        return Blocked("no NAT-routed subnet in the VPC to move the function to")
    if len(kept_azs) < min(settings.min_azs, len(before_azs)):
        return Blocked(
            f"dropping the subnets without egress would leave {len(kept_azs)} AZ(s) and the VPC has no NAT-routed subnet in another AZ"
        )
    if len(new) > MAX_SUBNETS:
        return Blocked("the fix would list more than 16 subnets")
    if new == sorted(current):
        return Blocked("no subnet change would improve the function")
    fixes = _fixed(ctx, findings, new, len(kept_azs))
    if not fixes:
        # the change would fix nothing: the VPC lacks NAT-routed subnets in
        # enough AZs
        return Blocked(
            f"the VPC has NAT-routed subnets in only {len(kept_azs)} AZ(s); the policy asks for {settings.min_azs}"
        )
    removed = sorted(set(current) - set(new))
    groups = sorted(fn.vpc_config.security_group_ids)
    dual_stack = fn.vpc_config.ipv6_allowed_for_dual_stack
    parts = []
    if removed:
        parts.append(f"drop {', '.join(removed)} (no egress)")
    if added:
        parts.append(f"add NAT-routed {', '.join(added)} to keep {len(kept_azs)} AZ(s)")
    change = ProposedChange(
        kinds.UPDATE_VPC_CONFIG,
        fn.arn,
        # ``before`` keeps AWS's order so rollback restores the list exactly;
        # the fingerprint hashes the sorted form.
        # a dual-stack function keeps Ipv6AllowedForDualStack (Lambda
        # replaces the whole VpcConfig)
        before=vpc_config_values(current, fn.vpc_config.security_group_ids, dual_stack),
        after=vpc_config_state(new, groups, dual_stack),
        risk=change_risk(kinds.UPDATE_VPC_CONFIG, adds_subnets=bool(added)),
        reason=f"{fn.name}: " + "; ".join(parts) + ".",
        fp=_fingerprint(ctx, vpc_config_state(current, groups, dual_stack), fn.revision_id),
        blast=construct(
            BlastRadius,
            {
                "functions": (fn.name,),
                "subnet_ids": tuple(sorted(set(removed) | set(added))),
                "note": "the function's own ENIs move; no other resource changes",
            },
        ),
    )
    return Proposal((change,), fixes)


def _fixed(
    ctx: Context, findings: Sequence[Finding], new: list[str], azs_after: int
) -> tuple[Finding, ...]:
    """The subnet findings the new list fixes (the AZ floor only when it is
    met), and the endpoint findings it makes moot. Empty when it fixes no
    subnet finding."""
    subnet = [
        f
        for f in findings
        if f.code in SUBNET_CODES or (f.code == AZ_BELOW_MIN and azs_after >= ctx.settings.min_azs)
    ]
    if not subnet:
        return ()
    moot: list[Finding] = []
    if not ctx.verdict.endpoint.dns_active:
        # The endpoint mattered only to the isolated subnets; once the
        # function leaves them it does not depend on the endpoint any more.
        kept = set(new)
        if not any(s.subnet_id in kept for s in ctx.verdict.of("isolated")):
            moot = [f for f in findings if f.code in ENDPOINT_CODES]
    return (*subnet, *moot)


STRATEGY = Strategy(NAME, frozenset(CODES), MANUAL, propose, frozenset({kinds.UPDATE_VPC_CONFIG}))
