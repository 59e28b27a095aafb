"""The AWS boundary: only ``remediator/aws`` imports boto3/botocore, one door
(mode guard, jittered retries), one IAM-prefix map, one lock constructor."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

import remediator
from remediator.aws import door, errors, session
from remediator.aws.lock_table import DynamoLock
from remediator.domain import errors as domain_errors
from remediator.domain import wire
from remediator.domain.mode import mode_for
from remediator.render import iam
from remediator.run.lock import FileLock, lock_for

PACKAGE = Path(remediator.__file__).parent
REGION = "us-east-1"


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_only_the_aws_package_imports_boto3_or_botocore() -> None:
    strays = [
        str(path.relative_to(PACKAGE))
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.relative_to(PACKAGE).parts[0] != "aws" and _imports(path) & {"boto3", "botocore"}
    ]
    assert strays == []


def test_domain_wire_needs_no_stubs_at_run_time() -> None:
    tree = ast.parse((PACKAGE / "domain" / "wire.py").read_text(encoding="utf-8"))
    top_level = {
        node.module.split(".")[0]
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert not top_level & {"mypy_boto3_ec2", "mypy_boto3_lambda", "boto3", "botocore"}


def test_render_uses_the_one_iam_prefix_map() -> None:
    assert iam.IAM_PREFIX is errors.IAM_PREFIX
    assert iam.iam_action("resourcegroupstaggingapi", "GetResources") == "tag:GetResources"
    assert errors.iam_action("resourcegroupstaggingapi", "GetResources") == "tag:GetResources"


# --------------------------------------------------------------------------
# Mode


def test_mode_is_set_once_and_dry_run_reads_it() -> None:
    aws = door.Aws(lambda s, r: None, mode="check")
    assert aws.mode == "check" and aws.dry_run
    assert door.Aws(lambda s, r: None, dry_run=True).mode == mode_for(True) == "check"
    assert door.Aws(lambda s, r: None).mode == "apply"
    with pytest.raises(AttributeError):
        aws.dry_run = False  # type: ignore[misc]


def test_check_mode_refuses_writes_but_lets_bookkeeping_through() -> None:
    made: list[str] = []

    class Sts:
        def assume_role(self, **_: Any) -> dict[str, Any]:
            return {"Credentials": {}}

    def factory(service: str, region: str) -> Any:
        made.append(service)
        return Sts()

    aws = door.Aws(factory, mode="check", retry="botocore")
    with pytest.raises(AssertionError, match="dry-run must not call ec2:CreateRoute"):
        aws.call("ec2", REGION, "create_route", RouteTableId="rtb-1")
    assert made == []
    assert aws.call("sts", REGION, "assume_role", RoleArn="r") == {"Credentials": {}}


# --------------------------------------------------------------------------
# Retries: jitter is injectable, and used


def _throttled_then_ok(jitter: Any) -> list[float]:
    client = boto3.client(
        "ec2",
        region_name=REGION,
        aws_access_key_id="k",
        aws_secret_access_key="s",
        config=session.executor_config(),
    )
    sleeps: list[float] = []
    aws = door.Aws(
        lambda s, r: client,
        settings=door.Settings(sleep=sleeps.append, base_delay=2.0, jitter=jitter),
    )
    with Stubber(client) as stub:
        stub.add_client_error("describe_vpcs", service_error_code="Throttling")
        stub.add_client_error("describe_vpcs", service_error_code="Throttling")
        stub.add_response("describe_vpcs", {"Vpcs": []})
        assert aws.call("ec2", REGION, "describe_vpcs") == {"Vpcs": []}
    return sleeps


def test_backoff_goes_through_the_jitter() -> None:
    assert _throttled_then_ok(door.no_jitter) == [2.0, 4.0]
    assert _throttled_then_ok(lambda d: d / 4) == [0.5, 1.0]


def test_the_default_jitter_spreads_over_the_upper_half() -> None:
    assert door.Settings().jitter is door.full_jitter
    for _ in range(200):
        assert 1.0 <= door.full_jitter(2.0) <= 2.0


def test_a_failure_for_good_is_one_botocore_free_line() -> None:
    client = boto3.client(
        "ec2", region_name=REGION, aws_access_key_id="k", aws_secret_access_key="s"
    )
    aws = door.Aws(lambda s, r: client, settings=door.Settings(sleep=lambda _: None))
    with Stubber(client) as stub:
        stub.add_client_error("describe_vpcs", service_error_code="UnauthorizedOperation")
        with pytest.raises(domain_errors.AwsCallFailed) as failed:
            aws.call("ec2", REGION, "describe_vpcs")
    assert failed.value.code == "UnauthorizedOperation"
    assert "ec2:DescribeVpcs" in failed.value.message


def test_the_botocore_policy_translates_into_access_errors() -> None:
    client = boto3.client(
        "sns", region_name=REGION, aws_access_key_id="k", aws_secret_access_key="s"
    )
    aws = door.Aws(lambda s, r: client, retry="botocore")
    with Stubber(client) as stub:
        stub.add_client_error("publish", service_error_code="AuthorizationError")
        with pytest.raises(domain_errors.AwsAccessError, match="sns:Publish in us-east-1"):
            aws.call("sns", REGION, "publish", TopicArn="arn:aws:sns:us-east-1:1:t", Message="m")


# --------------------------------------------------------------------------
# Sessions and locks


def test_the_client_factory_refuses_a_bad_region_name() -> None:
    make = session.client_factory(boto3.Session(region_name=REGION))
    with pytest.raises(domain_errors.BadInput, match="not a valid AWS region"):
        make("ec2", "us east 1")


@pytest.mark.parametrize("url", ["notaurl", "http://[::1"])
def test_the_client_factory_refuses_an_endpoint_url_it_cannot_use(url: str) -> None:
    make = session.client_factory(boto3.Session(region_name=REGION), endpoint_url=url)
    with pytest.raises(domain_errors.BadInput, match="--endpoint-url"):
        make("ec2", REGION)


def test_one_lock_constructor_for_files_and_tables(tmp_path: Path) -> None:
    assert lock_for(None, tmp_path, None, REGION) == FileLock(tmp_path)
    made: list[tuple[str, str]] = []

    def factory(service: str, region: str) -> Any:
        made.append((service, region))
        return object()

    lock = lock_for("locks", tmp_path, door.Aws(factory), "eu-west-1")
    assert isinstance(lock, DynamoLock) and lock.table == "locks"
    assert made == [("dynamodb", "eu-west-1")]


# --------------------------------------------------------------------------
# The wire parsers


def test_route_table_parse_skips_gone_associations_and_orders_routes() -> None:
    table = wire.route_table(
        {
            "RouteTableId": "rtb-1",
            "VpcId": "vpc-1",
            "Associations": [
                {"SubnetId": "subnet-b", "AssociationState": {"State": "associated"}},
                {"SubnetId": "subnet-a", "AssociationState": {"State": "disassociated"}},
                {"Main": True},
            ],
            "Routes": [
                {"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local"},
                {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-1"},
            ],
        }
    )
    assert table.main and table.subnet_ids == ("subnet-b",)
    assert [(r.destination, r.target) for r in table.routes] == [
        ("0.0.0.0/0", "nat-1"),
        ("10.0.0.0/16", "local"),
    ]
