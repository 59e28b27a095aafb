"""The resources of the operator's template, one function per part (pure).

``render.deploy_template`` puts them together; ``render.deploy`` holds the
options, the constants and the small builders they share. Every resource
name below is the logical id users see in the console and in
docs/operator.md.
"""

from __future__ import annotations

import json
from typing import Any

from remediator.render.deploy import (
    DLQ_RETENTION,
    EVENT_FUNCTION_TIMEOUT,
    HANDLER,
    MAX_RECEIVES,
    NO_VALUE,
    QUEUE_VISIBILITY,
    RISKS,
    SWEEP_EVENT,
    SWEEP_FUNCTION_TIMEOUT,
    DeployOptions,
    arn_of,
    document,
    event_patterns,
    if_,
    ref,
    remediator_policy,
    statement,
    sub,
    trust,
)

LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653)
RULES = ("LambdaChangesRule", "NetworkChangesRule")
RUNS_PREFIX = "runs"
EVENT_RETENTION = 4 * 24 * 3600
"""SQS's default, said explicitly: an event older than that is the sweep's."""
_TRANSIENT = {"DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete"}
"""Queues and log groups go with the stack: the queues hold only what the
next sweep finds again, and a kept log group's fixed name would block the
next stack of the same name. What must outlive the stack (artifacts, the
lock table) is ``Retain``."""


# --------------------------------------------------------------------------
# Parameters, conditions, outputs


def _param(kind: str, description: str, default: Any = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"Type": kind, "Description": description}
    if default is not None:
        out["Default"] = default
    out.update(extra)
    return out


def parameters(opts: DeployOptions) -> dict[str, Any]:
    params: dict[str, Any] = {
        "CodeBucket": _param("String", "S3 bucket holding the remediator code zip.", MinLength=3),
        "CodeKey": _param(
            "String",
            "S3 key of the code zip (a new key per version: CloudFormation updates the code when the key changes).",
            MinLength=1,
        ),
        "PolicyUrl": _param(
            "String",
            "s3://bucket/key of the policy TOML; empty: PolicyPath.",
            "",
            AllowedPattern=r"^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+)?$",
        ),
        "PolicyPath": _param(
            "String",
            "When PolicyUrl is empty: the policy TOML's path inside the code zip (e.g. policy.toml); empty: the built-in policy.",
            "",
            AllowedPattern=r"^([A-Za-z0-9_.-]+/)*[A-Za-z0-9_-][A-Za-z0-9_.-]*\.toml$|^$",
        ),
        "MaxRisk": _param(
            "String",
            "Apply changes up to this risk unattended.",
            opts.max_risk,
            AllowedValues=list(RISKS),
        ),
        "MaxChanges": _param(
            "Number", "Never apply more changes than this in one run.", 25, MinValue=0
        ),
        "DryRun": _param(
            "String",
            "true: plan and check against the live state, change nothing (a first rollout).",
            "false",
            AllowedValues=["false", "true"],
        ),
        "NotificationTopicArn": _param(
            "String",
            "SNS topic for run summaries (and the dead-letter alarm); empty: none.",
            "",
            AllowedPattern=r"^(arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+)?$",
        ),
        "DelaySeconds": _param(
            "Number",
            "How long an event waits in the queue before the operator acts (the change settles).",
            opts.delay,
            MinValue=0,
            MaxValue=900,
        ),
        "SweepSchedule": _param(
            "String", "EventBridge schedule of the periodic sweep.", opts.sweep_schedule
        ),
        "Regions": _param(
            "String",
            "Regions the sweep covers (comma-separated, or 'all'); empty: this stack's region.",
            "",
            AllowedPattern=r"^(all|[a-z0-9-]+(,[a-z0-9-]+)*)?$",
        ),
        "ArtifactRetentionDays": _param(
            "Number", "Days plans, journals and reports stay in the bucket.", 90, MinValue=1
        ),
        "LogRetentionDays": _param(
            "Number",
            "Days the operator's logs are kept.",
            90,
            AllowedValues=list(LOG_RETENTION_DAYS),
        ),
        "SigningKeyArn": _param(
            "String",
            "KMS key that signs plans and approvals; empty: none.",
            "",
            AllowedPattern=r"^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+)?$",
        ),
    }
    if opts.scope == "organization":
        params.update(_organization_parameters())
    if opts.fleet_runner != "none":
        params.update(_fleet_parameters(opts.fleet_runner))
    return params


def _organization_parameters() -> dict[str, Any]:
    return {
        "OrganizationId": _param(
            "String",
            "The AWS Organization whose accounts may send events (o-...).",
            AllowedPattern=r"^o-[a-z0-9]{10,32}$",
        ),
        "MemberRoleName": _param(
            "String",
            "Name of the role the operator assumes in each account.",
            "remediator-member",
            AllowedPattern=r"^[\w+=,.@-]{1,64}$",
        ),
        "MemberOrganizationalUnitIds": _param(
            "CommaDelimitedList",
            "Organizational units (or the root, r-...) the member StackSet deploys to.",
        ),
        "MemberRegions": _param("CommaDelimitedList", "Regions whose events the members forward."),
        "StackSetCallAs": _param(
            "String",
            "SELF from the management account, DELEGATED_ADMIN from a delegated administrator.",
            "DELEGATED_ADMIN",
            AllowedValues=["SELF", "DELEGATED_ADMIN"],
        ),
    }


def _fleet_parameters(runner: str) -> dict[str, Any]:
    """The fleet sweep's parameters (``render.deploy_ecs`` adds the ECS task's)."""
    found = {
        "TargetsKey": _param(
            "String",
            'Key in the artifacts bucket of the fleet\'s targets: [{"account_id": "...", "region": "..."}].',
            "targets.json",
            MinLength=1,
        ),
        "MaxConcurrency": _param(
            "Number",
            "Account-regions swept at the same time (CodeBuild builds).",
            10,
            MinValue=1,
            MaxValue=10000,
        ),
        "ToleratedFailurePercentage": _param(
            "Number",
            "Share of failed account-regions that still lets the sweep succeed.",
            10,
            MinValue=0,
            MaxValue=100,
        ),
    }
    if runner == "codebuild":
        found["BuildTimeoutMinutes"] = _param(
            "Number", "Longest sweep of one account-region.", 120, MinValue=5, MaxValue=2160
        )
    return found


def conditions(opts: DeployOptions) -> dict[str, Any]:
    def given(name: str) -> dict[str, Any]:
        return {"Fn::Not": [{"Fn::Equals": [ref(name), ""]}]}

    return {
        "HasPolicyUrl": given("PolicyUrl"),
        "HasPolicy": {"Fn::Or": [{"Condition": "HasPolicyUrl"}, given("PolicyPath")]},
        "HasTopic": given("NotificationTopicArn"),
        "HasRegions": given("Regions"),
        "HasSigningKey": given("SigningKeyArn"),
    }


def outputs(opts: DeployOptions) -> dict[str, Any]:
    def out(description: str, value: Any) -> dict[str, Any]:
        return {"Description": description, "Value": value}

    found = {
        "EventQueueUrl": out("The queue between the rules and the operator.", ref("EventQueue")),
        "DeadLetterQueueUrl": out("Events that failed five times.", ref("DeadLetterQueue")),
        "ArtifactsBucketName": out("Plans, journals, reports, summaries.", ref("ArtifactsBucket")),
        "LockTableName": out("The DynamoDB lock table.", ref("LockTable")),
        "OperatorFunctionName": out("The event handler.", ref("OperatorFunction")),
        "OperatorRoleArn": out("The operator's role.", arn_of("OperatorRole")),
    }
    if opts.scope == "organization":
        found["CentralBusArn"] = out("The bus the members forward to.", arn_of("CentralBus"))
    if opts.fleet_runner != "none":
        found["StateMachineArn"] = out("The fleet sweep.", ref("FleetStateMachine"))
    if opts.fleet_runner == "codebuild":
        found["BuildProjectName"] = out("One account-region's sweep.", ref("SweepProject"))
    elif opts.fleet_runner == "ecs":
        found["SweepTaskRoleArn"] = out("The sweep task's role.", arn_of("SweepTaskRole"))
    else:
        found["SweepFunctionName"] = out("The scheduled sweep.", ref("SweepFunction"))
    return found


# --------------------------------------------------------------------------
# Storage: the artifacts bucket and the lock table


def storage() -> dict[str, Any]:
    bucket_arn = arn_of("ArtifactsBucket")
    deny_insecure = [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, sub("${ArtifactsBucket.Arn}/*")],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            "Sid": "DenyOldTls",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, sub("${ArtifactsBucket.Arn}/*")],
            "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}},
        },
    ]
    return {
        "ArtifactsBucket": {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                    ]
                },
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "VersioningConfiguration": {"Status": "Enabled"},
                "LifecycleConfiguration": {
                    "Rules": [
                        {
                            "Id": "expire-artifacts",
                            "Status": "Enabled",
                            "ExpirationInDays": ref("ArtifactRetentionDays"),
                            "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
                            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                        }
                    ]
                },
            },
        },
        "ArtifactsBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": ref("ArtifactsBucket"),
                "PolicyDocument": document(deny_insecure),
            },
        },
        "LockTable": {
            "Type": "AWS::DynamoDB::Table",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "LockID", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "LockID", "KeyType": "HASH"}],
                "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
            },
        },
    }


# --------------------------------------------------------------------------
# Events: the queue, its dead-letter queue and the rules


def _rule_sources(opts: DeployOptions) -> list[Any]:
    names = list(RULES) + (["SweepScheduleRule"] if opts.fleet_runner == "none" else [])
    return [arn_of(name) for name in names]


def queues(opts: DeployOptions) -> dict[str, Any]:
    def send(sid: str, queue: str) -> dict[str, Any]:
        return {
            "Sid": sid,
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": arn_of(queue),
            "Condition": {"ArnEquals": {"aws:SourceArn": _rule_sources(opts)}},
        }

    found: dict[str, Any] = {
        "DeadLetterQueue": {
            "Type": "AWS::SQS::Queue",
            **_TRANSIENT,
            "Properties": {"MessageRetentionPeriod": DLQ_RETENTION, "SqsManagedSseEnabled": True},
        },
        "EventQueue": {
            "Type": "AWS::SQS::Queue",
            **_TRANSIENT,
            "Properties": {
                "DelaySeconds": ref("DelaySeconds"),
                "MessageRetentionPeriod": EVENT_RETENTION,
                "VisibilityTimeout": QUEUE_VISIBILITY,
                "SqsManagedSseEnabled": True,
                "RedrivePolicy": {
                    "deadLetterTargetArn": arn_of("DeadLetterQueue"),
                    "maxReceiveCount": MAX_RECEIVES,
                },
            },
        },
        "EventQueuePolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [ref("EventQueue"), ref("DeadLetterQueue")],
                "PolicyDocument": document(
                    [
                        send("RulesSendEvents", "EventQueue"),
                        send("RulesSendFailures", "DeadLetterQueue"),
                    ]
                ),
            },
        },
        "DeadLetterAlarm": {
            "Type": "AWS::CloudWatch::Alarm",
            "Condition": "HasTopic",
            "Properties": {
                "AlarmDescription": "remediator: events the operator could not handle (dead-letter queue).",
                "Namespace": "AWS/SQS",
                "MetricName": "ApproximateNumberOfMessagesVisible",
                "Dimensions": [
                    {"Name": "QueueName", "Value": {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}}
                ],
                "Statistic": "Maximum",
                "Period": 300,
                "EvaluationPeriods": 1,
                "Threshold": 0,
                "ComparisonOperator": "GreaterThanThreshold",
                "TreatMissingData": "notBreaching",
                "AlarmActions": [ref("NotificationTopicArn")],
            },
        },
    }
    return found


def rules(opts: DeployOptions) -> dict[str, Any]:
    found: dict[str, Any] = {}
    descriptions = (
        "Lambda calls that can change a function's subnets or aliases (matched by prefix).",
        "EC2 calls that can change a function's egress path.",
    )
    for name, description, pattern in zip(RULES, descriptions, event_patterns(), strict=True):
        props: dict[str, Any] = {
            "Description": f"remediator: {description}",
            "EventPattern": pattern,
            "State": "ENABLED",
            "Targets": [
                {
                    "Id": "operator-queue",
                    "Arn": arn_of("EventQueue"),
                    "DeadLetterConfig": {"Arn": arn_of("DeadLetterQueue")},
                }
            ],
        }
        if opts.scope == "organization":
            props = {"EventBusName": ref("CentralBus"), **props}
        found[name] = {"Type": "AWS::Events::Rule", "Properties": props}
    return found


# --------------------------------------------------------------------------
# The operator: role, function, event source


OPTIONAL_ENVIRONMENT: dict[str, str] = {
    "REMEDIATOR_POLICY": "HasPolicy",
    "REMEDIATOR_NOTIFY_SNS": "HasTopic",
    "REMEDIATOR_SIGNING_KEY": "HasSigningKey",
}
"""Variables set only when their parameter is (the condition that says so)."""


def environment(opts: DeployOptions) -> dict[str, Any]:
    """The handler's configuration (the same names in the CodeBuild sweep);
    an optional variable is absent, not empty, when its parameter is empty."""
    env: dict[str, Any] = {
        "REMEDIATOR_POLICY": if_("HasPolicyUrl", ref("PolicyUrl"), ref("PolicyPath")),
        "REMEDIATOR_MAX_RISK": ref("MaxRisk"),
        "REMEDIATOR_MAX_CHANGES": ref("MaxChanges"),
        "REMEDIATOR_OUT_DIR": sub(f"s3://${{ArtifactsBucket}}/{RUNS_PREFIX}"),
        "REMEDIATOR_LOCK_TABLE": ref("LockTable"),
        "REMEDIATOR_NOTIFY_SNS": ref("NotificationTopicArn"),
        "REMEDIATOR_DRY_RUN": ref("DryRun"),
        "REMEDIATOR_REGIONS": if_("HasRegions", ref("Regions"), ref("AWS::Region")),
        "REMEDIATOR_SIGNING_KEY": sub("kms:${SigningKeyArn}"),
    }
    if opts.scope == "organization":
        env["REMEDIATOR_ROLE_ARN"] = sub(
            "arn:${AWS::Partition}:iam::{account_id}:role/${MemberRoleName}"
        )
        env["REMEDIATOR_ORGANIZATION"] = "true"
    return env


def lambda_environment(opts: DeployOptions) -> dict[str, Any]:
    return {
        name: if_(OPTIONAL_ENVIRONMENT[name], value, NO_VALUE)
        if name in OPTIONAL_ENVIRONMENT
        else value
        for name, value in environment(opts).items()
    }


def runtime_statements(log_groups: list[str], queue: bool) -> list[Any]:
    """What the operator needs besides remediator's own calls: its logs, the
    queue, the artifacts, the policy file and the signing key."""
    found: list[Any] = [
        statement(
            "WriteLogs",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [arn_of(g) for g in log_groups],
        ),
        statement(
            "WriteArtifacts",
            ["s3:GetObject", "s3:PutObject"],
            sub(f"${{ArtifactsBucket.Arn}}/{RUNS_PREFIX}/*"),
        ),
        {
            **statement("ListArtifacts", ["s3:ListBucket"], arn_of("ArtifactsBucket")),
            "Condition": {"StringLike": {"s3:prefix": f"{RUNS_PREFIX}/*"}},
        },
        if_(
            "HasPolicyUrl",
            statement(
                "ReadPolicyFile",
                ["s3:GetObject"],
                {
                    "Fn::Sub": [
                        "arn:${AWS::Partition}:s3:::${Path}",
                        {"Path": {"Fn::Select": [1, {"Fn::Split": ["s3://", ref("PolicyUrl")]}]}},
                    ]
                },
            ),
            NO_VALUE,
        ),
        if_(
            "HasSigningKey",
            statement(
                "VerifySignatures",
                ["kms:DescribeKey", "kms:GetPublicKey", "kms:Verify", "kms:VerifyMac"],
                ref("SigningKeyArn"),
            ),
            NO_VALUE,
        ),
    ]
    if queue:
        found.insert(
            1,
            statement(
                "ConsumeEvents",
                [
                    "sqs:ChangeMessageVisibility",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:ReceiveMessage",
                ],
                arn_of("EventQueue"),
            ),
        )
    return found


def role(service: str, scope: str, runtime: list[Any], source_account: bool) -> dict[str, Any]:
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": f"remediator operator ({service})",
            "AssumeRolePolicyDocument": trust(service, source_account),
            "Policies": [
                {"PolicyName": "remediator", "PolicyDocument": remediator_policy(scope)},
                {"PolicyName": "operator-runtime", "PolicyDocument": document(runtime)},
            ],
        },
    }


def log_group(name: str) -> dict[str, Any]:
    return {
        "Type": "AWS::Logs::LogGroup",
        **_TRANSIENT,
        "Properties": {"LogGroupName": sub(name), "RetentionInDays": ref("LogRetentionDays")},
    }


def function(opts: DeployOptions, suffix: str, timeout: int, logs: str) -> dict[str, Any]:
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "FunctionName": sub(f"${{AWS::StackName}}-{suffix}"),
            "Description": f"remediator {suffix}",
            "Runtime": opts.runtime,
            "Handler": HANDLER,
            "Architectures": ["x86_64"],
            "Code": {"S3Bucket": ref("CodeBucket"), "S3Key": ref("CodeKey")},
            "Role": arn_of("OperatorRole"),
            "Timeout": timeout,
            "MemorySize": 1024,
            "Environment": {"Variables": lambda_environment(opts)},
            "LoggingConfig": {"LogGroup": ref(logs)},
        },
    }


def operator(opts: DeployOptions) -> dict[str, Any]:
    groups = ["OperatorLogGroup"] + (["SweepLogGroup"] if opts.fleet_runner == "none" else [])
    return {
        "OperatorLogGroup": log_group("/aws/lambda/${AWS::StackName}-operator"),
        "OperatorRole": role(
            "lambda.amazonaws.com", opts.scope, runtime_statements(groups, queue=True), False
        ),
        "OperatorFunction": function(opts, "operator", EVENT_FUNCTION_TIMEOUT, "OperatorLogGroup"),
        "OperatorEventSource": {
            "Type": "AWS::Lambda::EventSourceMapping",
            "Properties": {
                "EventSourceArn": arn_of("EventQueue"),
                "FunctionName": ref("OperatorFunction"),
                "BatchSize": 10,
                # bursts for the same target arrive in one batch: coalesced
                "MaximumBatchingWindowInSeconds": 60,
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
                "ScalingConfig": {"MaximumConcurrency": 2},
            },
        },
    }


def lambda_sweep(opts: DeployOptions) -> dict[str, Any]:
    """``--fleet-runner none``: the schedule invokes the handler with ``SWEEP_EVENT``."""
    return {
        "SweepLogGroup": log_group("/aws/lambda/${AWS::StackName}-sweep"),
        "SweepFunction": function(opts, "sweep", SWEEP_FUNCTION_TIMEOUT, "SweepLogGroup"),
        "SweepInvokeConfig": {
            "Type": "AWS::Lambda::EventInvokeConfig",
            "Properties": {
                "FunctionName": ref("SweepFunction"),
                "Qualifier": "$LATEST",
                # the next sweep comes anyway; a retry would overlap it
                "MaximumRetryAttempts": 0,
            },
        },
        "SweepScheduleRule": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Description": "remediator: the periodic sweep (EventBridge delivery is best effort).",
                "ScheduleExpression": ref("SweepSchedule"),
                "State": "ENABLED",
                "Targets": [
                    {
                        "Id": "sweep",
                        "Arn": arn_of("SweepFunction"),
                        "Input": json.dumps(SWEEP_EVENT, sort_keys=True),
                        "DeadLetterConfig": {"Arn": arn_of("DeadLetterQueue")},
                    }
                ],
            },
        },
        "SweepPermission": {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": ref("SweepFunction"),
                "Principal": "events.amazonaws.com",
                "SourceArn": arn_of("SweepScheduleRule"),
            },
        },
    }
