"""``--fleet-runner ecs``: the fleet sweep on ECS Fargate instead of CodeBuild.

The same Distributed Map as ``render.deploy_fleet``; each item runs a
Fargate task (``ecs:runTask.sync``: no 15-minute cap) of an image that has
remediator, bash and the AWS CLI installed (``SweepImageUri``), with the
same script and configuration as the CodeBuild build. A task that stops
is not a failure for Step Functions whatever its exit code, so a Choice
state fails the item unless the container exited 0 (the script maps
remediate's 0, 2 and 6 to 0). Fargate tasks need a network: the subnets
and security groups come from the stack's parameters through the
execution's input (a list cannot be substituted into the definition).
"""

from __future__ import annotations

from typing import Any

from remediator.render.deploy import (
    NO_VALUE,
    DeployOptions,
    arn_of,
    if_,
    ref,
    statement,
    sub,
    trust,
)
from remediator.render.deploy_fleet import SWEEP_SCRIPT, completion_rule, definition, machine
from remediator.render.deploy_parts import (
    OPTIONAL_ENVIRONMENT,
    environment,
    log_group,
    role,
    runtime_statements,
)

CONTAINER = "remediator"
TASK_TIMEOUT = 8 * 3600
"""The longest sweep of one account-region (the item fails after it)."""


def parameters() -> dict[str, Any]:
    return {
        "SweepImageUri": {
            "Type": "String",
            "Description": "Container image with remediator, bash and the AWS CLI (e.g. an ECR repository URI with a tag).",
            "MinLength": 1,
        },
        "SweepSubnets": {
            "Type": "List<AWS::EC2::Subnet::Id>",
            "Description": "Subnets of the sweep's tasks (private, with a way to the AWS APIs).",
        },
        "SweepSecurityGroups": {
            "Type": "List<AWS::EC2::SecurityGroup::Id>",
            "Description": "Security groups of the sweep's tasks (egress 443).",
        },
        "SweepAssignPublicIp": {
            "Type": "String",
            "Description": "ENABLED only for public subnets without a NAT gateway.",
            "Default": "DISABLED",
            "AllowedValues": ["DISABLED", "ENABLED"],
        },
    }


def _task_states() -> dict[str, Any]:
    run = {
        "Type": "Task",
        "Resource": "arn:aws:states:::ecs:runTask.sync",
        "TimeoutSeconds": TASK_TIMEOUT,
        "Parameters": {
            "Cluster": "${Cluster}",
            "TaskDefinition": "${TaskDefinition}",
            "LaunchType": "FARGATE",
            "PropagateTags": "TASK_DEFINITION",
            "NetworkConfiguration": {
                "AwsvpcConfiguration": {
                    "Subnets.$": "$.subnets",
                    "SecurityGroups.$": "$.security_groups",
                    "AssignPublicIp": "${AssignPublicIp}",
                }
            },
            "Overrides": {
                "ContainerOverrides": [
                    {
                        "Name": CONTAINER,
                        "Environment": [
                            {"Name": "TARGET_ACCOUNT", "Value.$": "$.account_id"},
                            {"Name": "TARGET_REGION", "Value.$": "$.region"},
                            {"Name": "RUN_ID", "Value.$": "$.run_id"},
                        ],
                    }
                ]
            },
        },
        "ResultSelector": {"task_arn.$": "$.TaskArn", "exit_code.$": "$.Containers[0].ExitCode"},
        "Retry": [
            {
                # Fargate capacity or the account's task quota: try again later
                "ErrorEquals": ["ECS.AmazonECSException"],
                "IntervalSeconds": 60,
                "MaxAttempts": 5,
                "BackoffRate": 2,
            }
        ],
        "Next": "Exited",
    }
    return {
        "SweepOne": run,
        "Exited": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.exit_code", "NumericEquals": 0, "Next": "Swept"}],
            "Default": "SweepFailed",
        },
        "Swept": {"Type": "Succeed"},
        "SweepFailed": {
            "Type": "Fail",
            "Error": "Remediator.SweepFailed",
            "Cause": "remediate auto exited 1, 3, 4 or 5 for this account-region (see its logs).",
        },
    }


def ecs_definition() -> dict[str, Any]:
    return definition(
        _task_states(),
        extra={"subnets.$": "$.subnets", "security_groups.$": "$.security_groups"},
    )


def _container_environment(opts: DeployOptions) -> list[Any]:
    found: list[Any] = []
    for name, value in environment(opts).items():
        item = {"Name": name, "Value": value}
        condition = OPTIONAL_ENVIRONMENT.get(name)
        found.append(if_(condition, item, NO_VALUE) if condition else item)
    return found


def _runner_statements() -> list[Any]:
    task = "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:"
    return [
        statement(
            "RunTasks",
            ["ecs:RunTask"],
            sub(f"{task}task-definition/${{AWS::StackName}}-sweep:*"),
        ),
        statement(
            "WatchTasks",
            ["ecs:DescribeTasks", "ecs:StopTask"],
            sub(f"{task}task/${{SweepCluster}}/*"),
        ),
        {
            **statement(
                "PassTaskRoles",
                ["iam:PassRole"],
                [arn_of("SweepTaskRole"), arn_of("SweepTaskExecutionRole")],
            ),
            "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
        },
        completion_rule("TaskCompletionRule", "StepFunctionsGetEventsForECSTaskRule"),
    ]


def _task_definition(opts: DeployOptions) -> dict[str, Any]:
    return {
        "Type": "AWS::ECS::TaskDefinition",
        "Properties": {
            "Family": sub("${AWS::StackName}-sweep"),
            "RequiresCompatibilities": ["FARGATE"],
            "NetworkMode": "awsvpc",
            "Cpu": "512",
            "Memory": "1024",
            "RuntimePlatform": {"OperatingSystemFamily": "LINUX", "CpuArchitecture": "X86_64"},
            "ExecutionRoleArn": arn_of("SweepTaskExecutionRole"),
            "TaskRoleArn": arn_of("SweepTaskRole"),
            "ContainerDefinitions": [
                {
                    "Name": CONTAINER,
                    "Image": ref("SweepImageUri"),
                    "Essential": True,
                    "EntryPoint": ["bash", "-c"],
                    "Command": [SWEEP_SCRIPT],
                    "Environment": _container_environment(opts),
                    "LogConfiguration": {
                        "LogDriver": "awslogs",
                        "Options": {
                            "awslogs-group": ref("SweepLogGroup"),
                            "awslogs-region": ref("AWS::Region"),
                            "awslogs-stream-prefix": "sweep",
                        },
                    },
                }
            ],
        },
    }


def resources(opts: DeployOptions) -> dict[str, Any]:
    """The cluster, the task and its roles, and the state machine that runs it."""
    execution_role = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": "remediator sweep: pull the image, write the logs",
            "AssumeRolePolicyDocument": trust("ecs-tasks.amazonaws.com", source_account=True),
            "ManagedPolicyArns": [
                sub(
                    "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
                )
            ],
        },
    }
    return {
        "SweepLogGroup": log_group("/ecs/${AWS::StackName}-sweep"),
        "SweepCluster": {"Type": "AWS::ECS::Cluster", "Properties": {}},
        "SweepTaskExecutionRole": execution_role,
        "SweepTaskRole": role(
            "ecs-tasks.amazonaws.com",
            opts.scope,
            runtime_statements(["SweepLogGroup"], queue=False),
            True,
        ),
        "SweepTaskDefinition": _task_definition(opts),
        **machine(
            ecs_definition(),
            {
                "Cluster": arn_of("SweepCluster"),
                "TaskDefinition": ref("SweepTaskDefinition"),
                "AssignPublicIp": ref("SweepAssignPublicIp"),
            },
            _runner_statements(),
            more_input=', "subnets": ["${Subnets}"], "security_groups": ["${Groups}"]',
            more_values={
                "Subnets": {"Fn::Join": ['","', ref("SweepSubnets")]},
                "Groups": {"Fn::Join": ['","', ref("SweepSecurityGroups")]},
            },
        ),
    }


__all__ = ["ecs_definition", "parameters", "resources"]
