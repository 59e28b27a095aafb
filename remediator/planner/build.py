"""The build loop: diagnose, then for every function with findings run the
strategies and place their proposals; order the changes, apply the cap and
assemble the plan. Pure: the same inputs give the same plan, byte for byte.

Per function, filter findings first (``_filter_pass``: blocked with the
exact rule to add; egress deliberately limited to the VPC goes to
``lambda-endpoint`` when the policy lists it), then three passes, each over
findings still open on it:

1. subnet findings of ``$LATEST``: the policy's strategies in order, the
   first proposal wins; with none, every subnet finding is blocked with the
   reasons and the first strategy's manual step;
2. endpoint findings still open: ``lambda-endpoint`` alone (when listed);
3. broken aliases: ``move-alias``, once ``$LATEST`` is settled.

A proposal is placed as it is (its changes added through ``_Builder.add``,
its fixes marked ``planned``); nothing placed is edited afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from remediator import __version__
from remediator.changes import registry as kinds
from remediator.changes.registry import Change
from remediator.diagnose import RegionIndex, diagnose, judge_config
from remediator.diagnose.filters import VPC_ONLY, FilterProblem
from remediator.diagnose.findings import Diagnosis
from remediator.domain.base import gc_paused, replaced
from remediator.domain.canonical import canonical
from remediator.domain.findings import (
    ALIAS_BROKEN,
    AZ_BELOW_MIN,
    ENDPOINT_CODES,
    FILTER_CODES,
    LATEST_BROKEN_ALIAS_OK,
    PUBLIC_ALL,
    PUBLIC_MIXED,
    SUBNET_CODES,
    SUBNET_MISSING,
)
from remediator.domain.inventory import Function, Inventory
from remediator.domain.plan import Finding
from remediator.domain.policy import Policy, Settings
from remediator.planfile.digest import _canonical_sha256, _plan_digest
from remediator.planfile.model import Plan, PlanSummary
from remediator.planner import owned
from remediator.planner.builder import _Builder
from remediator.planner.cap import apply_cap
from remediator.planner.order import order
from remediator.planner.strategies import (
    LAMBDA_ENDPOINT,
    MOVE_ALIAS,
    SUBNET_STRATEGIES,
    Blocked,
    Context,
    Proposal,
    Strategy,
    keep_private,
)
from remediator.planner.texts import finding_and_summary_texts

# What a person does about a blocked finding, given the strategy's reason.
ManualStep = Callable[[str, Finding], str]


def build_plan(inventory: Inventory, policy: Policy, now: str) -> Plan:
    """Diagnose and plan. ``now`` is an ISO-8601 timestamp passed in so the
    function stays pure; everything else comes from the inputs."""
    with gc_paused():
        return _build_plan(inventory, policy, now)


def _build_plan(inventory: Inventory, policy: Policy, now: str) -> Plan:
    # One index per region, shared with diagnosis: the subnet classes and the
    # verdict of each VpcConfig are computed once for both.
    indexes = [RegionIndex(r, inventory.account_id) for r in inventory.regions]
    diagnosis = diagnose(inventory, policy, indexes=indexes)
    by_fn: dict[tuple[str, str], list[Finding]] = {}
    for f in diagnosis.findings:
        by_fn.setdefault((f.region, f.function), []).append(f)
    all_changes: dict[str, Change] = {}
    planned: list[Finding] = []
    for region_inv, index in zip(inventory.regions, indexes, strict=True):
        b = _Builder(region_inv.region, index)
        region_fns = _functions_by_vpc(index, region_inv.functions)
        for fn in region_inv.functions:
            found = by_fn.get((region_inv.region, fn.name))
            if not found or fn.vpc_config is None:
                continue
            planned.extend(_plan_function(b, fn, found, policy.settings_for(fn), region_fns))
        all_changes.update(b.changes)
    ordered = order(all_changes)
    planned.sort(key=lambda f: (f.region, f.function, f.qualifier, f.code))
    ordered, planned = apply_cap(ordered, planned, policy.max_changes)
    return _assemble(inventory, policy, now, diagnosis, planned, ordered)


def _functions_by_vpc(
    index: RegionIndex, functions: Sequence[Function]
) -> dict[str, list[Function]]:
    out: dict[str, list[Function]] = {}
    for fn in functions:
        if fn.vpc_config is None:
            continue
        vpc = judge_config(index, fn.vpc_config).vpc_id
        if vpc:
            out.setdefault(vpc, []).append(fn)
    return out


def _plan_function(
    b: _Builder,
    fn: Function,
    findings: list[Finding],
    settings: Settings,
    region_fns: Mapping[str, Sequence[Function]],
) -> list[Finding]:
    """Plan one function; return its findings with status, fixed_by, manual_step
    (and, for a function infrastructure as code owns, what the policy's
    ``owned_functions`` makes of them: ``planner.owned``)."""
    owner = next((f.owner for f in findings if f.owner is not None), None)
    if owner is None:
        return _plan_open(b, fn, findings, settings, region_fns)
    mode = settings.owned_mode
    if mode == "skip":
        return owned.skipped(findings, owner)
    if mode == "patch-only":
        scratch = _Builder(b.region, b.index)
        planned = _plan_open(scratch, fn, findings, settings, region_fns)
        return owned.patch_only(planned, scratch.placed, owner)
    b.owners[fn.arn] = owner
    return owned.with_patch(_plan_open(b, fn, findings, settings, region_fns), b.placed)


def _plan_open(
    b: _Builder,
    fn: Function,
    findings: list[Finding],
    settings: Settings,
    region_fns: Mapping[str, Sequence[Function]],
) -> list[Finding]:
    assert fn.vpc_config is not None
    verdict = judge_config(b.index, fn.vpc_config)
    ctx = Context(b.region, b.index, fn, verdict, settings, region_fns)
    out: dict[str, Finding] = {f.id: f for f in findings}
    latest = [f for f in findings if f.qualifier == "$LATEST" and f.status == "open"]
    subnet_fix = [f for f in latest if f.code in SUBNET_CODES or f.code == AZ_BELOW_MIN]
    endpoint_fix = [f for f in latest if f.code in ENDPOINT_CODES]
    missing = [f for f in latest if f.code == SUBNET_MISSING]
    for f in missing:
        out[f.id] = _blocked(
            f, "remove or replace the missing subnets by hand; remediator will not guess"
        )
    for f in latest:
        problem = verdict.filter_problem(f.code) if f.code in FILTER_CODES else None
        if problem is not None:
            _filter_pass(b, ctx, f, problem, out)
    latest_fixed, latest_fix = not verdict.broken, None
    if subnet_fix and not missing and verdict.vpc_id is not None:
        fixed, latest_fix = _subnet_pass(b, ctx, subnet_fix, endpoint_fix, out)
        latest_fixed = latest_fixed or fixed
    pending = [f for f in endpoint_fix if out[f.id].status == "open"]
    if pending and verdict.vpc_id is not None:
        outcome: Proposal | Blocked = (
            LAMBDA_ENDPOINT.propose(ctx, pending)
            if LAMBDA_ENDPOINT.name in settings.strategies
            else Blocked("the policy does not list the lambda-endpoint strategy")
        )
        _settle(b, LAMBDA_ENDPOINT, outcome, pending, out, lambda reason, f: reason + ".")
    alias_ctx: Context | None = None
    for f in findings:
        if f.code == ALIAS_BROKEN:
            if alias_ctx is None:
                alias_ctx = ctx._replace(latest_fixed=latest_fixed, latest_fix=latest_fix)
            _settle(
                b,
                MOVE_ALIAS,
                MOVE_ALIAS.propose(alias_ctx, [f]),
                [f],
                out,
                lambda reason, f: (
                    f"{reason}; publish a fixed version and move '{f.qualifier}' by hand."
                ),
            )
        elif f.code == LATEST_BROKEN_ALIAS_OK:
            out[f.id] = replaced(f, {"status": "info"})
    return [out[f.id] for f in findings]


def _filter_pass(
    b: _Builder, ctx: Context, f: Finding, problem: FilterProblem, out: dict[str, Finding]
) -> None:
    """A filter finding: blocked with the exact rule to add, except egress
    deliberately limited to the VPC, which the Lambda endpoint path serves
    when the policy lists ``lambda-endpoint`` (remediator never edits the
    customer's security groups or network ACLs)."""
    manual = f"no strategy changes filters; by hand: {problem.manual}."
    if problem.cause != VPC_ONLY or LAMBDA_ENDPOINT.name not in ctx.settings.strategies:
        out[f.id] = _blocked(f, manual)
        return
    _settle(
        b,
        LAMBDA_ENDPOINT,
        LAMBDA_ENDPOINT.propose(ctx, [f]),
        [f],
        out,
        lambda reason, f: f"{LAMBDA_ENDPOINT.name}: {reason}. By hand: {problem.manual}.",
    )


def _subnet_pass(
    b: _Builder,
    ctx: Context,
    subnet_fix: list[Finding],
    endpoint_fix: list[Finding],
    out: dict[str, Finding],
) -> tuple[bool, str | None]:
    """Try the policy's strategies in order; place the first proposal.
    Returns whether one was placed and the id of its change to ``$LATEST``'s
    VpcConfig, if it has one; with none, every subnet finding is blocked."""
    reasons: list[str] = []
    for name in ctx.settings.strategies:
        strategy = SUBNET_STRATEGIES[name]
        outcome = strategy.propose(ctx, subnet_fix + endpoint_fix)
        if isinstance(outcome, Blocked):
            reasons.append(f"{name}: {outcome.reason}")
            continue
        ids = _place(b, strategy, outcome, out)
        fixed = {f.id for f in outcome.fixes}
        for f in subnet_fix:
            if f.id not in fixed:
                out[f.id] = _blocked(
                    f,
                    "the chosen fix does not cover this; "
                    + (
                        "add a NAT-routed subnet in another AZ"
                        if f.code == AZ_BELOW_MIN
                        else keep_private.MANUAL
                    )
                    + ".",
                )
        vpc_changes = (
            i
            for i, c in zip(ids, outcome.changes, strict=True)
            if c.kind == kinds.UPDATE_VPC_CONFIG
        )
        return True, next(vpc_changes, None)
    # A public subnet's route serves other workloads: by hand, the function
    # leaves it (whatever strategy the policy lists first).
    public = any(f.code in (PUBLIC_MIXED, PUBLIC_ALL) for f in subnet_fix)
    first = (
        SUBNET_STRATEGIES[ctx.settings.strategies[0]]
        if ctx.settings.strategies and not public
        else keep_private.STRATEGY
    )
    for f in subnet_fix:
        out[f.id] = _blocked(
            f,
            ("; ".join(reasons) or "the policy lists no strategy for this function")
            + ". By hand: "
            + first.manual
            + ".",
        )
    return False, None


def _settle(
    b: _Builder,
    strategy: Strategy,
    outcome: Proposal | Blocked,
    findings: list[Finding],
    out: dict[str, Finding],
    manual: ManualStep,
) -> None:
    """Place ``outcome``, or block ``findings`` with its reason."""
    if isinstance(outcome, Proposal):
        _place(b, strategy, outcome, out)
    else:
        for f in findings:
            out[f.id] = _blocked(f, manual(outcome.reason, f))


def _place(
    b: _Builder, strategy: Strategy, proposal: Proposal, out: dict[str, Finding]
) -> tuple[str, ...]:
    """Add the proposal's changes and mark its findings planned by them."""
    assert proposal.fixes and {f.code for f in proposal.fixes} <= strategy.codes, strategy.name
    assert {c.kind for c in proposal.changes} <= strategy.kinds, strategy.name
    fixes = [f.id for f in proposal.fixes]
    ids = [
        b.add(
            c.kind,
            c.target,
            before=c.before,
            after=c.after,
            risk=c.risk,
            reason=c.reason,
            fp=c.fp,
            blast=c.blast,
            depends_on=c.depends_on,
            fixes=fixes,
            key=c.key,
        )
        for c in proposal.changes
    ]
    fixed_by = tuple(ids)
    for f in proposal.fixes:
        out[f.id] = replaced(f, {"status": "planned", "fixed_by": fixed_by})
    return fixed_by


def _blocked(f: Finding, manual_step: str) -> Finding:
    return replaced(f, {"status": "blocked", "manual_step": manual_step})


def _assemble(
    inventory: Inventory,
    policy: Policy,
    now: str,
    diagnosis: Diagnosis,
    planned: list[Finding],
    ordered: list[Change],
) -> Plan:
    statuses = [s.status for s in diagnosis.functions]
    by_risk: dict[str, int] = {}
    for c in ordered:
        by_risk[c.risk] = by_risk.get(c.risk, 0) + 1
    summary = PlanSummary(
        functions=len(statuses),
        affected=statuses.count("affected"),
        healthy=statuses.count("healthy") + statuses.count("egress-unknown"),
        exempt=statuses.count("exempt"),
        not_in_vpc=statuses.count("not-in-vpc"),
        findings=len([f for f in planned if f.status != "info"]),
        blocked=len([f for f in planned if f.status == "blocked"]),
        deferred=len([f for f in planned if f.status == "deferred"]),
        changes=len(ordered),
        changes_by_risk=dict(sorted(by_risk.items())),
    )
    regions = tuple(sorted(r.region for r in inventory.regions))
    # Each finding and change is encoded once; the same text feeds the plan id
    # and the digest, which are hashed piece by piece (_canonical_sha256).
    finding_json, function_json = finding_and_summary_texts(planned, diagnosis.functions)
    change_json = [canonical(c.model_dump(mode="json")) for c in ordered]
    plan_id = (
        "plan-"
        + _canonical_sha256(
            {
                "account_id": canonical(inventory.account_id),
                "regions": canonical(regions),
                "findings": finding_json,
                "changes": change_json,
                "policy": canonical(policy.digest()),
            }
        )[:12]
    )
    plan = Plan(
        plan_id=plan_id,
        created_at=now,
        tool_version=__version__,
        account_id=inventory.account_id,
        partition=inventory.partition,
        regions=regions,
        policy_digest=policy.digest(),
        metadata={"api_calls": dict(sorted(inventory.api_calls.items()))},
        summary=summary,
        functions=diagnosis.functions,
        findings=tuple(planned),
        changes=tuple(ordered),
    )
    return plan.model_copy(
        update={
            "digest": _plan_digest(
                plan, findings=finding_json, changes=change_json, functions=function_json
            )
        }
    )
