"""The VPC owner's view of a VPC shared through AWS RAM.

A participant account describes the shared subnets, the VPC, its route
tables, internet gateways and network ACLs, but not the owner's NAT gateways,
the instances and interfaces the shared route tables point at, the owner's
Gateway Load Balancer endpoints, nor the owner's subnets it was not given
(where the NAT gateway usually sits). Without them a default route to a NAT
is "egress not verifiable from this account".

``OwnerViews.extend`` reads what the participant lacks from the owner's
account: for each region, the VPCs in use whose owner is not the account
being planned are grouped by owner; for each owner with a role (the
``--network-role-arn`` template, or the fleet's role when the owner is a
target of ``remediate auto``), the role is assumed once per run, then a fixed
set of VPC-scoped describes runs (``OWNER_READS``: subnets, route tables, NAT
gateways, network ACLs and endpoints by ``vpc-id``; interfaces and instances
by the ids routes name, only when routes name any). That is at most six
calls per owner and region (more only past ``FILTER_CHUNK`` VPCs), whatever
the number of functions.

What the owner returns is merged into the participant's ``RegionInventory``
(the owner's copy wins for ids both saw) with its provenance
(``OwnerView``), so the path is judged by the same rules. A role that cannot
be assumed, or a describe the owner's role may not make, is a warning: that
owner's VPCs stay "not verifiable" (nothing is guessed), the run goes on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import structlog

from remediator.aws import session as sessions
from remediator.aws.door import Aws
from remediator.aws.network import GATEWAY_LOAD_BALANCER, Network, _Filtered
from remediator.domain import wire
from remediator.domain.errors import AwsAccessError, RemediatorError
from remediator.domain.inventory import OwnerView, RegionInventory
from remediator.domain.policy import network_role_for

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import (
        InstanceTypeDef,
        NatGatewayTypeDef,
        NetworkAclTypeDef,
        NetworkInterfaceTypeDef,
        ReservationTypeDef,
        RouteTableTypeDef,
        SubnetTypeDef,
        VpcEndpointTypeDef,
    )

log = structlog.get_logger(__name__)

OWNER_READS: tuple[str, ...] = (
    "ec2:DescribeSubnets",
    "ec2:DescribeRouteTables",
    "ec2:DescribeNatGateways",
    "ec2:DescribeNetworkAcls",
    "ec2:DescribeVpcEndpoints",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeInstances",
)
"""Every action the owner's view calls with the owner's role: the whole
owner-side role policy (``remediate iam-policy --mode network-owner``)."""

SESSION_NAME = "remediator-network-read"

Assume = Callable[[str, Aws, str], Any]
"""``(role_arn, the planned account's door, region) -> boto3 session`` on the
role's credentials; raises ``RemediatorError`` when the role cannot be assumed."""

DoorFor = Callable[[Any], Aws]
"""A boto3 session -> discovery's door on it (read-only, counted)."""


class AssumedRoles:
    """``Assume`` from the planned account's own credentials: each role is
    assumed once per run (credentials refreshed by botocore before they
    expire); a new session per call (sessions are not shared across threads)."""

    def __init__(self) -> None:
        self._credentials: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._loader = sessions.new_loader()

    def __call__(self, role_arn: str, door: Aws, region: str) -> Any:
        with self._lock:
            if role_arn not in self._credentials:
                self._credentials[role_arn] = sessions.refreshing(
                    lambda: _assume(door, region, role_arn)
                )
        return sessions.member_session(self._loader, credentials=self._credentials[role_arn])


def _assume(door: Aws, region: str, role_arn: str) -> dict[str, Any]:
    try:
        out = door.call(
            "sts",
            region,
            "assume_role",
            RoleArn=role_arn,
            RoleSessionName=SESSION_NAME,
            DurationSeconds=3600,
        )["Credentials"]
    except RemediatorError as exc:
        raise AwsAccessError(
            exc.message,
            hint=f"Check that {role_arn} exists in the VPC owner's account and trusts this account.",
        ) from exc
    expiry: object = out["Expiration"]
    return {
        "access_key": out["AccessKeyId"],
        "secret_key": out["SecretAccessKey"],
        "token": out["SessionToken"],
        "expiry_time": expiry.isoformat() if hasattr(expiry, "isoformat") else str(expiry),
    }


def foreign_vpcs(ec2: RegionInventory, account_id: str) -> dict[str, list[str]]:
    """The VPCs in use another account owns, by owner (the VPC's ``OwnerId``,
    else its subnets'); sorted."""
    owners: dict[str, set[str]] = {}
    for v in ec2.vpcs:
        if v.owner_id and v.owner_id != account_id:
            owners.setdefault(v.owner_id, set()).add(v.vpc_id)
    for s in ec2.subnets:
        if s.owner_id and s.owner_id != account_id:
            owners.setdefault(s.owner_id, set()).add(s.vpc_id)
    return {owner: sorted(vpcs) for owner, vpcs in sorted(owners.items())}


class OwnerViews:
    """Reads the owners' views for a run (one object per run: the roles it
    could not assume are remembered, and the assumed credentials are cached
    by ``assume``). ``template``: the role in any owner's account
    (``{account}``); ``roles``: a role per account that wins over it (the
    fleet's targets). Safe to share across a fleet's worker threads."""

    def __init__(
        self,
        assume: Assume,
        *,
        template: str | None = None,
        roles: Mapping[str, str] | None = None,
    ) -> None:
        self._assume = assume
        self.template = template
        self.roles = dict(roles or {})
        self._refused: dict[str, str] = {}
        self._lock = threading.Lock()

    def role_for(self, owner: str) -> str | None:
        if owner in self.roles:
            return self.roles[owner]
        return network_role_for(self.template, owner) if self.template else None

    def _session(self, role: str, door: Aws, region: str) -> Any:
        with self._lock:
            refused = self._refused.get(role)
        if refused is not None:
            raise AwsAccessError(refused)
        try:
            return self._assume(role, door, region)
        except RemediatorError as exc:
            with self._lock:
                self._refused[role] = exc.message
            raise

    def extend(
        self, network: Network, *, region: str, account_id: str, door: Aws, door_for: DoorFor
    ) -> Network:
        """``network`` with each foreign owner's view of its VPCs merged in
        (``door``: the planned account's, for AssumeRole; ``door_for``: a
        session -> a door on it, counted like the rest of discovery)."""
        ec2 = network.ec2
        views: list[OwnerView] = []
        for owner, vpc_ids in foreign_vpcs(ec2, account_id).items():
            role = self.role_for(owner)
            if role is None:
                continue
            try:
                session = self._session(role, door, region)
                raw = _read(door_for(session), region, vpc_ids)
            except RemediatorError as exc:
                log.warning(
                    "owner_view_unavailable",
                    region=region,
                    owner=owner,
                    role=role,
                    vpcs=vpc_ids,
                    error=exc.message,
                )
                error = exc.message.rstrip(".") or type(exc).__name__
                views.append(
                    OwnerView(account_id=owner, role_arn=role, vpc_ids=tuple(vpc_ids), error=error)
                )
                continue
            ec2, view = _merge(
                ec2, OwnerView(account_id=owner, role_arn=role, vpc_ids=tuple(vpc_ids)), raw
            )
            views.append(view)
            log.info(
                "owner_view_read",
                region=region,
                owner=owner,
                role=role,
                vpcs=len(vpc_ids),
                resources=len(view.resource_ids),
            )
        if not views:
            return network
        merged = ec2.model_copy(update={"owner_views": tuple(views)})
        return Network(merged, dict(network.subnet_vpcs))


class _Raw:
    """The owner's answers, parsed."""

    def __init__(self) -> None:
        self.subnets: list[Any] = []
        self.route_tables: list[Any] = []
        self.nat_gateways: list[Any] = []
        self.network_acls: list[Any] = []
        self.vpc_endpoints: list[Any] = []
        self.network_interfaces: list[Any] = []
        self.instances: list[Any] = []


def _read(door: Aws, region: str, vpc_ids: list[str]) -> _Raw:
    reads = _Filtered(door)
    subnets: list[SubnetTypeDef] = reads.filtered_items(
        region, "describe_subnets", "Subnets", "vpc-id", vpc_ids
    )
    tables: list[RouteTableTypeDef] = reads.filtered_items(
        region, "describe_route_tables", "RouteTables", "vpc-id", vpc_ids
    )
    nats: list[NatGatewayTypeDef] = reads.filtered_items(
        region, "describe_nat_gateways", "NatGateways", "vpc-id", vpc_ids, filter_param="Filter"
    )
    acls: list[NetworkAclTypeDef] = reads.filtered_items(
        region, "describe_network_acls", "NetworkAcls", "vpc-id", vpc_ids
    )
    endpoints: list[VpcEndpointTypeDef] = reads.filtered_items(
        region, "describe_vpc_endpoints", "VpcEndpoints", "vpc-id", vpc_ids
    )
    routes = [r for t in tables for r in t.get("Routes") or ()]
    eni_ids = {str(r["NetworkInterfaceId"]) for r in routes if r.get("NetworkInterfaceId")}
    enis: list[NetworkInterfaceTypeDef] = (
        reads.filtered_items(
            region,
            "describe_network_interfaces",
            "NetworkInterfaces",
            "network-interface-id",
            eni_ids,
        )
        if eni_ids
        else []
    )
    instance_ids = {str(r["InstanceId"]) for r in routes if r.get("InstanceId")} | {
        str(e["Attachment"]["InstanceId"])
        for e in enis
        if (e.get("Attachment") or {}).get("InstanceId")
    }
    reservations: list[ReservationTypeDef] = (
        reads.filtered_items(
            region, "describe_instances", "Reservations", "instance-id", instance_ids
        )
        if instance_ids
        else []
    )
    instances: list[InstanceTypeDef] = [i for r in reservations for i in r.get("Instances") or ()]
    raw = _Raw()
    raw.subnets = [wire.subnet(s) for s in subnets]
    raw.route_tables = [wire.route_table(t) for t in tables]
    raw.nat_gateways = [wire.nat_gateway(n) for n in nats]
    raw.network_acls = [wire.network_acl(a) for a in acls]
    raw.vpc_endpoints = [
        wire.endpoint(e) for e in endpoints if e.get("VpcEndpointType") == GATEWAY_LOAD_BALANCER
    ]
    raw.network_interfaces = [wire.network_interface(e) for e in enis]
    raw.instances = [wire.instance(i) for i in instances]
    return raw


_KEYS: dict[str, str] = {
    "subnets": "subnet_id",
    "route_tables": "route_table_id",
    "nat_gateways": "nat_gateway_id",
    "network_acls": "network_acl_id",
    "vpc_endpoints": "vpc_endpoint_id",
    "network_interfaces": "network_interface_id",
    "instances": "instance_id",
}


def _merge(ec2: RegionInventory, view: OwnerView, raw: _Raw) -> tuple[RegionInventory, OwnerView]:
    """``ec2`` with the owner's items (the owner's copy wins for an id both
    saw), and ``view`` with what was taken from it."""
    update: dict[str, Any] = {}
    taken: set[str] = set()
    for name, key in _KEYS.items():
        theirs: list[Any] = getattr(raw, name)
        ours: Iterable[Any] = getattr(ec2, name)
        taken |= {str(getattr(item, key)) for item in theirs}
        update[name] = wire.unique([*theirs, *ours], attrgetter(key))
    seen_subnets = {s.subnet_id for s in ec2.subnets}
    owner_only = tuple(sorted(s.subnet_id for s in raw.subnets if s.subnet_id not in seen_subnets))
    view = view.model_copy(
        update={"resource_ids": tuple(sorted(taken)), "owner_only_subnet_ids": owner_only}
    )
    return ec2.model_copy(update=update), view


def for_fleet(
    session_for: Callable[[str], Any],
    accounts: Iterable[tuple[str, str | None]],
    template: str | None,
) -> OwnerViews | None:
    """The owner views of a fleet run: an owner that is a target reads through
    the fleet's role for it (``session_for``: the fleet's sessions, assumed by
    the runner once per role); any other owner through ``template``. ``None``
    when there is neither (nothing is read from other accounts)."""
    roles = {account: role for account, role in accounts if role}
    if not roles and not template:
        return None

    def assume(role: str, _door: Aws, _region: str) -> Any:
        return session_for(role)

    return OwnerViews(assume, template=template, roles=roles)
