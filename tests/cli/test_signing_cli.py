"""`--signing-key` and `--require-signature` through the command line, against
the sandbox on a local moto server: plan signs, approve signs, apply and
rollback verify, auto signs what it writes and verifies it; every refusal is
one `Error:` line (exit 1) before anything changes, and the secret is never
printed or written anywhere but its own file."""

from __future__ import annotations

import json
import os
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from remediator import sandbox
from remediator.aws import door
from tests.cli.test_apply_cli import REGION, World, _apply, _error_line, _plan, _run


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
    """A freshly reset and seeded sandbox, the test in its own folder (as in
    test_apply_cli); the executor records its sleeps instead of sleeping."""
    url, clients = server
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    seed = sandbox.seed(clients, REGION)
    monkeypatch.chdir(tmp_path)
    real = door.Aws

    def aws(client_factory: Any, **kwargs: Any) -> door.Aws:
        kwargs.setdefault("settings", door.Settings(sleep=lambda _s: None))
        return real(client_factory, **kwargs)

    monkeypatch.setattr(door, "Aws", aws)
    return World(url=url, seed=seed, clients=clients)


SECRET = f"canary-signing-secret-{uuid.uuid4().hex}"


def _key(name: str = "key", secret: str = SECRET, mode: int = 0o600) -> str:
    path = Path(name)
    path.write_text(secret + "\n", encoding="utf-8")
    os.chmod(path, mode)
    return f"file:{path.resolve()}"


def _no_secret_anywhere(outputs: list[str]) -> None:
    for text in outputs:
        assert SECRET not in text
    for path in Path(".").rglob("*"):
        if path.is_file() and path.name not in ("key", "other"):
            assert SECRET not in path.read_text(encoding="utf-8", errors="replace"), path


def test_plan_approve_apply_rollback_signed(world: World) -> None:
    key = _key()
    outputs: list[str] = []
    planned = _plan(world, "p.json", "--signing-key", key)
    outputs += [planned.stdout, planned.stderr]
    assert planned.exit_code == 0, planned.stderr
    plan = json.loads(Path("p.json").read_text(encoding="utf-8"))
    assert plan["signature"]["alg"] == "hmac-sha256"
    assert plan["signature"]["signs"].startswith("sha256:")

    approved = _run(
        ["approve", "p.json", "--by", "ana", "--signing-key", key, "--require-signature"]
    )
    outputs += [approved.stdout, approved.stderr]
    assert approved.exit_code == 0, approved.stderr
    assert "signed with hmac-sha256:" in approved.stdout
    approval = json.loads(Path("p.approval.json").read_text(encoding="utf-8"))
    assert sorted(approval["change_ids"]) == sorted(c["id"] for c in plan["changes"])
    assert approval["signature"]["key_id"] == plan["signature"]["key_id"]

    before = world.snapshot()
    applied = _apply(
        world,
        "p.json",
        "--auto-approve",
        "--approval",
        "p.approval.json",
        "--signing-key",
        key,
        "--require-signature",
    )
    outputs += [applied.stdout, applied.stderr]
    assert applied.exit_code == 0, (applied.stdout, applied.stderr)
    header = json.loads(Path("p.journal.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert header["approval"]["by"] == "ana" and header["approval"]["signature"] == "verified"

    rolled = _run(
        [
            "rollback",
            "p.journal.jsonl",
            "--auto-approve",
            "--endpoint-url",
            world.url,
            "--signing-key",
            key,
            "--require-signature",
        ]
    )
    outputs += [rolled.stdout, rolled.stderr]
    assert rolled.exit_code == 0, (rolled.stdout, rolled.stderr)
    assert world.snapshot() == before
    _no_secret_anywhere(outputs)


def test_refusals_are_one_error_line_and_change_nothing(world: World) -> None:
    key = _key()
    assert _plan(world, "p.json").exit_code == 0  # unsigned
    before = world.snapshot()

    required = _apply(
        world, "p.json", "--auto-approve", "--max-risk", "high", "--require-signature"
    )
    assert required.exit_code == 1
    assert "no --signing-key" in _error_line(required)

    unsigned = _apply(
        world,
        "p.json",
        "--auto-approve",
        "--max-risk",
        "high",
        "--signing-key",
        key,
        "--require-signature",
    )
    assert unsigned.exit_code == 1
    assert "is not signed" in _error_line(unsigned)

    Path("policy.toml").write_text("require_signature = true\n", encoding="utf-8")
    by_policy = _apply(
        world,
        "p.json",
        "--auto-approve",
        "--max-risk",
        "high",
        "--signing-key",
        key,
        "--policy",
        "policy.toml",
    )
    assert by_policy.exit_code == 1
    assert "is not signed" in _error_line(by_policy)

    assert _plan(world, "s.json", "--signing-key", _key("other", "x" * 40)).exit_code == 0
    wrong = _apply(
        world,
        "s.json",
        "--auto-approve",
        "--max-risk",
        "high",
        "--signing-key",
        key,
        "--require-signature",
    )
    assert wrong.exit_code == 1
    assert "was signed with key" in _error_line(wrong)

    # unsigned use still works when nothing asks for a signature
    dry = _apply(world, "p.json", "--auto-approve", "--max-risk", "high", "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert world.snapshot() == before
    _no_secret_anywhere([r.stdout + r.stderr for r in (required, unsigned, by_policy, wrong, dry)])


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("world-readable", "every user of the machine"),
        ("empty", "is empty"),
        ("missing", "does not exist"),
        ("env:REMEDIATOR_TEST_UNSET_KEY", "is not set"),
        ("nope:x", "is not file:PATH"),
    ],
)
def test_a_bad_signing_key_is_one_error_line(world: World, spec: str, match: str) -> None:
    if spec == "world-readable":
        spec = _key(mode=0o644)
    elif spec == "empty":
        Path("empty").write_text("", encoding="utf-8")
        os.chmod("empty", 0o600)
        spec = "file:empty"
    elif spec == "missing":
        spec = "file:missing"
    result = _plan(world, "p.json", "--signing-key", spec)
    assert result.exit_code == 1
    assert match in _error_line(result)
    assert not Path("p.json").exists()
    assert SECRET not in result.stdout + result.stderr


def test_a_kms_key_signs_in_plan_and_verifies_in_apply(world: World) -> None:
    kms = boto3.Session(
        region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    ).client("kms", endpoint_url=world.url)
    arn = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]
    spec = f"kms:{arn}"
    planned = _plan(world, "p.json", "--signing-key", spec)
    assert planned.exit_code == 0, planned.stderr
    plan = json.loads(Path("p.json").read_text(encoding="utf-8"))
    assert plan["signature"] == {**plan["signature"], "alg": "kms-hmac-sha256", "key_id": arn}
    dry = _apply(
        world,
        "p.json",
        "--dry-run",
        "--auto-approve",
        "--max-risk",
        "high",
        "--signing-key",
        spec,
        "--require-signature",
    )
    assert dry.exit_code == 0, (dry.stdout, dry.stderr)
    # a key that can neither MAC nor sign
    enc = kms.create_key()["KeyMetadata"]["KeyId"]
    bad = _plan(world, "q.json", "--signing-key", f"kms:{enc}")
    assert bad.exit_code == 1
    assert "can neither make MACs nor sign" in _error_line(bad)


def test_auto_signs_its_plans_and_verifies_them(world: World) -> None:
    key = _key()
    result = _run(
        [
            "auto",
            "--endpoint-url",
            world.url,
            "-r",
            REGION,
            "--out-dir",
            "out",
            "--max-risk",
            "high",
            "--signing-key",
            key,
            "--require-signature",
            "--log-level",
            "warning",
        ]
    )
    summary = json.loads(result.stdout.rstrip("\n").splitlines()[-1])
    assert result.exit_code == summary["exit_code"], result.stderr
    assert summary["outcome"] in ("fixed", "review"), summary
    (plan_file,) = Path("out").rglob("plan.json")
    assert json.loads(plan_file.read_text(encoding="utf-8"))["signature"]["alg"] == "hmac-sha256"
    journal = next(Path("out").rglob("plan.journal.jsonl"))
    header = json.loads(journal.read_text(encoding="utf-8").splitlines()[0])
    assert header["plan_signature"]["signature"] == "verified"
    _no_secret_anywhere([result.stdout, result.stderr])


def test_auto_with_a_bad_key_still_prints_its_summary_line(world: World) -> None:
    result = _run(["auto", "--out-dir", "out", "--signing-key", "file:missing"])
    assert result.exit_code == 1
    assert "does not exist" in _error_line(result)
    assert json.loads(result.stdout.rstrip("\n").splitlines()[-1])["outcome"] == "error"
