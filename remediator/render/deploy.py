"""``remediate deploy-template``: the CloudFormation template of the operator.

Pure: options in, a template (a dict) out; ``dump`` writes it as YAML or
JSON. Nothing here calls AWS. What the template creates, and why, is in
docs/operator.md ("Deploy"):

* the operator function (``HANDLER``), fed by an SQS queue (delivery delay,
  dead-letter queue) that EventBridge rules fill with the CloudTrail events
  that can break a function's egress (``LAMBDA_EVENT_PREFIXES``,
  ``EC2_EVENT_NAMES``);
* the periodic sweep, because EventBridge delivery is best effort: a
  schedule that invokes the same handler with ``SWEEP_EVENT``
  (``--fleet-runner none``) or starts the fleet state machine
  (``render.deploy_fleet``: a Distributed Map of CodeBuild builds, one per
  account-region, no 15-minute cap);
* the artifacts bucket, the DynamoDB lock table and the IAM roles, whose
  remediator part is ``render.iam.policy_document`` (``--mode auto``; with
  ``--scope organization`` the runner's policy that assumes the member role,
  and a member role with ``--mode apply`` in each account).

``--scope organization`` adds a central event bus that the organization's
accounts may put events on, and a service-managed StackSet that deploys
``member_template`` (the member role and a rule forwarding the same events
to the central bus) in every account of the organizational units named.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from remediator.domain.errors import BadInput
from remediator.domain.events import LAMBDA_PREFIXES, NETWORK_EVENT_NAMES
from remediator.domain.events import SWEEP_EVENT as SWEEP_EVENT  # the schedule's input
from remediator.render import iam
from remediator.render.cfn_yaml import to_yaml

HANDLER = "remediator.cli.handler.handler"
"""The Lambda handler the template names; it must stay importable from the package."""

SCOPES = ("account", "organization", "member")
RUNNERS = ("codebuild", "ecs", "none")
FORMATS = ("yaml", "json")
RUNTIMES = ("python3.12", "python3.13")
RISKS = ("low", "medium", "high")

LAMBDA_EVENT_PREFIXES = LAMBDA_PREFIXES  # the names the handler acts on (domain.events)
"""CloudTrail records Lambda API names with a date suffix
(``UpdateFunctionConfiguration20150331v2``): these are matched by prefix."""

EC2_EVENT_NAMES = NETWORK_EVENT_NAMES
"""EC2 records the plain API name: matched exactly."""

EVENT_FUNCTION_TIMEOUT = 300
"""An event is about one function or one VPC: minutes at most, VPC updates included."""
SWEEP_FUNCTION_TIMEOUT = 900
"""Lambda's cap; fleets that need longer use the CodeBuild runner."""
QUEUE_VISIBILITY = 6 * EVENT_FUNCTION_TIMEOUT
"""AWS: at least six times the consumer's timeout (Lambda with SQS)."""
MAX_RECEIVES = 5
DLQ_RETENTION = 14 * 24 * 3600

_TOPIC = "@NotificationTopicArn@"
_TABLE = "@LockTable@"
_MEMBER = "@MemberRoleName@"
_CFN_VALUES: dict[str, Any] = {
    _TOPIC: {"Ref": "NotificationTopicArn"},
    f"arn:aws:dynamodb:*:*:table/{_TABLE}": {"Fn::GetAtt": ["LockTable", "Arn"]},
}


@dataclass(frozen=True)
class DeployOptions:
    """What the template is for. ``sweep_schedule``, ``max_risk`` and ``delay``
    are the defaults of the template parameters of the same meaning."""

    scope: str = "account"
    fleet_runner: str = "codebuild"
    runtime: str = "python3.12"
    sweep_schedule: str = "rate(1 hour)"
    max_risk: str = "low"
    delay: int = 120

    def check(self) -> DeployOptions:
        for name, value, allowed in (
            ("--scope", self.scope, SCOPES),
            ("--fleet-runner", self.fleet_runner, RUNNERS),
            ("--runtime", self.runtime, RUNTIMES),
            ("--max-risk", self.max_risk, RISKS),
        ):
            if value not in allowed:
                raise BadInput(f"{name} {value!r} is not one of {', '.join(allowed)}.")
        check_schedule(self.sweep_schedule)
        if not 0 <= self.delay <= 900:
            raise BadInput(
                f"--delay {self.delay} is outside 0..900 seconds (the SQS delivery delay range)."
            )
        return self


def check_schedule(text: str) -> str:
    """An EventBridge schedule expression: ``rate(N unit)`` or ``cron(...)``."""
    rate = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", text)
    if rate:
        count, unit = int(rate.group(1)), rate.group(2)
        if count >= 1 and (count == 1) == (not unit.endswith("s")):
            return text
    elif re.fullmatch(r"cron\(\S+ \S+ \S+ \S+ \S+ \S+\)", text):
        return text
    raise BadInput(
        f"--sweep-schedule {text!r} is not an EventBridge schedule expression.",
        hint="Pass e.g. 'rate(1 hour)', 'rate(6 hours)' or 'cron(0 3 * * ? *)'.",
    )


# --------------------------------------------------------------------------
# Small builders


def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def arn_of(name: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [name, "Arn"]}


def sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def if_(condition: str, then: Any, otherwise: Any) -> dict[str, list[Any]]:
    return {"Fn::If": [condition, then, otherwise]}


NO_VALUE = {"Ref": "AWS::NoValue"}


def statement(sid: str, actions: list[str], resource: Any) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": resource}


def document(statements: list[Any]) -> dict[str, Any]:
    return {"Version": iam.POLICY_VERSION, "Statement": statements}


def trust(service: str, source_account: bool = False) -> dict[str, Any]:
    """A role that only ``service`` assumes (and, where the service sets it,
    only on behalf of this account: the confused-deputy guard)."""
    stmt: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    if source_account:
        stmt["Condition"] = {"StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")}}
    return document([stmt])


def _cfn_value(value: Any) -> Any:
    """A policy value from ``render.iam`` with the template's references put in."""
    if isinstance(value, dict):
        return {k: _cfn_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cfn_value(v) for v in value]
    if isinstance(value, str):
        if value in _CFN_VALUES:
            return _CFN_VALUES[value]
        text = value.replace(_MEMBER, "${MemberRoleName}")
        if text.startswith("arn:aws:"):
            text = "arn:${AWS::Partition}:" + text[len("arn:aws:") :]
        return sub(text) if text != value else value
    return value


def remediator_policy(scope: str) -> dict[str, Any]:
    """``iam-policy --mode auto`` for the runner (``--mode apply`` for a member),
    with the template's topic, table and member role put in. The topic's
    statement is there only when the stack is given a topic."""
    if scope == "member":
        opts = iam.PolicyOptions(mode="apply")
    elif scope == "organization":
        opts = iam.PolicyOptions(
            mode="auto",
            role_arn=f"arn:aws:iam::{{account_id}}:role/{_MEMBER}",
            organization=True,
            notify_sns=_TOPIC,
            lock_table=_TABLE,
        )
    else:
        opts = iam.PolicyOptions(mode="auto", notify_sns=_TOPIC, lock_table=_TABLE)
    out = []
    for stmt in iam.policy_document(opts)["Statement"]:
        value = _cfn_value(stmt)
        out.append(if_("HasTopic", value, NO_VALUE) if stmt["Resource"] == _TOPIC else value)
    return document(out)


def event_patterns() -> list[dict[str, Any]]:
    """The two EventBridge patterns: Lambda (by prefix) and EC2 (exact names);
    calls that failed (``errorCode`` set) changed nothing and are left out."""
    return [
        {
            "source": ["aws.lambda"],
            "detail-type": ["AWS API Call via CloudTrail"],
            "detail": {
                "eventSource": ["lambda.amazonaws.com"],
                "eventName": [{"prefix": name} for name in LAMBDA_EVENT_PREFIXES],
                "errorCode": [{"exists": False}],
            },
        },
        {
            "source": ["aws.ec2"],
            "detail-type": ["AWS API Call via CloudTrail"],
            "detail": {
                "eventSource": ["ec2.amazonaws.com"],
                "eventName": list(EC2_EVENT_NAMES),
                "errorCode": [{"exists": False}],
            },
        },
    ]


def dump(document: dict[str, Any], fmt: str = "yaml") -> str:
    """The template as text: YAML (the default: what people review) or JSON."""
    if fmt not in FORMATS:
        raise BadInput(f"--format {fmt!r} is not one of {', '.join(FORMATS)}.")
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return to_yaml(document)
