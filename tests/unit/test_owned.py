"""Functions owned by infrastructure as code: detection from tags, the
policy's ``owned_functions`` in the planner, and the plan's shape."""

from __future__ import annotations

import pytest

from remediator import diagnose as d
from remediator.changes import registry
from remediator.domain.errors import BadInput
from remediator.domain.owner import (
    CFN_LOGICAL_ID,
    CFN_STACK_ID,
    CFN_STACK_NAME,
    IacSettings,
    owner_of,
)
from remediator.domain.policy import Policy, Rule, Settings, parse_policy
from remediator.planfile.model import Plan
from remediator.planner import build_plan
from tests import factories as fx

A = "a"
P, N = fx.pub, fx.natsub
CFN = {
    CFN_STACK_NAME: "orders",
    CFN_STACK_ID: "arn:aws:cloudformation:us-east-1:123456789012:stack/orders/1",
    CFN_LOGICAL_ID: "OrdersFn",
}
TF = IacSettings(
    terraform_tags={"managed-by": "terraform"}, terraform_detail_tags=("tf-workspace",)
)


@pytest.mark.parametrize(
    ("tags", "iac", "want"),
    [
        ({}, IacSettings(), None),
        ({"team": "x"}, TF, None),
        (CFN, IacSettings(), ("cloudformation", "orders", "OrdersFn", None)),
        ({CFN_STACK_NAME: "s"}, IacSettings(), ("cloudformation", "s", None, None)),
        ({"managed-by": "terraform"}, IacSettings(), None),
        ({"managed-by": "terraform"}, TF, ("terraform", None, None, None)),
        (
            {"managed-by": "terraform", "tf-workspace": "prod"},
            TF,
            ("terraform", None, None, "tf-workspace=prod"),
        ),
        ({"managed-by": "pulumi"}, TF, None),
        ({**CFN, "managed-by": "terraform"}, TF, ("cloudformation", "orders", "OrdersFn", None)),
        (CFN, IacSettings(detect=False), None),
    ],
)
def test_owner_of_reads_the_tags(
    tags: dict[str, str],
    iac: IacSettings,
    want: tuple[str, str | None, str | None, str | None] | None,
) -> None:
    owner = owner_of(tags, iac)
    got = None if owner is None else (owner.kind, owner.stack_name, owner.logical_id, owner.detail)
    assert got == want


def _plan(mode: str | None = None, tags: dict[str, str] | None = None, **iac: object) -> Plan:
    fn = fx.function(
        "orders-fn", [P(A, "a"), N(A, "b"), N(A, "c")], tags=CFN if tags is None else tags
    )
    other = fx.function("plain", [P(A, "a"), N(A, "b"), N(A, "c")])
    world = fx.vpc_world(A, "abc", functions=[fn, other])
    policy = Policy(defaults=Settings(owned_functions=mode), iac=IacSettings.model_validate(iac))
    return build_plan(fx.inventory(world), policy, fx.NOW)


def _finding(p: Plan, name: str) -> object:
    return next(f for f in p.findings if f.function == name and f.code == d.PUBLIC_MIXED)


@pytest.mark.parametrize("mode", [None, "apply"])
def test_owned_function_is_planned_and_says_who_owns_it(mode: str | None) -> None:
    p = _plan(mode)
    (owned,) = [c for c in p.changes if c.target == fx.arn("orders-fn")]
    assert owned.owner is not None and owned.owner.stack_name == "orders"
    f = next(f for f in p.findings if f.function == "orders-fn")
    assert f.status == "planned" and f.owner == owned.owner
    assert f.patch_subnet_ids == (N(A, "b"), N(A, "c"))
    assert any("REVERT_DRIFT" in n for n in f.notes)
    (summary,) = [s for s in p.functions if s.name == "orders-fn"]
    assert summary.owner == owned.owner
    # the unowned function's JSON has no trace of ownership
    plain = next(f for f in p.findings if f.function == "plain")
    dumped = plain.model_dump(mode="json")
    assert "owner" not in dumped and "patch_subnet_ids" not in dumped
    (plain_change,) = [c for c in p.changes if c.target == fx.arn("plain")]
    assert "owner" not in plain_change.model_dump(mode="json")


def test_patch_only_plans_no_direct_change_and_keeps_the_subnets_for_the_patch() -> None:
    p = _plan("patch-only")
    assert [c.target for c in p.changes] == [fx.arn("plain")]
    f = next(f for f in p.findings if f.function == "orders-fn")
    assert f.status == "blocked" and f.fixed_by == ()
    assert f.patch_subnet_ids == (N(A, "b"), N(A, "c"))
    assert f.manual_step is not None and "patch-only" in f.manual_step
    assert "remediate iac-patch" in f.manual_step
    assert p.summary.blocked == 1


def test_skip_leaves_the_owned_function_alone() -> None:
    p = _plan("skip")
    assert [c.target for c in p.changes] == [fx.arn("plain")]
    f = next(f for f in p.findings if f.function == "orders-fn")
    assert f.status == "blocked" and f.patch_subnet_ids == ()
    assert f.manual_step is not None and '"skip"' in f.manual_step


def test_terraform_ownership_comes_from_the_policy_tags() -> None:
    tags = {"managed-by": "terraform", "tf-workspace": "prod"}
    p = _plan(
        "patch-only",
        tags=tags,
        terraform_tags={"managed-by": "terraform"},
        terraform_detail_tags=["tf-workspace"],
    )
    f = next(f for f in p.findings if f.function == "orders-fn")
    assert f.owner is not None and f.owner.kind == "terraform"
    assert f.status == "blocked" and "Terraform (tf-workspace=prod)" in (f.manual_step or "")
    # without the policy key, the same tags mean nothing
    assert (
        next(f for f in _plan("patch-only", tags=tags).findings if f.function == "orders-fn").status
        == "planned"
    )


def test_a_rule_overrides_owned_functions_per_function() -> None:
    fn = fx.function("orders-fn", [P(A, "a"), N(A, "b"), N(A, "c")], tags=CFN)
    world = fx.vpc_world(A, "abc", functions=[fn])
    policy = Policy(
        defaults=Settings(owned_functions="skip"),
        rules=(Rule(match_names=("orders-*",), owned_functions="apply"),),
    )
    p = build_plan(fx.inventory(world), policy, fx.NOW)
    assert [c.kind for c in p.changes] == [registry.UPDATE_VPC_CONFIG]


def test_policy_keys_parse_and_unset_keys_keep_the_digest() -> None:
    base = parse_policy("[defaults]\nmin_azs = 2\n")
    assert base.digest() == Policy().digest()
    assert base.reads_tags and not base.uses_tags
    text = """
[defaults]
owned_functions = "patch-only"

[iac]
terraform_tags = { "managed-by" = "terraform" }
terraform_detail_tags = ["tf-workspace"]

[[rules]]
match_names = ["legacy-*"]
owned_functions = "skip"
"""
    pol = parse_policy(text)
    assert pol.defaults.owned_mode == "patch-only"
    assert pol.iac.terraform_tags == {"managed-by": "terraform"}
    assert pol.digest() != base.digest()
    assert not parse_policy("[iac]\ndetect = false\n").reads_tags


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('[defaults]\nowned_functions = "later"\n', "defaults.owned_functions"),
        ("[iac]\nterraform = 1\n", "iac.terraform: unknown key"),
        ('[[rules]]\nmatch_names = ["x"]\nowned_functions = "yes"\n', "rules.0.owned_functions"),
    ],
)
def test_bad_owned_keys_name_the_key(text: str, where: str) -> None:
    with pytest.raises(BadInput) as err:
        parse_policy(text)
    assert where in str(err.value)


@pytest.mark.parametrize(
    ("mode", "hold", "refused"),
    [
        (None, False, False),  # remediate apply: a person reviews
        ("apply", False, False),
        ("patch-only", False, True),
        ("skip", False, True),
        (None, True, True),  # auto and event hold unless the policy says apply
        ("apply", True, False),
        ("patch-only", True, True),
    ],
)
def test_apply_refuses_what_the_policy_excludes(
    mode: str | None, hold: bool, refused: bool
) -> None:
    from remediator.run.apply import ApplyOptions, select_changes

    p = _plan(None)
    owned = next(c for c in p.changes if c.owner is not None)
    policy = Policy(defaults=Settings(owned_functions=mode))
    chosen, refusals = select_changes(
        p, ApplyOptions(max_risk="high", policy=policy, hold_owned=hold)
    )
    assert (owned.id in {c.id for c, _ in refusals}) is refused
    assert (owned.id in {c.id for c in chosen}) is not refused
    # the unowned function's change is never held
    assert any(c.target == fx.arn("plain") for c in chosen)
    if refused:
        (why,) = [why for c, why in refusals if c.id == owned.id]
        assert "CloudFormation stack 'orders'" in why
