"""The live-tag part of apply's freshness check.

Discovery reads tags from the Resource Groups Tagging API by default: 100
functions a call, but an index that may trail a tag added moments before the
plan. The exempt tag is a safety control, so right before the first write
apply re-reads, with Lambda's always-current ``ListTags``, the tags of every
function a chosen change is planned for, and asks the policy again. A
function whose rules would now match differently (it became exempt, or a
rule that matches on a tag now gives other settings) makes its changes
stale: like any stale target, nothing of the plan is changed and the run
exits 3 (plan again).

One ``ListTags`` per distinct function of the chosen changes (bounded by the
plan's change cap), nothing when no policy rule matches on tags.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from remediator.aws.door import Aws
from remediator.changes.registry import Change
from remediator.domain.errors import AwsCallFailed
from remediator.domain.inventory import Function
from remediator.domain.policy import Policy, Settings
from remediator.planfile.model import Plan
from remediator.run.engine import StepReport


@dataclass(frozen=True)
class _Planned:
    region: str
    name: str
    arn: str
    tags: dict[str, str]


def _functions_of(plan: Plan, change: Change) -> list[_Planned]:
    """The functions ``change`` is planned for (the findings it fixes), in a
    stable order."""
    by_id = {f.id: f for f in plan.findings}
    summaries = {(s.region, s.arn): s for s in plan.functions}
    seen: dict[str, _Planned] = {}
    for finding_id in change.fixes:
        finding = by_id.get(finding_id)
        if finding is None or finding.function_arn in seen:
            continue
        summary = summaries.get((finding.region, finding.function_arn))
        tags = dict(summary.policy_tags) if summary is not None else {}
        seen[finding.function_arn] = _Planned(
            finding.region, finding.function, finding.function_arn, tags
        )
    return [seen[arn] for arn in sorted(seen)]


def _explain(name: str, before: Settings, now: Settings, live: dict[str, str]) -> str:
    seen = ", ".join(f"{k}={v}" for k, v in sorted(live.items())) or "none"
    if now.exempt and not before.exempt:
        why = now.exempt_reason or "exempt by policy"
        return f"function {name} is exempt now ({why}); the plan was made before that tag was seen"
    return (
        f"the tags of function {name} changed since the plan (the policy's tags now: {seen}): "
        "its rules give other settings"
    )


def stale_by_tags(
    aws: Aws, plan: Plan, changes: Sequence[Change], policy: Policy
) -> list[StepReport]:
    """The chosen changes whose functions' live tags make the policy decide
    otherwise than at plan time, each with the reason."""
    if not policy.uses_tags:
        return []
    verdicts: dict[str, str | None] = {}
    stale: list[StepReport] = []
    for change in changes:
        for fn in _functions_of(plan, change):
            if fn.arn not in verdicts:
                verdicts[fn.arn] = _judge(aws, policy, fn)
            why = verdicts[fn.arn]
            if why is not None:
                stale.append(StepReport.of(change, "stale", why))
                break
    return stale


def _judge(aws: Aws, policy: Policy, fn: _Planned) -> str | None:
    try:
        response = aws.call("lambda", fn.region, "list_tags", Resource=fn.arn)
    except AwsCallFailed as exc:
        if exc.code == "ResourceNotFoundException":
            return f"function {fn.name} no longer exists"
        raise
    live_all = {str(k): str(v) for k, v in (response.get("Tags") or {}).items()}
    live = policy.policy_tags(live_all)
    if live == policy.policy_tags(fn.tags):
        return None
    before = policy.settings_for(Function(name=fn.name, arn=fn.arn, tags=fn.tags))
    now = policy.settings_for(Function(name=fn.name, arn=fn.arn, tags=live))
    if before == now:
        return None
    return _explain(fn.name, before, now, live)
