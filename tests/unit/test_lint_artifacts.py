"""What remediator generates or documents passes the linters of its medium
(tests/lint_tools.py):

* every IAM policy `remediate iam-policy` prints (each mode, bare and with
  each option that changes it, and with all of them): parliament, nothing
  above LOW;
* the GitHub Actions recipes (docs/ci/*.yml): actionlint, no finding;
  ``zizmor --offline``, nothing of medium severity or above;
* every CloudFormation template in docs (fenced in Markdown, or a file):
  cfn-lint, no error;
* the OIDC trust policies in docs restrict the token's ``sub`` and ``aud``
  with ``StringEquals`` (parliament 1.6 does not know GitHub's OIDC provider,
  so it lints identity policies only).

Each linter is first shown to find a planted problem, so a linter that
stopped working cannot pass everything.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from remediator.render import iam
from tests import lint_tools

DOCS = lint_tools.ROOT / "docs"
WORKFLOWS = sorted((DOCS / "ci").glob("*.yml"))
WORKFLOWS = [p for p in WORKFLOWS if p.name != "zizmor.yml"]

ROLE = "arn:aws:iam::{account_id}:role/remediator"
TOPIC = "arn:aws:sns:us-east-1:111111111111:remediator"
NETWORK = "arn:aws:iam::{account}:role/remediator-network-read"

OPTIONS: dict[str, dict[str, Any]] = {
    "lock table": {"lock_table": "remediator-locks"},
    "lock table ARN": {"lock_table": "arn:aws:dynamodb:us-east-1:111111111111:table/locks"},
    "reachability": {"reachability": True},
    "network role": {"network_role_arn": NETWORK},
    "aws-us-gov": {"partition": "aws-us-gov"},
    "member roles": {"role_arn": ROLE},
    "organization": {"role_arn": ROLE, "organization": True},
    "topic": {"notify_sns": TOPIC},
    "artifacts": {"artifacts": "s3://ops-artifacts/remediator"},
    "scoped": {"regions": ("us-gov-west-1", "us-gov-east-1"), "account_id": "111111111111"},
    # a key in the same partition as the "all" cases
    "signing key": {
        "signing_key": "kms:arn:aws-us-gov:kms:us-gov-west-1:111111111111:key/1234abcd-12ab",
        "partition": "aws-us-gov",
    },
}
FITS = {
    "plan": ("network role", "aws-us-gov", "lock table", "signing key"),
    "apply": (
        "lock table",
        "lock table ARN",
        "reachability",
        "network role",
        "aws-us-gov",
        "signing key",
        "scoped",
    ),
    "auto": tuple(OPTIONS),
    "network-owner": (),
}


def _cases() -> list[tuple[str, dict[str, Any]]]:
    cases: list[tuple[str, dict[str, Any]]] = []
    for mode, names in FITS.items():
        cases.append((mode, {}))
        cases += [(f"{mode} + {name}", OPTIONS[name]) for name in names]
        if len(names) > 1:
            every: dict[str, Any] = {}
            for name in names:
                if name != "lock table ARN":
                    every |= OPTIONS[name]
            if "role_arn" in every:  # a runner that assumes roles writes nothing itself
                every.pop("account_id", None)
            cases.append((f"{mode} + all", every))
        if mode == "auto":  # the runner's own policy with every option
            cases.append(
                ("auto runner + all", {k: v for k, v in every.items() if k != "reachability"})
            )
    return cases


CASES = _cases()


@pytest.mark.parametrize(("label", "kw"), CASES, ids=[c[0] for c in CASES])
def test_every_generated_policy_passes_parliament(label: str, kw: dict[str, Any]) -> None:
    mode = label.split(" ", 1)[0]
    text = iam.render(iam.PolicyOptions(mode=mode, **kw))
    assert lint_tools.parliament(text) == []


def test_the_cases_cover_every_mode_and_option() -> None:
    assert {c[0].split(" ", 1)[0] for c in CASES} == set(iam.MODES)
    used = {k for _, kw in CASES for k in kw}
    fields = set(iam.PolicyOptions.__dataclass_fields__) - {"mode"}
    assert used == fields


def test_parliament_finds_a_planted_problem() -> None:
    bad = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["ec2:DeleteSecurityGroup"],
                "Resource": "arn:aws:s3:::b",
            },
            {"Effect": "Allow", "Action": ["sts:AssumeRole"], "Resource": "*"},
        ],
    }
    found = lint_tools.parliament(bad)
    assert any("RESOURCE_MISMATCH" in f for f in found)
    assert any("CREDENTIALS_EXPOSURE" in f for f in found)


# --------------------------------------------------------------------------
# Workflows


def test_there_are_workflows_to_lint() -> None:
    assert {p.name for p in WORKFLOWS} >= {"github-actions.yml", "github-actions-auto.yml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_passes_actionlint(path: Path) -> None:
    assert lint_tools.actionlint(path.read_text(encoding="utf-8"), str(path)) == []


def test_actionlint_finds_a_planted_problem() -> None:
    bad = (
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.event.head_commit.message }}\n"
        "      - run: echo ${{ steps.nope.outputs.x.y.z( }}\n"
    )
    assert len(lint_tools.actionlint(bad, "bad.yml")) >= 2


def test_workflows_pass_zizmor() -> None:
    assert lint_tools.zizmor(DOCS / "ci") == []


def test_zizmor_finds_a_planted_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v4\n",
        encoding="utf-8",
    )
    found = lint_tools.zizmor(bad)
    assert any("unpinned-uses" in f for f in found)
    assert any("artipacked" in f for f in found)


SHA_PIN = re.compile(r"uses: [\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_conventions(path: Path) -> None:
    """Pinned by SHA with the release named, no token at workflow level,
    no checkout that keeps credentials, nothing installed from PyPI by name."""
    text = path.read_text(encoding="utf-8")
    uses = [line.strip().removeprefix("- ") for line in text.splitlines() if "uses:" in line]
    assert uses and all(SHA_PIN.fullmatch(u) for u in uses), uses
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    top = code.split("\njobs:", 1)[0]
    assert "id-token" not in top and "permissions: {}" in top
    assert "concurrency:" in text
    checkouts = code.count("actions/checkout@")
    assert code.count("persist-credentials: false") == checkouts
    assert "pip install remediator" not in code


# --------------------------------------------------------------------------
# CloudFormation templates and IAM policies in docs


def _fenced(lang: str, must: str) -> list[tuple[str, str]]:
    out = []
    for md in sorted(DOCS.rglob("*.md")):
        blocks = re.findall(rf"```{lang}\n(.*?)```", md.read_text(encoding="utf-8"), re.S)
        out += [(f"{md.relative_to(DOCS)}#{i}", b) for i, b in enumerate(blocks) if must in b]
    return out


def _templates() -> list[tuple[str, str]]:
    found = _fenced("yaml", "AWSTemplateFormatVersion")
    for path in sorted(DOCS.rglob("*")):
        if path.suffix in (".yaml", ".yml", ".json", ".template") and path.is_file():
            text = path.read_text(encoding="utf-8")
            if "AWSTemplateFormatVersion" in text:
                found.append((str(path.relative_to(DOCS)), text))
    return found


TEMPLATES = _templates()


def test_the_docs_hold_the_lock_table_template() -> None:
    assert any("AWS::DynamoDB::Table" in t for _, t in TEMPLATES)


@pytest.mark.parametrize(("where", "template"), TEMPLATES, ids=[t[0] for t in TEMPLATES])
def test_template_passes_cfn_lint(where: str, template: str) -> None:
    assert lint_tools.cfn_lint(template) == []


@pytest.mark.parametrize(("where", "template"), TEMPLATES, ids=[t[0] for t in TEMPLATES])
def test_stateful_resources_are_retained_and_leases_expire(where: str, template: str) -> None:
    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    doc = yaml.load(template, Loader=_Loader)
    for name, resource in doc["Resources"].items():
        if resource["Type"] in ("AWS::DynamoDB::Table", "AWS::S3::Bucket"):
            assert resource.get("DeletionPolicy") == "Retain", name
            assert resource.get("UpdateReplacePolicy") == "Retain", name
        if resource["Type"] == "AWS::DynamoDB::Table":
            ttl = resource["Properties"]["TimeToLiveSpecification"]
            assert ttl == {"AttributeName": "expires_at", "Enabled": True}, name


def test_cfn_lint_finds_a_planted_problem() -> None:
    bad = (
        'AWSTemplateFormatVersion: "2010-09-09"\nResources:\n  T:\n'
        "    Type: AWS::DynamoDB::Table\n    Properties:\n      BillingMode: SOMETIMES\n"
    )
    assert lint_tools.cfn_lint(bad)


TRUST = _fenced("json", "sts:AssumeRoleWithWebIdentity")


def test_the_trust_policies_restrict_the_oidc_subject() -> None:
    assert len(TRUST) == 3
    for where, text in TRUST:
        condition = json.loads(text)["Statement"][0]["Condition"]
        assert set(condition) == {"StringEquals"}, where
        subjects = condition["StringEquals"]["token.actions.githubusercontent.com:sub"]
        assert all(
            s.startswith("repo:ORG/REPO:")
            for s in ([subjects] if isinstance(subjects, str) else subjects)
        )
        assert (
            condition["StringEquals"]["token.actions.githubusercontent.com:aud"]
            == "sts.amazonaws.com"
        )
