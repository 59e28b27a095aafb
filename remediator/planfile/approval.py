"""Approvals bound to a plan's digest.

`remediate approve PLAN --by NAME` writes an approval file naming the plan's
id and digest, who approved it, when, and up to which risk. `apply
--approval FILE` accepts it only for the plan with that exact digest, so an
approval cannot be replayed onto another (or an edited) plan.

With ``--signing-key`` the approval also lists the ids of the changes it
approves (those up to its ``max_risk``) and carries a signature over all of
it (``planfile.signing``): a hand-written approval, or one whose person,
time, risk or changes were edited, is refused where a signature is checked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError

from remediator.domain.base import Frozen
from remediator.domain.errors import ApprovalRefused, BadInput
from remediator.planfile import atomic_write
from remediator.planfile.model import Plan, Signature
from remediator.planfile.signing import (
    APPROVAL_CONTEXT,
    Checked,
    Signer,
    Trust,
    check_signature,
    make_signature,
    shown,
    signs_of,
)


class Approval(Frozen):
    kind: Literal["remediator-approval"] = "remediator-approval"
    plan_id: str
    plan_digest: str
    approved_by: str
    approved_at: str
    note: str = ""
    max_risk: Literal["low", "medium", "high"] = "high"
    # a signed approval names the changes it approves (None: unsigned, every
    # change up to ``max_risk``); both are left out of the file when absent
    change_ids: tuple[str, ...] | None = Field(default=None, exclude_if=lambda v: v is None)
    signature: Signature | None = Field(default=None, exclude_if=lambda v: v is None)

    def signs(self) -> str:
        """What a signature of this approval signs: every field but the signature."""
        return signs_of(APPROVAL_CONTEXT, self.model_dump(mode="json", exclude={"signature"}))

    def approves(self, change_id: str) -> bool:
        return self.change_ids is None or change_id in self.change_ids


def write_approval(
    plan: Plan,
    path: Path,
    *,
    by: str,
    at: str,
    note: str = "",
    max_risk: str = "high",
    signer: Signer | None = None,
    change_ids: tuple[str, ...] = (),
) -> Approval:
    """Write the approval; with ``signer``, it lists ``change_ids`` (the
    changes up to ``max_risk``) and is signed."""
    if not by.strip():
        raise BadInput("--by must name who approves.", hint="Pass --by 'Your Name'.")
    approval = Approval(
        plan_id=plan.plan_id,
        plan_digest=plan.digest,
        approved_by=by,
        approved_at=at,
        note=note,
        max_risk=max_risk,
        change_ids=tuple(sorted(change_ids)) if signer is not None else None,
    )
    if signer is not None:
        approval = approval.model_copy(
            update={"signature": make_signature(signer, approval.signs())}
        )
    atomic_write(
        path, json.dumps(approval.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"
    )
    return approval


def read_approval(path: Path, plan: Plan, trust: Trust | None = None) -> Approval:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        approval = Approval.model_validate(data)
    except FileNotFoundError:
        raise BadInput(
            f"Approval file {path} does not exist.",
            hint="Create one with `remediate approve PLAN --by NAME`.",
        ) from None
    except RecursionError:
        raise BadInput(
            f"Approval file {path} is nested too deeply to be an approval.",
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
    check_approval(approval, trust or Trust(), str(path))
    unknown = sorted(set(approval.change_ids or ()) - {c.id for c in plan.changes})
    if unknown:
        raise ApprovalRefused(
            f"Approval {path} names change(s) the plan does not have: {', '.join(shown(u, 24) for u in unknown[:3])}.",
            hint="Approve this plan: `remediate approve PLAN --by NAME`.",
        )
    return approval


def check_approval(approval: Approval, trust: Trust, source: str) -> Checked:
    return check_signature(approval.signature, approval.signs(), trust, f"Approval {source}")
