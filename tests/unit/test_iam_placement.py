"""`remediate iam-policy --region R --account-id A`: the writes (and the lock
table) scoped to the Regions and the account the role works in."""

from __future__ import annotations

from typing import Any

import pytest

from remediator.domain.errors import BadInput
from remediator.render import iam
from tests.iam_eval import _listed, allowed

ACCOUNT = "111122223333"


@pytest.mark.parametrize(
    ("arn", "regions", "account", "expected"),
    [
        ("arn:aws:ec2:*:*:route-table/*", (), None, ["arn:aws:ec2:*:*:route-table/*"]),
        (
            "arn:aws:ec2:*:*:route-table/*",
            ("eu-west-1", "us-east-1"),
            ACCOUNT,
            [
                f"arn:aws:ec2:eu-west-1:{ACCOUNT}:route-table/*",
                f"arn:aws:ec2:us-east-1:{ACCOUNT}:route-table/*",
            ],
        ),
        (
            "arn:aws:lambda:*:*:function:*:*",
            (),
            ACCOUNT,
            [f"arn:aws:lambda:*:{ACCOUNT}:function:*:*"],
        ),
        # an ARN that names its own Region or account is left as it is
        (
            "arn:aws:dynamodb:us-east-1:999999999999:table/locks",
            ("eu-west-1",),
            ACCOUNT,
            ["arn:aws:dynamodb:us-east-1:999999999999:table/locks"],
        ),
        ("arn:aws:s3:::bucket/prefix/*", ("eu-west-1",), ACCOUNT, ["arn:aws:s3:::bucket/prefix/*"]),
    ],
)
def test_placed(
    arn: str, regions: tuple[str, ...], account: str | None, expected: list[str]
) -> None:
    assert iam.placed(arn, regions, account) == expected


def _document(**kw: Any) -> dict[str, Any]:
    return iam.policy_document(iam.PolicyOptions(**kw))


def test_every_scoped_write_names_the_regions_and_the_account() -> None:
    doc = _document(
        mode="apply",
        regions=("eu-west-1",),
        account_id=ACCOUNT,
        lock_table="locks",
        reachability=True,
    )
    scoped = [
        r
        for s in doc["Statement"]
        for r in _listed(s["Resource"])
        if r != "*" and not s["Sid"].startswith("Discover")
    ]
    assert scoped and all(f":eu-west-1:{ACCOUNT}:" in r for r in scoped), scoped
    assert f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/locks" in scoped


@pytest.mark.parametrize(
    ("region", "account", "allowed_"),
    [
        ("eu-west-1", ACCOUNT, True),
        ("us-east-1", ACCOUNT, True),
        ("us-west-2", ACCOUNT, False),  # another Region
        ("eu-west-1", "444455556666", False),  # another account
    ],
)
def test_a_write_outside_the_regions_or_the_account_is_refused(
    region: str, account: str, allowed_: bool
) -> None:
    doc = _document(mode="apply", regions=("eu-west-1", "us-east-1"), account_id=ACCOUNT)
    route_table = f"arn:aws:ec2:{region}:{account}:route-table/rtb-1"
    function = f"arn:aws:lambda:{region}:{account}:function:orders-api"
    assert allowed(doc, "ec2:ReplaceRoute", route_table) is allowed_
    assert allowed(doc, "lambda:UpdateFunctionConfiguration", function) is allowed_
    # reads stay on every Region: discovery lists before it knows where to act
    assert allowed(doc, "lambda:ListFunctions", "*")


def test_without_them_the_policy_is_unchanged() -> None:
    assert _document(mode="apply") == _document(mode="apply", regions=(), account_id=None)


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"regions": ("eu-west-1*",)}, "--region"),
        ({"regions": ("EU-WEST-1",)}, "--region"),
        ({"regions": ("eu-west-1\x1b[2J",)}, "--region"),
        ({"account_id": "1234"}, "--account-id"),
        ({"account_id": "*"}, "--account-id"),
        (
            {
                "mode": "auto",
                "account_id": ACCOUNT,
                "role_arn": "arn:aws:iam::{account_id}:role/remediator",
            },
            "--role-arn",
        ),
    ],
)
def test_bad_placement_is_one_clear_error(kw: dict[str, Any], needle: str) -> None:
    with pytest.raises(BadInput) as error:
        _document(**{"mode": "apply", **kw})
    assert needle in str(error.value)
