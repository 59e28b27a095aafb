"""Lambda endpoint usability: whether an interface endpoint for the Lambda API
serves a function (state, private DNS, the VPC's DNS attributes, and a
security group that lets TCP 443 in from the function). Pure."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from remediator.diagnose.egress import RegionIndex
from remediator.domain.findings import (
    ENDPOINT_NOT_AVAILABLE,
    ENDPOINT_PRIVATE_DNS_OFF,
    ENDPOINT_SG_BLOCKS,
    ENDPOINT_VPC_DNS_OFF,
)
from remediator.domain.inventory import VpcConfig, VpcEndpoint


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
