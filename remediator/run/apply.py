"""`remediate apply` and `remediate rollback`: the flow around the engine.

Order of checks for apply (each refusal changes nothing):
1. the plan file (format, digest) — done by ``planfile.read_plan``; its
   signature (``trust.check_plan``: refused when missing and required,
   stale, foreign or forged);
2. the credentials reach the plan's account;
3. the journal: one that names another plan is refused; a plan already
   applied is refused; an interrupted run needs ``--resume`` or
   ``remediate rollback``;
4. approvals: which changes may run (interactive answer, ``--max-risk``,
   an approval file bound to the digest, its signature checked), each
   change at the higher of its file risk and the risk re-derived from the
   live state (``trust.effective_risks``); a change the plan's findings do
   not justify is refused (``trust.refuse_unjustified``);
5. the lock for the account and regions; then the journal is read again,
   since another run may have applied the plan while this one waited at its
   prompt (what the journal says is decided under the lock only);
6. every selected target re-read and compared with its fingerprint, and the
   live tags of the functions the changes are for checked against the
   policy (``tag_gate``: the Tagging API index the plan read may trail a new
   exempt tag): any stale target refuses the whole plan (exit 3), like
   Terraform;
then the engine's walk, rollback on failure, and verification (an error
while verifying is a failed verification).

The journal is written by the engine only (``engine.Recorder``); this module
reads it to decide, and asks the engine to write.
"""

from __future__ import annotations

import getpass
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from remediator.aws import door
from remediator.changes import registry
from remediator.changes.registry import Change
from remediator.domain.errors import ApprovalRefused, BadInput
from remediator.domain.outcomes import EXIT_CODES, RUN_VERDICT, RunOutcome, Verdict
from remediator.domain.plan import RISK_ORDER, Risk, risk_rank
from remediator.domain.policy import Policy, default_policy
from remediator.planfile.approval import Approval, read_approval
from remediator.planfile.model import Plan
from remediator.run import engine, trust
from remediator.run.journal import check_folder, read_journal
from remediator.run.lock import DynamoLock, FileLock, held, lock_key, owner_info
from remediator.run.owned_gate import owned_refusals
from remediator.run.tag_gate import stale_by_tags


@dataclass
class ApplyOptions:
    dry_run: bool = False
    """Must agree with the door's mode (``aws.dry_run``), which decides."""
    max_risk: str = "low"
    approval: Path | None = None
    journal: Path | None = None
    rollback: bool = True
    resume: Path | None = None
    confirm: Callable[[str], bool] | None = None  # None: non-interactive
    confirm_each: bool = False
    lock: FileLock | DynamoLock | None = None
    now: Callable[[], str] = lambda: ""
    rollback_on_verify_failure: bool = False
    run_id: str | None = None  # a caller's run id (auto), else a new one
    policy: Policy | None = None
    """The policy whose tag rules the live tags are checked against before
    the first write (None: the built-in policy)."""
    trust: trust.Trust | None = None
    """The signing key plans and approvals are checked with, and whether a
    valid signature is required (None: unsigned, nothing required)."""
    hold_owned: bool = False
    """Hold direct changes to owned functions unless the policy says
    ``owned_functions = "apply"`` (unattended runs: ``run.owned_gate``)."""
    journal_mirror: Callable[[Path, bytes], None] | None = None
    """Where each journal line is copied before its step goes on (an S3
    out-dir: ``artifacts.journal_mirror``); None: the local file only."""


@dataclass
class Outcome:
    verdict: Verdict
    lines: list[str] = field(default_factory=list)
    journal: Path | None = None
    applied: list[str] = field(default_factory=list)
    """Changes of the plan in effect at the end of the run."""
    undone: list[str] = field(default_factory=list)
    """Changes the run applied and took back."""
    problems: list[str] = field(default_factory=list)
    """What verification found (or why it could not finish)."""

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]


Verify = Callable[[Plan, list[Change]], list[str]]

# Earlier runs whose outcome leaves nothing of theirs in effect: the plan may
# be applied again (freshness is checked anew). A rollback by
# `remediate rollback` also finishes "rolled-back".
RETRYABLE_OUTCOMES: frozenset[RunOutcome] = frozenset({"stale", "rolled-back"})


def default_journal(plan_path: Path) -> Path:
    return plan_path.with_name(plan_path.name.removesuffix(".json") + ".journal.jsonl")


def plan_of_journal(journal_path: Path) -> Path:
    """The plan file of the run a journal records: the path its header names
    (journals from before that was recorded, or a moved plan: the file beside
    the journal). ``run_rollback`` then checks the digest."""
    named = read_journal(journal_path).header.get("plan_path")
    beside = journal_path.with_name(journal_path.name.removesuffix(".journal.jsonl") + ".json")
    if isinstance(named, str) and (Path(named).exists() or not beside.exists()):
        return Path(named)
    return beside


def _closure_skip(changes: tuple[Change, ...], skipped: set[str]) -> set[str]:
    """Skip what depends on a skipped change, too."""
    out = set(skipped)
    for change in changes:
        if any(d in out for d in change.depends_on):
            out.add(change.id)
    return out


def read_approval_of(plan: Plan, opts: ApplyOptions) -> Approval | None:
    """The approval file of ``opts`` (bound to the plan, its signature checked)."""
    if opts.approval is None:
        return None
    return read_approval(opts.approval, plan, opts.trust)


def select_changes(
    plan: Plan,
    opts: ApplyOptions,
    risks: Mapping[str, Risk] | None = None,
    approval: Approval | None = None,
) -> tuple[list[Change], list[tuple[Change, str]]]:
    """Which changes may run, and why the others may not. ``risks``: each
    change's risk as apply treats it (default: ``trust.effective_risks``
    without live reads); ``approval``: the approval already read (default:
    ``opts.approval`` read here)."""
    if risks is None:
        risks = trust.effective_risks(None, plan)
    if approval is None:
        approval = read_approval_of(plan, opts)
    limit = risk_rank(opts.max_risk)
    approved = limit
    if approval is not None:
        approved = max(limit, RISK_ORDER[approval.max_risk])
    if opts.confirm is not None:
        limit = approved = RISK_ORDER["high"]  # a person answers for every change

    def allowed(c: Change) -> bool:
        rank = RISK_ORDER[risks.get(c.id, c.risk)]
        return rank <= limit or (rank <= approved and (approval is None or approval.approves(c.id)))

    needs = {
        c.id: _needs_approval(c, risks.get(c.id, c.risk), opts.max_risk)
        for c in plan.changes
        if not allowed(c)
    }
    needs.update(owned_refusals(plan, opts.policy or default_policy(), hold=opts.hold_owned))
    skipped = _closure_skip(plan.changes, set(needs))
    chosen = [c for c in plan.changes if c.id not in skipped]
    refused = [
        (c, needs.get(c.id, "depends on a change that is not applied"))
        for c in plan.changes
        if c.id in skipped
    ]
    return chosen, refused


def _needs_approval(change: Change, risk: Risk, max_risk: str) -> str:
    shown = f"risk {risk}" + (f" (the file says {change.risk})" if risk != change.risk else "")
    return f"{shown} is above --max-risk {max_risk}; needs an approval file (remediate approve)"


def _approval_record(
    opts: ApplyOptions, approval: Approval | None, checked: trust.Checked | None
) -> dict[str, Any]:
    """Who approved the run, as the journal's header records it."""
    if opts.confirm is not None:
        return {"via": "prompt", "by": _user()}
    if approval is None:
        return {"via": "max-risk", "max_risk": opts.max_risk}
    sig = approval.signature
    return {
        "via": "approval-file",
        "by": approval.approved_by,
        "at": approval.approved_at,
        "max_risk": approval.max_risk,
        "signature": checked,
        "key_id": sig.key_id if sig is not None else None,
    }


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (a container)
        return ""


def _step_line(step: engine.StepReport) -> str:
    return f"  {step.outcome:<12} {step.change_id}  {step.kind}  {step.target}" + (
        f"\n               {step.detail}" if step.detail else ""
    )


@dataclass
class _Prior:
    """What the journal says of earlier runs of the plan."""

    done: dict[str, dict[str, Any]] = field(default_factory=dict)
    uncertain: set[str] = field(default_factory=set)
    partial: dict[str, dict[str, Any]] = field(default_factory=dict)
    run_id: str | None = None


def _prior_runs(plan: Plan, journal_path: Path, resume: bool) -> _Prior:
    """Read the journal; refuse one of another plan, a plan already applied,
    an interrupted run without ``--resume``, a finished run with it."""
    if not resume and not journal_path.exists():
        return _Prior()
    view = read_journal(journal_path)
    if view.header.get("plan_digest") != plan.digest:
        raise BadInput(
            f"Journal {journal_path} belongs to another plan ({view.header.get('plan_id')}), not {plan.plan_id}.",
            hint="Pass the journal of this plan, or another --journal path.",
        )
    outcome = (view.finished or {}).get("outcome")
    if resume:
        if view.finished is not None:
            raise BadInput(f"The run in {journal_path} finished ({outcome}); nothing to resume.")
        uncertain = {cid for cid, rec in view.records.items() if rec.state == "intent"}
        # the resumed run goes on under the interrupted run's id (the journal's
        # first header), so its idempotency tokens are the ones that run sent
        header_run_id = view.header.get("run_id")
        return _Prior(
            done={cid: rec.result for cid, rec in view.records.items() if rec.state == "done"},
            uncertain=uncertain,
            partial={
                cid: view.records[cid].result for cid in uncertain if view.records[cid].result
            },
            run_id=header_run_id if isinstance(header_run_id, str) else None,
        )
    if outcome in RETRYABLE_OUTCOMES:
        return _Prior()  # nothing of the run is in effect: this run checks freshness anew
    if view.finished is not None and outcome == "applied":
        raise BadInput(
            f"Plan {plan.plan_id} was already applied (journal {journal_path}).",
            hint="Run `remediate plan` again for what is left to do.",
        )
    raise BadInput(
        f"Journal {journal_path} records an earlier run of this plan that did not finish applying ({outcome or 'interrupted'}).",
        hint=f"Continue it with `remediate apply PLAN --resume {journal_path}`, undo it with `remediate rollback {journal_path}`, or plan again.",
    )


def _approve(plan: Plan, opts: ApplyOptions, chosen: list[Change]) -> list[Change]:
    """The changes a person answering the prompt lets run."""
    if opts.confirm is None:
        return chosen
    if not opts.confirm_each:
        if not opts.confirm(
            f"Apply {len(chosen)} change(s) of plan {plan.plan_id} to account {plan.account_id}?"
        ):
            raise ApprovalRefused("Apply cancelled; nothing changed.")
        return chosen
    kept: list[Change] = []
    ids = {c.id for c in chosen}
    for change in chosen:
        if any(d not in {k.id for k in kept} and d in ids for d in change.depends_on):
            continue
        if opts.confirm(
            f"{change.kind} {change.target} (risk {change.risk}): {change.reason}\nApply this change?"
        ):
            kept.append(change)
    if not kept:
        raise ApprovalRefused("No change approved; nothing changed.")
    return kept


def _stale_by_tags(
    aws: door.Aws, plan: Plan, chosen: list[Change], done: engine.Results, opts: ApplyOptions
) -> list[engine.StepReport]:
    todo = [c for c in chosen if c.id not in done]
    return stale_by_tags(aws, plan, todo, opts.policy or default_policy())


def _dry_run(
    aws: door.Aws, plan: Plan, chosen: list[Change], lines: list[str], opts: ApplyOptions
) -> Outcome:
    reports = engine.check_plan(aws, plan, chosen)
    by_tags = {r.change_id: r for r in _stale_by_tags(aws, plan, chosen, {}, opts)}
    reports = [by_tags.get(r.change_id, r) if r.outcome == "would-apply" else r for r in reports]
    lines.append("Dry run: no change was sent. Step by step:")
    lines += [_step_line(r) for r in reports]
    stale = [r for r in reports if r.outcome == "stale"]
    invalid = [r for r in reports if r.outcome == "invalid"]
    if stale:
        lines.append(
            f"{len(stale)} target(s) changed since the plan: apply would refuse the plan (exit 3)."
        )
        return Outcome("stale", lines)
    if invalid:
        lines.append(f"{len(invalid)} change(s) would fail against the live state.")
        return Outcome("error", lines)
    lines.append(f"Dry run passed: {len(reports)} change(s) would be applied.")
    return Outcome("ok", lines)


def _is_dry_run(aws: door.Aws, opts: ApplyOptions) -> bool:
    """The mode is the door's (one value, read by the door's guard and here)."""
    if opts.dry_run and not aws.dry_run:
        raise ValueError("ApplyOptions.dry_run without a dry-run door: the door decides the mode")
    return aws.dry_run


def run_apply(
    plan: Plan,
    plan_path: Path,
    aws: door.Aws,
    opts: ApplyOptions,
    verify: Verify | None = None,
) -> Outcome:
    trusted = opts.trust or trust.Trust()
    plan_checked = trust.check_plan(plan, trusted, str(plan_path))
    region = plan.regions[0] if plan.regions else "us-east-1"
    identity = aws.call("sts", region, "get_caller_identity")
    if identity.get("Account") != plan.account_id:
        raise BadInput(
            f"The plan is for account {plan.account_id}; the credentials reach {identity.get('Account')}.",
            hint="Use credentials for the plan's account, or plan again with these.",
        )
    check_folder(plan_path.parent)
    journal_path = opts.resume or opts.journal or default_journal(plan_path)
    prior = _prior_runs(plan, journal_path, opts.resume is not None)  # refuse early, read-only
    approval = read_approval_of(plan, opts)
    approval_checked = trust.checked(approval.signature, trusted) if approval else None
    chosen, refused = select_changes(plan, opts, trust.effective_risks(aws, plan), approval)
    trust.refuse_unjustified(aws, plan, chosen)
    lines = [f"Plan {plan.plan_id}: {len(plan.changes)} change(s), {len(chosen)} selected."]
    for change, why in refused:
        lines.append(f"  needs approval {change.id}  {change.kind}  {change.target}: {why}")
    if not plan.changes:
        return Outcome("ok", [*lines, "No changes. Nothing to apply."])
    if not chosen:
        raise ApprovalRefused(
            f"No change of plan {plan.plan_id} is approved to run ({len(refused)} need approval).",
            hint="Approve with `remediate approve PLAN --by NAME` and pass --approval FILE, or raise --max-risk, or run on a terminal to answer.",
        )
    if _is_dry_run(aws, opts):
        return _dry_run(aws, plan, chosen, lines, opts)
    chosen = _approve(plan, opts, chosen)

    run_id = prior.run_id or opts.run_id or "run-" + uuid.uuid4().hex[:12]
    lock = opts.lock or FileLock(plan_path.parent / ".locks")
    with held(lock, lock_key(plan.account_id, plan.regions), owner_info(run_id, opts.now()), aws):
        # decided under the lock: another run may have applied the plan meanwhile
        prior = _prior_runs(plan, journal_path, opts.resume is not None)
        run_id = prior.run_id or run_id
        header = {
            "run_id": run_id,
            "plan_id": plan.plan_id,
            "plan_digest": plan.digest,
            "plan_path": str(plan_path.resolve()),
            "account_id": plan.account_id,
            "regions": list(plan.regions),
            "resume": bool(opts.resume),
            "approval": _approval_record(opts, approval, approval_checked),
            "plan_signature": {
                "signature": plan_checked,
                "key_id": plan.signature.key_id if plan.signature is not None else None,
            },
        }
        with engine.recording(journal_path, opts.now, header, opts.journal_mirror) as rec:
            try:
                aws.plan_id, aws.run_id = plan.plan_id, run_id
                stale = engine.preflight(
                    aws, rec, chosen, prior.done, prior.uncertain, prior.partial
                )
                if not stale:  # a stale plan is refused anyway: no tag read needed
                    stale = _stale_by_tags(aws, plan, chosen, prior.done, opts)
            except Exception as exc:
                # nothing of this run is in effect: close the record so the next
                # apply points at rollback instead of resuming blindly
                rec.finish("error", error=engine.describe_failure(exc))
                raise
            if stale:
                engine.refuse_stale(rec, stale)
                lines.append("The plan is stale; nothing was changed:")
                lines += [_step_line(r) for r in stale]
                lines.append("Run `remediate plan` again and review the new plan.")
                return Outcome("stale", lines, journal_path)
            result = engine.apply_changes(
                aws,
                plan,
                chosen,
                rec,
                rollback_on_failure=opts.rollback,
                done=prior.done,
                run_id=run_id,
            )
            lines += [_step_line(s) for s in result.steps]
            if result.outcome == "applied":
                outcome = _verify(aws, rec, plan, chosen, result, opts, verify, lines)
                if outcome.verdict == "ok" and refused:
                    lines.append(f"{len(refused)} change(s) were not applied: they need approval.")
            else:
                rec.finish(result.outcome)
                outcome = _failed_run(result, lines, journal_path)
            if rec.error is not None:
                outcome.lines.append(
                    f"Warning: the journal {journal_path} could not be written ({rec.error}); the lines above are the record of this run."
                )
            return outcome


def _verify(
    aws: door.Aws,
    rec: engine.Recorder,
    plan: Plan,
    chosen: list[Change],
    result: engine.RunResult,
    opts: ApplyOptions,
    verify: Verify | None,
    lines: list[str],
) -> Outcome:
    """Verify an applied run. An error while verifying (AccessDenied, a
    timeout, a bug) is a failed verification, never a crash with the changes
    in place; so is a journal that can no longer be written."""
    journal_path = rec.path
    applied = [c for c in chosen if c.id in result.results]
    try:
        problems = verify(plan, applied) if verify is not None else []
    except Exception as exc:
        problems = [f"verification could not finish: {engine.describe_failure(exc)}"]
    try:
        rec.verified(problems)
    except OSError:
        problems = problems or [f"the journal could not be written: {rec.error}"]
    ids = [c.id for c in applied]
    if not problems:
        rec.finish("applied")
        lines.append(
            f"Applied {len(applied)} change(s); verification passed. Journal: {journal_path}"
        )
        return Outcome("ok", lines, journal_path, ids)
    lines.append("Verification failed:")
    lines += [f"  {p}" for p in problems]
    if not (opts.rollback_on_verify_failure or rec.error is not None):
        rec.finish("verify-failed")
        return Outcome("error", lines, journal_path, ids, problems=problems)
    states = _states_before(journal_path, result)
    undo = engine.undo_changes(
        aws,
        [
            (registry.restore_point(c, states.get(c.id)), result.results[c.id])
            for c in reversed(applied)
        ],
        rec,
    )
    lines += [_step_line(s) for s in undo.steps]
    outcome: RunOutcome = "rolled-back" if not undo.left else "rollback-incomplete"
    rec.finish(outcome)
    if undo.left:
        lines.append(f"Rollback incomplete; left to undo by hand: {', '.join(undo.left)}.")
    return Outcome(RUN_VERDICT[outcome], lines, journal_path, undo.left, undo.undone, problems)


def _states_before(journal_path: Path, result: engine.RunResult) -> dict[str, dict[str, Any]]:
    """The live state each applied change's ``intent`` line recorded: this
    run's own, and (on resume) the earlier runs' from the journal. A journal
    that cannot be read back leaves the earlier runs' to the plan's ``before``
    rather than stopping the undo."""
    states: dict[str, dict[str, Any]] = {}
    try:
        for cid, r in read_journal(journal_path).records.items():
            if r.state_before is not None:
                states[cid] = r.state_before
    except (OSError, BadInput):
        pass
    states.update(result.states_before)
    return states


def _failed_run(result: engine.RunResult, lines: list[str], journal_path: Path) -> Outcome:
    """The report of a run that stopped before the end of its changes."""
    if result.outcome == "stale":
        lines.append(
            "A target changed during the run; completed changes were rolled back. Plan again."
        )
        return Outcome("stale", lines, journal_path, undone=result.undone)
    if result.outcome == "rolled-back":
        lines.append(
            f"Apply failed; the {len(result.undone)} completed change(s) were rolled back. Journal: {journal_path}"
        )
        return Outcome("rolled-back", lines, journal_path, undone=result.undone)
    if result.outcome == "failed-kept":
        lines.append(
            f"Apply failed; completed changes kept (--no-rollback): {', '.join(result.left) or 'none'}. Undo with `remediate rollback {journal_path}`."
        )
        return Outcome("error", lines, journal_path, result.left)
    lines.append(
        f"Apply failed and rollback is incomplete; left to undo by hand: {', '.join(result.left)}. Journal: {journal_path}"
    )
    return Outcome("rollback-incomplete", lines, journal_path, result.left, result.undone)


def run_rollback(
    plan: Plan,
    journal_path: Path,
    aws: door.Aws,
    confirm: Callable[[str], bool] | None,
    now: Callable[[], str],
    lock: FileLock | DynamoLock | None = None,
    trusted: trust.Trust | None = None,
) -> Outcome:
    """Undo a finished or interrupted run from its journal, newest first.

    With ``lock`` (the one apply takes for the plan's account and regions),
    the rollback holds it from its first read to its last write, so it cannot
    overlap an apply, a resumed apply or another rollback of the same account
    and regions; a held lock refuses the rollback before anything changes.
    What is left to undo is read again once the lock is held. The plan's
    signature is checked first (``trusted``), as apply checks it."""
    trust.check_plan(plan, trusted or trust.Trust(), "of the journal's run")
    todo = _rollback_todo(plan, journal_path)
    if not todo:
        return _nothing_to_roll_back(journal_path)
    if confirm is not None and not confirm(
        f"Roll back {len(todo)} change(s) recorded in {journal_path}?"
    ):
        raise ApprovalRefused("Rollback cancelled; nothing changed.")
    if lock is None:
        return _rollback(plan, journal_path, todo, aws, now)
    key = lock_key(plan.account_id, plan.regions)
    with held(lock, key, owner_info("rollback-" + uuid.uuid4().hex[:12], now()), aws):
        todo = _rollback_todo(plan, journal_path)
        if not todo:
            return _nothing_to_roll_back(journal_path)
        return _rollback(plan, journal_path, todo, aws, now)


Entry = tuple[Change, str, dict[str, Any], dict[str, Any] | None]


def _rollback_todo(plan: Plan, journal_path: Path) -> list[Entry]:
    """The journal's changes that are (or may be) in effect, in apply order."""
    check_folder(journal_path.parent)
    view = read_journal(journal_path)
    if view.header.get("plan_digest") != plan.digest:
        raise BadInput(
            f"Journal {journal_path} belongs to plan {view.header.get('plan_id')}, not {plan.plan_id}."
        )
    by_id = {c.id: c for c in plan.changes}
    return [
        (
            registry.restore_point(by_id[r.change_id], r.state_before),
            r.state,
            r.result,
            r.state_after,
        )
        for r in view.applied()
        if r.change_id in by_id
    ]


def _nothing_to_roll_back(journal_path: Path) -> Outcome:
    return Outcome(
        "ok",
        ["Nothing to roll back: every change of the run is already undone or never happened."],
        journal_path,
    )


def _rollback(
    plan: Plan,
    journal_path: Path,
    todo: list[Entry],
    aws: door.Aws,
    now: Callable[[], str],
) -> Outcome:
    lines = [f"Rolling back {len(todo)} change(s) of plan {plan.plan_id}, newest first."]
    work = engine.plan_rollback(aws, list(reversed(todo)))
    with engine.recording(journal_path, now) as rec:
        result = engine.rollback(aws, rec, work)
    lines += [_step_line(s) for s in result.steps]
    if result.left:
        lines.append(f"Rollback incomplete: {', '.join(result.left)} left as they are (see above).")
        return Outcome("rollback-incomplete", lines, journal_path, result.left, result.undone)
    lines.append("Rollback complete.")
    return Outcome("ok", lines, journal_path, undone=result.undone)
