"""The benchmark's latency proxy (benchmarks/latency_proxy.py): Lambda's
control-plane quota as AWS keeps it, and no delay of its own per call."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parents[2]
pytest.importorskip("moto.server")

sys.path.insert(0, str(ROOT))
try:
    from benchmarks.latency_proxy import LatencyProxy, lambda_quota_key
finally:
    sys.path.remove(str(ROOT))

from remediator import sandbox  # noqa: E402

AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261201/{region}/{service}/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=abc"
)


@pytest.mark.parametrize(
    ("method", "path", "service", "drawn"),
    [
        ("GET", "/2015-03-31/functions/?FunctionVersion=ALL", "lambda", True),  # ListFunctions
        ("GET", "/2015-03-31/functions/f/aliases", "lambda", True),  # ListAliases
        ("GET", "/2015-03-31/functions/f/configuration", "lambda", True),
        ("PUT", "/2015-03-31/functions/f/configuration", "lambda", True),
        (
            "GET",
            "/2017-03-31/tags/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af",
            "lambda",
            True,
        ),
        ("DELETE", "/2015-03-31/functions/f", "lambda", True),  # DeleteFunction
        ("GET", "/2015-03-31/functions/f", "lambda", False),  # GetFunction: 100/s of its own
        (
            "GET",
            "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af",
            "lambda",
            False,
        ),
        ("GET", "/2015-03-31/functions/f/policy", "lambda", False),  # GetPolicy
        ("POST", "/2015-03-31/functions/f/invocations", "lambda", False),  # Invoke
        ("POST", "/", "ec2", False),
    ],
)
def test_which_requests_draw_on_the_lambda_quota(
    method: str, path: str, service: str, drawn: bool
) -> None:
    key = lambda_quota_key(method, path, AUTH.format(region="eu-west-1", service=service))
    assert (key == ("AKIDEXAMPLE", "eu-west-1")) is drawn


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server, url = sandbox.run_server(0)
    try:
        yield url
    finally:
        server.stop()


def _lambda(url: str, key: str = "testing") -> object:
    return boto3.client(
        "lambda",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id=key,
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "max_attempts": 0}),
    )


def test_calls_past_the_quota_are_refused_as_lambda_refuses_them(moto_url: str) -> None:
    proxy = LatencyProxy(moto_url, 0.0, lambda_rate=0.5, lambda_burst=2).start()
    try:
        client = _lambda(proxy.url)
        client.list_functions()  # type: ignore[attr-defined]
        client.list_functions()  # type: ignore[attr-defined]
        with pytest.raises(ClientError) as refused:
            client.list_functions()  # type: ignore[attr-defined]
        assert refused.value.response["Error"]["Code"] == "TooManyRequestsException"
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
        # another account's credential has a quota of its own; GetFunction is outside it
        _lambda(proxy.url, "other").list_functions()  # type: ignore[attr-defined]
        with pytest.raises(ClientError) as missing:
            client.get_function(FunctionName="none")  # type: ignore[attr-defined]
        assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
        assert proxy.throttled == 1 and proxy.quota_calls == 4
    finally:
        proxy.stop()


def test_without_a_quota_nothing_is_refused(moto_url: str) -> None:
    proxy = LatencyProxy(moto_url, 0.0).start()
    try:
        client = _lambda(proxy.url)
        for _ in range(5):
            client.list_functions()  # type: ignore[attr-defined]
        assert proxy.throttled == 0 and proxy.quota_calls == 5
    finally:
        proxy.stop()


def test_answers_leave_with_nagle_off(moto_url: str) -> None:
    # with Nagle's algorithm on, an answer's body waits for the client's
    # delayed ACK of its headers: about 40 ms a call that no endpoint adds
    proxy = LatencyProxy(moto_url, 0.0).start()
    try:
        handler = proxy._server.RequestHandlerClass
        assert getattr(handler, "disable_nagle_algorithm", False) is True
        host, port = proxy._server.server_address[:2]
        with socket.create_connection((host, port)) as conn:
            conn.sendall(b"GET /moto-api/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            assert conn.recv(12).startswith(b"HTTP/1.1")
    finally:
        proxy.stop()


def test_each_account_stays_on_the_server_its_assume_role_went_to() -> None:
    proxy = LatencyProxy(
        ["http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3"],
        0.0,
        account_server={"200000000001": 1, "200000000002": 2}.get,
    )
    try:
        assume = (
            b"Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A200000000002"
            b"%3Arole%2Fremediator&RoleSessionName=s"
        )
        caller = AUTH.format(region="us-east-1", service="sts")
        assert proxy._server_of(caller, assume) == 2
        proxy._remember(assume, b"<Credentials><AccessKeyId>ASIAMEMBER2</AccessKeyId>", 2)
        member = caller.replace("AKIDEXAMPLE", "ASIAMEMBER2").replace("/sts/", "/lambda/")
        assert proxy._server_of(member, None) == 2
        # the caller's own calls, and an unknown credential's, go to the first server
        assert proxy._server_of(caller, b"Action=GetCallerIdentity") == 0
        assert proxy._server_of(member.replace("ASIAMEMBER2", "ASIAOTHER"), None) == 0
    finally:
        proxy._server.server_close()
