"""The template patch end to end on moto: a CloudFormation stack owns a
function with a public subnet; plan, write the patch (``GetTemplate``
through the door), deploy it with ``UpdateStack``, and the function keeps
only working subnets while every other resource of the stack stays as it was.

moto adds no ``aws:cloudformation:*`` tags: the tests tag the function the
way CloudFormation does on AWS."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from remediator import planfile, planner
from remediator.aws import door
from remediator.aws import session as sessions
from remediator.domain.policy import Policy, default_policy
from remediator.planfile.model import Plan
from remediator.run import iac_patch
from tests.integration.test_plan_scenarios import NOW, REGION, Aws, Shop, _discover, _shop
from tests.moto_worlds import function_zip

FN = "orders-fn"


@pytest.fixture
def world() -> Iterator[tuple[Aws, Shop, Any]]:
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        aws = Aws(
            session=session,
            ec2=session.client("ec2"),
            lam=session.client("lambda"),
            iam=session.client("iam"),
        )
        yield aws, _shop(aws), session.client("cloudformation")


def _template(aws: Aws, shop: Shop, subnets: str, parameters: str = "") -> str:
    code = base64.b64encode(function_zip()).decode()
    return f"""AWSTemplateFormatVersion: 2010-09-09
Description: orders service
{parameters}Resources:
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      DisplayName: !Sub "${{AWS::StackName}}-orders"
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      FunctionName: {FN}
      Runtime: python3.12
      Handler: handler.handler
      Role: {aws.role}
      Code:
        ZipFile: {code}
      Environment:
        Variables:
          TOPIC: !Ref Topic
      VpcConfig:
        SecurityGroupIds: [{shop.sg}]
        SubnetIds: {subnets}
Outputs:
  FnArn:
    Value: !GetAtt Fn.Arn
"""


def _own(aws: Aws, cf: Any, stack: str) -> None:
    """Tag the function as CloudFormation does on AWS."""
    arn = aws.lam.get_function(FunctionName=FN)["Configuration"]["FunctionArn"]
    stack_id = cf.describe_stacks(StackName=stack)["Stacks"][0]["StackId"]
    aws.lam.tag_resource(
        Resource=arn,
        Tags={
            "aws:cloudformation:stack-name": stack,
            "aws:cloudformation:stack-id": stack_id,
            "aws:cloudformation:logical-id": "Fn",
        },
    )


def _plan(policy: Policy | None = None) -> Plan:
    policy = policy or default_policy()
    return planner.build_plan(_discover(policy), policy, NOW)


def _patch(plan: Plan, out: Path) -> dict[str, Any]:
    factory = sessions.client_factory(boto3.Session(region_name=REGION), config="write")
    aws = door.Aws(factory, mode="check")
    return iac_patch.write_patches(plan, iac_patch.template_reader(aws), out)


def _resources(cf: Any, stack: str) -> dict[str, str]:
    listed = cf.describe_stack_resources(StackName=stack)["StackResources"]
    return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in listed}


def _subnets(aws: Aws) -> set[str]:
    return set(aws.lam.get_function(FunctionName=FN)["Configuration"]["VpcConfig"]["SubnetIds"])


def _fn_findings(plan: Plan) -> list[Any]:
    return [f for f in plan.findings if f.function == FN and f.severity != "info"]


def test_literal_subnets_patched_template_fixes_the_function_and_nothing_else(
    world: tuple[Aws, Shop, Any], tmp_path: Path
) -> None:
    aws, shop, cf = world
    literal = (
        f"\n          - {shop.public_a}\n          - {shop.private_a}\n          - {shop.private_b}"
    )
    original = _template(aws, shop, literal)
    cf.create_stack(StackName="orders", TemplateBody=original)
    _own(aws, cf, "orders")
    before = _resources(cf, "orders")
    topic = aws.session.client("sns").get_topic_attributes(TopicArn=before["Topic"])

    plan = _plan()
    (finding,) = _fn_findings(plan)
    assert finding.owner is not None and finding.owner.stack_name == "orders"
    assert set(finding.patch_subnet_ids) == {shop.private_a, shop.private_b}

    index = _patch(plan, tmp_path)
    (stack,) = index["stacks"]
    assert stack["files"] == ["orders.template.yaml", "orders.diff"]
    (entry,) = stack["functions"]
    assert entry["result"] == "template" and entry["logical_id"] == "Fn"
    diff = (tmp_path / "orders.diff").read_text()
    changed = [
        line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert changed == [f"-          - {shop.public_a}"]

    patched = (tmp_path / "orders.template.yaml").read_text()
    cf.update_stack(StackName="orders", TemplateBody=patched)
    assert _subnets(aws) == {shop.private_a, shop.private_b}
    assert _resources(cf, "orders") == before
    sns = aws.session.client("sns")
    assert sns.get_topic_attributes(TopicArn=before["Topic"])["Attributes"] == topic["Attributes"]
    assert _fn_findings(_plan()) == []


def test_subnets_from_a_parameter_are_fixed_by_the_overrides(
    world: tuple[Aws, Shop, Any], tmp_path: Path
) -> None:
    aws, shop, cf = world
    params = (
        "Parameters:\n  Subnets:\n    Type: List<AWS::EC2::Subnet::Id>\n  Env:\n    Type: String\n"
    )
    original = _template(aws, shop, "!Ref Subnets", params)
    cf.create_stack(
        StackName="orders",
        TemplateBody=original,
        Parameters=[
            {"ParameterKey": "Subnets", "ParameterValue": f"{shop.public_a},{shop.private_a}"},
            {"ParameterKey": "Env", "ParameterValue": "prod"},
        ],
    )
    _own(aws, cf, "orders")
    before = _resources(cf, "orders")

    index = _patch(_plan(), tmp_path)
    (stack,) = index["stacks"]
    assert stack["files"] == ["orders.parameters.json"]
    overrides = json.loads((tmp_path / "orders.parameters.json").read_text())
    assert {"ParameterKey": "Env", "UsePreviousValue": True} in overrides
    cf.update_stack(StackName="orders", UsePreviousTemplate=True, Parameters=overrides)

    fixed = _subnets(aws)
    assert fixed and shop.public_a not in fixed and fixed <= {shop.private_a, shop.private_b}
    assert _resources(cf, "orders") == before
    outputs = cf.describe_stacks(StackName="orders")["Stacks"][0]["Parameters"]
    assert {"ParameterKey": "Env", "ParameterValue": "prod"} in outputs
    assert _fn_findings(_plan()) == []


def test_an_imported_value_names_the_export_to_change(
    world: tuple[Aws, Shop, Any], tmp_path: Path
) -> None:
    aws, shop, cf = world
    network = f"""Resources:
  Marker:
    Type: AWS::SNS::Topic
Outputs:
  Subnets:
    Value: !Join [",", [{shop.public_a}, {shop.private_a}]]
    Export:
      Name: net-PrivateSubnets
"""
    cf.create_stack(StackName="network", TemplateBody=network)
    template = _template(aws, shop, '!Split [",", !ImportValue net-PrivateSubnets]')
    cf.create_stack(StackName="orders", TemplateBody=template)
    _own(aws, cf, "orders")

    index = _patch(_plan(), tmp_path)
    (stack,) = index["stacks"]
    assert stack["files"] == []
    (entry,) = stack["functions"]
    assert entry["result"] == "manual" and entry["export"] == "net-PrivateSubnets"
    line = next(n for n, text in enumerate(template.splitlines(), 1) if "SubnetIds:" in text)
    assert f"line {line}, column 20" in entry["where"]
    assert any("net-PrivateSubnets" in note for note in entry["notes"])
    # nothing was changed
    assert _subnets(aws) == {shop.public_a, shop.private_a}


def test_a_stack_whose_template_cannot_be_read_is_reported(
    world: tuple[Aws, Shop, Any], tmp_path: Path
) -> None:
    aws, shop, cf = world
    cf.create_stack(StackName="orders", TemplateBody=_template(aws, shop, f"[{shop.public_a}]"))
    arn = aws.lam.get_function(FunctionName=FN)["Configuration"]["FunctionArn"]
    # a stack name that is not a stack (and not a safe file name)
    aws.lam.tag_resource(
        Resource=arn,
        Tags={"aws:cloudformation:stack-name": "../ghost", "aws:cloudformation:logical-id": "Fn"},
    )
    index = _patch(_plan(), tmp_path)
    (stack,) = index["stacks"]
    assert stack["stack"] == "../ghost" and stack["files"] == []
    (entry,) = stack["functions"]
    assert entry["result"] == "error" and "ghost" in entry["error"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [iac_patch.INDEX]


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("orders", "orders"),
        ("../etc/passwd", "etc_passwd"),
        (".hidden", "hidden"),
        ("", "stack"),
        ("a" * 300, "a" * 128),
        ("sp ace\n", "sp_ace"),
    ],
)
def test_stack_names_become_safe_file_names(name: str, safe: str) -> None:
    assert iac_patch.safe_name(name) == safe


@pytest.mark.parametrize(
    ("owned_functions", "outcome"),
    [(None, "review"), ("patch-only", "review"), ("apply", "fixed")],
)
def test_auto_holds_owned_functions_and_writes_the_patch_beside_the_plan(
    world: tuple[Aws, Shop, Any], tmp_path: Path, owned_functions: str | None, outcome: str
) -> None:
    from remediator.domain.policy import Settings
    from remediator.run import auto
    from tests.integration.test_auto import HOME, deps, options

    aws, shop, cf = world
    subnets = f"[{shop.public_a}, {shop.private_a}, {shop.private_b}]"
    cf.create_stack(StackName="orders", TemplateBody=_template(aws, shop, subnets))
    _own(aws, cf, "orders")
    rules = default_policy().rules
    policy = Policy(defaults=Settings(owned_functions=owned_functions), rules=rules)

    summary = auto.run(
        options(
            tmp_path, regions=(REGION,), accounts=(), role_arn=None, max_risk="high", policy=policy
        ),
        deps(),
    )
    (target,) = summary.targets
    assert target.outcome == outcome, target.to_json()
    folder = tmp_path / "out" / HOME / REGION
    assert (folder / "iac" / "orders.diff").is_file()
    assert (folder / "iac" / "orders.template.yaml").is_file()
    report = (folder / "plan.md").read_text()
    assert "## Template patches" in report and "Owner: CloudFormation stack `orders`" in report
    fixed = _subnets(aws) == {shop.private_a, shop.private_b}
    assert fixed is (outcome == "fixed")
    if owned_functions is None:
        # held for review, not blocked: the review plan can still apply it
        review = planfile.read_plan(folder / "review.json")
        assert any(c.owner is not None for c in review.changes)
