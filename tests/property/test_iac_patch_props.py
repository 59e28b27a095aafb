"""Round trip of the template patch: any JSON or YAML template (short forms
included) comes back with the function's subnets replaced, the rest of the
document equal, and only lines naming subnets in the diff."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from remediator.iac.cfn_yaml import read_template, value
from remediator.iac.patch import patch_template, unified_diff

SUBNETS = st.lists(
    st.sampled_from([f"subnet-{n:04x}" for n in range(12)]), min_size=1, max_size=6, unique=True
)
NAMES = st.from_regex(r"[A-Z][A-Za-z0-9]{0,8}", fullmatch=True)
SHORT_FORMS = st.sampled_from(
    [
        "!Ref Env",
        '!Sub "${AWS::StackName}-x"',
        "!GetAtt Role.Arn",
        "!Join [',', [a, b]]",
        "!Select [0, !GetAZs '']",
        "plain-value",
        "'quoted value'",
    ]
)


def _yaml_doc(others: list[tuple[str, str]], subnets: list[str], flow: bool, quote: str) -> str:
    items = [f"{quote}{s}{quote}" for s in subnets]
    listed = "[" + ", ".join(items) + "]" if flow else "".join(f"\n          - {i}" for i in items)
    lines = [
        "AWSTemplateFormatVersion: 2010-09-09",
        "Parameters:",
        "  Env: {Type: String}",
        "Resources:",
        "  Role:",
        "    Type: AWS::IAM::Role",
        "    Properties: {}",
        "  Fn:",
        "    Type: AWS::Lambda::Function",
        "    Properties:",
        "      Role: !GetAtt Role.Arn",
        "      VpcConfig:",
        "        SecurityGroupIds: [!Ref Env]",
        f"        SubnetIds: {listed}",
        "      Environment:",
        "        Variables:",
    ]
    lines += [f"          {name}: {expr}" for name, expr in others]
    lines += ["Outputs:", "  Arn:", "    Value: !GetAtt Fn.Arn"]
    return "\n".join(lines) + "\n"


def _subnet_lines_only(before: str, after: str) -> bool:
    diff = unified_diff(before, after, "t")
    changed = [
        line
        for line in diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    return bool(changed) and all("subnet-" in line for line in changed)


def _without_subnets(doc: dict) -> tuple[list[str], dict]:  # type: ignore[type-arg]
    subnets = doc["Resources"]["Fn"]["Properties"]["VpcConfig"].pop("SubnetIds")
    return subnets, doc


@settings(max_examples=150, deadline=None)
@given(
    others=st.lists(st.tuples(NAMES, SHORT_FORMS), max_size=5, unique_by=lambda t: t[0]),
    old=SUBNETS,
    new=SUBNETS,
    flow=st.booleans(),
    quote=st.sampled_from(["", "'", '"']),
)
def test_yaml_round_trip_changes_only_subnet_lines(
    others: list[tuple[str, str]], old: list[str], new: list[str], flow: bool, quote: str
) -> None:
    text = _yaml_doc(others, old, flow, quote)
    patch = patch_template(text, "Fn", new)
    assert patch.kind == "template" and patch.text is not None
    got, after = _without_subnets(value(read_template(patch.text).root))
    _, before = _without_subnets(value(read_template(text).root))
    assert sorted(got) == sorted(new) and after == before
    if set(old) != set(new):
        assert _subnet_lines_only(text, patch.text)
    else:
        assert patch.text == text


@settings(max_examples=100, deadline=None)
@given(
    old=SUBNETS,
    new=SUBNETS,
    indent=st.sampled_from([None, 1, 2, 4, "\t"]),
    extra=st.dictionaries(NAMES, st.one_of(st.text(max_size=8), st.integers()), max_size=4),
)
def test_json_round_trip_changes_only_subnet_lines(
    old: list[str], new: list[str], indent: int | str | None, extra: dict[str, object]
) -> None:
    doc = {
        "Resources": {
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                    "VpcConfig": {"SubnetIds": old, "SecurityGroupIds": [{"Ref": "Sg"}]},
                    "Tags": [{"Key": k, "Value": v} for k, v in extra.items()],
                },
            }
        }
    }
    text = json.dumps(doc, indent=indent)
    patch = patch_template(text, "Fn", new)
    assert patch.kind == "template" and patch.text is not None
    got, after = _without_subnets(json.loads(patch.text))
    _, before = _without_subnets(json.loads(text))
    assert sorted(got) == sorted(new) and after == before
    if indent is not None and set(old) != set(new):
        assert _subnet_lines_only(text, patch.text)
