"""The engine: apply a reviewed plan's changes exactly, or put things back.

Every change goes through one state machine::

    read -> stale check -> intent -> call -> settle -> re-read -> done
                 |                     |
               stale              failure (any exception)
                 \\____________________/
                          |
            undo the completed changes, newest first

The engine is the only writer of the journal (``Recorder``): every line is
on disk before the step it describes goes on, so a killed run leaves a true
record. An ``intent`` without an outcome is judged by ``judge_attempt``, the
one place that decides what an attempt whose outcome was lost left in effect;
resume, rollback and failure handling all ask it.

Invariants:

* a change whose call went through is in ``RunResult.results`` (so it is
  undone on failure) whatever goes wrong afterwards, including a local write
  failure (disk full) or an unexpected exception (a bug, an AWS answer the
  code did not expect): the run undoes what it applied and reports it;
  nothing is left in effect that is neither journaled nor reported;
* undo goes through ``undo_one`` only;
* dry-run is the door's mode (``aws.dry_run``): its guard refuses every
  non-read call, so a dry run cannot change anything (moto, unlike AWS,
  executes calls that carry ``DryRun=True``; remediator never relies on it).

One handler per change kind knows how to read the target's state, check the
change against the live world, apply it, wait for it and undo it; ``lookup``
is the one place the handler of a kind is found.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import structlog

from remediator.aws.door import Aws
from remediator.changes import registry
from remediator.changes.base import Handler, Live, safe_read
from remediator.changes.registry import Change
from remediator.domain.canonical import state_hash
from remediator.domain.errors import AwsCallFailed, BadInput, RemediatorError
from remediator.domain.outcomes import RunOutcome, StepOutcome
from remediator.planfile.model import Plan
from remediator.run.journal import Journal

log = structlog.get_logger(__name__)

Results = dict[str, dict[str, Any]]


def lookup(kind: str) -> Handler[Any]:
    """The handler of a change kind (the one lookup of the engine)."""
    return registry.handler(kind)


@dataclass
class StepReport:
    change_id: str
    kind: str
    target: str
    outcome: StepOutcome
    detail: str = ""
    seconds: float = 0.0

    @classmethod
    def of(
        cls, change: Change, outcome: StepOutcome, detail: str = "", seconds: float = 0.0
    ) -> StepReport:
        return cls(change.id, change.kind, change.target, outcome, detail, seconds)


@dataclass
class RunResult:
    outcome: RunOutcome
    steps: list[StepReport] = field(default_factory=list)
    results: Results = field(default_factory=dict)
    left: list[str] = field(default_factory=list)
    """Changes still in effect after a failure (kept, or their undo failed)."""
    undone: list[str] = field(default_factory=list)
    states_before: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Each change's live state as its ``intent`` line recorded it: what undo restores."""


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


def describe_failure(exc: BaseException) -> str:
    """One line for a failure: remediator's own text, else the exception's type and text."""
    if isinstance(exc, RemediatorError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------
# The journal, written by the engine only


class Recorder:
    """The engine's pen on a journal.

    ``strict`` writes raise (a step does not go on before its line is on
    disk). Once a write has failed (disk full, folder gone read-only) the run
    is failing anyway: ``best_effort`` writes note the failure in ``error``
    and go on, so undoing the run is never stopped by the journal."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.error: str | None = None

    @property
    def path(self) -> Path:
        return self.journal.path

    def write(self, event: str, *, best_effort: bool = False, **fields: Any) -> None:
        try:
            self.journal.write(event, **fields)
        except OSError as exc:
            self.error = self.error or f"{type(exc).__name__}: {exc}"
            if not best_effort:
                raise

    def change(
        self, event: str, change: Change, *, best_effort: bool = False, **fields: Any
    ) -> None:
        self.write(
            event,
            best_effort=best_effort,
            change_id=change.id,
            kind=change.kind,
            target=change.target,
            region=change.region,
            **fields,
        )

    def verified(self, problems: list[str]) -> None:
        self.write("verified", ok=not problems, problems=problems)

    def finish(self, outcome: RunOutcome, **fields: Any) -> None:
        self.write("finished", best_effort=True, outcome=outcome, **fields)


@contextmanager
def recording(
    path: Path,
    now: Callable[[], str],
    header: dict[str, Any] | None = None,
    mirror: Callable[[Path, bytes], None] | None = None,
) -> Iterator[Recorder]:
    """Open a journal (refusing a symlink or a folder others may write) and,
    with ``header``, start a run in it; with ``mirror``, every line is also
    copied through ``mirror(path, data)`` before the step goes on."""
    journal: Journal | None = None
    copy = (lambda data: mirror(path, data)) if mirror is not None else None
    try:
        journal = Journal(path, clock=now, mirror=copy)
        if header is not None:
            journal.write("run", **header)
    except OSError as exc:  # nothing changed yet: a plain refusal, not a crash
        if journal is not None:
            journal.close()
        raise BadInput(
            f"Cannot write the journal {path}: {exc.strerror or exc}.",
            hint="Pass a --journal path in a folder you can write, with free space.",
        ) from None
    with journal:
        yield Recorder(journal)


# --------------------------------------------------------------------------
# The one judgement of an attempt whose outcome was lost

AttemptVerdict = Literal[
    "untouched",  # the target is as planned: nothing of the change is in effect
    "complete",  # the whole change is in effect; ``result`` is what undo needs
    "partial",  # part of it is in effect (journaled progress, or recognised own work)
    "foreign",  # neither as planned nor as the change leaves it: someone else's edit
    "unknown",  # changed, and the change cannot tell its own work from another's
]


@dataclass(frozen=True)
class Attempt:
    verdict: AttemptVerdict
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def in_effect(self) -> bool:
        return self.verdict in ("complete", "partial")


def judge_attempt(
    aws: Aws, h: Handler[Any], change: Change, live: Live, journaled: dict[str, Any] | None
) -> Attempt:
    """What an attempt of ``change`` without a recorded outcome left in effect.

    ``journaled``: what the journal recorded of it (``progress`` lines, or the
    result of a call that went through). The target's state decides: the
    change's own after-state means done; journaled progress means part of it;
    otherwise the handler may recognise its own work (a group of its name and
    change-id tag, DNS support on without hostnames)."""
    expected = h.expected_after(change)
    if journaled:
        whole = expected is not None and live.state == expected
        return Attempt("complete" if whole else "partial", dict(journaled))
    if live.hash == change.fingerprint.state_hash:
        return Attempt("untouched")
    if expected is not None and live.state == expected:
        return Attempt("complete")
    own = h.own_work(aws, change, live)
    if own is not None:
        return Attempt("complete" if own.complete else "partial", own.result)
    return Attempt("foreign" if expected is not None else "unknown")


# --------------------------------------------------------------------------
# Dry run and resume: reads first


def check_plan(aws: Aws, plan: Plan, changes: list[Change]) -> list[StepReport]:
    """Read every target and validate every change; reads only."""
    reports = []
    results: Results = {}
    for change in changes:
        h = lookup(change.kind)
        live = safe_read(h, aws, change, results)
        stale = is_stale(change, live)
        if stale:
            reports.append(StepReport.of(change, "stale", stale))
            continue
        problems = h.check(aws, change, live, results)
        if problems:
            reports.append(StepReport.of(change, "invalid", "; ".join(problems)))
        else:
            reports.append(StepReport.of(change, "would-apply", change.reason))
    return reports


def preflight(
    aws: Aws,
    rec: Recorder,
    changes: list[Change],
    done: Results,
    uncertain: set[str],
    partial: Results,
) -> list[StepReport]:
    """Re-read every target not yet done; the stale ones (Terraform-like: any
    stale target refuses the whole plan before any change).

    A change an interrupted run may have made (``uncertain``: an intent
    without outcome) is judged by ``judge_attempt``: wholly in effect, it is
    settled and journaled done (into ``done``); in part, that part is taken
    back and the change applied afresh. ``partial`` holds what the journal
    recorded of such attempts."""
    stale: list[StepReport] = []
    for c in [c for c in changes if c.id not in done]:
        h = lookup(c.kind)
        live = safe_read(h, aws, c, done)
        why = is_stale(c, live)
        if why and c.id in uncertain:
            attempt = judge_attempt(aws, h, c, live, partial.get(c.id))
            if attempt.verdict == "complete":
                h.settle(aws, c, attempt.result)
                after = h.read_after(aws, c, attempt.result, done)
                done[c.id] = attempt.result
                rec.change(
                    "done", c, result=attempt.result, state_after=after.state, recovered=True
                )
                continue
            if attempt.verdict == "partial":
                undo_one(aws, c, attempt.result)
                rec.change("undone", c, note="partial change of the interrupted run")
                live = safe_read(h, aws, c, done)
                why = is_stale(c, live)
        if why:
            stale.append(StepReport.of(c, "stale", why))
    return stale


def refuse_stale(rec: Recorder, stale: list[StepReport]) -> None:
    for r in stale:
        rec.write("skipped", change_id=r.change_id, kind=r.kind, target=r.target, error=r.detail)
    rec.finish("stale")


# --------------------------------------------------------------------------
# Apply


class _Stop(Exception):
    """A change did not go through; the run stops (``stale``: not a failure)."""

    def __init__(self, text: str, *, stale: bool = False) -> None:
        super().__init__(text)
        self.text = text
        self.stale = stale


@dataclass
class _Run:
    aws: Aws
    rec: Recorder
    result: RunResult
    completed: list[Change] = field(default_factory=list)


def _step(run: _Run, change: Change) -> None:
    """One change through the state machine; ``_Stop`` when it did not go through."""
    aws, rec, results = run.aws, run.rec, run.result.results
    h = lookup(change.kind)
    started = aws.settings.clock()
    progress: dict[str, Any] = {}
    out: dict[str, Any] | None = None

    def record(step: dict[str, Any] | None) -> None:
        if step is None:
            progress.clear()
        else:
            progress.update(step)
        rec.change("progress", change, result=dict(progress))

    aws.on_progress = record
    attempted = False
    try:
        live = safe_read(h, aws, change, results)
        why = is_stale(change, live)
        if why:
            rec.change("skipped", change, error=why)
            run.result.steps.append(StepReport.of(change, "stale", why))
            raise _Stop(why, stale=True)
        rec.change("intent", change, state_before=live.state)
        run.result.states_before[change.id] = live.state
        attempted = True
        out = h.apply(aws, change, live, results)
        h.settle(aws, change, out)
        after = h.read_after(aws, change, out, results)
        rec.change("done", change, result=out, state_after=after.state)
        results[change.id] = out
        run.completed.append(change)
    except _Stop:
        raise
    except Exception as exc:
        _failed(run, h, change, exc, attempted, out, progress, started)
    else:
        seconds = aws.settings.clock() - started
        log.info(
            "change_applied",
            change_id=change.id,
            kind=change.kind,
            target=change.target,
            outcome="ok",
            seconds=round(seconds, 3),
        )
        run.result.steps.append(StepReport.of(change, "ok", change.reason, seconds))
    finally:
        aws.on_progress = None


def _failed(
    run: _Run,
    h: Handler[Any],
    change: Change,
    exc: Exception,
    attempted: bool,
    out: dict[str, Any] | None,
    progress: dict[str, Any],
    started: float,
) -> None:
    """A change's step raised: find what of it is in effect (so rollback
    undoes it), journal the failure, stop the run."""
    aws, text = run.aws, describe_failure(exc)
    attempt = Attempt("untouched")
    judged = False
    if out is not None:
        attempt = Attempt("complete", out)  # the call went through; settling or journaling failed
    elif progress:
        attempt = Attempt("partial", dict(progress))  # some of its calls went through
    elif attempted:
        judged = True
        # the outcome may be lost (a timeout after AWS did the write, then a
        # retry refused by RevisionId): read the target to find out
        try:
            live = safe_read(h, aws, change, run.result.results)
            attempt = judge_attempt(aws, h, change, live, None)
        except Exception:
            attempt = Attempt("unknown")
    stale = (
        not (judged and attempt.in_effect)
        and isinstance(exc, AwsCallFailed)
        and exc.code == "PreconditionFailedException"
    )  # RevisionId moved between the check and the write: stale, not a failure
    run.rec.change(
        "failed",
        change,
        best_effort=True,
        error=text,
        result=attempt.result if attempt.in_effect else None,
        applied=attempt.in_effect,
    )
    if attempt.in_effect:
        run.result.results[change.id] = attempt.result
        run.completed.append(change)
    seconds = aws.settings.clock() - started
    log.warning(
        "change_failed",
        change_id=change.id,
        kind=change.kind,
        target=change.target,
        outcome="failed",
        error=text,
        seconds=round(seconds, 3),
    )
    run.result.steps.append(StepReport.of(change, "failed", text, seconds))
    raise _Stop(text, stale=stale)


def apply_changes(
    aws: Aws,
    plan: Plan,
    changes: list[Change],
    rec: Recorder,
    *,
    rollback_on_failure: bool = True,
    done: Results | None = None,
    run_id: str | None = None,
) -> RunResult:
    """Apply ``changes`` in order, journaling each step; roll back on failure.

    Never raises for a failure of a change (an AWS fault, a local write
    failure, a bug): the result says what is in effect. ``run_id``: the run's
    id (a resumed run passes the interrupted run's); a new one when not given."""
    aws.plan_id = plan.plan_id
    aws.run_id = run_id or "run-" + uuid.uuid4().hex[:12]
    run = _Run(aws, rec, RunResult("applied", results=dict(done or {})))
    stop: _Stop | None = None
    for change in changes:
        if change.id in run.result.results:
            run.result.steps.append(StepReport.of(change, "already", "applied by an earlier run"))
            continue
        try:
            _step(run, change)
        except _Stop as exc:
            stop = exc
            break
    if stop is None:
        return run.result
    result = run.result
    if not rollback_on_failure:
        result.outcome = "stale" if stop.stale else "failed-kept"
        result.left = [c.id for c in run.completed]
        return result
    undo = undo_changes(
        aws,
        [
            (registry.restore_point(c, result.states_before.get(c.id)), result.results[c.id])
            for c in reversed(run.completed)
        ],
        rec,
    )
    result.steps.extend(undo.steps)
    result.left, result.undone = undo.left, undo.undone
    if stop.stale and not undo.left:
        result.outcome = "stale"
    else:
        result.outcome = "rolled-back" if not undo.left else "rollback-incomplete"
    return result


# --------------------------------------------------------------------------
# Undo


def undo_one(aws: Aws, change: Change, result: dict[str, Any]) -> None:
    """Take one change back (the one call site of a handler's ``undo``)."""
    lookup(change.kind).undo(aws, change, result)


def undo_changes(
    aws: Aws,
    items: list[tuple[Change, dict[str, Any]]],
    rec: Recorder,
    expected_after: Results | None = None,
) -> RunResult:
    """Undo changes (already in reverse order). With ``expected_after`` (from a
    journal), a target whose state moved since the run is left alone.

    Best effort on the journal: undoing is how a failing run gets back to
    safety, so a journal that can no longer be written does not stop it
    (``rec.error`` says so)."""
    result = RunResult("rolled-back")
    results: Results = {c.id: r for c, r in items}

    def leave(change: Change, outcome: Literal["undo-failed", "undo-skipped"], why: str) -> None:
        """The change stays in effect: journal it, report it, count it as left."""
        rec.change(outcome, change, best_effort=True, error=why)
        result.steps.append(StepReport.of(change, outcome, why))
        result.left.append(change.id)

    for change, out in items:
        h = lookup(change.kind)
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
            rec.change("undo-intent", change, best_effort=True)
            undo_one(aws, change, out)
            rec.change("undone", change, best_effort=True)
            log.info("change_undone", change_id=change.id, kind=change.kind, target=change.target)
            result.steps.append(StepReport.of(change, "undone", f"restored {change.before}"))
            result.undone.append(change.id)
        except Exception as exc:
            leave(change, "undo-failed", describe_failure(exc))
    if result.left:
        result.outcome = "rollback-incomplete"
    return result


@dataclass
class RollbackWork:
    """What a rollback of a journal will do, decided with reads only."""

    items: list[tuple[Change, dict[str, Any]]] = field(default_factory=list)
    expected: Results = field(default_factory=dict)
    never: list[StepReport] = field(default_factory=list)
    refused: list[StepReport] = field(default_factory=list)


def plan_rollback(
    aws: Aws, entries: list[tuple[Change, str, dict[str, Any], dict[str, Any] | None]]
) -> RollbackWork:
    """Sort a journal's applied changes (newest first: change, state,
    result, state_after) into what to undo, what never happened and what
    someone else changed since (left alone)."""
    work = RollbackWork()
    for change, state, result, state_after in entries:
        if state == "intent" and not result:
            # unknown outcome: the target says what happened
            h = lookup(change.kind)
            live = safe_read(h, aws, change, {})
            attempt = judge_attempt(aws, h, change, live, None)
            if attempt.verdict == "untouched":
                work.never.append(StepReport.of(change, "never-applied"))
                continue
            if attempt.verdict == "foreign":
                work.refused.append(
                    StepReport.of(
                        change,
                        "undo-skipped",
                        f"{change.target} is neither as planned nor as this change leaves it (now {live.state}); not overwriting it",
                    )
                )
                continue
            result = attempt.result
        elif state_after is not None:
            work.expected[change.id] = state_after
        work.items.append((change, result))
    return work


def rollback(aws: Aws, rec: Recorder, work: RollbackWork) -> RunResult:
    """Undo what ``plan_rollback`` found, journal the refusals and the end."""
    result = undo_changes(aws, work.items, rec, work.expected)
    for r in work.refused:
        rec.write(
            "undo-skipped",
            best_effort=True,
            change_id=r.change_id,
            kind=r.kind,
            target=r.target,
            error=r.detail,
        )
        result.left.append(r.change_id)
    result.steps = [*work.never, *work.refused, *result.steps]
    result.outcome = "rolled-back" if not result.left else "rollback-incomplete"
    rec.finish(result.outcome)
    return result
