"""The IAM policy for a KMS signing key (``iam-policy --signing-key``).

plan signs, apply verifies, auto does both (docs/apply.md); the grant is on
the key's ARN only, and every document still lints clean with parliament.
"""

from __future__ import annotations

import pytest

from remediator.domain.errors import BadInput
from remediator.render import iam
from tests.lint_tools import parliament

KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _key_statement(mode: str, **kw: object) -> dict[str, object]:
    doc = iam.policy_document(iam.PolicyOptions(mode=mode, signing_key=f"kms:{KEY}", **kw))  # type: ignore[arg-type]
    found = [s for s in doc["Statement"] if s["Sid"] == "SigningKey"]
    assert len(found) == 1
    assert parliament(doc) == []
    return found[0]


@pytest.mark.parametrize(
    ("mode", "has", "lacks"),
    [
        ("plan", {"kms:GenerateMac", "kms:Sign"}, {"kms:VerifyMac", "kms:Verify"}),
        ("apply", {"kms:VerifyMac", "kms:Verify"}, {"kms:GenerateMac", "kms:Sign"}),
        ("auto", {"kms:GenerateMac", "kms:Sign", "kms:VerifyMac", "kms:Verify"}, set()),
    ],
)
def test_each_mode_gets_what_it_does_with_the_key(
    mode: str, has: set[str], lacks: set[str]
) -> None:
    statement = _key_statement(mode)
    actions = set(statement["Action"])  # type: ignore[call-overload]
    assert has | {"kms:DescribeKey"} <= actions
    assert not actions & lacks
    assert statement["Resource"] in (KEY, [KEY])


def test_no_key_no_kms_statement() -> None:
    doc = iam.policy_document(iam.PolicyOptions(mode="auto"))
    assert not [s for s in doc["Statement"] if "kms" in str(s["Action"])]


@pytest.mark.parametrize(
    "key",
    [
        "kms:alias/remediator",  # an alias authorizes nothing in IAM
        "kms:1234abcd-12ab-34cd-56ef-1234567890ab",
        "file:/tmp/secret",
        "kms:arn:aws-cn:kms:cn-north-1:123456789012:key/abc",  # another partition
    ],
)
def test_a_key_that_is_not_a_key_arn_is_one_error(key: str) -> None:
    with pytest.raises(BadInput, match="is not a KMS key ARN"):
        iam.policy_document(iam.PolicyOptions(mode="plan", signing_key=key))


def test_the_network_owner_role_takes_no_signing_key() -> None:
    with pytest.raises(BadInput, match="takes no other option"):
        iam.policy_document(iam.PolicyOptions(mode="network-owner", signing_key=f"kms:{KEY}"))


def test_the_artifacts_prefix_gets_put_and_get_on_its_objects_only() -> None:
    doc = iam.policy_document(
        iam.PolicyOptions(mode="auto", artifacts="s3://ops-artifacts/remediator/")
    )
    (statement,) = [s for s in doc["Statement"] if s["Sid"] == "Artifacts"]
    assert set(statement["Action"]) == {"s3:GetObject", "s3:PutObject"}
    assert statement["Resource"] in (
        "arn:aws:s3:::ops-artifacts/remediator/*",
        ["arn:aws:s3:::ops-artifacts/remediator/*"],
    )
    assert parliament(doc) == []


@pytest.mark.parametrize(
    ("mode", "url", "message"),
    [
        ("plan", "s3://ops-artifacts/p", "belongs to --mode auto"),
        ("auto", "ops-artifacts/p", "is not an s3://bucket/prefix URL"),
        ("auto", "s3://ops-artifacts/p*", "would widen the grant"),
    ],
)
def test_a_bad_artifacts_prefix_is_one_error(mode: str, url: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        iam.policy_document(iam.PolicyOptions(mode=mode, artifacts=url))


def test_every_read_policy_can_read_stack_templates() -> None:
    doc = iam.policy_document(iam.PolicyOptions(mode="plan"))
    assert iam.is_covered("cloudformation:GetTemplate", doc)
