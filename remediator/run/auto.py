"""`remediate auto`: the scheduled, unattended run across accounts and regions.

For every account-region pair (a *target*) in the run, in three phases:

1. **plan** (concurrently, ``--concurrency`` workers): assume the member
   role (if any), discover, plan, write ``plan.json`` and read it back (the
   file is what gets applied), ``plan.md`` (``plan.full.md`` beside it when
   the report had to leave detail out) and the Security Hub batches
   ``plan.asff/asff-0001.json`` …, and for functions CloudFormation or
   Terraform owns, the template patches in ``iac/`` (``run.iac_patch``;
   their direct changes are held for review unless the policy says
   ``owned_functions = "apply"``);
2. **budget** (sequentially, in sorted target order, so the outcome does not
   depend on thread timing): the changes of a plan that ``--max-risk``
   allows are applied together or not at all; a plan whose share would take
   the run above ``--max-changes`` is left for review;
3. **apply** (concurrently): ``apply.run_apply`` with no one to ask
   (``confirm=None``), so it runs every check (account, journal, lock,
   freshness) and journals, rolls back on failure and on a failed
   verification; then the target is planned again and what is left is
   written as ``review.json``, a plan a person can approve and apply (when
   nothing of the plan ran, ``review.json`` is the plan itself).

A target's clients (``aws.session.ClientCache``) are closed as soon as
nothing of the run reads through them (``release``): after its apply, or
after the budget when it is not applied, or when it failed; so neither
their connections nor their memory wait for the end of the run.

One target's failure never stops the others: it is recorded as an ``error``
with its one-line message. The run's outcome is the worst of its targets
(``WORST_FIRST``); its exit code is that outcome's, from the one table in
``remediator.domain.outcomes``. An error while verifying a target counts as a
failed verification: the target's changes are rolled back (``undone``).

Logs: every line a worker logs carries ``run_id``, ``account``, ``region``
and, once planned, ``plan_id`` (structlog context variables, copied into
each task so nothing leaks between targets that share a worker thread).

The fleet's AWS side (STS, Organizations, DescribeRegions, member sessions)
is ``aws.fleet``; this module hands the session of each target to discovery
and the apply door, and sends no AWS call itself.
"""

from __future__ import annotations

import fnmatch
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from remediator import planfile, planner
from remediator.aws import discover, door, notify
from remediator.aws import session as sessions
from remediator.aws.fleet import Fleet
from remediator.aws.fleet import active_accounts as active_accounts  # re-exported
from remediator.aws.fleet import enabled_regions as enabled_regions  # re-exported
from remediator.aws.owner_view import OwnerViews, for_fleet
from remediator.changes.registry import Change
from remediator.diagnose.alias_reads import alias_reads_needed
from remediator.domain.errors import BadInput, RemediatorError
from remediator.domain.findings import UNRESOLVED_STATUSES
from remediator.domain.inventory import Inventory
from remediator.domain.mode import mode_for
from remediator.domain.outcomes import EXIT_CODES as VERDICT_EXIT_CODES
from remediator.domain.outcomes import EXIT_FIXED as EXIT_FIXED
from remediator.domain.outcomes import TARGET_VERDICT, TargetOutcome
from remediator.domain.outcomes import WORST_FIRST as VERDICT_ORDER
from remediator.domain.policy import Policy, check_network_role

# the targets' pure helpers are named run.auto.* by the CLI and the tests
from remediator.domain.targets import ACCOUNT_ID as ACCOUNT_ID
from remediator.domain.targets import ROLE_ARN as ROLE_ARN
from remediator.domain.targets import Target, check_role_template, role_for, select_shard
from remediator.domain.targets import parse_accounts as parse_accounts
from remediator.domain.targets import parse_shard as parse_shard
from remediator.domain.targets import shard_of as shard_of
from remediator.planfile.model import Plan
from remediator.planfile.signing import sign_plan
from remediator.run import apply as applying
from remediator.run import artifacts, iac_patch
from remediator.run.auto_options import AutoOptions as AutoOptions  # re-exported
from remediator.run.auto_pool import each
from remediator.run.lock import DynamoLock, FileLock, lock_for

log = structlog.get_logger(__name__)
RUN_LINES_MAX = 8_000  # the apply lines appended to plan.md, within its size limit

EXIT_CODES: dict[TargetOutcome, int] = {t: VERDICT_EXIT_CODES[v] for t, v in TARGET_VERDICT.items()}
"""A target outcome's exit code: its verdict's, from the one table."""
WORST_FIRST: tuple[TargetOutcome, ...] = tuple(
    sorted(TARGET_VERDICT, key=lambda t: VERDICT_ORDER.index(TARGET_VERDICT[t]))
)
"""Outcomes from worst to best: with several targets, the worst one wins."""

OUTCOME_TEXT: dict[TargetOutcome, str] = {
    "clean": "nothing to do",
    "fixed": "fixed everything",
    "review": "changes left for review",
    "stale": "the world changed during the run; nothing left changed",
    "error": "error",
    "rolled-back": "a change failed and was rolled back",
    "rollback-incomplete": "a change failed and rollback is incomplete",
}

SUMMARY_FILE = "summary.json"


# --------------------------------------------------------------------------
# Options, dependencies, results


Verify = Callable[[Plan, list[Change]], list[str]]


@dataclass
class Deps:
    """What a run talks to and how it tells time; tests replace parts of it."""

    verifier: Callable[[Any, str | None, Policy], Verify]
    now: Callable[[], str]
    make_session: Callable[[str | None], Any] = sessions.make_session
    settings: door.Settings = field(default_factory=door.Settings)
    clock: Callable[[], float] = time.monotonic
    on_session: Callable[[Any, Target | None], None] | None = None
    """Called with every session the run makes (``None``: the runner's own)."""
    progress: Callable[[str, int, int], None] | None = None
    """``(phase, done, total)`` after each target of a phase."""


@dataclass
class TargetResult:
    """What happened to one account-region. ``dir``, ``review`` and
    ``journal`` are relative to the run's output folder."""

    account_id: str
    region: str
    outcome: TargetOutcome = "error"
    plan_id: str | None = None
    dir: str | None = None
    changes: int = 0
    eligible: int = 0
    applied: list[str] = field(default_factory=list)
    undone: list[str] = field(default_factory=list)
    """Changes the run applied and then rolled back (a failure, or a failed verification)."""
    left: int = 0
    blocked: int = 0
    deferred: int = 0
    findings: int = 0
    review: str | None = None
    journal: str | None = None
    error: str | None = None
    note: str | None = None
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]

    def to_json(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "region": self.region,
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "plan_id": self.plan_id,
            "dir": self.dir,
            "changes": self.changes,
            "eligible": self.eligible,
            "applied": list(self.applied),
            "undone": list(self.undone),
            "left": self.left,
            "blocked": self.blocked,
            "deferred": self.deferred,
            "findings": self.findings,
            "review": self.review,
            "journal": self.journal,
            "error": self.error,
            "note": self.note,
            "seconds": round(self.seconds, 3),
        }


def worst(outcomes: Iterable[TargetOutcome]) -> TargetOutcome:
    seen = set(outcomes)
    return next((o for o in WORST_FIRST if o in seen), "clean")


@dataclass
class RunSummary:
    run_id: str
    started_at: str
    out_dir: Path
    max_risk: str
    max_changes: int
    dry_run: bool = False
    shard: tuple[int, int] | None = None
    finished_at: str = ""
    seconds: float = 0.0
    targets: list[TargetResult] = field(default_factory=list)
    error: str | None = None
    notification: dict[str, Any] | None = None
    out_url: str | None = None

    @property
    def outcome(self) -> TargetOutcome:
        extra: list[TargetOutcome] = (
            ["error"] if self.error or (self.notification or {}).get("error") else []
        )
        return worst([t.outcome for t in self.targets] + extra)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]

    def to_json(self) -> dict[str, Any]:
        counts = {o: 0 for o in reversed(WORST_FIRST)}
        for t in self.targets:
            counts[t.outcome] += 1
        return {
            "run_id": self.run_id,
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "seconds": round(self.seconds, 3),
            "dry_run": self.dry_run,
            "max_risk": self.max_risk,
            "max_changes": self.max_changes,
            "shard": f"{self.shard[0]}/{self.shard[1]}" if self.shard else None,
            "out_dir": self.out_url or str(self.out_dir),
            "targets_total": len(self.targets),
            "counts": counts,
            "changes_applied": sum(len(t.applied) for t in self.targets if not self.dry_run),
            "changes_left": sum(t.left for t in self.targets),
            "blocked": sum(t.blocked for t in self.targets),
            "error": self.error,
            "notification": self.notification,
            "targets": [t.to_json() for t in self.targets],
        }


def new_run_id() -> str:
    return "auto-" + uuid.uuid4().hex[:12]


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, RemediatorError):
        return " ".join(str(exc).split())
    return " ".join(f"{type(exc).__name__}: {exc}".split())


class _Fleet:
    """The run's fleet: the targets (accounts x regions, this runner's
    shard), the member sessions, the lock and the notification topic. The
    AWS side is ``aws.fleet.Fleet``."""

    def __init__(self, opts: AutoOptions, deps: Deps, run_id: str) -> None:
        self.opts = opts
        self.deps = deps
        self.run_id = run_id
        base = deps.make_session(opts.profile)
        if deps.on_session is not None:
            deps.on_session(base, None)
        named = [r for r in opts.regions if r != "all"]
        self.aws = Fleet(
            base,
            home=base.region_name or (named[0] if named else "us-east-1"),
            run_id=run_id,
            mode=mode_for(opts.dry_run),
            profile=opts.profile,
            endpoint_url=opts.endpoint_url,
            external_id=opts.external_id,
        )
        self.base = base
        self._guard = threading.Lock()
        self._lock: FileLock | DynamoLock | None = None
        self.owner_views: OwnerViews | None = None

    # -- targets

    def targets(self) -> list[Target]:
        opts = self.opts
        caller = self.aws.caller_account()
        log.info("caller_identified", caller_account=caller)
        if opts.accounts and opts.organization:
            raise BadInput("Pass --accounts-file or --organization, not both.")
        accounts: list[tuple[str, str | None]]
        if opts.accounts or opts.organization:
            if not opts.role_arn:
                raise BadInput(
                    "Several accounts need --role-arn to reach them.",
                    hint="Pass e.g. --role-arn 'arn:aws:iam::{account_id}:role/remediator'.",
                )
            check_role_template(opts.role_arn, many=True)
            ids = list(opts.accounts)
            if opts.organization:
                ids = self.aws.organization_accounts()
                log.info("organization_listed", accounts=len(ids))
            direct = set(opts.direct_accounts)
            accounts = [(a, None if a in direct else role_for(opts.role_arn, a)) for a in ids]
        elif opts.role_arn:
            check_role_template(opts.role_arn, many=False)
            accounts = [(opts.role_arn.split(":")[4], opts.role_arn)]
        else:
            accounts = [(caller, None)]
        template = check_network_role(opts.network_role_arn) or opts.policy.network_role_arn
        self.owner_views = for_fleet(self.aws.session_for, accounts, template)
        regions = self.regions()
        everything = [Target(a, r, role) for a, role in accounts for r in regions]
        chosen = select_shard(everything, opts.shard)
        log.info(
            "targets_resolved",
            accounts=len(accounts),
            regions=len(regions),
            targets=len(everything),
            in_shard=len(chosen),
        )
        return chosen

    def regions(self) -> list[str]:
        wanted = list(dict.fromkeys(self.opts.regions))
        if not wanted:
            if not self.base.region_name:
                raise BadInput(
                    "No region given.",
                    hint="Pass --region (repeatable, or 'all'), or set AWS_REGION.",
                )
            return [self.base.region_name]
        if "all" in wanted:
            wanted = [r for r in wanted if r != "all"] + self.aws.enabled_regions()
        return sorted(set(wanted))

    def session_for(self, target: Target) -> Any:
        session = self.aws.session_for(target.role_arn)
        if self.deps.on_session is not None:
            self.deps.on_session(session, target)
        return sessions.ClientCache(session)

    def lock(self) -> FileLock | DynamoLock:
        with self._guard:
            if self._lock is None:
                self._lock = lock_for(
                    self.opts.lock_table,
                    self.opts.lock_dir or self.opts.out_dir / ".locks",
                    self.aws.door,
                    self.aws.home,
                )
            return self._lock


# --------------------------------------------------------------------------
# One target


@dataclass
class _Pair:
    target: Target
    folder: Path
    result: TargetResult
    session: Any = None
    plan: Plan | None = None
    plan_path: Path | None = None
    eligible: list[Change] = field(default_factory=list)
    selected: bool = False
    run_lines: list[str] = field(default_factory=list)


def _narrow(inventory: Inventory, patterns: Sequence[str]) -> Inventory:
    """Only the functions matching a pattern (name or ARN glob). Unlike
    discovery's own filter, a pattern that matches nothing in this
    account-region is not an error: the fleet is wider than the pattern."""
    if not patterns:
        return inventory

    def keep(name: str, arn: str) -> bool:
        return any(fnmatch.fnmatchcase(arn if p.startswith("arn:") else name, p) for p in patterns)

    return inventory.model_copy(
        update={
            "regions": tuple(
                r.model_copy(
                    update={"functions": tuple(f for f in r.functions if keep(f.name, f.arn))}
                )
                for r in inventory.regions
            )
        }
    )


def _has_work(plan: Plan) -> bool:
    return bool(plan.changes) or any(f.status in UNRESOLVED_STATUSES for f in plan.findings)


class _Runner:
    def __init__(self, opts: AutoOptions, deps: Deps, fleet: _Fleet) -> None:
        self.opts = opts
        self.deps = deps
        self.fleet = fleet

    def _scope(self, account: str) -> discover.Scope | None:
        return (self.opts.scopes or {}).get(account, self.opts.scope)

    def _plan(self, pair: _Pair) -> Plan:
        opts = self.opts
        inventory = discover.discover(
            pair.session,
            [pair.target.region],
            endpoint_url=opts.endpoint_url,
            need_tags=opts.policy.reads_tags,
            tags_from=opts.policy.tags_from,
            tag_keys=opts.policy.read_tag_keys,
            versions_read=opts.policy.versions_read,
            dns_for_all_vpcs=opts.policy.may_create_endpoints,
            allowed_account_ids=opts.policy.allowed_account_ids,
            owner_views=self.fleet.owner_views,
            needs_details=alias_reads_needed,
            scope=self._scope(pair.target.account_id),
        )
        if inventory.account_id != pair.target.account_id:
            raise BadInput(
                f"The credentials for {pair.target.key} reach account {inventory.account_id}.",
                hint="Check --role-arn: it must name a role in each listed account.",
            )
        return planner.build_plan(_narrow(inventory, opts.functions), opts.policy, self.deps.now())

    def _write(self, pair: _Pair, name: str, plan: Plan) -> Path:
        """``<name>.json``, its Security Hub batches (``<name>.asff/asff-0001.json``
        …) and its report. The batches close what the plan before this one
        found and this one does not: for ``plan``, the last plan of this
        target in the most recent earlier run beside ``--out-dir``
        (``artifacts.previous_run_plan``); for ``review``, this run's plan."""
        path = pair.folder / f"{name}.json"
        previous = pair.plan
        if name == "plan" and self._scope(pair.target.account_id) is not None:
            previous = artifacts.read_previous(path)
        elif name == "plan":
            previous = artifacts.read_previous(path) or artifacts.previous_plan(
                self.opts.sink,
                self.opts.out_dir,
                f"{pair.target.account_id}/{pair.target.region}",
                SUMMARY_FILE,
            )
        signer = self.opts.trust.signer if self.opts.trust else None
        planfile.write_plan(sign_plan(plan, signer) if signer else plan, path)
        artifacts.write_asff(pair.folder / f"{name}.asff", plan, previous)
        self._write_report(pair, name, plan)
        return path

    def _write_report(self, pair: _Pair, name: str, plan: Plan) -> None:
        extra = ""
        if name == "plan" and pair.run_lines:
            lines = "\n".join(pair.run_lines)
            if len(lines) > RUN_LINES_MAX:
                lines = lines[: RUN_LINES_MAX - 40] + "\n… (cut: see apply.txt)"
            extra = "\n## Unattended run\n\n```text\n" + lines + "\n```\n"
        extra = iac_patch.review_section(pair.folder / iac_patch.AUTO_DIR) + extra
        artifacts.write_markdown(pair.folder / f"{name}.md", plan, extra=extra)

    def plan_phase(self, pair: _Pair) -> None:
        started = self.deps.clock()
        structlog.contextvars.bind_contextvars(
            account=pair.target.account_id, region=pair.target.region, plan_id=None
        )
        result = pair.result
        try:
            pair.session = self.fleet.session_for(pair.target)
            fresh = self._plan(pair)
            structlog.contextvars.bind_contextvars(plan_id=fresh.plan_id)
            pair.folder.mkdir(parents=True, exist_ok=True)
            # owned functions: the template patches beside the plan (docs/iac.md)
            iac_patch.write_beside(fresh, pair.session, self.opts.endpoint_url, pair.folder)
            pair.plan_path = self._write(pair, "plan", fresh)
            # What is applied is what the file says, not the object in memory.
            pair.plan = planfile.read_plan(pair.plan_path)
            plan = pair.plan
            result.plan_id = plan.plan_id
            result.changes = len(plan.changes)
            result.findings = plan.summary.findings
            result.blocked = plan.summary.blocked
            result.deferred = plan.summary.deferred
            result.left = len(plan.changes)
            pair.eligible, _ = applying.select_changes(
                plan,
                applying.ApplyOptions(
                    max_risk=self.opts.max_risk, policy=self.opts.policy, hold_owned=True
                ),
            )
            result.eligible = len(pair.eligible)
            result.outcome = "review" if _has_work(plan) else "clean"
            log.info(
                "target_planned",
                changes=result.changes,
                eligible=result.eligible,
                blocked=result.blocked,
            )
        except Exception as exc:  # one target's failure never stops the others
            result.outcome, result.error = "error", _one_line(exc)
            log.error("target_failed", phase="plan", error=result.error)
            release(pair)
        finally:
            result.seconds += self.deps.clock() - started

    def apply_phase(self, pair: _Pair) -> None:
        started = self.deps.clock()
        assert pair.plan is not None and pair.plan_path is not None
        structlog.contextvars.bind_contextvars(
            account=pair.target.account_id,
            region=pair.target.region,
            plan_id=pair.plan.plan_id,
        )
        result = pair.result
        opts = self.opts
        try:
            outcome = applying.run_apply(
                pair.plan,
                pair.plan_path,
                self._aws(pair),
                applying.ApplyOptions(
                    dry_run=opts.dry_run,
                    max_risk=opts.max_risk,
                    journal=pair.folder / "plan.journal.jsonl",
                    rollback=True,
                    confirm=None,
                    lock=self.fleet.lock(),
                    now=self.deps.now,
                    rollback_on_verify_failure=True,
                    policy=opts.policy,
                    trust=opts.trust,
                    hold_owned=True,
                    journal_mirror=artifacts.journal_mirror(opts.sink),
                ),
                self.deps.verifier(pair.session, opts.endpoint_url, opts.policy),
            )
            pair.run_lines = list(outcome.lines)
            planfile.atomic_write(pair.folder / "apply.txt", "\n".join(outcome.lines) + "\n", 0o644)
            if outcome.journal is not None and outcome.journal.exists():
                result.journal = _rel(outcome.journal, opts.out_dir)
            result.applied = [] if opts.dry_run else list(outcome.applied)
            result.undone = list(outcome.undone)
            self._judge(pair, outcome)
            log.info(
                "target_applied",
                outcome=result.outcome,
                applied=len(result.applied),
                left=result.left,
                seconds=round(self.deps.clock() - started, 3),
            )
        except Exception as exc:
            result.outcome, result.error = "error", _one_line(exc)
            pair.run_lines.append(f"Error: {result.error}")
            log.error("target_failed", phase="apply", error=result.error)
        finally:
            self._write_report(pair, "plan", pair.plan)
            release(pair)
            result.seconds += self.deps.clock() - started

    def _judge(self, pair: _Pair, outcome: applying.Outcome) -> None:
        result = pair.result
        assert pair.plan is not None
        verdict = outcome.verdict
        if verdict not in ("ok", "stale", "rolled-back", "rollback-incomplete"):
            result.outcome = "error"
            result.error = next(
                (line.strip() for line in reversed(pair.run_lines) if line.strip()),
                f"apply exited {outcome.exit_code}",
            )
            return
        if verdict != "ok":
            result.outcome, result.review = verdict, None
            result.note = (
                "see the journal for what is left to undo by hand"
                if verdict == "rollback-incomplete"
                else "nothing is left changed by this run; plan again"
            )
            if outcome.problems:
                result.note = f"verification failed ({'; '.join(outcome.problems)}); {result.note}"
            return
        if self.opts.dry_run:
            self.leave_for_review(pair)
            return
        # Applied and verified: what is left is whatever a fresh plan finds.
        after = self._plan(pair)
        if _has_work(after):
            path = self._write(pair, "review", after)
            result.outcome, result.review = "review", _rel(path, self.opts.out_dir)
        else:
            # nothing left to review; Security Hub still learns what was fixed
            artifacts.write_asff(pair.folder / "review.asff", after, pair.plan)
            result.outcome, result.review = "fixed", None
        result.left = len(after.changes)
        result.blocked = after.summary.blocked
        result.deferred = after.summary.deferred

    def leave_for_review(self, pair: _Pair) -> None:
        """Nothing of the plan ran: if anything needs a person, the plan itself
        is what is left (``review.json``, the same plan; its own journal)."""
        assert pair.plan is not None
        result = pair.result
        if _has_work(pair.plan):
            path = self._write(pair, "review", pair.plan)
            result.outcome, result.review = "review", _rel(path, self.opts.out_dir)
        else:
            result.outcome, result.review = "clean", None

    def _aws(self, pair: _Pair) -> door.Aws:
        factory = sessions.client_factory(
            pair.session, endpoint_url=self.opts.endpoint_url, config="write"
        )
        return door.Aws(factory, settings=self.deps.settings, mode=mode_for(self.opts.dry_run))


def release(pair: _Pair) -> None:
    """Close a target's clients once nothing of the run reads through them."""
    if isinstance(pair.session, sessions.ClientCache):
        pair.session.close()


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def allocate(pairs: Sequence[_Pair], max_changes: int, max_risk: str) -> None:
    """Decide which plans run, in sorted target order: a plan's eligible
    changes all run or none do, and the run never exceeds ``max_changes``."""
    budget = max_changes
    for pair in sorted(pairs, key=lambda p: p.target):
        if pair.plan is None or not pair.eligible:
            continue
        wanted = len(pair.eligible)
        if wanted <= budget:
            pair.selected = True
            budget -= wanted
            continue
        pair.result.note = (
            f"{wanted} change(s) at or below --max-risk {max_risk} would take the run above "
            f"--max-changes {max_changes} ({budget} left); none applied, all left for review"
        )
        log.warning(
            "target_over_budget",
            account=pair.target.account_id,
            region=pair.target.region,
            plan_id=pair.plan.plan_id,
            wanted=wanted,
            budget_left=budget,
        )


def run(opts: AutoOptions, deps: Deps) -> RunSummary:
    """One unattended run; never raises for a target's failure (see the module docstring)."""
    run_id = opts.run_id or new_run_id()
    summary = RunSummary(
        run_id=run_id,
        started_at=deps.now(),
        out_dir=opts.out_dir,
        max_risk=opts.max_risk,
        max_changes=opts.max_changes,
        dry_run=opts.dry_run,
        shard=opts.shard,
        out_url=opts.sink.url if opts.sink is not None else None,
    )
    started = deps.clock()
    fleet: _Fleet | None = None
    with structlog.contextvars.bound_contextvars(run_id=run_id):
        log.info(
            "run_started",
            out_dir=str(opts.out_dir),
            max_risk=opts.max_risk,
            max_changes=opts.max_changes,
            dry_run=opts.dry_run,
        )
        try:
            if (opts.out_dir / SUMMARY_FILE).exists():
                raise BadInput(
                    f"{opts.out_dir} holds the artifacts of an earlier run ({SUMMARY_FILE}).",
                    hint="Give each run its own --out-dir (e.g. runs/$(date -u +%Y%m%dT%H%M%SZ)).",
                )
            fleet = _Fleet(opts, deps, run_id)
            targets = fleet.targets()
            pairs = [
                _Pair(
                    target=t,
                    folder=opts.out_dir / t.account_id / t.region,
                    result=TargetResult(t.account_id, t.region, dir=f"{t.account_id}/{t.region}"),
                )
                for t in targets
            ]
            runner = _Runner(opts, deps, fleet)
            each(pairs, runner.plan_phase, opts.concurrency, deps.progress, "plan")
            allocate(pairs, opts.max_changes, opts.max_risk)
            chosen = [p for p in pairs if p.selected]
            for p in pairs:
                if not p.selected:
                    release(p)
            each(chosen, runner.apply_phase, opts.concurrency, deps.progress, "apply")
            for p in pairs:
                if not p.selected and p.plan is not None and p.result.outcome != "error":
                    if p.result.note:
                        p.run_lines = [p.result.note]
                        runner._write_report(p, "plan", p.plan)
                    runner.leave_for_review(p)
            summary.targets = [p.result for p in pairs]
        except RemediatorError as exc:
            summary.error = _one_line(exc)
            log.error("run_failed", error=summary.error)
        summary.finished_at = deps.now()
        summary.seconds = deps.clock() - started
        if opts.notify_sns:
            summary.notification = _notify(opts, deps, fleet, summary)
        if summary.error is None:
            opts.out_dir.mkdir(parents=True, exist_ok=True)
            planfile.atomic_write(
                opts.out_dir / SUMMARY_FILE,
                json.dumps(summary.to_json(), indent=2, sort_keys=True) + "\n",
                0o644,
            )
        if opts.sink is not None:
            _publish(opts.sink, summary)
        log.info(
            "run_finished",
            outcome=summary.outcome,
            exit_code=summary.exit_code,
            targets=len(summary.targets),
            seconds=round(summary.seconds, 3),
        )
    return summary


def _publish(sink: artifacts.OutDir, summary: RunSummary) -> None:
    """Upload the run; once all of it is there (and the run wrote its
    summary), name it the latest run beside it, the one the next run closes
    findings against."""
    try:
        log.info("artifacts_published", url=sink.url, objects=len(sink.publish()))
    except RemediatorError as exc:
        summary.error = summary.error or f"artifacts not published: {_one_line(exc)}"
        log.error("artifacts_not_published", url=sink.url, error=_one_line(exc))
        return
    if summary.error is None:
        artifacts.mark_latest(sink)


def _notify(
    opts: AutoOptions, deps: Deps, fleet: _Fleet | None, summary: RunSummary
) -> dict[str, Any]:
    assert opts.notify_sns is not None
    topic = opts.notify_sns
    try:
        notify.topic_region(topic)  # a malformed ARN fails before any session is made
        if fleet is None:
            fleet = _Fleet(opts, deps, summary.run_id)
        message_id = notify.publish(fleet.aws.door, topic, summary.to_json())
    except RemediatorError as exc:
        log.error("summary_not_published", topic=topic, error=_one_line(exc))
        return {"topic": topic, "message_id": None, "error": _one_line(exc)}
    log.info("summary_published", topic=topic, message_id=message_id)
    return {"topic": topic, "message_id": message_id, "error": None}
