"""Worlds and events for the event-driven operator's tests (moto, in-process)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from moto import mock_aws

from remediator.aws import door
from remediator.run import auto as running
from remediator.run import event_config
from remediator.run.event import EventSummary, default_deps
from tests.topology_worlds import REGION, Builder, Dispatch, shop

ACCOUNT = "123456789012"
NOW = "2026-01-01T00:00:00Z"


def cloudtrail(
    name: str,
    params: dict[str, Any] | None = None,
    *,
    source: str = "aws.lambda",
    account: str = ACCOUNT,
    region: str = REGION,
    event_id: str | None = None,
    response: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An "AWS API Call via CloudTrail" event as EventBridge delivers it."""
    service = source.removeprefix("aws.")
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "AWS API Call via CloudTrail",
        "source": source,
        "account": account,
        "time": NOW,
        "region": region,
        "resources": [],
        "detail": {
            "eventVersion": "1.08",
            "eventSource": f"{service}.amazonaws.com",
            "eventName": name,
            "awsRegion": region,
            "requestParameters": params,
            "responseElements": response,
        },
    }


def sqs(*events: dict[str, Any]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m-{n}",
                "receiptHandle": "x",
                "body": json.dumps(e),
                "eventSource": "aws:sqs",
                "awsRegion": REGION,
            }
            for n, e in enumerate(events, 1)
        ]
    }


@dataclass
class Calls:
    """Every AWS operation sent (botocore ``before-call`` on every session)."""

    seen: list[str] = field(default_factory=list)

    def __call__(self, model: Any = None, **_: Any) -> None:
        if model is not None:
            self.seen.append(f"{model.service_model.service_name}:{model.name}")


@dataclass
class Env:
    session: boto3.Session
    dispatch: Dispatch
    b: Builder
    calls: Calls
    tweaks: list[Callable[..., None]] = field(default_factory=list)

    def hook(self, session: Any, _target: Any = None) -> None:
        events = session.events
        events.register("after-call.ec2", self.dispatch, unique_id="views-ec2")
        events.register("after-call.lambda", self.dispatch, unique_id="views-lambda")
        events.register("after-call.lambda", self._tweak, unique_id="tweaks")
        events.register_first("before-call.*.*", self.calls, unique_id="calls")
        events.register(
            "provide-client-params.lambda.UpdateFunctionConfiguration",
            self.dispatch.before_update,
            unique_id="updates",
        )

    def _tweak(self, **kwargs: Any) -> None:
        for tweak in self.tweaks:
            tweak(**kwargs)

    def make_session(self, _profile: str | None = None) -> Any:
        return self.session

    def deps(self) -> running.Deps:
        deps = default_deps(lambda: NOW)
        deps.make_session = self.make_session
        deps.on_session = self.hook
        deps.settings = door.Settings(sleep=lambda _: None, poll_interval=0, settle_timeout=5)
        return deps

    def run(self, event: Any, tmp: Path, **kw: Any) -> EventSummary:
        config = event_config.EventConfig(
            out_dir=str(kw.pop("out_dir", tmp / "out")), lock_dir=tmp / "locks", **kw
        )
        text = event if isinstance(event, str) else json.dumps(event)
        return event_config.handle(text, config, self.deps(), lambda: NOW)

    def subnets(self, function: str) -> list[str]:
        lam = self.session.client("lambda")
        config = lam.get_function_configuration(FunctionName=function)
        return sorted(config["VpcConfig"]["SubnetIds"])


@pytest.fixture
def env() -> Iterator[Env]:
    with mock_aws():
        core = botocore.session.get_session()
        session = boto3.Session(botocore_session=core, region_name=REGION)
        dispatch = Dispatch()
        b = Builder(
            ec2=session.client("ec2"),
            lam=session.client("lambda"),
            iam=session.client("iam"),
            views=dispatch.views,
        )
        yield Env(session=session, dispatch=dispatch, b=b, calls=Calls())


def mixed(b: Builder) -> None:
    """The shop; ``api`` and ``other`` each list a public subnet; ``ok`` is healthy."""
    shop(b)
    b.function("ok", ["priv-a", "priv-b"], ["sg"])
    b.function("api", ["pub-a", "priv-a", "priv-b"], ["sg"])
    b.function("other", ["pub-b", "priv-a", "priv-b"], ["sg"])
