"""diagnose(): finding codes, shares, evidence, statuses; endpoint and alias cases."""

from __future__ import annotations

import pytest

from remediator import diagnose as d
from remediator.diagnose import Diagnosis, diagnose
from remediator.domain.inventory import Function, RegionInventory
from remediator.domain.plan import Finding, FunctionSummary
from remediator.domain.policy import Policy, Rule, default_policy
from tests import factories as fx

A = "a"
EP_SG = "sg-a-endpoint"


def run(world: RegionInventory, policy: Policy | None = None) -> Diagnosis:
    return diagnose(fx.inventory(world), policy or default_policy())


def findings_of(diag: Diagnosis, name: str) -> list[Finding]:
    return [f for f in diag.findings if f.function == name]


def codes(diag: Diagnosis, name: str, qualifier: str | None = None) -> set[str]:
    return {
        f.code for f in findings_of(diag, name) if qualifier is None or f.qualifier == qualifier
    }


def summary(diag: Diagnosis, name: str) -> FunctionSummary:
    return next(s for s in diag.functions if s.name == name)


def world_with(*functions: Function, **kw: object) -> RegionInventory:
    return fx.vpc_world(A, "abc", functions=functions, **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------ subnet codes

P, N, I = fx.pub, fx.natsub, fx.iso  # noqa: E741


@pytest.mark.parametrize(
    ("subnets", "expected", "share"),
    [
        pytest.param([P(A, "a"), N(A, "b"), N(A, "c")], {d.PUBLIC_MIXED}, 0.333, id="mixed-1-of-3"),
        pytest.param([P(A, "a"), P(A, "b"), N(A, "c")], {d.PUBLIC_MIXED}, 0.667, id="mixed-2-of-3"),
        pytest.param([P(A, "a"), P(A, "b")], {d.PUBLIC_ALL}, 1.0, id="all-public"),
        pytest.param([I(A, "a"), I(A, "b")], {d.ISOLATED_NO_ENDPOINT}, 1.0, id="isolated"),
        pytest.param(
            [I(A, "a"), N(A, "b"), N(A, "c")], {d.ISOLATED_NO_ENDPOINT}, 0.333, id="isolated-1-of-3"
        ),
        pytest.param(
            [P(A, "a"), I(A, "b"), N(A, "c")],
            {d.PUBLIC_MIXED, d.ISOLATED_NO_ENDPOINT},
            0.333,
            id="public-and-isolated",
        ),
    ],
)
def test_subnet_codes_and_share(subnets: list[str], expected: set[str], share: float) -> None:
    diag = run(world_with(fx.function("fn", subnets)))
    found = findings_of(diag, "fn")
    assert {f.code for f in found} == expected
    first = next(f for f in found if f.code in expected)
    assert first.affected_share == share
    assert summary(diag, "fn").status == "affected"
    assert all(f.qualifier == "$LATEST" and f.status == "open" for f in found)


def test_mixed_public_evidence_lists_only_the_public_subnet() -> None:
    diag = run(world_with(fx.function("fn", [P(A, "a"), N(A, "b"), N(A, "c")])))
    (f,) = findings_of(diag, "fn")
    assert f.code == d.PUBLIC_MIXED
    assert f.severity == "high"
    assert f.subnet_ids == (P(A, "a"),)
    (ev,) = f.evidence
    assert (ev.egress, ev.route_table_id, ev.target) == ("public", fx.public_rt(A), "igw-a")
    assert f.function_arn == fx.arn("fn")


def test_all_public_is_critical() -> None:
    diag = run(world_with(fx.function("fn", [P(A, "a"), P(A, "b")])))
    (f,) = findings_of(diag, "fn")
    assert (f.code, f.severity, f.affected_share) == (d.PUBLIC_ALL, "critical", 1.0)


def test_nat_broken() -> None:
    world = fx.set_default_route(world_with(), fx.nat_rt(A, "a"), "nat-gone", "blackhole")
    world = fx.add(world, fx.function("fn", [N(A, "a"), N(A, "b")]))
    diag = run(world)
    (f,) = findings_of(diag, "fn")
    assert f.code == d.NAT_BROKEN
    assert f.subnet_ids == (N(A, "a"),)
    assert f.affected_share == 0.5
    assert f.evidence[0].target_state == "blackhole"


def test_nat_gateway_failed_is_nat_broken_for_every_subnet_routed_to_it() -> None:
    world = fx.add(
        world_with(fx.function("fn", [N(A, "a"), N(A, "b")])),
        fx.nat(fx.nat_id(A, "a"), A, P(A, "a"), state="failed"),
    )
    (f,) = findings_of(run(world), "fn")
    assert f.code == d.NAT_BROKEN
    assert f.subnet_ids == (N(A, "a"),)


def test_egress_unknown_is_info_and_status_egress_unknown() -> None:
    world = fx.set_default_route(world_with(), fx.nat_rt(A, "a"), "tgw-0123")
    world = fx.add(world, fx.function("fn", [N(A, "a"), N(A, "b")]))
    diag = run(world)
    (f,) = findings_of(diag, "fn")
    assert (f.code, f.severity, f.status) == (d.EGRESS_UNKNOWN, "info", "info")
    assert summary(diag, "fn").status == "egress-unknown"


def test_missing_subnet() -> None:
    diag = run(world_with(fx.function("fn", [N(A, "a"), N(A, "b"), "subnet-gone"])))
    assert codes(diag, "fn") == {d.SUBNET_MISSING}
    (f,) = findings_of(diag, "fn")
    assert f.subnet_ids == ("subnet-gone",)


# ------------------------------------------------------------------------- AZs


@pytest.mark.parametrize(
    ("min_azs", "subnets", "expected"),
    [
        (2, [N(A, "a")], {d.AZ_BELOW_MIN}),
        (1, [N(A, "a")], set()),
        (2, [N(A, "a"), N(A, "b")], set()),
        (3, [N(A, "a"), N(A, "b")], {d.AZ_BELOW_MIN}),
        (3, [N(A, "a"), N(A, "b"), N(A, "c")], set()),
    ],
)
def test_az_count_below_minimum(min_azs: int, subnets: list[str], expected: set[str]) -> None:
    diag = run(world_with(fx.function("fn", subnets)), fx.policy(min_azs=min_azs))
    assert codes(diag, "fn") == expected
    if expected:
        (f,) = findings_of(diag, "fn")
        assert f.severity == "low"


def test_az_rule_override_applies_per_function() -> None:
    pol = fx.policy(
        rules=[Rule(match_names=("solo",), min_azs=1)],
        min_azs=2,
    )
    diag = run(world_with(fx.function("solo", [N(A, "a")]), fx.function("other", [N(A, "a")])), pol)
    assert codes(diag, "solo") == set()
    assert codes(diag, "other") == {d.AZ_BELOW_MIN}


# ------------------------------------------------------------------- endpoints


def endpoint_world(
    fn_subnets: list[str],
    *,
    ingress: tuple[object, ...] = (),
    private_dns: bool = True,
    dns: tuple[bool | None, bool | None] = (True, True),
    state: str = "available",
) -> RegionInventory:
    world = fx.vpc_world(A, "abc", dns=dns)
    return fx.add(
        world,
        fx.security_group(EP_SG, A, ingress),  # type: ignore[arg-type]
        fx.endpoint(A, [I(A, "a"), I(A, "b")], [EP_SG], private_dns=private_dns, state=state),
        fx.function("fn", fn_subnets),
    )


GOOD_INGRESS = (fx.allow_443_from_groups(fx.fn_sg(A)),)


def test_isolated_with_usable_endpoint_has_no_isolated_finding() -> None:
    diag = run(endpoint_world([I(A, "a"), I(A, "b")], ingress=GOOD_INGRESS))
    assert codes(diag, "fn") == set()
    assert summary(diag, "fn").status == "healthy"


def test_isolated_with_usable_endpoint_and_nat_subnets_is_isolated_mixed() -> None:
    diag = run(endpoint_world([I(A, "a"), N(A, "b")], ingress=GOOD_INGRESS))
    assert codes(diag, "fn") == {d.ISOLATED_MIXED}


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param(
            dict(ingress=GOOD_INGRESS, private_dns=False),
            {d.ISOLATED_NO_ENDPOINT, d.ENDPOINT_PRIVATE_DNS_OFF},
            id="private-dns-off",
        ),
        pytest.param(
            dict(ingress=GOOD_INGRESS, dns=(True, False)),
            {d.ISOLATED_NO_ENDPOINT, d.ENDPOINT_VPC_DNS_OFF},
            id="vpc-dns-hostnames-off",
        ),
        pytest.param(
            dict(ingress=GOOD_INGRESS, dns=(False, True)),
            {d.ISOLATED_NO_ENDPOINT, d.ENDPOINT_VPC_DNS_OFF},
            id="vpc-dns-support-off",
        ),
        pytest.param(
            dict(ingress=()),
            {d.ISOLATED_NO_ENDPOINT, d.ENDPOINT_SG_BLOCKS},
            id="sg-blocks",
        ),
        pytest.param(
            dict(ingress=(fx.allow_443_from_groups("sg-someone-else"),)),
            {d.ISOLATED_NO_ENDPOINT, d.ENDPOINT_SG_BLOCKS},
            id="sg-allows-other-group-only",
        ),
        pytest.param(
            dict(
                ingress=(
                    fx.SecurityGroupRule(
                        protocol="tcp", from_port=80, to_port=80, group_ids=(fx.fn_sg(A),)
                    ),
                )
            ),
            {d.ISOLATED_NO_ENDPOINT, d.ENDPOINT_SG_BLOCKS},
            id="sg-allows-port-80-only",
        ),
        pytest.param(
            dict(ingress=(fx.allow_443_from_cidrs("192.168.0.0/16"),)),
            {d.ISOLATED_NO_ENDPOINT, d.ENDPOINT_SG_BLOCKS},
            id="sg-cidr-not-covering",
        ),
        pytest.param(
            dict(ingress=GOOD_INGRESS, state="pending"),
            {d.ISOLATED_NO_ENDPOINT, d.ENDPOINT_NOT_AVAILABLE},
            id="endpoint-pending",
        ),
        pytest.param(dict(ingress=GOOD_INGRESS), set(), id="good-group-rule"),
        pytest.param(
            dict(ingress=(fx.allow_443_from_groups(fx.fn_sg(A), protocol="-1"),)),
            set(),
            id="good-all-traffic-rule",
        ),
        pytest.param(
            dict(ingress=(fx.allow_443_from_cidrs(f"10.{fx._octet(A)}.0.0/16"),)),
            set(),
            id="good-cidr-rule-covering-subnets",
        ),
        pytest.param(
            dict(ingress=(fx.allow_443_from_cidrs(fx.subnet_cidr(A, 20)),)),
            {d.ISOLATED_NO_ENDPOINT, d.ENDPOINT_SG_BLOCKS},
            id="cidr-covers-one-subnet-of-two",
        ),
    ],
)
def test_endpoint_problems_for_isolated_function(
    kwargs: dict[str, object], expected: set[str]
) -> None:
    diag = run(endpoint_world([I(A, "a"), I(A, "b")], **kwargs))  # type: ignore[arg-type]
    assert codes(diag, "fn") == expected


def test_endpoint_sg_blocking_matters_for_nat_functions_when_private_dns_is_active() -> None:
    # Private DNS is VPC-wide: the Lambda API resolves to the endpoint even
    # from NAT subnets, so a blocking endpoint group breaks them too.
    diag = run(endpoint_world([N(A, "a"), N(A, "b")], ingress=()))
    assert codes(diag, "fn") == {d.ENDPOINT_SG_BLOCKS}
    (f,) = findings_of(diag, "fn")
    assert f.subnet_ids == (N(A, "a"), N(A, "b"))


def test_endpoint_private_dns_off_does_not_matter_for_nat_functions() -> None:
    diag = run(endpoint_world([N(A, "a"), N(A, "b")], ingress=(), private_dns=False))
    assert codes(diag, "fn") == set()


def test_dead_endpoint_is_ignored() -> None:
    diag = run(endpoint_world([I(A, "a"), I(A, "b")], ingress=GOOD_INGRESS, state="deleted"))
    assert codes(diag, "fn") == {d.ISOLATED_NO_ENDPOINT}


def test_endpoint_of_another_service_is_ignored() -> None:
    world = fx.add(
        fx.vpc_world(A, "abc"),
        fx.security_group(EP_SG, A, GOOD_INGRESS),
        fx.endpoint(A, [I(A, "a")], [EP_SG], service="s3"),
        fx.function("fn", [I(A, "a"), I(A, "b")]),
    )
    assert codes(run(world), "fn") == {d.ISOLATED_NO_ENDPOINT}


def test_endpoint_rule_for_other_group_does_not_allow_subnets_of_unknown_cidr() -> None:
    world = endpoint_world([I(A, "a"), I(A, "b")], ingress=(fx.allow_443_from_groups("sg-else"),))
    blank = [s.model_copy(update={"cidr_block": ""}) for s in world.subnets]
    world = fx.add(world, *blank)
    assert codes(run(world), "fn") == {d.ISOLATED_NO_ENDPOINT, d.ENDPOINT_SG_BLOCKS}


# --------------------------------------------------------------------- aliases

OLD_BROKEN = [P(A, "a"), N(A, "b")]
GOOD = [N(A, "a"), N(A, "b")]
BAD = [P(A, "a"), P(A, "b")]


def test_alias_on_old_broken_version_while_latest_is_fine() -> None:
    fn = fx.function(
        "fn",
        GOOD,
        versions=[fx.version("1", OLD_BROKEN, [fx.fn_sg(A)])],
        aliases=[fx.alias("live", "1")],
    )
    diag = run(world_with(fn))
    (f,) = findings_of(diag, "fn")
    assert f.code == d.ALIAS_BROKEN
    assert f.qualifier == "live"
    assert f.subnet_ids == (P(A, "a"),)
    assert f.affected_share == 0.5
    assert "is fine" in f.detail
    assert summary(diag, "fn").status == "affected"


def test_alias_on_latest_gets_no_alias_finding() -> None:
    fn = fx.function("fn", GOOD, aliases=[fx.alias("live", "$LATEST")])
    assert codes(run(world_with(fn)), "fn") == set()


def test_latest_broken_while_alias_version_is_fine() -> None:
    fn = fx.function(
        "fn",
        BAD,
        versions=[fx.version("1", GOOD, [fx.fn_sg(A)])],
        aliases=[fx.alias("live", "1")],
    )
    diag = run(world_with(fn))
    assert codes(diag, "fn") == {d.PUBLIC_ALL, d.LATEST_BROKEN_ALIAS_OK}
    ok = next(f for f in findings_of(diag, "fn") if f.code == d.LATEST_BROKEN_ALIAS_OK)
    assert ok.qualifier == "$LATEST"
    assert ok.severity == "medium"
    assert "live" in ok.detail


def test_both_broken_gives_alias_finding_saying_broken_too() -> None:
    fn = fx.function(
        "fn",
        BAD,
        versions=[fx.version("1", OLD_BROKEN, [fx.fn_sg(A)])],
        aliases=[fx.alias("live", "1")],
    )
    diag = run(world_with(fn))
    assert codes(diag, "fn") == {d.PUBLIC_ALL, d.ALIAS_BROKEN}
    alias_f = next(f for f in findings_of(diag, "fn") if f.code == d.ALIAS_BROKEN)
    assert "broken too" in alias_f.detail


def test_alias_on_version_without_vpc_is_not_judged() -> None:
    fn = fx.function("fn", GOOD, versions=[fx.version("1", None)], aliases=[fx.alias("live", "1")])
    assert codes(run(world_with(fn)), "fn") == set()


def test_finding_ids_unique_with_two_aliases_on_fine_versions() -> None:
    fn = fx.function(
        "two-ok",
        BAD,
        versions=[fx.version("1", GOOD, [fx.fn_sg(A)]), fx.version("2", GOOD, [fx.fn_sg(A)])],
        aliases=[fx.alias("live", "1"), fx.alias("beta", "2")],
    )
    ids = [f.id for f in run(world_with(fn)).findings]
    assert len(ids) == len(set(ids)), ids


def test_finding_ids_unique_with_weighted_alias_on_two_broken_versions() -> None:
    canary = fx.function(
        "canary",
        GOOD,
        versions=[
            fx.version("1", OLD_BROKEN, [fx.fn_sg(A)]),
            fx.version("2", BAD, [fx.fn_sg(A)]),
        ],
        aliases=[fx.alias("live", "1", "2")],
    )
    ids = [f.id for f in run(world_with(canary)).findings]
    assert len(ids) == len(set(ids)), ids


# ------------------------------------------------------- statuses and exemption


def test_non_vpc_function_is_not_in_vpc_without_findings() -> None:
    diag = run(world_with(fx.function("plain", None)))
    assert findings_of(diag, "plain") == []
    s = summary(diag, "plain")
    assert s.status == "not-in-vpc"
    assert s.vpc_id is None and s.finding_ids == ()


def test_exempt_by_tag_with_default_policy() -> None:
    fn = fx.function("db-only", BAD, tags={"remediator:exempt": "true"})
    diag = run(world_with(fn), default_policy())
    assert findings_of(diag, "db-only") == []
    s = summary(diag, "db-only")
    assert s.status == "exempt"
    assert s.exempt_reason and "remediator:exempt" in s.exempt_reason
    assert s.vpc_id == "vpc-a"
    assert [x.egress for x in s.subnets] == ["public", "public"]


def test_exempt_tag_with_other_value_is_not_exempt() -> None:
    fn = fx.function("fn", BAD, tags={"remediator:exempt": "false"})
    assert summary(run(world_with(fn)), "fn").status == "affected"


def test_exempt_by_name_rule() -> None:
    pol = fx.policy(rules=[Rule(name="dbs", match_names=("db-*",), exempt=True)])
    diag = run(world_with(fx.function("db-writer", BAD), fx.function("api", BAD)), pol)
    assert findings_of(diag, "db-writer") == []
    s = summary(diag, "db-writer")
    assert s.status == "exempt"
    assert s.exempt_reason and "dbs" in s.exempt_reason
    assert summary(diag, "api").status == "affected"


def test_healthy() -> None:
    diag = run(world_with(fx.function("ok", GOOD)))
    assert findings_of(diag, "ok") == []
    s = summary(diag, "ok")
    assert s.status == "healthy"
    assert s.availability_zones == ("us-east-1a", "us-east-1b")
    assert [x.egress for x in s.subnets] == ["nat", "nat"]


def test_summary_finding_ids_match_findings() -> None:
    diag = run(world_with(fx.function("fn", [P(A, "a"), I(A, "b")])))
    s = summary(diag, "fn")
    assert set(s.finding_ids) == {f.id for f in findings_of(diag, "fn")}


# ------------------------------------------------------------------ stability


def busy_world() -> RegionInventory:
    return world_with(
        fx.function("mixed", [P(A, "a"), N(A, "b"), N(A, "c")]),
        fx.function("public", BAD),
        fx.function("iso", [I(A, "a"), I(A, "b")]),
        fx.function("solo", [N(A, "a")]),
        fx.function("ok", GOOD),
        fx.function(
            "aliased",
            GOOD,
            versions=[fx.version("1", OLD_BROKEN, [fx.fn_sg(A)])],
            aliases=[fx.alias("live", "1")],
        ),
    )


def test_finding_ids_are_stable_across_runs() -> None:
    first = run(busy_world())
    second = run(busy_world())
    assert [f.id for f in first.findings] == [f.id for f in second.findings]
    assert first == second
    assert all(f.id.startswith("f-") for f in first.findings)


def test_finding_id_does_not_depend_on_other_functions() -> None:
    alone = run(world_with(fx.function("mixed", [P(A, "a"), N(A, "b"), N(A, "c")])))
    crowd = run(busy_world())
    assert {f.id for f in findings_of(alone, "mixed")} == {
        f.id for f in findings_of(crowd, "mixed")
    }


def test_output_is_sorted() -> None:
    diag = run(busy_world())
    keys = [(f.region, f.function, f.qualifier, f.code) for f in diag.findings]
    assert keys == sorted(keys)
    assert [s.name for s in diag.functions] == sorted(s.name for s in diag.functions)


def test_every_finding_code_is_registered_and_documented() -> None:
    from pathlib import Path

    from remediator.domain import findings as registry

    codes = {v for k, v in vars(registry).items() if k.isupper() and isinstance(v, str)}
    assert codes == set(registry.CODES)
    assert codes >= registry.SUBNET_CODES | registry.ENDPOINT_CODES
    docs = (Path(__file__).parents[2] / "docs" / "findings.md").read_text()
    assert [c for c in sorted(codes) if f"`{c}`" not in docs] == []
    # diagnosis speaks the same codes (tests and callers use d.<CODE>)
    assert d.CODES is registry.CODES and d.PUBLIC_MIXED == registry.PUBLIC_MIXED
