"""Findings and what every change shares: the data diagnosis and planning produce.

These models are parts of the plan file's format (``format_version`` 1);
the plan document itself (``Plan``, with the union of the change kinds) is
``remediator.planfile.model``. The JSON contract that scripts depend on is
documented in ``docs/plan-format.md`` and the JSON Schema generated from the
models is committed as ``docs/plan.schema.json`` (a test fails when they
drift apart).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final, Literal

from pydantic import Field

from remediator.domain.base import Frozen
from remediator.domain.errors import BadInput
from remediator.domain.owner import Owner

FORMAT_VERSION: Final = 1

Egress = Literal["public", "nat", "nat-broken", "isolated", "other", "unknown"]
Severity = Literal["critical", "high", "medium", "low", "info"]
Risk = Literal["low", "medium", "high"]
RISK_ORDER: dict[str, int] = {"low": 0, "medium": 1, "high": 2}
FindingStatus = Literal["open", "planned", "blocked", "deferred", "info"]
FunctionStatus = Literal["affected", "healthy", "exempt", "not-in-vpc", "egress-unknown"]


def risk_rank(max_risk: str) -> int:
    """``max_risk``'s place in ``RISK_ORDER``: the one check of a ``--max-risk`` value
    (``approve``, ``apply`` and ``auto`` all pass theirs through here)."""
    if max_risk not in RISK_ORDER:
        raise BadInput(f"--max-risk {max_risk!r} is not low, medium or high.")
    return RISK_ORDER[max_risk]


class SubnetEgress(Frozen):
    """How one subnet reaches the outside, with the evidence chain
    subnet -> route table (explicit or main) -> route -> target -> state."""

    subnet_id: str
    vpc_id: str | None = None
    availability_zone: str | None = None
    route_table_id: str | None = None
    association: Literal["explicit", "main", "none"] = "none"
    route: str | None = None
    target: str | None = None
    target_state: str | None = None
    egress: Egress
    ipv6: str | None = None
    detail: str


class Finding(Frozen):
    """One problem with one function (``qualifier`` ``$LATEST`` or an alias).

    ``id`` is stable: the same problem in the same world always gets the same
    id. ``status`` is ``open`` out of diagnosis; the planner sets it to
    ``planned`` (with ``fixed_by``), ``blocked`` (with ``manual_step``),
    ``deferred`` (over the change cap) or ``info`` (nothing to fix).
    """

    id: str
    region: str
    function: str
    function_arn: str
    qualifier: str = "$LATEST"
    code: str
    severity: Severity
    title: str
    detail: str
    subnet_ids: tuple[str, ...] = ()
    affected_share: float = 0.0
    evidence: tuple[SubnetEgress, ...] = ()
    notes: tuple[str, ...] = ()
    status: FindingStatus = "open"
    fixed_by: tuple[str, ...] = ()
    manual_step: str | None = None
    # the function's owner (CloudFormation, Terraform: docs/iac.md), and the
    # subnets its template should hold once fixed (what ``remediate
    # iac-patch`` writes); both left out of the JSON when unset
    owner: Owner | None = Field(default=None, exclude_if=lambda v: v is None)
    patch_subnet_ids: tuple[str, ...] = Field(default=(), exclude_if=lambda v: not v)


class FunctionSummary(Frozen):
    """Every function discovery saw, with its overall verdict, so a report
    can list healthy, exempt and non-VPC functions as such."""

    region: str
    name: str
    arn: str
    status: FunctionStatus
    vpc_id: str | None = None
    subnets: tuple[SubnetEgress, ...] = ()
    availability_zones: tuple[str, ...] = ()
    finding_ids: tuple[str, ...] = ()
    exempt_reason: str | None = None
    # The function's tags that the policy's rules match on, as the plan saw
    # them: apply re-reads them live before the first write and refuses a
    # target whose rules would now match differently (docs/policy.md).
    # Left out of the JSON when empty, so plans of untagged fleets keep their
    # shape.
    policy_tags: dict[str, str] = Field(default_factory=dict, exclude_if=lambda tags: not tags)
    # who deployed the function (docs/iac.md); left out when nobody owns it
    owner: Owner | None = Field(default=None, exclude_if=lambda v: v is None)


class WorkloadInterface(Frozen):
    """A network interface in a subnet whose egress a change changes: a
    workload that gains (or loses) egress with it."""

    network_interface_id: str
    subnet_id: str
    interface_type: str = "interface"
    instance_id: str = ""


def _empty(value: object) -> bool:
    return not value


class BlastRadius(Frozen):
    """What else a change touches besides its target.

    ``network_interfaces``: for a route change, the interfaces in the subnets
    the table serves other than Lambda's own (instances, NAT gateways, load
    balancers, endpoints…), sorted by id; ``lambda_interfaces``: how many
    Lambda (Hyperplane) interfaces are there too. Both are left out of the
    plan JSON when empty, so plans without them keep their bytes."""

    route_tables: tuple[str, ...] = ()
    subnet_ids: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()
    note: str = ""
    network_interfaces: tuple[WorkloadInterface, ...] = Field(default=(), exclude_if=_empty)
    lambda_interfaces: int = Field(default=0, ge=0, exclude_if=_empty)


class Fingerprint(Frozen):
    """The live state the executor must find before it changes the target:
    Lambda's ``RevisionId`` where AWS gives one, and always a hash of the
    target's relevant state (``state`` holds what was hashed)."""

    revision_id: str | None = None
    state_hash: str
    state: dict[str, Any] = Field(default_factory=dict)


class KindValues(Frozen):
    """Base of a change kind's typed ``before``/``after``: AWS-style field
    names (``SubnetIds``), so their JSON is what the plan file has always held.

    ``v["SubnetIds"]``/``v.get(...)`` read the JSON form of a field,
    ``str(v)`` is the JSON form's dict text (keys sorted), and a value equals
    the dict of its JSON form (what the plan file holds), for code that shows
    or compares any kind's values without knowing the kind."""

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self.as_json() == dict(other)
        return super().__eq__(other)

    def __hash__(self) -> int:
        return hash(json.dumps(self.as_json(), sort_keys=True))

    def __getitem__(self, key: str) -> Any:
        return self.as_json()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.as_json().get(key, default)

    def __str__(self) -> str:
        data = self.as_json()
        return str({k: data[k] for k in sorted(data)})


class ChangeBase(Frozen):
    """One change to one resource, as data: what every kind of change has.
    Each kind (``remediator.changes.<kind>``) adds ``kind`` as a literal and
    its typed ``before``/``after``; ``remediator.changes.registry.Change`` is
    the union of them, discriminated by ``kind``.

    ``reason`` is for humans and is never read by apply; ``before``/``after``
    are what apply writes and what rollback restores (rollback takes
    ``before`` from the state the journal recorded right before the write).
    ``depends_on`` lists change ids that must be applied (and settled)
    first."""

    id: str
    kind: str
    region: str
    target: str
    depends_on: tuple[str, ...] = ()
    risk: Risk
    reversible: bool = True
    permissions: tuple[str, ...] = ()
    reason: str
    blast_radius: BlastRadius = Field(default_factory=BlastRadius)
    fingerprint: Fingerprint
    fixes: tuple[str, ...] = ()
    # the owner of the target when it is an owned function (a direct change
    # drifts from its template: docs/iac.md); left out when there is none
    owner: Owner | None = Field(default=None, exclude_if=lambda v: v is None)
    # each kind narrows these to its own models
    before: KindValues | None = None
    after: KindValues
