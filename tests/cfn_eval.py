"""Evaluate a CloudFormation template's intrinsic functions with test values.

Enough of CloudFormation for the tests of ``remediate deploy-template``:
``Ref``, ``Fn::GetAtt``, ``Fn::Sub`` (both forms), ``Fn::If`` with the
template's conditions (``Fn::Equals``, ``Fn::Not``, ``Fn::Or``, ``Fn::And``), ``Fn::Select``,
``Fn::Split``, ``Fn::Join``, and ``AWS::NoValue`` dropping the key or list
item. Parameters take their defaults unless given; a resource's ``Ref`` and
attributes are shaped as AWS returns them (``physical``, ``attribute``), so policies
come out as IAM would read them.
"""

from __future__ import annotations

import re
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"
PSEUDO = {
    "AWS::AccountId": ACCOUNT,
    "AWS::Region": REGION,
    "AWS::Partition": "aws",
    "AWS::StackName": "remediator",
    "AWS::URLSuffix": "amazonaws.com",
}
_DROP = object()


def physical(kind: str, logical_id: str) -> str:
    """What ``Ref`` returns for a resource of ``kind``, in AWS's shape."""
    name = f"remediator-{logical_id.lower()}"
    if kind == "AWS::SQS::Queue":
        return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
    if kind == "AWS::StepFunctions::StateMachine":
        return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}"
    return name


def attribute(kind: str, logical_id: str, attr: str) -> str:
    """``Fn::GetAtt`` of a resource: its ARN (or name) in AWS's shape."""
    name = f"remediator-{logical_id.lower()}"
    arns = {
        "AWS::SQS::Queue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}",
        "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
        "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}",
        "AWS::Logs::LogGroup": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/test/{name}:*",
        "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT}:role/{name}",
        "AWS::Events::Rule": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}",
        "AWS::Events::EventBus": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{name}",
        "AWS::CodeBuild::Project": f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/{name}",
        "AWS::Lambda::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
    }
    if attr == "Arn" and kind in arns:
        return arns[kind]
    return name


class Evaluator:
    def __init__(self, template: dict[str, Any], params: dict[str, Any] | None = None) -> None:
        self.template = template
        self.values: dict[str, Any] = dict(PSEUDO)
        for name, spec in template.get("Parameters", {}).items():
            value = (params or {}).get(name, spec.get("Default", f"param-{name}"))
            if spec["Type"].startswith(("CommaDelimitedList", "List<")) and isinstance(value, str):
                value = value.split(",")
            self.values[name] = value
        self.resources = template.get("Resources", {})
        self._condition_bodies = template.get("Conditions", {})
        self.conditions = {name: self.condition(name) for name in self._condition_bodies}

    def condition(self, name: str) -> bool:
        return bool(self.eval(self._condition_bodies[name]))

    def ref(self, name: str) -> Any:
        if name in self.values:
            return self.values[name]
        if name in self.resources:
            return physical(self.resources[name]["Type"], name)
        raise KeyError(f"Ref to unknown {name}")

    def getatt(self, logical_id: str, name: str) -> str:
        if logical_id not in self.resources:
            raise KeyError(f"GetAtt of unknown {logical_id}")
        return attribute(self.resources[logical_id]["Type"], logical_id, name)

    def sub(self, text: str, extra: dict[str, Any]) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in extra:
                return str(extra[name])
            if "." in name and name.split(".")[0] in self.resources:
                return self.getatt(*name.split(".", 1))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def eval(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.eval(v) for v in value]
            return [v for v in items if v is not _DROP]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return _DROP if arg == "AWS::NoValue" else self.ref(arg)
            if key == "Fn::GetAtt":
                return self.getatt(*(arg if isinstance(arg, list) else arg.split(".", 1)))
            if key == "Fn::Sub":
                if isinstance(arg, list):
                    return self.sub(arg[0], {k: self.eval(v) for k, v in arg[1].items()})
                return self.sub(arg, {})
            if key == "Fn::If":
                name, then, otherwise = arg
                return self.eval(then if self.condition(name) else otherwise)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Or":
                return any(self.eval(v) for v in arg)
            if key == "Fn::And":
                return all(self.eval(v) for v in arg)
            if key == "Fn::Equals":
                return self.eval(arg[0]) == self.eval(arg[1])
            if key == "Fn::Not":
                return not self.eval(arg[0])
            if key == "Fn::Select":
                return self.eval(arg[1])[int(self.eval(arg[0]))]
            if key == "Fn::Split":
                return str(self.eval(arg[1])).split(arg[0])
            if key == "Fn::Join":
                return arg[0].join(str(v) for v in self.eval(arg[1]))
        out = {}
        for k, v in value.items():
            got = self.eval(v)
            if got is not _DROP:
                out[k] = got
        return out

    def resource(self, logical_id: str) -> dict[str, Any]:
        return self.eval(self.resources[logical_id])

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        """The resources of ``kind`` whose condition holds, evaluated."""
        return {
            name: self.resource(name)
            for name, body in self.resources.items()
            if body["Type"] == kind
            and ("Condition" not in body or self.conditions[body["Condition"]])
        }
