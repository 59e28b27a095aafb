"""``ec2.enable-endpoint-private-dns``: turn on private DNS on an existing
Lambda endpoint.

Plan side: the fingerprint hashes the endpoint's ``PrivateDnsEnabled``
(``private_dns_state``); ``before`` is that flag (off).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from remediator.aws.door import Aws
from remediator.changes.base import Handler, Kind, Live, Results
from remediator.domain.plan import ChangeBase, KindValues

NAME = "ec2.enable-endpoint-private-dns"


class EnableEndpointPrivateDnsBefore(KindValues):
    PrivateDnsEnabled: bool


class EnableEndpointPrivateDnsAfter(KindValues):
    PrivateDnsEnabled: Literal[True]


class EnableEndpointPrivateDnsChange(ChangeBase):
    """Private DNS turned on for an existing Lambda endpoint; undo restores ``before``."""

    kind: Literal["ec2.enable-endpoint-private-dns"]
    before: EnableEndpointPrivateDnsBefore
    after: EnableEndpointPrivateDnsAfter


def private_dns_state(endpoint_id: str, enabled: bool | None) -> dict[str, Any]:
    """The relevant state of an endpoint for its fingerprint (None: not found)."""
    return {"VpcEndpointId": endpoint_id, "PrivateDnsEnabled": enabled}


def restore(
    change: EnableEndpointPrivateDnsChange, state: Mapping[str, Any]
) -> EnableEndpointPrivateDnsBefore:
    return EnableEndpointPrivateDnsBefore(PrivateDnsEnabled=state["PrivateDnsEnabled"])


class EnableEndpointPrivateDns(Handler[EnableEndpointPrivateDnsChange]):
    kind = NAME

    def expected_after(self, change: EnableEndpointPrivateDnsChange) -> dict[str, Any] | None:
        return private_dns_state(change.target, True)

    def read(self, aws: Aws, change: EnableEndpointPrivateDnsChange, results: Results) -> Live:
        out = aws.call(
            "ec2", change.region, "describe_vpc_endpoints", VpcEndpointIds=[change.target]
        )
        eps = out.get("VpcEndpoints", [])
        enabled = bool(eps[0].get("PrivateDnsEnabled")) if eps else None
        return Live(private_dns_state(change.target, enabled))

    def apply(
        self, aws: Aws, change: EnableEndpointPrivateDnsChange, live: Live, results: Results
    ) -> dict[str, Any]:
        self._set(aws, change, True)
        return {}

    def undo(
        self, aws: Aws, change: EnableEndpointPrivateDnsChange, result: dict[str, Any]
    ) -> None:
        self._set(aws, change, change.before.PrivateDnsEnabled)

    def _set(self, aws: Aws, change: EnableEndpointPrivateDnsChange, enabled: bool) -> None:
        aws.call(
            "ec2",
            change.region,
            "modify_vpc_endpoint",
            VpcEndpointId=change.target,
            PrivateDnsEnabled=enabled,
        )


KIND = Kind(
    name=NAME,
    phase=2,
    summary="Turn on private DNS on an existing Lambda endpoint.",
    reversible=True,
    permissions=("ec2:ModifyVpcEndpoint", "ec2:DescribeVpcEndpoints"),
    change=EnableEndpointPrivateDnsChange,
    before=EnableEndpointPrivateDnsBefore,
    after=EnableEndpointPrivateDnsAfter,
    handler=EnableEndpointPrivateDns(),
    restore=restore,
)
