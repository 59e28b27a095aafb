"""``ec2.create-endpoint-security-group``: a security group for a new Lambda
endpoint, allowing TCP 443 from the functions' groups.

Plan side: the fingerprint hashes whether a group of the planned name exists
in the VPC (``group_state``; it must not). There is no ``before``: undo
deletes the group the change made.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from remediator.aws.door import Aws
from remediator.changes.base import (
    Handler,
    Kind,
    Live,
    OwnWork,
    Results,
    authorize_443,
    change_tags,
    has_tag,
)
from remediator.domain.errors import AwsCallFailed
from remediator.domain.plan import ChangeBase, KindValues

NAME = "ec2.create-endpoint-security-group"


class CreateEndpointSgAfter(KindValues):
    GroupName: str
    Description: str
    VpcId: str
    IngressTcp443FromGroups: tuple[str, ...]


class CreateEndpointSgChange(ChangeBase):
    """A security group for a new Lambda endpoint (TCP 443 from the functions' groups); undo deletes it."""

    kind: Literal["ec2.create-endpoint-security-group"]
    before: None = None
    after: CreateEndpointSgAfter


def group_state(vpc_id: str, group_name: str, exists: bool) -> dict[str, Any]:
    """The relevant state of the VPC for the fingerprint: is the name taken?"""
    return {"VpcId": vpc_id, "GroupName": group_name, "Exists": exists}


def restore(change: CreateEndpointSgChange, state: Mapping[str, Any]) -> None:
    return None  # nothing to put back: undo deletes the group it made


class CreateEndpointSecurityGroup(Handler[CreateEndpointSgChange]):
    kind = NAME

    def read(self, aws: Aws, change: CreateEndpointSgChange, results: Results) -> Live:
        out = aws.call(
            "ec2",
            change.region,
            "describe_security_groups",
            Filters=[
                {"Name": "vpc-id", "Values": [change.target]},
                {"Name": "group-name", "Values": [change.after.GroupName]},
            ],
        )
        return Live(
            group_state(change.target, change.after.GroupName, bool(out.get("SecurityGroups")))
        )

    def apply(
        self, aws: Aws, change: CreateEndpointSgChange, live: Live, results: Results
    ) -> dict[str, Any]:
        try:
            out = aws.call(
                "ec2",
                change.region,
                "create_security_group",
                GroupName=change.after.GroupName,
                Description=change.after.Description,
                VpcId=change.target,
                TagSpecifications=[
                    {"ResourceType": "security-group", "Tags": change_tags(change, aws.plan_id)}
                ],
            )
            group_id = str(out["GroupId"])
        except AwsCallFailed as exc:
            # CreateSecurityGroup takes no ClientToken: an attempt whose answer
            # was lost (a read timeout after AWS made the group) is retried and
            # refused as a duplicate. The target had no such group when this
            # change began (the stale check), so a group of this name carrying
            # this change's tag is the one the first attempt made: go on with it.
            if exc.code != "InvalidGroup.Duplicate":
                raise
            own = self._own_group(aws, change)
            if own is None:
                raise
            group_id = own
        aws.progress({"GroupId": group_id})
        try:
            authorize_443(aws, change, group_id, change.after.IngressTcp443FromGroups)
        except AwsCallFailed:
            # do not leave half a change behind: the group is ours and unused
            aws.call("ec2", change.region, "delete_security_group", GroupId=group_id)
            aws.progress(None)
            raise
        return {"GroupId": group_id}

    def own_work(self, aws: Aws, change: CreateEndpointSgChange, live: Live) -> OwnWork | None:
        # killed right after CreateSecurityGroup, before its progress line: the
        # group (without its rule, or with it) is taken back and made afresh
        group_id = self._own_group(aws, change)
        return OwnWork({"GroupId": group_id}) if group_id else None

    def undo(self, aws: Aws, change: CreateEndpointSgChange, result: dict[str, Any]) -> None:
        group_id = result.get("GroupId") or self._own_group(aws, change)
        if group_id:
            aws.call("ec2", change.region, "delete_security_group", GroupId=group_id)

    def _own_group(self, aws: Aws, change: CreateEndpointSgChange) -> str | None:
        """The group this change made: its name in the VPC, carrying its
        ``remediator:change-id`` tag (a group of that name without the tag is
        someone else's)."""
        out = aws.call(
            "ec2",
            change.region,
            "describe_security_groups",
            Filters=[
                {"Name": "vpc-id", "Values": [change.target]},
                {"Name": "group-name", "Values": [change.after.GroupName]},
            ],
        )
        for group in out.get("SecurityGroups", []):
            if has_tag(group.get("Tags"), "remediator:change-id", change.id):
                return str(group["GroupId"])
        return None


KIND = Kind(
    name=NAME,
    phase=1,
    summary="Create a security group for the Lambda endpoint allowing TCP 443 from the functions' groups.",
    reversible=True,
    permissions=(
        "ec2:CreateSecurityGroup",
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:DeleteSecurityGroup",
        "ec2:DescribeSecurityGroups",
        "ec2:CreateTags",
    ),
    change=CreateEndpointSgChange,
    before=None,
    after=CreateEndpointSgAfter,
    handler=CreateEndpointSecurityGroup(),
    restore=restore,
)
