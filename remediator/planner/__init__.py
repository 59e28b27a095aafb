"""The planner: ``plan(inventory, policy, now)`` -> ``Plan``. Pure.

For every open finding the planner tries the function's strategies in the
policy's order and keeps the first that fixes it completely:

- ``keep-private-subnets``: list only the function's NAT-routed subnets;
  when that would leave fewer AZs than the policy minimum, add NAT-routed
  subnets of the same VPC, lost AZs first. Never empties a function, never
  exceeds 16 subnets, never ends with fewer AZs than it had while the
  minimum is not met.
- ``add-nat-route``: give the route tables of isolated / NAT-broken subnets a
  default route to an available public NAT gateway of the VPC (same AZ
  first). Public subnets are never touched (their IGW route serves others).
  A table shared with other subnets only when the policy allows it.
- ``lambda-endpoint``: repair the VPC's Lambda endpoint, or create one (only
  when the policy allows the cost). Fixes Lambda API reachability only.

Then aliases on a broken version are moved to a new version published from
the fixed ``$LATEST`` when the code is identical. Whatever cannot be fixed
safely is ``blocked`` with the manual step. Changes shared by several
functions (a route table, a VPC's endpoint) are planned once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from remediator import __version__
from remediator.changes import registry as kinds
from remediator.changes.ec2_nat_route import route_state
from remediator.changes.lambda_vpc_config import vpc_config_state
from remediator.changes.registry import Change
from remediator.diagnose import (
    ALIAS_BROKEN,
    AZ_BELOW_MIN,
    ENDPOINT_NOT_AVAILABLE,
    ENDPOINT_PRIVATE_DNS_OFF,
    ENDPOINT_SG_BLOCKS,
    ENDPOINT_VPC_DNS_OFF,
    ISOLATED_MIXED,
    ISOLATED_NO_ENDPOINT,
    LATEST_BROKEN_ALIAS_OK,
    NAT_BROKEN,
    PUBLIC_ALL,
    PUBLIC_MIXED,
    SUBNET_MISSING,
    ConfigVerdict,
    RegionIndex,
    diagnose,
    endpoint_allows,
    judge_config,
    stable_id,
)
from remediator.domain.base import gc_paused
from remediator.domain.canonical import canonical, fingerprint, state_hash  # noqa: F401
from remediator.domain.inventory import (
    Function,
    Inventory,
    NatGateway,
    RouteTable,
    Subnet,
)
from remediator.domain.plan import BlastRadius, Finding, Fingerprint, Risk
from remediator.domain.policy import Policy, Settings
from remediator.planfile.digest import _canonical_sha256, _plan_digest, plan_digest, with_digest  # noqa: F401
from remediator.planfile.model import Plan, PlanSummary

MAX_SUBNETS = 16
MAX_SECURITY_GROUPS = 5
ENDPOINT_SG_NAME = "remediator-lambda-endpoint"

SUBNET_CODES = {PUBLIC_MIXED, PUBLIC_ALL, NAT_BROKEN, ISOLATED_NO_ENDPOINT, ISOLATED_MIXED}
ENDPOINT_CODES = {
    ENDPOINT_NOT_AVAILABLE,
    ENDPOINT_PRIVATE_DNS_OFF,
    ENDPOINT_SG_BLOCKS,
    ENDPOINT_VPC_DNS_OFF,
}


@dataclass
class _Builder:
    """Collects changes for one region, deduplicated by (kind, target)."""

    region: str
    index: RegionIndex
    changes: dict[str, Change] = field(default_factory=dict)

    def add(
        self,
        kind: str,
        target: str,
        *,
        before: dict[str, Any] | None,
        after: dict[str, Any],
        risk: Risk,
        reason: str,
        fp: Fingerprint,
        blast: BlastRadius | None = None,
        depends_on: Iterable[str] = (),
        fixes: Iterable[str] = (),
    ) -> str:
        cid = stable_id("c-", kind, self.region, target)
        spec = kinds.spec(kind)
        existing = self.changes.get(cid)
        if existing is not None:
            self.changes[cid] = existing.model_copy(
                update={
                    "fixes": tuple(sorted(set(existing.fixes) | set(fixes))),
                    "depends_on": tuple(sorted(set(existing.depends_on) | set(depends_on))),
                }
            )
            return cid
        self.changes[cid] = kinds.build(
            {
                "id": cid,
                "kind": kind,
                "region": self.region,
                "target": target,
                "before": before,
                "after": after,
                "depends_on": tuple(sorted(set(depends_on))),
                "risk": risk,
                "reversible": spec.reversible,
                "permissions": spec.permissions,
                "reason": reason,
                "blast_radius": blast or BlastRadius(),
                "fingerprint": fp,
                "fixes": tuple(sorted(set(fixes))),
            }
        )
        return cid


@dataclass
class _Outcome:
    change_ids: tuple[str, ...] = ()
    blocked: str | None = None
    azs_after: int = 0


def _nat_subnets(index: RegionIndex, vpc_id: str) -> list[Subnet]:
    return [
        s
        for s in index.subnets_by_vpc.get(vpc_id, ())
        if index.classify(s.subnet_id).egress == "nat"
    ]


def _keep_private(
    b: _Builder, fn: Function, verdict: ConfigVerdict, settings: Settings, fix_ids: list[str]
) -> _Outcome:
    assert fn.vpc_config is not None and verdict.vpc_id is not None
    current = list(fn.vpc_config.subnet_ids)
    # keep what works and what remediator does not judge (transit gateway,
    # peering…): only subnets known to have no egress are dropped
    kept = [s.subnet_id for s in verdict.subnets if s.egress in ("nat", "other")]
    before_azs = set(verdict.azs)
    az_of = {s.subnet_id: s.availability_zone for s in verdict.subnets}
    kept_azs = {az_of[s] for s in kept}
    added: list[str] = []
    if len(kept_azs) < settings.min_azs:
        candidates = sorted(
            (
                s
                for s in _nat_subnets(b.index, verdict.vpc_id)
                if s.subnet_id not in kept and s.available_ip_address_count > 0
            ),
            key=lambda s: (
                s.availability_zone not in before_azs,
                -s.available_ip_address_count,
                s.subnet_id,
            ),
        )
        for s in candidates:
            if len(kept_azs) >= settings.min_azs or len(kept) + len(added) >= MAX_SUBNETS:
                break
            if s.availability_zone in kept_azs:
                continue
            added.append(s.subnet_id)
            kept_azs.add(s.availability_zone)
    new = sorted(set(kept) | set(added))
    if not new:
        return _Outcome(blocked="no NAT-routed subnet in the VPC to move the function to")
    if len(kept_azs) < min(settings.min_azs, len(before_azs)):
        return _Outcome(
            blocked=f"dropping the subnets without egress would leave {len(kept_azs)} AZ(s) and the VPC has no NAT-routed subnet in another AZ"
        )
    if len(new) > MAX_SUBNETS:
        return _Outcome(blocked="the fix would list more than 16 subnets")
    if new == sorted(current):
        return _Outcome(blocked="no subnet change would improve the function")
    removed = sorted(set(current) - set(new))
    groups = sorted(fn.vpc_config.security_group_ids)
    # ``before`` keeps AWS's order so rollback restores the list exactly;
    # the fingerprint hashes the sorted form.
    before = {"SubnetIds": current, "SecurityGroupIds": list(fn.vpc_config.security_group_ids)}
    after = vpc_config_state(new, groups)
    parts = []
    if removed:
        parts.append(f"drop {', '.join(removed)} (no egress)")
    if added:
        parts.append(f"add NAT-routed {', '.join(added)} to keep {len(kept_azs)} AZ(s)")
    cid = b.add(
        kinds.UPDATE_VPC_CONFIG,
        fn.arn,
        before=before,
        after=after,
        risk="medium" if added else "low",
        reason=f"{fn.name}: " + "; ".join(parts) + ".",
        fp=fingerprint(vpc_config_state(current, groups), fn.revision_id),
        blast=BlastRadius(
            functions=(fn.name,),
            subnet_ids=tuple(sorted(set(removed) | set(added))),
            note="the function's own ENIs move; no other resource changes",
        ),
        fixes=fix_ids,
    )
    return _Outcome(change_ids=(cid,), azs_after=len(kept_azs))


def _pick_nat(index: RegionIndex, vpc_id: str, azs: set[str]) -> NatGateway | None:
    good = []
    for nat in index.inv.nat_gateways:
        if nat.vpc_id != vpc_id or nat.state != "available" or nat.connectivity_type != "public":
            continue
        if index.classify(nat.subnet_id).egress != "public":
            continue
        az = (
            index.subnets[nat.subnet_id].availability_zone if nat.subnet_id in index.subnets else ""
        )
        good.append((az not in azs, nat.nat_gateway_id, nat))
    return min(good, key=lambda t: (t[0], t[1]))[2] if good else None


def _route_blast(index: RegionIndex, rt: RouteTable) -> BlastRadius:
    subnets = index.subnets_using(rt)
    functions = sorted({f for s in subnets for f in index.functions_by_subnet.get(s, ())})
    note = (
        "main route table: every subnet of the VPC without an explicit association uses it"
        if rt.main
        else f"route table serves {len(subnets)} subnet(s)"
    )
    return BlastRadius(
        route_tables=(rt.route_table_id,), subnet_ids=subnets, functions=tuple(functions), note=note
    )


def _add_nat_route(
    b: _Builder, fn: Function, verdict: ConfigVerdict, settings: Settings, fix_ids: list[str]
) -> _Outcome:
    assert verdict.vpc_id is not None
    if verdict.of("public"):
        return _Outcome(
            blocked="public subnets keep their internet gateway route (other workloads use it)"
        )
    if verdict.of("unknown"):
        return _Outcome(blocked="some subnets were not found")
    targets = verdict.of("nat-broken", "isolated")
    tables: dict[str, tuple[RouteTable, set[str]]] = {}
    for s in targets:
        rt, _ = b.index.route_table_of(s.subnet_id)
        if rt is None:
            return _Outcome(blocked=f"no route table found for {s.subnet_id}")
        if any(
            r.destination == "0.0.0.0/0" and r.target.startswith("igw-") and r.state == "active"
            for r in rt.routes
        ):
            return _Outcome(blocked=f"{rt.route_table_id} routes to an internet gateway")
        tables.setdefault(rt.route_table_id, (rt, set()))[1].add(s.availability_zone or "")
    # Check every table first so a blocked strategy leaves no change behind.
    chosen: list[tuple[RouteTable, BlastRadius, bool, NatGateway]] = []
    for rt_id in sorted(tables):
        rt, azs = tables[rt_id]
        blast = _route_blast(b.index, rt)
        shared = rt.main or len(blast.subnet_ids) > 1
        if shared and not settings.allow_shared_route_table_changes:
            return _Outcome(
                blocked=f"{rt_id} is shared by {len(blast.subnet_ids)} subnet(s){' (main table)' if rt.main else ''}; the policy does not allow changing shared route tables"
            )
        nat = _pick_nat(b.index, verdict.vpc_id, azs)
        if nat is None:
            return _Outcome(
                blocked=f"no available public NAT gateway in {verdict.vpc_id} (creating one costs money: never done implicitly)"
            )
        chosen.append((rt, blast, shared, nat))
    ids: list[str] = []
    for rt, blast, shared, nat in chosen:
        rt_id = rt.route_table_id
        before_state = route_state(rt)
        old = before_state["DefaultRoute"]
        before = (
            None
            if old is None
            else {
                "DestinationCidrBlock": "0.0.0.0/0",
                "Target": old["Target"],
                "State": old["State"],
            }
        )
        after = {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": nat.nat_gateway_id}
        verb = "add" if old is None else f"replace {old['State']} route to {old['Target']} with"
        nat_az = (
            b.index.subnets[nat.subnet_id].availability_zone
            if nat.subnet_id in b.index.subnets
            else "?"
        )
        ids.append(
            b.add(
                kinds.PUT_NAT_ROUTE,
                rt_id,
                before=before,
                after=after,
                risk="high" if shared else "medium",
                reason=f"{rt_id}: {verb} 0.0.0.0/0 -> {nat.nat_gateway_id} ({nat_az}) so {', '.join(sorted(s.subnet_id for s in targets))} reach the internet.",
                fp=fingerprint(before_state),
                blast=blast,
                fixes=fix_ids,
            )
        )
    if not ids:
        return _Outcome(blocked="nothing for add-nat-route to change")
    return _Outcome(change_ids=tuple(ids))


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


def _lambda_endpoint(
    b: _Builder,
    fn: Function,
    verdict: ConfigVerdict,
    settings: Settings,
    fix_ids: list[str],
    region_fns: dict[str, list[Function]],
) -> _Outcome:
    assert fn.vpc_config is not None and verdict.vpc_id is not None
    vpc_id = verdict.vpc_id
    ep = verdict.endpoint
    groups = sorted(
        {
            g
            for f in region_fns.get(vpc_id, [fn])
            for g in (f.vpc_config.security_group_ids if f.vpc_config else ())
        }
    )
    vpc = b.index.vpcs.get(vpc_id)
    dns_support = getattr(vpc, "enable_dns_support", None)
    dns_hostnames = getattr(vpc, "enable_dns_hostnames", None)
    if ep.endpoint is None and not settings.allow_endpoint_creation:
        return _Outcome(
            blocked="creating a Lambda endpoint costs money per AZ-hour; the policy does not allow it (allow_endpoint_creation)"
        )
    ids: list[str] = []
    dns_id: str | None = None
    blast = BlastRadius(
        subnet_ids=tuple(s.subnet_id for s in b.index.subnets_by_vpc.get(vpc_id, ())),
        functions=tuple(sorted(f.name for f in region_fns.get(vpc_id, []))),
        note="private DNS is VPC-wide: every workload in the VPC resolves the Lambda API to the endpoint",
    )
    if dns_support is not True or dns_hostnames is not True:
        if dns_support is None or dns_hostnames is None:
            return _Outcome(blocked=f"the DNS attributes of {vpc_id} were not read; re-run plan")
        before = {"EnableDnsSupport": dns_support, "EnableDnsHostnames": dns_hostnames}
        dns_id = b.add(
            kinds.ENABLE_VPC_DNS,
            vpc_id,
            before=before,
            after={"EnableDnsSupport": True, "EnableDnsHostnames": True},
            risk="medium",
            reason=f"{vpc_id}: private DNS for the Lambda endpoint needs enableDnsSupport and enableDnsHostnames.",
            fp=fingerprint(before),
            blast=blast.model_copy(
                update={
                    "note": "instances get DNS hostnames; with a private-DNS endpoint, every workload resolves the Lambda API to it"
                }
            ),
            fixes=fix_ids,
        )
        ids.append(dns_id)
    if ep.endpoint is not None:
        endpoint = ep.endpoint
        codes = {code for code, _ in ep.problems}
        if ENDPOINT_NOT_AVAILABLE in codes:
            return _Outcome(
                blocked=f"{endpoint.vpc_endpoint_id} is {endpoint.state}; wait or recreate it by hand"
            )
        # Making the endpoint's private DNS active sends every function of the
        # VPC to it: its group must let all of them in first, not only this one.
        activates_dns = dns_id is not None or not endpoint.private_dns_enabled
        shut_out = [
            f.name
            for f in region_fns.get(vpc_id, [fn])
            if f.vpc_config is not None and not endpoint_allows(b.index, endpoint, f.vpc_config)
        ]
        ingress_id: str | None = None
        if ENDPOINT_SG_BLOCKS in codes or (activates_dns and shut_out):
            if not endpoint.security_group_ids:
                return _Outcome(blocked=f"{endpoint.vpc_endpoint_id} has no security group to open")
            sg = endpoint.security_group_ids[0]
            group = b.index.security_groups.get(sg)
            before_state = {
                "GroupId": sg,
                "Ingress": [r.model_dump(mode="json") for r in group.ingress] if group else [],
            }
            ingress_id = b.add(
                kinds.AUTHORIZE_ENDPOINT_INGRESS,
                sg,
                before=None,
                after={
                    "IpProtocol": "tcp",
                    "FromPort": 443,
                    "ToPort": 443,
                    "SourceSecurityGroupIds": groups,
                },
                risk="low",
                reason=f"{sg} ({endpoint.vpc_endpoint_id}): allow TCP 443 from {', '.join(groups)}.",
                fp=fingerprint(before_state),
                blast=BlastRadius(
                    functions=tuple(sorted(shut_out)),
                    note=f"only traffic to {endpoint.vpc_endpoint_id} is affected",
                ),
                fixes=fix_ids,
            )
            ids.append(ingress_id)
            if dns_id is not None:
                dns_change = b.changes[dns_id]
                b.changes[dns_id] = dns_change.model_copy(
                    update={"depends_on": tuple(sorted({*dns_change.depends_on, ingress_id}))}
                )
        if not endpoint.private_dns_enabled:
            before = {"PrivateDnsEnabled": False}
            ids.append(
                b.add(
                    kinds.ENABLE_ENDPOINT_PRIVATE_DNS,
                    endpoint.vpc_endpoint_id,
                    before=before,
                    after={"PrivateDnsEnabled": True},
                    risk="high",
                    reason=f"{endpoint.vpc_endpoint_id}: turn on private DNS so the SDK's Lambda hostname resolves to it.",
                    fp=fingerprint({"VpcEndpointId": endpoint.vpc_endpoint_id, **before}),
                    blast=blast,
                    depends_on=[d for d in (dns_id, ingress_id) if d],
                    fixes=fix_ids,
                )
            )
        return _Outcome(change_ids=tuple(ids))
    subnets = _endpoint_subnets(
        b.index,
        vpc_id,
        [
            s
            for f in region_fns.get(vpc_id, [fn])
            for s in (f.vpc_config.subnet_ids if f.vpc_config else ())
        ],
    )
    if not subnets:
        return _Outcome(blocked=f"no subnet in {vpc_id} to place the endpoint in")
    sg_after = {
        "GroupName": f"{ENDPOINT_SG_NAME}-{vpc_id}",
        "Description": "remediator: TCP 443 from Lambda functions to the Lambda endpoint",
        "VpcId": vpc_id,
        "IngressTcp443FromGroups": groups,
    }
    sg_id = b.add(
        kinds.CREATE_ENDPOINT_SG,
        vpc_id,
        before=None,
        after=sg_after,
        risk="low",
        reason=f"{vpc_id}: a security group for the Lambda endpoint allowing TCP 443 from {', '.join(groups)}.",
        fp=fingerprint({"VpcId": vpc_id, "GroupName": sg_after["GroupName"], "Exists": False}),
        blast=BlastRadius(note="a new group; nothing uses it yet"),
        fixes=fix_ids,
    )
    ids.append(sg_id)
    service = f"com.amazonaws.{b.region}.lambda"
    ids.append(
        b.add(
            kinds.CREATE_LAMBDA_ENDPOINT,
            vpc_id,
            before=None,
            after={
                "ServiceName": service,
                "VpcEndpointType": "Interface",
                "VpcId": vpc_id,
                "SubnetIds": subnets,
                "SecurityGroupFromChange": sg_id,
                "PrivateDnsEnabled": True,
            },
            risk="high",
            reason=f"{vpc_id}: an interface endpoint for {service} with private DNS in {len(subnets)} AZ(s) (billed per AZ-hour).",
            fp=fingerprint({"VpcId": vpc_id, "LambdaEndpoints": []}),
            blast=blast,
            depends_on=[sg_id] + ([dns_id] if dns_id else []),
            fixes=fix_ids,
        )
    )
    return _Outcome(change_ids=tuple(ids))


def _move_alias(
    b: _Builder,
    fn: Function,
    finding: Finding,
    latest_ok: bool,
    latest_change: str | None,
    settings: Settings,
) -> _Outcome:
    alias = next((a for a in fn.aliases if a.name == finding.qualifier), None)
    if alias is None:
        return _Outcome(blocked="alias not found")
    if not settings.move_aliases:
        return _Outcome(blocked="the policy does not move aliases (move_aliases = false)")
    if not latest_ok:
        return _Outcome(blocked="$LATEST has no planned fix, so a new version would not help")
    if alias.additional_versions:
        return _Outcome(blocked="the alias has a weighted routing configuration; shift it by hand")
    version = next((v for v in fn.versions if v.version == alias.function_version), None)
    if version is None or version.code_sha256 != fn.code_sha256:
        return _Outcome(
            blocked=f"$LATEST code ({fn.code_sha256[:12]}…) differs from version {alias.function_version}'s; publishing would ship unreviewed code"
        )
    alias_arn = f"{fn.arn}:{alias.name}"
    before = {"FunctionVersion": alias.function_version}
    cid = b.add(
        kinds.MOVE_ALIAS,
        alias_arn,
        before=before,
        after={"FunctionVersion": "$NEW", "PublishFrom": "$LATEST", "CodeSha256": fn.code_sha256},
        risk="high",
        reason=f"{fn.name}:{alias.name}: publish $LATEST (same code {fn.code_sha256[:12]}…) with the fixed subnets and point the alias at it.",
        fp=fingerprint(
            {"AliasArn": alias_arn, "FunctionVersion": alias.function_version}, alias.revision_id
        ),
        blast=BlastRadius(
            functions=(fn.name,),
            note="the alias also picks up $LATEST's other configuration (same code)",
        ),
        depends_on=[latest_change] if latest_change else [],
        fixes=[finding.id],
    )
    return _Outcome(change_ids=(cid,))


MANUAL = {
    "keep-private-subnets": "list only subnets whose route table sends 0.0.0.0/0 to a working NAT gateway",
    "add-nat-route": "add a default route to a NAT gateway in the subnets' route tables",
    "lambda-endpoint": "create an interface endpoint for com.amazonaws.<region>.lambda with private DNS",
}


def _plan_function(
    b: _Builder,
    fn: Function,
    findings: list[Finding],
    settings: Settings,
    region_fns: dict[str, list[Function]],
) -> list[Finding]:
    """Plan one function; return its findings with status, fixed_by, manual_step."""
    assert fn.vpc_config is not None
    verdict = judge_config(b.index, fn.vpc_config)
    out: dict[str, Finding] = {f.id: f for f in findings}
    latest = [f for f in findings if f.qualifier == "$LATEST" and f.status == "open"]
    subnet_fix = [f for f in latest if f.code in SUBNET_CODES | {AZ_BELOW_MIN}]
    endpoint_fix = [f for f in latest if f.code in ENDPOINT_CODES]
    latest_change: str | None = None
    latest_fixed = not verdict.broken
    missing = [f for f in latest if f.code == SUBNET_MISSING]
    for f in missing:
        out[f.id] = f.model_copy(
            update={
                "status": "blocked",
                "manual_step": "remove or replace the missing subnets by hand; remediator will not guess",
            }
        )
    if subnet_fix and not missing and verdict.vpc_id is not None:
        reasons: list[str] = []
        fixed_codes: set[str] = set()
        for strategy in settings.strategies:
            ids = [f.id for f in subnet_fix]
            if strategy == "keep-private-subnets":
                outcome = _keep_private(b, fn, verdict, settings, ids)
                codes = {f.code for f in subnet_fix}
                if outcome.blocked is None and outcome.azs_after < settings.min_azs:
                    codes.discard(AZ_BELOW_MIN)
                    az_ids = {f.id for f in subnet_fix if f.code == AZ_BELOW_MIN}
                    for cid in outcome.change_ids:
                        c = b.changes[cid]
                        b.changes[cid] = c.model_copy(
                            update={"fixes": tuple(x for x in c.fixes if x not in az_ids)}
                        )
                    if not codes:
                        # the change would fix nothing: the VPC lacks NAT-routed
                        # subnets in enough AZs (the change is this function's own)
                        for cid in outcome.change_ids:
                            b.changes.pop(cid, None)
                        outcome = _Outcome(
                            blocked=f"the VPC has NAT-routed subnets in only {outcome.azs_after} AZ(s); the policy asks for {settings.min_azs}"
                        )
            elif strategy == "add-nat-route":
                ids = [f.id for f in subnet_fix if f.code != AZ_BELOW_MIN]
                outcome = (
                    _add_nat_route(b, fn, verdict, settings, ids)
                    if ids
                    else _Outcome(blocked="no subnet for a route")
                )
                codes = {f.code for f in subnet_fix if f.code != AZ_BELOW_MIN}
            else:
                ids = [f.id for f in subnet_fix if f.code == ISOLATED_NO_ENDPOINT] + [
                    f.id for f in endpoint_fix
                ]
                only_api = [f for f in subnet_fix if f.code in (ISOLATED_NO_ENDPOINT,)]
                other = [
                    f for f in subnet_fix if f.code not in (ISOLATED_NO_ENDPOINT, AZ_BELOW_MIN)
                ]
                if verdict.of("nat") and only_api:
                    outcome = _Outcome(
                        blocked="the function also has NAT-routed subnets: with an endpoint, internet calls would still hang from the isolated ones"
                    )
                elif not only_api or other:
                    outcome = _Outcome(
                        blocked="an endpoint fixes Lambda API calls only, not the other egress these subnets lack"
                    )
                else:
                    outcome = _lambda_endpoint(b, fn, verdict, settings, ids, region_fns)
                codes = {f.code for f in only_api} | {f.code for f in endpoint_fix}
            if outcome.blocked is None:
                for f in subnet_fix + endpoint_fix:
                    if f.code in codes:
                        out[f.id] = f.model_copy(
                            update={"status": "planned", "fixed_by": outcome.change_ids}
                        )
                        fixed_codes.add(f.code)
                latest_change = next(
                    (c for c in outcome.change_ids if b.changes[c].kind == kinds.UPDATE_VPC_CONFIG),
                    None,
                )
                break
            reasons.append(f"{strategy}: {outcome.blocked}")
        if not fixed_codes:
            for f in subnet_fix:
                out[f.id] = f.model_copy(
                    update={
                        "status": "blocked",
                        "manual_step": (
                            "; ".join(reasons) or "the policy lists no strategy for this function"
                        )
                        + ". By hand: "
                        + MANUAL[
                            settings.strategies[0]
                            if settings.strategies
                            else "keep-private-subnets"
                        ]
                        + ".",
                    }
                )
        else:
            latest_fixed = True
            for f in subnet_fix:
                if f.code not in fixed_codes:
                    out[f.id] = f.model_copy(
                        update={
                            "status": "blocked",
                            "manual_step": "the chosen fix does not cover this; "
                            + (
                                "add a NAT-routed subnet in another AZ"
                                if f.code == AZ_BELOW_MIN
                                else MANUAL["keep-private-subnets"]
                            )
                            + ".",
                        }
                    )
    if latest_change is not None and not verdict.endpoint.dns_active:
        # The endpoint mattered only to the isolated subnets; once the function
        # leaves them it does not depend on the endpoint any more.
        new_subnets = set(b.changes[latest_change].after["SubnetIds"])
        if not any(s.subnet_id in new_subnets for s in verdict.of("isolated")):
            moot = [f for f in endpoint_fix if out[f.id].status == "open"]
            for f in moot:
                out[f.id] = f.model_copy(update={"status": "planned", "fixed_by": (latest_change,)})
            if moot:
                change = b.changes[latest_change]
                b.changes[latest_change] = change.model_copy(
                    update={"fixes": tuple(sorted(set(change.fixes) | {f.id for f in moot}))}
                )
    pending_endpoint = [f for f in endpoint_fix if out[f.id].status == "open"]
    if pending_endpoint and verdict.vpc_id is not None:
        if "lambda-endpoint" in settings.strategies:
            outcome = _lambda_endpoint(
                b, fn, verdict, settings, [f.id for f in pending_endpoint], region_fns
            )
        else:
            outcome = _Outcome(blocked="the policy does not list the lambda-endpoint strategy")
        for f in pending_endpoint:
            if outcome.blocked is None:
                out[f.id] = f.model_copy(
                    update={"status": "planned", "fixed_by": outcome.change_ids}
                )
            else:
                out[f.id] = f.model_copy(
                    update={"status": "blocked", "manual_step": outcome.blocked + "."}
                )
    for f in findings:
        if f.code == ALIAS_BROKEN:
            outcome = _move_alias(b, fn, f, latest_fixed, latest_change, settings)
            if outcome.blocked is None:
                out[f.id] = f.model_copy(
                    update={"status": "planned", "fixed_by": outcome.change_ids}
                )
            else:
                out[f.id] = f.model_copy(
                    update={
                        "status": "blocked",
                        "manual_step": f"{outcome.blocked}; publish a fixed version and move '{f.qualifier}' by hand.",
                    }
                )
        elif f.code == LATEST_BROKEN_ALIAS_OK:
            out[f.id] = f.model_copy(update={"status": "info"})
    return [out[f.id] for f in findings]


def _order(changes: dict[str, Change]) -> list[Change]:
    """Dependency order: by phase (what adds a path before what removes one),
    then target; a change never precedes one it depends on."""
    ordered = sorted(changes.values(), key=lambda c: (kinds.spec(c.kind).phase, c.target, c.id))
    placed: set[str] = set()
    result: list[Change] = []
    pending = ordered
    while pending:
        rest = []
        for c in pending:
            if all(d in placed or d not in changes for d in c.depends_on):
                result.append(c)
                placed.add(c.id)
            else:
                rest.append(c)
        if len(rest) == len(pending):  # a cycle cannot be built by the planner; keep order
            result.extend(rest)
            break
        pending = rest
    return result


def _apply_cap(
    changes: list[Change], findings: list[Finding], cap: int
) -> tuple[list[Change], list[Finding]]:
    if len(changes) <= cap:
        return changes, findings
    kept: list[Change] = []
    kept_ids: set[str] = set()
    for c in changes:
        if len(kept) < cap and all(d in kept_ids for d in c.depends_on):
            kept.append(c)
            kept_ids.add(c.id)
    out = []
    for f in findings:
        if f.status == "planned" and not set(f.fixed_by) <= kept_ids:
            f = f.model_copy(
                update={
                    "status": "deferred",
                    "fixed_by": (),
                    "manual_step": f"over the policy's cap of {cap} changes per plan; run plan again after applying this one",
                }
            )
        out.append(f)
    # a change whose findings were all deferred is not needed, and a kept
    # change lists only findings it still fixes (verification reads ``fixes``)
    live = {fid for f in out if f.status == "planned" for fid in f.fixed_by}
    planned_ids = {f.id for f in out if f.status == "planned"}
    kept = [
        c.model_copy(update={"fixes": tuple(x for x in c.fixes if x in planned_ids)})
        for c in kept
        if c.id in live
    ]
    return kept, out


def build_plan(inventory: Inventory, policy: Policy, now: str) -> Plan:
    """Diagnose and plan. ``now`` is an ISO-8601 timestamp passed in so the
    function stays pure; everything else comes from the inputs."""
    with gc_paused():
        return _build_plan(inventory, policy, now)


def _build_plan(inventory: Inventory, policy: Policy, now: str) -> Plan:
    # One index per region, shared with diagnosis: the subnet classes and the
    # verdict of each VpcConfig are computed once for both.
    indexes = [RegionIndex(r) for r in inventory.regions]
    diagnosis = diagnose(inventory, policy, indexes=indexes)
    by_fn: dict[tuple[str, str], list[Finding]] = {}
    for f in diagnosis.findings:
        by_fn.setdefault((f.region, f.function), []).append(f)
    all_changes: dict[str, Change] = {}
    planned: list[Finding] = []
    for region_inv, index in zip(inventory.regions, indexes, strict=True):
        b = _Builder(region_inv.region, index)
        region_fns: dict[str, list[Function]] = {}
        for fn in region_inv.functions:
            if fn.vpc_config is None:
                continue
            vpc = judge_config(b.index, fn.vpc_config).vpc_id
            if vpc:
                region_fns.setdefault(vpc, []).append(fn)
        for fn in region_inv.functions:
            found = by_fn.get((region_inv.region, fn.name))
            if not found or fn.vpc_config is None:
                continue
            planned.extend(_plan_function(b, fn, found, policy.settings_for(fn), region_fns))
        all_changes.update(b.changes)
    ordered = _order(all_changes)
    planned.sort(key=lambda f: (f.region, f.function, f.qualifier, f.code))
    ordered, planned = _apply_cap(ordered, planned, policy.max_changes)
    statuses = [s.status for s in diagnosis.functions]
    by_risk: dict[str, int] = {}
    for c in ordered:
        by_risk[c.risk] = by_risk.get(c.risk, 0) + 1
    summary = PlanSummary(
        functions=len(statuses),
        affected=statuses.count("affected"),
        healthy=statuses.count("healthy") + statuses.count("egress-unknown"),
        exempt=statuses.count("exempt"),
        not_in_vpc=statuses.count("not-in-vpc"),
        findings=len([f for f in planned if f.status != "info"]),
        blocked=len([f for f in planned if f.status == "blocked"]),
        deferred=len([f for f in planned if f.status == "deferred"]),
        changes=len(ordered),
        changes_by_risk=dict(sorted(by_risk.items())),
    )
    regions = tuple(sorted(r.region for r in inventory.regions))
    # Each finding and change is encoded once; the same text feeds the plan id
    # and the digest, which are hashed piece by piece (_canonical_sha256).
    finding_json = [canonical(f.model_dump(mode="json")) for f in planned]
    change_json = [canonical(c.model_dump(mode="json")) for c in ordered]
    plan_id = (
        "plan-"
        + _canonical_sha256(
            {
                "account_id": canonical(inventory.account_id),
                "regions": canonical(regions),
                "findings": finding_json,
                "changes": change_json,
                "policy": canonical(policy.digest()),
            }
        )[:12]
    )
    plan = Plan(
        plan_id=plan_id,
        created_at=now,
        tool_version=__version__,
        account_id=inventory.account_id,
        partition=inventory.partition,
        regions=regions,
        policy_digest=policy.digest(),
        metadata={"api_calls": dict(sorted(inventory.api_calls.items()))},
        summary=summary,
        functions=diagnosis.functions,
        findings=tuple(planned),
        changes=tuple(ordered),
    )
    return plan.model_copy(
        update={"digest": _plan_digest(plan, findings=finding_json, changes=change_json)}
    )


# The public name the issue and docs use: plan(inventory, policy) -> Plan.
plan = build_plan
