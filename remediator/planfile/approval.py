"""Approvals bound to a plan's digest.

`remediate approve PLAN --by NAME` writes an approval file naming the plan's
id and digest, who approved it, when, and up to which risk. `apply
--approval FILE` accepts it only for the plan with that exact digest, so an
approval cannot be replayed onto another (or an edited) plan.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from remediator.domain.base import Frozen
from remediator.domain.errors import ApprovalRefused, BadInput
from remediator.planfile import atomic_write
from remediator.planfile.model import Plan


class Approval(Frozen):
    kind: Literal["remediator-approval"] = "remediator-approval"
    plan_id: str
    plan_digest: str
    approved_by: str
    approved_at: str
    note: str = ""
    max_risk: Literal["low", "medium", "high"] = "high"


def write_approval(
    plan: Plan, path: Path, *, by: str, at: str, note: str = "", max_risk: str = "high"
) -> Approval:
    if not by.strip():
        raise BadInput("--by must name who approves.", hint="Pass --by 'Your Name'.")
    approval = Approval(
        plan_id=plan.plan_id,
        plan_digest=plan.digest,
        approved_by=by,
        approved_at=at,
        note=note,
        max_risk=max_risk,
    )
    atomic_write(
        path, json.dumps(approval.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"
    )
    return approval


def read_approval(path: Path, plan: Plan) -> Approval:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        approval = Approval.model_validate(data)
    except FileNotFoundError:
        raise BadInput(
            f"Approval file {path} does not exist.",
            hint="Create one with `remediate approve PLAN --by NAME`.",
        ) from None
    except (json.JSONDecodeError, ValidationError, UnicodeDecodeError, OSError):
        raise BadInput(
            f"{path} is not an approval file.",
            hint="Create one with `remediate approve PLAN --by NAME`.",
        ) from None
    if approval.plan_digest != plan.digest or approval.plan_id != plan.plan_id:
        raise ApprovalRefused(
            f"Approval {path} is for plan {approval.plan_id} ({approval.plan_digest[:19]}…), not for {plan.plan_id} ({plan.digest[:19]}…).",
            hint="Approve this plan: `remediate approve PLAN --by NAME`.",
        )
    return approval
