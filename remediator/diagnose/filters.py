"""The filters on a function's path: its security groups' egress (stateful)
and the network ACLs of every subnet the traffic crosses (stateless). Pure.

Paths judged (the destinations of docs/findings.md, "Filters"):

- a ``nat`` subnet reaches the internet: the function's groups must allow
  egress TCP 443 to public space; the subnet's NACL must allow out TCP 443 to
  the internet and in TCP 1024-65535 from it; every hop (``hops``: NAT
  gateway, NAT instance, firewall endpoint, followed subnet by subnet) must
  pass it: its subnet's NACL in 443 from the traffic's source (the function's
  subnet, or after a NAT the NAT's subnet), out 443 to the internet, in
  1024-65535 from the internet and out 1024-65535 to the source; a NAT
  instance's groups in 443 from the source and egress 443 to public space;
- an ``isolated`` subnet served by a usable Lambda endpoint reaches the
  endpoint: the groups must allow 443 to the endpoint's groups, its subnets'
  CIDRs or the VPC CIDR; the NACLs of the function's subnet and of the
  endpoint's subnets must pass 443 one way and 1024-65535 back.

Unknown means not judged, never a finding: a group not discovered, a prefix
list not read, no NACL read in the region, a rule that covers only part of
the destination or of the port range.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

from remediator.diagnose.egress import IPV4_DEFAULT, RegionIndex
from remediator.diagnose.endpoint import EndpointVerdict
from remediator.domain.findings import (
    NACL_BLOCKS_EGRESS,
    NACL_BLOCKS_RETURN,
    NAT_INSTANCE_SG_BLOCKS,
    SG_EGRESS_BLOCKS,
    SG_EGRESS_VPC_ONLY,
)
from remediator.domain.inventory import NetworkAcl, SecurityGroup, SecurityGroupRule, VpcConfig
from remediator.domain.plan import SubnetEgress

VPC_ONLY = "vpc-only"
EPHEMERAL = (1024, 65535)
HTTPS = (443, 443)
_Net = ipaddress.IPv4Network | ipaddress.IPv6Network
_PRIVATE = tuple(
    ipaddress.ip_network(c)
    for c in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8")
)


@dataclass(frozen=True)
class FilterProblem:
    """One filter that blocks a path: ``code`` (a filter finding code),
    ``subnet_ids`` the function's subnets whose path it blocks, ``detail``
    naming the group/NACL and rule, ``manual`` the exact rule to add."""

    code: str
    subnet_ids: tuple[str, ...]
    detail: str
    manual: str
    cause: str = ""
    """``vpc-only``: the function's egress is deliberately limited to the VPC
    and no usable Lambda endpoint serves it (the endpoint path fixes it)."""


@lru_cache(maxsize=8192)
def _net(cidr: str) -> _Net | None:
    try:
        return ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None


@lru_cache(maxsize=8192)
def _covers(outer: _Net | None, inner: _Net | None) -> bool:
    return (
        outer is not None
        and inner is not None
        and outer.version == inner.version
        and inner.subnet_of(outer)  # type: ignore[arg-type]
    )


def _sg_ports(rule: SecurityGroupRule) -> bool:
    if rule.protocol == "-1":
        return True
    if rule.protocol not in ("tcp", "6"):
        return False
    low = rule.from_port if rule.from_port is not None else 0
    high = rule.to_port if rule.to_port is not None else 65535
    return low <= 443 <= high


# --- security groups ---------------------------------------------------------


def _is_public(net: _Net | None, vpc_net: _Net | None) -> bool:
    """``net`` reaches some public IPv4 space (not only the VPC or private ranges)."""
    if net is None or net.version != 4:
        return False
    if _covers(vpc_net, net):
        return False
    return not any(_covers(p, net) for p in _PRIVATE)


def _rule_cidrs(index: RegionIndex, rule: SecurityGroupRule) -> tuple[list[str], bool]:
    """The IPv4 CIDRs a rule names (its own and its known prefix lists'), and
    whether it names a prefix list that was not read (unknown coverage)."""
    cidrs = list(rule.cidrs)
    unknown = False
    known = index.prefix_lists
    for pl in rule.prefix_list_ids:
        if pl in known:
            cidrs.extend(known[pl].cidrs)
        else:
            unknown = True
    return cidrs, unknown


@dataclass(frozen=True)
class _SgEgress:
    internet: bool | None  # None: unknown
    endpoint: bool | None
    vpc_only: bool  # every 443 rule stays inside the VPC/private space


def _sg_egress(
    index: RegionIndex, config: VpcConfig, vpc_cidr: str, ep: EndpointVerdict
) -> _SgEgress | None:
    if ep.endpoint is None:
        return _sg_egress_to(index, config, vpc_cidr, (), ())
    return _sg_egress_to(
        index, config, vpc_cidr, ep.endpoint.subnet_ids, ep.endpoint.security_group_ids
    )


def egress_reaches(
    index: RegionIndex,
    config: VpcConfig,
    vpc_cidr: str,
    subnet_ids: tuple[str, ...],
    group_ids: tuple[str, ...],
) -> bool | None:
    """Whether the function's groups allow egress TCP 443 to an endpoint in
    ``subnet_ids`` with ``group_ids`` (existing or planned); ``None``: unknown."""
    sg = _sg_egress_to(index, config, vpc_cidr, subnet_ids, group_ids)
    return None if sg is None else sg.endpoint


def _sg_egress_to(
    index: RegionIndex,
    config: VpcConfig,
    vpc_cidr: str,
    endpoint_subnets: tuple[str, ...],
    endpoint_group_ids: tuple[str, ...],
) -> _SgEgress | None:
    """Once per group list, VPC CIDR and endpoint in a region (thousands of
    configs share a few group lists): ``_sg_egress_of``."""
    key = (config.security_group_ids, vpc_cidr, endpoint_subnets, endpoint_group_ids)
    if key in index.sg_egress:
        found: _SgEgress | None = index.sg_egress[key]
        return found
    found = index.sg_egress[key] = _sg_egress_of(index, *key)
    return found


def _sg_egress_of(
    index: RegionIndex,
    group_ids: tuple[str, ...],
    vpc_cidr: str,
    endpoint_subnets: tuple[str, ...],
    endpoint_group_ids: tuple[str, ...],
) -> _SgEgress | None:
    groups = [index.security_groups.get(g) for g in group_ids]
    if not groups or any(g is None for g in groups):
        return None
    vpc_net = _net(vpc_cidr)
    endpoint_groups = set(endpoint_group_ids)
    subs = [index.subnets.get(s) for s in endpoint_subnets]
    endpoint_nets: list[_Net | None] = [
        _net(s.cidr_block) if s and s.cidr_block else None for s in subs
    ]
    if not endpoint_nets or None in endpoint_nets:
        endpoint_nets = [vpc_net]
    internet: bool | None = False
    endpoint: bool | None = False
    any_443 = False
    for group in groups:
        assert group is not None
        for rule in group.egress:
            if not _sg_ports(rule):
                continue
            any_443 = True
            cidrs, unknown = _rule_cidrs(index, rule)
            nets = [_net(c) for c in cidrs]
            if any(_is_public(n, vpc_net) for n in nets):
                internet = True
            elif unknown and internet is False:
                internet = None
            if set(rule.group_ids) & endpoint_groups or all(
                any(_covers(n, e) for n in nets) for e in endpoint_nets
            ):
                endpoint = True
            elif unknown and endpoint is False:
                endpoint = None
    return _SgEgress(internet, endpoint, vpc_only=any_443 and internet is False)


def _sg_problems(
    index: RegionIndex,
    config: VpcConfig,
    subnets: tuple[SubnetEgress, ...],
    ep: EndpointVerdict,
    vpc_cidr: str,
) -> list[FilterProblem]:
    sg = _sg_egress(index, config, vpc_cidr, ep)
    if sg is None:
        return []
    groups = ", ".join(config.security_group_ids)
    first = config.security_group_ids[0]
    nat = tuple(s.subnet_id for s in subnets if s.egress == "nat")
    isolated = tuple(s.subnet_id for s in subnets if s.egress == "isolated")
    out: list[FilterProblem] = []
    endpoint_serves = ep.usable and sg.endpoint is True
    if ep.usable and sg.endpoint is None:
        return out  # the endpoint path is unknown: nothing is judged
    if nat and sg.internet is False:
        scope = (
            "egress on TCP 443 is limited to the VPC/private ranges"
            if sg.vpc_only
            else "no egress rule allows TCP 443 to a public destination"
        )
        if endpoint_serves and ep.endpoint is not None:
            out.append(
                FilterProblem(
                    SG_EGRESS_VPC_ONLY,
                    nat,
                    f"{groups}: {scope}; Lambda API calls reach {ep.endpoint.vpc_endpoint_id} (private DNS), calls to the internet are blocked by the group (a deliberate control).",
                    "",
                )
            )
        else:
            why = (
                "and no usable Lambda interface endpoint serves the Lambda API: Lambda API calls hang."
                if sg.vpc_only
                else "; every call leaving the VPC hangs."
            )
            out.append(
                FilterProblem(
                    SG_EGRESS_BLOCKS,
                    nat,
                    f"{groups}: {scope} (missing rule: egress TCP 443 to {IPV4_DEFAULT})"
                    + ("" if why.startswith(";") else " ")
                    + why,
                    f"add to {first} an egress rule: TCP 443 to {IPV4_DEFAULT}"
                    + (
                        " (or keep the VPC-only egress and create a Lambda interface endpoint with private DNS)"
                        if sg.vpc_only
                        else ""
                    ),
                    VPC_ONLY if sg.vpc_only else "",
                )
            )
    # With a usable endpoint (private DNS active) every subnet's Lambda API
    # calls go to the endpoint, NAT-routed ones included.
    relying = tuple(sorted(nat + isolated))
    if relying and ep.usable and ep.endpoint is not None and sg.endpoint is False:
        target = ", ".join(ep.endpoint.security_group_ids) or vpc_cidr or "the endpoint"
        out.append(
            FilterProblem(
                SG_EGRESS_BLOCKS,
                relying,
                f"{groups}: no egress rule allows TCP 443 to {ep.endpoint.vpc_endpoint_id} (its groups, its subnets or the VPC CIDR): Lambda API calls hang.",
                f"add to {first} an egress rule: TCP 443 to {target}",
            )
        )
    return out


# --- hops ----------------------------------------------------------------------

MAX_HOPS = 4
NAT_GATEWAY = "NAT gateway"
NAT_INSTANCE = "NAT instance"
FIREWALL = "firewall endpoint"


@dataclass(frozen=True)
class Hop:
    """One hop between a function's subnet and the internet gateway: its
    ``kind``, id and subnet, ``client`` the CIDR the traffic comes from when
    it reaches the hop (the function's subnet; after a NAT, the NAT's subnet:
    a firewall endpoint is transparent) and, for a NAT instance, the groups
    that filter what it forwards (``None``: not read)."""

    kind: str
    hop_id: str
    subnet_id: str
    client: str
    group_ids: tuple[str, ...] | None = None
    from_function: bool = True


def _hop(index: RegionIndex, target: str, client: str, from_function: bool) -> Hop | None:
    if target.startswith("nat-"):
        nat = index.nats.get(target)
        if nat is None:
            return None
        return Hop(NAT_GATEWAY, target, nat.subnet_id, client, None, from_function)
    if target.startswith(("i-", "eni-")):
        eni = index.enis.get(target) if target.startswith("eni-") else None
        inst_id = target if target.startswith("i-") else (eni.instance_id if eni else "")
        inst = index.instances.get(inst_id) if inst_id else None
        subnet_id = (eni.subnet_id if eni else "") or (inst.subnet_id if inst else "")
        if not subnet_id:
            return None
        groups = (
            eni.security_group_ids if eni is not None else (inst.security_group_ids if inst else ())
        )
        return Hop(NAT_INSTANCE, target, subnet_id, client, groups or None, from_function)
    if target.startswith("vpce-"):
        ep = index.endpoints.get(target)
        if ep is None or ep.endpoint_type != "GatewayLoadBalancer" or not ep.subnet_ids:
            return None
        return Hop(FIREWALL, target, sorted(ep.subnet_ids)[0], client, None, from_function)
    return None


def hops(index: RegionIndex, s: SubnetEgress) -> tuple[Hop, ...] | None:
    """The hops of a ``nat`` subnet's path to the internet gateway, the way
    ``routing`` walks it (NAT gateway, NAT instance, firewall endpoint, each
    followed by its own subnet's route); ``None`` when a hop or a subnet is
    not known (the path is then not judged). Once per subnet and target in
    a region."""
    key = (s.subnet_id, s.target)
    if key in index.hops:
        found: tuple[Hop, ...] | None = index.hops[key]
        return found
    found = index.hops[key] = _hops(index, s.subnet_id, s.target or "")
    return found


def _hops(index: RegionIndex, subnet_id: str, target: str) -> tuple[Hop, ...] | None:
    sub = index.subnets.get(subnet_id)
    if sub is None or not sub.cidr_block:
        return None
    client, from_function = sub.cidr_block, True
    out: list[Hop] = []
    for _ in range(MAX_HOPS):
        if target.startswith("igw-"):
            return tuple(out)
        hop = _hop(index, target, client, from_function) if client else None
        if hop is None:
            return None
        out.append(hop)
        if hop.kind != FIREWALL:
            # a NAT rewrites the source to its own address in its subnet
            # (needed only if another hop follows)
            home = index.subnets.get(hop.subnet_id)
            client, from_function = (home.cidr_block if home else ""), False
        onward = index.classify(hop.subnet_id)
        if onward.egress not in ("public", "nat"):
            return None
        target = onward.target or ""
    return None


def _ingress_allows(
    index: RegionIndex, group: SecurityGroup, client: str, from_groups: tuple[str, ...]
) -> bool | None:
    """Whether ``group`` lets TCP 443 in from ``client`` (a CIDR) or from one
    of ``from_groups``; ``None`` when a prefix list it names was not read."""
    client_net = _net(client)
    unknown = False
    for rule in group.ingress:
        if not _sg_ports(rule):
            continue
        if set(rule.group_ids) & set(from_groups):
            return True
        cidrs, rule_unknown = _rule_cidrs(index, rule)
        if any(_covers(_net(c), client_net) for c in cidrs):
            return True
        unknown = unknown or rule_unknown
    return None if unknown else False


def _egress_public(index: RegionIndex, group: SecurityGroup, vpc_net: _Net | None) -> bool | None:
    unknown = False
    for rule in group.egress:
        if not _sg_ports(rule):
            continue
        cidrs, rule_unknown = _rule_cidrs(index, rule)
        if any(_is_public(_net(c), vpc_net) for c in cidrs):
            return True
        unknown = unknown or rule_unknown
    return None if unknown else False


def _instance_sg(
    index: RegionIndex, hop: Hop, config: VpcConfig, vpc_net: _Net | None
) -> list[tuple[str, str]]:
    """(detail, manual) for each way a NAT instance's groups block the hop;
    empty when they pass or are not known (any of its groups allowing is
    enough: security groups are stateful and additive)."""
    groups = [index.security_groups.get(g) for g in hop.group_ids or ()]
    if not groups or any(g is None for g in groups):
        return []
    from_groups = config.security_group_ids if hop.from_function else ()
    ins = [_ingress_allows(index, g, hop.client, from_groups) for g in groups if g]
    outs = [_egress_public(index, g, vpc_net) for g in groups if g]
    names = ", ".join(hop.group_ids or ())
    first = (hop.group_ids or ("?",))[0]
    out: list[tuple[str, str]] = []
    if not any(ins) and None not in ins:
        out.append(
            (
                f"{names} of {NAT_INSTANCE} {hop.hop_id}: no inbound rule allows TCP 443 from {hop.client}",
                f"add to {first} an inbound rule: TCP 443 from {hop.client}",
            )
        )
    if not any(outs) and None not in outs:
        out.append(
            (
                f"{names} of {NAT_INSTANCE} {hop.hop_id}: no egress rule allows TCP 443 to {IPV4_DEFAULT}",
                f"add to {first} an egress rule: TCP 443 to {IPV4_DEFAULT}",
            )
        )
    return out


def _hop_sg_problems(
    index: RegionIndex, config: VpcConfig, subnets: tuple[SubnetEgress, ...], vpc_cidr: str
) -> list[FilterProblem]:
    """The NAT instances' security groups on each ``nat`` subnet's path."""
    vpc_net = _net(vpc_cidr)
    found: dict[tuple[str, str], set[str]] = {}
    for s in subnets:
        if s.egress != "nat":
            continue
        for hop in hops(index, s) or ():
            if hop.kind == NAT_INSTANCE:
                for key in _instance_sg(index, hop, config, vpc_net):
                    found.setdefault(key, set()).add(s.subnet_id)
    if not found:
        return []
    sids = sorted({sid for v in found.values() for sid in v})
    details = [d for d, _ in sorted(found)]
    manuals = list(dict.fromkeys(m for _, m in sorted(found)))
    return [
        FilterProblem(
            NAT_INSTANCE_SG_BLOCKS,
            tuple(sids),
            "; ".join(details) + ": the instance drops the function's traffic.",
            "; ".join(manuals),
        )
    ]


# --- network ACLs ------------------------------------------------------------


def nacl_of(index: RegionIndex, subnet_id: str) -> NetworkAcl | None:
    """The NACL of a subnet: the one associated with it, else its VPC's default."""
    acl = index.nacls_by_subnet.get(subnet_id)
    if acl is not None:
        return acl
    subnet = index.subnets.get(subnet_id)
    return None if subnet is None else index.default_nacls.get(subnet.vpc_id)


_Span = tuple[int, int]


def _cut(spans: list[_Span], lo: int, hi: int) -> tuple[list[_Span], list[_Span]]:
    """``spans`` split into the parts inside ``lo..hi`` and the parts outside."""
    inside, outside = [], []
    for a, b in spans:
        if b < lo or a > hi:
            outside.append((a, b))
            continue
        inside.append((max(a, lo), min(b, hi)))
        if a < lo:
            outside.append((a, lo - 1))
        if b > hi:
            outside.append((hi + 1, b))
    return inside, outside


def _without(spans: list[_Span], others: list[_Span]) -> list[_Span]:
    for lo, hi in others:
        spans = _cut(spans, lo, hi)[1]
    return spans


def _ports_text(spans: list[_Span]) -> str:
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in sorted(spans))


def nacl_allows(
    acl: NetworkAcl, egress: bool, peer: str, ports: tuple[int, int]
) -> tuple[bool | None, str]:
    """Whether ``acl`` passes TCP ``ports`` to (egress) or from (ingress)
    ``peer``, port by port: lowest rule number first, the first rule whose
    block covers the whole peer decides the ports it names. Any port left to
    a deny (a rule's, or the implicit final ``*``) means some connections
    are dropped: ``False`` (Lambda picks any ephemeral port, so a partly
    allowed ephemeral range drops a share of the return traffic). A rule
    covering only part of the peer (a narrower CIDR) decides nothing for the
    peer as a whole: an allow of that kind before a deny makes the deny
    ``None`` (it depends on the destination), a deny of that kind is passed
    over (the destination may lie outside it). Returns the verdict and the
    deciding rule (``*`` for the implicit final deny; a deny of only some of
    the ports names them)."""
    peer_net = _net(peer)
    undecided: list[_Span] = [ports]
    maybe: list[_Span] = []  # ports a partial-peer allow may let through
    denied: tuple[str, list[_Span]] | None = None
    unsure = ""
    allow_rule = "*"
    for e in sorted((e for e in acl.entries if e.egress == egress), key=lambda e: e.rule_number):
        if e.protocol not in ("-1", "6", "tcp"):
            continue
        # an entry names an IPv4 or an IPv6 block: it applies to that family only
        block = (
            e.ipv6_cidr_block if peer_net is not None and peer_net.version == 6 else e.cidr_block
        )
        net = _net(block) if block else None
        if net is None or peer_net is None or net.version != peer_net.version:
            continue
        if not net.overlaps(peer_net):
            continue
        if e.protocol == "-1" or (e.port_from is None and e.port_to is None):
            low, high = 0, 65535
        else:
            low = e.port_from if e.port_from is not None else 0
            high = e.port_to if e.port_to is not None else 65535
        hit, rest = _cut(undecided, low, high)
        if not hit:
            continue
        action = e.rule_action.lower()
        rule = f"rule {e.rule_number} ({action} {block})"
        if not _covers(net, peer_net):
            if action == "allow":
                maybe.extend(hit)
            continue
        undecided = rest
        if action == "allow":
            allow_rule = rule
        else:
            certain = _without(hit, maybe)
            if certain and denied is None:
                denied = (rule, certain)
            elif not certain and not unsure:
                unsure = rule
        if not undecided:
            break
    if undecided:
        certain = _without(undecided, maybe)
        if certain and denied is None:
            denied = ("*", certain)
        elif not certain and not unsure:
            unsure = "*"
    if denied is not None:
        rule, spans = denied
        if spans != [ports]:
            rule = f"{rule} for ports {_ports_text(spans)}"
        return False, rule
    if unsure:
        return None, unsure
    return True, allow_rule


def nacl_verdict(
    index: RegionIndex, acl: NetworkAcl, egress: bool, peer: str, ports: tuple[int, int]
) -> tuple[bool | None, str]:
    """``nacl_allows``, asked once per NACL, direction, peer and ports in a region."""
    key = (acl.network_acl_id, egress, peer, ports)
    found: tuple[bool | None, str] | None = index.nacl_verdicts.get(key)
    if found is None:
        found = index.nacl_verdicts[key] = nacl_allows(acl, egress, peer, ports)
    return found


@dataclass(frozen=True)
class _Check:
    subnet_id: str  # the subnet whose NACL is checked
    egress: bool
    peer: str
    ports: tuple[int, int]
    code: str


def _manual(acl: NetworkAcl, c: _Check, rule: str) -> str:
    direction = "an outbound" if c.egress else "an inbound"
    number = rule.split()[1] if rule.startswith("rule ") else "32767"
    ports = f"{c.ports[0]}" if c.ports[0] == c.ports[1] else f"{c.ports[0]}-{c.ports[1]}"
    way = "to" if c.egress else "from"
    return f"add to {acl.network_acl_id} {direction} rule before rule {number}: allow TCP {ports} {way} {c.peer}"


def _path_checks(
    index: RegionIndex, s: SubnetEgress, ep: EndpointVerdict
) -> list[list[_Check]] | None:
    """The alternatives (any one passing is enough) of the checks on the
    path of subnet ``s``; ``None`` when its path is not judged here."""
    sub = index.subnets.get(s.subnet_id)
    if sub is None or not sub.cidr_block:
        return None
    if s.egress == "nat":
        path = hops(index, s)
        if path is None:
            return None
        checks = [
            _Check(s.subnet_id, True, IPV4_DEFAULT, HTTPS, NACL_BLOCKS_EGRESS),
            _Check(s.subnet_id, False, IPV4_DEFAULT, EPHEMERAL, NACL_BLOCKS_RETURN),
        ]
        previous = s.subnet_id
        for hop in path:
            # traffic between two interfaces of one subnet crosses no NACL
            if hop.subnet_id != previous:
                checks += [
                    _Check(hop.subnet_id, False, hop.client, HTTPS, NACL_BLOCKS_EGRESS),
                    _Check(hop.subnet_id, True, IPV4_DEFAULT, HTTPS, NACL_BLOCKS_EGRESS),
                    _Check(hop.subnet_id, False, IPV4_DEFAULT, EPHEMERAL, NACL_BLOCKS_RETURN),
                    _Check(hop.subnet_id, True, hop.client, EPHEMERAL, NACL_BLOCKS_RETURN),
                ]
            previous = hop.subnet_id
        return [checks]
    if s.egress == "isolated" and ep.usable and ep.endpoint is not None:
        alternatives: list[list[_Check]] = []
        for eid in ep.endpoint.subnet_ids:
            esub = index.subnets.get(eid)
            if esub is None or not esub.cidr_block:
                return None
            if eid == s.subnet_id:
                return []  # same subnet: no NACL in between
            alternatives.append(
                [
                    _Check(s.subnet_id, True, esub.cidr_block, HTTPS, NACL_BLOCKS_EGRESS),
                    _Check(eid, False, sub.cidr_block, HTTPS, NACL_BLOCKS_EGRESS),
                    _Check(eid, True, sub.cidr_block, EPHEMERAL, NACL_BLOCKS_RETURN),
                    _Check(s.subnet_id, False, esub.cidr_block, EPHEMERAL, NACL_BLOCKS_RETURN),
                ]
            )
        return alternatives or None
    return None


def _failures(
    index: RegionIndex, checks: list[_Check]
) -> list[tuple[_Check, NetworkAcl, str]] | None:
    """The failing checks of one alternative; ``None`` when one is unknown."""
    out: list[tuple[_Check, NetworkAcl, str]] = []
    for c in checks:
        acl = nacl_of(index, c.subnet_id)
        if acl is None:
            return None
        ok, rule = nacl_verdict(index, acl, c.egress, c.peer, c.ports)
        if ok is None:
            return None
        if not ok:
            out.append((c, acl, rule))
    return out


def _subnet_failures(
    index: RegionIndex, s: SubnetEgress, ep: EndpointVerdict
) -> list[tuple[_Check, NetworkAcl, str]] | None:
    """The failing NACL checks on subnet ``s``'s path (of its first
    alternative), or ``None`` when the path is not judged, a check is
    unknown or some alternative passes; once per subnet and endpoint."""
    key = (
        s.subnet_id,
        s.egress,
        ep.endpoint.vpc_endpoint_id if ep.endpoint is not None else "",
        ep.usable,
    )
    if key in index.nacl_paths:
        found: list[tuple[_Check, NetworkAcl, str]] | None = index.nacl_paths[key]
        return found
    alternatives = _path_checks(index, s, ep)
    first = None
    if alternatives:
        results = [_failures(index, alt) for alt in alternatives]
        if not any(r is None or not r for r in results):
            first = results[0]
    index.nacl_paths[key] = first
    return first


def _nacl_problems(
    index: RegionIndex, subnets: tuple[SubnetEgress, ...], ep: EndpointVerdict
) -> list[FilterProblem]:
    if not index.inv.network_acls:
        return []
    found: dict[tuple[str, str, str], tuple[set[str], str]] = {}
    for s in subnets:
        first = _subnet_failures(index, s, ep)
        if first is None:
            continue  # not judged, unknown, or some alternative passes
        for c, acl, rule in first:
            kind = "outbound" if c.egress else "inbound"
            ports = f"{c.ports[0]}" if c.ports[0] == c.ports[1] else f"{c.ports[0]}-{c.ports[1]}"
            way = "to" if c.egress else "from"
            where = f"{acl.network_acl_id} of {c.subnet_id}"
            detail = f"{where}: {kind} TCP {ports} {way} {c.peer} is denied by {'the final * deny' if rule == '*' else rule}"
            key = (c.code, detail, _manual(acl, c, rule))
            found.setdefault(key, (set(), detail))[0].add(s.subnet_id)
    by_code: dict[str, tuple[set[str], list[str], list[str]]] = {}
    for (code, detail, manual), (sids, _) in sorted(found.items()):
        entry = by_code.setdefault(code, (set(), [], []))
        entry[0].update(sids)
        entry[1].append(detail)
        if manual not in entry[2]:
            entry[2].append(manual)
    return [
        FilterProblem(code, tuple(sorted(sids)), "; ".join(details) + ".", "; ".join(manuals))
        for code, (sids, details, manuals) in sorted(by_code.items())
    ]


def judged_subnets(subnets: tuple[SubnetEgress, ...], ep: EndpointVerdict) -> tuple[str, ...]:
    """The subnets whose path the filters are judged on: NAT-routed ones, and
    isolated ones when a usable Lambda endpoint serves them."""
    return tuple(
        s.subnet_id for s in subnets if s.egress == "nat" or (s.egress == "isolated" and ep.usable)
    )


def judge_filters(
    index: RegionIndex,
    config: VpcConfig,
    subnets: tuple[SubnetEgress, ...],
    ep: EndpointVerdict,
    vpc_id: str | None,
) -> tuple[FilterProblem, ...]:
    """Every filter that blocks a path of ``config``, sorted by code."""
    if vpc_id is None:
        return ()
    vpc = index.vpcs.get(vpc_id)
    vpc_cidr = str(getattr(vpc, "cidr_block", "") or "")
    problems = _sg_problems(index, config, subnets, ep, vpc_cidr)
    problems += _nacl_problems(index, subnets, ep)
    problems += _hop_sg_problems(index, config, subnets, vpc_cidr)
    merged: dict[str, FilterProblem] = {}
    for p in problems:
        seen = merged.get(p.code)
        merged[p.code] = (
            p
            if seen is None
            else FilterProblem(
                p.code,
                tuple(sorted(set(seen.subnet_ids) | set(p.subnet_ids))),
                f"{seen.detail} {p.detail}",
                "; ".join(m for m in (seen.manual, p.manual) if m),
                seen.cause if seen.cause == p.cause else "",
            )
        )
    return tuple(merged[c] for c in sorted(merged))
