"""Nothing decisive is read from the plan file alone (pure parts):
``changes.risk`` gives the planner's risks and re-derives them from a change's
state; ``planner.justify`` accepts what the planner writes and refuses a
change its plan's findings do not justify."""

from __future__ import annotations

from typing import Any

import pytest

from remediator.changes import registry
from remediator.changes.registry import Change
from remediator.changes.risk import change_risk, derived_risk, effective_risk
from remediator.domain.canonical import state_hash
from remediator.domain.plan import Finding
from remediator.planfile.model import Plan
from remediator.planner.justify import IN_VPC_TARGETS, justify, kinds_for
from tests import factories as fx
from tests.unit.test_planner import (
    ENDPOINT_ONLY,
    NAT_ROUTE_ONLY,
    iso_world,
    plan,
    shared_main_world,
)

A = "a"


def _mixed() -> Plan:
    world = fx.vpc_world(A, "ab")
    fn = fx.function("api", [fx.pub(A, "a"), fx.natsub(A, "a"), fx.natsub(A, "b")])
    other = fx.function("other", [fx.natsub(A, "a"), fx.natsub(A, "b")])
    return plan(fx.add(world, fn, other))


def _plans() -> dict[str, Plan]:
    return {
        "mixed": _mixed(),
        "shared-main": plan(
            shared_main_world(),
            fx.policy(**NAT_ROUTE_ONLY, allow_shared_route_table_changes=True),
        ),
        "endpoint": plan(
            iso_world(dns=(True, False)),
            fx.policy(**ENDPOINT_ONLY, allow_endpoint_creation=True),
        ),
        "single-az": plan(fx.add(fx.vpc_world(A, "ab"), fx.function("one", [fx.pub(A, "a")]))),
    }


@pytest.mark.parametrize("name", sorted(_plans()))
def test_the_planners_changes_are_justified_and_their_risk_is_derived(name: str) -> None:
    p = _plans()[name]
    assert p.changes
    assert justify(p).refused == []
    for c in p.changes:
        shared = (
            (c.blast_radius.note.startswith("main") or len(c.blast_radius.subnet_ids) > 1)
            if c.kind == registry.PUT_NAT_ROUTE
            else None
        )
        assert derived_risk(c, shared_table=shared) == c.risk, (c.kind, c.target)


def test_the_planners_kinds_all_have_a_rule() -> None:
    kinds = {
        k
        for code in ("public-subnets-mixed", "isolated-no-endpoint", "alias-config-broken")
        for k in kinds_for(code)
    }
    assert kinds <= set(registry.KINDS)
    assert registry.UPDATE_VPC_CONFIG in kinds_for("public-subnets-mixed")
    assert registry.MOVE_ALIAS not in kinds_for("public-subnets-mixed")


@pytest.mark.parametrize(
    ("kind", "facts", "risk"),
    [
        (registry.UPDATE_VPC_CONFIG, {}, "low"),
        (registry.UPDATE_VPC_CONFIG, {"adds_subnets": True}, "medium"),
        (registry.PUT_NAT_ROUTE, {}, "medium"),
        (registry.PUT_NAT_ROUTE, {"shared_table": True}, "high"),
        (registry.MOVE_ALIAS, {}, "high"),
        (registry.CREATE_LAMBDA_ENDPOINT, {}, "high"),
        (registry.ENABLE_ENDPOINT_PRIVATE_DNS, {}, "high"),
        (registry.ENABLE_VPC_DNS, {}, "medium"),
        (registry.CREATE_ENDPOINT_SG, {}, "low"),
        (registry.AUTHORIZE_ENDPOINT_INGRESS, {}, "low"),
        ("no.such-kind", {}, "high"),
    ],
)
def test_change_risk(kind: str, facts: dict[str, bool], risk: str) -> None:
    assert change_risk(kind, **facts) == risk


def test_a_risk_lowered_in_the_file_does_not_lower_the_effective_risk() -> None:
    p = _plans()["single-az"]  # the fix adds a NAT-routed subnet: medium
    medium = next(c for c in p.changes if c.risk == "medium")
    lowered = medium.model_copy(update={"risk": "low"})
    assert effective_risk(lowered) == "medium"
    # a risk raised in the file is kept (the higher of the two)
    assert effective_risk(medium.model_copy(update={"risk": "high"})) == "high"


def test_a_route_on_a_table_that_is_shared_live_is_high_whatever_the_file_says() -> None:
    p = plan(
        shared_main_world(), fx.policy(**NAT_ROUTE_ONLY, allow_shared_route_table_changes=True)
    )
    (c,) = p.changes
    lowered = c.model_copy(update={"risk": "medium"})
    assert effective_risk(lowered, shared_table=True) == "high"
    assert effective_risk(lowered, shared_table=False) == "medium"


# ------------------------------------------------------------- forgeries


def _replace(p: Plan, change: Change, **update: Any) -> Plan:
    data = change.model_dump(mode="json")
    data.update(update)
    edited = registry.build(data)
    return p.model_copy(
        update={"changes": tuple(edited if c.id == change.id else c for c in p.changes)}
    )


def _finding(p: Plan, function: str) -> Finding:
    return next(f for f in p.findings if f.function == function)


def _vpc_change(p: Plan, name: str) -> Change:
    return next(
        c for c in p.changes if c.kind == registry.UPDATE_VPC_CONFIG and c.target.endswith(name)
    )


def _forge(case: str) -> tuple[Plan, str, str]:
    """(forged plan, id of the forged change, what the refusal says)."""
    p = _mixed()
    c = _vpc_change(p, ":api")
    after = c.model_dump(mode="json")["after"]
    if case == "no-fixes":
        return _replace(p, c, fixes=[]), c.id, "fixes no finding"
    if case == "unknown-finding":
        return _replace(p, c, fixes=["f-0000000000"]), c.id, "does not have"
    if case == "another-function":
        return _replace(p, c, target=fx.arn("other")), c.id, "not function api"
    if case == "no-finding-function":
        return _replace(p, c, target=fx.arn("nobody")), c.id, "not function api"
    if case == "swapped-security-group":
        return (
            _replace(p, c, after={**after, "SecurityGroupIds": ["sg-attacker"]}),
            c.id,
            "security groups",
        )
    if case == "wrong-kind":
        # an alias move "fixing" a subnet finding: no strategy for it makes one
        data = {
            **c.model_dump(mode="json"),
            "kind": registry.MOVE_ALIAS,
            "target": c.target + ":live",
            "before": {"FunctionVersion": "1"},
            "after": {"FunctionVersion": "$NEW", "PublishFrom": "$LATEST", "CodeSha256": "x"},
        }
        data["fingerprint"] = {
            "revision_id": None,
            "state": {"AliasArn": c.target + ":live", "FunctionVersion": "1"},
            "state_hash": state_hash({"AliasArn": c.target + ":live", "FunctionVersion": "1"}),
        }
        edited = registry.build(data)
        return (
            p.model_copy(
                update={"changes": tuple(edited if x.id == c.id else x for x in p.changes)}
            ),
            c.id,
            "no strategy",
        )
    if case == "state-hash":
        fp = c.fingerprint.model_dump(mode="json")
        fp["state_hash"] = "sha256:" + "0" * 64
        return _replace(p, c, fingerprint=fp), c.id, "state_hash"
    if case == "blocked-finding":
        f = next(f for f in p.findings if f.id in c.fixes)
        blocked = f.model_copy(update={"status": "blocked", "fixed_by": ()})
        return (
            p.model_copy(
                update={"findings": tuple(blocked if x.id == f.id else x for x in p.findings)}
            ),
            c.id,
            "not planned",
        )
    raise AssertionError(case)


CASES = [
    "no-fixes",
    "unknown-finding",
    "another-function",
    "no-finding-function",
    "swapped-security-group",
    "wrong-kind",
    "state-hash",
    "blocked-finding",
]


@pytest.mark.parametrize("case", CASES)
def test_an_unjustified_change_is_refused(case: str) -> None:
    forged, cid, why = _forge(case)
    refused = justify(forged).refused
    assert [c.id for c, _ in refused] == [cid]
    assert why in refused[0][1]


def test_an_existing_endpoint_or_group_target_must_be_in_the_functions_vpc() -> None:
    p = plan(iso_world(dns=(True, False)), fx.policy(**ENDPOINT_ONLY, allow_endpoint_creation=True))
    verdict = justify(p)
    for c in p.changes:
        if c.kind in IN_VPC_TARGETS:
            assert verdict.in_vpc[c.id] == {fx.vpc_id(A)}
    # a VpcConfig's new subnets are checked live against the function's VPC
    m = _mixed()
    assert justify(m).in_vpc[_vpc_change(m, ":api").id] == {fx.vpc_id(A)}
