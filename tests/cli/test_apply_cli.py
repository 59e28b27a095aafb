"""`remediate apply | approve | rollback | unlock` through the CLI (typer's
CliRunner) against the sandbox on a local moto server: the exit codes of
docs/apply.md, and never a traceback."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner, Result

from remediator import planfile, sandbox
from remediator.aws import door
from remediator.changes import lambda_vpc_config
from remediator.cli.main import app
from remediator.planfile.digest import with_digest
from remediator.planfile.model import Plan
from remediator.run.lock import FileLock, lock_key

REGION = sandbox.REGION


@dataclass
class World:
    url: str
    seed: sandbox.SeedInfo
    clients: dict[str, Any]

    def snapshot(self) -> dict[str, Any]:
        return sandbox.snapshot(self.clients, REGION)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, dict[str, Any]]]:
    srv, url = sandbox.run_server(0)
    session = boto3.Session(
        region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    clients = {s: session.client(s, endpoint_url=url) for s in ("ec2", "lambda", "iam")}
    try:
        yield url, clients
    finally:
        srv.stop()


@pytest.fixture
def world(
    server: tuple[str, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> World:
    """A freshly reset and seeded sandbox (these tests change it); the test
    runs in its own folder so `.locks/` and default files land there."""
    url, clients = server
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    seed = sandbox.seed(clients, REGION)
    monkeypatch.chdir(tmp_path)
    return World(url=url, seed=seed, clients=clients)


@pytest.fixture(autouse=True)
def no_real_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The CLI builds its executor with the default Settings (real sleep, so
    the 15/s Lambda rate limit really waits): give it a recording sleep."""
    sleeps: list[float] = []
    real = door.Aws

    def aws(client_factory: Any, **kwargs: Any) -> door.Aws:
        kwargs.setdefault("settings", door.Settings(sleep=sleeps.append))
        return real(client_factory, **kwargs)

    monkeypatch.setattr(door, "Aws", aws)
    return sleeps


def _run(args: Sequence[str]) -> Result:
    result = CliRunner().invoke(app, list(args))
    for text in (result.output, result.stderr):
        assert "Traceback" not in text, text
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    return result


def _plan(world: World, out: str = "p.json", *extra: str) -> Result:
    return _run(
        [
            "plan",
            "--endpoint-url",
            world.url,
            "--region",
            REGION,
            "--out",
            out,
            "--format",
            "json",
            *extra,
        ]
    )


def _apply(world: World, plan: str = "p.json", *extra: str) -> Result:
    return _run(["apply", plan, "--endpoint-url", world.url, *extra])


def _error_line(result: Result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_plan_dry_run_approve_apply_replan_rollback(world: World) -> None:
    before = world.snapshot()
    planned = _plan(world)
    assert planned.exit_code == 0, planned.stderr
    plan = json.loads(Path("p.json").read_text(encoding="utf-8"))
    assert plan["changes"]

    dry = _apply(world, "p.json", "--dry-run", "--auto-approve")
    assert dry.exit_code == 0, (dry.stdout, dry.stderr)
    assert "would-apply" in dry.stdout
    assert "Dry run passed" in dry.stdout
    assert world.snapshot() == before
    assert not Path("p.journal.jsonl").exists()

    approved = _run(["approve", "p.json", "--by", "ana", "--note", "CHG-1"])
    assert approved.exit_code == 0, approved.stderr
    assert "ana" in approved.stdout
    approval = json.loads(Path("p.approval.json").read_text(encoding="utf-8"))
    assert approval["plan_digest"] == plan["digest"]
    assert approval["approved_by"] == "ana"

    applied = _apply(world, "p.json", "--auto-approve", "--approval", "p.approval.json")
    assert applied.exit_code == 0, (applied.stdout, applied.stderr)
    assert "verification passed" in applied.stdout
    assert sum(line.strip().startswith("ok ") for line in applied.stdout.splitlines()) == len(
        plan["changes"]
    )
    assert Path("p.journal.jsonl").exists()
    assert not any(Path(".locks").iterdir())

    # Only blocked findings are left: no changes, exit 0 with --detailed-exitcode.
    again = _plan(world, "again.json", "--detailed-exitcode")
    assert again.exit_code == 0, again.stderr
    replan = json.loads(Path("again.json").read_text(encoding="utf-8"))
    assert replan["changes"] == []
    assert {f["status"] for f in replan["findings"]} <= {"blocked", "info"}

    twice = _apply(world, "p.json", "--auto-approve", "--approval", "p.approval.json")
    assert twice.exit_code == 1
    assert "already applied" in _error_line(twice)

    rolled = _run(["rollback", "p.journal.jsonl", "--auto-approve", "--endpoint-url", world.url])
    assert rolled.exit_code == 0, (rolled.stdout, rolled.stderr)
    assert "Rollback complete." in rolled.stdout
    assert world.snapshot() == before

    nothing = _run(["rollback", "p.journal.jsonl", "--auto-approve", "--endpoint-url", world.url])
    assert nothing.exit_code == 0
    assert "Nothing to roll back" in nothing.stdout


def test_apply_without_approval_runs_only_low_risk(world: World) -> None:
    assert _plan(world).exit_code == 0
    plan = json.loads(Path("p.json").read_text(encoding="utf-8"))
    low = [c["id"] for c in plan["changes"] if c["risk"] == "low"]
    others = [c["id"] for c in plan["changes"] if c["risk"] != "low"]
    assert low and others

    result = _apply(world, "p.json", "--auto-approve")

    assert result.exit_code == 0, (result.stdout, result.stderr)
    for cid in others:
        assert any("needs approval" in line and cid in line for line in result.stdout.splitlines())
    assert f"{len(others)} change(s) were not applied: they need approval." in result.stdout


def test_apply_a_missing_plan_file_exits_1(world: World) -> None:
    result = _apply(world, "nope.json", "--auto-approve")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "does not exist" in _error_line(result)


def test_apply_an_edited_plan_exits_1(world: World) -> None:
    assert _plan(world).exit_code == 0
    data = json.loads(Path("p.json").read_text(encoding="utf-8"))
    data["account_id"] = "999999999999"
    Path("p.json").write_text(json.dumps(data), encoding="utf-8")
    result = _apply(world, "p.json", "--auto-approve")
    assert result.exit_code == 1
    assert "digest" in _error_line(result)


def test_apply_a_plan_whose_before_disagrees_with_its_fingerprint_exits_1(world: World) -> None:
    # the digest recomputed after the edit: only the fingerprint check catches it
    assert _plan(world).exit_code == 0
    data = json.loads(Path("p.json").read_text(encoding="utf-8"))
    change = next(c for c in data["changes"] if c["kind"] == lambda_vpc_config.NAME)
    change["before"]["SecurityGroupIds"] = ["sg-0another"]
    edited = with_digest(Plan.model_validate(data))
    Path("p.json").write_text(planfile.dumps(edited), encoding="utf-8")
    before = world.snapshot()
    result = _apply(world, "p.json", "--auto-approve")
    assert result.exit_code == 1
    assert result.stdout == ""
    line = _error_line(result)
    assert change["id"] in line and "fingerprint" in line
    assert world.snapshot() == before


def test_apply_a_stale_plan_exits_3_and_changes_nothing(world: World) -> None:
    assert _plan(world).exit_code == 0
    lam = world.clients["lambda"]
    lam.update_function_configuration(
        FunctionName="orders-api",
        VpcConfig={
            "SubnetIds": [world.seed.subnets["public-a"]],
            "SecurityGroupIds": [world.seed.security_groups["fn-sg"]],
        },
    )
    edited = world.snapshot()

    result = _apply(world, "p.json", "--auto-approve", "--max-risk", "high")

    assert result.exit_code == 3, (result.stdout, result.stderr)
    assert "stale" in result.stdout
    assert world.snapshot() == edited

    dry = _apply(world, "p.json", "--dry-run", "--auto-approve", "--max-risk", "high")
    assert dry.exit_code == 3, (dry.stdout, dry.stderr)


def test_apply_with_nothing_approved_exits_1(world: World) -> None:
    assert _plan(world, "p.json", "--function", "reports-nightly").exit_code == 0
    before = world.snapshot()
    result = _apply(world, "p.json", "--auto-approve")
    assert result.exit_code == 1
    assert "approve" in _error_line(result)
    assert world.snapshot() == before


def test_apply_bad_max_risk_exits_1(world: World) -> None:
    assert _plan(world).exit_code == 0
    result = _apply(world, "p.json", "--auto-approve", "--max-risk", "extreme")
    assert result.exit_code == 1
    assert "--max-risk" in _error_line(result)


def test_apply_bad_network_role_template_exits_1_and_changes_nothing(world: World) -> None:
    assert _plan(world).exit_code == 0
    before = world.snapshot()
    result = _apply(world, "p.json", "--auto-approve", "--network-role-arn", "nope")
    assert result.exit_code == 1
    assert _error_line(result).startswith("Error: --network-role-arn")
    assert world.snapshot() == before


def test_unlock(world: World) -> None:
    assert _plan(world).exit_code == 0
    plan = json.loads(Path("p.json").read_text(encoding="utf-8"))
    key = lock_key(plan["account_id"], plan["regions"])

    free = _run(["unlock", "p.json"])
    assert free.exit_code == 0
    assert f"No lock held for {key}." in free.stdout

    lock = FileLock(Path(".locks"))
    lock.acquire(key, {"owner": "bob@ci", "pid": 1, "run_id": "run-dead", "since": "then"})
    held = _apply(world, "p.json", "--auto-approve")
    assert held.exit_code == 1
    assert "bob@ci" in _error_line(held)

    refused = _run(["unlock", "p.json"])  # its holder (this process) lives
    assert refused.exit_code == 1
    assert "bob@ci" in _error_line(refused) and "--force" in _error_line(refused)
    assert lock.path(key).exists()

    broken = _run(["unlock", "p.json", "--force"])
    assert broken.exit_code == 0
    assert f"Lock {key} broken." in broken.stdout
    assert not lock.path(key).exists()


def test_rollback_refuses_while_the_lock_is_held(world: World) -> None:
    assert _plan(world).exit_code == 0
    assert _apply(world, "p.json", "--auto-approve", "--max-risk", "high").exit_code == 0
    applied = world.snapshot()
    plan = json.loads(Path("p.json").read_text(encoding="utf-8"))
    key = lock_key(plan["account_id"], plan["regions"])
    lock = FileLock(Path(".locks"))
    lock.acquire(key, {"owner": "bob@ci", "pid": 1, "run_id": "run-resumed", "since": "then"})
    args = ["rollback", "p.journal.jsonl", "--auto-approve", "--endpoint-url", world.url]
    held = _run(args)
    assert held.exit_code == 1
    assert "bob@ci" in _error_line(held) and "rollback" in _error_line(held)
    assert world.snapshot() == applied
    assert _run(["unlock", "p.json"]).exit_code == 1  # its holder lives
    assert _run(["unlock", "p.json", "--force"]).exit_code == 0
    assert _run(args).exit_code == 0
    assert world.snapshot() != applied
    assert not lock.path(key).exists()


def test_rollback_of_a_missing_journal_exits_1(world: World) -> None:
    assert _plan(world).exit_code == 0
    result = _run(["rollback", "p.journal.jsonl", "--auto-approve", "--endpoint-url", world.url])
    assert result.exit_code == 1
    assert "does not exist" in _error_line(result)


def test_rollback_needs_only_the_journal_wherever_it_was_written(world: World) -> None:
    before = world.snapshot()
    assert _plan(world, "plans/p.json").exit_code == 0
    applied = _apply(
        world, "plans/p.json", "--auto-approve", "--max-risk", "high", "--journal", "runs/j.jsonl"
    )
    assert applied.exit_code == 0, (applied.stdout, applied.stderr)
    assert world.snapshot() != before

    rolled = _run(["rollback", "runs/j.jsonl", "--auto-approve", "--endpoint-url", world.url])

    assert rolled.exit_code == 0, (rolled.stdout, rolled.stderr)
    assert "Rollback complete." in rolled.stdout
    assert world.snapshot() == before
