"""The embedded sandbox: seed() builds the world the demo and tests rely on,
snapshot() reads it back deterministically."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from remediator import sandbox
from remediator.domain.errors import BadInput

REGION = "us-east-1"


@pytest.fixture(autouse=True)
def fake_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)


def _session() -> boto3.Session:
    return boto3.Session(region_name=REGION)


def _default_route(ec2: Any, subnet_id: str) -> dict[str, Any] | None:
    """The 0.0.0.0/0 route of the subnet's explicit route table."""
    tables = ec2.describe_route_tables(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}]
    )["RouteTables"]
    assert len(tables) == 1, f"{subnet_id} should have an explicit route table"
    return next(
        (r for r in tables[0]["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"), None
    )


def test_seed_builds_the_world() -> None:
    with mock_aws():
        session = _session()
        info = sandbox.seed(session)
        ec2, lam = session.client("ec2"), session.client("lambda")

        names = sorted(f["FunctionName"] for f in lam.list_functions()["Functions"])
        assert names == sorted(sandbox.FUNCTION_NAMES)
        assert info.account_id == "123456789012"

        # The seed case: three subnets, and public-a routes to the internet gateway.
        cfg = lam.get_function_configuration(FunctionName="orders-api")
        assert cfg["VpcConfig"]["SubnetIds"] == [
            info.subnets["public-a"],
            info.subnets["private-a"],
            info.subnets["private-b"],
        ]
        assert cfg["VpcConfig"]["SecurityGroupIds"] == [info.security_groups["fn-sg"]]
        assert cfg["Environment"]["Variables"] == {"TARGET": "orders-fulfil"}
        assert _default_route(ec2, info.subnets["public-a"])["GatewayId"] == (  # type: ignore[index]
            info.internet_gateway_id
        )
        assert info.internet_gateway_id.startswith("igw-")
        alias = lam.get_alias(FunctionName="orders-api", Name="live")
        assert alias["FunctionVersion"] == "1"

        # Private subnets go through the NAT, which sits in public-a.
        for role in ("private-a", "private-b"):
            assert _default_route(ec2, info.subnets[role])["NatGatewayId"] == info.nat_gateway_id  # type: ignore[index]
        nat = ec2.describe_nat_gateways(NatGatewayIds=[info.nat_gateway_id])["NatGateways"][0]
        assert nat["SubnetId"] == info.subnets["public-a"]
        assert nat["State"] == "available"
        assert nat["NatGatewayAddresses"][0]["AllocationId"] == info.eip_allocation_id

        # private-c is isolated: its own table, no default route.
        assert _default_route(ec2, info.subnets["private-c"]) is None
        assert lam.get_function_configuration(FunctionName="ledger-sync")["VpcConfig"][
            "SubnetIds"
        ] == [info.subnets["private-c"]]

        # legacy: public through the main route table, no explicit associations.
        main = ec2.describe_route_tables(RouteTableIds=[info.route_tables["legacy-main"]])
        table = main["RouteTables"][0]
        assert any(a.get("Main") for a in table["Associations"])
        assert not any(a.get("SubnetId") for a in table["Associations"])
        assert {
            r.get("GatewayId") for r in table["Routes"] if r["DestinationCidrBlock"] == "0.0.0.0/0"
        } == {info.legacy_internet_gateway_id}
        for role in ("legacy-a", "legacy-b"):
            explicit = ec2.describe_route_tables(
                Filters=[{"Name": "association.subnet-id", "Values": [info.subnets[role]]}]
            )["RouteTables"]
            assert explicit == []

        tags = lam.list_tags(
            Resource=lam.get_function(FunctionName="db-migrator")["Configuration"]["FunctionArn"]
        )
        assert tags["Tags"]["remediator:exempt"] == "true"
        thumbnailer = lam.get_function_configuration(FunctionName="thumbnailer")
        assert not (thumbnailer.get("VpcConfig") or {}).get("SubnetIds")


def test_payments_alias_keeps_the_public_config() -> None:
    with mock_aws():
        session = _session()
        info = sandbox.seed(session)
        lam = session.client("lambda")

        latest = lam.get_function_configuration(FunctionName="payments-api")
        v1 = lam.get_function_configuration(FunctionName="payments-api", Qualifier="1")
        alias = lam.get_alias(FunctionName="payments-api", Name="prod")

        assert latest["VpcConfig"]["SubnetIds"] == [
            info.subnets["private-a"],
            info.subnets["private-b"],
        ]
        assert v1["VpcConfig"]["SubnetIds"] == [info.subnets["public-a"], info.subnets["public-b"]]
        assert alias["FunctionVersion"] == "1"
        assert latest["CodeSha256"] == v1["CodeSha256"]  # same code: moving the alias is safe


def test_snapshot_is_deterministic_and_sees_changes() -> None:
    with mock_aws():
        session = _session()
        info = sandbox.seed(session)
        first = sandbox.snapshot(session)
        second = sandbox.snapshot(session)
        assert first == second
        assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
        assert [f["name"] for f in first["functions"]] == sorted(sandbox.FUNCTION_NAMES)

        ec2 = session.client("ec2")
        ec2.create_route(
            RouteTableId=info.route_tables["private-c"],
            DestinationCidrBlock="0.0.0.0/0",
            NatGatewayId=info.nat_gateway_id,
        )
        after_route = sandbox.snapshot(session)
        assert after_route != first
        assert after_route["route_tables"] != first["route_tables"]
        assert after_route["functions"] == first["functions"]

        session.client("lambda").update_function_configuration(
            FunctionName="orders-api",
            VpcConfig={
                "SubnetIds": [info.subnets["private-a"], info.subnets["private-b"]],
                "SecurityGroupIds": [info.security_groups["fn-sg"]],
            },
        )
        after_fn = sandbox.snapshot(session)
        assert after_fn["functions"] != after_route["functions"]


def test_seed_and_snapshot_accept_ready_clients() -> None:
    with mock_aws():
        session = _session()
        clients = {s: session.client(s) for s in ("ec2", "lambda", "iam")}
        info = sandbox.seed(clients)
        snap = sandbox.snapshot(clients)
        assert info.vpc_id in {v["VpcId"] for v in snap["vpcs"]}
        with pytest.raises(BadInput, match="iam"):
            sandbox.seed({"ec2": clients["ec2"], "lambda": clients["lambda"]})


def test_server_sandbox_round_trip() -> None:
    server, url = sandbox.run_server()
    try:
        assert url.startswith("http://127.0.0.1:")
        env = sandbox.sandbox_env(url)
        assert env["AWS_ENDPOINT_URL"] == url
        assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == REGION
        session = boto3.Session(
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=REGION,
        )
        info = sandbox.seed(session, endpoint_url=url)
        snap = sandbox.snapshot(session, endpoint_url=url)
        assert {s["SubnetId"] for s in snap["subnets"]} >= set(info.subnets.values())
        payments = next(f for f in snap["functions"] if f["name"] == "payments-api")
        assert payments["versions"][0]["VpcConfig"]["SubnetIds"] == [
            info.subnets["public-a"],
            info.subnets["public-b"],
        ]
    finally:
        server.stop()


def test_mock_world_restores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://elsewhere.invalid")
    with sandbox.mock_world():
        assert "AWS_ENDPOINT_URL" not in os.environ
        vpcs = boto3.Session().client("ec2").describe_vpcs()["Vpcs"]
        assert [v["IsDefault"] for v in vpcs] == [True]  # a fresh moto account
    assert os.environ["AWS_ENDPOINT_URL"] == "http://elsewhere.invalid"


def test_missing_moto_is_bad_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "moto", None)  # makes `import moto` fail
    with pytest.raises(BadInput, match="needs moto") as caught:
        sandbox.run_server()
    assert caught.value.hint == "pip install 'remediator[sandbox]'"


def test_importing_the_module_does_not_import_moto() -> None:
    code = "import sys, remediator.sandbox; print('moto' in sys.modules)"
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert out.stdout.strip() == "False"
