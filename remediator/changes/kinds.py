"""The kinds of change remediator makes, and what each one needs.

One entry per kind, Cloud Custodian style: the stable name users see in
plans, what it does, whether it can be undone, and the IAM permissions that
applying it and rolling it back need. The planner copies ``permissions``
into every change; ``remediate iam-policy`` and the executor read them from
here, so the policy cannot drift from the code. A test fails when a kind
declares no permissions.
"""

from __future__ import annotations

from dataclasses import dataclass

# The order in which kinds are applied: what adds a path before what
# removes one. Lower phases run first.


@dataclass(frozen=True)
class KindSpec:
    name: str
    phase: int
    summary: str
    reversible: bool
    permissions: tuple[str, ...]


UPDATE_VPC_CONFIG = "lambda.update-vpc-config"
PUT_NAT_ROUTE = "ec2.put-nat-route"
ENABLE_VPC_DNS = "ec2.enable-vpc-dns"
CREATE_ENDPOINT_SG = "ec2.create-endpoint-security-group"
AUTHORIZE_ENDPOINT_INGRESS = "ec2.authorize-endpoint-ingress"
CREATE_LAMBDA_ENDPOINT = "ec2.create-lambda-endpoint"
ENABLE_ENDPOINT_PRIVATE_DNS = "ec2.enable-endpoint-private-dns"
MOVE_ALIAS = "lambda.publish-and-move-alias"

KINDS: dict[str, KindSpec] = {
    spec.name: spec
    for spec in (
        KindSpec(
            ENABLE_VPC_DNS,
            0,
            "Turn on the VPC's DNS support and DNS hostnames (needed by private DNS).",
            True,
            ("ec2:ModifyVpcAttribute", "ec2:DescribeVpcAttribute"),
        ),
        KindSpec(
            CREATE_ENDPOINT_SG,
            1,
            "Create a security group for the Lambda endpoint allowing TCP 443 from the functions' groups.",
            True,
            (
                "ec2:CreateSecurityGroup",
                "ec2:AuthorizeSecurityGroupIngress",
                "ec2:DeleteSecurityGroup",
                "ec2:DescribeSecurityGroups",
                "ec2:CreateTags",
            ),
        ),
        KindSpec(
            AUTHORIZE_ENDPOINT_INGRESS,
            1,
            "Allow TCP 443 from the functions' security groups on an existing endpoint's group.",
            True,
            (
                "ec2:AuthorizeSecurityGroupIngress",
                "ec2:RevokeSecurityGroupIngress",
                "ec2:DescribeSecurityGroups",
            ),
        ),
        KindSpec(
            CREATE_LAMBDA_ENDPOINT,
            2,
            "Create an interface endpoint for the Lambda API with private DNS.",
            True,
            (
                "ec2:CreateVpcEndpoint",
                "ec2:DeleteVpcEndpoints",
                "ec2:DescribeVpcEndpoints",
                "ec2:DescribeSubnets",
                "ec2:CreateTags",
            ),
        ),
        KindSpec(
            ENABLE_ENDPOINT_PRIVATE_DNS,
            2,
            "Turn on private DNS on an existing Lambda endpoint.",
            True,
            ("ec2:ModifyVpcEndpoint", "ec2:DescribeVpcEndpoints"),
        ),
        KindSpec(
            PUT_NAT_ROUTE,
            3,
            "Add (or replace) a route table's default route so it points at a NAT gateway.",
            True,
            (
                "ec2:CreateRoute",
                "ec2:ReplaceRoute",
                "ec2:DeleteRoute",
                "ec2:DescribeRouteTables",
                "ec2:DescribeNatGateways",
            ),
        ),
        KindSpec(
            UPDATE_VPC_CONFIG,
            4,
            "Set a function's subnets (and keep its security groups).",
            True,
            (
                "lambda:UpdateFunctionConfiguration",
                "lambda:GetFunction",
                "lambda:GetFunctionConfiguration",
                "ec2:DescribeSubnets",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeVpcs",
            ),
        ),
        KindSpec(
            MOVE_ALIAS,
            5,
            "Publish $LATEST as a new version and point the alias at it.",
            True,
            (
                "lambda:PublishVersion",
                "lambda:UpdateAlias",
                "lambda:GetAlias",
                "lambda:GetFunction",
                "lambda:GetFunctionConfiguration",
                "lambda:ListVersionsByFunction",
                "lambda:DeleteFunction",
            ),
        ),
    )
}


def spec(kind: str) -> KindSpec:
    return KINDS[kind]
