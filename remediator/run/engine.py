"""The executor: apply a reviewed plan, exactly, or put things back.

For every change, in the plan's order: re-read the target and compare it
with the plan's fingerprint (stale -> stop), write an ``intent`` line, make
the call (Lambda's ``RevisionId`` rides along so a change between the check
and the write still fails), wait for it to settle, re-read, write ``done``.
On a failure the completed changes of the run are undone in reverse order.

Dry-run goes through the same walk with ``mutating`` calls forbidden: the
``_Aws.call`` guard raises before any non-read operation is sent, so a bug
cannot turn a dry-run into a change (moto, unlike AWS, executes calls that
carry ``DryRun=True``; remediator never relies on that flag).

One handler per change kind (``registry.handler``) knows how to read the target's
state, check the change against the live world, apply it, wait for it and
undo it. The clock, the sleep and the waiters are injectable for tests.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import structlog

from remediator.aws.door import Aws
from remediator.changes import registry
from remediator.changes.base import Handler, Live, safe_read
from remediator.changes.registry import Change
from remediator.domain.canonical import state_hash
from remediator.domain.errors import AwsCallFailed, RemediatorError
from remediator.planfile.model import Plan
from remediator.run.journal import Journal

log = structlog.get_logger(__name__)


@dataclass
class StepReport:
    change_id: str
    kind: str
    target: str
    outcome: (
        str  # ok|would-apply|stale|invalid|failed|skipped|undone|undo-failed|undo-skipped|already
    )
    detail: str = ""
    seconds: float = 0.0


@dataclass
class RunResult:
    outcome: (
        str  # applied|dry-run|stale|invalid|rolled-back|rollback-incomplete|failed-kept|nothing
    )
    steps: list[StepReport] = field(default_factory=list)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    left: list[str] = field(default_factory=list)
    # each change's live state as its ``intent`` line recorded it: what undo restores
    states_before: dict[str, dict[str, Any]] = field(default_factory=dict)


def _took_effect(
    aws: Aws, h: Handler[Any], change: Change, results: dict[str, dict[str, Any]]
) -> bool:
    """After a failed call: does the target already have the change's after-state?"""
    expected = h.expected_after(change)
    if expected is None:
        return False
    try:
        return safe_read(h, aws, change, results).state == expected
    except AwsCallFailed:
        return False


def is_stale(change: Change, live: Live) -> str | None:
    if live.hash != change.fingerprint.state_hash:
        return f"{change.target} changed since the plan (now {live.state}, planned against {change.fingerprint.state})"
    if (
        change.fingerprint.revision_id
        and live.revision_id
        and change.fingerprint.revision_id != live.revision_id
    ):
        return f"{change.target} has RevisionId {live.revision_id}, the plan saw {change.fingerprint.revision_id}"
    return None


def check_plan(aws: Aws, plan: Plan, changes: list[Change]) -> list[StepReport]:
    """Read every target and validate every change; reads only."""
    reports = []
    results: dict[str, dict[str, Any]] = {}
    for change in changes:
        h = registry.handler(change.kind)
        live = safe_read(h, aws, change, results)
        stale = is_stale(change, live)
        if stale:
            reports.append(StepReport(change.id, change.kind, change.target, "stale", stale))
            continue
        problems = h.check(aws, change, live, results)
        if problems:
            reports.append(
                StepReport(change.id, change.kind, change.target, "invalid", "; ".join(problems))
            )
        else:
            reports.append(
                StepReport(change.id, change.kind, change.target, "would-apply", change.reason)
            )
    return reports


def apply_changes(
    aws: Aws,
    plan: Plan,
    changes: list[Change],
    journal: Journal,
    *,
    rollback_on_failure: bool = True,
    done: dict[str, dict[str, Any]] | None = None,
    run_id: str | None = None,
) -> RunResult:
    """Apply ``changes`` in order, journaling each step; roll back on failure.
    ``run_id``: the run's id (a resumed run passes the interrupted run's); a
    new one when not given."""
    aws.plan_id = plan.plan_id
    aws.run_id = run_id or "run-" + uuid.uuid4().hex[:12]
    result = RunResult("applied", results=dict(done or {}))
    completed: list[Change] = []
    failure: str | None = None
    stale = False
    for change in changes:
        if change.id in result.results:
            result.steps.append(
                StepReport(
                    change.id, change.kind, change.target, "already", "applied by an earlier run"
                )
            )
            continue
        h = registry.handler(change.kind)
        started = aws.settings.clock()
        partial: tuple[Change, dict[str, Any]] | None = None
        progress: dict[str, Any] = {}

        def record(
            step: dict[str, Any] | None,
            change: Change = change,
            progress: dict[str, Any] = progress,
        ) -> None:
            if step is None:
                progress.clear()
            else:
                progress.update(step)
            journal.change("progress", change, result=dict(progress))

        aws.on_progress = record
        attempted = False
        try:
            live = safe_read(h, aws, change, result.results)
            why = is_stale(change, live)
            if why:
                stale = True
                journal.change(
                    "skipped",
                    change,
                    error=why,
                )
                result.steps.append(StepReport(change.id, change.kind, change.target, "stale", why))
                failure = why
                break
            journal.change(
                "intent",
                change,
                state_before=live.state,
            )
            result.states_before[change.id] = live.state
            attempted = True
            out = h.apply(aws, change, live, result.results)
            partial = (change, out)  # the call went through: rollback must see it
            h.settle(aws, change, out)
            after = h.read_after(aws, change, out, result.results)
            journal.change(
                "done",
                change,
                result=out,
                state_after=after.state,
            )
            result.results[change.id] = out
            completed.append(change)
            seconds = aws.settings.clock() - started
            log.info(
                "change_applied",
                change_id=change.id,
                kind=change.kind,
                target=change.target,
                outcome="ok",
                seconds=round(seconds, 3),
            )
            result.steps.append(
                StepReport(change.id, change.kind, change.target, "ok", change.reason, seconds)
            )
        except RemediatorError as exc:
            text = str(exc)
            if partial is None and progress:
                partial = (change, dict(progress))  # some of its calls went through
            if partial is None and attempted and _took_effect(aws, h, change, result.results):
                # the outcome was lost (a timeout after AWS did the write, then a
                # retry refused by RevisionId): the change is in effect and ours
                partial = (change, {})
            elif isinstance(exc, AwsCallFailed) and exc.code == "PreconditionFailedException":
                # RevisionId moved between the check and the write: stale, not a failure
                stale = True
            journal.change(
                "failed",
                change,
                error=text,
                result=partial[1] if partial else None,
                applied=partial is not None,
            )
            if partial is not None:
                result.results[change.id] = partial[1]
                completed.append(change)
            log.warning(
                "change_failed",
                change_id=change.id,
                kind=change.kind,
                target=change.target,
                outcome="failed",
                error=text,
                seconds=round(aws.settings.clock() - started, 3),
            )
            result.steps.append(
                StepReport(
                    change.id,
                    change.kind,
                    change.target,
                    "failed",
                    text,
                    aws.settings.clock() - started,
                )
            )
            failure = text
            break
    aws.on_progress = None
    if failure is None:
        return result
    if not rollback_on_failure:
        result.outcome = "stale" if stale else "failed-kept"
        result.left = [c.id for c in completed]
        return result
    undo = undo_changes(
        aws,
        [
            (registry.restore_point(c, result.states_before.get(c.id)), result.results[c.id])
            for c in reversed(completed)
        ],
        journal,
    )
    result.steps.extend(undo.steps)
    result.left = undo.left
    if stale and not undo.left:
        result.outcome = "stale"
    else:
        result.outcome = "rolled-back" if not undo.left else "rollback-incomplete"
    return result


def undo_changes(
    aws: Aws,
    items: list[tuple[Change, dict[str, Any]]],
    journal: Journal,
    expected_after: dict[str, dict[str, Any]] | None = None,
) -> RunResult:
    """Undo changes (already in reverse order). With ``expected_after`` (from a
    journal), a target whose state moved since the run is left alone."""
    result = RunResult("rolled-back")
    results: dict[str, dict[str, Any]] = {c.id: r for c, r in items}

    def leave(change: Change, outcome: str, why: str) -> None:
        """The change stays in effect: journal it, report it, count it as left."""
        journal.change(outcome, change, error=why)
        result.steps.append(StepReport(change.id, change.kind, change.target, outcome, why))
        result.left.append(change.id)

    for change, out in items:
        h = registry.handler(change.kind)
        try:
            if expected_after is not None and change.id in expected_after:
                live = h.read_after(aws, change, out, results)
                if state_hash(live.state) != state_hash(expected_after[change.id]):
                    leave(
                        change,
                        "undo-skipped",
                        f"{change.target} changed since the run (now {live.state}); not overwriting it",
                    )
                    continue
            journal.change("undo-intent", change)
            h.undo(aws, change, out)
            journal.change("undone", change)
            log.info("change_undone", change_id=change.id, kind=change.kind, target=change.target)
            result.steps.append(
                StepReport(
                    change.id, change.kind, change.target, "undone", f"restored {change.before}"
                )
            )
        except RemediatorError as exc:
            leave(change, "undo-failed", str(exc))
    if result.left:
        result.outcome = "rollback-incomplete"
    return result
