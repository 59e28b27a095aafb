"""`remediate apply` and `remediate rollback`: the flow around the executor.

Order of checks for apply (each refusal changes nothing):
1. the plan file (format, digest) — done by ``planfile.read_plan``;
2. the credentials reach the plan's account;
3. the journal: a plan already applied is refused; an interrupted run
   needs ``--resume`` or ``remediate rollback``;
4. approvals: which changes may run (interactive answer, ``--max-risk``,
   an approval file bound to the digest);
5. the lock for the account and regions;
6. every selected target re-read and compared with its fingerprint: any
   stale target refuses the whole plan (exit 3), like Terraform;
then the walk, rollback on failure, and verification.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from remediator.aws import door
from remediator.changes import handlers
from remediator.domain.errors import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_ROLLBACK_INCOMPLETE,
    EXIT_ROLLED_BACK,
    EXIT_STALE,
    ApprovalRefused,
    BadInput,
)
from remediator.domain.plan import RISK_ORDER, Change, Plan, risk_rank
from remediator.planfile.approval import read_approval
from remediator.run import engine
from remediator.run.journal import ChangeRecord, Journal, read_journal
from remediator.run.lock import DynamoLock, FileLock, held, lock_key, owner_info


@dataclass
class ApplyOptions:
    dry_run: bool = False
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


@dataclass
class Outcome:
    exit_code: int
    lines: list[str] = field(default_factory=list)
    journal: Path | None = None
    applied: list[str] = field(default_factory=list)


# Earlier runs whose outcome leaves nothing of theirs in effect: the plan may
# be applied again (freshness is checked anew). A rollback by
# `remediate rollback` also finishes "rolled-back".
RETRYABLE_OUTCOMES = frozenset({"stale", "rolled-back"})


def default_journal(plan_path: Path) -> Path:
    return plan_path.with_name(plan_path.name.removesuffix(".json") + ".journal.jsonl")


def _closure_skip(changes: tuple[Change, ...], skipped: set[str]) -> set[str]:
    """Skip what depends on a skipped change, too."""
    out = set(skipped)
    for change in changes:
        if any(d in out for d in change.depends_on):
            out.add(change.id)
    return out


def select_changes(plan: Plan, opts: ApplyOptions) -> tuple[list[Change], list[tuple[Change, str]]]:
    """Which changes may run, and why the others may not."""
    limit = risk_rank(opts.max_risk)
    if opts.approval is not None:
        approval = read_approval(opts.approval, plan)
        limit = max(limit, RISK_ORDER[approval.max_risk])
    if opts.confirm is not None:
        limit = RISK_ORDER["high"]  # a person answers for every change
    needs = {
        c.id: f"risk {c.risk} is above --max-risk {opts.max_risk}; needs an approval file (remediate approve)"
        for c in plan.changes
        if RISK_ORDER[c.risk] > limit
    }
    skipped = _closure_skip(plan.changes, set(needs))
    chosen = [c for c in plan.changes if c.id not in skipped]
    refused = [
        (c, needs.get(c.id, "depends on a change that needs approval"))
        for c in plan.changes
        if c.id in skipped
    ]
    return chosen, refused


def _step_line(step: engine.StepReport) -> str:
    return f"  {step.outcome:<12} {step.change_id}  {step.kind}  {step.target}" + (
        f"\n               {step.detail}" if step.detail else ""
    )


def run_apply(
    plan: Plan,
    plan_path: Path,
    aws: door.Aws,
    opts: ApplyOptions,
    verify: Callable[[Plan, list[Change]], list[str]] | None = None,
) -> Outcome:
    region = plan.regions[0] if plan.regions else "us-east-1"
    identity = aws.call("sts", region, "get_caller_identity")
    if identity.get("Account") != plan.account_id:
        raise BadInput(
            f"The plan is for account {plan.account_id}; the credentials reach {identity.get('Account')}.",
            hint="Use credentials for the plan's account, or plan again with these.",
        )
    journal_path = opts.resume or opts.journal or default_journal(plan_path)
    done: dict[str, dict[str, Any]] = {}
    uncertain: set[str] = set()
    partial_results: dict[str, dict[str, Any]] = {}
    resumed_run_id: str | None = None
    if opts.resume is not None:
        view = read_journal(opts.resume)
        if view.header.get("plan_digest") != plan.digest:
            raise BadInput(
                f"Journal {opts.resume} belongs to another plan ({view.header.get('plan_id')})."
            )
        if view.finished is not None:
            raise BadInput(
                f"The run in {opts.resume} finished ({view.finished.get('outcome')}); nothing to resume."
            )
        done = {cid: rec.result for cid, rec in view.records.items() if rec.state == "done"}
        uncertain = {cid for cid, rec in view.records.items() if rec.state == "intent"}
        partial_results = {
            cid: view.records[cid].result for cid in uncertain if view.records[cid].result
        }
        # the resumed run goes on under the interrupted run's id (the journal's
        # first header), so its idempotency tokens are the ones that run sent
        header_run_id = view.header.get("run_id")
        resumed_run_id = header_run_id if isinstance(header_run_id, str) else None
    elif journal_path.exists():
        view = read_journal(journal_path)
        outcome = (view.finished or {}).get("outcome")
        if outcome in RETRYABLE_OUTCOMES:
            pass  # nothing of the run is in effect: this run checks freshness anew
        elif view.finished is not None and outcome == "applied":
            raise BadInput(
                f"Plan {plan.plan_id} was already applied (journal {journal_path}).",
                hint="Run `remediate plan` again for what is left to do.",
            )
        else:
            raise BadInput(
                f"Journal {journal_path} records an earlier run of this plan that did not finish applying ({(view.finished or {}).get('outcome', 'interrupted')}).",
                hint=f"Continue it with `remediate apply PLAN --resume {journal_path}`, undo it with `remediate rollback {journal_path}`, or plan again.",
            )

    chosen, refused = select_changes(plan, opts)
    lines = [f"Plan {plan.plan_id}: {len(plan.changes)} change(s), {len(chosen)} selected."]
    for change, why in refused:
        lines.append(f"  needs approval {change.id}  {change.kind}  {change.target}: {why}")
    if not plan.changes:
        return Outcome(EXIT_OK, [*lines, "No changes. Nothing to apply."])
    if not chosen:
        raise ApprovalRefused(
            f"No change of plan {plan.plan_id} is approved to run ({len(refused)} need approval).",
            hint="Approve with `remediate approve PLAN --by NAME` and pass --approval FILE, or raise --max-risk, or run on a terminal to answer.",
        )
    if opts.confirm is not None and not opts.dry_run:
        if opts.confirm_each:
            kept: list[Change] = []
            for change in chosen:
                if any(
                    d not in {k.id for k in kept} and d in {c.id for c in chosen}
                    for d in change.depends_on
                ):
                    continue
                if opts.confirm(
                    f"{change.kind} {change.target} (risk {change.risk}): {change.reason}\nApply this change?"
                ):
                    kept.append(change)
            chosen = kept
            if not chosen:
                raise ApprovalRefused("No change approved; nothing changed.")
        elif not opts.confirm(
            f"Apply {len(chosen)} change(s) of plan {plan.plan_id} to account {plan.account_id}?"
        ):
            raise ApprovalRefused("Apply cancelled; nothing changed.")

    if opts.dry_run:
        reports = engine.check_plan(aws, plan, chosen)
        lines.append("Dry run: no change was sent. Step by step:")
        lines += [_step_line(r) for r in reports]
        stale = [r for r in reports if r.outcome == "stale"]
        invalid = [r for r in reports if r.outcome == "invalid"]
        if stale:
            lines.append(
                f"{len(stale)} target(s) changed since the plan: apply would refuse the plan (exit 3)."
            )
            return Outcome(EXIT_STALE, lines)
        if invalid:
            lines.append(f"{len(invalid)} change(s) would fail against the live state.")
            return Outcome(EXIT_ERROR, lines)
        lines.append(f"Dry run passed: {len(reports)} change(s) would be applied.")
        return Outcome(EXIT_OK, lines)

    run_id = resumed_run_id or opts.run_id or "run-" + uuid.uuid4().hex[:12]
    lock = opts.lock or FileLock(plan_path.parent / ".locks")
    key = lock_key(plan.account_id, plan.regions)
    with (
        held(lock, key, owner_info(run_id, opts.now())),
        Journal(journal_path, clock=opts.now) as journal,
    ):
        try:
            journal.write(
                "run",
                run_id=run_id,
                plan_id=plan.plan_id,
                plan_digest=plan.digest,
                account_id=plan.account_id,
                regions=list(plan.regions),
                resume=bool(opts.resume),
            )
            # Terraform-like: a stale target refuses the whole plan before any change.
            # A change an interrupted run may have made (intent without outcome)
            # counts as done when its target already has the planned after-state,
            # or holds the whole change as its own work (an endpoint tagged with
            # its change id); part of it (journaled progress, or recognised as its
            # own: a group of its name and tag, DNS support on without hostnames)
            # is taken back and the change applied afresh. Otherwise an unchanged
            # target is applied, a changed one is stale.
            aws.plan_id, aws.run_id = plan.plan_id, run_id
            preflight = []
            for c in [c for c in chosen if c.id not in done]:
                h = handlers.handler(c.kind)
                live = handlers.safe_read(h, aws, c, done)
                stale_why = engine.is_stale(c, live)
                if stale_why and c.id in uncertain and h.expected_after(c) == live.state:
                    done[c.id] = {}
                    journal.change(
                        "done",
                        c,
                        result={},
                        state_after=live.state,
                        recovered=True,
                    )
                    continue
                if stale_why and c.id in uncertain and c.id not in partial_results:
                    own = h.own_work(aws, c, live)
                    if own is not None and own.complete:
                        h.settle(aws, c, own.result)
                        after = h.read_after(aws, c, own.result, done)
                        done[c.id] = own.result
                        journal.change(
                            "done",
                            c,
                            result=own.result,
                            state_after=after.state,
                            recovered=True,
                        )
                        continue
                    if own is not None:
                        partial_results[c.id] = own.result
                if stale_why and c.id in partial_results:
                    # the interrupted run made part of this change (e.g. a group
                    # without its rule): take that part back, then apply afresh
                    h.undo(aws, c, partial_results[c.id])
                    journal.change("undone", c, note="partial change of the interrupted run")
                    live = handlers.safe_read(h, aws, c, done)
                    stale_why = engine.is_stale(c, live)
                if stale_why:
                    preflight.append(engine.StepReport(c.id, c.kind, c.target, "stale", stale_why))
            if preflight:
                for r in preflight:
                    journal.write(
                        "skipped",
                        change_id=r.change_id,
                        kind=r.kind,
                        target=r.target,
                        error=r.detail,
                    )
                journal.write("finished", outcome="stale")
                lines.append("The plan is stale; nothing was changed:")
                lines += [_step_line(r) for r in preflight]
                lines.append("Run `remediate plan` again and review the new plan.")
                return Outcome(EXIT_STALE, lines, journal_path)
            result = engine.apply_changes(
                aws,
                plan,
                chosen,
                journal,
                rollback_on_failure=opts.rollback,
                done=done,
                run_id=run_id,
            )
            lines += [_step_line(s) for s in result.steps]
            applied = [c for c in chosen if c.id in result.results]
            if result.outcome == "applied":
                problems = verify(plan, applied) if verify is not None else []
                journal.write("verified", ok=not problems, problems=problems)
                if problems:
                    lines.append("Verification failed:")
                    lines += [f"  {p}" for p in problems]
                    if opts.rollback_on_verify_failure:
                        undo = engine.undo_changes(
                            aws, [(c, result.results[c.id]) for c in reversed(applied)], journal
                        )
                        lines += [_step_line(s) for s in undo.steps]
                        outcome = "rolled-back" if not undo.left else "rollback-incomplete"
                        journal.write("finished", outcome=outcome)
                        return Outcome(
                            EXIT_ROLLED_BACK if not undo.left else EXIT_ROLLBACK_INCOMPLETE,
                            lines,
                            journal_path,
                        )
                    journal.write("finished", outcome="verify-failed")
                    return Outcome(EXIT_ERROR, lines, journal_path, [c.id for c in applied])
                journal.write("finished", outcome="applied")
                lines.append(
                    f"Applied {len(applied)} change(s); verification passed. Journal: {journal_path}"
                )
                if refused:
                    lines.append(f"{len(refused)} change(s) were not applied: they need approval.")
                return Outcome(EXIT_OK, lines, journal_path, [c.id for c in applied])
            journal.write("finished", outcome=result.outcome)
            if result.outcome == "stale":
                lines.append(
                    "A target changed during the run; completed changes were rolled back. Plan again."
                )
                return Outcome(EXIT_STALE, lines, journal_path)
            if result.outcome == "rolled-back":
                lines.append(
                    f"Apply failed; the {len([s for s in result.steps if s.outcome == 'undone'])} completed change(s) were rolled back. Journal: {journal_path}"
                )
                return Outcome(EXIT_ROLLED_BACK, lines, journal_path)
            if result.outcome == "failed-kept":
                lines.append(
                    f"Apply failed; completed changes kept (--no-rollback): {', '.join(result.left) or 'none'}. Undo with `remediate rollback {journal_path}`."
                )
                return Outcome(EXIT_ERROR, lines, journal_path)
            lines.append(
                f"Apply failed and rollback is incomplete; left to undo by hand: {', '.join(result.left)}. Journal: {journal_path}"
            )
            return Outcome(EXIT_ROLLBACK_INCOMPLETE, lines, journal_path)
        except Exception as exc:
            # an unexpected error mid-run: close the record so the next apply
            # points at rollback instead of resuming blindly
            journal.write("finished", outcome="error", error=f"{type(exc).__name__}: {exc}")
            raise


def run_rollback(
    plan: Plan,
    journal_path: Path,
    aws: door.Aws,
    confirm: Callable[[str], bool] | None,
    now: Callable[[], str],
    lock: FileLock | DynamoLock | None = None,
) -> Outcome:
    """Undo a finished or interrupted run from its journal, newest first.

    With ``lock`` (the one apply takes for the plan's account and regions),
    the rollback holds it from its first read to its last write, so it cannot
    overlap an apply, a resumed apply or another rollback of the same account
    and regions; a held lock refuses the rollback before anything changes."""
    view = read_journal(journal_path)
    if view.header.get("plan_digest") != plan.digest:
        raise BadInput(
            f"Journal {journal_path} belongs to plan {view.header.get('plan_id')}, not {plan.plan_id}."
        )
    by_id = {c.id: c for c in plan.changes}
    todo = [rec for rec in view.applied() if rec.change_id in by_id]
    if not todo:
        return Outcome(
            EXIT_OK,
            ["Nothing to roll back: every change of the run is already undone or never happened."],
            journal_path,
        )
    lines = [f"Rolling back {len(todo)} change(s) of plan {plan.plan_id}, newest first."]
    if confirm is not None and not confirm(
        f"Roll back {len(todo)} change(s) recorded in {journal_path}?"
    ):
        raise ApprovalRefused("Rollback cancelled; nothing changed.")
    if lock is None:
        return _rollback(plan, journal_path, todo, aws, now, lines)
    key = lock_key(plan.account_id, plan.regions)
    with held(lock, key, owner_info("rollback-" + uuid.uuid4().hex[:12], now())):
        return _rollback(plan, journal_path, todo, aws, now, lines)


def _rollback(
    plan: Plan,
    journal_path: Path,
    todo: list[ChangeRecord],
    aws: door.Aws,
    now: Callable[[], str],
    lines: list[str],
) -> Outcome:
    by_id = {c.id: c for c in plan.changes}
    items = []
    expected: dict[str, dict[str, Any]] = {}
    lines_skip = []
    refused: list[engine.StepReport] = []
    for rec in reversed(todo):
        change = by_id[rec.change_id]
        h = handlers.handler(change.kind)
        if rec.state == "intent" and not rec.result:
            # Unknown outcome. Unchanged target: it never happened. The change's
            # own after-state: it happened, undo it. Anything else: someone
            # else changed the target since; leave it and say so.
            live = handlers.safe_read(h, aws, change, {})
            if live.hash == change.fingerprint.state_hash:
                lines_skip.append(f"  never-applied {change.id}  {change.kind}  {change.target}")
                continue
            expected_after = h.expected_after(change)
            own = (
                h.own_work(aws, change, live)
                if expected_after is not None and live.state != expected_after
                else None
            )
            if own is not None:
                # part of the change, recognised as its own (killed between its calls)
                items.append((change, own.result))
                continue
            if expected_after is not None and live.state != expected_after:
                refused.append(
                    engine.StepReport(
                        change.id,
                        change.kind,
                        change.target,
                        "undo-skipped",
                        f"{change.target} is neither as planned nor as this change leaves it (now {live.state}); not overwriting it",
                    )
                )
                continue
        elif rec.state_after is not None:
            expected[change.id] = rec.state_after
        items.append((change, rec.result))
    with Journal(journal_path, clock=now) as journal:
        result = engine.undo_changes(aws, items, journal, expected)
        for r in refused:
            journal.write(
                "undo-skipped", change_id=r.change_id, kind=r.kind, target=r.target, error=r.detail
            )
            result.left.append(r.change_id)
        lines += lines_skip + [_step_line(s) for s in [*refused, *result.steps]]
        journal.write(
            "finished", outcome="rolled-back" if not result.left else "rollback-incomplete"
        )
    if result.left:
        lines.append(f"Rollback incomplete: {', '.join(result.left)} left as they are (see above).")
        return Outcome(EXIT_ROLLBACK_INCOMPLETE, lines, journal_path)
    lines.append("Rollback complete.")
    return Outcome(EXIT_OK, lines, journal_path)
