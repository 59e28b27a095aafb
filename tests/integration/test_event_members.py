"""Events from member accounts (an organization's central event bus), on moto.

The operator runs in HOME; an event about a function in OTHER arrives on
its bus. With a member role (``--role-arn`` / ``REMEDIATOR_ROLE_ARN``) the
operator settles and judges it through that role and fixes the function
in OTHER only; without one, another account's event is ignored.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from remediator.run import event_config
from remediator.run.event import default_deps
from tests.integration.event_world import cloudtrail, sqs
from tests.integration.test_auto import _SESSIONS, HOME, OTHER, ROLE, seed_fleet, subnets_of

UPDATE = "UpdateFunctionConfiguration20150331v2"
NOW = "2026-01-01T00:00:00Z"


@pytest.fixture
def fleet(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    _SESSIONS.clear()  # sessions cached by the helpers belong to one mock
    with mock_aws():
        seed_fleet(accounts=(HOME, OTHER), regions=("us-east-1",))
        yield


def _handle(tmp_path: Path, event: Any, **kw: Any) -> dict[str, Any]:
    config = event_config.EventConfig(
        out_dir=str(tmp_path / "out"),
        region="us-east-1",
        max_risk="high",
        lock_dir=tmp_path / "locks",
        **kw,
    )
    summary = event_config.handle(event, config, default_deps(lambda: NOW), lambda: NOW)
    return dict(summary.to_json())


def test_a_member_accounts_event_is_judged_through_the_role(fleet: None, tmp_path: Path) -> None:
    home_before = subnets_of(HOME, "us-east-1", "orders-api")
    other_before = subnets_of(OTHER, "us-east-1", "orders-api")
    event = cloudtrail(UPDATE, {"functionName": "orders-api"}, account=OTHER)

    data = _handle(tmp_path, sqs(event), role_arn=ROLE)

    assert data["exit_code"] == 6, data
    assert [t["account_id"] for t in data["targets"]] == [OTHER]
    assert subnets_of(OTHER, "us-east-1", "orders-api") != other_before
    assert subnets_of(HOME, "us-east-1", "orders-api") == home_before  # not its event
    assert data["batchItemFailures"] == []


def test_events_of_both_accounts_in_one_batch_each_read_their_own_account(
    fleet: None, tmp_path: Path
) -> None:
    home_before = subnets_of(HOME, "us-east-1", "orders-api")
    other_before = subnets_of(OTHER, "us-east-1", "orders-api")
    batch = sqs(
        cloudtrail(UPDATE, {"functionName": "orders-api"}, account=HOME),
        cloudtrail(UPDATE, {"functionName": "orders-api"}, account=OTHER),
    )

    data = _handle(tmp_path, batch, role_arn=ROLE)

    assert data["exit_code"] == 6, data
    assert sorted(t["account_id"] for t in data["targets"]) == sorted([HOME, OTHER])
    assert subnets_of(HOME, "us-east-1", "orders-api") != home_before
    assert subnets_of(OTHER, "us-east-1", "orders-api") != other_before


def test_without_a_role_another_accounts_event_is_ignored(fleet: None, tmp_path: Path) -> None:
    other_before = subnets_of(OTHER, "us-east-1", "orders-api")
    event = cloudtrail(UPDATE, {"functionName": "orders-api"}, account=OTHER)

    data = _handle(tmp_path, event)

    assert data["exit_code"] == 0, data
    (ignored,) = data["events"]["ignored"]
    assert "this operator serves 123456789012/us-east-1" in ignored["reason"]
    assert subnets_of(OTHER, "us-east-1", "orders-api") == other_before


def test_a_role_without_its_account_placeholder_is_one_error(fleet: None, tmp_path: Path) -> None:
    event = cloudtrail(UPDATE, {"functionName": "orders-api"}, account=OTHER)
    data = _handle(tmp_path, event, role_arn="arn:aws:iam::222222222222:role/remediator")
    assert data["exit_code"] == 1
    assert "{account_id}" in data["error"]
