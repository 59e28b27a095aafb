"""A small IAM evaluator for tests: enough of IAM's Allow logic for the
shapes `remediate iam-policy` writes (action and resource patterns; the
Null, StringEquals and StringLike conditions), and the requests an AWS call
makes of it (``requests``: the resources IAM authorizes for the call and the
condition keys in its context, from the Service Authorization Reference).

An operator or a scoped call it does not know fails the test rather than
being allowed silently.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping
from typing import Any


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _condition_holds(condition: dict[str, dict[str, Any]], context: dict[str, Any]) -> bool:
    for operator, keys in condition.items():
        for key, wanted in keys.items():
            present = key in context
            values = [str(v) for v in _listed(context.get(key, []))]
            if operator == "Null":
                if present == (str(wanted).lower() == "true"):
                    return False
            elif operator == "StringEquals":
                if not present or not any(v in map(str, _listed(wanted)) for v in values):
                    return False
            elif operator == "StringLike":
                if not present or not any(
                    fnmatch.fnmatchcase(v, str(w)) for v in values for w in _listed(wanted)
                ):
                    return False
            else:  # an operator this evaluator does not know: never silently allow
                raise AssertionError(f"unknown condition operator {operator}")
    return True


def allowed(
    document: dict[str, Any], action: str, resource: str, context: dict[str, Any] | None = None
) -> bool:
    """Whether an Allow statement grants ``action`` on ``resource`` in ``context``."""
    for statement in document["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        if not any(
            fnmatch.fnmatchcase(action.lower(), a.lower()) for a in _listed(statement["Action"])
        ):
            continue
        if not any(fnmatch.fnmatchcase(resource, r) for r in _listed(statement["Resource"])):
            continue
        if _condition_holds(statement.get("Condition", {}), context or {}):
            return True
    return False


Request = tuple[str, str, dict[str, Any]]
"""(action, resource ARN, condition context) of one authorization."""


def _function_arn(name: str, region: str, account: str, qualifier: str | None = None) -> str:
    arn = name if name.startswith("arn:") else f"arn:aws:lambda:{region}:{account}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def _request_tags(params: Mapping[str, Any]) -> dict[str, Any]:
    return {
        f"aws:RequestTag/{t['Key']}": t["Value"]
        for spec in params.get("TagSpecifications", [])
        for t in spec.get("Tags", [])
    }


def requests(
    action: str,
    params: Mapping[str, Any],
    region: str,
    account: str,
    resource_context: Callable[[str], dict[str, Any]],
) -> list[Request]:
    """What IAM authorizes for one call: each resource with its context.
    ``resource_context(id)`` gives the condition keys of an existing resource
    (``aws:ResourceTag/...``, ``ec2:VpceServiceName``)."""

    def ec2(kind: str, rid: str) -> str:
        return f"arn:aws:ec2:{region}:{account}:{kind}/{rid}"

    p = params
    if action in (
        "lambda:UpdateFunctionConfiguration",
        "lambda:PublishVersion",
        "lambda:GetFunctionConfiguration",
        "lambda:ListVersionsByFunction",
        "lambda:DeleteFunction",
    ):
        return [(action, _function_arn(p["FunctionName"], region, account, p.get("Qualifier")), {})]
    if action in ("lambda:UpdateAlias", "lambda:GetAlias"):
        return [(action, _function_arn(p["FunctionName"], region, account, p["Name"]), {})]
    if action in ("ec2:CreateRoute", "ec2:ReplaceRoute", "ec2:DeleteRoute"):
        return [(action, ec2("route-table", p["RouteTableId"]), {})]
    if action == "ec2:ModifyVpcAttribute":
        return [(action, ec2("vpc", p["VpcId"]), {})]
    if action == "ec2:ModifyVpcEndpoint":
        return [(action, ec2("vpc-endpoint", p["VpcEndpointId"]), {})]
    if action in ("ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"):
        return [(action, ec2("security-group", p["GroupId"]), {})]
    if action == "ec2:DeleteSecurityGroup":
        gid = p["GroupId"]
        return [(action, ec2("security-group", gid), resource_context(gid))]
    if action == "ec2:DeleteVpcEndpoints":
        return [
            (action, ec2("vpc-endpoint", eid), resource_context(eid)) for eid in p["VpcEndpointIds"]
        ]
    tags = _request_tags(p)
    if action == "ec2:CreateSecurityGroup":
        create = {"ec2:CreateAction": "CreateSecurityGroup", **tags}
        out = [(action, ec2("vpc", p["VpcId"]), tags), (action, ec2("security-group", "*"), tags)]
        return out + ([("ec2:CreateTags", ec2("security-group", "*"), create)] if tags else [])
    if action == "ec2:CreateVpcEndpoint":
        ctx = {**tags, "ec2:VpceServiceName": p["ServiceName"]}
        create = {"ec2:CreateAction": "CreateVpcEndpoint", **tags}
        out = [(action, ec2("vpc", p["VpcId"]), ctx), (action, ec2("vpc-endpoint", "*"), ctx)]
        out += [(action, ec2("subnet", s), ctx) for s in p.get("SubnetIds", [])]
        out += [(action, ec2("security-group", g), ctx) for g in p.get("SecurityGroupIds", [])]
        return out + ([("ec2:CreateTags", ec2("vpc-endpoint", "*"), create)] if tags else [])
    return [(action, "*", {})]
