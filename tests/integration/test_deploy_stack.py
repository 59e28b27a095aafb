"""The account template deployed on moto's CloudFormation, then used: the
resources come up as the template says, and the rules route the events the
operator exists for to its queue (and nothing else).

moto's CloudFormation has no ``AWS::S3::BucketPolicy``,
``AWS::SQS::QueuePolicy``, ``AWS::Lambda::EventInvokeConfig`` or
``AWS::CodeBuild::Project``: the stack deployed is the template without
those (``trimmed``), and without the CodeBuild fleet runner (its state
machine and roles depend on the project). What they hold is checked on the
template itself (tests/unit/test_deploy_template.py) and by cfn-lint, as
are the lock table's TTL and the bucket's versioning, public access block
and lifecycle (moto's CloudFormation leaves them out).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from remediator.render import deploy
from remediator.render.deploy import DeployOptions
from remediator.render.deploy_template import template

MOTO_LACKS = frozenset(
    {
        "AWS::S3::BucketPolicy",
        "AWS::SQS::QueuePolicy",
        "AWS::Lambda::EventInvokeConfig",
    }
)


def trimmed(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` without the resource types moto cannot create (nothing
    else refers to them)."""
    out = json.loads(json.dumps(document))
    for name, body in list(out["Resources"].items()):
        if body["Type"] in MOTO_LACKS:
            del out["Resources"][name]
    assert "CodeBuild" not in json.dumps(out), "the CodeBuild runner cannot be deployed on moto"
    return out


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="remediator-code")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("remediator/__init__.py", "")
        s3.put_object(Bucket="remediator-code", Key="remediator-0.1.0.zip", Body=buf.getvalue())
        body = trimmed(template(DeployOptions(fleet_runner="none")))
        cfn = boto3.client("cloudformation")
        params = {
            "CodeBucket": "remediator-code",
            "CodeKey": "remediator-0.1.0.zip",
            "DelaySeconds": "0",  # moto would hold the messages otherwise
            "MaxRisk": "medium",
        }
        with _AllSupported():
            cfn.create_stack(
                StackName="remediator",
                TemplateBody=json.dumps(body),
                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
                Capabilities=["CAPABILITY_IAM"],
            )
        described = cfn.describe_stacks(StackName="remediator")["Stacks"][0]
        assert described["StackStatus"] == "CREATE_COMPLETE"
        yield {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}


class _AllSupported:
    """Every resource type left in the trimmed stack is one moto supports."""

    def __enter__(self) -> None:
        import warnings

        self._catch = warnings.catch_warnings(record=True)
        self._seen = self._catch.__enter__()
        warnings.simplefilter("always")

    def __exit__(self, *exc: object) -> None:
        self._catch.__exit__(*exc)
        unsupported = [str(w.message) for w in self._seen if "not supported" in str(w.message)]
        assert unsupported == []


def test_stack_resources_are_configured_as_the_template_says(stack: dict[str, str]) -> None:
    lam = boto3.client("lambda")
    config = lam.get_function_configuration(FunctionName=stack["OperatorFunctionName"])
    assert config["Handler"] == deploy.HANDLER
    assert config["Runtime"] == "python3.12"
    assert config["Timeout"] == deploy.EVENT_FUNCTION_TIMEOUT
    env = config["Environment"]["Variables"]
    assert env["REMEDIATOR_MAX_RISK"] == "medium"
    assert env["REMEDIATOR_LOCK_TABLE"] == stack["LockTableName"]
    assert env["REMEDIATOR_OUT_DIR"] == f"s3://{stack['ArtifactsBucketName']}/runs"
    sweep = lam.get_function_configuration(FunctionName=stack["SweepFunctionName"])
    assert sweep["Timeout"] == deploy.SWEEP_FUNCTION_TIMEOUT

    (mapping,) = lam.list_event_source_mappings(FunctionName=stack["OperatorFunctionName"])[
        "EventSourceMappings"
    ]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]

    sqs = boto3.client("sqs")
    attrs = sqs.get_queue_attributes(QueueUrl=stack["EventQueueUrl"], AttributeNames=["All"])[
        "Attributes"
    ]
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["maxReceiveCount"] == deploy.MAX_RECEIVES
    assert redrive["deadLetterTargetArn"].endswith(stack["DeadLetterQueueUrl"].rsplit("/", 1)[1])
    assert int(attrs["VisibilityTimeout"]) == deploy.QUEUE_VISIBILITY

    ddb = boto3.client("dynamodb")
    table = ddb.describe_table(TableName=stack["LockTableName"])["Table"]
    assert table["KeySchema"] == [{"AttributeName": "LockID", "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"

    s3 = boto3.client("s3")
    bucket = stack["ArtifactsBucketName"]
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"

    iam = boto3.client("iam")
    role = stack["OperatorRoleArn"].rsplit("/", 1)[1]
    assert set(iam.list_role_policies(RoleName=role)["PolicyNames"]) == {
        "remediator",
        "operator-runtime",
    }


def _cloudtrail(source: str, event_name: str, error: str | None = None) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "eventSource": f"{source}.amazonaws.com",
        "eventName": event_name,
        "requestParameters": {},
    }
    if error:
        detail["errorCode"] = error
    return {
        "Source": f"aws.{source}",
        "DetailType": "AWS API Call via CloudTrail",
        "Detail": json.dumps(detail),
    }


@pytest.mark.parametrize(
    ("source", "event_name", "error", "queued"),
    [
        ("lambda", "UpdateFunctionConfiguration20150331v2", None, True),
        ("lambda", "CreateFunction20150331", None, True),
        ("lambda", "PublishVersion20150331", None, True),
        ("lambda", "UpdateAlias20150331", None, True),
        ("lambda", "GetFunction20150331v2", None, False),
        ("lambda", "UpdateFunctionCode20150331v2", None, False),
        ("lambda", "UpdateFunctionConfiguration20150331v2", "AccessDenied", False),
        ("ec2", "DeleteNatGateway", None, True),
        ("ec2", "ReplaceRouteTableAssociation", None, True),
        ("ec2", "RevokeSecurityGroupEgress", None, True),
        ("ec2", "DescribeNatGateways", None, False),
        ("ec2", "CreateRouteTable", None, False),  # a prefix of nothing: EC2 names are exact
        ("ec2", "DeleteRoute", "InvalidRoute.NotFound", False),
    ],
)
def test_rules_send_what_can_break_egress_to_the_queue(
    stack: dict[str, str], source: str, event_name: str, error: str | None, queued: bool
) -> None:
    lam = boto3.client("lambda")
    for mapping in lam.list_event_source_mappings()["EventSourceMappings"]:
        # moto would invoke the function (in Docker) for each message
        lam.delete_event_source_mapping(UUID=mapping["UUID"])
    events = boto3.client("events")
    for rule in events.list_rules()["Rules"]:
        if rule.get("ScheduleExpression"):
            # moto sends every event to a schedule rule's targets too
            ids = [t["Id"] for t in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]]
            events.remove_targets(Rule=rule["Name"], Ids=ids)
    assert (
        events.put_events(Entries=[_cloudtrail(source, event_name, error)])["FailedEntryCount"] == 0
    )
    sqs = boto3.client("sqs")
    messages = sqs.receive_message(QueueUrl=stack["EventQueueUrl"], MaxNumberOfMessages=10).get(
        "Messages", []
    )
    assert len(messages) == (1 if queued else 0)
    if queued:
        body = json.loads(messages[0]["Body"])
        assert body["detail"]["eventName"] == event_name
        assert body["detail-type"] == "AWS API Call via CloudTrail"
