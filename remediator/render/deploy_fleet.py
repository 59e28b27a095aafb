"""``--fleet-runner codebuild``: the sweep of fleets too big for one Lambda.

A Step Functions state machine reads the targets (a JSON list of
``{"account_id", "region"}`` in the artifacts bucket) with a Distributed
Map: one child execution per account-region, each a CodeBuild build
(``startBuild.sync``: no 15-minute cap, up to ``BuildTimeoutMinutes``) that
runs ``remediate auto`` for that one account-region from the same code zip
as the function, with the same configuration. ``MaxConcurrency`` and
``ToleratedFailurePercentage`` come with the execution's input (the schedule
passes the stack's parameters), so they change without a new definition.
The map's results go to the bucket (``ResultWriter``): a fleet's worth of
results would not fit the 256 KiB state payload.
"""

from __future__ import annotations

from typing import Any

from remediator.render.deploy import (
    NO_VALUE,
    DeployOptions,
    arn_of,
    document,
    if_,
    ref,
    statement,
    sub,
    trust,
)
from remediator.render.deploy_parts import (
    OPTIONAL_ENVIRONMENT,
    RUNS_PREFIX,
    environment,
    log_group,
    role,
    runtime_statements,
)

STATE_MACHINE = "${AWS::StackName}-fleet"
RESULTS_PREFIX = "fleet-results"
BUILD_IMAGE = "aws/codebuild/amazonlinux-x86_64-standard:5.0"

SWEEP_SCRIPT = """\
set -u
# CodeBuild: the code zip is the source folder; a container has remediator installed
if [ -n "${CODEBUILD_SRC_DIR:-}" ]; then export PYTHONPATH="$CODEBUILD_SRC_DIR"; fi
out="${CODEBUILD_SRC_DIR:-/tmp}/out"
args=(--region "$TARGET_REGION" --out-dir "$out" --max-risk "$REMEDIATOR_MAX_RISK" --max-changes "$REMEDIATOR_MAX_CHANGES" --lock-table "$REMEDIATOR_LOCK_TABLE")
if [ -n "${REMEDIATOR_ROLE_ARN:-}" ]; then
  echo "$TARGET_ACCOUNT" > accounts.txt
  args+=(--accounts-file accounts.txt --role-arn "$REMEDIATOR_ROLE_ARN")
elif [ "$TARGET_ACCOUNT" != "$(aws sts get-caller-identity --query Account --output text)" ]; then
  echo "Error: target account $TARGET_ACCOUNT is not this stack's account (deploy --scope organization for several)." >&2
  exit 1
fi
case "${REMEDIATOR_POLICY:-}" in
  "") ;;
  s3://*) aws s3 cp --only-show-errors "$REMEDIATOR_POLICY" policy.toml && args+=(--policy policy.toml) ;;
  *) args+=(--policy "$REMEDIATOR_POLICY") ;;
esac
if [ -n "${REMEDIATOR_NOTIFY_SNS:-}" ]; then args+=(--notify-sns "$REMEDIATOR_NOTIFY_SNS"); fi
if [ "${REMEDIATOR_DRY_RUN:-false}" = true ]; then args+=(--dry-run); fi
python -m remediator auto "${args[@]}"
code=$?
aws s3 cp --recursive --only-show-errors "$out" "$REMEDIATOR_OUT_DIR/$RUN_ID/$TARGET_ACCOUNT-$TARGET_REGION/"
# 0 nothing to do, 2 left for review, 6 fixed: the build succeeds
case "$code" in 0|2|6) exit 0 ;; *) exit "$code" ;; esac
"""


def buildspec(runtime: str) -> str:
    """The build: the code zip is the source (no install step), one account-region."""
    version = runtime.removeprefix("python")
    lines = [
        "version: 0.2",
        "env:",
        "  shell: bash",
        "phases:",
        "  install:",
        "    runtime-versions:",
        f'      python: "{version}"',
        "  build:",
        "    commands:",
        "      - |",
        *("        " + line if line else "" for line in SWEEP_SCRIPT.splitlines()),
    ]
    return "\n".join(lines) + "\n"


def _codebuild_task() -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::codebuild:startBuild.sync",
        "Parameters": {
            "ProjectName": "${Project}",
            "EnvironmentVariablesOverride": [
                {"Name": "TARGET_ACCOUNT", "Type": "PLAINTEXT", "Value.$": "$.account_id"},
                {"Name": "TARGET_REGION", "Type": "PLAINTEXT", "Value.$": "$.region"},
                {"Name": "RUN_ID", "Type": "PLAINTEXT", "Value.$": "$.run_id"},
            ],
        },
        "ResultSelector": {"build_id.$": "$.Build.Id", "status.$": "$.Build.BuildStatus"},
        "Retry": [
            {
                # the account's concurrent-build quota: wait for a slot
                "ErrorEquals": ["CodeBuild.AccountLimitExceededException"],
                "IntervalSeconds": 60,
                "MaxAttempts": 10,
                "BackoffRate": 1.5,
            }
        ],
        "End": True,
    }


def definition(
    states: dict[str, Any] | None = None,
    start: str = "SweepOne",
    extra: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The state machine (Amazon States Language): a Distributed Map whose
    item runs ``states`` (the CodeBuild build by default), given the item's
    account, region, the execution's name and ``extra`` (more of the
    execution's input). ``${Bucket}``, ``${TargetsKey}`` and the runner's
    names are filled in by CloudFormation."""
    return {
        "Comment": "remediator fleet sweep: one run of remediate auto per account-region of the targets file.",
        "StartAt": "SweepTargets",
        "States": {
            "SweepTargets": {
                "Type": "Map",
                "ItemReader": {
                    "Resource": "arn:aws:states:::s3:getObject",
                    "ReaderConfig": {"InputType": "JSON"},
                    "Parameters": {"Bucket": "${Bucket}", "Key": "${TargetsKey}"},
                },
                "ItemSelector": {
                    "account_id.$": "$$.Map.Item.Value.account_id",
                    "region.$": "$$.Map.Item.Value.region",
                    "run_id.$": "$$.Execution.Name",
                    **(extra or {}),
                },
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": start,
                    "States": states or {"SweepOne": _codebuild_task()},
                },
                "MaxConcurrencyPath": "$.max_concurrency",
                "ToleratedFailurePercentagePath": "$.tolerated_failure_percentage",
                "ResultWriter": {
                    "Resource": "arn:aws:states:::s3:putObject",
                    "Parameters": {"Bucket": "${Bucket}", "Prefix": RESULTS_PREFIX},
                },
                "End": True,
            }
        },
    }


def _build_variables(opts: DeployOptions) -> list[Any]:
    found: list[Any] = []
    for name, value in environment(opts).items():
        item = {"Name": name, "Type": "PLAINTEXT", "Value": value}
        condition = OPTIONAL_ENVIRONMENT.get(name)
        found.append(if_(condition, item, NO_VALUE) if condition else item)
    return found


def completion_rule(sid: str, name: str) -> dict[str, Any]:
    """The managed rule through which Step Functions learns that a ``.sync``
    job ended."""
    return statement(
        sid,
        ["events:DescribeRule", "events:PutRule", "events:PutTargets"],
        sub(f"arn:${{AWS::Partition}}:events:${{AWS::Region}}:${{AWS::AccountId}}:rule/{name}"),
    )


def _state_machine_policy(runner: list[Any]) -> dict[str, Any]:
    machine = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:"
    return document(
        [
            *runner,
            statement(
                "ChildExecutions",
                ["states:StartExecution"],
                sub(f"{machine}stateMachine:{STATE_MACHINE}"),
            ),
            statement(
                # the map run's child executions are named NAME/LABEL:ID;
                # DescribeExecution also authorizes on the express type,
                # which this STANDARD machine never has (it grants nothing)
                "ChildExecutionStatus",
                ["states:DescribeExecution", "states:StopExecution"],
                [
                    sub(f"{machine}execution:{STATE_MACHINE}:*"),
                    sub(f"{machine}execution:{STATE_MACHINE}/*"),
                    sub(f"{machine}express:{STATE_MACHINE}:*:*"),
                ],
            ),
            statement("ReadTargets", ["s3:GetObject"], sub("${ArtifactsBucket.Arn}/${TargetsKey}")),
            statement(
                "WriteResults",
                [
                    "s3:AbortMultipartUpload",
                    "s3:GetObject",
                    "s3:ListMultipartUploadParts",
                    "s3:PutObject",
                ],
                sub(f"${{ArtifactsBucket.Arn}}/{RESULTS_PREFIX}/*"),
            ),
        ]
    )


def resources(opts: DeployOptions) -> dict[str, Any]:
    """``--fleet-runner codebuild``: the project, and the state machine that runs it."""
    build_runtime = runtime_statements(["SweepLogGroup"], queue=False)
    build_runtime.append(
        statement(
            "ReadCode",
            ["s3:GetObject", "s3:GetObjectVersion"],
            sub("arn:${AWS::Partition}:s3:::${CodeBucket}/${CodeKey}"),
        )
    )
    runner = [
        statement(
            "RunBuilds",
            ["codebuild:BatchGetBuilds", "codebuild:StartBuild", "codebuild:StopBuild"],
            arn_of("SweepProject"),
        ),
        completion_rule("BuildCompletionRule", "StepFunctionsGetEventsForCodeBuildStartBuildRule"),
    ]
    return {
        "SweepLogGroup": log_group("/aws/codebuild/${AWS::StackName}-sweep"),
        "SweepBuildRole": role("codebuild.amazonaws.com", opts.scope, build_runtime, True),
        "SweepProject": {
            "Type": "AWS::CodeBuild::Project",
            "Properties": {
                "Name": sub("${AWS::StackName}-sweep"),
                "Description": "remediator: remediate auto for one account-region",
                "ServiceRole": arn_of("SweepBuildRole"),
                "TimeoutInMinutes": ref("BuildTimeoutMinutes"),
                "QueuedTimeoutInMinutes": 480,
                "Artifacts": {"Type": "NO_ARTIFACTS"},
                "Source": {
                    "Type": "S3",
                    "Location": sub("${CodeBucket}/${CodeKey}"),
                    "BuildSpec": buildspec(opts.runtime),
                },
                "Environment": {
                    "Type": "LINUX_CONTAINER",
                    "ComputeType": "BUILD_GENERAL1_SMALL",
                    "Image": BUILD_IMAGE,
                    "EnvironmentVariables": _build_variables(opts),
                },
                "LogsConfig": {
                    "CloudWatchLogs": {"Status": "ENABLED", "GroupName": ref("SweepLogGroup")}
                },
            },
        },
        **machine(definition(), {"Project": ref("SweepProject")}, runner),
    }


def machine(
    definition: dict[str, Any],
    substitutions: dict[str, Any],
    runner: list[Any],
    more_input: str = "",
    more_values: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The state machine, its role (``runner``: what starting the item's task
    needs) and the schedule that starts it with the stack's parameters
    (``more_input``: more JSON members of the execution's input, with the
    ``Fn::Sub`` values of ``more_values``)."""
    text = (
        '{"max_concurrency": ${MaxConcurrency}, '
        '"tolerated_failure_percentage": ${ToleratedFailurePercentage}' + more_input + "}"
    )
    return {
        "FleetStateMachineRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": trust("states.amazonaws.com", source_account=True),
                "Policies": [
                    {"PolicyName": "fleet", "PolicyDocument": _state_machine_policy(runner)}
                ],
            },
        },
        "FleetStateMachine": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "StateMachineName": sub(STATE_MACHINE),
                "StateMachineType": "STANDARD",
                "RoleArn": arn_of("FleetStateMachineRole"),
                "Definition": definition,
                "DefinitionSubstitutions": {
                    "Bucket": ref("ArtifactsBucket"),
                    "TargetsKey": ref("TargetsKey"),
                    **substitutions,
                },
            },
        },
        "SweepScheduleRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": trust("events.amazonaws.com", source_account=True),
                "Policies": [
                    {
                        "PolicyName": "start-sweep",
                        "PolicyDocument": document(
                            [
                                statement(
                                    "StartSweep",
                                    ["states:StartExecution"],
                                    ref("FleetStateMachine"),
                                )
                            ]
                        ),
                    }
                ],
            },
        },
        "SweepScheduleRule": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Description": "remediator: the periodic fleet sweep (EventBridge delivery is best effort).",
                "ScheduleExpression": ref("SweepSchedule"),
                "State": "ENABLED",
                "Targets": [
                    {
                        "Id": "fleet-sweep",
                        "Arn": ref("FleetStateMachine"),
                        "RoleArn": arn_of("SweepScheduleRole"),
                        "Input": {"Fn::Sub": [text, more_values]} if more_values else sub(text),
                    }
                ],
            },
        },
    }


__all__ = ["RUNS_PREFIX", "SWEEP_SCRIPT", "definition", "machine", "resources"]
