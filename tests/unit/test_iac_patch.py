"""The template patch (remediator.iac.patch): literal lists edited in place,
parameters overridden, and what cannot be patched named exactly."""

from __future__ import annotations

import json
import textwrap

import pytest

from remediator.domain.errors import BadInput
from remediator.iac.cfn_yaml import read_template, value
from remediator.iac.patch import patch_template, unified_diff

NEW = ["subnet-nat1", "subnet-nat2"]


def _yaml(subnets: str, extra: str = "", props: str = "") -> str:
    return textwrap.dedent(
        """\
        AWSTemplateFormatVersion: 2010-09-09
        Transform: {transform}
        Parameters:
          Env:
            Type: String
          Subnets:
            Type: List<AWS::EC2::Subnet::Id>
          SubnetCsv:
            Type: String
          Sg:
            Type: AWS::EC2::SecurityGroup::Id
        Conditions:
          IsProd: !Equals [!Ref Env, prod]
        Resources:
          Role:
            Type: AWS::IAM::Role
            Properties:
              AssumeRolePolicyDocument: {{}}
          Fn:
            Type: AWS::Lambda::Function
            Properties:
              FunctionName: !Sub "${{AWS::StackName}}-fn"
              Role: !GetAtt Role.Arn
              VpcConfig:
                SecurityGroupIds: [!Ref Sg]
                SubnetIds: {subnets}
        {extra}"""
    ).format(subnets=subnets, extra=extra, transform=props or "[]")


def _changed_lines(before: str, after: str) -> list[str]:
    diff = unified_diff(before, after, "t")
    return [
        line
        for line in diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


@pytest.mark.parametrize(
    ("subnets", "kept_style"),
    [
        ("\n          - subnet-pub\n          - subnet-nat1", "- subnet-nat2"),
        ("\n          - 'subnet-pub'\n          - 'subnet-nat1'", "- 'subnet-nat2'"),
        ('\n          - "subnet-pub"  # public\n          - "subnet-nat1"', '- "subnet-nat2"'),
        ("[subnet-pub, subnet-nat1]", "[subnet-nat1, subnet-nat2]"),
        ('["subnet-pub", "subnet-nat1"]', '["subnet-nat1", "subnet-nat2"]'),
    ],
)
def test_literal_yaml_list_changes_only_the_subnet_lines(subnets: str, kept_style: str) -> None:
    text = _yaml(subnets)
    patch = patch_template(text, "Fn", NEW)
    assert patch.kind == "template" and patch.text is not None
    changed = _changed_lines(text, patch.text)
    assert changed and all("subnet-" in line for line in changed)
    assert kept_style in patch.text
    before, after = value(read_template(text).root), value(read_template(patch.text).root)
    got = after["Resources"]["Fn"]["Properties"]["VpcConfig"].pop("SubnetIds")
    before["Resources"]["Fn"]["Properties"]["VpcConfig"].pop("SubnetIds")
    assert sorted(got) == NEW and after == before
    # the short forms are still short forms
    assert "!GetAtt Role.Arn" in patch.text and '!Sub "${AWS::StackName}-fn"' in patch.text


@pytest.mark.parametrize("indent", [2, 4, "\t"])
def test_literal_json_list_keeps_the_rest_byte_for_byte(indent: int | str) -> None:
    doc = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                    "VpcConfig": {
                        "SubnetIds": ["subnet-pub", "subnet-nat1", "subnet-x"],
                        "SecurityGroupIds": [{"Ref": "Sg"}],
                    },
                },
            }
        },
    }
    text = json.dumps(doc, indent=indent)
    patch = patch_template(text, "Fn", NEW)
    assert patch.kind == "template" and patch.format == "json" and patch.text is not None
    assert all("subnet-" in line for line in _changed_lines(text, patch.text))
    got = json.loads(patch.text)
    assert sorted(got["Resources"]["Fn"]["Properties"]["VpcConfig"].pop("SubnetIds")) == NEW
    doc["Resources"]["Fn"]["Properties"]["VpcConfig"].pop("SubnetIds")  # type: ignore[index]
    assert got == doc


@pytest.mark.parametrize(
    ("subnets", "param", "new_value"),
    [
        ("!Ref Subnets", "Subnets", "subnet-nat1,subnet-nat2"),
        ("\n          Ref: Subnets", "Subnets", "subnet-nat1,subnet-nat2"),
        ('!Split [",", !Ref SubnetCsv]', "SubnetCsv", "subnet-nat1,subnet-nat2"),
        ("!Split [';', !Ref SubnetCsv]", "SubnetCsv", "subnet-nat1;subnet-nat2"),
    ],
)
def test_subnets_from_a_parameter_become_overrides(
    subnets: str, param: str, new_value: str
) -> None:
    patch = patch_template(_yaml(subnets), "Fn", NEW)
    assert patch.kind == "parameters" and patch.text is None
    assert patch.parameters == {param: new_value}
    assert param not in patch.keep and "Env" in patch.keep


@pytest.mark.parametrize(
    ("subnets", "extra", "words", "export"),
    [
        (
            "!ImportValue net-PrivateSubnets",
            "",
            ["net-PrivateSubnets", "line 26"],
            "net-PrivateSubnets",
        ),
        (
            '!Split [",", !ImportValue net-SubnetCsv]',
            "",
            ["net-SubnetCsv"],
            "net-SubnetCsv",
        ),
        (
            '!ImportValue\n            "Fn::Sub": "${Env}-subnets"',
            "",
            ["${Env}-subnets"],
            '"Fn::Sub": "${Env}-subnets"',
        ),
        (
            "!GetAtt Net.Outputs.PrivateSubnets",
            "  Net:\n    Type: AWS::CloudFormation::Stack\n    Properties:\n      TemplateURL: https://s3/net.yaml\n",
            ["output PrivateSubnets of nested stack Net", "https://s3/net.yaml"],
            None,
        ),
        ("!If [IsProd, !Ref Subnets, [subnet-a]]", "", ["!If [IsProd", "condition"], None),
        ("!Ref Sg", "", ["parameter Sg has type AWS::EC2::SecurityGroup::Id"], None),
        (
            "\n          - !ImportValue net-A\n          - subnet-b",
            "",
            ["!ImportValue net-A"],
            "net-A",
        ),
    ],
)
def test_what_the_patch_cannot_change_is_named(
    subnets: str, extra: str, words: list[str], export: str | None
) -> None:
    patch = patch_template(_yaml(subnets, extra), "Fn", NEW)
    assert patch.kind == "manual" and patch.text is None
    said = patch.where + " " + " ".join(patch.notes)
    for word in words:
        assert word in said
    assert patch.export == export
    assert "Resources.Fn.Properties.VpcConfig.SubnetIds" in patch.where


def test_cdk_resources_say_the_app_must_change_too() -> None:
    text = _yaml("[subnet-pub]", "    Metadata:\n      aws:cdk:path: App/Stack/Fn/Resource\n")
    patch = patch_template(text, "Fn", NEW)
    assert patch.kind == "template"
    assert any("App/Stack/Fn/Resource" in n and "vpcSubnets" in n for n in patch.notes)


SAM = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.12
    VpcConfig:
      SecurityGroupIds: [sg-1]
      SubnetIds:
        - subnet-pub
        - subnet-nat1
Resources:
  Api:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
{more}"""


def test_sam_globals_are_patched_when_only_this_function_uses_them() -> None:
    text = SAM.format(more="")
    patch = patch_template(text, "Api", NEW)
    assert patch.kind == "template" and "Globals.Function.VpcConfig.SubnetIds" in patch.where
    assert patch.text is not None
    assert all("subnet-" in line for line in _changed_lines(text, patch.text))
    assert "Transform: AWS::Serverless-2016-10-31" in patch.text


def test_sam_globals_shared_by_other_functions_are_not_changed() -> None:
    more = "  Worker:\n    Type: AWS::Serverless::Function\n    Properties:\n      Handler: w.handler\n"
    patch = patch_template(SAM.format(more=more), "Api", NEW)
    assert patch.kind == "manual" and "Worker" in patch.where


def test_sam_function_with_its_own_vpc_config_is_patched_there() -> None:
    text = SAM.format(more="      VpcConfig:\n        SubnetIds: [subnet-pub]\n")
    patch = patch_template(text, "Api", NEW)
    assert patch.kind == "template" and "Resources.Api.Properties" in patch.where
    assert patch.text is not None and "SubnetIds: [subnet-nat1, subnet-nat2]" in patch.text


@pytest.mark.parametrize(
    ("text", "logical_id", "words"),
    [
        (_yaml("[subnet-a]"), "Missing", "no function resource 'Missing'"),
        (_yaml("[subnet-a]"), "Role", "no function resource 'Role'"),
    ],
)
def test_unknown_resources_are_manual(text: str, logical_id: str, words: str) -> None:
    patch = patch_template(text, logical_id, NEW)
    assert patch.kind == "manual" and words in patch.where


@pytest.mark.parametrize("text", ["{not json", "a: [b", "- just\n- a list\n"])
def test_bad_templates_are_one_line_errors(text: str) -> None:
    with pytest.raises(BadInput):
        patch_template(text, "Fn", NEW)
