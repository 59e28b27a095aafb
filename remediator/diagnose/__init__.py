"""Diagnosis: what is wrong with each function's egress, and why. Pure.

``diagnose(inventory, policy)`` classifies every subnet a function uses from
its effective route table, then turns the classes into findings with stable
codes (docs/findings.md) and evidence chains. No clock, no network; all
output sorted.

Subnet classes (IPv4 default route of the effective route table):

- ``public``      active ``0.0.0.0/0`` (or ``::/0`` without an IPv4 default)
                  to an internet gateway: no egress for Lambda ENIs.
- ``nat``         active ``0.0.0.0/0`` to an available, public NAT gateway
                  that itself sits in a public subnet.
- ``nat-broken``  the default route is a blackhole, or its NAT gateway is
                  missing, not available, private, or in a subnet with no
                  internet route.
- ``isolated``    no IPv4 default route (``::/0`` to an egress-only gateway
                  does not change that).
- ``other``       transit gateway, peering, VGW, instance or ENI: egress not
                  judged.
- ``unknown``     the subnet or its route table was not found.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

from pydantic import BaseModel

from remediator.domain.base import gc_paused
from remediator.domain.inventory import (
    Function,
    Inventory,
    NatGateway,
    RegionInventory,
    RouteTable,
    SecurityGroup,
    Subnet,
    VpcConfig,
    VpcEndpoint,
)
from remediator.domain.plan import Finding, FunctionSummary, Severity, SubnetEgress
from remediator.domain.policy import Policy, Settings

IPV4_DEFAULT = "0.0.0.0/0"
IPV6_DEFAULT = "::/0"
NO_EGRESS = frozenset({"public", "nat-broken", "isolated"})
DEAD_ENDPOINT_STATES = frozenset({"deleted", "deleting", "failed", "rejected"})

# Finding codes: stable, documented in docs/findings.md.
PUBLIC_MIXED = "public-subnets-mixed"
PUBLIC_ALL = "public-subnets-all"
NAT_BROKEN = "nat-route-broken"
ISOLATED_NO_ENDPOINT = "isolated-no-endpoint"
ISOLATED_MIXED = "isolated-subnets-mixed"
AZ_BELOW_MIN = "az-count-below-minimum"
EGRESS_UNKNOWN = "egress-unknown"
SUBNET_MISSING = "subnet-not-found"
ENDPOINT_PRIVATE_DNS_OFF = "lambda-endpoint-private-dns-off"
ENDPOINT_VPC_DNS_OFF = "lambda-endpoint-vpc-dns-off"
ENDPOINT_SG_BLOCKS = "lambda-endpoint-sg-blocks"
ENDPOINT_NOT_AVAILABLE = "lambda-endpoint-not-available"
ALIAS_BROKEN = "alias-config-broken"
LATEST_BROKEN_ALIAS_OK = "latest-broken-alias-ok"

CODES: dict[str, tuple[Severity, str]] = {
    PUBLIC_MIXED: ("high", "Some subnets are public: calls leaving the VPC hang intermittently"),
    PUBLIC_ALL: ("critical", "All subnets are public: every call leaving the VPC hangs"),
    NAT_BROKEN: ("high", "The NAT path of some subnets is broken"),
    ISOLATED_NO_ENDPOINT: ("high", "Isolated subnets and no usable Lambda endpoint"),
    ISOLATED_MIXED: ("medium", "Some subnets have no default route while others do"),
    AZ_BELOW_MIN: ("low", "Fewer Availability Zones than the policy minimum"),
    EGRESS_UNKNOWN: ("info", "Egress goes through a target remediator does not judge"),
    SUBNET_MISSING: ("high", "A subnet in the VpcConfig does not exist"),
    ENDPOINT_PRIVATE_DNS_OFF: ("high", "The Lambda endpoint has private DNS off"),
    ENDPOINT_VPC_DNS_OFF: ("high", "The VPC's DNS attributes stop the endpoint's private DNS"),
    ENDPOINT_SG_BLOCKS: (
        "high",
        "The Lambda endpoint's security group blocks 443 from the function",
    ),
    ENDPOINT_NOT_AVAILABLE: ("high", "The Lambda endpoint is not available"),
    ALIAS_BROKEN: ("high", "An alias runs a version whose subnets have no egress"),
    LATEST_BROKEN_ALIAS_OK: ("medium", "$LATEST has no egress while an alias's version is fine"),
}


_M = TypeVar("_M", bound=BaseModel)
_FIELDS_SETS: dict[tuple[type[BaseModel], frozenset[str]], set[str]] = {}


def _built(model: type[_M], **values: Any) -> _M:
    """``model(**values)`` for values this module assembles from validated
    inventory and verdict data (exact types: str, tuples of models, floats),
    without revalidating them, and with one shared ``model_fields_set`` per
    combination of fields: a frozen model never changes its own (pydantic
    copies it in ``model_copy``), and 10,000 function summaries would
    otherwise carry 10,000 identical sets (7 MB)."""
    key = (model, frozenset(values))
    fields_set = _FIELDS_SETS.get(key)
    if fields_set is None:
        fields_set = _FIELDS_SETS[key] = set(values)
    return model.model_construct(fields_set, **values)


def stable_id(prefix: str, *parts: str) -> str:
    return prefix + hashlib.sha256("|".join(parts).encode()).hexdigest()[:10]


@dataclass
class RegionIndex:
    """Lookups over one region's inventory, built once, with a per-subnet
    classification cache (thousands of functions share a few subnets) and a
    per-VpcConfig verdict cache (and many share a whole config)."""

    inv: RegionInventory
    _cache: dict[str, SubnetEgress] = field(default_factory=dict)
    _verdicts: dict[VpcConfig, ConfigVerdict] = field(default_factory=dict)

    @cached_property
    def subnets(self) -> dict[str, Subnet]:
        return {s.subnet_id: s for s in self.inv.subnets}

    @cached_property
    def explicit_table(self) -> dict[str, RouteTable]:
        return {sid: rt for rt in self.inv.route_tables for sid in rt.subnet_ids}

    @cached_property
    def main_table(self) -> dict[str, RouteTable]:
        return {rt.vpc_id: rt for rt in self.inv.route_tables if rt.main}

    @cached_property
    def nats(self) -> dict[str, NatGateway]:
        return {n.nat_gateway_id: n for n in self.inv.nat_gateways}

    @cached_property
    def security_groups(self) -> dict[str, SecurityGroup]:
        return {g.group_id: g for g in self.inv.security_groups}

    @cached_property
    def vpcs(self) -> dict[str, object]:
        return {v.vpc_id: v for v in self.inv.vpcs}

    @cached_property
    def subnets_by_vpc(self) -> dict[str, tuple[Subnet, ...]]:
        out: dict[str, list[Subnet]] = {}
        for s in self.inv.subnets:
            out.setdefault(s.vpc_id, []).append(s)
        return {k: tuple(v) for k, v in out.items()}

    @cached_property
    def lambda_endpoints(self) -> dict[str, tuple[VpcEndpoint, ...]]:
        out: dict[str, list[VpcEndpoint]] = {}
        for e in self.inv.vpc_endpoints:
            if e.service_name.endswith(".lambda") and e.state not in DEAD_ENDPOINT_STATES:
                out.setdefault(e.vpc_id, []).append(e)
        return {k: tuple(v) for k, v in out.items()}

    @cached_property
    def functions_by_subnet(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, set[str]] = {}
        for fn in self.inv.functions:
            if fn.vpc_config:
                for sid in fn.vpc_config.subnet_ids:
                    out.setdefault(sid, set()).add(fn.name)
        return {k: tuple(sorted(v)) for k, v in out.items()}

    def route_table_of(self, subnet_id: str) -> tuple[RouteTable | None, str]:
        rt = self.explicit_table.get(subnet_id)
        if rt is not None:
            return rt, "explicit"
        subnet = self.subnets.get(subnet_id)
        if subnet is None:
            return None, "none"
        main = self.main_table.get(subnet.vpc_id)
        return (main, "main") if main is not None else (None, "none")

    def subnets_using(self, rt: RouteTable) -> tuple[str, ...]:
        """Every subnet whose effective route table is ``rt``."""
        if not rt.main:
            return tuple(sorted(rt.subnet_ids))
        explicit = self.explicit_table
        implicit = [
            s.subnet_id
            for s in self.subnets_by_vpc.get(rt.vpc_id, ())
            if s.subnet_id not in explicit
        ]
        return tuple(sorted(set(implicit) | set(rt.subnet_ids)))

    def classify(self, subnet_id: str) -> SubnetEgress:
        cached = self._cache.get(subnet_id)
        if cached is None:
            cached = self._classify(subnet_id, depth=0)
            self._cache[subnet_id] = cached
        return cached

    def _classify(self, subnet_id: str, depth: int) -> SubnetEgress:
        subnet = self.subnets.get(subnet_id)
        if subnet is None:
            return SubnetEgress(
                subnet_id=subnet_id, egress="unknown", detail="subnet not found in the account"
            )
        rt, association = self.route_table_of(subnet_id)
        base: dict[str, Any] = {
            "subnet_id": subnet_id,
            "vpc_id": subnet.vpc_id,
            "availability_zone": subnet.availability_zone,
        }
        if rt is None:
            return SubnetEgress(
                **base, egress="unknown", detail="no route table found for the subnet"
            )
        base.update(route_table_id=rt.route_table_id, association=association)
        v4 = next((r for r in rt.routes if r.destination == IPV4_DEFAULT), None)
        v6 = next((r for r in rt.routes if r.destination == IPV6_DEFAULT), None)
        ipv6 = None
        if v6 is not None:
            kind = (
                "egress-only"
                if v6.target.startswith("eigw-")
                else "internet-gateway"
                if v6.target.startswith("igw-")
                else "other"
            )
            ipv6 = f"{IPV6_DEFAULT} -> {v6.target} ({kind}, {v6.state})"
        if v4 is None:
            if v6 is not None and v6.target.startswith("igw-") and v6.state == "active":
                return SubnetEgress(
                    **base,
                    route=f"{IPV6_DEFAULT} -> {v6.target}",
                    target=v6.target,
                    target_state=v6.state,
                    egress="public",
                    ipv6=ipv6,
                    detail="IPv6 default route to an internet gateway and no IPv4 default route",
                )
            return SubnetEgress(
                **base,
                egress="isolated",
                ipv6=ipv6,
                detail="no 0.0.0.0/0 route"
                + (" (the ::/0 route gives IPv6 only)" if v6 is not None else ""),
            )
        base.update(route=f"{IPV4_DEFAULT} -> {v4.target}", target=v4.target, ipv6=ipv6)
        if v4.state != "active":
            return SubnetEgress(
                **base,
                target_state=v4.state,
                egress="nat-broken",
                detail=f"default route is {v4.state}: its target is gone",
            )
        target = v4.target
        if target.startswith("igw-"):
            return SubnetEgress(
                **base,
                target_state="attached",
                egress="public",
                detail="default route to an internet gateway: Lambda ENIs have no public IP here",
            )
        if target.startswith("nat-"):
            nat = self.nats.get(target)
            if nat is None:
                return SubnetEgress(
                    **base,
                    target_state="missing",
                    egress="nat-broken",
                    detail="NAT gateway not found",
                )
            if nat.state != "available":
                return SubnetEgress(
                    **base,
                    target_state=nat.state,
                    egress="nat-broken",
                    detail=f"NAT gateway is {nat.state}, not available",
                )
            if nat.connectivity_type != "public":
                return SubnetEgress(
                    **base,
                    target_state=nat.state,
                    egress="nat-broken",
                    detail="NAT gateway is private: it gives no internet access",
                )
            home = self._classify(nat.subnet_id, depth + 1) if depth < 2 else None
            if home is None or home.egress != "public":
                where = home.detail if home is not None else "route loop"
                return SubnetEgress(
                    **base,
                    target_state=nat.state,
                    egress="nat-broken",
                    detail=f"NAT gateway sits in {nat.subnet_id}, which has no internet route ({where})",
                )
            return SubnetEgress(
                **base,
                target_state=nat.state,
                egress="nat",
                detail=f"NAT gateway in public subnet {nat.subnet_id}",
            )
        return SubnetEgress(
            **base,
            target_state=v4.state,
            egress="other",
            detail="default route to a target whose egress remediator does not judge",
        )


@dataclass(frozen=True)
class EndpointVerdict:
    """Whether the Lambda API is reachable through an endpoint in the VPC."""

    endpoint: VpcEndpoint | None
    dns_active: bool
    problems: tuple[tuple[str, str], ...]  # (code, detail)

    @property
    def usable(self) -> bool:
        return self.endpoint is not None and self.dns_active and not self.problems


def _rule_allows_443(rule_protocol: str, from_port: int | None, to_port: int | None) -> bool:
    if rule_protocol == "-1":
        return True
    if rule_protocol not in ("tcp", "6"):
        return False
    low = from_port if from_port is not None else 0
    high = to_port if to_port is not None else 65535
    return low <= 443 <= high


def _cidr_covers(cidr: str, inner: str) -> bool:
    try:
        outer_net = ipaddress.ip_network(cidr, strict=False)
        inner_net = ipaddress.ip_network(inner, strict=False)
    except ValueError:
        return False
    return outer_net.version == inner_net.version and inner_net.subnet_of(outer_net)  # type: ignore[arg-type]


def endpoint_allows(index: RegionIndex, endpoint: VpcEndpoint, config: VpcConfig) -> bool:
    """True when some endpoint group allows TCP 443 from the function (by one
    of its groups, or by a CIDR covering all of its subnets)."""
    cidrs = [
        index.subnets[s].cidr_block
        for s in config.subnet_ids
        if s in index.subnets and index.subnets[s].cidr_block
    ]
    for gid in endpoint.security_group_ids:
        group = index.security_groups.get(gid)
        if group is None:
            continue
        for rule in group.ingress:
            if not _rule_allows_443(rule.protocol, rule.from_port, rule.to_port):
                continue
            if set(rule.group_ids) & set(config.security_group_ids):
                return True
            if (
                cidrs
                and len(cidrs) == len(config.subnet_ids)
                and all(any(_cidr_covers(c, sc) for c in rule.cidrs) for sc in cidrs)
            ):
                return True
    return False


def endpoint_verdict(index: RegionIndex, vpc_id: str, config: VpcConfig) -> EndpointVerdict:
    endpoints = index.lambda_endpoints.get(vpc_id, ())
    if not endpoints:
        return EndpointVerdict(None, False, ())
    vpc = index.vpcs.get(vpc_id)
    dns_support = getattr(vpc, "enable_dns_support", None)
    dns_hostnames = getattr(vpc, "enable_dns_hostnames", None)
    best: EndpointVerdict | None = None
    for ep in endpoints:
        problems: list[tuple[str, str]] = []
        if ep.state != "available":
            problems.append((ENDPOINT_NOT_AVAILABLE, f"{ep.vpc_endpoint_id} is {ep.state}"))
        if not ep.private_dns_enabled:
            problems.append(
                (
                    ENDPOINT_PRIVATE_DNS_OFF,
                    f"{ep.vpc_endpoint_id} has private DNS off: the SDK's lambda hostname does not resolve to it",
                )
            )
        if dns_support is False or dns_hostnames is False:
            problems.append(
                (
                    ENDPOINT_VPC_DNS_OFF,
                    f"{vpc_id} enableDnsSupport={dns_support} enableDnsHostnames={dns_hostnames}",
                )
            )
        if not endpoint_allows(index, ep, config):
            problems.append(
                (
                    ENDPOINT_SG_BLOCKS,
                    f"no group of {ep.vpc_endpoint_id} ({', '.join(ep.security_group_ids) or 'none'}) allows TCP 443 from {', '.join(config.security_group_ids) or 'the function'}",
                )
            )
        dns_active = (
            ep.private_dns_enabled and dns_support is not False and dns_hostnames is not False
        )
        verdict = EndpointVerdict(ep, dns_active, tuple(problems))
        if best is None or len(verdict.problems) < len(best.problems):
            best = verdict
    assert best is not None
    return best


@dataclass(frozen=True)
class ConfigVerdict:
    """The classification of one VpcConfig (``$LATEST`` or a version)."""

    subnets: tuple[SubnetEgress, ...]
    endpoint: EndpointVerdict
    vpc_id: str | None

    def of(self, *classes: str) -> tuple[SubnetEgress, ...]:
        return tuple(s for s in self.subnets if s.egress in classes)

    @property
    def azs(self) -> tuple[str, ...]:
        return tuple(sorted({s.availability_zone for s in self.subnets if s.availability_zone}))

    @property
    def broken(self) -> bool:
        """Some instance of this config cannot reach outside the VPC."""
        if self.of("public", "nat-broken"):
            return True
        if self.of("isolated") and (not self.endpoint.usable or self.of("nat")):
            return True
        return bool(self.endpoint.dns_active and self.endpoint.problems)


def judge_config(index: RegionIndex, config: VpcConfig) -> ConfigVerdict:
    """The verdict on ``config``; computed once per distinct config and index
    (diagnosis and the planner ask for the same configs again)."""
    verdict = index._verdicts.get(config)
    if verdict is None:
        verdict = index._verdicts[config] = _judge_config(index, config)
    return verdict


def _judge_config(index: RegionIndex, config: VpcConfig) -> ConfigVerdict:
    subnets = tuple(index.classify(s) for s in sorted(config.subnet_ids))
    vpcs = sorted({s.vpc_id for s in subnets if s.vpc_id})
    vpc_id = vpcs[0] if vpcs else None
    endpoint = (
        endpoint_verdict(index, vpc_id, config) if vpc_id else EndpointVerdict(None, False, ())
    )
    return ConfigVerdict(subnets, endpoint, vpc_id)


def _finding(
    region: str,
    fn: Function,
    code: str,
    detail: str,
    subnets: Iterable[SubnetEgress],
    total: int,
    qualifier: str = "$LATEST",
    notes: tuple[str, ...] = (),
    key: str = "",
) -> Finding:
    """``key`` tells apart findings of one code on one qualifier (an alias
    name, a weighted version); ids stay stable for a given world."""
    evidence = tuple(sorted(subnets, key=lambda s: s.subnet_id))
    severity, title = CODES[code]
    parts = (region, fn.arn, qualifier, code) + ((key,) if key else ())
    return _built(
        Finding,
        id=stable_id("f-", *parts),
        region=region,
        function=fn.name,
        function_arn=fn.arn,
        qualifier=qualifier,
        code=code,
        severity=severity,
        title=title,
        detail=detail,
        subnet_ids=tuple(s.subnet_id for s in evidence),
        affected_share=round(len(evidence) / total, 3) if total else 0.0,
        evidence=evidence,
        notes=notes,
        status="info" if severity == "info" else "open",
    )


def _config_findings(
    region: str,
    fn: Function,
    verdict: ConfigVerdict,
    settings: Settings,
    qualifier: str,
) -> list[Finding]:
    out: list[Finding] = []
    total = len(verdict.subnets)
    ep = verdict.endpoint
    ep_note: tuple[str, ...] = ()
    if ep.usable and ep.endpoint is not None:
        ep_note = (
            f"Lambda API calls reach {ep.endpoint.vpc_endpoint_id} (private DNS); other egress still hangs.",
        )
    public = verdict.of("public")
    if public:
        code = PUBLIC_ALL if len(public) == total else PUBLIC_MIXED
        share = f"{len(public)} of {total}"
        out.append(
            _finding(
                region,
                fn,
                code,
                f"{share} subnets route 0.0.0.0/0 to an internet gateway; an execution environment placed there cannot reach outside the VPC.",
                public,
                total,
                qualifier,
                ep_note,
            )
        )
    broken = verdict.of("nat-broken")
    if broken:
        out.append(
            _finding(
                region,
                fn,
                NAT_BROKEN,
                f"{len(broken)} of {total} subnets have a default route whose NAT path does not reach the internet.",
                broken,
                total,
                qualifier,
            )
        )
    isolated = verdict.of("isolated")
    if isolated and not ep.usable:
        out.append(
            _finding(
                region,
                fn,
                ISOLATED_NO_ENDPOINT,
                f"{len(isolated)} of {total} subnets have no default route and the VPC has no usable Lambda endpoint: Lambda API calls hang there.",
                isolated,
                total,
                qualifier,
                tuple(f"{code}: {detail}" for code, detail in ep.problems),
            )
        )
    elif isolated and verdict.of("nat"):
        out.append(
            _finding(
                region,
                fn,
                ISOLATED_MIXED,
                f"{len(isolated)} of {total} subnets reach only the Lambda endpoint; internet calls from them hang while the others work.",
                isolated,
                total,
                qualifier,
            )
        )
    missing = verdict.of("unknown")
    if missing:
        out.append(
            _finding(
                region,
                fn,
                SUBNET_MISSING,
                f"{len(missing)} subnets of the VpcConfig were not found (deleted, or another account's).",
                missing,
                total,
                qualifier,
            )
        )
    other = verdict.of("other")
    if other:
        out.append(
            _finding(
                region,
                fn,
                EGRESS_UNKNOWN,
                f"{len(other)} of {total} subnets send 0.0.0.0/0 to a transit gateway, peering, VGW, instance or ENI; egress there is not judged.",
                other,
                total,
                qualifier,
            )
        )
    # An endpoint matters when the function depends on it: it is the VPC's
    # resolver answer for the Lambda API (private DNS active) or the function
    # has isolated subnets that can reach nothing else.
    if ep.endpoint is not None and ep.problems and (ep.dns_active or isolated):
        for code, detail in ep.problems:
            if code in (ENDPOINT_PRIVATE_DNS_OFF, ENDPOINT_VPC_DNS_OFF) and ep.dns_active:
                continue
            out.append(
                _finding(region, fn, code, detail, isolated or verdict.subnets, total, qualifier)
            )
    if qualifier == "$LATEST" and 0 < len(verdict.azs) < settings.min_azs:
        out.append(
            _finding(
                region,
                fn,
                AZ_BELOW_MIN,
                f"subnets span {len(verdict.azs)} Availability Zone(s) ({', '.join(verdict.azs)}); the policy asks for {settings.min_azs}.",
                verdict.subnets,
                total,
                qualifier,
            )
        )
    return out


@dataclass(frozen=True)
class Diagnosis:
    findings: tuple[Finding, ...]
    functions: tuple[FunctionSummary, ...]


def _alias_findings(
    region: str, index: RegionIndex, fn: Function, latest: ConfigVerdict
) -> list[Finding]:
    out: list[Finding] = []
    versions = {v.version: v for v in fn.versions}
    for alias in fn.aliases:
        broken_versions: list[tuple[str, ConfigVerdict]] = []
        for version in (alias.function_version, *alias.additional_versions):
            if version == "$LATEST" or version not in versions:
                continue
            config = versions[version].vpc_config
            if config is None:
                continue
            verdict = judge_config(index, config)
            if verdict.broken:
                broken_versions.append((version, verdict))
        for version, verdict in broken_versions:
            bad = verdict.of("public", "nat-broken", "isolated")
            state = "is fine" if not latest.broken else "is broken too"
            out.append(
                _finding(
                    region,
                    fn,
                    ALIAS_BROKEN,
                    f"alias '{alias.name}' runs version {version}, published with subnets that have no egress; $LATEST {state}. Fixing $LATEST does not fix the alias.",
                    bad,
                    len(verdict.subnets),
                    alias.name,
                    key=version if len(broken_versions) > 1 else "",
                )
            )
        if latest.broken and not broken_versions and alias.function_version != "$LATEST":
            out.append(
                _finding(
                    region,
                    fn,
                    LATEST_BROKEN_ALIAS_OK,
                    f"alias '{alias.name}' runs version {alias.function_version}, which is fine; publishing $LATEST before it is fixed would ship the broken config.",
                    (),
                    len(latest.subnets),
                    "$LATEST",
                    key=alias.name,
                )
            )
    return out


def diagnose(
    inventory: Inventory, policy: Policy, *, indexes: Sequence[RegionIndex] | None = None
) -> Diagnosis:
    """Classify every function in the inventory. Pure and deterministic.

    ``indexes`` (one per ``inventory.regions``, in order) lets a caller that
    goes on working on the same inventory (the planner) share the lookups
    and caches; by default each call builds its own."""
    if indexes is None:
        indexes = [RegionIndex(r) for r in inventory.regions]
    if len(indexes) != len(inventory.regions) or any(
        i.inv is not r for i, r in zip(indexes, inventory.regions, strict=True)
    ):
        raise ValueError("indexes must be built from inventory.regions, in order")
    with gc_paused():
        return _diagnose(inventory, policy, indexes)


def _diagnose(inventory: Inventory, policy: Policy, indexes: Sequence[RegionIndex]) -> Diagnosis:
    findings: list[Finding] = []
    summaries: list[FunctionSummary] = []
    for region_inv, index in zip(inventory.regions, indexes, strict=True):
        region = region_inv.region
        for fn in region_inv.functions:
            settings = policy.settings_for(fn)
            if fn.vpc_config is None:
                summaries.append(
                    _built(
                        FunctionSummary,
                        region=region,
                        name=fn.name,
                        arn=fn.arn,
                        status="not-in-vpc",
                    )
                )
                continue
            latest = judge_config(index, fn.vpc_config)
            if settings.exempt:
                summaries.append(
                    _built(
                        FunctionSummary,
                        region=region,
                        name=fn.name,
                        arn=fn.arn,
                        status="exempt",
                        vpc_id=latest.vpc_id,
                        subnets=latest.subnets,
                        availability_zones=latest.azs,
                        exempt_reason=settings.exempt_reason or "exempt by policy",
                    )
                )
                continue
            fn_findings = _config_findings(region, fn, latest, settings, "$LATEST")
            fn_findings += _alias_findings(region, index, fn, latest)
            fn_findings.sort(key=lambda f: (f.qualifier, f.code))
            findings.extend(fn_findings)
            actionable = [f for f in fn_findings if f.severity != "info"]
            if actionable:
                status = "affected"
            elif fn_findings:
                status = "egress-unknown"
            else:
                status = "healthy"
            summaries.append(
                _built(
                    FunctionSummary,
                    region=region,
                    name=fn.name,
                    arn=fn.arn,
                    status=status,
                    vpc_id=latest.vpc_id,
                    subnets=latest.subnets,
                    availability_zones=latest.azs,
                    finding_ids=tuple(f.id for f in fn_findings),
                )
            )
    findings.sort(key=lambda f: (f.region, f.function, f.qualifier, f.code))
    summaries.sort(key=lambda s: (s.region, s.name))
    return Diagnosis(tuple(findings), tuple(summaries))
