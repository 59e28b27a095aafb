"""Filters on the path: the function's security-group egress and the network
ACLs of its subnet, the NAT gateway's subnet and the endpoint's subnets."""

from __future__ import annotations

import pytest

from remediator import diagnose as d
from remediator.diagnose import RegionIndex, diagnose
from remediator.diagnose.filters import nacl_allows
from remediator.domain import findings as codes
from remediator.domain.inventory import (
    ManagedPrefixList,
    NetworkAcl,
    NetworkAclEntry,
    RegionInventory,
    SecurityGroupRule,
)
from remediator.domain.plan import Finding
from remediator.domain.policy import default_policy
from remediator.planner import build_plan
from tests import factories as fx

A = "a"
VPC_CIDR = f"10.{fx._octet(A)}.0.0/16"
FN_SG = fx.fn_sg(A)
EP_SG = "sg-a-endpoint"


def sg_rule(cidrs: tuple[str, ...] = (), port: int | None = 443, **kw: object) -> SecurityGroupRule:
    protocol = str(kw.pop("protocol", "tcp"))
    return SecurityGroupRule(
        protocol=protocol,
        from_port=None if protocol == "-1" else port,
        to_port=None if protocol == "-1" else port,
        cidrs=cidrs,
        **kw,  # type: ignore[arg-type]
    )


def with_fn_egress(world: RegionInventory, *rules: SecurityGroupRule) -> RegionInventory:
    group = fx.security_group(FN_SG, A, name="functions").model_copy(
        update={"egress": tuple(rules)}
    )
    return fx.add(world, group)


def entry(
    number: int,
    egress: bool,
    action: str = "allow",
    cidr: str = "0.0.0.0/0",
    ports: tuple[int, int] | None = None,
    protocol: str = "6",
) -> NetworkAclEntry:
    return NetworkAclEntry(
        rule_number=number,
        egress=egress,
        protocol="-1" if ports is None and protocol == "6" else protocol,
        rule_action=action,
        cidr_block=cidr,
        port_from=ports[0] if ports else None,
        port_to=ports[1] if ports else None,
    )


FINAL = (entry(32767, True, "deny"), entry(32767, False, "deny"))
ALLOW_ALL = (entry(100, True), entry(100, False), *FINAL)


def acl(acl_id: str, subnets: tuple[str, ...], *entries: NetworkAclEntry) -> NetworkAcl:
    return NetworkAcl(
        network_acl_id=acl_id,
        vpc_id=fx.vpc_id(A),
        subnet_ids=subnets,
        entries=(*entries, *FINAL),
    )


def default_acl() -> NetworkAcl:
    return NetworkAcl(
        network_acl_id="acl-default", vpc_id=fx.vpc_id(A), is_default=True, entries=ALLOW_ALL
    )


def with_acls(world: RegionInventory, *acls: NetworkAcl) -> RegionInventory:
    return world.model_copy(update={"network_acls": (default_acl(), *acls)})


def nat_world(*subnets: str) -> RegionInventory:
    subs = subnets or (fx.natsub(A, "a"), fx.natsub(A, "b"))
    return fx.vpc_world(A, "ab", functions=[fx.function("fn", subs)])


def iso_world_with_endpoint() -> RegionInventory:
    world = fx.vpc_world(A, "ab", functions=[fx.function("fn", [fx.iso(A, "a"), fx.iso(A, "b")])])
    ep = fx.endpoint(A, [fx.iso(A, "a")], [EP_SG])
    ep_sg = fx.security_group(EP_SG, A, [fx.allow_443_from_groups(FN_SG)])
    return fx.add(world, ep, ep_sg)


def nat_world_with_endpoint() -> RegionInventory:
    ep = fx.endpoint(A, [fx.iso(A, "a")], [EP_SG])
    ep_sg = fx.security_group(EP_SG, A, [fx.allow_443_from_groups(FN_SG)])
    return fx.add(nat_world(), ep, ep_sg)


def run(world: RegionInventory) -> tuple[list[Finding], str]:
    diag = diagnose(fx.inventory(world), default_policy())
    found = [f for f in diag.findings if f.function == "fn"]
    status = next(s.status for s in diag.functions if s.name == "fn")
    return found, status


NAT_A = fx.natsub(A, "a")
NAT_B = fx.natsub(A, "b")
PUB_A = fx.pub(A, "a")
ISO_A = fx.iso(A, "a")
ISO_B = fx.iso(A, "b")
EPH = (1024, 65535)
HTTPS = (443, 443)


WORLDS = [
    # --- security groups
    pytest.param(nat_world(), set(), "healthy", id="factory-allow-all-egress"),
    pytest.param(
        with_fn_egress(nat_world(), sg_rule(("0.0.0.0/0",))),
        set(),
        "healthy",
        id="sg-443-to-internet",
    ),
    pytest.param(
        with_fn_egress(nat_world(), sg_rule(("0.0.0.0/0",), protocol="-1")),
        set(),
        "healthy",
        id="sg-allow-all",
    ),
    pytest.param(
        with_fn_egress(nat_world(), sg_rule((VPC_CIDR,))),
        {d.SG_EGRESS_BLOCKS},
        "affected",
        id="sg-vpc-cidr-only-no-endpoint",
    ),
    pytest.param(
        with_fn_egress(nat_world(), sg_rule(("10.0.0.0/8", "192.168.0.0/16"))),
        {d.SG_EGRESS_BLOCKS},
        "affected",
        id="sg-private-ranges-only",
    ),
    pytest.param(
        with_fn_egress(nat_world(), sg_rule(("0.0.0.0/0",), port=80)),
        {d.SG_EGRESS_BLOCKS},
        "affected",
        id="sg-port-80-only",
    ),
    pytest.param(with_fn_egress(nat_world()), {d.SG_EGRESS_BLOCKS}, "affected", id="sg-no-egress"),
    pytest.param(
        with_fn_egress(nat_world_with_endpoint(), sg_rule((VPC_CIDR,))),
        {d.SG_EGRESS_VPC_ONLY},
        "healthy",
        id="sg-vpc-only-with-usable-endpoint",
    ),
    pytest.param(
        with_fn_egress(nat_world(), sg_rule(prefix_list_ids=("pl-unknown",))),
        set(),
        "healthy",
        id="sg-unknown-prefix-list-not-judged",
    ),
    pytest.param(
        fx.add(
            with_fn_egress(nat_world(), sg_rule(prefix_list_ids=("pl-s3",))),
        ).model_copy(
            update={
                "prefix_lists": (
                    ManagedPrefixList(prefix_list_id="pl-s3", cidrs=("52.216.0.0/15",)),
                )
            }
        ),
        set(),
        "healthy",
        id="sg-known-public-prefix-list",
    ),
    pytest.param(
        fx.remove(with_fn_egress(nat_world(), sg_rule((VPC_CIDR,))), FN_SG),
        set(),
        "healthy",
        id="sg-not-discovered-not-judged",
    ),
    pytest.param(
        with_fn_egress(iso_world_with_endpoint(), sg_rule(("52.0.0.0/8",))),
        {d.SG_EGRESS_BLOCKS},
        "affected",
        id="sg-misses-endpoint",
    ),
    pytest.param(
        with_fn_egress(iso_world_with_endpoint(), sg_rule(group_ids=(EP_SG,))),
        set(),
        "healthy",
        id="sg-to-endpoint-group",
    ),
    pytest.param(
        with_fn_egress(nat_world_with_endpoint(), sg_rule(("52.0.0.0/8",))),
        {d.SG_EGRESS_BLOCKS},
        "affected",
        id="sg-nat-subnets-miss-private-dns-endpoint",
    ),
    pytest.param(
        with_fn_egress(
            nat_world_with_endpoint(), sg_rule((VPC_CIDR,)), sg_rule(prefix_list_ids=("pl-x",))
        ),
        set(),
        "healthy",
        id="sg-unknown-prefix-list-next-to-vpc-rule",
    ),
    pytest.param(
        with_fn_egress(iso_world_with_endpoint(), sg_rule(prefix_list_ids=("pl-x",))),
        set(),
        "healthy",
        id="sg-endpoint-coverage-unknown",
    ),
    # --- network ACLs
    pytest.param(nat_world(), set(), "healthy", id="no-nacls-read-not-judged"),
    pytest.param(with_acls(nat_world()), set(), "healthy", id="default-nacl-allow-all"),
    pytest.param(
        with_acls(nat_world(), acl("acl-1", (NAT_A, NAT_B), entry(100, True, ports=HTTPS))),
        {d.NACL_BLOCKS_RETURN},
        "affected",
        id="nacl-no-inbound-ephemeral",
    ),
    pytest.param(
        with_acls(
            nat_world(),
            acl(
                "acl-1",
                (NAT_A, NAT_B),
                entry(50, True, "deny", ports=HTTPS),
                entry(100, True),
                entry(100, False),
            ),
        ),
        {d.NACL_BLOCKS_EGRESS},
        "affected",
        id="nacl-deny-50-before-allow-100",
    ),
    pytest.param(
        with_acls(
            nat_world(),
            acl(
                "acl-1",
                (NAT_A, NAT_B),
                entry(50, True, ports=HTTPS),
                entry(60, False, ports=EPH),
                entry(100, True, "deny"),
                entry(100, False, "deny"),
            ),
        ),
        set(),
        "healthy",
        id="nacl-allow-before-deny",
    ),
    pytest.param(
        with_acls(
            nat_world(),
            acl(
                "acl-1",
                (NAT_A, NAT_B),
                entry(50, True, ports=HTTPS),
                entry(60, False, ports=(32768, 65535)),
            ),
        ),
        {d.NACL_BLOCKS_RETURN},
        "affected",
        # Lambda picks any port of 1024-65535: those below 32768 are dropped
        id="nacl-part-of-ephemeral-drops-the-rest",
    ),
    pytest.param(
        with_acls(nat_world(), acl("acl-1", (NAT_A,), entry(100, True, ports=HTTPS))),
        {d.NACL_BLOCKS_RETURN},
        "affected",
        id="nacl-one-subnet-of-two",
    ),
    pytest.param(
        with_acls(nat_world(), acl("acl-pub", (PUB_A, fx.pub(A, "b")), entry(100, False))),
        {d.NACL_BLOCKS_EGRESS, d.NACL_BLOCKS_RETURN},
        "affected",
        id="nat-subnet-nacl-blocks-outbound",
    ),
    pytest.param(
        with_acls(
            iso_world_with_endpoint(),
            acl("acl-iso-a", (ISO_A,), entry(100, True, cidr=VPC_CIDR)),
        ),
        {d.NACL_BLOCKS_EGRESS},
        "affected",
        id="endpoint-subnet-nacl-blocks-other-subnet",
    ),
]


@pytest.mark.parametrize(("world", "expected", "status"), WORLDS)
def test_filter_findings(world: RegionInventory, expected: set[str], status: str) -> None:
    found, fn_status = run(world)
    assert {f.code for f in found} == expected
    assert fn_status == status


def test_sg_vpc_only_without_endpoint_says_so() -> None:
    (f,) = run(with_fn_egress(nat_world(), sg_rule((VPC_CIDR,))))[0]
    assert f.severity == "high" and f.subnet_ids == (NAT_A, NAT_B)
    assert FN_SG in f.detail and "limited to the VPC" in f.detail
    assert "no usable Lambda interface endpoint" in f.detail


def test_sg_vpc_only_with_endpoint_is_a_note() -> None:
    (f,) = run(with_fn_egress(nat_world_with_endpoint(), sg_rule((VPC_CIDR,))))[0]
    assert f.severity == "info" and f.status == "info"
    assert "Lambda API calls reach vpce-a-lambda" in f.detail


def test_nacl_evidence_names_acl_and_rule() -> None:
    world = with_acls(
        nat_world(),
        acl("acl-1", (NAT_A, NAT_B), entry(50, True, "deny", ports=HTTPS), entry(100, True)),
    )
    by_code = {f.code: f for f in run(world)[0]}
    egress = by_code[d.NACL_BLOCKS_EGRESS]
    assert "acl-1" in egress.detail and "rule 50 (deny 0.0.0.0/0)" in egress.detail
    assert egress.severity == "high"
    ret = by_code[d.NACL_BLOCKS_RETURN]
    assert "rule 32767 (deny 0.0.0.0/0)" in ret.detail


def test_partial_block_is_medium() -> None:
    world = with_acls(nat_world(), acl("acl-1", (NAT_A,), entry(100, True, ports=HTTPS)))
    (f,) = run(world)[0]
    assert f.severity == "medium" and f.subnet_ids == (NAT_A,)
    assert f.affected_share == 0.5


def test_nat_subnet_nacl_evidence_names_the_nat_subnet() -> None:
    world = with_acls(nat_world(), acl("acl-pub", (PUB_A, fx.pub(A, "b")), entry(100, False)))
    by_code = {f.code: f for f in run(world)[0]}
    assert f"acl-pub of {PUB_A}" in by_code[d.NACL_BLOCKS_EGRESS].detail


@pytest.mark.parametrize(
    ("entries", "egress", "peer", "ports", "expected"),
    [
        pytest.param((entry(100, True),), True, "0.0.0.0/0", HTTPS, True, id="allow-all"),
        pytest.param((), True, "0.0.0.0/0", HTTPS, False, id="only-final-deny"),
        pytest.param(
            (entry(10, True, "deny", cidr="52.0.0.0/8"), entry(100, True)),
            True,
            "0.0.0.0/0",
            HTTPS,
            True,
            id="partial-deny-then-allow",
        ),
        pytest.param(
            (entry(10, True, cidr="52.0.0.0/8"),),
            True,
            "0.0.0.0/0",
            HTTPS,
            None,
            id="partial-allow-then-deny-unknown",
        ),
        pytest.param(
            (entry(10, True, ports=(443, 443), protocol="17"), entry(20, True, "deny")),
            True,
            "0.0.0.0/0",
            HTTPS,
            False,
            id="udp-rule-ignored",
        ),
        pytest.param(
            (entry(10, False, ports=(1024, 65535)),),
            False,
            "0.0.0.0/0",
            EPH,
            True,
            id="ephemeral-inclusive",
        ),
        pytest.param(
            (entry(10, False, ports=(1025, 65535)),),
            False,
            "0.0.0.0/0",
            EPH,
            False,
            id="ephemeral-short-by-one-drops-port-1024",
        ),
        pytest.param(
            (entry(10, False, ports=(1024, 30000)), entry(20, False, ports=(30001, 65535))),
            False,
            "0.0.0.0/0",
            EPH,
            True,
            id="ephemeral-in-two-rules",
        ),
        pytest.param(
            (entry(10, False, "deny", ports=(2000, 3000)), entry(20, False)),
            False,
            "0.0.0.0/0",
            EPH,
            False,
            id="deny-of-some-ports-before-allow-all",
        ),
        pytest.param(
            (entry(10, False, cidr="52.0.0.0/8"), entry(20, False, ports=(1024, 2048))),
            False,
            "0.0.0.0/0",
            EPH,
            None,  # a destination in 52.0.0.0/8 passes on every port
            id="narrow-peer-allow-then-part-of-ports",
        ),
        pytest.param(
            (entry(10, False, "deny", cidr="52.0.0.0/8", ports=(2000, 3000)), entry(20, False)),
            False,
            "0.0.0.0/0",
            EPH,
            True,
            id="narrow-peer-deny-is-passed-over",
        ),
        pytest.param(
            (entry(10, False, cidr="10.0.0.0/8"),),
            False,
            "10.1.2.0/24",
            EPH,
            True,
            id="cidr-covers-peer",
        ),
    ],
)
def test_nacl_allows(
    entries: tuple[NetworkAclEntry, ...],
    egress: bool,
    peer: str,
    ports: tuple[int, int],
    expected: bool | None,
) -> None:
    ok, _ = nacl_allows(acl("acl-t", (), *entries), egress, peer, ports)
    assert ok is expected


def test_a_deny_of_some_ports_names_them() -> None:
    ok, rule = nacl_allows(
        acl("acl-t", (), entry(10, False, ports=(1024, 2048))), False, "0.0.0.0/0", EPH
    )
    assert ok is False and rule.endswith("(deny 0.0.0.0/0) for ports 2049-65535")
    ok, rule = nacl_allows(
        acl("acl-t", (), entry(10, False, "deny", ports=(2000, 3000)), entry(20, False)),
        False,
        "0.0.0.0/0",
        EPH,
    )
    assert ok is False and rule.startswith("rule 10 (deny 0.0.0.0/0) for ports 2000-3000")


@pytest.mark.parametrize(
    ("world", "manual"),
    [
        pytest.param(
            with_fn_egress(nat_world(), sg_rule((VPC_CIDR,))),
            f"add to {FN_SG} an egress rule: TCP 443 to 0.0.0.0/0",
            id="sg",
        ),
        pytest.param(
            with_acls(nat_world(), acl("acl-1", (NAT_A, NAT_B), entry(100, True, ports=HTTPS))),
            "add to acl-1 an inbound rule before rule 32767: allow TCP 1024-65535 from 0.0.0.0/0",
            id="nacl-return",
        ),
        pytest.param(
            with_acls(
                nat_world(),
                acl(
                    "acl-1",
                    (NAT_A, NAT_B),
                    entry(50, True, "deny", ports=HTTPS),
                    entry(100, True),
                    entry(100, False),
                ),
            ),
            "add to acl-1 an outbound rule before rule 50: allow TCP 443 to 0.0.0.0/0",
            id="nacl-deny-50",
        ),
    ],
)
def test_planner_blocks_with_the_rule_to_add(world: RegionInventory, manual: str) -> None:
    plan = build_plan(fx.inventory(world), default_policy(), fx.NOW)
    blocked = [f for f in plan.findings if f.code in codes.FILTER_CODES]
    assert blocked and all(f.status == "blocked" for f in blocked)
    assert any(f.manual_step and manual in f.manual_step for f in blocked)
    assert plan.changes == ()


def test_verdict_of_filter_blocked_config_is_broken() -> None:
    world = with_fn_egress(nat_world(), sg_rule((VPC_CIDR,)))
    index = RegionIndex(world)
    fn = world.functions[0]
    assert fn.vpc_config is not None
    verdict = d.judge_config(index, fn.vpc_config)
    assert verdict.of("nat") and verdict.broken
    assert verdict.filter_problem(d.SG_EGRESS_BLOCKS) is not None
