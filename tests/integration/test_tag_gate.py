"""The live-tag check of apply and auto, on moto.

Discovery reads tags from the Resource Groups Tagging API by default; that
index may trail a tag added moments before a run. The exempt tag is a safety
control, so apply (and auto's apply) re-read each target function's tags
with Lambda's ``ListTags`` right before the first write, and a function the
policy now decides otherwise for is not changed: the plan is stale (exit 3).

The index lag is simulated with an ``after-call`` hook on ``GetResources``
that removes the new tag from the answer (moto updates both at once).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from moto import mock_aws

from remediator import sandbox
from remediator.domain.outcomes import EXIT_STALE
from remediator.domain.policy import Policy, default_policy, parse_policy
from remediator.run import auto
from remediator.run.apply import ApplyOptions, run_apply
from tests.integration.test_apply_flow import NOW, World
from tests.integration.test_auto import HOME, deps, options, seed_fleet, session_of, subnets_of

REGION = sandbox.REGION

TEAM_RULE = """
[[rules]]
name = "exempt-tag"
match_tags = { "remediator:exempt" = "true" }
exempt = true

[[rules]]
name = "payments"
match_tags = { "team" = "payments" }
min_azs = 3
"""


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with mock_aws():
        session = boto3.Session(botocore_session=botocore.session.get_session(), region_name=REGION)
        w = World(session=session, tmp=tmp_path)
        w.info = sandbox.seed(session, REGION)
        yield w


def _tag(world: World, name: str, tags: dict[str, str]) -> None:
    arn = world.lam.get_function_configuration(FunctionName=name)["FunctionArn"]
    world.lam.tag_resource(Resource=arn, Tags=tags)


def _apply(world: World, policy: Policy) -> Any:
    plan, path = world.plan(policy)
    assert any(c.target.endswith(":function:orders-api") for c in plan.changes)
    return plan, path


def test_the_plan_records_the_tags_the_rules_match_on_and_nothing_else(world: World) -> None:
    assert default_policy().tags_from == "tagging-api"
    _tag(world, "orders-fulfil", {"owner": "team-a"})  # no rule looks at it
    plan, path = world.plan(default_policy())
    exempt = next(s for s in plan.functions if s.name == "db-migrator")
    assert exempt.status == "exempt" and exempt.policy_tags == {"remediator:exempt": "true"}
    other = next(s for s in plan.functions if s.name == "orders-fulfil")
    assert other.policy_tags == {}
    assert path.read_text().count('"policy_tags"') == 1  # left out where empty


def test_a_function_tagged_exempt_after_the_plan_is_not_changed(world: World) -> None:
    policy = default_policy()
    plan, path = _apply(world, policy)
    before = world.config("orders-api")
    _tag(world, "orders-api", {"remediator:exempt": "true"})

    outcome = run_apply(
        plan, path, world.aws(), ApplyOptions(max_risk="high", now=lambda: NOW, policy=policy)
    )

    text = "\n".join(outcome.lines)
    assert outcome.exit_code == EXIT_STALE, text
    assert "orders-api is exempt now" in text and "remediator:exempt=true" in text
    assert world.config("orders-api") == before
    assert world.hooks.mutating() == [], "nothing of the plan may change"
    # one ListTags per function the chosen changes are for, not per function of the account
    targets = {f.function_arn for c in plan.changes for f in plan.findings if f.id in c.fixes}
    assert world.hooks.counts["ListTags"] == len(targets)


def test_a_dry_run_reports_the_newly_exempt_function_as_stale(world: World) -> None:
    policy = default_policy()
    plan, path = _apply(world, policy)
    _tag(world, "orders-api", {"remediator:exempt": "true"})

    outcome = run_apply(
        plan,
        path,
        world.aws(dry_run=True),
        ApplyOptions(dry_run=True, max_risk="high", now=lambda: NOW, policy=policy),
    )

    text = "\n".join(outcome.lines)
    assert outcome.exit_code == EXIT_STALE, text
    assert "orders-api is exempt now" in text


def test_a_tag_that_makes_another_rule_match_is_stale_and_an_unrelated_tag_is_not(
    world: World,
) -> None:
    policy = parse_policy(TEAM_RULE)
    plan, path = _apply(world, policy)
    _tag(world, "orders-api", {"owner": "someone"})  # no rule looks at it

    dry = run_apply(
        plan,
        path,
        world.aws(dry_run=True),
        ApplyOptions(dry_run=True, max_risk="high", now=lambda: NOW, policy=policy),
    )
    assert dry.exit_code == 0, dry.lines

    _tag(world, "orders-api", {"team": "payments"})
    before = world.config("orders-api")
    outcome = run_apply(
        plan, path, world.aws(), ApplyOptions(max_risk="high", now=lambda: NOW, policy=policy)
    )
    text = "\n".join(outcome.lines)
    assert outcome.exit_code == EXIT_STALE, text
    assert "tags of function orders-api changed since the plan" in text
    assert "team=payments" in text
    assert world.config("orders-api") == before


def test_no_tag_rule_means_no_tag_read_at_apply(world: World) -> None:
    policy = parse_policy("[defaults]\nmin_azs = 2\n")
    plan, path = world.plan(policy)
    assert plan.changes
    outcome = run_apply(
        plan, path, world.aws(), ApplyOptions(max_risk="high", now=lambda: NOW, policy=policy)
    )
    assert outcome.exit_code == 0, outcome.lines
    assert world.hooks.counts["ListTags"] == 0


# --------------------------------------------------------------------------
# auto: the Tagging API index has not caught up with the new exempt tag


@pytest.fixture
def moto() -> Iterator[None]:
    with mock_aws():
        yield


def test_auto_does_not_change_a_function_the_tagging_index_still_shows_untagged(
    moto: None, tmp_path: Path
) -> None:
    seeded = seed_fleet(accounts=(HOME,), regions=("us-east-1",))
    lam = session_of(HOME).client("lambda", region_name="us-east-1")
    arn = lam.get_function_configuration(FunctionName="orders-api")["FunctionArn"]
    lam.tag_resource(Resource=arn, Tags={"remediator:exempt": "true"})
    before = subnets_of(HOME, "us-east-1", "orders-api")
    lagging: list[str] = []

    def index_lags(model: Any = None, parsed: Any = None, **_: Any) -> None:
        if model is None or model.name != "GetResources" or parsed is None:
            return
        for mapping in parsed.get("ResourceTagMappingList", []):
            if mapping.get("ResourceARN") == arn:
                lagging.append(arn)
                mapping["Tags"] = [
                    t for t in mapping.get("Tags", []) if t["Key"] != "remediator:exempt"
                ]

    def hook(session: Any, target: auto.Target | None) -> None:
        session.events.register("after-call.*.*", index_lags)

    summary = auto.run(
        options(
            tmp_path,
            accounts=(HOME,),
            regions=("us-east-1",),
            max_risk="high",
            policy=default_policy(),
        ),
        deps(hook),
    )

    (home,) = summary.targets
    assert lagging, "the plan read the lagging index"
    assert home.outcome == "stale" and home.exit_code == EXIT_STALE, home.to_json()
    assert home.applied == []
    assert subnets_of(HOME, "us-east-1", "orders-api") == before
    apply_text = (tmp_path / "out" / HOME / "us-east-1" / "apply.txt").read_text()
    assert "orders-api is exempt now" in apply_text
    assert seeded


def test_a_function_deleted_since_the_plan_is_stale_in_a_dry_run_too(world: World) -> None:
    policy = default_policy()
    plan, path = _apply(world, policy)
    world.lam.delete_function(FunctionName="orders-api")

    outcome = run_apply(
        plan,
        path,
        world.aws(dry_run=True),
        ApplyOptions(dry_run=True, max_risk="high", now=lambda: NOW, policy=policy),
    )

    assert outcome.exit_code == EXIT_STALE, outcome.lines
    assert world.hooks.counts["ListTags"] >= 1  # asked, and a missing function is no error
