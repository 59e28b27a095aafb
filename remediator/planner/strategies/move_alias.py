"""Move an alias off a broken version: publish ``$LATEST`` once it is fixed
(or was never broken) and point the alias at the new version, only when the
code is identical (publishing must not ship unreviewed code) and the alias
has no weighted routing. Governed by ``move_aliases``, not by the policy's
strategy list."""

from __future__ import annotations

from collections.abc import Sequence

from remediator.changes import registry as kinds
from remediator.changes.risk import change_risk
from remediator.domain.canonical import fingerprint
from remediator.domain.findings import ALIAS_BROKEN
from remediator.domain.plan import BlastRadius, Finding
from remediator.planner.strategies.base import (
    Blocked,
    Context,
    Proposal,
    ProposedChange,
    Strategy,
)

NAME = "move-alias"
CODES = frozenset({ALIAS_BROKEN})
MANUAL = "publish a fixed version and move the alias by hand"


def propose(ctx: Context, findings: Sequence[Finding]) -> Proposal | Blocked:
    """``findings``: one ``alias-config-broken`` finding (one alias)."""
    (finding,) = findings
    fn, settings = ctx.fn, ctx.settings
    alias = next((a for a in fn.aliases if a.name == finding.qualifier), None)
    if alias is None:
        return Blocked("alias not found")
    if not settings.move_aliases:
        return Blocked("the policy does not move aliases (move_aliases = false)")
    if not ctx.latest_fixed:
        return Blocked("$LATEST has no planned fix, so a new version would not help")
    if alias.additional_versions:
        return Blocked("the alias has a weighted routing configuration; shift it by hand")
    version = next((v for v in fn.versions if v.version == alias.function_version), None)
    if version is None or version.code_sha256 != fn.code_sha256:
        return Blocked(
            f"$LATEST code ({fn.code_sha256[:12]}…) differs from version {alias.function_version}'s; publishing would ship unreviewed code"
        )
    alias_arn = f"{fn.arn}:{alias.name}"
    change = ProposedChange(
        kinds.MOVE_ALIAS,
        alias_arn,
        before={"FunctionVersion": alias.function_version},
        after={"FunctionVersion": "$NEW", "PublishFrom": "$LATEST", "CodeSha256": fn.code_sha256},
        risk=change_risk(kinds.MOVE_ALIAS),
        reason=f"{fn.name}:{alias.name}: publish $LATEST (same code {fn.code_sha256[:12]}…) with the fixed subnets and point the alias at it.",
        fp=fingerprint(
            {"AliasArn": alias_arn, "FunctionVersion": alias.function_version}, alias.revision_id
        ),
        blast=BlastRadius(
            functions=(fn.name,),
            note="the alias also picks up $LATEST's other configuration (same code)",
        ),
        depends_on=(ctx.latest_fix,) if ctx.latest_fix else (),
    )
    return Proposal((change,), (finding,))


STRATEGY = Strategy(NAME, CODES, MANUAL, propose, frozenset({kinds.MOVE_ALIAS}))
