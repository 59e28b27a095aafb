"""What a strategy is: a declared set of finding codes it can fix, the manual
step a person takes instead, and ``propose``, a pure function from a
function's context and open findings to a ``Proposal`` (the changes to make
and the findings they fix) or a ``Blocked`` reason.

A strategy never touches the plan: the build loop places its proposal (or
records why it is blocked). A proposal is complete: a blocked strategy
leaves nothing behind, and a proposal's ``fixes`` are exactly the findings
its changes fix. The values are named tuples: immutable, and cheap to make
once or twice per function on the planner's hot path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from remediator.diagnose import ConfigVerdict, RegionIndex
from remediator.domain.inventory import Function
from remediator.domain.plan import BlastRadius, Finding, Fingerprint, Risk
from remediator.domain.policy import Settings
from remediator.planner.builder import change_id


class Context(NamedTuple):
    """What a strategy may look at for one function; nothing else."""

    region: str
    region_index: RegionIndex
    fn: Function
    verdict: ConfigVerdict
    settings: Settings
    # the functions of the region by VPC id (an endpoint serves all of them)
    region_fns: Mapping[str, Sequence[Function]]
    # set for the alias pass: whether $LATEST ends up fixed, and by which change
    latest_fixed: bool = False
    latest_fix: str | None = None

    def change_id(self, kind: str, target: str, key: str = "") -> str:
        """The id of the change of ``kind`` to ``target`` (and ``key``) in this
        region (changes to one target are planned once, whoever proposes them)."""
        return change_id(kind, self.region, target, key)


class ProposedChange(NamedTuple):
    """The arguments of one ``_Builder.add``; ``depends_on`` lists change
    ids (``Context.change_id``) of this proposal or already placed."""

    kind: str
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any]
    risk: Risk
    reason: str
    fp: Fingerprint
    blast: BlastRadius | None = None
    depends_on: tuple[str, ...] = ()
    # tells apart several changes of one kind to one target (``change_id``)
    key: str = ""


class Proposal(NamedTuple):
    """``changes`` in the order a fixed finding lists them in ``fixed_by``."""

    changes: tuple[ProposedChange, ...]
    fixes: tuple[Finding, ...]


class Blocked(NamedTuple):
    reason: str


Propose = Callable[[Context, Sequence[Finding]], Proposal | Blocked]


@dataclass(frozen=True)
class Strategy:
    """``propose`` is given the open findings of the pass it runs in and
    returns a proposal whose ``fixes`` are a subset of them with codes in
    ``codes``, made of changes of the ``kinds`` it declares (apply refuses
    a change whose kind no strategy for its findings' codes declares)."""

    name: str
    codes: frozenset[str]
    manual: str
    propose: Propose
    kinds: frozenset[str]


def account_of(arn: str) -> str:
    """The account id of an ARN (``arn:aws:lambda:REGION:ACCOUNT:…``); ``""``
    when it has none. A function's ARN names the account being planned."""
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[0] == "arn" and parts[4].isdigit() else ""


def foreign_owner(ctx: Context) -> str:
    """The account that owns the function's VPC (or one of its subnets) when
    it is not the function's own account (a VPC shared through AWS RAM);
    ``""`` when it is the account's own or the owner was not read."""
    account = account_of(ctx.fn.arn)
    if not account:
        return ""
    index = ctx.region_index
    owners = {v.owner_id for v in index.inv.vpcs if v.vpc_id == ctx.verdict.vpc_id}
    if ctx.fn.vpc_config is not None:
        owners |= {
            index.subnets[s].owner_id for s in ctx.fn.vpc_config.subnet_ids if s in index.subnets
        }
    foreign = sorted(o for o in owners if o and o != account)
    return foreign[0] if foreign else ""


def shared_vpc_blocked(ctx: Context) -> Blocked | None:
    """``Blocked`` for a change only the VPC's owner may make (routes,
    endpoints, VPC attributes, NACLs) in a VPC another account shares."""
    owner = foreign_owner(ctx)
    if not owner:
        return None
    return Blocked(
        f"{ctx.verdict.vpc_id} is owned by account {owner} and shared with this one (AWS RAM): "
        "only the owner can change its route tables, endpoints, VPC attributes and network ACLs; "
        f"the VPC owner {owner} must make this change"
    )
