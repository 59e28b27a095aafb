"""`remediate iam-policy`: exactly what the code calls, and the destructive
actions only where remediator may act.

* every permission a change kind, discovery or ``--verify reachability``
  declares is called by its code (or evaluated by IAM on top of a call,
  ``iam.IMPLIED``): nothing granted "just in case";
* a small evaluator of IAM's Allow logic (action, resource ARN patterns, the
  Null / StringLike / StringEquals conditions the policy uses) shows, on a
  table of requests, that the apply policy allows what remediator sends and
  refuses the neighbours it must not touch: a whole function, a security
  group or endpoint it did not create, a create without its tag, a tag
  outside a create;
* the tag the conditions name is the tag the creates send.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from remediator.aws import discover, reachability
from remediator.changes import base, registry
from remediator.domain.errors import BadInput
from remediator.render import iam
from tests.iam_eval import _listed, allowed
from tests.unit.test_iam import PACKAGE, _scan_file

ACCOUNT = "111122223333"
REGION = "eu-west-1"


def _module(kind: registry.Kind) -> str:
    return type(kind.handler).__module__.removeprefix("remediator.").replace(".", "/") + ".py"


@pytest.mark.parametrize("name", sorted(registry.KINDS))
def test_each_kind_declares_only_what_its_code_calls(name: str) -> None:
    kind = registry.KINDS[name]
    called = _scan_file(_module(kind)) | _scan_file("changes/base.py")
    assert set(kind.permissions) - iam.with_implied(called) == set()


def test_discovery_and_reachability_declare_exactly_what_they_call() -> None:
    discovery = (
        _scan_file("aws/discover.py") | _scan_file("aws/network.py") | _scan_file("aws/versions.py")
    )
    assert set(discover.READ_PERMISSIONS) == discovery
    assert set(reachability.PERMISSIONS) == _scan_file("aws/reachability.py")


def test_no_policy_grants_what_no_code_calls() -> None:
    """lambda:GetFunction (a link to download every function's code) is
    called nowhere, so no mode grants it."""
    calls = set().union(*(_scan_file(str(p.relative_to(PACKAGE))) for p in PACKAGE.rglob("*.py")))
    assert "lambda:GetFunction" not in calls
    for mode in iam.MODES:
        kw: dict[str, Any] = {"reachability": True} if mode in ("apply", "auto") else {}
        doc = iam.policy_document(iam.PolicyOptions(mode=mode, **kw))
        assert not iam.is_covered("lambda:GetFunction", doc), mode


# --------------------------------------------------------------------------
# The apply policy on a table of requests (evaluator: tests/iam_eval.py)


def _arn(service: str, resource: str, partition: str = "aws") -> str:
    return f"arn:{partition}:{service}:{REGION}:{ACCOUNT}:{resource}"


FN = _arn("lambda", "function:orders-api")
OWN = {f"aws:ResourceTag/{iam.OWN_TAG}": "c-0003"}
NEW = {f"aws:RequestTag/{iam.OWN_TAG}": "c-0003"}
LAMBDA_SERVICE = {"ec2:VpceServiceName": f"com.amazonaws.{REGION}.lambda"}

REQUESTS = [
    # (action, resource, context, allowed?) -- what remediator sends ...
    ("lambda:UpdateFunctionConfiguration", FN, {}, True),
    ("lambda:PublishVersion", FN, {}, True),
    ("lambda:UpdateAlias", FN + ":live", {}, True),
    ("lambda:DeleteFunction", FN + ":7", {}, True),
    ("ec2:CreateRoute", _arn("ec2", "route-table/rtb-1"), {}, True),
    ("ec2:ReplaceRoute", _arn("ec2", "route-table/rtb-1"), {}, True),
    ("ec2:DeleteRoute", _arn("ec2", "route-table/rtb-1"), {}, True),
    ("ec2:ModifyVpcAttribute", _arn("ec2", "vpc/vpc-1"), {}, True),
    ("ec2:CreateSecurityGroup", _arn("ec2", "vpc/vpc-1"), NEW, True),
    ("ec2:CreateSecurityGroup", _arn("ec2", "security-group/*"), NEW, True),
    ("ec2:CreateTags", _arn("ec2", "security-group/*"), {"ec2:CreateAction": "CreateSecurityGroup", **NEW}, True),
    ("ec2:AuthorizeSecurityGroupIngress", _arn("ec2", "security-group/sg-1"), {}, True),
    ("ec2:DeleteSecurityGroup", _arn("ec2", "security-group/sg-1"), OWN, True),
    ("ec2:CreateVpcEndpoint", _arn("ec2", "vpc/vpc-1"), {**NEW, **LAMBDA_SERVICE}, True),
    ("ec2:CreateVpcEndpoint", _arn("ec2", "subnet/subnet-1"), {**NEW, **LAMBDA_SERVICE}, True),
    ("ec2:CreateVpcEndpoint", _arn("ec2", "security-group/sg-1"), {**NEW, **LAMBDA_SERVICE}, True),
    ("ec2:CreateVpcEndpoint", _arn("ec2", "vpc-endpoint/*"), {**NEW, **LAMBDA_SERVICE}, True),
    ("ec2:CreateTags", _arn("ec2", "vpc-endpoint/*"), {"ec2:CreateAction": "CreateVpcEndpoint", **NEW}, True),
    ("ec2:DeleteVpcEndpoints", _arn("ec2", "vpc-endpoint/vpce-1"), {**OWN, **LAMBDA_SERVICE}, True),
    ("ec2:ModifyVpcEndpoint", _arn("ec2", "vpc-endpoint/vpce-1"), {}, True),
    # ... and its neighbours, refused
    ("lambda:DeleteFunction", FN, {}, False),  # the whole function, every version
    ("lambda:UpdateFunctionConfiguration", _arn("lambda", "layer:x"), {}, False),
    ("ec2:DeleteSecurityGroup", _arn("ec2", "security-group/sg-1"), {}, False),
    ("ec2:DeleteSecurityGroup", _arn("ec2", "security-group/sg-1"), {"aws:ResourceTag/team": "a"}, False),
    ("ec2:CreateSecurityGroup", _arn("ec2", "security-group/*"), {}, False),
    ("ec2:CreateTags", _arn("ec2", "security-group/sg-1"), {}, False),  # re-tag a group
    ("ec2:CreateTags", _arn("ec2", "instance/i-1"), {"ec2:CreateAction": "RunInstances"}, False),
    ("ec2:CreateVpcEndpoint", _arn("ec2", "vpc-endpoint/*"), {**NEW, "ec2:VpceServiceName": f"com.amazonaws.{REGION}.s3"}, False),
    ("ec2:CreateVpcEndpoint", _arn("ec2", "vpc-endpoint/*"), LAMBDA_SERVICE, False),
    ("ec2:DeleteVpcEndpoints", _arn("ec2", "vpc-endpoint/vpce-1"), LAMBDA_SERVICE, False),
    ("ec2:DeleteVpcEndpoints", _arn("ec2", "vpc-endpoint/vpce-1"), {**OWN, "ec2:VpceServiceName": "com.amazonaws.vpce.svc-1"}, False),
    ("ec2:DeleteRoute", _arn("ec2", "vpc/vpc-1"), {}, False),
    ("ec2:DeleteVpc", _arn("ec2", "vpc/vpc-1"), {}, False),
]  # fmt: skip


@pytest.mark.parametrize(("action", "resource", "context", "expected"), REQUESTS)
def test_apply_policy_allows_what_remediator_sends_and_nothing_beside(
    action: str, resource: str, context: dict[str, Any], expected: bool
) -> None:
    doc = iam.policy_document(iam.PolicyOptions(mode="apply"))
    assert allowed(doc, action, resource, context) is expected


def test_the_evaluator_refuses_an_unknown_operator() -> None:
    doc = {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "ec2:DeleteVpc",
                "Resource": "*",
                "Condition": {"DateLessThan": {"aws:CurrentTime": "2000-01-01"}},
            }
        ]
    }
    with pytest.raises(AssertionError, match="unknown condition operator"):
        allowed(doc, "ec2:DeleteVpc", "x", {})


def test_every_destructive_action_is_scoped() -> None:
    """No write or delete stays on ``*``: only describes, lists, the identity
    call, the permission-only Tiros queries and the private-DNS association
    with the hosted zone AWS manages (its ARN is not known)."""
    doc = iam.policy_document(iam.PolicyOptions(mode="apply", reachability=True))
    on_star = {a for s in doc["Statement"] if s["Resource"] == "*" for a in _listed(s["Action"])}
    reads = ("Describe", "Get", "List")
    assert {a for a in on_star if not a.split(":", 1)[1].startswith(reads)} == {
        "route53:AssociateVPCWithHostedZone",
        "tiros:CreateQuery",
    }


@pytest.mark.parametrize("partition", ["aws", "aws-cn", "aws-us-gov"])
def test_the_partition_is_in_every_arn(partition: str) -> None:
    doc = iam.policy_document(
        iam.PolicyOptions(mode="apply", partition=partition, lock_table="locks")
    )
    arns = [r for s in doc["Statement"] for r in _listed(s["Resource"]) if r != "*"]
    assert arns and all(r.startswith(f"arn:{partition}:") for r in arns)
    fn = _arn("lambda", "function:f:3", partition)
    assert allowed(doc, "lambda:DeleteFunction", fn)


@pytest.mark.parametrize("partition", ["", "gcp", "aws_cn", "aws-", "arn:aws"])
def test_a_partition_that_is_not_one_is_refused(partition: str) -> None:
    with pytest.raises(BadInput, match="not an AWS partition"):
        iam.policy_document(iam.PolicyOptions(mode="apply", partition=partition))


# --------------------------------------------------------------------------
# The tag the conditions name is the tag the creates send


def _tag_keys(tags: list[dict[str, str]]) -> set[str]:
    return {t["Key"] for t in tags}


def test_change_tags_carry_the_tag_the_policy_conditions_on() -> None:
    change = registry.KINDS["ec2.create-endpoint-security-group"].change.model_construct(
        id="c-0003"
    )
    assert iam.OWN_TAG in _tag_keys(base.change_tags(change, "p-1"))


@pytest.mark.parametrize(
    ("module", "operation"),
    [
        ("changes/ec2_endpoint_sg.py", "create_security_group"),
        ("changes/ec2_lambda_endpoint.py", "create_vpc_endpoint"),
    ],
)
def test_every_create_tags_what_it_makes_with_change_tags(module: str, operation: str) -> None:
    """The creates the tag conditions guard send ``TagSpecifications`` built
    by ``change_tags`` (so the tag exists from the create on, atomically)."""
    tree = ast.parse((Path(PACKAGE) / module).read_text(encoding="utf-8"))
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and len(node.args) >= 3
        and isinstance(node.args[2], ast.Constant)
        and node.args[2].value == operation
    ]
    assert calls, f"{module} makes no {operation} call"
    for call in calls:
        spec = next((k.value for k in call.keywords if k.arg == "TagSpecifications"), None)
        assert spec is not None, f"{operation} in {module} sends no TagSpecifications"
        assert "change_tags" in ast.unparse(spec)
