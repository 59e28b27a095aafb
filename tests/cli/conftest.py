"""CLI fixtures: a moto server for `remediate plan` (one per module) with the
sandbox world on it, and a clean structlog setup after each test."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
import structlog

from remediator import sandbox


@dataclass
class Sandbox:
    url: str
    seed: sandbox.SeedInfo


@dataclass
class _Server:
    url: str
    seed: sandbox.SeedInfo | None = None
    clients: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    """The CLI points structlog at the runner's captured stderr; do not leak it."""
    yield
    structlog.reset_defaults()


@pytest.fixture(scope="module")
def moto_server() -> Iterator[_Server]:
    server, url = sandbox.run_server(0)
    session = boto3.Session(
        region_name=sandbox.REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    clients = {s: session.client(s, endpoint_url=url) for s in ("ec2", "lambda", "iam")}
    try:
        yield _Server(url=url, clients=clients)
    finally:
        server.stop()


def _intact(server: _Server) -> bool:
    """True when the seeded world is still there. moto's backends are shared by
    the whole process: any in-process ``mock_aws()`` (``remediate demo``, the
    integration tests) resets them, server included."""
    if server.seed is None:
        return False
    names = {f["FunctionName"] for f in server.clients["lambda"].list_functions()["Functions"]}
    if names != set(sandbox.FUNCTION_NAMES):
        return False
    wanted = sorted(server.seed.subnets.values())
    found = server.clients["ec2"].describe_subnets(
        Filters=[{"Name": "subnet-id", "Values": wanted}]
    )["Subnets"]
    return sorted(s["SubnetId"] for s in found) == wanted


@pytest.fixture
def seeded_server(moto_server: _Server) -> Sandbox:
    """The sandbox world on the module's server, (re)seeded only when it is gone.
    Tests only read it (`remediate plan` changes nothing)."""
    if not _intact(moto_server):
        request = urllib.request.Request(f"{moto_server.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        moto_server.seed = sandbox.seed(moto_server.clients, sandbox.REGION)
    assert moto_server.seed is not None
    return Sandbox(url=moto_server.url, seed=moto_server.seed)
