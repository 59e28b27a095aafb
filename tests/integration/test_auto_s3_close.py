"""`auto --out-dir s3://…` closes on the next run what an earlier run found
and is now gone, as a folder on disk does: the run that publishes last is
named in ``latest-run.json`` beside the runs, and the next run reads its
plan of each target from there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from remediator.aws.artifact_store import S3Store
from remediator.run import artifacts, auto
from tests.asff_model import validate
from tests.integration.test_auto import HOME, deps, moto, options, seed_fleet, session_of

__all__ = ["moto"]  # the fixture, used by name

BUCKET = "ops-artifacts"
TARGET = f"{HOME}/us-east-1"
ONE: dict[str, Any] = {"regions": ("us-east-1",), "accounts": (), "role_arn": None}


def _sink(url: str, staging: Path) -> artifacts.OutDir:
    store = S3Store.open(session_of(HOME), url, "us-east-1")
    return artifacts.OutDir(staging, store)


def _run(tmp_path: Path, name: str, **kw: Any) -> auto.RunSummary:
    staging = tmp_path / "staging" / name
    sink = _sink(f"s3://{BUCKET}/runs/{name}", staging)
    summary = auto.run(options(tmp_path, out_dir=staging, sink=sink, **ONE, **kw), deps())
    assert summary.error is None, summary.error
    return summary


def _states(name: str, folder: str = "plan.asff") -> dict[str, str]:
    s3 = boto3.client("s3", region_name="us-east-1")
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"runs/{name}/{TARGET}/{folder}/")
    keys = sorted(o["Key"] for o in listed.get("Contents", []))
    assert keys, f"no batches under runs/{name}"
    states: dict[str, str] = {}
    for key in keys:
        for finding in json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()):
            assert validate(finding) == []
            name_ = finding["Resources"][0]["Details"]["AwsLambdaFunction"]["FunctionName"]
            states[name_] = finding["RecordState"]
    return states


def _latest() -> dict[str, Any]:
    body = boto3.client("s3", region_name="us-east-1").get_object(
        Bucket=BUCKET, Key="runs/latest-run.json"
    )["Body"]
    return dict(json.loads(body.read()))


def test_the_next_run_under_the_prefix_closes_what_was_fixed(moto: None, tmp_path: Path) -> None:
    seed_fleet(accounts=(HOME,), regions=("us-east-1",))
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)

    # run 1 fixes orders-api alone and is named the latest run
    first = _run(tmp_path, "r1", functions=("orders-api",), max_risk="high")
    assert first.targets[0].outcome == "fixed"
    assert _states("r1") == {"orders-api": "ACTIVE"}
    assert _latest() == {"run": "r1"}

    # run 2, a dry run over every function, in a staging folder with no
    # sibling on disk: its baseline is run 1's review from S3
    _run(tmp_path, "r2", dry_run=True, max_risk="high")
    states = _states("r2")
    assert states.pop("orders-api") == "ARCHIVED"
    assert states and set(states.values()) == {"ACTIVE"}
    assert _latest() == {"run": "r2"}

    # run 3 closes nothing new: run 2 still had orders-api closed, not open
    _run(tmp_path, "r3", dry_run=True, max_risk="high")
    assert "orders-api" not in _states("r3")


@pytest.mark.parametrize(
    "marker",
    [
        b"not json",
        b'{"run": "../elsewhere"}',
        b'{"run": ["r1"]}',
        b"[[[[[[[[[[[[[[",
        b'{"run": "gone"}',
    ],
)
def test_a_latest_marker_that_names_no_readable_run_closes_nothing(
    moto: None, tmp_path: Path, marker: bytes
) -> None:
    seed_fleet(accounts=(HOME,), regions=("us-east-1",))
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="runs/latest-run.json", Body=marker)
    _run(tmp_path, "r1", dry_run=True, max_risk="high")
    assert set(_states("r1").values()) == {"ACTIVE"}
    assert _latest() == {"run": "r1"}  # and this run becomes the latest


def test_an_unreadable_previous_run_is_logged_not_fatal(moto: None, tmp_path: Path) -> None:
    seed_fleet(accounts=(HOME,), regions=("us-east-1",))
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="runs/latest-run.json", Body=b'{"run": "r0"}')
    s3.put_object(Bucket=BUCKET, Key=f"runs/r0/{TARGET}/plan.json", Body=b"{broken")
    _run(tmp_path, "r1", dry_run=True, max_risk="high")
    assert set(_states("r1").values()) == {"ACTIVE"}


def test_store_parent_and_leaf() -> None:
    store = S3Store(aws=None, bucket="b", prefix="ops/sweeps/auto-1", region="us-east-1")  # type: ignore[arg-type]
    parent = store.parent()
    assert store.leaf == "auto-1" and parent is not None and parent.url == "s3://b/ops/sweeps"
    top = S3Store(aws=None, bucket="b", prefix="run", region="us-east-1")  # type: ignore[arg-type]
    assert top.parent() is not None and top.parent().url == "s3://b"  # type: ignore[union-attr]
    assert S3Store(aws=None, bucket="b", prefix="", region="us-east-1").parent() is None  # type: ignore[arg-type]


def test_each_journal_line_is_in_s3_before_its_step_goes_on(moto: None, tmp_path: Path) -> None:
    """A Lambda stopped by its timeout loses /tmp: the journal object in S3
    must already hold the intent of a write when the write is sent."""
    seed_fleet(accounts=(HOME,), regions=("us-east-1",))
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    key = f"runs/r1/{TARGET}/plan.journal.jsonl"
    seen: list[list[str]] = []

    def journal_in_s3(model: Any = None, **_: Any) -> None:
        if model is None or model.name != "UpdateFunctionConfiguration":
            return
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
        lines = [json.loads(line) for line in body.splitlines()]
        seen.append([f"{e['event']}:{e.get('kind', '')}" for e in lines])

    def hook(session: Any, target: Any) -> None:
        if target is not None:
            session.events.register("before-call.lambda.UpdateFunctionConfiguration", journal_in_s3)

    staging = tmp_path / "staging" / "r1"
    sink = _sink(f"s3://{BUCKET}/runs/r1", staging)
    summary = auto.run(
        options(
            tmp_path, out_dir=staging, sink=sink, functions=("orders-api",), max_risk="high", **ONE
        ),
        deps(on_session=hook),
    )
    assert summary.error is None and summary.targets[0].outcome == "fixed"
    # at each update, the object already ends with that update's intent
    assert seen and all(
        e[0] == "run:" and e[-1] == "intent:lambda.update-vpc-config" for e in seen
    ), seen


def test_a_journal_copy_that_fails_stops_the_write_it_records(moto: None, tmp_path: Path) -> None:
    """No change goes live whose journal line is not off the machine: with
    the bucket gone, the target fails before any write and nothing changes."""
    seeded = seed_fleet(accounts=(HOME,), regions=("us-east-1",))
    lam = session_of(HOME).client("lambda", region_name="us-east-1")
    before = lam.get_function_configuration(FunctionName="orders-api")["VpcConfig"]["SubnetIds"]
    staging = tmp_path / "staging" / "r1"
    sink = _sink("s3://no-such-bucket/runs/r1", staging)
    summary = auto.run(
        options(
            tmp_path, out_dir=staging, sink=sink, functions=("orders-api",), max_risk="high", **ONE
        ),
        deps(),
    )
    after = lam.get_function_configuration(FunctionName="orders-api")["VpcConfig"]["SubnetIds"]
    assert after == before, seeded
    assert summary.targets[0].outcome == "error"
    assert "journal" in (summary.targets[0].error or "")
