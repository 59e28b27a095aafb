"""build_plan(): which changes, in which order, with what before/after, risk,
blast radius and permissions; what is blocked or deferred and why."""

from __future__ import annotations

from remediator import diagnose as d
from remediator.changes import registry
from remediator.changes.registry import Change
from remediator.domain.inventory import RegionInventory
from remediator.domain.plan import Finding, Fingerprint
from remediator.domain.policy import Policy, Rule
from remediator.planfile.digest import plan_digest
from remediator.planfile.model import Plan
from remediator.planner import MAX_SUBNETS, build_plan
from tests import factories as fx

A = "a"
P, N, I = fx.pub, fx.natsub, fx.iso  # noqa: E741
EP_SG = "sg-a-endpoint"


def plan(world: RegionInventory | list[RegionInventory], pol: Policy | None = None) -> Plan:
    worlds = world if isinstance(world, list) else [world]
    return build_plan(fx.inventory(*worlds), pol or fx.policy(), fx.NOW)


def of_kind(p: Plan, kind: str) -> list[Change]:
    return [c for c in p.changes if c.kind == kind]


def finding(p: Plan, function: str, code: str, qualifier: str = "$LATEST") -> Finding:
    return next(
        f
        for f in p.findings
        if f.function == function and f.code == code and f.qualifier == qualifier
    )


def azs_of(world: RegionInventory, subnet_ids: list[str]) -> set[str]:
    by_id = {s.subnet_id: s.availability_zone for s in world.subnets}
    return {by_id[s] for s in subnet_ids}


def assert_plan_invariants(p: Plan) -> None:
    seen: set[str] = set()
    for c in p.changes:
        assert set(c.depends_on) <= seen, f"{c.id} depends on a later or absent change"
        seen.add(c.id)
        assert c.permissions == registry.KINDS[c.kind].permissions
        assert c.permissions
    assert p.digest == plan_digest(p)
    ids = {c.id for c in p.changes}
    for f in p.findings:
        if f.status == "planned":
            assert f.fixed_by and set(f.fixed_by) <= ids
        if f.status in ("blocked", "deferred"):
            assert f.manual_step


# --------------------------------------------------------- keep-private-subnets


def test_mixed_drops_exactly_the_public_subnets() -> None:
    world = fx.vpc_world(
        A, "abc", functions=[fx.function("mixed", [P(A, "a"), N(A, "b"), N(A, "c")])]
    )
    p = plan(world)
    assert [c.kind for c in p.changes] == [registry.UPDATE_VPC_CONFIG]
    (c,) = p.changes
    assert c.target == fx.arn("mixed")
    # before keeps the function's own order (rollback restores it exactly)
    assert c.before == {
        "SubnetIds": [P(A, "a"), N(A, "b"), N(A, "c")],
        "SecurityGroupIds": [fx.fn_sg(A)],
    }
    assert c.after == {"SubnetIds": [N(A, "b"), N(A, "c")], "SecurityGroupIds": [fx.fn_sg(A)]}
    assert set(c.before["SubnetIds"]) - set(c.after["SubnetIds"]) == {P(A, "a")}
    assert c.risk == "low"
    assert c.fingerprint.revision_id == "rev-mixed"
    assert c.fingerprint.state == {
        "SubnetIds": sorted(c.before["SubnetIds"]),
        "SecurityGroupIds": [fx.fn_sg(A)],
    }
    f = finding(p, "mixed", d.PUBLIC_MIXED)
    assert (f.status, f.fixed_by) == ("planned", (c.id,))
    assert p.summary.changes == 1 and p.summary.affected == 1
    assert_plan_invariants(p)


def test_security_groups_are_kept() -> None:
    fn = fx.function("fn", [P(A, "a"), N(A, "b"), N(A, "c")], ["sg-2", "sg-1"])
    (c,) = plan(fx.vpc_world(A, "abc", functions=[fn])).changes
    assert c.before is not None
    assert c.before["SecurityGroupIds"] == ["sg-2", "sg-1"]
    assert c.after["SecurityGroupIds"] == ["sg-1", "sg-2"]


def test_all_public_is_replaced_by_nat_subnets_one_per_az() -> None:
    world = fx.vpc_world(A, "abc", functions=[fx.function("pub", [P(A, "a"), P(A, "b")])])
    p = plan(world)
    (c,) = of_kind(p, registry.UPDATE_VPC_CONFIG)
    after = c.after["SubnetIds"]
    assert after == [N(A, "a"), N(A, "b")]
    assert len(azs_of(world, after)) == len(after)  # one per AZ
    assert c.risk == "medium"
    assert finding(p, "pub", d.PUBLIC_ALL).status == "planned"
    assert_plan_invariants(p)


def test_all_public_with_min_azs_three_gets_three_nat_subnets() -> None:
    world = fx.vpc_world(A, "abc", functions=[fx.function("pub", [P(A, "a")])])
    (c,) = plan(world, fx.policy(min_azs=3)).changes
    assert c.after["SubnetIds"] == [N(A, "a"), N(A, "b"), N(A, "c")]


def test_prefers_nat_subnets_in_the_functions_own_azs() -> None:
    world = fx.vpc_world(A, "abc", functions=[fx.function("pub", [P(A, "b"), P(A, "c")])])
    (c,) = plan(world).changes
    assert c.after["SubnetIds"] == [N(A, "b"), N(A, "c")]


def test_full_subnets_are_not_added() -> None:
    world = fx.vpc_world(A, "abc", functions=[fx.function("pub", [P(A, "a"), P(A, "b")])])
    full = next(s for s in world.subnets if s.subnet_id == N(A, "a"))
    world = fx.add(world, full.model_copy(update={"available_ip_address_count": 0}))
    (c,) = plan(world).changes
    assert N(A, "a") not in c.after["SubnetIds"]
    assert len(c.after["SubnetIds"]) == 2


def test_all_public_without_private_alternatives_is_blocked() -> None:
    world = fx.vpc_world(
        A, "ab", private=False, functions=[fx.function("pub", [P(A, "a"), P(A, "b")])]
    )
    p = plan(world)
    assert p.changes == ()
    f = finding(p, "pub", d.PUBLIC_ALL)
    assert f.status == "blocked"
    assert f.manual_step and "keep-private-subnets" in f.manual_step
    assert "NAT" in f.manual_step
    assert p.summary.blocked == 1 and p.summary.changes == 0
    assert_plan_invariants(p)


def test_dropping_public_below_min_azs_adds_nat_subnet_of_the_lost_az() -> None:
    world = fx.vpc_world(A, "abc", functions=[fx.function("fn", [P(A, "a"), N(A, "b")])])
    p = plan(world, fx.policy(min_azs=2))
    (c,) = p.changes
    # AZ a is lost by dropping pub-a: its NAT subnet is added (not c's).
    assert c.after["SubnetIds"] == [N(A, "a"), N(A, "b")]
    assert c.risk == "medium"
    assert N(A, "a") in c.blast_radius.subnet_ids and P(A, "a") in c.blast_radius.subnet_ids


def test_single_az_function_gets_a_second_az() -> None:
    world = fx.vpc_world(A, "abc", functions=[fx.function("solo", [N(A, "b")])])
    p = plan(world)
    (c,) = p.changes
    assert c.after["SubnetIds"] == [N(A, "a"), N(A, "b")]
    assert finding(p, "solo", d.AZ_BELOW_MIN).status == "planned"


def test_min_azs_one_drops_without_adding() -> None:
    world = fx.vpc_world(A, "abc", functions=[fx.function("fn", [P(A, "a"), N(A, "b")])])
    (c,) = plan(world, fx.policy(min_azs=1)).changes
    assert c.after["SubnetIds"] == [N(A, "b")]
    assert c.risk == "low"


def test_dropping_public_with_no_nat_in_other_az_is_blocked() -> None:
    # NAT-routed subnets only in AZ b; the function spans a and b.
    world = fx.vpc_world(A, "ab", nat_azs="b")
    world = fx.remove(world, N(A, "a"), fx.nat_rt(A, "a"))
    world = fx.add(world, fx.function("fn", [P(A, "a"), N(A, "b")]))
    p = plan(world, fx.policy(min_azs=2, strategies=["keep-private-subnets"]))
    assert p.changes == ()
    f = finding(p, "fn", d.PUBLIC_MIXED)
    assert f.status == "blocked"
    assert f.manual_step and "AZ" in f.manual_step


def sixteen_world() -> RegionInventory:
    """15 NAT-routed subnets in AZ a, one NAT subnet each in b..d."""
    world = fx.vpc_world(A, "abcd")
    extra = [fx.subnet(f"subnet-a-nat-a{i:02d}", A, "a") for i in range(14)]
    rt = next(t for t in world.route_tables if t.route_table_id == fx.nat_rt(A, "a"))
    rt = rt.model_copy(
        update={"subnet_ids": tuple(sorted([*rt.subnet_ids, *(s.subnet_id for s in extra)]))}
    )
    return fx.add(world, *extra, rt)


def test_never_more_than_16_subnets_when_adding_an_az() -> None:
    world = sixteen_world()
    many = sorted(s.subnet_id for s in world.subnets if s.subnet_id.startswith("subnet-a-nat-a"))
    assert len(many) == 15
    world = fx.add(world, fx.function("big", [*many, P(A, "b")]))
    p = plan(world, fx.policy(min_azs=3))
    (c,) = p.changes
    assert len(c.after["SubnetIds"]) <= MAX_SUBNETS
    assert len(azs_of(world, c.after["SubnetIds"])) >= 2
    assert_plan_invariants(p)


def test_sixteen_subnets_in_one_az_cannot_grow() -> None:
    world = sixteen_world()
    many = sorted(s.subnet_id for s in world.subnets if s.subnet_id.startswith("subnet-a-nat-a"))
    world = fx.add(world, fx.subnet("subnet-a-nat-a99", A, "a"))
    rt = next(t for t in world.route_tables if t.route_table_id == fx.nat_rt(A, "a"))
    world = fx.add(
        world, rt.model_copy(update={"subnet_ids": (*rt.subnet_ids, "subnet-a-nat-a99")})
    )
    world = fx.add(world, fx.function("big", [*many, "subnet-a-nat-a99"]))
    p = plan(world, fx.policy(min_azs=2))
    assert all(
        len(c.after["SubnetIds"]) <= MAX_SUBNETS for c in of_kind(p, registry.UPDATE_VPC_CONFIG)
    )
    assert finding(p, "big", d.AZ_BELOW_MIN).status == "blocked"


# --------------------------------------------------------------- add-nat-route

NAT_ROUTE_ONLY = {"strategies": ["add-nat-route"], "min_azs": 1}


def test_isolated_subnet_with_own_table_gets_a_nat_route_to_the_same_az() -> None:
    world = fx.vpc_world(
        A, "ab", isolated_tables="own", functions=[fx.function("iso", [I(A, "b")])]
    )
    p = plan(world, fx.policy(**NAT_ROUTE_ONLY))
    (c,) = p.changes
    assert c.kind == registry.PUT_NAT_ROUTE
    assert c.target == fx.iso_rt(A, "b")
    assert c.before is None
    assert c.after == {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": fx.nat_id(A, "b")}
    assert c.risk == "medium"
    assert c.blast_radius.route_tables == (fx.iso_rt(A, "b"),)
    assert c.blast_radius.subnet_ids == (I(A, "b"),)
    assert c.fingerprint.state["DefaultRoute"] is None
    assert finding(p, "iso", d.ISOLATED_NO_ENDPOINT).status == "planned"
    assert_plan_invariants(p)


def test_each_isolated_table_gets_its_own_azs_nat() -> None:
    world = fx.vpc_world(
        A, "ab", isolated_tables="own", functions=[fx.function("iso", [I(A, "a"), I(A, "b")])]
    )
    p = plan(world, fx.policy(**NAT_ROUTE_ONLY))
    got = {c.target: c.after["NatGatewayId"] for c in p.changes}
    assert got == {fx.iso_rt(A, "a"): fx.nat_id(A, "a"), fx.iso_rt(A, "b"): fx.nat_id(A, "b")}


def test_cross_az_nat_when_the_az_has_none() -> None:
    world = fx.vpc_world(
        A, "ab", nat_azs="a", isolated_tables="own", functions=[fx.function("iso", [I(A, "b")])]
    )
    (c,) = plan(world, fx.policy(**NAT_ROUTE_ONLY)).changes
    assert c.after["NatGatewayId"] == fx.nat_id(A, "a")


def test_unusable_nats_are_not_chosen() -> None:
    world = fx.vpc_world(
        A, "ab", isolated_tables="own", functions=[fx.function("iso", [I(A, "b")])]
    )
    world = fx.add(world, fx.nat(fx.nat_id(A, "b"), A, P(A, "b"), state="pending"))
    (c,) = plan(world, fx.policy(**NAT_ROUTE_ONLY)).changes
    assert c.after["NatGatewayId"] == fx.nat_id(A, "a")


def test_no_usable_nat_blocks_add_nat_route() -> None:
    world = fx.vpc_world(
        A,
        "ab",
        public=True,
        nat_azs="",
        isolated_tables="own",
        functions=[fx.function("iso", [I(A, "b")])],
    )
    p = plan(world, fx.policy(**NAT_ROUTE_ONLY))
    assert p.changes == ()
    f = finding(p, "iso", d.ISOLATED_NO_ENDPOINT)
    assert f.status == "blocked" and f.manual_step and "NAT" in f.manual_step


def test_blackhole_default_route_is_replaced() -> None:
    world = fx.set_default_route(fx.vpc_world(A, "ab"), fx.nat_rt(A, "b"), "nat-gone", "blackhole")
    world = fx.add(world, fx.function("fn", [N(A, "b")]))
    p = plan(world, fx.policy(**NAT_ROUTE_ONLY))
    (c,) = p.changes
    assert c.kind == registry.PUT_NAT_ROUTE
    assert c.target == fx.nat_rt(A, "b")
    assert c.before == {
        "DestinationCidrBlock": "0.0.0.0/0",
        "Target": "nat-gone",
        "State": "blackhole",
    }
    assert c.after == {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": fx.nat_id(A, "b")}
    assert "replace" in c.reason
    assert finding(p, "fn", d.NAT_BROKEN).status == "planned"


def test_failed_nat_route_is_replaced_with_the_working_nat() -> None:
    world = fx.add(
        fx.vpc_world(A, "ab"),
        fx.nat(fx.nat_id(A, "b"), A, P(A, "b"), state="failed"),
        fx.function("fn", [N(A, "b")]),
    )
    (c,) = plan(world, fx.policy(**NAT_ROUTE_ONLY)).changes
    assert c.before == {
        "DestinationCidrBlock": "0.0.0.0/0",
        "Target": fx.nat_id(A, "b"),
        "State": "active",
    }
    assert c.after["NatGatewayId"] == fx.nat_id(A, "a")


def test_public_subnets_block_add_nat_route() -> None:
    world = fx.vpc_world(A, "ab", functions=[fx.function("fn", [P(A, "a"), N(A, "b")])])
    p = plan(world, fx.policy(**NAT_ROUTE_ONLY))
    assert p.changes == ()
    f = finding(p, "fn", d.PUBLIC_MIXED)
    assert f.status == "blocked"
    assert f.manual_step and "internet gateway" in f.manual_step


def shared_main_world() -> RegionInventory:
    return fx.vpc_world(
        A,
        "ab",
        functions=[
            fx.function("iso-1", [I(A, "a")]),
            fx.function("iso-2", [I(A, "b")]),
            fx.function("bystander", [I(A, "b")], tags={"remediator:exempt": "true"}),
        ],
    )


def test_main_route_table_change_is_blocked_by_default() -> None:
    p = plan(shared_main_world(), fx.policy(**NAT_ROUTE_ONLY))
    assert p.changes == ()
    f = finding(p, "iso-1", d.ISOLATED_NO_ENDPOINT)
    assert f.status == "blocked"
    assert f.manual_step and fx.main_rt(A) in f.manual_step and "shared" in f.manual_step


def test_main_route_table_change_when_allowed_is_high_risk_with_blast_radius() -> None:
    p = plan(
        shared_main_world(),
        fx.policy(**NAT_ROUTE_ONLY, allow_shared_route_table_changes=True),
    )
    (c,) = p.changes
    assert c.kind == registry.PUT_NAT_ROUTE and c.target == fx.main_rt(A)
    assert c.risk == "high"
    br = c.blast_radius
    assert br.route_tables == (fx.main_rt(A),)
    assert br.subnet_ids == (I(A, "a"), I(A, "b"))
    assert br.functions == ("bystander", "iso-1", "iso-2")
    assert "main" in br.note
    assert set(c.fixes) == {
        finding(p, "iso-1", d.ISOLATED_NO_ENDPOINT).id,
        finding(p, "iso-2", d.ISOLATED_NO_ENDPOINT).id,
    }
    assert_plan_invariants(p)


def test_explicit_table_shared_by_two_subnets_is_shared() -> None:
    world = fx.vpc_world(A, "ab", functions=[fx.function("iso", [I(A, "a")])])
    world = fx.add(world, fx.route_table("rtb-a-iso", A, [], [I(A, "a"), I(A, "b")]))
    blocked = plan(world, fx.policy(**NAT_ROUTE_ONLY))
    assert blocked.changes == ()
    allowed = plan(world, fx.policy(**NAT_ROUTE_ONLY, allow_shared_route_table_changes=True))
    (c,) = allowed.changes
    assert c.risk == "high"
    assert c.blast_radius.subnet_ids == (I(A, "a"), I(A, "b"))
    assert "2 subnet" in c.blast_radius.note


def test_two_functions_sharing_one_isolated_table_get_one_route_change() -> None:
    world = fx.vpc_world(
        A,
        "ab",
        isolated_tables="own",
        functions=[fx.function("one", [I(A, "a")]), fx.function("two", [I(A, "a")])],
    )
    p = plan(world, fx.policy(**NAT_ROUTE_ONLY))
    (c,) = p.changes
    assert c.kind == registry.PUT_NAT_ROUTE and c.target == fx.iso_rt(A, "a")
    one = finding(p, "one", d.ISOLATED_NO_ENDPOINT)
    two = finding(p, "two", d.ISOLATED_NO_ENDPOINT)
    assert set(c.fixes) == {one.id, two.id}
    assert one.fixed_by == two.fixed_by == (c.id,)
    assert c.blast_radius.functions == ("one", "two")
    assert c.risk == "medium"  # one subnet: not shared


# -------------------------------------------------------------- lambda-endpoint

ENDPOINT_ONLY = {"strategies": ["lambda-endpoint"]}


def iso_world(dns: tuple[bool | None, bool | None] = (True, True)) -> RegionInventory:
    extra = fx.subnet("subnet-a-iso-a2", A, "a")
    world = fx.vpc_world(A, "ab", dns=dns)
    return fx.add(world, extra, fx.function("iso", [I(A, "a"), "subnet-a-iso-a2", I(A, "b")]))


def test_endpoint_creation_blocked_unless_allowed() -> None:
    p = plan(iso_world(), fx.policy(**ENDPOINT_ONLY))
    assert p.changes == ()
    f = finding(p, "iso", d.ISOLATED_NO_ENDPOINT)
    assert f.status == "blocked"
    assert f.manual_step and "allow_endpoint_creation" in f.manual_step


def test_endpoint_creation_when_allowed() -> None:
    p = plan(iso_world(dns=(True, False)), fx.policy(**ENDPOINT_ONLY, allow_endpoint_creation=True))
    assert [c.kind for c in p.changes] == [
        registry.ENABLE_VPC_DNS,
        registry.CREATE_ENDPOINT_SG,
        registry.CREATE_LAMBDA_ENDPOINT,
    ]
    dns, sg, ep = p.changes
    assert dns.target == sg.target == ep.target == "vpc-a"
    assert dns.before == {"EnableDnsSupport": True, "EnableDnsHostnames": False}
    assert dns.after == {"EnableDnsSupport": True, "EnableDnsHostnames": True}
    assert sg.after["IngressTcp443FromGroups"] == [fx.fn_sg(A)]
    assert sg.after["VpcId"] == "vpc-a"
    assert ep.after["ServiceName"] == "com.amazonaws.us-east-1.lambda"
    assert ep.after["PrivateDnsEnabled"] is True
    assert ep.after["VpcEndpointType"] == "Interface"
    # one subnet per AZ, chosen among the function's own subnets
    subnets = ep.after["SubnetIds"]
    assert len(subnets) == 2
    assert len(azs_of(iso_world(), subnets)) == 2
    assert set(subnets) <= {I(A, "a"), "subnet-a-iso-a2", I(A, "b")}
    assert ep.after["SecurityGroupFromChange"] == sg.id
    assert sg.id in ep.depends_on and dns.id in ep.depends_on
    assert ep.risk == "high"
    f = finding(p, "iso", d.ISOLATED_NO_ENDPOINT)
    assert f.status == "planned" and set(f.fixed_by) == {dns.id, sg.id, ep.id}
    assert_plan_invariants(p)


def test_endpoint_creation_without_dns_change_when_attributes_are_on() -> None:
    p = plan(iso_world(), fx.policy(**ENDPOINT_ONLY, allow_endpoint_creation=True))
    assert [c.kind for c in p.changes] == [
        registry.CREATE_ENDPOINT_SG,
        registry.CREATE_LAMBDA_ENDPOINT,
    ]
    assert p.changes[1].depends_on == (p.changes[0].id,)


def test_endpoint_creation_blocked_when_dns_attributes_were_not_read() -> None:
    p = plan(iso_world(dns=(None, None)), fx.policy(**ENDPOINT_ONLY, allow_endpoint_creation=True))
    assert p.changes == ()
    assert finding(p, "iso", d.ISOLATED_NO_ENDPOINT).status == "blocked"


def test_one_endpoint_per_vpc_for_many_functions() -> None:
    world = fx.add(iso_world(), fx.function("iso-2", [I(A, "b")], ["sg-other"]))
    p = plan(world, fx.policy(**ENDPOINT_ONLY, allow_endpoint_creation=True))
    assert len(of_kind(p, registry.CREATE_LAMBDA_ENDPOINT)) == 1
    (sg,) = of_kind(p, registry.CREATE_ENDPOINT_SG)
    assert sg.after["IngressTcp443FromGroups"] == [fx.fn_sg(A), "sg-other"]
    assert len(sg.fixes) == 2


def existing_endpoint_world(
    ingress: tuple[object, ...] = (), private_dns: bool = True
) -> RegionInventory:
    world = fx.vpc_world(A, "ab", private=False, public=False)
    return fx.add(
        world,
        fx.security_group(EP_SG, A, ingress),  # type: ignore[arg-type]
        fx.endpoint(A, [I(A, "a"), I(A, "b")], [EP_SG], private_dns=private_dns),
        fx.function("iso", [I(A, "a"), I(A, "b")]),
    )


def test_existing_endpoint_whose_sg_blocks_gets_an_ingress_rule() -> None:
    p = plan(existing_endpoint_world())
    (c,) = p.changes
    assert c.kind == registry.AUTHORIZE_ENDPOINT_INGRESS
    assert c.target == EP_SG
    assert c.after == {
        "IpProtocol": "tcp",
        "FromPort": 443,
        "ToPort": 443,
        "SourceSecurityGroupIds": [fx.fn_sg(A)],
    }
    assert c.risk == "low"
    for code in (d.ISOLATED_NO_ENDPOINT, d.ENDPOINT_SG_BLOCKS):
        f = finding(p, "iso", code)
        assert (f.status, f.fixed_by) == ("planned", (c.id,))
    assert_plan_invariants(p)


def test_existing_endpoint_needs_no_creation_permission() -> None:
    p = plan(existing_endpoint_world(), fx.policy(allow_endpoint_creation=False))
    assert [c.kind for c in p.changes] == [registry.AUTHORIZE_ENDPOINT_INGRESS]


def test_existing_endpoint_with_private_dns_off_gets_it_turned_on() -> None:
    p = plan(
        existing_endpoint_world(ingress=(fx.allow_443_from_groups(fx.fn_sg(A)),), private_dns=False)
    )
    (c,) = p.changes
    assert c.kind == registry.ENABLE_ENDPOINT_PRIVATE_DNS
    assert c.target == "vpce-a-lambda"
    assert (c.before, c.after) == ({"PrivateDnsEnabled": False}, {"PrivateDnsEnabled": True})
    assert c.risk == "high"
    assert "vpc-a" not in c.blast_radius.route_tables
    assert finding(p, "iso", d.ENDPOINT_PRIVATE_DNS_OFF).status == "planned"


def test_sg_blocking_for_nat_function_is_planned_via_endpoint_path() -> None:
    world = fx.add(
        fx.vpc_world(A, "ab"),
        fx.security_group(EP_SG, A),
        fx.endpoint(A, [I(A, "a")], [EP_SG]),
        fx.function("fn", [N(A, "a"), N(A, "b")]),
    )
    p = plan(world)
    (c,) = p.changes
    assert c.kind == registry.AUTHORIZE_ENDPOINT_INGRESS
    assert finding(p, "fn", d.ENDPOINT_SG_BLOCKS).status == "planned"
    blocked = plan(world, fx.policy(strategies=["keep-private-subnets"]))
    assert blocked.changes == ()
    f = finding(blocked, "fn", d.ENDPOINT_SG_BLOCKS)
    assert f.status == "blocked" and f.manual_step and "lambda-endpoint" in f.manual_step


def test_endpoint_alone_does_not_fix_public_subnets() -> None:
    world = fx.vpc_world(
        A, "ab", private=False, functions=[fx.function("fn", [P(A, "a"), P(A, "b")])]
    )
    p = plan(world, fx.policy(**ENDPOINT_ONLY, allow_endpoint_creation=True))
    assert p.changes == ()
    f = finding(p, "fn", d.PUBLIC_ALL)
    assert f.status == "blocked" and f.manual_step and "Lambda API calls only" in f.manual_step


# ---------------------------------------------------------------------- aliases


def alias_world(latest_sha: str = fx.CODE_SHA, **alias_kw: object) -> RegionInventory:
    subnets = [P(A, "a"), N(A, "b"), N(A, "c")]
    fn = fx.function(
        "fn",
        subnets,
        code_sha256=latest_sha,
        versions=[fx.version("1", subnets, [fx.fn_sg(A)], fx.CODE_SHA)],
        aliases=[fx.alias("live", "1", *alias_kw.get("additional", ()))],  # type: ignore[arg-type]
    )
    return fx.vpc_world(A, "abc", functions=[fn])


def test_alias_moved_when_code_is_identical_after_the_latest_update() -> None:
    p = plan(alias_world())
    assert [c.kind for c in p.changes] == [registry.UPDATE_VPC_CONFIG, registry.MOVE_ALIAS]
    update, move = p.changes
    assert move.target == fx.arn("fn") + ":live"
    assert move.depends_on == (update.id,)
    assert move.before == {"FunctionVersion": "1"}
    assert move.after["PublishFrom"] == "$LATEST"
    assert move.after["CodeSha256"] == fx.CODE_SHA
    assert move.risk == "high"
    assert move.fingerprint.revision_id == "rev-alias-live"
    f = finding(p, "fn", d.ALIAS_BROKEN, "live")
    assert (f.status, f.fixed_by) == ("planned", (move.id,))
    assert_plan_invariants(p)


def test_alias_not_moved_when_code_differs() -> None:
    p = plan(alias_world(latest_sha="beef" * 16))
    assert [c.kind for c in p.changes] == [registry.UPDATE_VPC_CONFIG]
    f = finding(p, "fn", d.ALIAS_BROKEN, "live")
    assert f.status == "blocked"
    assert f.manual_step and "differs" in f.manual_step and "live" in f.manual_step


def test_alias_not_moved_when_policy_says_so() -> None:
    p = plan(alias_world(), fx.policy(move_aliases=False))
    assert [c.kind for c in p.changes] == [registry.UPDATE_VPC_CONFIG]
    assert finding(p, "fn", d.ALIAS_BROKEN, "live").status == "blocked"


def test_weighted_alias_is_not_moved() -> None:
    p = plan(alias_world(additional=("1",)))
    assert not of_kind(p, registry.MOVE_ALIAS)
    f = finding(p, "fn", d.ALIAS_BROKEN, "live")
    assert f.status == "blocked" and f.manual_step and "weighted" in f.manual_step


def test_alias_not_moved_when_latest_has_no_fix() -> None:
    subnets = [P(A, "a"), P(A, "b")]
    fn = fx.function(
        "fn",
        subnets,
        versions=[fx.version("1", subnets, [fx.fn_sg(A)])],
        aliases=[fx.alias("live", "1")],
    )
    world = fx.vpc_world(A, "ab", private=False, functions=[fn])
    p = plan(world)
    assert p.changes == ()
    assert finding(p, "fn", d.ALIAS_BROKEN, "live").status == "blocked"


def test_alias_on_broken_version_while_latest_is_fine_moves_without_dependency() -> None:
    fn = fx.function(
        "fn",
        [N(A, "a"), N(A, "b")],
        versions=[fx.version("1", [P(A, "a"), N(A, "b")], [fx.fn_sg(A)])],
        aliases=[fx.alias("live", "1")],
    )
    p = plan(fx.vpc_world(A, "ab", functions=[fn]))
    (c,) = p.changes
    assert c.kind == registry.MOVE_ALIAS and c.depends_on == ()


def test_latest_broken_alias_ok_is_info() -> None:
    fn = fx.function(
        "fn",
        [P(A, "a"), N(A, "b"), N(A, "c")],
        versions=[fx.version("1", [N(A, "b"), N(A, "c")], [fx.fn_sg(A)])],
        aliases=[fx.alias("live", "1")],
    )
    p = plan(fx.vpc_world(A, "abc", functions=[fn]))
    assert finding(p, "fn", d.LATEST_BROKEN_ALIAS_OK).status == "info"
    assert [c.kind for c in p.changes] == [registry.UPDATE_VPC_CONFIG]


# ------------------------------------------------------------------------ cap


def test_max_changes_cap_defers_findings() -> None:
    world = fx.vpc_world(
        A,
        "abc",
        functions=[
            fx.function(name, [P(A, "a"), N(A, "b"), N(A, "c")]) for name in ("f1", "f2", "f3")
        ],
    )
    p = plan(world, fx.policy(max_changes=2))
    assert len(p.changes) == 2
    statuses = sorted(finding(p, n, d.PUBLIC_MIXED).status for n in ("f1", "f2", "f3"))
    assert statuses == ["deferred", "planned", "planned"]
    deferred = next(f for f in p.findings if f.status == "deferred")
    assert deferred.fixed_by == ()
    assert deferred.manual_step and "cap of 2" in deferred.manual_step
    assert p.summary.deferred == 1 and p.summary.changes == 2
    assert_plan_invariants(p)


def test_cap_never_keeps_a_change_whose_dependency_was_dropped() -> None:
    p = plan(
        iso_world(dns=(True, False)),
        fx.policy(**ENDPOINT_ONLY, allow_endpoint_creation=True, max_changes=2),
    )
    # The endpoint (third) would be cut: its DNS and SG changes fix nothing alone.
    assert p.changes == ()
    assert finding(p, "iso", d.ISOLATED_NO_ENDPOINT).status == "deferred"
    assert_plan_invariants(p)


def test_cap_drops_alias_move_with_its_latest_update() -> None:
    p = plan(alias_world(), fx.policy(max_changes=1))
    assert [c.kind for c in p.changes] == [registry.UPDATE_VPC_CONFIG]
    assert finding(p, "fn", d.ALIAS_BROKEN, "live").status == "deferred"
    assert finding(p, "fn", d.PUBLIC_MIXED).status == "planned"
    assert_plan_invariants(p)


# ------------------------------------------------------- kinds and invariants


def test_every_kind_declares_permissions() -> None:
    for name, spec in registry.KINDS.items():
        assert spec.name == name
        assert spec.permissions, name
        assert all(":" in perm for perm in spec.permissions)


def kitchen_sink() -> list[RegionInventory]:
    west = fx.vpc_world(
        "w",
        "ab",
        region="eu-west-1",
        isolated_tables="own",
        functions=[fx.function("west-iso", [I("w", "a")], v="w", region="eu-west-1")],
    )
    east = fx.add(
        alias_world(),
        fx.function("pub", [P(A, "a"), P(A, "b")]),
        fx.function("iso", [I(A, "a"), I(A, "b")]),
        fx.function("plain", None),
        fx.function("ok", [N(A, "a"), N(A, "b")]),
    )
    return [east, west]


def test_changes_carry_their_kinds_permissions_and_dependencies_come_first() -> None:
    p = plan(
        kitchen_sink(),
        fx.policy(
            allow_endpoint_creation=True,
            strategies=["add-nat-route", "keep-private-subnets", "lambda-endpoint"],
        ),
    )
    assert len({c.kind for c in p.changes}) >= 3
    assert_plan_invariants(p)
    assert p.regions == ("eu-west-1", "us-east-1")
    assert {c.region for c in p.changes} == {"eu-west-1", "us-east-1"}


def test_plan_is_deterministic_and_id_ignores_time() -> None:
    pol = fx.policy(allow_endpoint_creation=True)
    one = build_plan(fx.inventory(*kitchen_sink()), pol, fx.NOW)
    two = build_plan(fx.inventory(*kitchen_sink()), pol, fx.NOW)
    later = build_plan(fx.inventory(*kitchen_sink()), pol, "2030-01-01T00:00:00Z")
    assert one == two
    assert one.plan_id == later.plan_id
    assert one.digest != later.digest


def test_healthy_world_gives_an_empty_plan() -> None:
    world = fx.vpc_world(
        A,
        "abc",
        functions=[
            fx.function("ok-1", [N(A, "a"), N(A, "b")]),
            fx.function("ok-2", [N(A, "a"), N(A, "b"), N(A, "c")]),
            fx.function("plain", None),
            fx.function("exempt", [P(A, "a")], tags={"remediator:exempt": "true"}),
        ],
    )
    p = plan(world)
    assert p.changes == () and p.findings == ()
    assert (p.summary.healthy, p.summary.exempt, p.summary.not_in_vpc) == (2, 1, 1)


def test_exempt_function_by_rule_is_never_changed() -> None:
    world = fx.vpc_world(A, "abc", functions=[fx.function("db", [P(A, "a"), N(A, "b")])])
    p = plan(world, fx.policy(rules=[Rule(match_names=("db",), exempt=True)]))
    assert p.changes == ()


# ------------------------------------------- regressions (bugs found and fixed)


def test_az_finding_not_marked_planned_when_the_change_does_not_reach_min_azs() -> None:
    world = fx.vpc_world(A, "ab", nat_azs="a")
    world = fx.remove(world, N(A, "b"), fx.nat_rt(A, "b"))
    world = fx.add(world, fx.function("fn", [P(A, "a"), N(A, "a")]))
    p = plan(world, fx.policy(min_azs=2))
    (c,) = p.changes
    assert c.after["SubnetIds"] == [N(A, "a")]
    assert finding(p, "fn", d.PUBLIC_MIXED).status == "planned"
    assert finding(p, "fn", d.AZ_BELOW_MIN).status == "blocked"


def test_first_strategy_that_fixes_everything_wins() -> None:
    world = fx.vpc_world(A, "abc", functions=[fx.function("fn", [P(A, "a"), I(A, "b"), N(A, "c")])])
    p = plan(
        world,
        fx.policy(
            strategies=["lambda-endpoint", "keep-private-subnets"], allow_endpoint_creation=True
        ),
    )
    assert [c.kind for c in p.changes] == [registry.UPDATE_VPC_CONFIG]
    assert finding(p, "fn", d.PUBLIC_MIXED).status == "planned"
    assert finding(p, "fn", d.ISOLATED_NO_ENDPOINT).status == "planned"


def test_empty_strategies_blocks_instead_of_crashing() -> None:
    world = fx.vpc_world(A, "abc", functions=[fx.function("fn", [P(A, "a"), N(A, "b")])])
    p = plan(world, fx.policy(strategies=[]))
    assert p.changes == ()
    assert finding(p, "fn", d.PUBLIC_MIXED).status == "blocked"


def test_keep_private_keeps_subnets_of_unjudged_egress() -> None:
    world = fx.set_default_route(fx.vpc_world(A, "abc"), fx.nat_rt(A, "b"), "tgw-0123")
    world = fx.add(world, fx.function("fn", [P(A, "a"), N(A, "b"), N(A, "c")]))
    (c,) = plan(world).changes
    assert N(A, "b") in c.after["SubnetIds"]
    assert P(A, "a") not in c.after["SubnetIds"]


def test_no_endpoint_change_when_the_subnet_fix_removes_the_isolated_subnets() -> None:
    world = fx.add(
        fx.vpc_world(A, "abc"),
        fx.security_group(EP_SG, A, [fx.allow_443_from_groups(fx.fn_sg(A))]),
        fx.endpoint(A, [I(A, "a")], [EP_SG], private_dns=False),
        fx.function("fn", [I(A, "a"), N(A, "b"), N(A, "c")]),
    )
    p = plan(world)
    assert [c.kind for c in p.changes] == [registry.UPDATE_VPC_CONFIG]


def test_az_only_finding_that_cannot_be_met_plans_no_change() -> None:
    # NAT-routed subnets exist in two AZs only; the policy asks for three.
    world = fx.vpc_world(A, "abcd", nat_azs="ad", isolated=False)
    world = fx.remove(world, N(A, "b"), N(A, "c"), fx.nat_rt(A, "b"), fx.nat_rt(A, "c"))
    world = fx.add(world, fx.function("fn", [N(A, "a")]))
    p = plan(world, fx.policy(min_azs=3))
    assert p.changes == ()
    f = finding(p, "fn", d.AZ_BELOW_MIN)
    assert f.status == "blocked"
    assert f.manual_step and "2 AZ" in f.manual_step
    assert_plan_invariants(p)


def test_empty_strategies_manual_step_says_why() -> None:
    world = fx.vpc_world(A, "abc", functions=[fx.function("fn", [P(A, "a"), N(A, "b")])])
    f = finding(plan(world, fx.policy(strategies=[])), "fn", d.PUBLIC_MIXED)
    assert f.manual_step is not None
    assert not f.manual_step.startswith(".")
    assert "strateg" in f.manual_step


def test_cap_removes_deferred_findings_from_kept_changes_fixes() -> None:
    # fa needs rtb-iso-a; fb needs rtb-iso-a and rtb-iso-b. A cap of one keeps
    # the rtb-iso-a change: fa is planned, fb is deferred.
    world = fx.vpc_world(
        A,
        "ab",
        isolated_tables="own",
        functions=[fx.function("fa", [I(A, "a")]), fx.function("fb", [I(A, "a"), I(A, "b")])],
    )
    p = plan(world, fx.policy(**NAT_ROUTE_ONLY, max_changes=1))
    (c,) = p.changes
    assert finding(p, "fa", d.ISOLATED_NO_ENDPOINT).status == "planned"
    deferred = finding(p, "fb", d.ISOLATED_NO_ENDPOINT)
    assert deferred.status == "deferred"
    assert deferred.id not in c.fixes


def test_change_fixes_lists_only_the_findings_it_fixes() -> None:
    # The only NAT-routed subnet is in AZ a: the NAT-broken subnet is replaced
    # by it, but a second AZ cannot be reached.
    world = fx.vpc_world(A, "ab", nat_azs="a")
    world = fx.remove(world, N(A, "b"), fx.nat_rt(A, "b"))
    world = fx.add(world, fx.subnet("subnet-x", A, "a"))
    world = fx.add(
        world, fx.route_table("rtb-x", A, [fx.default_route("nat-gone", "blackhole")], ["subnet-x"])
    )
    world = fx.add(world, fx.function("fn", ["subnet-x"]))
    p = plan(world, fx.policy(min_azs=2, strategies=["keep-private-subnets"]))
    (c,) = p.changes
    assert c.after["SubnetIds"] == [N(A, "a")]
    assert finding(p, "fn", d.NAT_BROKEN).status == "planned"
    az = finding(p, "fn", d.AZ_BELOW_MIN)
    assert az.status == "blocked"
    assert az.id not in c.fixes


def test_private_dns_change_keeps_other_vpc_functions_working() -> None:
    world = fx.add(
        fx.vpc_world(A, "ab"),
        fx.security_group(EP_SG, A, [fx.allow_443_from_groups(fx.fn_sg(A))]),
        fx.endpoint(A, [I(A, "a")], [EP_SG], private_dns=False),
        fx.function("iso", [I(A, "a"), I(A, "b")]),
        # healthy today: NAT-routed, and the endpoint's DNS is not active
        fx.function("bystander", [N(A, "a"), N(A, "b")], ["sg-a-other"]),
    )
    p = plan(world, fx.policy(**ENDPOINT_ONLY))
    assert finding(p, "iso", d.ENDPOINT_PRIVATE_DNS_OFF).status == "planned"
    assert not [f for f in p.findings if f.function == "bystander"]
    # apply the plan
    after = world
    for c in p.changes:
        if c.kind == registry.ENABLE_ENDPOINT_PRIVATE_DNS:
            ep = next(e for e in after.vpc_endpoints if e.vpc_endpoint_id == c.target)
            after = fx.add(after, ep.model_copy(update={"private_dns_enabled": True}))
        elif c.kind == registry.AUTHORIZE_ENDPOINT_INGRESS:
            sg = next(g for g in after.security_groups if g.group_id == c.target)
            rule = fx.allow_443_from_groups(*c.after["SourceSecurityGroupIds"])
            after = fx.add(after, sg.model_copy(update={"ingress": (*sg.ingress, rule)}))
    replan = plan(after, fx.policy(**ENDPOINT_ONLY))
    assert [f.code for f in replan.findings if f.function == "bystander"] == []


def test_a_blocked_endpoint_repair_plans_no_change() -> None:
    # The VPC's DNS attributes are off, so the repair would start by turning
    # them on; the endpoint is pending (or has no group to open), so the
    # strategy is blocked and must leave nothing behind: no VPC-wide DNS
    # change for findings that stay blocked.
    for state, groups in (("pending", [EP_SG]), ("available", [])):
        world = fx.vpc_world(A, "ab", public=False, dns=(False, True))
        world = fx.add(
            world,
            fx.security_group(EP_SG, A),
            fx.endpoint(A, [I(A, "a")], groups, private_dns=False, state=state),
            fx.function("fn", [I(A, "a"), I(A, "b")]),
        )
        p = plan(world)
        assert p.changes == (), state
        assert all(f.status == "blocked" for f in p.findings), state
        assert_plan_invariants(p)


def test_strategies_cover_the_policy_and_declare_what_they_fix() -> None:
    from typing import get_args

    from remediator.domain.findings import CODES
    from remediator.domain.policy import Strategy
    from remediator.planner.strategies import MOVE_ALIAS, SUBNET_STRATEGIES

    assert set(SUBNET_STRATEGIES) == set(get_args(Strategy))
    for name, strategy in {**SUBNET_STRATEGIES, MOVE_ALIAS.name: MOVE_ALIAS}.items():
        assert strategy.name == name
        assert strategy.codes and strategy.codes <= set(CODES), name
        assert strategy.manual, name


def test_order_sweeps_in_phase_target_id_order() -> None:
    # Each sweep places, in (phase, target, id) order, every change whose
    # dependencies are placed: x waits for z and comes after w, which is
    # ready in the first sweep (a ready-first topological order would put x
    # before w).
    from remediator.planner.order import order

    def change(cid: str, *deps: str) -> Change:
        return registry.build(
            {
                "id": cid,
                "kind": registry.PUT_NAT_ROUTE,
                "region": fx.REGION,
                "target": cid,
                "after": {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-1"},
                "depends_on": deps,
                "risk": "low",
                "reason": "test",
                "fingerprint": fx_fingerprint(),
            }
        )

    changes = {c.id: c for c in (change("x", "z"), change("y"), change("z"), change("w"))}
    changes["w"] = changes["w"].model_copy(update={"target": "zz"})
    assert [c.id for c in order(changes)] == ["y", "z", "w", "x"]


def fx_fingerprint() -> Fingerprint:
    from remediator.domain.canonical import fingerprint

    return fingerprint({})
