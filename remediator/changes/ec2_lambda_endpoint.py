"""``ec2.create-lambda-endpoint``: an interface endpoint for the Lambda API
with private DNS, in the group an ``ec2.create-endpoint-security-group``
change of the same plan makes.

Plan side: the fingerprint hashes the VPC's live Lambda endpoints
(``endpoints_state``; none at plan time). There is no ``before``: undo
deletes the endpoint the change made.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from remediator.changes.base import (
    Handler,
    Kind,
    Live,
    OwnWork,
    Results,
    change_tags,
    client_token,
    has_tag,
    poll,
    subnets_of,
)
from remediator.domain.door import Door
from remediator.domain.errors import ChangeFailed
from remediator.domain.findings import DEAD_ENDPOINT_STATES
from remediator.domain.plan import ChangeBase, KindValues

NAME = "ec2.create-lambda-endpoint"


class CreateLambdaEndpointAfter(KindValues):
    ServiceName: str
    VpcEndpointType: Literal["Interface"]
    VpcId: str
    SubnetIds: tuple[str, ...]
    SecurityGroupFromChange: str
    """The id of the change whose result names the endpoint's group."""
    PrivateDnsEnabled: bool


class CreateLambdaEndpointChange(ChangeBase):
    """An interface endpoint for the Lambda API with private DNS; undo deletes it."""

    kind: Literal["ec2.create-lambda-endpoint"]
    before: None = None
    after: CreateLambdaEndpointAfter


def endpoints_state(vpc_id: str, endpoint_ids: Iterable[str]) -> dict[str, Any]:
    """The relevant state of the VPC for the fingerprint: its live Lambda endpoints."""
    return {"VpcId": vpc_id, "LambdaEndpoints": sorted(endpoint_ids)}


def restore(change: CreateLambdaEndpointChange, state: Mapping[str, Any]) -> None:
    return None  # nothing to put back: undo deletes the endpoint it made


class CreateLambdaEndpoint(Handler[CreateLambdaEndpointChange]):
    kind = NAME

    def _lambda_endpoints(
        self, aws: Door, change: CreateLambdaEndpointChange
    ) -> list[dict[str, Any]]:
        out = aws.call(
            "ec2",
            change.region,
            "describe_vpc_endpoints",
            Filters=[
                {"Name": "vpc-id", "Values": [change.target]},
                {"Name": "service-name", "Values": [change.after.ServiceName]},
            ],
        )
        return [
            e
            for e in out.get("VpcEndpoints", [])
            if str(e.get("State", "")).lower() not in DEAD_ENDPOINT_STATES
        ]

    def read(self, aws: Door, change: CreateLambdaEndpointChange, results: Results) -> Live:
        ids = [e["VpcEndpointId"] for e in self._lambda_endpoints(aws, change)]
        return Live(endpoints_state(change.target, ids))

    def check(
        self, aws: Door, change: CreateLambdaEndpointChange, live: Live, results: Results
    ) -> list[str]:
        problems = []
        existing = self._lambda_endpoints(aws, change)
        if any(e.get("PrivateDnsEnabled") for e in existing):
            problems.append(
                "a Lambda endpoint with private DNS already exists in the VPC (conflicting DNS domain)"
            )
        subnets = list(change.after.SubnetIds)
        found = subnets_of(aws, change.region, subnets)
        missing = sorted(set(subnets) - {s["SubnetId"] for s in found})
        if missing:
            problems.append(f"subnets not found: {', '.join(missing)}")
        azs = [s["AvailabilityZone"] for s in found]
        if len(azs) != len(set(azs)):
            problems.append("more than one subnet per AZ")
        return problems

    def apply(
        self, aws: Door, change: CreateLambdaEndpointChange, live: Live, results: Results
    ) -> dict[str, Any]:
        sg_from = change.after.SecurityGroupFromChange
        group_id = results.get(sg_from, {}).get("GroupId") if sg_from else None
        if sg_from and not group_id:
            raise ChangeFailed(f"the security group of change {sg_from} is not known")
        out = aws.call(
            "ec2",
            change.region,
            "create_vpc_endpoint",
            VpcEndpointType="Interface",
            VpcId=change.target,
            ServiceName=change.after.ServiceName,
            SubnetIds=list(change.after.SubnetIds),
            SecurityGroupIds=[group_id] if group_id else [],
            PrivateDnsEnabled=change.after.PrivateDnsEnabled,
            ClientToken=client_token(aws, change),
            TagSpecifications=[
                {"ResourceType": "vpc-endpoint", "Tags": change_tags(change, aws.plan_id)}
            ],
        )
        return {"VpcEndpointId": out["VpcEndpoint"]["VpcEndpointId"]}

    def _state(self, aws: Door, change: CreateLambdaEndpointChange, endpoint_id: str) -> str | None:
        out = aws.call(
            "ec2",
            change.region,
            "describe_vpc_endpoints",
            Filters=[{"Name": "vpc-endpoint-id", "Values": [endpoint_id]}],
        )
        eps = out.get("VpcEndpoints", [])
        return str(eps[0].get("State", "")).lower() if eps else None

    def settle(self, aws: Door, change: CreateLambdaEndpointChange, result: dict[str, Any]) -> None:
        eid = result["VpcEndpointId"]
        poll(
            aws,
            f"endpoint {eid}",
            lambda: self._state(aws, change, eid),
            ready=["available"],
            failed=["failed", "rejected", None],
        )

    def _own_endpoint(self, aws: Door, change: CreateLambdaEndpointChange) -> str | None:
        """The live endpoint this change made (its ``remediator:change-id`` tag)."""
        for e in self._lambda_endpoints(aws, change):
            if has_tag(e.get("Tags"), "remediator:change-id", change.id):
                return str(e["VpcEndpointId"])
        return None

    def own_work(self, aws: Door, change: CreateLambdaEndpointChange, live: Live) -> OwnWork | None:
        # killed right after CreateVpcEndpoint, before its done line: the
        # endpoint is the whole change; it is complete once it settles, unless
        # the VPC also has an endpoint the plan did not see (then it is taken
        # back, and the stale check reports the other one)
        eid = self._own_endpoint(aws, change)
        if eid is None:
            return None
        others = sorted(set(live.state.get("LambdaEndpoints", [])) - {eid})
        planned = sorted(change.fingerprint.state.get("LambdaEndpoints", []))
        return OwnWork({"VpcEndpointId": eid}, complete=others == planned)

    def undo(self, aws: Door, change: CreateLambdaEndpointChange, result: dict[str, Any]) -> None:
        eid = result.get("VpcEndpointId") or self._own_endpoint(aws, change)
        if not eid:
            return
        aws.call("ec2", change.region, "delete_vpc_endpoints", VpcEndpointIds=[eid])
        poll(
            aws,
            f"deletion of {eid}",
            lambda: self._state(aws, change, eid),
            ready=[None, "deleted"],
            failed=["failed"],
        )


KIND = Kind(
    name=NAME,
    phase=2,
    summary="Create an interface endpoint for the Lambda API with private DNS.",
    reversible=True,
    permissions=(
        "ec2:CreateVpcEndpoint",
        "ec2:DeleteVpcEndpoints",
        "ec2:DescribeVpcEndpoints",
        "ec2:DescribeSubnets",
        "ec2:CreateTags",
    ),
    change=CreateLambdaEndpointChange,
    before=None,
    after=CreateLambdaEndpointAfter,
    handler=CreateLambdaEndpoint(),
    restore=restore,
)
