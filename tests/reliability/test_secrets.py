"""Security through the CLI, against the sandbox on a local moto server:
the account guard, no secret in any output or file, approvals that cannot
be replayed onto another plan."""

from __future__ import annotations

import json
import os
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.client
import pytest
from typer.testing import CliRunner, Result

from remediator import sandbox
from remediator.aws import door
from remediator.cli.main import app
from remediator.planfile import read_plan, write_plan
from remediator.planfile.digest import with_digest

REGION = sandbox.REGION
READS = ("Describe", "Get", "List")
CANARY_SECRET = f"canary-secret-{uuid.uuid4().hex}"
CANARY_TOKEN = f"canary-token-{uuid.uuid4().hex}"
CANARY_ENV = f"canary-env-{uuid.uuid4().hex}"
CANARIES = (CANARY_SECRET, CANARY_TOKEN, CANARY_ENV)


@dataclass
class Server:
    url: str
    clients: dict[str, Any]
    seed: sandbox.SeedInfo | None = None


@dataclass
class Run:
    calls: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    def mutations(self) -> list[str]:
        return [c for c in self.calls if not c.split(":", 1)[1].startswith(READS)]


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    srv, url = sandbox.run_server(0)
    session = boto3.Session(
        region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    try:
        yield Server(
            url, {s: session.client(s, endpoint_url=url) for s in ("ec2", "lambda", "iam")}
        )
    finally:
        srv.stop()


@pytest.fixture
def world(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Server, Run]]:
    """A freshly seeded sandbox with a function carrying a canary environment
    value; canary credentials in the environment; every botocore call recorded."""
    request = urllib.request.Request(f"{server.url}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    server.seed = seed = sandbox.seed(server.clients, REGION)
    server.clients["lambda"].create_function(
        FunctionName="leaky",
        Runtime="python3.12",
        Role=seed.role_arn,
        Handler="index.handler",
        Code={"ZipFile": sandbox.function_zip()},
        Environment={"Variables": {"SECRET": CANARY_ENV, "DB_PASSWORD": CANARY_ENV}},
        Description=f"not secret, but SECRET={CANARY_ENV[:6]} is",
        VpcConfig={
            "SubnetIds": [
                seed.subnets["public-a"],
                seed.subnets["private-a"],
                seed.subnets["private-b"],
            ],
            "SecurityGroupIds": [seed.security_groups["fn-sg"]],
        },
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIACANARYKEY0000000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CANARY_SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", CANARY_TOKEN)
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
    run = Run()
    real_call = botocore.client.BaseClient._make_api_call

    def record(self: Any, operation_name: str, api_params: Any) -> Any:
        run.calls.append(f"{self.meta.service_model.service_name}:{operation_name}")
        return real_call(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    real_aws = door.Aws
    monkeypatch.setattr(
        door,
        "Aws",
        lambda f, **kw: real_aws(f, **{"settings": door.Settings(sleep=lambda s: None), **kw}),
    )
    yield server, run


def _run(run: Run, args: Sequence[str]) -> Result:
    result = CliRunner().invoke(app, list(args))
    run.outputs += [result.stdout, result.stderr]
    for text in (result.stdout, result.stderr):
        assert "Traceback" not in text, text
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    return result


def _error_line(result: Result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def _snapshot(server: Server) -> dict[str, Any]:
    return sandbox.snapshot(server.clients, REGION)


# --------------------------------------------------------------------------
# (a) the account guard


GUARD = 'allowed_account_ids = ["111111111111", "222222222222"]\n'


def test_plan_refuses_an_account_not_allowed_and_reads_nothing_of_it(
    world: tuple[Server, Run],
) -> None:
    _, run = world
    Path("guard.toml").write_text(GUARD, encoding="utf-8")
    result = _run(run, ["plan", "--region", REGION, "--policy", "guard.toml", "--out", "p.json"])
    assert result.exit_code == 1
    line = _error_line(result)
    assert "123456789012" in line and "allowed_account_ids" in line
    assert run.calls == ["sts:GetCallerIdentity"], "nothing of the account may be read"
    assert not Path("p.json").exists()


def test_apply_refuses_an_account_not_allowed_before_any_call(world: tuple[Server, Run]) -> None:
    server, run = world
    assert (
        _run(run, ["plan", "--region", REGION, "--out", "p.json", "--format", "json"]).exit_code
        == 0
    )
    Path("guard.toml").write_text(GUARD, encoding="utf-8")
    before = _snapshot(server)
    run.calls.clear()
    for extra in ([], ["--dry-run"]):
        result = _run(
            run,
            [
                "apply",
                "p.json",
                "--auto-approve",
                "--max-risk",
                "high",
                "--policy",
                "guard.toml",
                *extra,
            ],
        )
        assert result.exit_code == 1
        assert "allowed_account_ids" in _error_line(result)
    assert run.calls == []
    assert not Path("p.journal.jsonl").exists()
    assert _snapshot(server) == before


def test_apply_refuses_a_plan_for_another_account_than_the_credentials(
    world: tuple[Server, Run],
) -> None:
    """The guard's twin: a plan (digest recomputed, as a forger would) for
    another account is refused after GetCallerIdentity, before any change."""
    server, run = world
    assert (
        _run(run, ["plan", "--region", REGION, "--out", "p.json", "--format", "json"]).exit_code
        == 0
    )
    other = with_digest(read_plan(Path("p.json")).model_copy(update={"account_id": "999999999999"}))
    write_plan(other, Path("other.json"))
    before = _snapshot(server)
    run.calls.clear()
    result = _run(run, ["apply", "other.json", "--auto-approve", "--max-risk", "high"])
    assert result.exit_code == 1
    assert "999999999999" in _error_line(result)
    assert run.mutations() == []
    assert _snapshot(server) == before


# --------------------------------------------------------------------------
# (b) no secret in any output or file


def test_no_secret_in_logs_reports_plans_approvals_or_journals(world: tuple[Server, Run]) -> None:
    server, run = world
    debug = ["--log-level", "debug"]
    for fmt in ("text", "markdown", "json", "asff"):
        result = _run(
            run, ["plan", "--region", REGION, "--out", f"p-{fmt}.json", "--format", fmt, *debug]
        )
        assert result.exit_code == 0, result.stderr
        assert _run(run, ["show", f"p-{fmt}.json", "--format", fmt]).exit_code == 0
    plan = json.loads(Path("p-json.json").read_text(encoding="utf-8"))
    assert any(c["target"].endswith(":leaky") for c in plan["changes"]), (
        "the canary function is in the plan"
    )
    assert _run(run, ["approve", "p-json.json", "--by", "ana", "--note", "CHG-1"]).exit_code == 0
    assert (
        _run(
            run,
            ["apply", "p-json.json", "--dry-run", "--auto-approve", "--max-risk", "high", *debug],
        ).exit_code
        == 0
    )
    applied = _run(
        run,
        ["apply", "p-json.json", "--auto-approve", "--approval", "p-json.approval.json", *debug],
    )
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    # a failing run: another plan of the same world is stale now, and rolls nothing
    assert (
        _run(
            run, ["apply", "p-text.json", "--auto-approve", "--max-risk", "high", *debug]
        ).exit_code
        == 3
    )
    rolled = _run(run, ["rollback", "p-json.journal.jsonl", "--auto-approve", *debug])
    assert rolled.exit_code == 0, rolled.stdout + rolled.stderr
    assert _run(run, ["iam-policy"]).exit_code == 0
    # the logs really were at debug level, and the run really read the canary function
    assert any('"level": "debug"' in o or '"level": "info"' in o for o in run.outputs)
    assert "lambda:ListFunctions" in run.calls

    leaks = [f"output #{i}" for i, text in enumerate(run.outputs) for c in CANARIES if c in text]
    files = [p for p in Path(".").rglob("*") if p.is_file()]
    assert {p.suffix for p in files} >= {".json", ".jsonl"}
    assert any(p.name.endswith(".journal.jsonl") for p in files)
    assert any(p.name.endswith(".approval.json") for p in files)
    for path in files:
        data = path.read_bytes()
        leaks += [f"{path}" for c in CANARIES if c.encode() in data]
    assert leaks == []
    # and the canaries are real: the environment value is in the sandbox
    env = server.clients["lambda"].get_function_configuration(FunctionName="leaky")["Environment"]
    assert env["Variables"]["SECRET"] == CANARY_ENV
    assert os.environ["AWS_SECRET_ACCESS_KEY"] == CANARY_SECRET


# --------------------------------------------------------------------------
# (d) approvals are bound to the digest


def test_an_approval_cannot_be_replayed_onto_another_plan(world: tuple[Server, Run]) -> None:
    server, run = world
    base = ["plan", "--region", REGION, "--format", "json"]
    assert _run(run, [*base, "--out", "a.json", "--function", "reports-nightly"]).exit_code == 0
    assert (
        _run(
            run,
            [
                *base,
                "--out",
                "b.json",
                "--function",
                "legacy-cron",
                "--function",
                "reports-nightly",
            ],
        ).exit_code
        == 0
    )
    assert (
        _run(run, ["approve", "a.json", "--by", "ana", "--out", "a.approval.json"]).exit_code == 0
    )
    a = read_plan(Path("a.json"))
    # the same plan id with another digest: a re-plan of the same world later
    later = with_digest(a.model_copy(update={"created_at": "2030-01-01T00:00:00Z"}))
    assert later.plan_id == a.plan_id and later.digest != a.digest
    write_plan(later, Path("later.json"))
    # an approval whose digest was edited to match the other plan
    forged = json.loads(Path("a.approval.json").read_text(encoding="utf-8"))
    forged["plan_digest"] = later.digest
    Path("forged.approval.json").write_text(json.dumps(forged), encoding="utf-8")
    before = _snapshot(server)
    run.calls.clear()
    for plan_file, approval in (
        ("b.json", "a.approval.json"),
        ("later.json", "a.approval.json"),
        ("a.json", "forged.approval.json"),
    ):
        result = _run(run, ["apply", plan_file, "--auto-approve", "--approval", approval])
        assert result.exit_code == 1, (plan_file, approval, result.stdout)
        line = _error_line(result)
        assert "Approval" in line and "not for" in line, line
    assert run.mutations() == []
    assert _snapshot(server) == before
    assert not Path("b.journal.jsonl").exists() and not Path("later.journal.jsonl").exists()
    # the approval still works for its own plan
    ok = _run(run, ["apply", "a.json", "--auto-approve", "--approval", "a.approval.json"])
    assert ok.exit_code == 0, ok.stdout + ok.stderr
