"""`remediate event` on moto: one event or an SQS batch, judged through the
same plan/apply path as `remediate auto`, reading only what the event
concerns (calls counted on every session with a botocore hook)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from remediator.domain.outcomes import EXIT_FIXED, EXIT_OK, EXIT_RETRY
from tests.integration.event_world import ACCOUNT, Env, cloudtrail, env, mixed, sqs
from tests.topology_worlds import Builder, _extra, _fn_x, shop

__all__ = ["env"]  # the fixture

UPDATE = "UpdateFunctionConfiguration20150331v2"


def dead_nat(b: Builder) -> None:
    """The shop; ``fn`` routes through ``nat-old`` (then deleted: its routes
    show ``blackhole`` as on AWS); ``ok`` healthy; VPC ``w`` holds ``w-fn``,
    broken too (public only) but in another VPC."""
    shop(b)
    b.function("ok", ["priv-a", "priv-b"], ["sg"])
    b.nat("nat-old", "pub-b")
    _extra(b, {"0.0.0.0/0": "nat-old"})
    _fn_x(b)
    b.vpc("w")
    b.subnet("w-pub", "w")
    b.igw("w-igw", "w")
    b.table("rt-w", "w", ["w-pub"], {"0.0.0.0/0": "w-igw"})
    b.sg("w-sg", "w")
    b.function("w-fn", ["w-pub"], ["w-sg"])
    b.delete_nat("nat-old")


def _writes(env: Env) -> list[str]:
    reads = ("Describe", "Get", "List")
    return [c for c in env.calls.seen if not c.split(":")[1].startswith(reads)]


def test_function_event_by_arn_fixes_that_function_only_and_once(env: Env, tmp_path: Path) -> None:
    mixed(env.b)
    b = env.b
    before = {f: env.subnets(f) for f in ("ok", "other")}
    event = cloudtrail(UPDATE, {"functionName": b.id("api")})

    first = env.run(event, tmp_path, max_risk="low")

    assert first.exit_code == EXIT_FIXED, first.to_json()
    assert b.id("pub-a") not in env.subnets("api")
    assert {f: env.subnets(f) for f in ("ok", "other")} == before
    data = first.to_json()
    assert data["events"]["scope"] == {"functions": ["api"], "vpcs": []}
    assert [e["id"] for e in data["events"]["handled"]] == [event["id"]]
    assert data["changes_applied"] == 1
    updates = [u["FunctionName"] for u in env.dispatch.views.updates]
    assert [u.rsplit(":", 1)[-1] for u in updates] == ["api"]

    # the same event again: a duplicate (its marker), nothing read or changed
    env.calls.seen.clear()
    again = env.run(event, tmp_path, max_risk="low")
    assert again.exit_code == EXIT_OK
    assert [e["id"] for e in again.to_json()["events"]["duplicates"]] == [event["id"]]
    assert _writes(env) == [] and not any(c.startswith(("lambda", "ec2")) for c in env.calls.seen)

    # without the marker (another out-dir) the live state decides: clean
    fresh = env.run(event, tmp_path, max_risk="low", out_dir=tmp_path / "other-out")
    assert fresh.exit_code == EXIT_OK and fresh.to_json()["changes_applied"] == 0
    assert fresh.run.targets[0].outcome == "clean"


def test_one_function_event_costs_a_handful_of_calls_and_no_sweep(env: Env, tmp_path: Path) -> None:
    mixed(env.b)
    # more functions in the region must not cost more calls
    for n in range(5):
        env.b.function(f"more-{n}", ["priv-a"], ["sg"])
    env.calls.seen.clear()

    summary = env.run(cloudtrail(UPDATE, {"functionName": "api"}), tmp_path, dry_run=True)

    assert summary.exit_code in (0, 2), summary.to_json()
    calls = Counter(env.calls.seen)
    assert calls["lambda:ListFunctions"] == 0
    assert calls["resourcegroupstaggingapi:GetResources"] == 0
    # settle read + plan discovery (1 config, 1 versions, 1 tags) + the live checks
    assert calls["lambda:GetFunctionConfiguration"] <= 4, calls
    assert sum(calls.values()) <= 24, calls


def test_delete_nat_gateway_judges_and_fixes_the_functions_of_that_vpc(
    env: Env, tmp_path: Path
) -> None:
    dead_nat(env.b)
    b = env.b
    nat = b.id("nat-old")
    w_before = env.subnets("w-fn")
    event = cloudtrail(
        "DeleteNatGateway",
        {"DeleteNatGatewayRequest": {"NatGatewayId": nat}},
        source="aws.ec2",
        response={"DeleteNatGatewayResponse": {"natGatewayId": nat}},
    )

    summary = env.run(event, tmp_path, max_risk="high")

    assert summary.exit_code == EXIT_FIXED, summary.to_json()
    assert summary.to_json()["events"]["scope"] == {"functions": [], "vpcs": [b.id("v")]}
    assert env.subnets("fn") == sorted([b.id("priv-a"), b.id("priv-b")])
    assert env.subnets("w-fn") == w_before  # another VPC: never read, never touched
    # only the NAT's VPC was read
    assert "ec2:DescribeNatGateways" in env.calls.seen


def test_sqs_batch_of_two_events_handles_both_in_one_judgement(env: Env, tmp_path: Path) -> None:
    mixed(env.b)
    b = env.b
    one = cloudtrail(UPDATE, {"functionName": b.id("api")})
    two = cloudtrail("CreateFunction20150331", {"functionName": "other"})

    summary = env.run(json.dumps(sqs(one, two)), tmp_path, max_risk="low")

    data = summary.to_json()
    assert summary.exit_code == EXIT_FIXED, data
    assert data["batchItemFailures"] == []
    assert sorted(e["id"] for e in data["events"]["handled"]) == sorted([one["id"], two["id"]])
    assert data["events"]["scope"]["functions"] == ["api", "other"]
    assert b.id("pub-a") not in env.subnets("api")
    assert b.id("pub-b") not in env.subnets("other")
    assert data["targets_total"] == 1  # one plan, one apply for the batch


def test_burst_and_duplicates_in_a_batch_are_one_judgement(env: Env, tmp_path: Path) -> None:
    mixed(env.b)
    b = env.b
    first = cloudtrail(UPDATE, {"functionName": b.id("api")})
    burst = cloudtrail("PublishVersion20150331", {"functionName": "api"})
    summary = env.run(json.dumps(sqs(first, first, burst)), tmp_path, max_risk="low")
    data = summary.to_json()
    assert [e["message_id"] for e in data["events"]["duplicates"]] == ["m-2"]
    assert len(data["events"]["handled"]) == 2
    assert data["changes_applied"] == 1 and data["batchItemFailures"] == []


def _in_progress(model: Any = None, parsed: dict[str, Any] | None = None, **_: Any) -> None:
    if model is not None and model.name == "GetFunctionConfiguration" and parsed:
        parsed["LastUpdateStatus"] = "InProgress"


def test_an_unsettled_function_is_retried_later(env: Env, tmp_path: Path) -> None:
    mixed(env.b)
    env.tweaks.append(_in_progress)
    event = cloudtrail(UPDATE, {"functionName": "api"})

    single = env.run(event, tmp_path)
    assert single.exit_code == EXIT_RETRY
    assert [e["id"] for e in single.to_json()["events"]["retry"]] == [event["id"]]

    batch = env.run(json.dumps(sqs(event)), tmp_path)
    assert batch.to_json()["batchItemFailures"] == [{"itemIdentifier": "m-1"}]
    assert batch.exit_code == EXIT_OK
    assert _writes(env) == []
    assert env.dispatch.views.updates == []


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (
            cloudtrail(UPDATE, {"functionName": "api"}, account="999999999999"),
            "this operator serves",
        ),
        (cloudtrail(UPDATE, {"functionName": "api"}, region="eu-west-1"), "this operator serves"),
        (cloudtrail("CreateBucket", {"bucketName": "b"}, source="aws.s3"), "cannot change"),
        (
            {**cloudtrail(UPDATE), "detail-type": "Scheduled Event", "detail": {}},
            "not an AWS API call",
        ),
        (
            {**cloudtrail(UPDATE), "detail": {"eventName": UPDATE, "errorCode": "AccessDenied"}},
            "failed (AccessDenied)",
        ),
        (cloudtrail(UPDATE, {"functionName": "gone"}), "no longer exists"),
    ],
    ids=[
        "foreign-account",
        "foreign-region",
        "uninteresting",
        "not-cloudtrail",
        "failed-call",
        "gone",
    ],
)
def test_events_of_no_concern_are_ignored_with_a_reason(
    env: Env, tmp_path: Path, event: dict[str, Any], reason: str
) -> None:
    mixed(env.b)
    summary = env.run(event, tmp_path, max_risk="high")
    data = summary.to_json()
    assert summary.exit_code == EXIT_OK, data
    assert [e["id"] for e in data["events"]["ignored"]] == [event["id"]]
    assert reason in data["events"]["ignored"][0]["reason"]
    assert data["targets"] == [] and _writes(env) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        (json.dumps({"id": "x"}), "not an EventBridge event"),
        (json.dumps(cloudtrail(UPDATE, {"functionName": "a/b"})), "names no valid function"),
        (json.dumps({**cloudtrail(UPDATE), "account": "12"}), "invalid account"),
        (json.dumps({"Records": [{"messageId": "m-1", "body": "{"}]}), "not JSON"),
    ],
)
def test_malformed_events_are_one_error_and_change_nothing(
    env: Env, tmp_path: Path, text: str, message: str
) -> None:
    mixed(env.b)
    env.calls.seen.clear()
    summary = env.run(text, tmp_path, max_risk="high")
    assert summary.exit_code == 1
    assert summary.run.error is not None and message in summary.run.error
    assert "\n" not in summary.run.error
    assert not [c for c in env.calls.seen if c.startswith(("lambda", "ec2"))]
    if text.startswith('{"Records"'):
        assert summary.to_json()["batchItemFailures"] == [{"itemIdentifier": "m-1"}]


def test_account_of_the_event_is_the_callers(env: Env) -> None:
    assert env.session.client("sts").get_caller_identity()["Account"] == ACCOUNT
