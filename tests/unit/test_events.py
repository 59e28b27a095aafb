"""domain.events: what an EventBridge event is about, from its names and ids only."""

from __future__ import annotations

import json
from typing import Any

import pytest

from remediator.domain import events as ev
from remediator.domain.errors import BadInput

ACCOUNT = "123456789012"


def _event(name: str, params: Any = None, response: Any = None, **top: Any) -> ev.Event:
    value = {
        "id": "e-1",
        "account": ACCOUNT,
        "region": "us-east-1",
        "detail-type": ev.DETAIL_TYPE,
        "source": "aws.ec2",
        "detail": {"eventName": name, "requestParameters": params, "responseElements": response},
        **top,
    }
    return ev.parse(json.dumps(value)).events[0]


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("api", "api"),
        ("api:live", "api"),
        ("123456789012:function:api", "api"),
        ("123456789012:function:api:3", "api"),
        ("arn:aws:lambda:us-east-1:123456789012:function:api", "api"),
        ("arn:aws:lambda:us-east-1:123456789012:function:api:$LATEST", "api"),
        ("arn:aws-cn:lambda:cn-north-1:123456789012:function:my_fn-2", "my_fn-2"),
        ("arn:aws:lambda:us-east-1:123456789012:layer:x", None),
        ("a/b", None),
        ("", None),
        (7, None),
        ("api\x1b[31m", None),
    ],
)
def test_function_name_from_any_form_cloudtrail_logs(value: Any, name: str | None) -> None:
    assert ev.function_name(value) == name


@pytest.mark.parametrize(
    "name",
    [
        "CreateFunction20150331",
        "UpdateFunctionConfiguration20150331v2",
        "PublishVersion20150331",
        "CreateAlias20150331",
        "UpdateAlias20150331",
    ],
)
def test_lambda_calls_match_by_prefix(name: str) -> None:
    found = ev.concern(_event(name, {"functionName": "api"}))
    assert found == ev.Concern(functions=("api",))


def test_create_function_name_from_the_response_when_the_request_has_none() -> None:
    found = ev.concern(_event("CreateFunction20150331", {}, {"functionName": "new-fn"}))
    assert found == ev.Concern(functions=("new-fn",))


RTB, NAT, SG, ACL, VPC = (
    "rtb-0a1b2c3d",
    "nat-0a1b2c3d4e5f60718",
    "sg-0a1b2c3d",
    "acl-0a1b2c3d",
    "vpc-0a1b2c3d",
)


@pytest.mark.parametrize(
    ("name", "params", "expected"),
    [
        ("CreateRoute", {"routeTableId": RTB, "natGatewayId": NAT}, ev.Concern(resources=(RTB,))),
        (
            "ReplaceRoute",
            {"routeTableId": RTB, "gatewayId": "igw-0a1b2c3d"},
            ev.Concern(resources=(RTB,)),
        ),
        ("DeleteRoute", {"routeTableId": RTB}, ev.Concern(resources=(RTB,))),
        (
            "AssociateRouteTable",
            {"routeTableId": RTB, "subnetId": "subnet-0a1b2c3d"},
            ev.Concern(resources=(RTB,)),
        ),
        (
            "ReplaceRouteTableAssociation",
            {"associationId": "rtbassoc-0a1b2c3d", "routeTableId": RTB},
            ev.Concern(resources=(RTB,)),
        ),
        (
            "DisassociateRouteTable",
            {"associationId": "rtbassoc-0a1b2c3d"},
            ev.Concern(region_wide=True),
        ),
        (
            "DeleteNatGateway",
            {"DeleteNatGatewayRequest": {"NatGatewayId": NAT}},
            ev.Concern(resources=(NAT,)),
        ),
        (
            "DetachInternetGateway",
            {"internetGatewayId": "igw-0a1b2c3d", "vpcId": VPC},
            ev.Concern(vpcs=(VPC,)),
        ),
        (
            "CreateVpcEndpoint",
            {"CreateVpcEndpointRequest": {"VpcId": VPC}},
            ev.Concern(vpcs=(VPC,)),
        ),
        (
            "DeleteVpcEndpoints",
            {
                "DeleteVpcEndpointsRequest": {
                    "VpcEndpointId": {"tag": 1, "content": "vpce-0a1b2c3d"}
                }
            },
            ev.Concern(resources=("vpce-0a1b2c3d",)),
        ),
        (
            "ModifyVpcAttribute",
            {"vpcId": VPC, "enableDnsHostnames": {"value": False}},
            ev.Concern(vpcs=(VPC,)),
        ),
        (
            "AuthorizeSecurityGroupEgress",
            {"groupId": SG, "ipPermissions": {}},
            ev.Concern(resources=(SG,)),
        ),
        ("RevokeSecurityGroupEgress", {"groupId": SG}, ev.Concern(resources=(SG,))),
        (
            "CreateNetworkAclEntry",
            {"networkAclId": ACL, "ruleNumber": 100},
            ev.Concern(resources=(ACL,)),
        ),
        ("ReplaceNetworkAclEntry", {"networkAclId": ACL}, ev.Concern(resources=(ACL,))),
        ("DeleteNetworkAclEntry", {"networkAclId": ACL}, ev.Concern(resources=(ACL,))),
        (
            "ReplaceNetworkAclAssociation",
            {"associationId": "aclassoc-0a1b2c3d", "networkAclId": ACL},
            ev.Concern(resources=(ACL,)),
        ),
    ],
)
def test_network_calls_map_to_their_vpc_or_the_resource_that_finds_it(
    name: str, params: dict[str, Any], expected: ev.Concern
) -> None:
    assert name in ev.NETWORK_EVENTS
    assert ev.concern(_event(name, params)) == expected


def test_every_network_event_is_in_the_table_above() -> None:
    assert len(ev.NETWORK_EVENTS) == 18


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (_event("RunInstances", {"vpcId": VPC}), "cannot change"),
        (
            _event("CreateRoute", {"routeTableId": RTB}, **{"detail-type": "x"}),
            "not an AWS API call",
        ),
    ],
)
def test_no_interest(event: ev.Event, reason: str) -> None:
    found = ev.concern(event)
    assert isinstance(found, ev.Ignored) and reason in found.reason


def test_a_failed_call_changed_nothing() -> None:
    event = ev.parse(
        json.dumps(
            {
                "id": "e",
                "account": ACCOUNT,
                "region": "us-east-1",
                "detail-type": ev.DETAIL_TYPE,
                "detail": {"eventName": "DeleteNatGateway", "errorCode": "Client.Unauthorized"},
            }
        )
    ).events[0]
    found = ev.concern(event)
    assert isinstance(found, ev.Ignored) and "failed (Client.Unauthorized)" in found.reason


def test_bursts_merge_into_one_concern() -> None:
    merged = ev.merge(
        [ev.Concern(functions=("b", "a")), ev.Concern(functions=("a",)), ev.Concern(vpcs=(VPC,))]
    )
    assert merged == ev.Concern(functions=("a", "b"), vpcs=(VPC,))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not JSON"),
        ("null", "not a JSON object"),
        ('{"Records": []}', "no Records"),
        ('{"Records": [{"body": "{}"}]}', "no valid messageId"),
        ('{"Records": [{"messageId": "m", "body": 3}]}', "no body"),
        (
            '{"id": "../x", "account": "123456789012", "region": "us-east-1", "detail-type": "x", "detail": {}}',
            "invalid id",
        ),
        (
            '{"id": "e", "account": "123456789012", "region": "Mars", "detail-type": "x", "detail": {}}',
            "invalid region",
        ),
        (
            '{"id": "e", "account": "123456789012", "region": "us-east-1", "detail-type": "x", "detail": []}',
            "not an object",
        ),
        ("[" * 100_000, "not JSON"),
    ],
)
def test_malformed_input_is_one_bad_input_line(text: str, message: str) -> None:
    with pytest.raises(BadInput, match=message) as caught:
        ev.parse(text)
    assert "\n" not in str(caught.value)


def test_clean_keeps_summaries_printable() -> None:
    assert ev.clean("Delete\x1b[31mNat\u202e" + "x" * 200) == ("Delete[31mNat" + "x" * 200)[:80]
