"""Filters on every hop (NAT instance groups and subnet, firewall endpoint
subnet, the NAT behind it), IPv6 for dual-stack functions, and the planner's
answer to a filter cause: one world per rule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from remediator.changes import registry as kinds
from remediator.diagnose.filters import VPC_ONLY, nacl_allows
from remediator.domain import findings as codes
from remediator.domain.inventory import (
    Instance,
    NetworkAcl,
    NetworkAclEntry,
    NetworkInterface,
    RegionInventory,
    Route,
    SecurityGroup,
    SecurityGroupRule,
    VpcConfig,
    VpcEndpoint,
)
from remediator.domain.plan import Finding
from remediator.domain.policy import default_policy
from remediator.planner import build_plan
from tests import factories as fx

A = "a"
VPC = fx.vpc_id(A)
VPC_CIDR = f"10.{fx._octet(A)}.0.0/16"
FN_SG = fx.fn_sg(A)
NAT_SG = "sg-a-nat"
PUB_A = fx.pub(A, "a")
PUB_CIDR = fx.subnet_cidr(A, 0)
X = "subnet-x"
X_CIDR = fx.subnet_cidr(A, 100)
FW = "subnet-fw"
FW_CIDR = fx.subnet_cidr(A, 101)
NAT = fx.nat_id(A, "a")
EPH = (1024, 65535)
HTTPS = (443, 443)


# ------------------------------------------------------------------ builders


def put(world: RegionInventory, **extra: tuple[Any, ...]) -> RegionInventory:
    """Add instances, interfaces, NACLs (collections ``fx.add`` does not know)."""
    return world.model_copy(update={k: tuple(getattr(world, k)) + v for k, v in extra.items()})


def lone(
    world: RegionInventory, sid: str, cidr: str, *routes: Route, ipv6: tuple[str, ...] = ()
) -> RegionInventory:
    """A subnet with its own explicitly associated table ``rtb-<sid>``."""
    sub = fx.subnet(sid, A, "a", cidr=cidr).model_copy(update={"ipv6_cidr_blocks": ipv6})
    return fx.add(world, sub, fx.route_table(f"rtb-{sid}", A, routes, [sid]))


def with_fn(world: RegionInventory, *subnets: str, dual_stack: bool = False) -> RegionInventory:
    fn = fx.function("fn", subnets or (X,))
    assert fn.vpc_config is not None
    config = fn.vpc_config.model_copy(update={"ipv6_allowed_for_dual_stack": dual_stack})
    return fx.add(world, fn.model_copy(update={"vpc_config": config}))


def rule(
    cidrs: tuple[str, ...] = (),
    port: int = 443,
    groups: tuple[str, ...] = (),
    ipv6: tuple[str, ...] = (),
) -> SecurityGroupRule:
    return SecurityGroupRule(
        protocol="tcp",
        from_port=port,
        to_port=port,
        cidrs=cidrs,
        group_ids=groups,
        ipv6_cidrs=ipv6,
    )


def group(
    gid: str, ingress: tuple[SecurityGroupRule, ...], egress: tuple[SecurityGroupRule, ...]
) -> SecurityGroup:
    return SecurityGroup(group_id=gid, vpc_id=VPC, group_name=gid, ingress=ingress, egress=egress)


INTERNET = (rule(("0.0.0.0/0",)),)


def nat_instance(
    target: str = "i-nat",
    ingress: tuple[SecurityGroupRule, ...] = (rule((VPC_CIDR,)),),
    egress: tuple[SecurityGroupRule, ...] = INTERNET,
    *,
    groups_read: bool = True,
) -> RegionInventory:
    """subnet-x -> 0.0.0.0/0 -> a NAT instance (i-nat / eni-nat) in the
    public subnet, filtered by sg-a-nat."""
    inst = Instance(
        instance_id="i-nat",
        state="running",
        subnet_id=PUB_A,
        source_dest_check=False,
        public_ip="198.51.100.7",
        network_interface_ids=("eni-nat",),
        security_group_ids=(NAT_SG,),
    )
    eni = NetworkInterface(
        network_interface_id="eni-nat",
        subnet_id=PUB_A,
        vpc_id=VPC,
        instance_id="i-nat",
        source_dest_check=False,
        public_ip=inst.public_ip,
        security_group_ids=(NAT_SG,),
    )
    w = put(fx.vpc_world(A, "ab"), instances=(inst,), network_interfaces=(eni,))
    if groups_read:
        w = fx.add(w, group(NAT_SG, ingress, egress))
    return with_fn(lone(w, X, X_CIDR, fx.default_route(target)))


def gwlb(ep_id: str, subnet_id: str) -> VpcEndpoint:
    return VpcEndpoint(
        vpc_endpoint_id=ep_id,
        vpc_id=VPC,
        service_name="com.amazonaws.vpce.us-east-1.vpce-svc-fw",
        endpoint_type="GatewayLoadBalancer",
        state="available",
        subnet_ids=(subnet_id,),
    )


def firewall_in_front() -> RegionInventory:
    """subnet-x -> vpce-fw (in subnet-fw) -> subnet-fw's table -> nat-a-a -> igw."""
    w = lone(fx.vpc_world(A, "ab"), FW, FW_CIDR, fx.default_route(NAT))
    w = fx.add(w, gwlb("vpce-fw", FW))
    return with_fn(lone(w, X, X_CIDR, fx.default_route("vpce-fw")))


def firewall_behind_nat() -> RegionInventory:
    """subnet-x -> nat-fwd (in subnet-natfw) -> vpce-fw (in subnet-fw) -> igw."""
    w = lone(fx.vpc_world(A, "ab"), FW, FW_CIDR, fx.default_route(fx.igw_id(A)))
    w = fx.add(w, gwlb("vpce-fw", FW), fx.nat("nat-fwd", A, "subnet-natfw"))
    w = lone(w, "subnet-natfw", fx.subnet_cidr(A, 102), fx.default_route("vpce-fw"))
    return with_fn(lone(w, X, X_CIDR, fx.default_route("nat-fwd")))


def entry(
    number: int,
    egress: bool,
    action: str = "allow",
    cidr: str = "0.0.0.0/0",
    ports: tuple[int, int] | None = None,
    ipv6: str = "",
) -> NetworkAclEntry:
    return NetworkAclEntry(
        rule_number=number,
        egress=egress,
        protocol="6" if ports else "-1",
        rule_action=action,
        cidr_block="" if ipv6 else cidr,
        ipv6_cidr_block=ipv6,
        port_from=ports[0] if ports else None,
        port_to=ports[1] if ports else None,
    )


FINAL = (entry(32767, True, "deny"), entry(32767, False, "deny"))
ALLOW_ALL = (entry(100, True), entry(100, False), *FINAL)


def acl(acl_id: str, subnets: tuple[str, ...], *entries: NetworkAclEntry) -> NetworkAcl:
    return NetworkAcl(
        network_acl_id=acl_id, vpc_id=VPC, subnet_ids=subnets, entries=(*entries, *FINAL)
    )


def with_acls(world: RegionInventory, *acls: NetworkAcl) -> RegionInventory:
    default = NetworkAcl(
        network_acl_id="acl-default", vpc_id=VPC, is_default=True, entries=ALLOW_ALL
    )
    return world.model_copy(update={"network_acls": (default, *acls)})


def no_return(acl_id: str, subnet: str, client: str) -> NetworkAcl:
    """In 443 from ``client`` and all out allowed; nothing else in (no ephemeral)."""
    return acl(acl_id, (subnet,), entry(90, False, cidr=client, ports=HTTPS), entry(100, True))


def run(world: RegionInventory) -> tuple[dict[str, Finding], str]:
    """The function's findings as planned (with their manual steps) and its status."""
    plan = build_plan(fx.inventory(world), fx.policy(min_azs=1), fx.NOW)
    found = {f.code: f for f in plan.findings if f.function == "fn"}
    status = next(s.status for s in plan.functions if s.name == "fn")
    return found, status


# -------------------------------------------------------------- hop worlds

# id, world, codes, status, fragments: (code, text) pairs the evidence or manual holds
HOPS: list[
    tuple[str, Callable[[], RegionInventory], set[str], str, tuple[tuple[str, str], ...]]
] = [
    ("nat-instance-vpc-ingress-healthy", nat_instance, set(), "healthy", ()),
    (
        "nat-instance-eni-target-healthy",
        lambda: nat_instance("eni-nat"),
        set(),
        "healthy",
        (),
    ),
    (
        "nat-instance-ingress-from-function-group",
        lambda: nat_instance(ingress=(rule(groups=(FN_SG,)),)),
        set(),
        "healthy",
        (),
    ),
    (
        "nat-instance-sg-blocks-inbound-from-function-subnet",
        lambda: nat_instance(ingress=(rule((PUB_CIDR,)),)),
        {codes.NAT_INSTANCE_SG_BLOCKS},
        "affected",
        (
            (codes.NAT_INSTANCE_SG_BLOCKS, f"no inbound rule allows TCP 443 from {X_CIDR}"),
            (
                codes.NAT_INSTANCE_SG_BLOCKS,
                f"add to {NAT_SG} an inbound rule: TCP 443 from {X_CIDR}",
            ),
        ),
    ),
    (
        "nat-instance-eni-sg-blocks-inbound",
        lambda: nat_instance("eni-nat", ingress=(rule((X_CIDR,), port=80),)),
        {codes.NAT_INSTANCE_SG_BLOCKS},
        "affected",
        ((codes.NAT_INSTANCE_SG_BLOCKS, "NAT instance eni-nat"),),
    ),
    (
        "nat-instance-sg-blocks-egress",
        lambda: nat_instance(egress=(rule((VPC_CIDR,)),)),
        {codes.NAT_INSTANCE_SG_BLOCKS},
        "affected",
        ((codes.NAT_INSTANCE_SG_BLOCKS, f"add to {NAT_SG} an egress rule: TCP 443 to 0.0.0.0/0"),),
    ),
    (
        "nat-instance-groups-not-read-not-judged",
        lambda: nat_instance(ingress=(), groups_read=False),
        set(),
        "healthy",
        (),
    ),
    (
        "nat-instance-subnet-nacl-blocks-return",
        lambda: with_acls(nat_instance(), no_return("acl-pub", PUB_A, X_CIDR)),
        {codes.NACL_BLOCKS_RETURN},
        "affected",
        (
            (
                codes.NACL_BLOCKS_RETURN,
                f"acl-pub of {PUB_A}: inbound TCP 1024-65535 from 0.0.0.0/0 is denied",
            ),
        ),
    ),
    (
        "nat-instance-subnet-nacl-blocks-inbound-443",
        lambda: with_acls(nat_instance(), no_return("acl-pub", PUB_A, PUB_CIDR)),
        {codes.NACL_BLOCKS_EGRESS, codes.NACL_BLOCKS_RETURN},
        "affected",
        ((codes.NACL_BLOCKS_EGRESS, f"acl-pub of {PUB_A}: inbound TCP 443 from {X_CIDR}"),),
    ),
    (
        "firewall-in-front-of-nat-healthy",
        lambda: with_acls(firewall_in_front()),
        set(),
        "healthy",
        (),
    ),
    (
        "firewall-endpoint-subnet-nacl-blocks-inbound",
        lambda: with_acls(
            firewall_in_front(), acl("acl-fw", (FW,), entry(90, False, ports=EPH), entry(100, True))
        ),
        {codes.NACL_BLOCKS_EGRESS},
        "affected",
        (
            (codes.NACL_BLOCKS_EGRESS, f"acl-fw of {FW}: inbound TCP 443 from {X_CIDR}"),
            (codes.NACL_BLOCKS_EGRESS, "add to acl-fw an inbound rule"),
        ),
    ),
    (
        "firewall-endpoint-subnet-nacl-blocks-return",
        lambda: with_acls(firewall_in_front(), no_return("acl-fw", FW, X_CIDR)),
        {codes.NACL_BLOCKS_RETURN},
        "affected",
        ((codes.NACL_BLOCKS_RETURN, f"acl-fw of {FW}"),),
    ),
    (
        "nat-behind-firewall-sees-the-function-subnet",
        lambda: with_acls(firewall_in_front(), no_return("acl-pub", PUB_A, FW_CIDR)),
        {codes.NACL_BLOCKS_EGRESS, codes.NACL_BLOCKS_RETURN},
        "affected",
        ((codes.NACL_BLOCKS_EGRESS, f"acl-pub of {PUB_A}: inbound TCP 443 from {X_CIDR}"),),
    ),
    (
        "firewall-behind-nat-sees-the-nat-subnet",
        lambda: with_acls(
            firewall_behind_nat(),
            acl(
                "acl-fw",
                (FW,),
                entry(90, False, cidr=fx.subnet_cidr(A, 102), ports=HTTPS),
                entry(95, False, ports=EPH),
                entry(100, True),
            ),
        ),
        set(),
        "healthy",
        (),
    ),
    (
        "firewall-behind-nat-blocks-the-nat-subnet",
        lambda: with_acls(
            firewall_behind_nat(),
            acl(
                "acl-fw",
                (FW,),
                entry(90, False, cidr=X_CIDR, ports=HTTPS),
                entry(95, False, ports=EPH),
                entry(100, True),
            ),
        ),
        {codes.NACL_BLOCKS_EGRESS},
        "affected",
        (
            (
                codes.NACL_BLOCKS_EGRESS,
                f"acl-fw of {FW}: inbound TCP 443 from {fx.subnet_cidr(A, 102)}",
            ),
        ),
    ),
]


@pytest.mark.parametrize(
    ("make", "expected", "status", "fragments"),
    [pytest.param(m, e, s, fr, id=i) for i, m, e, s, fr in HOPS],
)
def test_filters_on_every_hop(
    make: Callable[[], RegionInventory],
    expected: set[str],
    status: str,
    fragments: tuple[tuple[str, str], ...],
) -> None:
    found, fn_status = run(make())
    assert set(found) == expected
    assert fn_status == status
    for code, text in fragments:
        assert text in f"{found[code].detail} {found[code].manual_step}", (code, text)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: nat_instance(ingress=(rule((PUB_CIDR,)),)), id="nat-instance-sg"),
        pytest.param(
            lambda: with_acls(firewall_in_front(), no_return("acl-fw", FW, X_CIDR)),
            id="firewall-nacl",
        ),
    ],
)
def test_hop_filters_are_blocked_with_the_rule_to_add(
    make: Callable[[], RegionInventory],
) -> None:
    plan = build_plan(fx.inventory(make()), fx.policy(min_azs=1), fx.NOW)
    filtered = [f for f in plan.findings if f.code in codes.FILTER_CODES]
    assert filtered and all(f.status == "blocked" for f in filtered)
    assert all(f.manual_step and "by hand: add to " in f.manual_step for f in filtered)
    assert plan.changes == ()


# ------------------------------------------------------------------- IPv6

V6_SUB = "2600:1f18:aa:bb00::/64"
EIGW = "eigw-a"


def dual_stack(
    *,
    flag: bool = True,
    v6_route: Route | None = None,
    ipv6: tuple[str, ...] = (V6_SUB,),
    fn_egress: tuple[SecurityGroupRule, ...] = (rule(("0.0.0.0/0",), ipv6=("::/0",)),),
    private: bool = True,
) -> RegionInventory:
    """subnet-x (dual-stack) -> 0.0.0.0/0 -> NAT (or no IPv4 route) and ::/0 -> eigw."""
    v6 = v6_route if v6_route is not None else fx.route("::/0", EIGW)
    routes = (fx.default_route(NAT), v6) if private else (v6,)
    w = lone(fx.vpc_world(A, "ab"), X, X_CIDR, *routes, ipv6=ipv6)
    w = fx.add(w, group(FN_SG, (), fn_egress))
    return with_fn(w, dual_stack=flag)


def v6_acl(*entries: NetworkAclEntry) -> NetworkAcl:
    return acl("acl-x", (X,), entry(100, True), entry(100, False), *entries)


IPV6: list[tuple[str, Callable[[], RegionInventory], set[str], str, tuple[str, ...]]] = [
    (
        "egress-only-path",
        dual_stack,
        {codes.IPV6_DUAL_STACK},
        "healthy",
        (
            f"1 of 1 subnets give IPv6 egress ({X}: ::/0 -> {EIGW} (egress-only internet gateway): IPv6 destinations are reachable)",
            "the Lambda API and the other AWS endpoints",
            "AWS_USE_DUALSTACK_ENDPOINT=true",
        ),
    ),
    ("flag-off-no-note", lambda: dual_stack(flag=False), set(), "healthy", ()),
    (
        "not-dual-stack-subnet",
        lambda: dual_stack(ipv6=()),
        {codes.IPV6_DUAL_STACK},
        "healthy",
        ("no subnet gives IPv6 egress", f"{X}: no IPv6 CIDR"),
    ),
    (
        "no-ipv6-route",
        lambda: dual_stack(v6_route=fx.route("2600:1f18:aa::/56", "local")),
        {codes.IPV6_DUAL_STACK},
        "healthy",
        (f"{X}: no IPv6 route to the internet",),
    ),
    (
        "sg-has-no-ipv6-egress",
        lambda: dual_stack(fn_egress=(rule(("0.0.0.0/0",)),)),
        {codes.IPV6_DUAL_STACK},
        "healthy",
        (f"but blocked: {FN_SG}: no egress rule allows TCP 443 to ::/0",),
    ),
    (
        "nacl-ipv4-rules-do-not-pass-ipv6",
        lambda: with_acls(dual_stack(), v6_acl()),
        {codes.IPV6_DUAL_STACK},
        "healthy",
        ("acl-x: outbound TCP 443 to ::/0 is denied by the final * deny",),
    ),
    (
        "nacl-ipv6-entries-pass",
        lambda: with_acls(
            dual_stack(), v6_acl(entry(110, True, ipv6="::/0"), entry(110, False, ipv6="::/0"))
        ),
        {codes.IPV6_DUAL_STACK},
        "healthy",
        ("IPv6 destinations are reachable",),
    ),
    (
        "ipv6-does-not-fix-an-isolated-subnet",
        lambda: dual_stack(private=False),
        {codes.IPV6_DUAL_STACK, codes.ISOLATED_NO_ENDPOINT},
        "affected",
        ("IPv6 egress does not carry IPv4",),
    ),
]


@pytest.mark.parametrize(
    ("make", "expected", "status", "fragments"),
    [pytest.param(m, e, s, fr, id=i) for i, m, e, s, fr in IPV6],
)
def test_ipv6_is_a_note_on_the_claimed_path(
    make: Callable[[], RegionInventory], expected: set[str], status: str, fragments: tuple[str, ...]
) -> None:
    found, fn_status = run(make())
    assert set(found) == expected
    assert fn_status == status
    if codes.IPV6_DUAL_STACK in found:
        note = found[codes.IPV6_DUAL_STACK]
        assert note.severity == "info" and note.status == "info"
        for text in fragments:
            assert text in note.detail, text


@pytest.mark.parametrize(
    ("entries", "peer", "expected"),
    [
        pytest.param((entry(10, True),), "::/0", False, id="ipv4-entry-ignores-ipv6"),
        pytest.param((entry(10, True, ipv6="::/0"),), "::/0", True, id="ipv6-entry"),
        pytest.param(
            (entry(10, True, ipv6="::/0"),), "0.0.0.0/0", False, id="ipv6-entry-ignores-ipv4"
        ),
        pytest.param(
            (entry(10, True, "deny", ipv6="::/0"), entry(20, True, ipv6="::/0")),
            "::/0",
            False,
            id="ipv6-first-match-deny",
        ),
    ],
)
def test_nacl_entries_match_their_family(
    entries: tuple[NetworkAclEntry, ...], peer: str, expected: bool
) -> None:
    ok, _ = nacl_allows(acl("acl-t", (), *entries), True, peer, HTTPS)
    assert ok is expected


# ------------------------------------------- dual-stack kept on a subnet move


@pytest.mark.parametrize("flag", [True, False])
def test_a_subnet_move_keeps_ipv6_allowed_for_dual_stack(flag: bool) -> None:
    world = fx.vpc_world(
        A, "ab", functions=[fx.function("fn", [PUB_A, fx.natsub(A, "a"), fx.natsub(A, "b")])]
    )
    fn = world.functions[0]
    assert fn.vpc_config is not None
    config = fn.vpc_config.model_copy(update={"ipv6_allowed_for_dual_stack": flag})
    world = fx.add(world, fn.model_copy(update={"vpc_config": config}))
    plan = build_plan(fx.inventory(world), default_policy(), fx.NOW)
    (change,) = plan.changes
    assert change.kind == kinds.UPDATE_VPC_CONFIG
    dumped = change.model_dump(mode="json")
    for side in (dumped["before"], dumped["after"], dumped["fingerprint"]["state"]):
        if flag:
            assert side["Ipv6AllowedForDualStack"] is True
        else:
            assert "Ipv6AllowedForDualStack" not in side
    assert PUB_A not in dumped["after"]["SubnetIds"]
    # the plan's before agrees with its fingerprint (an unedited plan)
    assert kinds.check_before(change) is None


class _Door:
    """A fake door: answers the reads, records the writes."""

    def __init__(self, dual_stack: bool) -> None:
        self.sent: list[dict[str, Any]] = []
        self.vpc: dict[str, Any] = {"SubnetIds": ["s-1"], "SecurityGroupIds": ["sg-1"]}
        if dual_stack:
            self.vpc["Ipv6AllowedForDualStack"] = True

    def call(self, service: str, region: str, operation: str, **params: Any) -> dict[str, Any]:
        if operation == "update_function_configuration":
            self.sent.append(params["VpcConfig"])
            self.vpc = dict(params["VpcConfig"])
            return {"RevisionId": "r2"}
        return {"VpcConfig": self.vpc, "RevisionId": "r1", "LastUpdateStatus": "Successful"}


@pytest.mark.parametrize("flag", [True, False])
def test_the_change_kind_sends_the_flag_on_apply_and_undo(flag: bool) -> None:
    extra = {"Ipv6AllowedForDualStack": True} if flag else {}
    change = kinds.build(
        {
            "id": "c-1",
            "kind": kinds.UPDATE_VPC_CONFIG,
            "region": fx.REGION,
            "target": fx.arn("fn"),
            "before": {"SubnetIds": ["s-1"], "SecurityGroupIds": ["sg-1"], **extra},
            "after": {"SubnetIds": ["s-2"], "SecurityGroupIds": ["sg-1"], **extra},
            "risk": "low",
            "reversible": True,
            "permissions": (),
            "reason": "r",
            "fingerprint": {
                "revision_id": None,
                "state_hash": "sha256:x",
                "state": {"SubnetIds": ["s-1"], "SecurityGroupIds": ["sg-1"], **extra},
            },
        }
    )
    handler = kinds.KINDS[change.kind].handler
    door = _Door(flag)
    live = handler.read(door, change, {})  # type: ignore[arg-type]
    assert ("Ipv6AllowedForDualStack" in live.state) is flag
    result = handler.apply(door, change, live, {})  # type: ignore[arg-type]
    handler.undo(door, change, result)  # type: ignore[arg-type]
    assert [c.get("Ipv6AllowedForDualStack") for c in door.sent] == [True if flag else None] * 2
    assert [c["SubnetIds"] for c in door.sent] == [["s-2"], ["s-1"]]


# --------------------------------------------------- a filter cause's fix


def vpc_only_world(
    *, endpoint: VpcEndpoint | None = None, egress: str = VPC_CIDR, port: int = 443
) -> RegionInventory:
    world = fx.vpc_world(
        A, "ab", functions=[fx.function("fn", [fx.natsub(A, "a"), fx.natsub(A, "b")])]
    )
    world = fx.add(world, group(FN_SG, (), (rule((egress,), port=port),)))
    if endpoint is not None:
        world = fx.add(world, endpoint, group("sg-a-endpoint", (), ()))
    return world


def _plan(world: RegionInventory, **settings: Any) -> Any:
    return build_plan(fx.inventory(world), fx.policy(**settings), fx.NOW)


def _sg_finding(plan: Any) -> Finding:
    return next(f for f in plan.findings if f.code == codes.SG_EGRESS_BLOCKS)


def test_vpc_only_egress_is_served_by_a_new_lambda_endpoint() -> None:
    world = vpc_only_world()
    found, _ = run(world)
    assert set(found) == {codes.SG_EGRESS_BLOCKS}
    plan = _plan(world, allow_endpoint_creation=True)
    f = _sg_finding(plan)
    assert f.status == "planned"
    kinds_planned = {c.kind for c in plan.changes}
    assert kinds_planned == {kinds.CREATE_ENDPOINT_SG, kinds.CREATE_LAMBDA_ENDPOINT}
    assert set(f.fixed_by) == {c.id for c in plan.changes}
    endpoint = next(c for c in plan.changes if c.kind == kinds.CREATE_LAMBDA_ENDPOINT)
    assert endpoint.after["PrivateDnsEnabled"] is True
    sg = next(c for c in plan.changes if c.kind == kinds.CREATE_ENDPOINT_SG)
    assert sg.after["IngressTcp443FromGroups"] == [FN_SG]
    # never a rule on the customer's group
    assert all(c.target != FN_SG for c in plan.changes)


def test_vpc_only_egress_repairs_the_existing_endpoint() -> None:
    ep = fx.endpoint(A, [fx.natsub(A, "a")], ["sg-a-endpoint"], private_dns=False)
    plan = _plan(vpc_only_world(endpoint=ep))
    f = _sg_finding(plan)
    assert f.status == "planned", f.manual_step
    assert {c.kind for c in plan.changes} == {
        kinds.AUTHORIZE_ENDPOINT_INGRESS,
        kinds.ENABLE_ENDPOINT_PRIVATE_DNS,
    }


@pytest.mark.parametrize(
    ("world", "settings", "reason"),
    [
        pytest.param(
            vpc_only_world(),
            {},
            "lambda-endpoint: creating a Lambda endpoint costs money",
            id="creation-not-allowed",
        ),
        pytest.param(
            vpc_only_world(),
            {"strategies": ("keep-private-subnets",), "allow_endpoint_creation": True},
            "no strategy changes filters",
            id="lambda-endpoint-not-listed",
        ),
        pytest.param(
            vpc_only_world(egress=fx.subnet_cidr(A, 50)),
            {"allow_endpoint_creation": True},
            "the function's VPC-only egress does not reach a new endpoint",
            id="egress-misses-the-endpoint-subnets",
        ),
        pytest.param(
            vpc_only_world(egress="0.0.0.0/0", port=80),
            {"allow_endpoint_creation": True},
            "no strategy changes filters",
            id="not-vpc-only-stays-blocked",
        ),
    ],
)
def test_other_filter_causes_stay_blocked_with_the_rule(
    world: RegionInventory, settings: dict[str, Any], reason: str
) -> None:
    plan = _plan(world, **settings)
    f = _sg_finding(plan)
    assert f.status == "blocked"
    assert f.manual_step and reason in f.manual_step
    assert f"add to {FN_SG} an egress rule: TCP 443 to 0.0.0.0/0" in f.manual_step
    assert plan.changes == ()


def test_vpc_only_cause_is_recorded_only_for_vpc_limited_egress() -> None:
    from remediator.diagnose import RegionIndex, judge_config

    for port, cause in ((443, VPC_ONLY), (80, "")):
        world = vpc_only_world(port=port)
        config = world.functions[0].vpc_config
        assert isinstance(config, VpcConfig)
        problem = judge_config(RegionIndex(world), config).filter_problem(codes.SG_EGRESS_BLOCKS)
        assert problem is not None and problem.cause == cause


def test_a_nat_subnet_without_a_cidr_still_judges_the_function_subnet() -> None:
    """The NAT's own CIDR matters only for a hop after it: the function's
    subnet and the NAT's subnet are judged without it (as before hops)."""
    world = with_fn(lone(fx.vpc_world(A, "ab"), X, X_CIDR, fx.default_route(NAT)))
    pub = next(s for s in world.subnets if s.subnet_id == PUB_A)
    world = fx.add(world, pub.model_copy(update={"cidr_block": ""}))
    world = with_acls(world, acl("acl-x", (X,), entry(100, True, ports=HTTPS)))
    found, status = run(world)
    assert set(found) == {codes.NACL_BLOCKS_RETURN} and status == "affected"
