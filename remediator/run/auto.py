"""`remediate auto`: the scheduled, unattended run across accounts and regions.

For every account-region pair (a *target*) in the run, in three phases:

1. **plan** (concurrently, ``--concurrency`` workers): assume the member
   role (if any), discover, plan, write ``plan.json`` and read it back (the
   file is what gets applied), ``plan.md`` and ``plan.asff.json``;
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

One target's failure never stops the others: it is recorded as an ``error``
with its one-line message. The run's outcome is the worst of its targets
(``WORST_FIRST``); its exit code is that outcome's, from the one table in
``remediator.domain.outcomes``. An error while verifying a target counts as a
failed verification: the target's changes are rolled back (``undone``).

Logs: every line a worker logs carries ``run_id``, ``account``, ``region``
and, once planned, ``plan_id`` (structlog context variables, copied into
each task so nothing leaks between targets that share a worker thread).

This module reads the fleet (STS, Organizations, DescribeRegions) and hands
the session of each target to discovery and the executor; it creates
sessions but sends no Lambda or EC2 call itself.
"""

from __future__ import annotations

import contextvars
import fnmatch
import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import structlog
from botocore.credentials import CredentialProvider, RefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError

from remediator import planfile, planner
from remediator.aws import discover, door, notify
from remediator.changes.registry import Change
from remediator.domain.errors import AwsAccessError, BadInput, RemediatorError
from remediator.domain.findings import UNRESOLVED_STATUSES
from remediator.domain.inventory import Inventory
from remediator.domain.outcomes import EXIT_CODES as VERDICT_EXIT_CODES
from remediator.domain.outcomes import EXIT_FIXED as EXIT_FIXED
from remediator.domain.outcomes import TARGET_VERDICT, TargetOutcome
from remediator.domain.outcomes import WORST_FIRST as VERDICT_ORDER
from remediator.domain.policy import Policy
from remediator.planfile.model import Plan
from remediator.render import asff, report
from remediator.run import apply as applying
from remediator.run.lock import DynamoLock, FileLock

log = structlog.get_logger(__name__)

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

ACCOUNT_ID = re.compile(r"^\d{12}$")
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}|\{account_id\}):role/[\w+=,.@/-]+$")
ENABLED_OPT_IN = frozenset({"opt-in-not-required", "opted-in"})
SUMMARY_FILE = "summary.json"


# --------------------------------------------------------------------------
# Targets: accounts x regions, and the shard of them this runner takes


@dataclass(frozen=True, order=True)
class Target:
    """One account-region pair. ``role_arn`` None: the runner's own credentials."""

    account_id: str
    region: str
    role_arn: str | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        return f"{self.account_id}:{self.region}"


def shard_of(key: str, count: int) -> int:
    """The shard (1..count) of ``key``: stable, whatever else is in the fleet."""
    return int(hashlib.sha256(key.encode()).hexdigest(), 16) % count + 1


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/3"`` -> ``(2, 3)``; shards are numbered from 1."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise BadInput(
            f"--shard {text!r} is not I/N with 1 <= I <= N.",
            hint="Pass e.g. --shard 1/3 (this runner takes the first of three shards).",
        )
    return int(match.group(1)), int(match.group(2))


def select_shard(targets: Iterable[Target], shard: tuple[int, int] | None) -> list[Target]:
    ordered = sorted(targets)
    if shard is None:
        return ordered
    index, count = shard
    return [t for t in ordered if shard_of(t.key, count) == index]


def parse_accounts(text: str, source: str = "accounts file") -> list[str]:
    """Account ids, one per line; ``#`` starts a comment; sorted, without repeats."""
    found: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if not ACCOUNT_ID.match(line):
            raise BadInput(
                f"{source} line {number}: {line!r} is not a 12-digit AWS account id.",
                hint="List one account id per line; # starts a comment.",
            )
        found.append(line)
    return sorted(set(found))


def check_role_template(template: str, *, many: bool) -> None:
    if not ROLE_ARN.match(template):
        raise BadInput(
            f"--role-arn {template!r} is not an IAM role ARN.",
            hint="Pass e.g. 'arn:aws:iam::{account_id}:role/remediator' (quote it in the shell).",
        )
    if many and "{account_id}" not in template:
        raise BadInput(
            "--role-arn must contain {account_id} when several accounts are given.",
            hint="Pass e.g. 'arn:aws:iam::{account_id}:role/remediator'.",
        )
    if not many and "{account_id}" in template:
        raise BadInput(
            "--role-arn contains {account_id} but no accounts were given.",
            hint="Add --accounts-file FILE or --organization, or name one role.",
        )


def role_for(template: str, account_id: str) -> str:
    return template.replace("{account_id}", account_id)


def active_accounts(accounts: Iterable[dict[str, Any]]) -> list[str]:
    """The ids of ACTIVE accounts (``Status``, or the newer ``State``)."""
    out = []
    for account in accounts:
        state = account.get("State") or account.get("Status")
        if state == "ACTIVE" and ACCOUNT_ID.match(str(account.get("Id", ""))):
            out.append(str(account["Id"]))
    return sorted(set(out))


def enabled_regions(regions: Iterable[dict[str, Any]]) -> list[str]:
    return sorted(
        str(r["RegionName"])
        for r in regions
        if r.get("OptInStatus", "opt-in-not-required") in ENABLED_OPT_IN
    )


# --------------------------------------------------------------------------
# Options, dependencies, results


@dataclass(frozen=True)
class AutoOptions:
    out_dir: Path
    policy: Policy
    regions: tuple[str, ...] = ()
    max_risk: str = "low"
    max_changes: int = 25
    concurrency: int = 4
    role_arn: str | None = None
    external_id: str | None = None
    accounts: tuple[str, ...] = ()
    organization: bool = False
    shard: tuple[int, int] | None = None
    functions: tuple[str, ...] = ()
    notify_sns: str | None = None
    lock_table: str | None = None
    lock_dir: Path | None = None
    dry_run: bool = False
    profile: str | None = None
    endpoint_url: str | None = None
    run_id: str | None = None


Verify = Callable[[Plan, list[Change]], list[str]]


@dataclass
class Deps:
    """What a run talks to and how it tells time; tests replace parts of it."""

    verifier: Callable[[Any, str | None, Policy], Verify]
    now: Callable[[], str]
    make_session: Callable[[str | None], Any] = discover.make_session
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
            "out_dir": str(self.out_dir),
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


# --------------------------------------------------------------------------
# Sessions: the runner's own, and one per member account


class _StaticProvider(CredentialProvider):
    METHOD = "remediator-assume-role"
    CANONICAL_NAME = "remediator-assume-role"

    def __init__(self, credentials: Any) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> Any:
        return self._credentials


def _new_session(loader: Any, profile: str | None = None, credentials: Any = None) -> Any:
    """A new boto3 session for one target (sessions are not shared across
    threads) on ``credentials`` (else the profile's chain). ``loader`` is the
    run's service-model loader: the models are parsed once per run, not once
    per target."""
    core = botocore.session.Session(profile=profile)
    core.register_component("data_loader", loader)
    if credentials is not None:
        provider = _StaticProvider(credentials)
        core.get_component("credential_provider").insert_before("env", provider)
    return boto3.session.Session(botocore_session=core)


class _ClientCache:
    """A target's session whose clients are made once per (service, region,
    settings). Discovery runs up to three times per target (plan, verify,
    plan again) and would otherwise build every client anew each time
    (tens of milliseconds of CPU each). Used by one worker at a time."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self._clients: dict[tuple[Any, ...], Any] = {}

    @property
    def region_name(self) -> str | None:
        return self._session.region_name  # type: ignore[no-any-return]

    @property
    def events(self) -> Any:
        return self._session.events

    def client(self, service: str, **kwargs: Any) -> Any:
        config = kwargs.get("config")
        settings = (
            None
            if config is None
            else (
                tuple(sorted((config.retries or {}).items())),
                config.connect_timeout,
                config.read_timeout,
            )
        )
        key = (service, kwargs.get("region_name"), kwargs.get("endpoint_url"), settings)
        if key not in self._clients:
            self._clients[key] = self._session.client(service, **kwargs)
        return self._clients[key]


class _Fleet:
    """The runner's view of the fleet: its identity, the targets, the member
    credentials (assumed once per role, refreshed before they expire), the
    lock and the notification topic."""

    def __init__(self, opts: AutoOptions, deps: Deps, run_id: str) -> None:
        self.opts = opts
        self.deps = deps
        self.run_id = run_id
        self.base = deps.make_session(opts.profile)
        if deps.on_session is not None:
            deps.on_session(self.base, None)
        named = [r for r in opts.regions if r != "all"]
        self.home = self.base.region_name or (named[0] if named else "us-east-1")
        self._clients: dict[tuple[str, str], Any] = {}
        self._credentials: dict[str, Any] = {}
        self._role_locks: dict[str, threading.Lock] = {}
        self._guard = threading.RLock()
        self._lock: FileLock | DynamoLock | None = None
        self._loader = botocore.loaders.create_loader()

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.home)
        with self._guard:
            if key not in self._clients:
                kwargs: dict[str, Any] = {
                    "region_name": key[1],
                    "config": discover.client_config(),
                }
                if self.opts.endpoint_url:
                    kwargs["endpoint_url"] = self.opts.endpoint_url
                self._clients[key] = self.base.client(service, **kwargs)
            return self._clients[key]

    def call(self, service: str, operation: str, method: str, **params: Any) -> dict[str, Any]:
        client = self.client(service)
        try:
            return dict(getattr(client, method)(**params))
        except (ClientError, BotoCoreError) as exc:
            translated = discover.translate_error(
                exc,
                service=service,
                operation=operation,
                region=self.home,
                endpoint_url=self.opts.endpoint_url,
            )
            raise (translated or AwsAccessError(_one_line(exc))) from exc

    def _pages(self, service: str, operation: str, method: str, key: str) -> list[dict[str, Any]]:
        client = self.client(service)
        try:
            return [item for page in client.get_paginator(method).paginate() for item in page[key]]
        except (ClientError, BotoCoreError) as exc:
            translated = discover.translate_error(
                exc,
                service=service,
                operation=operation,
                region=self.home,
                endpoint_url=self.opts.endpoint_url,
            )
            raise (translated or AwsAccessError(_one_line(exc))) from exc

    # -- targets

    def targets(self) -> list[Target]:
        opts = self.opts
        caller = str(self.call("sts", "GetCallerIdentity", "get_caller_identity")["Account"])
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
                ids = active_accounts(
                    self._pages("organizations", "ListAccounts", "list_accounts", "Accounts")
                )
                log.info("organization_listed", accounts=len(ids))
            accounts = [(a, role_for(opts.role_arn, a)) for a in ids]
        elif opts.role_arn:
            check_role_template(opts.role_arn, many=False)
            accounts = [(opts.role_arn.split(":")[4], opts.role_arn)]
        else:
            accounts = [(caller, None)]
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
            described = self.call("ec2", "DescribeRegions", "describe_regions").get("Regions", [])
            wanted = [r for r in wanted if r != "all"] + enabled_regions(described)
        return sorted(set(wanted))

    # -- member sessions

    def _assume(self, role_arn: str) -> dict[str, Any]:
        params: dict[str, Any] = {
            "RoleArn": role_arn,
            "RoleSessionName": f"remediator-{self.run_id}"[:64],
            "DurationSeconds": 3600,
        }
        if self.opts.external_id:
            params["ExternalId"] = self.opts.external_id
        try:
            out = self.call("sts", "AssumeRole", "assume_role", **params)["Credentials"]
        except RemediatorError as exc:
            raise AwsAccessError(
                f"Cannot assume {role_arn}: {exc.message}",
                hint="Check that the role exists and trusts this runner (and --external-id).",
            ) from exc
        expiry = out["Expiration"]
        return {
            "access_key": out["AccessKeyId"],
            "secret_key": out["SecretAccessKey"],
            "token": out["SessionToken"],
            "expiry_time": expiry.isoformat() if hasattr(expiry, "isoformat") else str(expiry),
        }

    def session_for(self, target: Target) -> Any:
        if target.role_arn is None:
            session = _new_session(self._loader, self.opts.profile)
        else:
            role = target.role_arn
            with self._guard:
                role_lock = self._role_locks.setdefault(role, threading.Lock())
            with role_lock:
                if role not in self._credentials:
                    self._credentials[role] = RefreshableCredentials.create_from_metadata(
                        metadata=self._assume(role),
                        refresh_using=lambda: self._assume(role),
                        method="remediator-assume-role",
                    )
            session = _new_session(self._loader, credentials=self._credentials[role])
        if self.deps.on_session is not None:
            self.deps.on_session(session, target)
        return _ClientCache(session)

    def lock(self) -> FileLock | DynamoLock:
        with self._guard:
            if self._lock is None:
                self._lock = (
                    DynamoLock(self.client("dynamodb"), self.opts.lock_table)
                    if self.opts.lock_table
                    else FileLock(self.opts.lock_dir or self.opts.out_dir / ".locks")
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

    def _plan(self, pair: _Pair) -> Plan:
        opts = self.opts
        inventory = discover.discover(
            pair.session,
            [pair.target.region],
            endpoint_url=opts.endpoint_url,
            need_tags=opts.policy.uses_tags,
            tags_from=opts.policy.tags_from,
            dns_for_all_vpcs=opts.policy.may_create_endpoints,
            allowed_account_ids=opts.policy.allowed_account_ids,
        )
        if inventory.account_id != pair.target.account_id:
            raise BadInput(
                f"The credentials for {pair.target.key} reach account {inventory.account_id}.",
                hint="Check --role-arn: it must name a role in each listed account.",
            )
        return planner.build_plan(_narrow(inventory, opts.functions), opts.policy, self.deps.now())

    def _write(self, pair: _Pair, name: str, plan: Plan) -> Path:
        path = pair.folder / f"{name}.json"
        planfile.write_plan(plan, path)
        planfile.atomic_write(pair.folder / f"{name}.asff.json", asff.render(plan), 0o644)
        self._write_report(pair, name, plan)
        return path

    def _write_report(self, pair: _Pair, name: str, plan: Plan) -> None:
        text = report.render(plan, "markdown")
        if name == "plan" and pair.run_lines:
            text += "\n## Unattended run\n\n```text\n" + "\n".join(pair.run_lines) + "\n```\n"
        planfile.atomic_write(pair.folder / f"{name}.md", text, 0o644)

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
                plan, applying.ApplyOptions(max_risk=self.opts.max_risk)
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
        session, endpoint_url = pair.session, self.opts.endpoint_url

        def factory(service: str, region: str) -> Any:
            kwargs: dict[str, Any] = {"region_name": region, "config": door.executor_config()}
            if endpoint_url:
                kwargs["endpoint_url"] = endpoint_url
            return session.client(service, **kwargs)

        return door.Aws(factory, settings=self.deps.settings, dry_run=self.opts.dry_run)


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


def _each(
    pairs: Sequence[_Pair],
    work: Callable[[_Pair], None],
    concurrency: int,
    progress: Callable[[str, int, int], None] | None,
    phase: str,
) -> None:
    if not pairs:
        return
    done = 0
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="auto") as pool:
        # Each task runs in a copy of this context: run_id is there, and what a
        # task binds (account, region, plan_id) does not leak into the next
        # task of the same worker thread.
        futures = [pool.submit(contextvars.copy_context().run, work, p) for p in pairs]
        try:
            for future in futures:
                future.result()
                done += 1
                if progress is not None:
                    progress(phase, done, len(pairs))
        except BaseException:
            # Ctrl-C: start no other target; the running ones finish their
            # step (an apply is never cut off between its journal lines).
            pool.shutdown(wait=True, cancel_futures=True)
            raise


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
            _each(pairs, runner.plan_phase, opts.concurrency, deps.progress, "plan")
            allocate(pairs, opts.max_changes, opts.max_risk)
            chosen = [p for p in pairs if p.selected]
            _each(chosen, runner.apply_phase, opts.concurrency, deps.progress, "apply")
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
        log.info(
            "run_finished",
            outcome=summary.outcome,
            exit_code=summary.exit_code,
            targets=len(summary.targets),
            seconds=round(summary.seconds, 3),
        )
    return summary


def _notify(
    opts: AutoOptions, deps: Deps, fleet: _Fleet | None, summary: RunSummary
) -> dict[str, Any]:
    assert opts.notify_sns is not None
    topic = opts.notify_sns
    try:
        region = notify.topic_region(topic)
        if fleet is None:
            fleet = _Fleet(opts, deps, summary.run_id)
        message_id = notify.publish(fleet.client("sns", region), topic, summary.to_json())
    except RemediatorError as exc:
        log.error("summary_not_published", topic=topic, error=_one_line(exc))
        return {"topic": topic, "message_id": None, "error": _one_line(exc)}
    log.info("summary_published", topic=topic, message_id=message_id)
    return {"topic": topic, "message_id": message_id, "error": None}
