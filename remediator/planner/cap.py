"""The change cap: a plan holds at most ``cap`` changes. The tail (in apply
order) is deferred, never a change without its dependencies; a finding whose
fix is not wholly in the plan is ``deferred``, a change whose findings are
all deferred goes, and a kept change lists only findings it still fixes
(verification reads ``fixes``)."""

from __future__ import annotations

from remediator.changes.registry import Change
from remediator.domain.base import replaced
from remediator.domain.plan import Finding


def apply_cap(
    changes: list[Change], findings: list[Finding], cap: int
) -> tuple[list[Change], list[Finding]]:
    if len(changes) <= cap:
        return changes, findings
    kept: list[Change] = []
    kept_ids: set[str] = set()
    for c in changes:
        if len(kept) < cap and all(d in kept_ids for d in c.depends_on):
            kept.append(c)
            kept_ids.add(c.id)
    out = []
    step = (
        f"over the policy's cap of {cap} changes per plan; run plan again after applying this one"
    )
    for f in findings:
        if f.status == "planned" and not set(f.fixed_by) <= kept_ids:
            f = replaced(
                f,
                {
                    "status": "deferred",
                    "fixed_by": (),
                    "manual_step": step,
                },
            )
        out.append(f)
    # a change whose findings were all deferred is not needed, and a kept
    # change lists only findings it still fixes (verification reads ``fixes``)
    live = {fid for f in out if f.status == "planned" for fid in f.fixed_by}
    planned_ids = {f.id for f in out if f.status == "planned"}
    kept = [
        c.model_copy(update={"fixes": tuple(x for x in c.fixes if x in planned_ids)})
        for c in kept
        if c.id in live
    ]
    return kept, out
