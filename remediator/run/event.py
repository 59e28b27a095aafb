"""`remediate event` and the Lambda handler: one EventBridge event, or an SQS
batch of them, judged and fixed minutes after the change that broke a function.

For a batch, in order:

1. **sort** (nothing read yet): each event is a duplicate (its id seen
   earlier in the batch, or a marker ``seen/<id>.json`` under the out-dir
   younger than ``dedupe_ttl``), for another account or region than the
   operator serves, of no interest, or a ``Concern`` (``domain.events``);
   an event that cannot be read stops everything before anything is read;
2. **settle** (reads only): every function a Lambda event names is read
   (``GetFunctionConfiguration``): one that is ``Pending`` or whose last
   update is ``InProgress`` has not settled, so its events are *retried*
   (SQS: ``batchItemFailures``; one event: exit ``EXIT_RETRY``); one that no
   longer exists is ignored. Every network resource an EC2 event names is
   mapped to its VPC by one describe per kind (``aws.network.locate``); a
   NAT gateway or endpoint still ``pending`` is retried; a resource that no
   longer describes makes the event region-wide;
3. **judge**: what is left is merged into one ``discover.Scope`` (bursts
   for the same function or VPC are one judgement) and run through
   ``run.auto.run`` for the served account-region, with every gate of
   ``remediate auto`` (risk ceiling, change budget, policy, lock, journal,
   verification, rollback, exit codes), its artifacts under
   ``<out-dir>/runs/<run id>/``;
4. **mark**: each judged event gets its marker, unless the run failed with
   an error (then it is retried, like an unsettled one).

Decisions use the live state the run reads, never the event's copy.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import structlog

from remediator.aws import discover
from remediator.aws.door import Aws
from remediator.aws.network import locate
from remediator.aws.session import client_factory
from remediator.domain import events as ev
from remediator.domain.errors import AwsCallFailed, BadInput, RemediatorError
from remediator.domain.outcomes import EXIT_RETRY
from remediator.domain.policy import Policy
from remediator.domain.targets import role_for
from remediator.run import artifacts
from remediator.run import auto as running
from remediator.run.verify import make_verifier

log = structlog.get_logger(__name__)

DEDUPE_TTL_SECONDS = 24 * 3600
"""How long an event id counts as seen: EventBridge and SQS redeliver within
minutes to hours; a day covers both and keeps the markers few."""
UNSETTLED_STATES = frozenset({"Pending"})
UNSETTLED_UPDATES = frozenset({"InProgress"})
UNSETTLED_RESOURCES = frozenset({"pending", "pendingAcceptance"})
SEEN = "seen"
RUNS = "runs"


@dataclass(frozen=True)
class EventOptions:
    out: artifacts.OutDir
    """The operator's out-dir (the same across runs: it holds the markers)."""
    policy: Policy
    region: str | None = None
    """The region served; default: the session's (``AWS_REGION``)."""
    max_risk: str = "low"
    max_changes: int = 25
    notify_sns: str | None = None
    lock_table: str | None = None
    lock_dir: Path | None = None
    dry_run: bool = False
    profile: str | None = None
    endpoint_url: str | None = None
    network_role_arn: str | None = None
    dedupe_ttl: int = DEDUPE_TTL_SECONDS
    run_id: str | None = None
    role_arn: str | None = None
    """A role template (``{account_id}``) in member accounts: events of those
    accounts (an organization's central bus) are judged through it; without
    it, another account's event is ignored."""


@dataclass
class _Item:
    event: ev.Event
    concern: ev.Concern | None = None
    status: str = "pending"  # handled, ignored, duplicate, retry, failed
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        data = {"id": self.event.id, "name": ev.clean(self.event.name)}
        if self.event.message_id is not None:
            data["message_id"] = self.event.message_id
        if self.reason:
            data["reason"] = self.reason
        return data


@dataclass
class EventSummary:
    """The run summary of ``remediate auto`` plus what became of each event."""

    run: running.RunSummary
    sqs: bool = False
    items: list[_Item] = field(default_factory=list)
    scope: discover.Scope | None = None
    region_wide: bool = False

    def _of(self, status: str) -> list[_Item]:
        return [i for i in self.items if i.status == status]

    @property
    def failures(self) -> list[str]:
        """The SQS message ids to hand back (retried later, DLQ at last)."""
        return [
            i.event.message_id
            for i in self.items
            if i.status in ("retry", "failed") and i.event.message_id
        ]

    @property
    def exit_code(self) -> int:
        if not self.sqs and self._of("retry") and not self.run.error:
            return EXIT_RETRY
        return self.run.exit_code

    def to_json(self) -> dict[str, Any]:
        data = self.run.to_json()
        data["exit_code"] = self.exit_code
        data["events"] = {
            "received": len(self.items),
            "handled": [i.to_json() for i in self._of("handled")],
            "ignored": [i.to_json() for i in self._of("ignored")],
            "duplicates": [i.to_json() for i in self._of("duplicate")],
            "retry": [i.to_json() for i in self._of("retry") + self._of("failed")],
            "scope": None
            if self.scope is None
            else {"functions": list(self.scope.functions), "vpcs": list(self.scope.vpcs)},
            "region_wide": self.region_wide,
        }
        if self.sqs:
            data["batchItemFailures"] = [{"itemIdentifier": m} for m in self.failures]
        return data


def default_deps(now: Any) -> running.Deps:
    """What ``remediate event`` and the handler run with: verification reads
    functions by name (no sweep)."""
    return running.Deps(verifier=partial(make_verifier, by_name=True), now=now)


def failed(message: str, opts: EventOptions, now: str, raw: Any = None) -> EventSummary:
    """The summary of a run refused before anything was read (a malformed
    event, a bad option). For an SQS batch every record is handed back, so
    none is lost: after the queue's retries they reach its DLQ."""
    run = running.RunSummary(
        run_id=opts.run_id or new_run_id(),
        started_at=now,
        out_dir=opts.out.local,
        max_risk=opts.max_risk,
        max_changes=opts.max_changes,
        dry_run=opts.dry_run,
        finished_at=now,
        error=" ".join(message.split()),
        out_url=opts.out.url,
    )
    records = raw.get("Records") if isinstance(raw, dict) else None
    items = [
        _Item(ev.Event(f"record-{n}", "", "", "", "", {}, str(r["messageId"])), status="failed")
        for n, r in enumerate(records if isinstance(records, list) else [], 1)
        if isinstance(r, dict) and isinstance(r.get("messageId"), str)
    ]
    return EventSummary(run=run, sqs=isinstance(records, list), items=items)


def new_run_id() -> str:
    return "event-" + running.new_run_id().removeprefix("auto-")


# --------------------------------------------------------------------------
# The run


def run(batch: ev.Batch, opts: EventOptions, deps: running.Deps) -> EventSummary:
    """Handle ``batch`` (see the module docstring); raises only ``BadInput``
    for an event that cannot be read (before anything was read or changed)."""
    run_id = opts.run_id or new_run_id()
    items = [_Item(e) for e in batch.events]
    concerns = {e.id: ev.concern(e) for e in batch.events}  # BadInput: nothing read yet
    with structlog.contextvars.bound_contextvars(run_id=run_id):
        session = deps.make_session(opts.profile)
        if deps.on_session is not None:
            deps.on_session(session, None)
        region = opts.region or session.region_name
        if not region:
            raise BadInput("No region given.", hint="Pass --region, or set AWS_REGION.")
        factory = client_factory(session, endpoint_url=opts.endpoint_url)
        door = Aws(factory, deps.settings, mode="check")
        try:
            account = str(door.call("sts", region, "get_caller_identity")["Account"])
            _sort(items, concerns, account, region, opts, deps.now())
            members = sorted({i.event.account for i in items if i.status == "pending"} - {account})
            _settle([i for i in items if i.event.account == account], door, region)
            for member in members:
                member_door = _member_door(session, member, region, opts, deps, run_id)
                _settle([i for i in items if i.event.account == member], member_door, region)
        except RemediatorError as exc:
            return _not_run(items, batch.sqs, opts, deps, run_id, exc)
        judged = [i for i in items if i.status == "pending"]
        merged = ev.merge([i.concern for i in judged if i.concern is not None])
        scope = None if merged.region_wide else discover.Scope(merged.functions, merged.vpcs)
        fleet = _fleet_of(judged, account, opts)
        log.info(
            "events_sorted",
            received=len(items),
            judged=len(judged),
            **{s: sum(i.status == s for i in items) for s in ("ignored", "duplicate", "retry")},
        )
        if not judged:
            summary = EventSummary(run=_empty(opts, deps, run_id), sqs=batch.sqs, items=items)
            return summary
        out = opts.out.sub(f"{RUNS}/{run_id}")
        auto_opts = running.AutoOptions(
            out_dir=out.local,
            policy=opts.policy,
            regions=(region,),
            max_risk=opts.max_risk,
            max_changes=opts.max_changes,
            concurrency=1,
            notify_sns=opts.notify_sns,
            lock_table=opts.lock_table,
            lock_dir=opts.lock_dir or opts.out.local / ".locks",
            dry_run=opts.dry_run,
            profile=opts.profile,
            endpoint_url=opts.endpoint_url,
            run_id=run_id,
            network_role_arn=opts.network_role_arn,
            scope=scope,
            sink=out if out.store is not None else None,
            **fleet,
        )
        summary = EventSummary(
            run=running.run(auto_opts, deps),
            sqs=batch.sqs,
            items=items,
            scope=scope,
            region_wide=merged.region_wide,
        )
        _mark(summary, judged, opts, deps.now(), run_id)
        return summary


def _member_door(
    session: Any, account: str, region: str, opts: EventOptions, deps: running.Deps, run_id: str
) -> Aws:
    """A read-only door into a member ``account`` through ``opts.role_arn``."""
    from remediator.aws.fleet import Fleet

    assert opts.role_arn is not None
    fleet = Fleet(
        session,
        home=region,
        run_id=run_id,
        mode="check",
        profile=opts.profile,
        endpoint_url=opts.endpoint_url,
    )
    member = fleet.session_for(role_for(opts.role_arn, account))
    if deps.on_session is not None:
        deps.on_session(member, None)
    return Aws(client_factory(member, endpoint_url=opts.endpoint_url), deps.settings, mode="check")


def _fleet_of(judged: Sequence[_Item], account: str, opts: EventOptions) -> dict[str, Any]:
    """The accounts of an event run with members: each judged account, the
    operator's own reached directly, the members through the role, each
    reading only what its own events concern."""
    accounts = sorted({i.event.account for i in judged})
    if accounts in ([], [account]):
        return {}
    scopes: dict[str, discover.Scope | None] = {}
    for name in accounts:
        merged = ev.merge([i.concern for i in judged if i.event.account == name and i.concern])
        scopes[name] = None if merged.region_wide else discover.Scope(merged.functions, merged.vpcs)
    return {
        "accounts": tuple(accounts),
        "role_arn": opts.role_arn,
        "direct_accounts": (account,),
        "scopes": scopes,
    }


def _not_run(
    items: list[_Item],
    sqs: bool,
    opts: EventOptions,
    deps: running.Deps,
    run_id: str,
    exc: RemediatorError,
) -> EventSummary:
    """An AWS failure before the judgement: nothing changed; retried."""
    for item in items:
        if item.status in ("pending", "retry"):
            item.status, item.reason = "failed", "not judged: the run failed before it"
    run = _empty(opts, deps, run_id)
    run.error = " ".join(str(exc).split())
    log.error("run_failed", error=run.error)
    return EventSummary(run=run, sqs=sqs, items=items)


def _empty(opts: EventOptions, deps: running.Deps, run_id: str) -> running.RunSummary:
    now = deps.now()
    return running.RunSummary(
        run_id=run_id,
        started_at=now,
        out_dir=opts.out.local,
        max_risk=opts.max_risk,
        max_changes=opts.max_changes,
        dry_run=opts.dry_run,
        finished_at=now,
        out_url=opts.out.url,
    )


def _sort(
    items: Sequence[_Item],
    concerns: dict[str, ev.Concern | ev.Ignored],
    account: str,
    region: str,
    opts: EventOptions,
    now: str,
) -> None:
    seen: set[str] = set()
    for item in items:
        event = item.event
        if event.id in seen:
            item.status, item.reason = "duplicate", "the same event id earlier in this batch"
            continue
        seen.add(event.id)
        member = opts.role_arn is not None and _is_account_id(event.account)
        if event.region != region or (event.account != account and not member):
            item.status = "ignored"
            served = f"{account}/{region}" + (" and its members" if opts.role_arn else "")
            item.reason = f"for {event.account}/{event.region}; this operator serves {served}"
            continue
        found = concerns[event.id]
        if isinstance(found, ev.Ignored):
            item.status, item.reason = "ignored", found.reason
            continue
        if _seen_before(opts, event.id, now):
            item.status, item.reason = "duplicate", "handled by an earlier run"
            continue
        item.concern = found


def _is_account_id(text: str) -> bool:
    return len(text) == 12 and text.isdigit()


def _seen_before(opts: EventOptions, event_id: str, now: str) -> bool:
    text = opts.out.read_text(f"{SEEN}/{_marker_name(event_id)}")
    if text is None:
        return False
    try:
        expires = _when(str(json.loads(text)["expires_at"]))
    except (ValueError, KeyError, TypeError):
        return False  # an unreadable marker: handle the event again (idempotent)
    return _when(now) < expires


def _marker_name(event_id: str) -> str:
    return event_id.replace(":", "_") + ".json"


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _settle(items: Sequence[_Item], door: Aws, region: str) -> None:
    """Retry what has not settled; map network resources to their VPCs."""
    pending = [i for i in items if i.status == "pending" and i.concern is not None]
    names = sorted({f for i in pending if i.concern for f in i.concern.functions})
    states: dict[str, str | None] = {}
    for name in names:
        try:
            config = door.call("lambda", region, "get_function_configuration", FunctionName=name)
        except AwsCallFailed as exc:
            if exc.code != "ResourceNotFoundException":
                raise
            states[name] = None
            continue
        unsettled = config.get("State") in UNSETTLED_STATES or (
            config.get("LastUpdateStatus") in UNSETTLED_UPDATES
        )
        states[name] = "unsettled" if unsettled else "settled"
    resources = sorted({r for i in pending if i.concern for r in i.concern.resources})
    located = {x.resource_id: x for x in locate(door, region, resources)} if resources else {}
    for item in pending:
        concern = item.concern
        assert concern is not None
        if any(states.get(f) == "unsettled" for f in concern.functions):
            item.status, item.reason = "retry", "the function's update has not settled"
        elif concern.functions and all(states.get(f) is None for f in concern.functions):
            item.status, item.reason = "ignored", "the function no longer exists"
        elif any(located[r].state in UNSETTLED_RESOURCES for r in concern.resources):
            item.status, item.reason = "retry", "the resource is still pending"
        elif concern.resources:
            vpcs = {located[r].vpc_id for r in concern.resources}
            item.concern = ev.Concern(
                vpcs=tuple(sorted(v for v in vpcs if v)), region_wide=None in vpcs
            )


def _mark(
    summary: EventSummary, judged: Sequence[_Item], opts: EventOptions, now: str, run_id: str
) -> None:
    """Markers for the judged events; after an error they are retried instead."""
    erred = bool(summary.run.error) or any(t.outcome == "error" for t in summary.run.targets)
    expires = (_when(now) + timedelta(seconds=opts.dedupe_ttl)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for item in judged:
        if erred:
            item.status, item.reason = "failed", "the run failed: handed back to be retried"
            continue
        item.status = "handled"
        marker = {
            "event_id": item.event.id,
            "name": ev.clean(item.event.name),
            "run_id": run_id,
            "processed_at": now,
            "expires_at": expires,
        }
        try:
            opts.out.write_text(
                f"{SEEN}/{_marker_name(item.event.id)}", json.dumps(marker, sort_keys=True) + "\n"
            )
        except RemediatorError as exc:  # a lost marker only means judging it again
            log.warning("event_marker_not_written", event_id=item.event.id, error=str(exc))
