"""The Lambda handler and S3 artifacts on moto (in-process): the handler
gives what `remediate event` gives; `--out-dir s3://bucket/prefix` writes
each artifact as an encrypted object for `event` and `auto`; the duplicate
markers live there too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import structlog
from typer.testing import CliRunner

from remediator.cli.handler import RetryLater, handler
from remediator.cli.main import app
from remediator.domain.outcomes import EXIT_FIXED, EXIT_OK
from tests.integration.event_world import Env, cloudtrail, env, mixed, sqs

__all__ = ["env"]

UPDATE = "UpdateFunctionConfiguration20150331v2"
BUCKET = "ops-artifacts"


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    """The command and the handler configure structlog (the runner's stderr): do not leak it."""
    yield
    structlog.reset_defaults()


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The Lambda runtime's environment: AWS_REGION and credentials only."""
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    for name in ("REMEDIATOR_OUT_DIR", "REMEDIATOR_MAX_RISK", "REMEDIATOR_POLICY"):
        monkeypatch.delenv(name, raising=False)
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def _essence(data: dict[str, Any]) -> dict[str, Any]:
    """What must agree between two runs of the same event on the same world."""
    return {
        "outcome": data["outcome"],
        "exit_code": data["exit_code"],
        "counts": data["counts"],
        "changes_applied": data["changes_applied"],
        "changes_left": data["changes_left"],
        "events": {k: v for k, v in data["events"].items()},
        "targets": [
            {k: t[k] for k in ("outcome", "changes", "eligible", "findings", "left", "blocked")}
            for t in data["targets"]
        ],
    }


def test_handler_gives_what_the_command_gives(
    env: Env, lambda_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mixed(env.b)
    event = cloudtrail(UPDATE, {"functionName": env.b.id("api")})
    path = lambda_env / "event.json"
    path.write_text(json.dumps(event))
    result = CliRunner().invoke(
        app,
        [
            "event",
            str(path),
            "--dry-run",
            "--out-dir",
            str(lambda_env / "cli"),
            "--lock-dir",
            str(lambda_env / "locks"),
        ],
    )
    assert result.exit_code == 2, result.output
    printed = json.loads(result.stdout.strip().splitlines()[-1])

    monkeypatch.setenv("REMEDIATOR_DRY_RUN", "1")
    monkeypatch.setenv("REMEDIATOR_OUT_DIR", str(lambda_env / "handler"))
    returned = handler(event, None)

    assert _essence(returned) == _essence(printed)
    assert returned["outcome"] == "review" and returned["changes_left"] == 1
    assert "batchItemFailures" not in returned


def test_handler_with_only_aws_region_set_fixes_and_writes_to_tmp(
    env: Env, lambda_env: Path
) -> None:
    mixed(env.b)
    returned = handler(sqs(cloudtrail(UPDATE, {"functionName": "api"})), None)
    assert returned["exit_code"] == EXIT_FIXED, returned
    assert returned["batchItemFailures"] == []
    assert env.b.id("pub-a") not in env.subnets("api")
    assert (lambda_env / "remediator" / "runs" / returned["run_id"] / "summary.json").is_file()


def test_handler_raises_for_a_single_unsettled_event(
    env: Env, lambda_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lambda retries a failed asynchronous invocation (EventBridge's)."""
    mixed(env.b)
    # moto's updates are done at once: take its "Successful" as still running
    monkeypatch.setattr("remediator.run.event.UNSETTLED_UPDATES", frozenset({"Successful"}))
    with pytest.raises(RetryLater, match="has not settled"):
        handler(cloudtrail(UPDATE, {"functionName": "api"}), None)
    batch = handler(sqs(cloudtrail(UPDATE, {"functionName": "api"})), None)
    assert batch["batchItemFailures"] == [{"itemIdentifier": "m-1"}]


def _objects(prefix: str) -> dict[str, dict[str, Any]]:
    s3 = boto3.client("s3", region_name="us-east-1")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]
    return {k: s3.head_object(Bucket=BUCKET, Key=k) for k in keys}


def test_event_artifacts_and_markers_go_to_s3_encrypted(
    env: Env, lambda_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mixed(env.b)
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
    monkeypatch.setenv("REMEDIATOR_OUT_DIR", f"s3://{BUCKET}/operator")
    event = cloudtrail(UPDATE, {"functionName": "api"})

    first = handler(event, None)

    assert first["exit_code"] == EXIT_FIXED, first
    run = first["run_id"]
    assert first["out_dir"] == f"s3://{BUCKET}/operator/runs/{run}"
    objects = _objects("operator/")
    target = f"operator/runs/{run}/123456789012/us-east-1"
    for key in (
        f"operator/runs/{run}/summary.json",
        f"{target}/plan.json",
        f"{target}/plan.md",
        f"{target}/plan.journal.jsonl",
        f"{target}/apply.txt",
        f"{target}/plan.asff/asff-0001.json",
        f"operator/seen/{event['id']}.json",
    ):
        assert key in objects, sorted(objects)
        assert objects[key]["ServerSideEncryption"] == "AES256"
    assert not [k for k in objects if "/." in k]  # local lock files stay local
    s3 = boto3.client("s3", region_name="us-east-1")
    journal = s3.get_object(Bucket=BUCKET, Key=f"{target}/plan.journal.jsonl")["Body"].read()
    assert b'"finished"' in journal or b"finished" in journal

    # the marker in S3 makes the same event a duplicate in the next invocation
    again = handler(event, None)
    assert again["exit_code"] == EXIT_OK
    assert [e["id"] for e in again["events"]["duplicates"]] == [event["id"]]


def test_auto_out_dir_s3_writes_each_artifact_and_refuses_a_used_prefix(
    env: Env, lambda_env: Path
) -> None:
    mixed(env.b)
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
    args = ["auto", "--out-dir", f"s3://{BUCKET}/sweeps/1", "--lock-dir", str(lambda_env / "l")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code in (2, 6), result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["out_dir"] == f"s3://{BUCKET}/sweeps/1"
    objects = _objects("sweeps/1/")
    assert "sweeps/1/summary.json" in objects
    assert "sweeps/1/123456789012/us-east-1/plan.journal.jsonl" in objects
    assert all(o["ServerSideEncryption"] == "AES256" for o in objects.values())

    again = CliRunner().invoke(app, args)
    assert again.exit_code == 1
    assert "holds the artifacts of an earlier run" in again.stderr
    assert json.loads(again.stdout.strip().splitlines()[-1])["outcome"] == "error"


def test_the_sweep_event_runs_auto_over_the_region_and_fixes_every_function(
    env: Env, lambda_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The schedule of `deploy-template --fleet-runner none` sends SWEEP_EVENT:
    the handler runs auto (every function, not one event's), artifacts to S3
    under sweeps/<run id>."""
    from remediator.domain.events import SWEEP_EVENT

    mixed(env.b)
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
    monkeypatch.setenv("REMEDIATOR_OUT_DIR", f"s3://{BUCKET}/operator")
    monkeypatch.setenv("REMEDIATOR_REGIONS", "us-east-1")

    returned = handler(dict(SWEEP_EVENT), None)

    assert returned["exit_code"] == EXIT_FIXED, returned
    assert "events" not in returned  # auto's summary, not an event's
    for name in ("api", "other"):  # both broken functions, not one event's
        assert env.b.id("pub-a") not in env.subnets(name)
        assert env.b.id("pub-b") not in env.subnets(name)
    run = returned["run_id"]
    assert f"operator/sweeps/{run}/summary.json" in _objects("operator/")


def test_a_sweep_with_a_bad_setting_is_a_failed_summary(
    env: Env, lambda_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from remediator.domain.events import SWEEP_EVENT

    monkeypatch.setenv("REMEDIATOR_ORGANIZATION", "true")  # without a role
    returned = handler(dict(SWEEP_EVENT), None)
    assert returned["exit_code"] == 1
    assert "REMEDIATOR_ROLE_ARN" in returned["error"]
