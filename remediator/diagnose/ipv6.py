"""IPv6 for dual-stack functions (``Ipv6AllowedForDualStack``). Pure.

A function with the flag on sends IPv6 from subnets that have an IPv6 CIDR,
out through the ``::/0`` route of their table (an egress-only internet
gateway, or an internet gateway: IPv6 addresses need no NAT). That reaches
IPv6 destinations only. The Lambda API and the other AWS endpoints the SDKs
use by default answer on IPv4, so ``invoke`` still takes the IPv4 path the
rest of diagnosis judges, unless the code is told to use the dual-stack
endpoints (``AWS_USE_DUALSTACK_ENDPOINT=true``). IPv6 is judged only where
the function claims it (the flag is on), and only as a note (info): the
function's status is decided by its IPv4 path, as AWS decides ``invoke``.

On a claimed IPv6 path the filters are judged the IPv6 way: the function's
groups need an egress rule for TCP 443 to public IPv6 space (``::/0``), the
subnet's NACL IPv6 entries outbound 443 and inbound 1024-65535 (an IPv4
entry never matches IPv6 traffic).
"""

from __future__ import annotations

import ipaddress

from remediator.diagnose.egress import IPV6_DEFAULT, RegionIndex
from remediator.diagnose.filters import EPHEMERAL, HTTPS, FilterProblem, nacl_of, nacl_verdict
from remediator.domain.findings import IPV6_DUAL_STACK
from remediator.domain.inventory import Route, RouteTable, VpcConfig
from remediator.domain.plan import SubnetEgress

# An AWS and an internet IPv6 address: the winning route for them decides
# the IPv6 path (longest prefix, like IPv4).
IPV6_SAMPLES = ("2600:1f18::1", "2606:4700::1")
_GLOBAL = ipaddress.ip_network("2000::/3")
DUAL_STACK_TEXT = (
    "IPv6 egress does not carry IPv4: the Lambda API and the other AWS endpoints the SDKs "
    "use by default are reached over IPv4, so invoke still needs the IPv4 path judged for "
    "this function (unless its code uses the dual-stack endpoints, AWS_USE_DUALSTACK_ENDPOINT=true)."
)


def _v6(cidr: str) -> ipaddress.IPv6Network | None:
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None
    return net if isinstance(net, ipaddress.IPv6Network) else None


def v6_winner(rt: RouteTable, address: str) -> Route | None:
    """The IPv6 route AWS uses for ``address`` (longest prefix)."""
    ip = ipaddress.ip_address(address)
    best: tuple[int, Route] | None = None
    for r in rt.routes:
        net = _v6(r.destination)
        if net is not None and ip in net and (best is None or net.prefixlen > best[0]):
            best = (net.prefixlen, r)
    return best[1] if best is not None else None


def _sg_allows_v6(index: RegionIndex, config: VpcConfig) -> bool | None:
    """Whether the function's groups allow egress TCP 443 to public IPv6
    space; ``None`` when a group was not discovered."""
    groups = [index.security_groups.get(g) for g in config.security_group_ids]
    if not groups or any(g is None for g in groups):
        return None
    for group in groups:
        assert group is not None
        for rule in group.egress:
            if rule.protocol not in ("-1", "tcp", "6"):
                continue
            low = rule.from_port if rule.from_port is not None else 0
            high = rule.to_port if rule.to_port is not None else 65535
            if rule.protocol != "-1" and not low <= 443 <= high:
                continue
            if any((n := _v6(c)) is not None and n.overlaps(_GLOBAL) for c in rule.ipv6_cidrs):
                return True
    return False


def _filters(index: RegionIndex, config: VpcConfig, subnet_id: str) -> list[str]:
    """What blocks TCP 443 on the IPv6 path from ``subnet_id`` (unknown is not a block)."""
    blocks: list[str] = []
    if _sg_allows_v6(index, config) is False:
        blocks.append(
            f"{', '.join(config.security_group_ids)}: no egress rule allows TCP 443 to {IPV6_DEFAULT}"
        )
    acl = nacl_of(index, subnet_id) if index.inv.network_acls else None
    if acl is not None:
        for egress, ports, what in (
            (True, HTTPS, f"outbound TCP 443 to {IPV6_DEFAULT}"),
            (False, EPHEMERAL, f"inbound TCP 1024-65535 from {IPV6_DEFAULT}"),
        ):
            ok, rule = nacl_verdict(index, acl, egress, IPV6_DEFAULT, ports)
            if ok is False:
                by = "the final * deny" if rule == "*" else rule
                blocks.append(f"{acl.network_acl_id}: {what} is denied by {by}")
    return blocks


def _path(index: RegionIndex, config: VpcConfig, subnet_id: str) -> tuple[bool, str]:
    """(has an IPv6 path, the words for it)."""
    sub = index.subnets.get(subnet_id)
    if sub is None:
        return False, f"{subnet_id}: not found"
    if not sub.ipv6_cidr_blocks:
        return False, f"{subnet_id}: no IPv6 CIDR (not dual-stack), IPv4 only"
    rt, _ = index.route_table_of(subnet_id)
    routes = [v6_winner(rt, a) for a in IPV6_SAMPLES] if rt is not None else [None]
    route = routes[0]
    if route is None or any(r is None or r.target == "local" for r in routes):
        return (
            False,
            f"{subnet_id}: no IPv6 route to the internet (IPv6 connections out of the VPC fail)",
        )
    if route.state != "active" or not route.target.startswith(("eigw-", "igw-")):
        return False, (
            f"{subnet_id}: IPv6 route {route.destination} -> {route.target} ({route.state}) "
            "is not to an egress-only or internet gateway: IPv6 egress is not judged"
        )
    kind = (
        "egress-only internet gateway" if route.target.startswith("eigw-") else "internet gateway"
    )
    blocks = _filters(index, config, subnet_id)
    head = f"{subnet_id}: {route.destination} -> {route.target} ({kind})"
    if blocks:
        return False, f"{head}, but blocked: {'; '.join(blocks)}"
    return True, f"{head}: IPv6 destinations are reachable"


def ipv6_note(
    index: RegionIndex, config: VpcConfig, subnets: tuple[SubnetEgress, ...]
) -> FilterProblem | None:
    """The IPv6 note of a dual-stack function (``None`` when the flag is off)."""
    if not config.ipv6_allowed_for_dual_stack or not subnets:
        return None
    paths = [_path(index, config, s.subnet_id) for s in subnets]
    reach = sum(1 for ok, _ in paths if ok)
    head = (
        f"Ipv6AllowedForDualStack is on; {reach} of {len(paths)} subnets give IPv6 egress"
        if reach
        else "Ipv6AllowedForDualStack is on, but no subnet gives IPv6 egress"
    )
    detail = f"{head} ({'; '.join(words for _, words in paths)}). {DUAL_STACK_TEXT}"
    return FilterProblem(IPV6_DUAL_STACK, tuple(s.subnet_id for s in subnets), detail, "")
