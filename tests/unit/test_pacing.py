"""Lambda's control-plane quota kept by discovery (remediator.aws.pacing)."""

from __future__ import annotations

import threading

import boto3
import pytest
from botocore.stub import Stubber

from remediator.aws import discover, pacing
from remediator.aws.pacing import LambdaPacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(round(seconds, 6))
            self.now += seconds


def test_a_burst_passes_then_calls_are_spaced_at_the_rate() -> None:
    clock = FakeClock()
    pacer = LambdaPacer(15, 10, clock=clock, sleep=clock.sleep)
    for _ in range(10):
        pacer.acquire()
    assert clock.sleeps == []
    pacer.acquire()
    pacer.acquire()
    assert clock.sleeps == [round(1 / 15, 6), round(1 / 15, 6)]
    assert pacer.waited == pytest.approx(2 / 15)


def test_tokens_come_back_with_time_up_to_the_burst() -> None:
    clock = FakeClock()
    pacer = LambdaPacer(10, 5, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        pacer.acquire()
    clock.now += 60  # a minute idle refills the bucket, but only to its burst
    for _ in range(5):
        pacer.acquire()
    assert clock.sleeps == []
    pacer.acquire()
    assert clock.sleeps == [0.1]


def test_callers_waiting_together_queue_for_different_tokens() -> None:
    # a token is reserved before the sleep: the second waiter waits twice as long
    clock = FakeClock()
    sleeps: list[float] = []
    pacer = LambdaPacer(10, 1, clock=clock, sleep=sleeps.append)
    pacer.acquire()
    pacer.acquire()
    pacer.acquire()
    assert sleeps == [pytest.approx(0.1), pytest.approx(0.2)]


def test_rate_and_burst_are_checked() -> None:
    with pytest.raises(ValueError):
        LambdaPacer(0, 10)
    with pytest.raises(ValueError):
        LambdaPacer(15, 0.5)


def _stubbed_lambda() -> tuple[object, Stubber]:
    client = boto3.client(
        "lambda",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return client, Stubber(client)


def test_only_calls_on_the_shared_quota_are_paced() -> None:
    clock = FakeClock()
    pacer = LambdaPacer(15, 1, clock=clock, sleep=clock.sleep)
    client, stub = _stubbed_lambda()
    pacer.attach(client)
    stub.add_response(
        "get_function", {"Configuration": {"FunctionName": "f"}}, {"FunctionName": "f"}
    )
    stub.add_response(
        "get_function", {"Configuration": {"FunctionName": "f"}}, {"FunctionName": "f"}
    )
    stub.add_response("get_policy", {"Policy": "{}"}, {"FunctionName": "f"})
    stub.add_response("list_aliases", {"Aliases": []}, {"FunctionName": "f"})
    stub.add_response("list_aliases", {"Aliases": []}, {"FunctionName": "f"})
    stub.add_response("list_functions", {"Functions": []}, {})
    with stub:
        client.get_function(FunctionName="f")  # type: ignore[attr-defined]
        client.get_function(FunctionName="f")  # type: ignore[attr-defined]
        client.get_policy(FunctionName="f")  # type: ignore[attr-defined]
        assert clock.sleeps == []  # quotas of their own: not paced
        client.list_aliases(FunctionName="f")  # type: ignore[attr-defined]
        client.list_aliases(FunctionName="f")  # type: ignore[attr-defined]
        client.list_functions()  # type: ignore[attr-defined]
    assert clock.sleeps == [round(1 / 15, 6), round(1 / 15, 6)]


def test_discovery_paces_each_lambda_client_it_makes(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[LambdaPacer] = []
    clock = FakeClock()

    def pacer() -> LambdaPacer:
        made.append(LambdaPacer(15, 2, clock=clock, sleep=clock.sleep))
        return made[-1]

    monkeypatch.setattr(discover, "LambdaPacer", pacer)
    clients: dict[tuple[str, str], object] = {}
    stubs: list[Stubber] = []

    def factory(service: str, region: str) -> object:
        client = boto3.client(
            service,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        stub = Stubber(client)
        if service == "lambda":
            for _ in range(4):
                stub.add_response("list_aliases", {"Aliases": []}, {"FunctionName": "f"})
        else:
            stub.add_response("describe_vpcs", {"Vpcs": []}, {})
        stub.activate()
        stubs.append(stub)
        clients[(service, region)] = client
        return client

    aws = discover.reader(None, None, factory, discover.CallCounter())
    for region in ("us-east-1", "eu-west-1"):
        for _ in range(2):
            list(aws.items("lambda", region, "list_aliases", "Aliases", FunctionName="f"))
    list(aws.items("ec2", "us-east-1", "describe_vpcs", "Vpcs"))
    # one pacer per Lambda client (account and Region), none for EC2; two
    # calls a Region fit in a burst of two
    assert len(made) == 2 and clock.sleeps == []
    list(aws.items("lambda", "us-east-1", "list_aliases", "Aliases", FunctionName="f"))
    assert clock.sleeps == [round(1 / 15, 6)]
    assert {"Invoke", "GetFunction", "GetPolicy"} <= pacing.OWN_QUOTA
