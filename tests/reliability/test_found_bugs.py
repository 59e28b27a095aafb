"""The bugs the reliability campaigns found, one small test each (strict
xfail until fixed; docs/reliability.md says where and how to fix them).
Each runs on the AWS-like world and fails the way the campaign saw it."""

from __future__ import annotations

from pathlib import Path

import botocore.session
import pytest
from botocore.exceptions import ReadTimeoutError

from remediator import kinds
from remediator.apply import ApplyOptions, run_apply, run_rollback
from remediator.errors import EXIT_OK
from tests.reliability.conftest import (
    NOW,
    REGION,
    Fault,
    World,
    client_error,
    differences,
    open_world,
    outcome_text,
)


def _kill(service: str, operation: str) -> BaseException:
    return KeyboardInterrupt()


def _arm(world: World, fault: Fault) -> None:
    world.recorder.faults = [fault]
    world.recorder.mutating = 0
    world.recorder.operations = []


@pytest.mark.xfail(
    strict=True,
    reason="BUG-1: executor.MoveAlias: a run killed between PublishVersion and the "
    "alias's done line leaves the published version behind after `remediate rollback` "
    "(the journal never learns the version number; rollback skips the change as "
    "never-applied or undoes the alias only)",
)
def test_bug1_interrupted_alias_move_leaves_its_version(world: World) -> None:
    before = world.snapshot()
    position = 1  # PublishVersion, then UpdateAlias
    plan, path = world.plan(functions=("payments-api",), name="p.json")
    _arm(world, Fault(_kill, position, phase="after"))  # killed right after the publish
    with pytest.raises(KeyboardInterrupt):
        run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high", now=lambda: NOW))
    world.recorder.faults = []
    rolled = run_rollback(plan, path.with_name("p.journal.jsonl"), world.aws(), None, lambda: NOW)
    assert rolled.exit_code == EXIT_OK, outcome_text(rolled)
    assert differences(before, world.snapshot()) == []


@pytest.mark.xfail(
    strict=True,
    reason="BUG-2: apply.run_apply --resume: a change whose intent has no outcome and whose "
    "target is half-made (here: the endpoint security group created, its ingress rule not) "
    "is neither recognised as done nor left for rollback: resume exits 3 and journals it "
    "'skipped', so `remediate rollback` no longer undoes it and the group stays",
)
def test_bug2_resume_hides_a_half_made_change_from_rollback(
    tmp_path: Path, botocore_session: botocore.session.Session
) -> None:
    with open_world(tmp_path, botocore_session, ec2_part=True) as world:
        functions = ("iso-api",)
        before = world.snapshot()
        # ModifyVpcAttribute x2, CreateSecurityGroup, AuthorizeSecurityGroupIngress, CreateVpcEndpoint
        position = 4
        plan, path = world.plan(functions=functions, name="p.json")
        journal = path.with_name("p.journal.jsonl")
        _arm(world, Fault(_kill, position))  # killed between CreateSecurityGroup and the rule
        with pytest.raises(KeyboardInterrupt):
            run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high", now=lambda: NOW))
        world.recorder.faults = []
        resumed = run_apply(
            plan, path, world.aws(), ApplyOptions(max_risk="high", resume=journal, now=lambda: NOW)
        )
        rolled = run_rollback(plan, journal, world.aws(), None, lambda: NOW)
        assert rolled.exit_code == EXIT_OK, outcome_text(rolled)
        assert differences(before, world.snapshot()) == [], outcome_text(resumed)


@pytest.mark.xfail(
    strict=True,
    reason="BUG-3: executor.apply_changes/EnableVpcDns: when the second ModifyVpcAttribute "
    "fails, the first (EnableDnsSupport=true) stays in effect; the change is journaled "
    "'failed' with applied=false, so neither apply's rollback nor `remediate rollback` "
    "restores it",
)
def test_bug3_second_call_of_a_change_fails_and_the_first_stays(
    tmp_path: Path, botocore_session: botocore.session.Session
) -> None:
    with open_world(tmp_path, botocore_session, ec2_part=True) as world:
        functions = ("iso-api",)
        before = world.snapshot()
        first = 1  # ModifyVpcAttribute (support), then (hostnames)
        plan, path = world.plan(functions=functions, name="p.json")
        denied = Fault(lambda s, o: client_error("UnauthorizedOperation", o, 403), first + 1)
        _arm(world, denied)
        out = run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high", now=lambda: NOW))
        world.recorder.faults = []
        rolled = run_rollback(
            plan, path.with_name("p.journal.jsonl"), world.aws(), None, lambda: NOW
        )
        assert rolled.exit_code == EXIT_OK
        assert differences(before, world.snapshot()) == [], outcome_text(out)


@pytest.mark.xfail(
    strict=True,
    reason="BUG-4: executor.Aws.call/apply_changes: a ReadTimeoutError after AWS did "
    "UpdateFunctionConfiguration is retried with the old RevisionId; AWS answers 412, "
    "the run calls the plan stale (exit 3) and never undoes its own update",
)
def test_bug4_read_timeout_after_an_update_leaves_it_in_effect(world: World) -> None:
    before = world.snapshot()
    plan, path = world.plan(functions=("reports-nightly",), name="p.json")
    _arm(
        world,
        Fault(
            lambda s, o: ReadTimeoutError(endpoint_url=f"https://{s}.{REGION}.amazonaws.com/"),
            1,
            phase="after",
        ),
    )
    out = run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high", now=lambda: NOW))
    world.recorder.faults = []
    rolled = run_rollback(plan, path.with_name("p.journal.jsonl"), world.aws(), None, lambda: NOW)
    assert rolled.exit_code == EXIT_OK
    assert differences(before, world.snapshot()) == [], outcome_text(out)


@pytest.mark.xfail(
    strict=True,
    reason="BUG-5: executor.MoveAlias assumes PublishVersion creates a version; AWS returns "
    "the existing last version when $LATEST has not changed since it was published, and "
    "rollback then deletes that pre-existing version",
)
def test_bug5_rollback_deletes_a_version_it_did_not_publish(world: World) -> None:
    lam = world.raw("lambda")
    # someone published the fixed $LATEST already, but left the alias on the broken v1
    existing = lam.publish_version(FunctionName="payments-api")["Version"]
    assert existing == "2"
    plan, path = world.plan(functions=("payments-api",), name="p.json")
    assert [c.kind for c in plan.changes] == [kinds.MOVE_ALIAS]
    before = world.snapshot()
    out = run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high", now=lambda: NOW))
    assert out.exit_code == EXIT_OK, outcome_text(out)
    rolled = run_rollback(plan, path.with_name("p.journal.jsonl"), world.aws(), None, lambda: NOW)
    assert rolled.exit_code == EXIT_OK, outcome_text(rolled)
    assert differences(before, world.snapshot()) == []


@pytest.mark.xfail(
    strict=True,
    reason="BUG-6: executor.apply_changes names a connection failure's operation by the "
    "change kind ('lambda:lambda.update-vpc-config'): ConnectTimeoutError has no "
    "operation_name; use the API operation being called",
)
def test_bug6_a_connection_failure_names_the_api_operation(world: World) -> None:
    from botocore.exceptions import ConnectTimeoutError

    plan, path = world.plan(functions=("reports-nightly",), name="p.json")
    _arm(
        world,
        Fault(
            lambda s, o: ConnectTimeoutError(endpoint_url=f"https://{s}.{REGION}.amazonaws.com/"),
            1,
            times=10,
        ),
    )
    out = run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high", now=lambda: NOW))
    text = outcome_text(out)
    assert "lambda:UpdateFunctionConfiguration" in text, text
    assert "lambda:lambda.update-vpc-config" not in text
