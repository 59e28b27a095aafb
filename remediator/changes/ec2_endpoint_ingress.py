"""``ec2.authorize-endpoint-ingress``: allow TCP 443 from the functions'
security groups on an existing Lambda endpoint's group.

Plan side: the fingerprint hashes the group's ingress rules
(``ingress_state``). There is no ``before``: undo revokes exactly the rule
the change added.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from remediator.aws.discover import _rules
from remediator.aws.door import Aws
from remediator.changes.base import (
    Handler,
    Kind,
    Live,
    OwnWork,
    Results,
    authorize_443,
    ingress_443,
)
from remediator.domain.plan import ChangeBase, KindValues

NAME = "ec2.authorize-endpoint-ingress"


class AuthorizeEndpointIngressAfter(KindValues):
    IpProtocol: Literal["tcp"]
    FromPort: Literal[443]
    ToPort: Literal[443]
    SourceSecurityGroupIds: tuple[str, ...]


class AuthorizeEndpointIngressChange(ChangeBase):
    """TCP 443 from the functions' groups allowed on an endpoint's group; undo revokes that rule."""

    kind: Literal["ec2.authorize-endpoint-ingress"]
    before: None = None
    after: AuthorizeEndpointIngressAfter


def ingress_state(group_id: str, rules: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The relevant state of a group for its fingerprint: its ingress rules
    (``SecurityGroupRule`` in JSON form)."""
    return {"GroupId": group_id, "Ingress": [dict(r) for r in rules]}


def restore(change: AuthorizeEndpointIngressChange, state: Mapping[str, Any]) -> None:
    return None  # nothing to put back: undo revokes the rule it added


def _allowed(rules: Iterable[Mapping[str, Any]]) -> set[tuple[Any, ...]]:
    """What a group's ingress rules allow, one (protocol, ports, source) per
    source: AWS merges rules of the same protocol and ports into one, so two
    states are compared by what they allow, not by how AWS groups it."""
    return {
        (r["protocol"], r["from_port"], r["to_port"], source)
        for r in rules
        for source in [*r["cidrs"], *r["group_ids"]]
    }


def _tcp443_from(groups: Iterable[str]) -> set[tuple[Any, ...]]:
    return {("tcp", 443, 443, g) for g in groups}


class AuthorizeEndpointIngress(Handler[AuthorizeEndpointIngressChange]):
    kind = NAME

    def read(self, aws: Aws, change: AuthorizeEndpointIngressChange, results: Results) -> Live:
        out = aws.call("ec2", change.region, "describe_security_groups", GroupIds=[change.target])
        groups = out.get("SecurityGroups", [])
        rules = (
            [r.model_dump(mode="json") for r in _rules(groups[0].get("IpPermissions", []))]
            if groups
            else []
        )
        return Live(ingress_state(change.target, rules))

    def apply(
        self, aws: Aws, change: AuthorizeEndpointIngressChange, live: Live, results: Results
    ) -> dict[str, Any]:
        authorize_443(aws, change, change.target, change.after.SourceSecurityGroupIds)
        return {}

    def own_work(
        self, aws: Aws, change: AuthorizeEndpointIngressChange, live: Live
    ) -> OwnWork | None:
        # killed right after AuthorizeSecurityGroupIngress, before its done
        # line: the group allows exactly what it allowed at plan time plus
        # this change's sources; that is the whole change
        before = _allowed(change.fingerprint.state.get("Ingress", []))
        added = _tcp443_from(change.after.SourceSecurityGroupIds)
        if added - before and _allowed(live.state.get("Ingress", [])) == before | added:
            return OwnWork({}, complete=True)
        return None

    def undo(
        self, aws: Aws, change: AuthorizeEndpointIngressChange, result: dict[str, Any]
    ) -> None:
        aws.call(
            "ec2",
            change.region,
            "revoke_security_group_ingress",
            GroupId=change.target,
            IpPermissions=ingress_443(change.after.SourceSecurityGroupIds),
        )


KIND = Kind(
    name=NAME,
    phase=1,
    summary="Allow TCP 443 from the functions' security groups on an existing endpoint's group.",
    reversible=True,
    permissions=(
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:RevokeSecurityGroupIngress",
        "ec2:DescribeSecurityGroups",
    ),
    change=AuthorizeEndpointIngressChange,
    before=None,
    after=AuthorizeEndpointIngressAfter,
    handler=AuthorizeEndpointIngress(),
    restore=restore,
)
