"""Tags read by the keys the policy matches on, on moto.

A region of more functions than one ``GetResources`` page holds (moto pages
``GetResources`` as AWS does) and a policy that matches on one or two tag
keys: discovery lists only the functions that carry those keys (one
key-only ``TagFilter`` per key), so the number of tag pages follows the
tagged functions, not the region, and the tags the policy sees are exactly
those of the unfiltered read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from remediator.aws import discover as discovery
from remediator.domain.policy import default_policy
from tests.moto_worlds import function_zip

REGION = "us-east-1"
FUNCTIONS = 230  # three unfiltered pages of 100


@pytest.fixture(scope="module")
def region() -> Iterator[dict[str, Any]]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
            env.delenv(name, raising=False)
        with mock_aws():
            env.setenv("AWS_DEFAULT_REGION", REGION)
            session = discovery.make_session()
            ec2 = session.client("ec2", region_name=REGION)
            vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
            subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
            group = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])[
                "SecurityGroups"
            ][0]["GroupId"]
            role = boto3.client("iam", region_name=REGION).create_role(
                RoleName="fn", AssumeRolePolicyDocument="{}"
            )["Role"]["Arn"]
            lam = session.client("lambda", region_name=REGION)
            tags: dict[str, dict[str, str]] = {}
            for i in range(FUNCTIONS):
                name = f"fn-{i:03d}"
                tags[name] = {"team": f"t{i % 7}"}  # every function has some tag
                if i % 10 == 0:
                    tags[name]["remediator:exempt"] = "true" if i % 20 == 0 else "no"
                if i % 25 == 0:
                    tags[name]["owner"] = ""
                if i % 50 == 7:  # deployed by CloudFormation, as AWS tags it
                    tags[name] |= {
                        "aws:cloudformation:stack-name": f"stack-{i}",
                        "aws:cloudformation:logical-id": "Fn",
                        "aws:cloudformation:stack-id": f"arn:aws:cloudformation:{REGION}:123456789012:stack/stack-{i}/x",
                    }
                lam.create_function(
                    FunctionName=name,
                    Runtime="python3.12",
                    Role=role,
                    Handler="h.h",
                    Code={"ZipFile": function_zip()},
                    VpcConfig={"SubnetIds": [subnet], "SecurityGroupIds": [group]},
                    Tags=tags[name],
                )
            yield {"session": session, "tags": tags}


def _seen(inventory: Any, keys: tuple[str, ...]) -> dict[str, dict[str, str]]:
    return {
        fn.name: {k: fn.tags[k] for k in keys if k in fn.tags}
        for fn in inventory.regions[0].functions
    }


@pytest.mark.parametrize(
    ("keys", "pages"),
    [
        (("remediator:exempt",), 1),  # 23 functions carry it: one page
        (("owner", "remediator:exempt"), 2),  # one listing per key
    ],
)
def test_tag_pages_follow_the_tagged_functions_and_the_policy_sees_the_same_tags(
    region: dict[str, Any], keys: tuple[str, ...], pages: int
) -> None:
    session = region["session"]
    filtered = discovery.discover(session, [REGION], need_tags=True, tag_keys=keys)
    unfiltered = discovery.discover(session, [REGION], need_tags=True)
    assert filtered.api_calls["resourcegroupstaggingapi:GetResources"] == pages
    assert unfiltered.api_calls["resourcegroupstaggingapi:GetResources"] == 3
    expected = {
        name: {k: v for k, v in tags.items() if k in keys} for name, tags in region["tags"].items()
    }
    assert _seen(filtered, keys) == expected
    assert _seen(unfiltered, keys) == expected


def test_the_built_in_policy_reads_its_one_key_and_exempts_the_same_functions(
    region: dict[str, Any],
) -> None:
    policy = default_policy()
    inventory = discovery.discover(
        region["session"], [REGION], need_tags=True, tag_keys=policy.tag_keys
    )
    assert inventory.api_calls["resourcegroupstaggingapi:GetResources"] == 1
    exempt = sorted(
        fn.name for fn in inventory.regions[0].functions if policy.settings_for(fn).exempt
    )
    assert exempt == [f"fn-{i:03d}" for i in range(0, FUNCTIONS, 20)]


@pytest.mark.parametrize(
    ("keys", "functions", "streams"),
    [
        ((), 5000, [()]),  # no key named: every tagged function
        (("a",), 100, [()]),  # one page either way: keep the unfiltered one
        (("a",), 101, [("a",)]),
        (("b", "a", "a"), 250, [("a",), ("b",)]),  # sorted, once each
        (("a", "b", "c"), 300, [()]),  # three listings are not fewer than three pages
        (("a", "b", "c"), 301, [("a",), ("b",), ("c",)]),
    ],
)
def test_tag_streams(keys: tuple[str, ...], functions: int, streams: list[tuple[str, ...]]) -> None:
    assert discovery.tag_streams(keys, functions) == streams


def test_owned_functions_are_read_by_the_stack_name_key_with_all_their_tags(
    region: dict[str, Any],
) -> None:
    from remediator.domain.owner import owner_of

    policy = default_policy()
    assert policy.read_tag_keys == ("aws:cloudformation:stack-name", "remediator:exempt")
    inventory = discovery.discover(
        region["session"], [REGION], need_tags=True, tag_keys=policy.read_tag_keys
    )
    assert inventory.api_calls["resourcegroupstaggingapi:GetResources"] == 2
    owners = {
        fn.name: owner_of(fn.tags, policy.iac)
        for fn in inventory.regions[0].functions
        if owner_of(fn.tags, policy.iac) is not None
    }
    assert sorted(owners) == [f"fn-{i:03d}" for i in range(7, FUNCTIONS, 50)]
    assert {(o.stack_name, o.logical_id) for o in owners.values()} == {
        (f"stack-{i}", "Fn") for i in range(7, FUNCTIONS, 50)
    }
