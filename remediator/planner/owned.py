"""Functions that infrastructure as code owns: what the policy's
``owned_functions`` makes of their findings (pure; docs/iac.md).

- ``apply`` (or unset): planned as usual; the findings a VpcConfig change
  fixes also carry ``patch_subnet_ids``, the subnets the template should
  hold, so ``remediate iac-patch`` can write the same fix into the source.
- ``patch-only``: planned on a scratch builder, nothing placed; the findings
  the VpcConfig change would fix are ``blocked`` with ``patch_subnet_ids``
  and the step "deploy the template patch"; the rest are ``blocked`` with
  what the fix would have been.
- ``skip``: every open finding ``blocked``, nothing planned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from remediator.changes import registry as kinds
from remediator.domain.base import replaced
from remediator.domain.owner import Owner
from remediator.domain.plan import Finding

# cid -> (kind, target, after) of a change placed on the builder
Placed = Callable[[str], tuple[str, str, dict[str, Any]]]

PATCH_HINT = "remediate iac-patch PLAN --out-dir DIR"


def _blocked(f: Finding, step: str, **more: Any) -> Finding:
    return replaced(f, {"status": "blocked", "manual_step": step, **more})


def skipped(findings: Sequence[Finding], owner: Owner) -> list[Finding]:
    """``skip``: nothing is planned for the function."""
    step = (
        f"{owner.describe()} owns the function and the policy says "
        'owned_functions = "skip": remediator leaves it alone; fix it in its source.'
    )
    return [_blocked(f, step) if f.status == "open" else f for f in findings]


def _subnets(f: Finding, placed: Placed) -> tuple[str, ...]:
    for cid in f.fixed_by:
        kind, _, after = placed(cid)
        if kind == kinds.UPDATE_VPC_CONFIG:
            return tuple(after.get("SubnetIds", ()))
    return ()


def with_patch(findings: Sequence[Finding], placed: Placed) -> list[Finding]:
    """``apply``: as planned, with the subnets the template should hold."""
    out = []
    for f in findings:
        subnets = _subnets(f, placed) if f.status == "planned" else ()
        out.append(replaced(f, {"patch_subnet_ids": subnets}) if subnets else f)
    return out


def patch_only(findings: Sequence[Finding], placed: Placed, owner: Owner) -> list[Finding]:
    """``patch-only``: ``findings`` as a scratch builder planned them, each
    planned one turned ``blocked`` with what to deploy instead."""
    out = []
    for f in findings:
        if f.status != "planned":
            out.append(f)
            continue
        subnets = _subnets(f, placed)
        others = sorted(
            {
                f"{kind} on {target}"
                for kind, target, _ in map(placed, f.fixed_by)
                if kind != kinds.UPDATE_VPC_CONFIG
            }
        )
        why = f'{owner.describe()} owns the function and the policy says owned_functions = "patch-only"'
        if subnets and not others:
            step = f"{why}: deploy the template patch ({PATCH_HINT}) that sets SubnetIds to {', '.join(subnets)}."
        else:
            step = (
                f"{why}: remediator makes no direct change; the fix would be "
                + "; ".join(others or ["a change to the function"])
                + (f" with SubnetIds {', '.join(subnets)} in the template" if subnets else "")
                + '. Make it in its source, or set owned_functions = "apply".'
            )
        out.append(_blocked(f, step, fixed_by=(), patch_subnet_ids=subnets))
    return out
