"""verify: after apply, read the touched functions again and diagnose them.

A verification passes when every finding the applied changes fix is gone
and no new finding (above ``info``) appeared on those functions. Used by
``remediate apply`` and by every target of ``remediate auto``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from remediator.aws import discover
from remediator.changes.registry import Change
from remediator.diagnose import diagnose
from remediator.domain.policy import Policy
from remediator.planfile.model import Plan

Verify = Callable[[Plan, list[Change]], list[str]]
"""``verify(plan, applied)``: the problems left, one line each; empty when the fix holds."""


def make_verifier(session: Any, endpoint_url: str | None, policy: Policy) -> Verify:
    """A ``Verify`` that re-discovers through ``session`` (and ``endpoint_url``)
    only the functions whose findings ``applied`` fixes, under ``policy``."""

    def verify(plan: Plan, applied: list[Change]) -> list[str]:
        fixed = {fid for c in applied for fid in c.fixes}
        names = sorted({f.function for f in plan.findings if f.id in fixed})
        if not names:
            return []
        inventory = discover.discover(
            session,
            list(plan.regions),
            endpoint_url=endpoint_url,
            function_patterns=names,
            need_tags=policy.uses_tags,
            tags_from=policy.tags_from,
            dns_for_all_vpcs=policy.may_create_endpoints,
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
        return problems

    return verify
