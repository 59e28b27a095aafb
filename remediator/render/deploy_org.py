"""``--scope organization``: the central event bus, and the member stack.

Each member account forwards the same CloudTrail events from its default
bus to the operator's central bus (an EventBridge rule with a role that may
only ``events:PutEvents`` there) and holds the role the operator assumes
(``iam-policy --mode apply``, trusted by the operator's roles only). The
central template deploys the member stack with a service-managed StackSet
(new accounts of the organizational units get it automatically);
``--scope member`` prints it alone, for accounts a StackSet does not reach
(the management account) or for another deployment tool.
"""

from __future__ import annotations

import json
from typing import Any

from remediator.render.deploy import (
    arn_of,
    document,
    event_patterns,
    ref,
    remediator_policy,
    statement,
    trust,
)


def central_bus() -> dict[str, Any]:
    return {
        "CentralBus": {
            "Type": "AWS::Events::EventBus",
            "Properties": {"Name": {"Fn::Sub": "${AWS::StackName}-events"}},
        },
        "CentralBusPolicy": {
            "Type": "AWS::Events::EventBusPolicy",
            "Properties": {
                "EventBusName": ref("CentralBus"),
                "StatementId": "OrganizationPutEvents",
                "Statement": {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "events:PutEvents",
                    "Resource": arn_of("CentralBus"),
                    "Condition": {"StringEquals": {"aws:PrincipalOrgID": ref("OrganizationId")}},
                },
            },
        },
    }


SWEEP_ROLES = {"codebuild": "SweepBuildRole", "ecs": "SweepTaskRole"}


def operator_roles(fleet_runner: str) -> list[Any]:
    """The roles that assume the member role: the function's, and the fleet sweep's."""
    sweep = SWEEP_ROLES.get(fleet_runner)
    return [arn_of("OperatorRole")] + ([arn_of(sweep)] if sweep else [])


def member_stack_set(fleet_runner: str) -> dict[str, Any]:
    def param(key: str, value: Any) -> dict[str, Any]:
        return {"ParameterKey": key, "ParameterValue": value}

    return {
        "MemberStackSet": {
            "Type": "AWS::CloudFormation::StackSet",
            "Properties": {
                "StackSetName": {"Fn::Sub": "${AWS::StackName}-members"},
                "Description": "remediator: the member role and the event forwarding rules.",
                "PermissionModel": "SERVICE_MANAGED",
                "AutoDeployment": {"Enabled": True, "RetainStacksOnAccountRemoval": False},
                "CallAs": ref("StackSetCallAs"),
                "Capabilities": ["CAPABILITY_NAMED_IAM"],
                "ManagedExecution": {"Active": True},
                "OperationPreferences": {
                    "FailureTolerancePercentage": 10,
                    "MaxConcurrentPercentage": 25,
                    "RegionConcurrencyType": "PARALLEL",
                },
                "Parameters": [
                    param("CentralBusArn", arn_of("CentralBus")),
                    param("OperatorRoleArns", {"Fn::Join": [",", operator_roles(fleet_runner)]}),
                    param("MemberRoleName", ref("MemberRoleName")),
                    param("RoleRegion", ref("AWS::Region")),
                ],
                "StackInstancesGroup": [
                    {
                        "DeploymentTargets": {
                            "OrganizationalUnitIds": ref("MemberOrganizationalUnitIds")
                        },
                        "Regions": ref("MemberRegions"),
                    }
                ],
                "TemplateBody": json.dumps(member(), sort_keys=False, separators=(",", ":")),
            },
        }
    }


def _forward_rules() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, pattern in zip(
        ("ForwardLambdaChanges", "ForwardNetworkChanges"), event_patterns(), strict=True
    ):
        found[name] = {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Description": "remediator: forward to the operator's central bus.",
                "EventPattern": pattern,
                "State": "ENABLED",
                "Targets": [
                    {
                        "Id": "central-bus",
                        "Arn": ref("CentralBusArn"),
                        "RoleArn": arn_of("ForwardRole"),
                    }
                ],
            },
        }
    return found


def member() -> dict[str, Any]:
    """The member stack: deployed in every region of every member account; the
    role (global) only in ``RoleRegion``."""
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "remediator member: the role the operator assumes, and event forwarding to its central bus.",
        "Parameters": {
            "CentralBusArn": {"Type": "String", "Description": "The operator's central event bus."},
            "OperatorRoleArns": {
                "Type": "CommaDelimitedList",
                "Description": "The operator's roles that may assume the member role.",
            },
            "MemberRoleName": {
                "Type": "String",
                "Default": "remediator-member",
                "AllowedPattern": r"^[\w+=,.@-]{1,64}$",
            },
            "RoleRegion": {
                "Type": "String",
                "Description": "The one region that creates the role.",
            },
        },
        "Conditions": {"IsRoleRegion": {"Fn::Equals": [ref("AWS::Region"), ref("RoleRegion")]}},
        "Resources": {
            "MemberRole": {
                "Type": "AWS::IAM::Role",
                "Condition": "IsRoleRegion",
                "Properties": {
                    "RoleName": ref("MemberRoleName"),
                    "Description": "remediator: fixes this account's Lambda egress (iam-policy --mode apply).",
                    "AssumeRolePolicyDocument": document(
                        [
                            {
                                "Effect": "Allow",
                                "Principal": {"AWS": ref("OperatorRoleArns")},
                                "Action": "sts:AssumeRole",
                            }
                        ]
                    ),
                    "Policies": [
                        {"PolicyName": "remediator", "PolicyDocument": remediator_policy("member")}
                    ],
                },
            },
            "ForwardRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": trust("events.amazonaws.com", source_account=True),
                    "Policies": [
                        {
                            "PolicyName": "forward",
                            "PolicyDocument": document(
                                [
                                    statement(
                                        "PutCentralBus", ["events:PutEvents"], ref("CentralBusArn")
                                    )
                                ]
                            ),
                        }
                    ],
                },
            },
            **_forward_rules(),
        },
        "Outputs": {"MemberRoleArn": {"Condition": "IsRoleRegion", "Value": arn_of("MemberRole")}},
    }
