"""What every change kind shares: the live-side ``Handler`` contract, the
live state it reads (``Live``), what an interrupted attempt left (``OwnWork``),
the ``Kind`` record a kind module declares, and small helpers (reads that
tolerate a vanished target, polling, idempotency tokens, tags).

A kind module (``remediator/changes/<kind>.py``) holds everything about one
kind: its name (the only place the string is written), phase, summary,
reversibility and IAM permissions, its typed ``before``/``after``, the
plan-side state its fingerprint hashes, how a journaled state becomes the
``before`` rollback restores, and the live handler. ``registry`` collects
the modules' ``KIND`` records.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from remediator.domain.canonical import state_hash
from remediator.domain.door import Door
from remediator.domain.errors import AwsCallFailed, ChangeFailed
from remediator.domain.plan import ChangeBase, KindValues

NOT_FOUND_SUFFIXES = ("NotFound", "NotFoundException")

C = TypeVar("C", bound=ChangeBase)

Results = dict[str, dict[str, Any]]


@dataclass
class Live:
    """A target's live state as the planner's fingerprint would see it."""

    state: dict[str, Any]
    revision_id: str | None = None

    @property
    def hash(self) -> str:
        return state_hash(self.state)


@dataclass
class OwnWork:
    """What an interrupted attempt of a change left in effect.

    ``result`` is what ``undo`` needs to take it back. ``complete``: the change
    is wholly in effect (settle it and take it as done); otherwise it is a part
    of the change, to take back before the change is applied afresh."""

    result: dict[str, Any]
    complete: bool = False


class Handler(Generic[C]):
    """How to read, check, apply, settle and undo one kind of change.

    ``undo`` restores ``change.before``; the engine hands it a change whose
    ``before`` comes from the journal's recorded state (``registry.restore_point``),
    never the plan's word alone."""

    kind: str = ""  # the kind's NAME

    def read(self, aws: Door, change: C, results: Results) -> Live:
        raise NotImplementedError

    def check(self, aws: Door, change: C, live: Live, results: Results) -> list[str]:
        """Problems that would make the change fail, found with reads only."""
        return []

    def apply(self, aws: Door, change: C, live: Live, results: Results) -> dict[str, Any]:
        raise NotImplementedError

    def settle(self, aws: Door, change: C, result: dict[str, Any]) -> None:
        return None

    def undo(self, aws: Door, change: C, result: dict[str, Any]) -> None:
        raise NotImplementedError

    def expected_after(self, change: C) -> dict[str, Any] | None:
        """The state the change leaves, when it can be known without its result
        (used to recognise a change an interrupted run already made)."""
        return None

    def read_after(self, aws: Door, change: C, result: dict[str, Any], results: Results) -> Live:
        """The state this change leaves (rollback compares against it)."""
        return self.read(aws, change, {**results, change.id: result})

    def own_work(self, aws: Door, change: C, live: Live) -> OwnWork | None:
        """For a change an interrupted run started (an ``intent`` line without
        outcome or progress) whose target is neither as planned nor as the
        change leaves it: what of the target is recognisably this change's own
        work (its name and ``remediator:change-id`` tag, or a state only its
        own calls produce), or None when nothing is."""
        return None


@dataclass(frozen=True)
class Kind:
    """One kind of change, as its module declares it.

    ``phase``: the order in which kinds are applied, what adds a path before
    what removes one (lower first). ``permissions``: the IAM actions applying
    and rolling back need (the planner copies them into every change;
    ``remediate iam-policy`` reads them here). ``restore(change, state)``: the
    ``before`` that puts the target back into ``state`` (a state the
    fingerprint or the journal recorded); it equals ``change.before`` exactly
    when the plan's ``before`` agrees with that state."""

    name: str
    phase: int
    summary: str
    reversible: bool
    permissions: tuple[str, ...]
    change: type[ChangeBase]
    before: type[KindValues] | None
    after: type[KindValues]
    handler: Handler[Any]
    restore: Callable[[Any, Mapping[str, Any]], KindValues | None]


def client_token(aws: Door, change: ChangeBase) -> str:
    """The idempotency token of a create: the same for the retries of one
    run's call (and for a resumed run), another for every other run."""
    token = f"{aws.run_id or aws.plan_id}-{change.id}"
    if len(token) > 64:  # EC2's limit; keep it unique rather than cut the change id off
        token = hashlib.sha256(token.encode()).hexdigest()[:64]
    return token


def has_tag(tags: Iterable[Mapping[str, Any]] | None, key: str, value: str) -> bool:
    return any(t.get("Key") == key and t.get("Value") == value for t in tags or ())


def change_tags(change: ChangeBase, plan_id: str) -> list[dict[str, str]]:
    """The tags of what a change creates: which change and plan made it."""
    return [
        {"Key": "remediator:change-id", "Value": change.id},
        {"Key": "remediator:plan-id", "Value": plan_id},
    ]


def safe_read(h: Handler[Any], aws: Door, change: ChangeBase, results: Results) -> Live:
    """``h.read``, with a target that no longer exists read as ``Missing``
    (so the stale check reports it instead of the run crashing)."""
    try:
        return h.read(aws, change, results)
    except AwsCallFailed as exc:
        code = exc.code
        if code.endswith(NOT_FOUND_SUFFIXES) or code.startswith("InvalidVpcEndpointId"):
            return Live({"Target": change.target, "Missing": True})
        raise


def poll(
    aws: Door,
    what: str,
    probe: Callable[[], str | None],
    ready: Iterable[str | None],
    failed: Iterable[str | None] = (),
) -> None:
    """Poll ``probe`` until it returns a ``ready`` state (None = gone)."""
    s = aws.settings
    deadline = s.clock() + s.settle_timeout
    ready_set, failed_set = set(ready), set(failed)
    while True:
        state = probe()
        if state in ready_set:
            return
        if state in failed_set:
            raise ChangeFailed(f"{what} is {state}.")
        if s.clock() >= deadline:
            raise ChangeFailed(
                f"{what} did not settle within {s.settle_timeout:.0f} s (last state {state})."
            )
        s.sleep(s.poll_interval)


def subnets_of(aws: Door, region: str, subnet_ids: Iterable[str]) -> list[dict[str, Any]]:
    """The subnets of ``subnet_ids`` that exist (a filter, so a missing id is
    left out instead of failing the call)."""
    found = aws.call(
        "ec2",
        region,
        "describe_subnets",
        Filters=[{"Name": "subnet-id", "Values": list(subnet_ids)}],
    ).get("Subnets", [])
    return list(found)


def ingress_443(groups: Iterable[str]) -> list[dict[str, Any]]:
    """The ``IpPermissions`` of TCP 443 from ``groups``."""
    return [
        {
            "IpProtocol": "tcp",
            "FromPort": 443,
            "ToPort": 443,
            "UserIdGroupPairs": [{"GroupId": g} for g in sorted(groups)],
        }
    ]


def authorize_443(aws: Door, change: ChangeBase, group_id: str, sources: Iterable[str]) -> None:
    """Allow 443 from ``sources`` into ``group_id``. AuthorizeSecurityGroupIngress
    takes no ClientToken: an attempt whose answer was lost (a read timeout
    after AWS added the rule) is retried and refused as a duplicate. The rule
    was not there when the change began (the stale check), so the duplicate
    is the first attempt's own rule: the change is done."""
    try:
        aws.call(
            "ec2",
            change.region,
            "authorize_security_group_ingress",
            GroupId=group_id,
            IpPermissions=ingress_443(sources),
        )
    except AwsCallFailed as exc:
        if exc.code != "InvalidPermission.Duplicate":
            raise
