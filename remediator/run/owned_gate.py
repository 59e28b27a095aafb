"""Which changes to owned functions a run must not make (docs/iac.md).

The planner already leaves out what a plan's own policy excludes; this gate
holds the line when the policy at apply time says otherwise (``skip``,
``patch-only``) and, for unattended runs (``auto``, ``event``), holds every
direct change to an owned function for review unless the policy says
``owned_functions = "apply"`` explicitly."""

from __future__ import annotations

from remediator.changes.registry import Change
from remediator.domain.inventory import Function
from remediator.domain.policy import Policy
from remediator.planfile.model import Plan


def _settings_of(plan: Plan, change: Change, policy: Policy) -> list[str | None]:
    """The ``owned_functions`` of each function ``change`` fixes, as the
    policy sees it from the tags the plan recorded."""
    by_id = {f.id: f for f in plan.findings}
    summaries = {(s.region, s.arn): s for s in plan.functions}
    modes: list[str | None] = []
    for finding_id in change.fixes:
        finding = by_id.get(finding_id)
        if finding is None:
            continue
        summary = summaries.get((finding.region, finding.function_arn))
        tags = dict(summary.policy_tags) if summary is not None else {}
        fn = Function(name=finding.function, arn=finding.function_arn, tags=tags)
        modes.append(policy.settings_for(fn).owned_functions)
    return modes


def owned_refusals(plan: Plan, policy: Policy, *, hold: bool) -> dict[str, str]:
    """Change id -> why it must not run, for changes to owned functions."""
    out: dict[str, str] = {}
    for change in plan.changes:
        owner = change.owner
        if owner is None:
            continue
        modes = _settings_of(plan, change, policy) or [None]
        excluded = next((m for m in modes if m in ("skip", "patch-only")), None)
        if excluded is not None:
            out[change.id] = (
                f'{owner.describe()} owns the function and the policy says owned_functions = "{excluded}": '
                "no direct change (deploy the template patch: remediate iac-patch)"
            )
        elif hold and any(m != "apply" for m in modes):
            out[change.id] = (
                f"{owner.describe()} owns the function: an unattended run holds direct changes to "
                'owned functions for review (the policy may say owned_functions = "apply"); '
                "the template patch is beside the plan"
            )
    return out
