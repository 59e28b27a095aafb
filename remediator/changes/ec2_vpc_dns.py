"""``ec2.enable-vpc-dns``: turn on a VPC's DNS support and DNS hostnames.

Plan side: the fingerprint hashes both attributes; ``before`` is that state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from remediator.aws.door import Aws
from remediator.changes.base import Handler, Kind, Live, OwnWork, Results
from remediator.domain.errors import AwsCallFailed
from remediator.domain.plan import ChangeBase, KindValues

NAME = "ec2.enable-vpc-dns"


class VpcDnsValues(KindValues):
    EnableDnsSupport: bool
    EnableDnsHostnames: bool


class EnableVpcDnsBefore(VpcDnsValues):
    """The VPC's DNS attributes before the change."""


class EnableVpcDnsAfter(VpcDnsValues):
    """The DNS attributes the change sets (both on)."""


class EnableVpcDnsChange(ChangeBase):
    """A VPC's DNS support and DNS hostnames turned on; undo restores ``before``."""

    kind: Literal["ec2.enable-vpc-dns"]
    before: EnableVpcDnsBefore
    after: EnableVpcDnsAfter


def dns_state(support: bool, hostnames: bool) -> dict[str, Any]:
    """The relevant state of a VPC for its fingerprint."""
    return {"EnableDnsSupport": support, "EnableDnsHostnames": hostnames}


def restore(change: EnableVpcDnsChange, state: Mapping[str, Any]) -> EnableVpcDnsBefore:
    return EnableVpcDnsBefore.model_validate(
        dns_state(state["EnableDnsSupport"], state["EnableDnsHostnames"])
    )


def _order(values: Mapping[str, Any]) -> list[str]:
    # hostnames need support: turn support on first, and off last
    return (
        ["EnableDnsSupport", "EnableDnsHostnames"]
        if values["EnableDnsSupport"]
        else ["EnableDnsHostnames", "EnableDnsSupport"]
    )


class EnableVpcDns(Handler[EnableVpcDnsChange]):
    kind = NAME

    def expected_after(self, change: EnableVpcDnsChange) -> dict[str, Any] | None:
        return change.after.as_json()

    def read(self, aws: Aws, change: EnableVpcDnsChange, results: Results) -> Live:
        sup = aws.call(
            "ec2",
            change.region,
            "describe_vpc_attribute",
            VpcId=change.target,
            Attribute="enableDnsSupport",
        )
        host = aws.call(
            "ec2",
            change.region,
            "describe_vpc_attribute",
            VpcId=change.target,
            Attribute="enableDnsHostnames",
        )
        return Live(
            dns_state(
                bool(sup.get("EnableDnsSupport", {}).get("Value")),
                bool(host.get("EnableDnsHostnames", {}).get("Value")),
            )
        )

    def _set(
        self,
        aws: Aws,
        change: EnableVpcDnsChange,
        values: Mapping[str, Any],
        on_step: Callable[[dict[str, Any] | None], None] | None = None,
    ) -> None:
        """Set both attributes to ``values``, in the order DNS allows. A failed
        call takes the earlier one back. ``on_step`` hears what is set so far
        (``None``: taken back, nothing of it is in effect)."""
        order = _order(values)
        done: list[str] = []
        for key in order:
            try:
                self._modify(aws, change, key, bool(values[key]))
            except AwsCallFailed:
                for earlier in reversed(done):  # leave the VPC as it was
                    self._modify(aws, change, earlier, not bool(values[earlier]))
                if done and on_step is not None:
                    on_step(None)
                raise
            done.append(key)
            if on_step is not None and len(done) < len(order):
                # journaled before the next call: a kill between the two calls
                # leaves a record that part of the change is in effect
                on_step({"Set": list(done)})

    def _prefix_states(self, change: EnableVpcDnsChange) -> list[dict[str, Any]]:
        """The states the change leaves when only its first call(s) went
        through: some attributes as planned, the rest as they were."""
        before, after = change.before.as_json(), change.after.as_json()
        order = _order(after)
        states = []
        for n in range(1, len(order)):
            state = {k: before[k] for k in order}
            state.update({k: after[k] for k in order[:n]})
            if state not in (before, after):
                states.append(state)
        return states

    def _modify(self, aws: Aws, change: EnableVpcDnsChange, key: str, value: bool) -> None:
        aws.call(
            "ec2",
            change.region,
            "modify_vpc_attribute",
            VpcId=change.target,
            **{key: {"Value": value}},
        )

    def apply(
        self, aws: Aws, change: EnableVpcDnsChange, live: Live, results: Results
    ) -> dict[str, Any]:
        self._set(aws, change, change.after.as_json(), on_step=aws.progress)
        return {}

    def own_work(self, aws: Aws, change: EnableVpcDnsChange, live: Live) -> OwnWork | None:
        # killed after the first call went through, before its progress line:
        # support on and hostnames as they were is this change's half
        if live.state in self._prefix_states(change):
            return OwnWork({})
        return None

    def undo(self, aws: Aws, change: EnableVpcDnsChange, result: dict[str, Any]) -> None:
        self._set(aws, change, change.before.as_json())


KIND = Kind(
    name=NAME,
    phase=0,
    summary="Turn on the VPC's DNS support and DNS hostnames (needed by private DNS).",
    reversible=True,
    permissions=("ec2:ModifyVpcAttribute", "ec2:DescribeVpcAttribute"),
    change=EnableVpcDnsChange,
    before=EnableVpcDnsBefore,
    after=EnableVpcDnsAfter,
    handler=EnableVpcDns(),
    restore=restore,
)
