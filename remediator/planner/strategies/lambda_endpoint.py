"""``lambda-endpoint``: repair the VPC's Lambda interface endpoint (VPC DNS
attributes, a security group rule for TCP 443, private DNS), or create one
with its own security group (only when the policy allows the cost).

Fixes Lambda API reachability only: in the subnet pass it applies only when
every subnet finding is ``isolated-no-endpoint`` and the function has no
NAT-routed subnet. Never in a VPC another account owns (AWS RAM: only the
owner may create endpoints or change the VPC's attributes). Making private DNS active sends every function of the VPC
to the endpoint, so its group must let all of them in first.

It also serves a function whose security groups deliberately limit egress
to the VPC (``security-group-egress-blocks`` with the ``vpc-only`` cause)
and that no usable endpoint serves: the endpoint path respects that control
(the function's VPC-only egress reaches the endpoint's interfaces, which
must be checked first), where opening the group to the internet would undo
it. The customer's groups are never changed; only the endpoint's group is
opened to the functions' groups.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from remediator.changes import registry as kinds
from remediator.changes.risk import change_risk
from remediator.diagnose import RegionIndex, endpoint_allows
from remediator.diagnose.filters import VPC_ONLY, egress_reaches
from remediator.domain.canonical import fingerprint
from remediator.domain.findings import (
    AZ_BELOW_MIN,
    ENDPOINT_CODES,
    ENDPOINT_NOT_AVAILABLE,
    ENDPOINT_SG_BLOCKS,
    ISOLATED_NO_ENDPOINT,
    SG_EGRESS_BLOCKS,
    SUBNET_CODES,
)
from remediator.domain.inventory import Function, Subnet, VpcEndpoint
from remediator.domain.plan import BlastRadius, Finding
from remediator.planner.strategies.base import (
    Blocked,
    Context,
    Proposal,
    ProposedChange,
    Strategy,
    shared_vpc_blocked,
)

NAME = "lambda-endpoint"
CODES = ENDPOINT_CODES | {ISOLATED_NO_ENDPOINT, SG_EGRESS_BLOCKS}
MANUAL = "create an interface endpoint for com.amazonaws.<region>.lambda with private DNS"
ENDPOINT_SG_NAME = "remediator-lambda-endpoint"


def propose(ctx: Context, findings: Sequence[Finding]) -> Proposal | Blocked:
    shared = shared_vpc_blocked(ctx)
    if shared is not None:
        return shared
    subnet = [f for f in findings if f.code in SUBNET_CODES or f.code == AZ_BELOW_MIN]
    if subnet:
        only_api = [f for f in subnet if f.code == ISOLATED_NO_ENDPOINT]
        other = [f for f in subnet if f.code not in (ISOLATED_NO_ENDPOINT, AZ_BELOW_MIN)]
        if ctx.verdict.of("nat") and only_api:
            return Blocked(
                "the function also has NAT-routed subnets: with an endpoint, internet calls would still hang from the isolated ones"
            )
        if not only_api or other:
            return Blocked(
                "an endpoint fixes Lambda API calls only, not the other egress these subnets lack"
            )
    filtered = [f for f in findings if f.code == SG_EGRESS_BLOCKS]
    if filtered:
        why = _vpc_only_blocked(ctx)
        if why is not None:
            return why
    changes = _changes(ctx)
    if isinstance(changes, Blocked):
        return changes
    fixes = (
        tuple(f for f in findings if f.code == ISOLATED_NO_ENDPOINT)
        + tuple(f for f in findings if f.code in ENDPOINT_CODES)
        + tuple(filtered)
    )
    return Proposal(changes, fixes)


def _vpc_only_blocked(ctx: Context) -> Blocked | None:
    """Why the endpoint path does not serve the function's security-group
    finding (``None``: it does): only egress deliberately limited to the VPC
    is, and only when that egress reaches the endpoint's interfaces."""
    problem = ctx.verdict.filter_problem(SG_EGRESS_BLOCKS)
    if problem is None or problem.cause != VPC_ONLY:
        return Blocked(
            "the endpoint path serves only egress deliberately limited to the VPC; remediator does not change security groups"
        )
    vpc_id = ctx.verdict.vpc_id
    assert ctx.fn.vpc_config is not None and vpc_id is not None
    endpoint = ctx.verdict.endpoint.endpoint
    if endpoint is not None:
        subnets, groups = endpoint.subnet_ids, endpoint.security_group_ids
    else:
        subnets, groups = tuple(_endpoint_subnets(ctx.region_index, vpc_id, _vpc_subnets(ctx))), ()
    vpc = ctx.region_index.vpcs.get(vpc_id)
    vpc_cidr = str(getattr(vpc, "cidr_block", "") or "")
    reaches = egress_reaches(ctx.region_index, ctx.fn.vpc_config, vpc_cidr, subnets, groups)
    if reaches is not True:
        where = endpoint.vpc_endpoint_id if endpoint is not None else "a new endpoint"
        return Blocked(
            f"the function's VPC-only egress does not reach {where} in {', '.join(subnets) or 'no subnet'}"
            + (" (not known)" if reaches is None else "")
        )
    return None


def _vpc_subnets(ctx: Context) -> list[str]:
    """The subnets of every function of the VPC (where a new endpoint goes)."""
    return [
        s for f in _vpc_functions(ctx) for s in (f.vpc_config.subnet_ids if f.vpc_config else ())
    ]


def _vpc_functions(ctx: Context) -> Sequence[Function]:
    assert ctx.verdict.vpc_id is not None
    return ctx.region_fns.get(ctx.verdict.vpc_id, [ctx.fn])


def _changes(ctx: Context) -> tuple[ProposedChange, ...] | Blocked:
    vpc_id = ctx.verdict.vpc_id
    assert ctx.fn.vpc_config is not None and vpc_id is not None
    endpoint = ctx.verdict.endpoint.endpoint
    if endpoint is None and not ctx.settings.allow_endpoint_creation:
        return Blocked(
            "creating a Lambda endpoint costs money per AZ-hour; the policy does not allow it (allow_endpoint_creation)"
        )
    blast = BlastRadius(
        subnet_ids=tuple(s.subnet_id for s in ctx.region_index.subnets_by_vpc.get(vpc_id, ())),
        functions=tuple(sorted(f.name for f in ctx.region_fns.get(vpc_id, []))),
        note="private DNS is VPC-wide: every workload in the VPC resolves the Lambda API to the endpoint",
    )
    dns = _vpc_dns(ctx, blast)
    if isinstance(dns, Blocked):
        return dns
    if endpoint is not None:
        return _repair(ctx, endpoint, dns, blast)
    return _create(ctx, dns, blast)


def _vpc_dns(ctx: Context, blast: BlastRadius) -> ProposedChange | Blocked | None:
    """The VPC's DNS attributes turned on, when they are not both on."""
    vpc_id = ctx.verdict.vpc_id
    assert vpc_id is not None
    vpc = ctx.region_index.vpcs.get(vpc_id)
    dns_support = getattr(vpc, "enable_dns_support", None)
    dns_hostnames = getattr(vpc, "enable_dns_hostnames", None)
    if dns_support is True and dns_hostnames is True:
        return None
    if dns_support is None or dns_hostnames is None:
        return Blocked(f"the DNS attributes of {vpc_id} were not read; re-run plan")
    before = {"EnableDnsSupport": dns_support, "EnableDnsHostnames": dns_hostnames}
    return ProposedChange(
        kinds.ENABLE_VPC_DNS,
        vpc_id,
        before=before,
        after={"EnableDnsSupport": True, "EnableDnsHostnames": True},
        risk=change_risk(kinds.ENABLE_VPC_DNS),
        reason=f"{vpc_id}: private DNS for the Lambda endpoint needs enableDnsSupport and enableDnsHostnames.",
        fp=fingerprint(before),
        blast=blast.model_copy(
            update={
                "note": "instances get DNS hostnames; with a private-DNS endpoint, every workload resolves the Lambda API to it"
            }
        ),
    )


def _groups(ctx: Context) -> list[str]:
    """The security groups of every function of the VPC."""
    return sorted(
        {
            g
            for f in _vpc_functions(ctx)
            for g in (f.vpc_config.security_group_ids if f.vpc_config else ())
        }
    )


def _repair(
    ctx: Context, endpoint: VpcEndpoint, dns: ProposedChange | None, blast: BlastRadius
) -> tuple[ProposedChange, ...] | Blocked:
    codes = {code for code, _ in ctx.verdict.endpoint.problems}
    if ENDPOINT_NOT_AVAILABLE in codes:
        return Blocked(
            f"{endpoint.vpc_endpoint_id} is {endpoint.state}; wait or recreate it by hand"
        )
    activates_dns = dns is not None or not endpoint.private_dns_enabled
    shut_out = [
        f.name
        for f in _vpc_functions(ctx)
        if f.vpc_config is not None
        and not endpoint_allows(ctx.region_index, endpoint, f.vpc_config)
    ]
    ingress: ProposedChange | None = None
    if ENDPOINT_SG_BLOCKS in codes or (activates_dns and shut_out):
        if not endpoint.security_group_ids:
            return Blocked(f"{endpoint.vpc_endpoint_id} has no security group to open")
        ingress = _ingress(ctx, endpoint, shut_out)
    changes: list[ProposedChange] = []
    if dns is not None:
        # the VPC's DNS goes on only once the endpoint lets everyone in
        changes.append(dns if ingress is None else dns._replace(depends_on=_ids(ctx, ingress)))
    if ingress is not None:
        changes.append(ingress)
    if not endpoint.private_dns_enabled:
        before = {"PrivateDnsEnabled": False}
        changes.append(
            ProposedChange(
                kinds.ENABLE_ENDPOINT_PRIVATE_DNS,
                endpoint.vpc_endpoint_id,
                before=before,
                after={"PrivateDnsEnabled": True},
                risk=change_risk(kinds.ENABLE_ENDPOINT_PRIVATE_DNS),
                reason=f"{endpoint.vpc_endpoint_id}: turn on private DNS so the SDK's Lambda hostname resolves to it.",
                fp=fingerprint({"VpcEndpointId": endpoint.vpc_endpoint_id, **before}),
                blast=blast,
                depends_on=_ids(ctx, dns, ingress),
            )
        )
    return tuple(changes)


def _ingress(ctx: Context, endpoint: VpcEndpoint, shut_out: list[str]) -> ProposedChange:
    groups = _groups(ctx)
    sg = endpoint.security_group_ids[0]
    group = ctx.region_index.security_groups.get(sg)
    before_state = {
        "GroupId": sg,
        "Ingress": [r.model_dump(mode="json") for r in group.ingress] if group else [],
    }
    return ProposedChange(
        kinds.AUTHORIZE_ENDPOINT_INGRESS,
        sg,
        before=None,
        after={
            "IpProtocol": "tcp",
            "FromPort": 443,
            "ToPort": 443,
            "SourceSecurityGroupIds": groups,
        },
        risk=change_risk(kinds.AUTHORIZE_ENDPOINT_INGRESS),
        reason=f"{sg} ({endpoint.vpc_endpoint_id}): allow TCP 443 from {', '.join(groups)}.",
        fp=fingerprint(before_state),
        blast=BlastRadius(
            functions=tuple(sorted(shut_out)),
            note=f"only traffic to {endpoint.vpc_endpoint_id} is affected",
        ),
    )


def _create(
    ctx: Context, dns: ProposedChange | None, blast: BlastRadius
) -> tuple[ProposedChange, ...] | Blocked:
    vpc_id = ctx.verdict.vpc_id
    assert vpc_id is not None
    subnets = _endpoint_subnets(ctx.region_index, vpc_id, _vpc_subnets(ctx))
    if not subnets:
        return Blocked(f"no subnet in {vpc_id} to place the endpoint in")
    groups = _groups(ctx)
    sg_after = {
        "GroupName": f"{ENDPOINT_SG_NAME}-{vpc_id}",
        "Description": "remediator: TCP 443 from Lambda functions to the Lambda endpoint",
        "VpcId": vpc_id,
        "IngressTcp443FromGroups": groups,
    }
    sg = ProposedChange(
        kinds.CREATE_ENDPOINT_SG,
        vpc_id,
        before=None,
        after=sg_after,
        risk=change_risk(kinds.CREATE_ENDPOINT_SG),
        reason=f"{vpc_id}: a security group for the Lambda endpoint allowing TCP 443 from {', '.join(groups)}.",
        fp=fingerprint({"VpcId": vpc_id, "GroupName": sg_after["GroupName"], "Exists": False}),
        blast=BlastRadius(note="a new group; nothing uses it yet"),
    )
    service = f"com.amazonaws.{ctx.region}.lambda"
    endpoint = ProposedChange(
        kinds.CREATE_LAMBDA_ENDPOINT,
        vpc_id,
        before=None,
        after={
            "ServiceName": service,
            "VpcEndpointType": "Interface",
            "VpcId": vpc_id,
            "SubnetIds": subnets,
            "SecurityGroupFromChange": ctx.change_id(sg.kind, sg.target),
            "PrivateDnsEnabled": True,
        },
        risk=change_risk(kinds.CREATE_LAMBDA_ENDPOINT),
        reason=f"{vpc_id}: an interface endpoint for {service} with private DNS in {len(subnets)} AZ(s) (billed per AZ-hour).",
        fp=fingerprint({"VpcId": vpc_id, "LambdaEndpoints": []}),
        blast=blast,
        depends_on=_ids(ctx, sg, dns),
    )
    return (*(() if dns is None else (dns,)), sg, endpoint)


def _endpoint_subnets(index: RegionIndex, vpc_id: str, preferred: Iterable[str]) -> list[str]:
    """One subnet per AZ, the functions' own subnets first, then the most free IPs."""
    pref = set(preferred)
    by_az: dict[str, Subnet] = {}
    for s in sorted(
        index.subnets_by_vpc.get(vpc_id, ()),
        key=lambda s: (s.subnet_id not in pref, -s.available_ip_address_count, s.subnet_id),
    ):
        if s.subnet_id in pref and s.availability_zone not in by_az:
            by_az[s.availability_zone] = s
    return sorted(s.subnet_id for s in by_az.values())


def _ids(ctx: Context, *changes: ProposedChange | None) -> tuple[str, ...]:
    return tuple(ctx.change_id(c.kind, c.target) for c in changes if c is not None)


STRATEGY = Strategy(
    NAME,
    frozenset(CODES),
    MANUAL,
    propose,
    frozenset(
        {
            kinds.ENABLE_VPC_DNS,
            kinds.AUTHORIZE_ENDPOINT_INGRESS,
            kinds.ENABLE_ENDPOINT_PRIVATE_DNS,
            kinds.CREATE_ENDPOINT_SG,
            kinds.CREATE_LAMBDA_ENDPOINT,
        }
    ),
)
