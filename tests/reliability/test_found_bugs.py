"""The bugs the reliability campaigns found, one small test each, on the
AWS-like world. BUG-1..6 and BUG-8 were fixed in the executor (journaled
progress of multi-call changes, versions marked as created, lost write
outcomes recognised, rollback leaving a changed target alone); these tests
keep them fixed. An open bug is a strict xfail (docs/reliability.md says
where and how to fix it): fixing it makes the test XPASS, which fails the
suite until the marker is removed."""

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


def test_bug1_an_interrupted_alias_move_leaves_no_version_behind(world: World) -> None:
    """BUG-1 (fixed): killed after PublishVersion, `remediate rollback` left the
    published version behind (the journal never learnt its number)."""
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


def test_bug2_resume_after_a_half_made_change_restores_everything(
    tmp_path: Path, botocore_session: botocore.session.Session
) -> None:
    """BUG-2 (fixed): killed between CreateSecurityGroup and its ingress rule,
    resume exited 3 and journaled the change 'skipped', so rollback kept the group."""
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


def test_bug3_a_change_failing_on_its_second_call_undoes_the_first(
    tmp_path: Path, botocore_session: botocore.session.Session
) -> None:
    """BUG-3 (fixed): the second ModifyVpcAttribute denied, the first stayed."""
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


def test_bug4_an_update_whose_answer_timed_out_is_undone(world: World) -> None:
    """BUG-4 (fixed): the retry of an update AWS had done got 412 and the run
    called itself stale without undoing its own update."""
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


def test_bug5_rollback_keeps_a_version_it_did_not_publish(world: World) -> None:
    """BUG-5 (fixed): PublishVersion returns the existing last version when
    $LATEST has not changed since; rollback deleted that version."""
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


def test_bug6_a_connection_failure_names_the_api_operation(world: World) -> None:
    """BUG-6 (fixed): the message said lambda:lambda.update-vpc-config."""
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


def test_bug8_rollback_leaves_a_hand_edit_after_an_unfinished_change_alone(world: World) -> None:
    """BUG-8 (fixed): the change was killed before its call; someone edited the
    target since; rollback overwrote their edit with the plan's before."""
    assert world.info is not None
    plan, path = world.plan(functions=("reports-nightly",), name="p.json")
    _arm(world, Fault(_kill, 1))  # killed before the update was sent
    with pytest.raises(KeyboardInterrupt):
        run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high", now=lambda: NOW))
    world.recorder.faults = []
    hand = [world.info.subnets["public-b"]]
    world.raw("lambda").update_function_configuration(
        FunctionName="reports-nightly",
        VpcConfig={"SubnetIds": hand, "SecurityGroupIds": [world.info.security_groups["fn-sg"]]},
    )
    run_rollback(plan, path.with_name("p.journal.jsonl"), world.aws(), None, lambda: NOW)
    live = world.raw("lambda").get_function_configuration(FunctionName="reports-nightly")
    assert live["VpcConfig"]["SubnetIds"] == hand


def test_bug9_resume_after_a_kill_after_publish_then_rollback_restores(world: World) -> None:
    before = world.snapshot()
    plan, path = world.plan(functions=("payments-api",), name="p.json")
    journal = path.with_name("p.journal.jsonl")
    _arm(world, Fault(_kill, 1, phase="after"))  # killed right after PublishVersion
    with pytest.raises(KeyboardInterrupt):
        run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high", now=lambda: NOW))
    world.recorder.faults = []
    resumed = run_apply(
        plan, path, world.aws(), ApplyOptions(max_risk="high", resume=journal, now=lambda: NOW)
    )
    assert resumed.exit_code == EXIT_OK, outcome_text(resumed)
    rolled = run_rollback(plan, journal, world.aws(), None, lambda: NOW)
    assert rolled.exit_code == EXIT_OK, outcome_text(rolled)
    assert differences(before, world.snapshot()) == []


@pytest.mark.xfail(
    strict=True,
    reason="BUG-11: executor.EnableVpcDns journals no progress between its two "
    "ModifyVpcAttribute calls; killed after the first, `remediate rollback` finds "
    "EnableDnsSupport on and hostnames off, 'neither as planned nor as this change leaves "
    "it', and leaves it (exit 5); resume calls the plan stale (exit 3). Journal a progress "
    "line after the first call, or accept the prefix state {support: after, hostnames: "
    "before} as this change's own",
)
def test_bug11_a_kill_between_the_two_dns_calls_is_rolled_back(
    tmp_path: Path, botocore_session: botocore.session.Session
) -> None:
    with open_world(tmp_path, botocore_session, ec2_part=True) as world:
        before = world.snapshot()
        plan, path = world.plan(functions=("iso-api",), name="p.json")
        _arm(world, Fault(_kill, 1, phase="after"))  # after EnableDnsSupport=true
        with pytest.raises(KeyboardInterrupt):
            run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high", now=lambda: NOW))
        world.recorder.faults = []
        rolled = run_rollback(
            plan, path.with_name("p.journal.jsonl"), world.aws(), None, lambda: NOW
        )
        assert rolled.exit_code == EXIT_OK, outcome_text(rolled)
        assert differences(before, world.snapshot()) == []


@pytest.mark.xfail(
    strict=True,
    reason="BUG-12: apply.run_apply --resume after a kill right after CreateSecurityGroup "
    "(before any progress line): the preflight sees the group, calls the plan stale "
    "(exit 3) and journals the change 'skipped', so `remediate rollback` keeps the group "
    "(rollback alone would find it by name). Take an intent-only change back in the "
    "resume preflight as rollback does, or refuse without journaling 'skipped'",
)
def test_bug12_resume_after_a_kill_right_after_a_create_then_rollback_restores(
    tmp_path: Path, botocore_session: botocore.session.Session
) -> None:
    with open_world(tmp_path, botocore_session, ec2_part=True) as world:
        before = world.snapshot()
        plan, path = world.plan(functions=("iso-api",), name="p.json")
        journal = path.with_name("p.journal.jsonl")
        _arm(world, Fault(_kill, 3, phase="after"))  # right after CreateSecurityGroup
        with pytest.raises(KeyboardInterrupt):
            run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high", now=lambda: NOW))
        world.recorder.faults = []
        resumed = run_apply(
            plan, path, world.aws(), ApplyOptions(max_risk="high", resume=journal, now=lambda: NOW)
        )
        run_rollback(plan, journal, world.aws(), None, lambda: NOW)
        assert differences(before, world.snapshot()) == [], outcome_text(resumed)


@pytest.mark.xfail(
    strict=True,
    reason="BUG-13: executor.CreateEndpointSecurityGroup.apply: a ReadTimeoutError after "
    "AWS made the group is retried; the retry gets InvalidGroup.Duplicate and the group "
    "the first attempt made is neither used nor undone. On Duplicate, look the group up "
    "by name (and the remediator:change-id tag) and go on with it",
)
def test_bug13_a_security_group_whose_create_timed_out_is_not_left_behind(
    tmp_path: Path, botocore_session: botocore.session.Session
) -> None:
    with open_world(tmp_path, botocore_session, ec2_part=True) as world:
        before = world.snapshot()
        plan, path = world.plan(functions=("iso-api",), name="p.json")
        _arm(
            world,
            Fault(
                lambda s, o: ReadTimeoutError(endpoint_url=f"https://{s}.{REGION}.amazonaws.com/"),
                3,
                phase="after",
            ),
        )
        out = run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high", now=lambda: NOW))
        world.recorder.faults = []
        run_rollback(plan, path.with_name("p.journal.jsonl"), world.aws(), None, lambda: NOW)
        assert differences(before, world.snapshot()) == [], outcome_text(out)


@pytest.mark.xfail(
    strict=True,
    reason="BUG-14: executor.CreateLambdaEndpoint sends ClientToken=f'{plan_id}-{change.id}'; "
    "the plan id comes from the content, so applying the plan again after a rollback (which "
    "apply allows) reuses the token, and AWS answers with the endpoint the first run made, "
    "now deleted. Put the run id in the token (a resumed run reuses the interrupted run's)",
)
def test_bug14_the_same_plan_applied_again_after_a_rollback_gets_a_new_endpoint(
    tmp_path: Path, botocore_session: botocore.session.Session
) -> None:
    with open_world(tmp_path, botocore_session, ec2_part=True) as world:
        plan, path = world.plan(functions=("iso-api",), name="p.json")
        first = run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high", now=lambda: NOW))
        assert first.exit_code == EXIT_OK, outcome_text(first)
        journal = path.with_name("p.journal.jsonl")
        assert run_rollback(plan, journal, world.aws(), None, lambda: NOW).exit_code == EXIT_OK
        again = run_apply(plan, path, world.aws(), ApplyOptions(max_risk="high", now=lambda: NOW))
        assert again.exit_code == EXIT_OK, outcome_text(again)
