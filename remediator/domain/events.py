"""Events: what an EventBridge event (or an SQS batch of them) is about (pure).

``parse(text)`` reads one EventBridge event ("AWS API Call via CloudTrail",
as EventBridge hands it to a target) or an SQS batch whose record bodies are
such events, and returns the ``Event`` values; anything that is not one of
the two shapes is ``BadInput`` (one line, nothing else happens).

``concern(event)`` says what an event is about, from the API call's names
and ids only, never from the state the event carries (decisions use live
state): a ``Concern`` naming the functions, VPCs or network resources whose
VPC a describe must find, or an ``Ignored`` reason. Lambda calls are matched
by prefix (CloudTrail records ``UpdateFunctionConfiguration20150331v2``);
EC2 calls by exact name. docs/operator.md ("Events") lists each call and why.

Every id taken from an event is checked against the shape AWS gives it
before it is used: an event names resources, it is not trusted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from remediator.domain.errors import BadInput

DETAIL_TYPE = "AWS API Call via CloudTrail"

LAMBDA_PREFIXES: tuple[str, ...] = (
    "CreateFunction",
    "UpdateFunctionConfiguration",
    "PublishVersion",
    "CreateAlias",
    "UpdateAlias",
)
"""Lambda calls that set or expose a VpcConfig: a new function, a new
config, a published version (immutable, keeps its config), an alias moved
onto a version."""

NETWORK_EVENT_NAMES: tuple[str, ...] = (
    "CreateRoute",
    "ReplaceRoute",
    "DeleteRoute",
    "AssociateRouteTable",
    "ReplaceRouteTableAssociation",
    "DisassociateRouteTable",
    "DeleteNatGateway",
    "DetachInternetGateway",
    "CreateVpcEndpoint",
    "ModifyVpcEndpoint",
    "DeleteVpcEndpoints",
    "ModifyVpcAttribute",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupEgress",
    "CreateNetworkAclEntry",
    "ReplaceNetworkAclEntry",
    "DeleteNetworkAclEntry",
    "ReplaceNetworkAclAssociation",
)
NETWORK_EVENTS: frozenset[str] = frozenset(NETWORK_EVENT_NAMES)
"""EC2 calls that can change a VPC function's way out (routes, the tables
subnets use, NAT and internet gateways, Lambda endpoints, DNS attributes,
security-group egress, network ACLs)."""

EVENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
ACCOUNT = re.compile(r"\d{12}")
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,140}")
RESOURCE_ID = re.compile(r"(vpc|rtb|nat|sg|acl|vpce|igw|subnet|rtbassoc|aclassoc)-[0-9a-f]{8,17}")

# the resource kinds a network event may name, most telling first: the VPC
# itself, then what one describe maps to its VPC
RESOURCE_ORDER: tuple[str, ...] = ("vpc", "rtb", "acl", "sg", "nat", "vpce", "subnet", "igw")
MAX_DEPTH = 6


@dataclass(frozen=True)
class Event:
    """One EventBridge event; ``message_id``: its SQS record's (a batch)."""

    id: str
    account: str
    region: str
    source: str
    name: str
    """The CloudTrail ``eventName``."""
    detail: Mapping[str, Any] = field(repr=False, compare=False, hash=False)
    message_id: str | None = None


@dataclass(frozen=True)
class Batch:
    events: tuple[Event, ...]
    sqs: bool
    """An SQS batch (``Records[].body``): retries are returned as ``batchItemFailures``."""


@dataclass(frozen=True)
class Concern:
    """What one event is about: functions by name, VPCs by id, and network
    resources (``prefix-…`` ids) whose VPC is still to be found.
    ``region_wide``: a network change whose VPC the event does not name and
    no describe can find (a route table disassociated: only the gone
    association's id is logged), so the region's functions are judged."""

    functions: tuple[str, ...] = ()
    vpcs: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    region_wide: bool = False


@dataclass(frozen=True)
class Ignored:
    reason: str


# --------------------------------------------------------------------------
# Parsing


def parse(text: str) -> Batch:
    """The events of ``text`` (one event or an SQS batch); ``BadInput`` otherwise."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise BadInput(
            "The event is not JSON.", hint="Pass one EventBridge event or an SQS batch."
        ) from None
    return from_value(data)


def from_value(data: Any) -> Batch:
    """As ``parse``, from the decoded value (what a Lambda handler receives)."""
    if not isinstance(data, dict):
        raise BadInput("The event is not a JSON object.")
    if "Records" in data:
        records = data["Records"]
        if not isinstance(records, list) or not records:
            raise BadInput("The SQS batch has no Records.")
        return Batch(tuple(_record(r, i) for i, r in enumerate(records, 1)), sqs=True)
    return Batch((_event(data, "the event"),), sqs=False)


def _record(record: Any, n: int) -> Event:
    where = f"SQS record {n}"
    if not isinstance(record, dict):
        raise BadInput(f"{where} is not an object.")
    message_id = record.get("messageId")
    body = record.get("body")
    if not isinstance(message_id, str) or not EVENT_ID.fullmatch(message_id):
        raise BadInput(f"{where} has no valid messageId.")
    if not isinstance(body, str):
        raise BadInput(f"{where} has no body.")
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        raise BadInput(f"The body of {where} is not JSON.") from None
    event = _event(value, where)
    return Event(
        event.id, event.account, event.region, event.source, event.name, event.detail, message_id
    )


def _event(value: Any, where: str) -> Event:
    if not isinstance(value, dict):
        raise BadInput(f"{where} is not a JSON object.")
    missing = [k for k in ("id", "account", "region", "detail-type", "detail") if k not in value]
    if missing:
        raise BadInput(f"{where} is not an EventBridge event: no {', '.join(missing)}.")
    event_id, account, region = value["id"], value["account"], value["region"]
    if not isinstance(event_id, str) or not EVENT_ID.fullmatch(event_id):
        raise BadInput(f"{where} has an invalid id.")
    if not isinstance(account, str) or not ACCOUNT.fullmatch(account):
        raise BadInput(f"{where} has an invalid account (12 digits expected).")
    if not isinstance(region, str) or not REGION.fullmatch(region):
        raise BadInput(f"{where} has an invalid region.")
    detail = value["detail"]
    if not isinstance(detail, dict):
        raise BadInput(f"{where} has a detail that is not an object.")
    name = detail.get("eventName", "") if value["detail-type"] == DETAIL_TYPE else ""
    source = value.get("source", "")
    return Event(
        id=event_id,
        account=account,
        region=region,
        source=source if isinstance(source, str) else "",
        name=name if isinstance(name, str) else "",
        detail=detail if value["detail-type"] == DETAIL_TYPE else {},
    )


# --------------------------------------------------------------------------
# What an event is about


def is_lambda(name: str) -> bool:
    return name.startswith(LAMBDA_PREFIXES)


def function_name(value: Any) -> str | None:
    """A function name from what CloudTrail logs as ``functionName``: a name,
    ``name:qualifier``, a partial ARN (``123456789012:function:name``) or a
    full ARN, qualified or not. None when it is none of those."""
    if not isinstance(value, str):
        return None
    parts = value.split(":")
    if value.startswith("arn:"):
        name = parts[6] if len(parts) in (7, 8) and parts[5] == "function" else ""
    elif len(parts) in (3, 4) and parts[1] == "function":
        name = parts[2]
    elif len(parts) in (1, 2):
        name = parts[0]
    else:
        name = ""
    return name if FUNCTION_NAME.fullmatch(name) else None


def concern(event: Event) -> Concern | Ignored:
    """What ``event`` is about (see the module docstring); ``BadInput`` for a
    call of interest whose names cannot be read."""
    if not event.name:
        return Ignored("not an AWS API call via CloudTrail")
    error = event.detail.get("errorCode")
    if error:
        return Ignored(f"{clean(event.name)} failed ({clean(str(error))}): nothing changed")
    if is_lambda(event.name):
        request = event.detail.get("requestParameters") or {}
        response = event.detail.get("responseElements") or {}
        raw = (request if isinstance(request, dict) else {}).get("functionName") or (
            response if isinstance(response, dict) else {}
        ).get("functionName")
        name = function_name(raw)
        if name is None:
            raise BadInput(f"Event {event.id} ({clean(event.name)}) names no valid function.")
        return Concern(functions=(name,))
    if event.name in NETWORK_EVENTS:
        ids = sorted(set(_ids(event.detail.get("requestParameters"), 0)))
        ids += sorted(set(_ids(event.detail.get("responseElements"), 0)) - set(ids))
        vpcs = tuple(sorted({i for i in ids if i.startswith("vpc-")}))
        if vpcs:
            return Concern(vpcs=vpcs)
        for kind in RESOURCE_ORDER[1:]:
            found = tuple(sorted({i for i in ids if i.split("-", 1)[0] == kind}))
            if found:
                return Concern(resources=found)
        return Concern(region_wide=True)
    return Ignored(f"{clean(event.name) or 'the call'} cannot change a function's egress")


def _ids(value: Any, depth: int) -> Iterator[str]:
    """Every resource id in a CloudTrail parameter tree (its shapes vary by
    call and API version: ``routeTableId``, ``{"DeleteNatGatewayRequest":
    {"NatGatewayId": …}}``, ``{"VpcEndpointId": {"tag": 1, "content": …}}``)."""
    if depth > MAX_DEPTH:
        return
    if isinstance(value, str):
        if RESOURCE_ID.fullmatch(value):
            yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _ids(item, depth + 1)
    elif isinstance(value, list):
        for item in value[:200]:
            yield from _ids(item, depth + 1)


def clean(text: str) -> str:
    """An event's string as it may appear in a summary: printable ASCII, short."""
    kept = "".join(c for c in text if c.isascii() and c.isprintable())
    return kept[:80]


def merge(concerns: list[Concern]) -> Concern:
    """One concern for a batch: the union (bursts for the same target become one judgement)."""
    return Concern(
        functions=tuple(sorted({f for c in concerns for f in c.functions})),
        vpcs=tuple(sorted({v for c in concerns for v in c.vpcs})),
        resources=tuple(sorted({r for c in concerns for r in c.resources})),
        region_wide=any(c.region_wide for c in concerns),
    )


SWEEP_EVENT: dict[str, str] = {"remediator": "sweep"}
"""The input the periodic sweep's schedule sends the handler: run ``auto``
over the account's regions (``REMEDIATOR_REGIONS``), not one event."""


def is_sweep(value: object) -> bool:
    return value == SWEEP_EVENT
