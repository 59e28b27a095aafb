"""The pure core's shortcuts give what the long way gives.

- ``domain.base.construct``/``replaced`` build the same instances as
  pydantic's ``model_construct``/``model_copy``;
- ``domain.canonical.canonical`` is ``json.dumps`` with the canonical
  options, and ``canonical_with`` splices an encoded member in exactly;
- the plan's finding and summary texts (``planner.texts``) are the
  canonical JSON of each model;
- the memos on a ``RegionIndex`` (verdicts shared by configs that list the
  same subnets in another order, security-group and hop verdicts, finding
  texts per verdict) change no diagnosis: a function diagnosed among
  thousands gets what it gets alone, with every memo empty; and no memo is
  shared between two regions (each has its own index).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from remediator.diagnose import RegionIndex, diagnose, judge_config
from remediator.domain.base import construct, replaced
from remediator.domain.canonical import canonical, canonical_with
from remediator.domain.inventory import Function, VpcConfig
from remediator.domain.owner import Owner
from remediator.domain.plan import BlastRadius, Finding, FunctionSummary, SubnetEgress
from remediator.domain.policy import default_policy
from remediator.planner import build_plan
from remediator.planner.texts import finding_and_summary_texts
from tests import factories as fx

A, B = "a", "b"
EGRESS = SubnetEgress(subnet_id="subnet-1", egress="nat", detail="NAT gateway nat-1")
OWNER = Owner(kind="cloudformation", stack_name="app")
FINDING: dict[str, Any] = {
    "id": "f-1",
    "region": fx.REGION,
    "function": "fn",
    "function_arn": fx.arn("fn"),
    "code": "public-subnets-all",
    "severity": "high",
    "title": "t",
    "detail": "d",
}


def _state(m: BaseModel) -> tuple[Any, ...]:
    """Everything that tells two instances apart, the field order included."""
    return (
        type(m),
        list(m.__dict__.items()),
        m.model_fields_set,
        m.__pydantic_extra__,
        m.__pydantic_private__,
        m.model_dump_json(),
    )


@pytest.mark.parametrize(
    ("model", "values"),
    [
        pytest.param(Finding, FINDING, id="finding-required-only"),
        pytest.param(
            Finding,
            {**FINDING, "evidence": (EGRESS,), "owner": OWNER, "affected_share": 0.5},
            id="finding-with-owner",
        ),
        pytest.param(
            FunctionSummary,
            {"region": fx.REGION, "name": "fn", "arn": fx.arn("fn"), "status": "healthy"},
            id="summary-default-factory",
        ),
        pytest.param(
            FunctionSummary,
            {
                "region": fx.REGION,
                "name": "fn",
                "arn": fx.arn("fn"),
                "status": "affected",
                "policy_tags": {"team": "x"},
                "subnets": (EGRESS,),
            },
            id="summary-with-tags",
        ),
        pytest.param(BlastRadius, {"functions": ("fn",), "note": "n"}, id="blast-radius"),
        pytest.param(SubnetEgress, EGRESS.model_dump(), id="subnet-egress"),
    ],
)
def test_construct_is_model_construct(model: type[BaseModel], values: dict[str, Any]) -> None:
    ours = construct(model, dict(values))
    theirs = model.model_construct(set(values), **values)
    assert _state(ours) == _state(theirs)


@pytest.mark.parametrize(
    "update",
    [
        pytest.param({"status": "blocked", "manual_step": "by hand"}, id="blocked"),
        pytest.param({"status": "planned", "fixed_by": ("c-1",)}, id="planned"),
        pytest.param({"owner": OWNER, "notes": ("n",)}, id="owned"),
        pytest.param({}, id="nothing"),
    ],
)
def test_replaced_is_model_copy(update: dict[str, Any]) -> None:
    f = construct(Finding, dict(FINDING))
    assert _state(replaced(f, update)) == _state(f.model_copy(update=update))
    assert f.model_fields_set == set(FINDING)  # the original's set is untouched


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(_JSON)
def test_canonical_is_json_dumps(value: Any) -> None:
    assert canonical(value) == json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


@given(st.dictionaries(st.text(), _JSON, max_size=6), st.text(min_size=1), _JSON)
def test_canonical_with_splices_exactly(values: dict[str, Any], key: str, member: Any) -> None:
    values.pop(key, None)
    assert canonical_with(values, key, canonical(member)) == canonical({**values, key: member})


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({"a": {"subnets": "\x00"}, "z": 1}, id="nested-marker-before"),
        pytest.param({"z": {"subnets": "\x00"}, "a": 1}, id="nested-marker-after"),
        pytest.param({}, id="alone"),
    ],
)
def test_canonical_with_when_the_marker_occurs_in_the_values(values: dict[str, Any]) -> None:
    """A marker that is also a nested value falls back to encoding apart."""
    member = [{"subnet_id": "s"}]
    assert canonical_with(values, "subnets", canonical(member)) == canonical(
        {**values, "subnets": member}
    )


# ---------------------------------------------------------------- a mixed world

P, N, I = fx.pub, fx.natsub, fx.iso  # noqa: E741
SUBNETS = [P(A, "a"), P(A, "b"), N(A, "a"), N(A, "b"), N(A, "c"), I(A, "a"), I(A, "c")]
OPEN_SG = fx.fn_sg(A)  # egress anywhere
VPC_SG = "sg-a-vpc-only"  # egress TCP 443 to the VPC only
EP_SG = "sg-a-endpoint"


def _world(functions: list[Function]) -> Any:
    world = fx.vpc_world(A, "abc", functions=functions)
    vpc_only = fx.security_group(VPC_SG, A).model_copy(
        update={"egress": (fx.allow_443_from_cidrs("10.0.0.0/8"),)}
    )
    return fx.add(
        world,
        vpc_only,
        fx.endpoint(A, [I(A, "a")], [EP_SG]),
        fx.security_group(EP_SG, A, ingress=[fx.allow_443_from_groups(VPC_SG)]),
    )


_FUNCTION = st.tuples(
    st.lists(st.sampled_from(SUBNETS), min_size=1, max_size=4, unique=True),
    st.sampled_from([(OPEN_SG,), (VPC_SG,), (OPEN_SG, VPC_SG), (VPC_SG, OPEN_SG)]),
    st.booleans(),
)


def _functions(specs: list[tuple[list[str], tuple[str, ...], bool]]) -> list[Function]:
    out = []
    for i, (subnets, groups, versioned) in enumerate(specs):
        versions = [fx.version("1", list(reversed(subnets)), groups)] if versioned else []
        aliases = [fx.alias("live", "1")] if versioned else []
        out.append(fx.function(f"fn-{i:02d}", subnets, groups, versions=versions, aliases=aliases))
    return out


def _texts(diag: Any, name: str) -> tuple[list[str], str]:
    findings = [canonical(f.model_dump(mode="json")) for f in diag.findings if f.function == name]
    (summary,) = [s for s in diag.functions if s.name == name]
    return findings, canonical(summary.model_dump(mode="json"))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_FUNCTION, min_size=2, max_size=12))
def test_a_function_among_many_is_diagnosed_as_alone(
    specs: list[tuple[list[str], tuple[str, ...], bool]],
) -> None:
    functions = _functions(specs)
    policy = default_policy()
    together = diagnose(fx.inventory(_world(functions)), policy)
    for fn in functions:
        alone = diagnose(fx.inventory(_world([fn])), policy)
        assert _texts(together, fn.name) == _texts(alone, fn.name)


def test_configs_listing_subnets_in_another_order_share_a_verdict() -> None:
    world = _world([])
    index = RegionIndex(world, fx.ACCOUNT)
    one = VpcConfig(subnet_ids=(N(A, "b"), P(A, "a")), security_group_ids=(VPC_SG,))
    other = VpcConfig(subnet_ids=(P(A, "a"), N(A, "b")), security_group_ids=(VPC_SG,))
    groups = VpcConfig(subnet_ids=(P(A, "a"), N(A, "b")), security_group_ids=(OPEN_SG,))
    assert judge_config(index, one) is judge_config(index, other)
    assert judge_config(index, groups) is not judge_config(index, one)
    fresh = RegionIndex(world, fx.ACCOUNT)
    assert judge_config(fresh, other) == judge_config(index, other)


def test_two_regions_do_not_share_a_verdict() -> None:
    """The same subnet ids in two regions: public in one, NAT-routed in the other."""
    subnets = [P(A, "a"), P(A, "b")]
    east = fx.vpc_world(A, "ab", functions=[fx.function("fn", subnets)])
    west = fx.vpc_world(A, "ab", region="us-west-2", functions=[fx.function("fn", subnets)])
    west = fx.set_default_route(west, fx.public_rt(A), fx.nat_id(A, "a"))
    diag = diagnose(fx.inventory(east, west), default_policy())
    by_region = {(f.region, f.code) for f in diag.findings}
    assert (fx.REGION, "public-subnets-all") in by_region
    assert ("us-west-2", "public-subnets-all") not in by_region
    east_only = diagnose(fx.inventory(east), default_policy())
    assert [f for f in diag.findings if f.region == fx.REGION] == list(east_only.findings)


def test_plan_texts_are_the_canonical_json_of_each_part() -> None:
    functions = _functions(
        [(SUBNETS[:3], (OPEN_SG,), True), (SUBNETS[2:5], (VPC_SG,), False)]
        + [([s, N(A, "c")], (VPC_SG, OPEN_SG), False) for s in SUBNETS]
    )
    plan = build_plan(fx.inventory(_world(functions)), default_policy(), fx.NOW)
    findings, summaries = finding_and_summary_texts(plan.findings, plan.functions)
    assert findings == [canonical(f.model_dump(mode="json")) for f in plan.findings]
    assert summaries == [canonical(s.model_dump(mode="json")) for s in plan.functions]
    assert len(plan.findings) > 5


@pytest.mark.parametrize(
    ("endpoint_subnets", "endpoint_groups", "reaches"),
    [
        pytest.param((I(A, "a"),), (), True, id="rule-covers-the-endpoint-subnet"),
        pytest.param((I(A, "c"),), (), False, id="rule-misses-the-endpoint-subnet"),
        pytest.param((I(A, "c"),), (EP_SG,), True, id="rule-names-the-endpoint-group"),
    ],
)
def test_security_group_memo_is_keyed_by_the_endpoint(
    endpoint_subnets: tuple[str, ...], endpoint_groups: tuple[str, ...], reaches: bool
) -> None:
    """``egress_reaches`` for planned endpoints, asked on one index after the
    same groups were judged for others: each answer is its own."""
    from remediator.diagnose.filters import egress_reaches

    rule = fx.allow_443_from_cidrs(fx.subnet_cidr(A, 20)).model_copy(update={"group_ids": (EP_SG,)})
    world = fx.add(_world([]), fx.security_group(VPC_SG, A).model_copy(update={"egress": (rule,)}))
    index = RegionIndex(world, fx.ACCOUNT)
    config = VpcConfig(subnet_ids=(N(A, "a"),), security_group_ids=(VPC_SG,))
    cidr = "10.1.0.0/16"
    others = [((I(A, "a"),), ()), ((I(A, "c"),), ()), ((I(A, "c"),), (EP_SG,))]
    for subnets, groups in others:
        egress_reaches(index, config, cidr, subnets, groups)
    assert egress_reaches(index, config, cidr, endpoint_subnets, endpoint_groups) is reaches
    fresh = RegionIndex(world, fx.ACCOUNT)
    assert egress_reaches(fresh, config, cidr, endpoint_subnets, endpoint_groups) is reaches
