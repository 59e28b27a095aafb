"""``lambda.update-vpc-config``: set a function's subnets (its security groups kept).

Plan side: the fingerprint hashes the function's subnets and groups, sorted
(``vpc_config_state``). ``before`` keeps AWS's order so rollback puts the
lists back exactly as they were.

A dual-stack function (``Ipv6AllowedForDualStack`` on) keeps the flag: it is
in ``before``, ``after`` and the fingerprint's state, and every
``UpdateFunctionConfiguration`` sends it, so a move never turns IPv6 off.
For every other function the key is absent (``None``, left out of the plan
JSON): their plan bytes are what they always were.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import Field

from remediator.changes.base import Handler, Kind, Live, Results, poll, subnets_of
from remediator.domain.door import Door
from remediator.domain.errors import ChangeFailed
from remediator.domain.plan import ChangeBase, KindValues

NAME = "lambda.update-vpc-config"
MAX_SUBNETS = 16
MAX_GROUPS = 5


class VpcConfigValues(KindValues):
    """A function's VPC configuration (Lambda's names)."""

    SubnetIds: tuple[str, ...]
    SecurityGroupIds: tuple[str, ...]
    Ipv6AllowedForDualStack: Literal[True] | None = Field(
        default=None, exclude_if=lambda v: v is None
    )
    """``True`` only for a dual-stack function (kept across the change); absent otherwise."""


class UpdateVpcConfigBefore(VpcConfigValues):
    """The function's configuration before the change, in AWS's order."""


class UpdateVpcConfigAfter(VpcConfigValues):
    """The configuration the change sets (sorted)."""


class UpdateVpcConfigChange(ChangeBase):
    """A function's new subnets (its security groups kept); undo restores ``before``."""

    kind: Literal["lambda.update-vpc-config"]
    before: UpdateVpcConfigBefore
    after: UpdateVpcConfigAfter


def vpc_config_state(
    subnet_ids: Iterable[str], group_ids: Iterable[str], dual_stack: bool | None = False
) -> dict[str, Any]:
    """The relevant state of a function for its fingerprint (AWS names);
    ``Ipv6AllowedForDualStack`` only when it is on."""
    state: dict[str, Any] = {"SubnetIds": sorted(subnet_ids), "SecurityGroupIds": sorted(group_ids)}
    if dual_stack:
        state["Ipv6AllowedForDualStack"] = True
    return state


def vpc_config_values(
    subnet_ids: Iterable[str], group_ids: Iterable[str], dual_stack: bool | None = False
) -> dict[str, Any]:
    """A ``before``/``after`` in the given order (the planner's input)."""
    values: dict[str, Any] = {"SubnetIds": list(subnet_ids), "SecurityGroupIds": list(group_ids)}
    if dual_stack:
        values["Ipv6AllowedForDualStack"] = True
    return values


def _state_of(values: VpcConfigValues) -> dict[str, Any]:
    return vpc_config_state(
        values.SubnetIds, values.SecurityGroupIds, values.Ipv6AllowedForDualStack
    )


def request_config(values: VpcConfigValues) -> dict[str, Any]:
    """The ``VpcConfig`` of an ``UpdateFunctionConfiguration`` setting ``values``
    (Lambda replaces the whole config, so the dual-stack flag is sent when on)."""
    return vpc_config_values(
        values.SubnetIds, values.SecurityGroupIds, values.Ipv6AllowedForDualStack
    )


def restore(change: UpdateVpcConfigChange, state: Mapping[str, Any]) -> UpdateVpcConfigBefore:
    """The configuration that puts the function back into ``state``: the
    plan's ``before`` when it names the same subnets, groups and dual-stack
    flag (it keeps AWS's order), else ``state``'s."""
    wanted = vpc_config_state(
        state["SubnetIds"], state["SecurityGroupIds"], state.get("Ipv6AllowedForDualStack")
    )
    planned = change.before
    if _state_of(planned) == wanted:
        return planned
    return UpdateVpcConfigBefore.model_validate(wanted)


class UpdateVpcConfig(Handler[UpdateVpcConfigChange]):
    kind = NAME

    def expected_after(self, change: UpdateVpcConfigChange) -> dict[str, Any] | None:
        return _state_of(change.after)

    def read(self, aws: Door, change: UpdateVpcConfigChange, results: Results) -> Live:
        cfg = aws.call(
            "lambda", change.region, "get_function_configuration", FunctionName=change.target
        )
        vpc = cfg.get("VpcConfig") or {}
        return Live(
            vpc_config_state(
                vpc.get("SubnetIds", []),
                vpc.get("SecurityGroupIds", []),
                bool(vpc.get("Ipv6AllowedForDualStack", False)),
            ),
            cfg.get("RevisionId"),
        )

    def check(
        self, aws: Door, change: UpdateVpcConfigChange, live: Live, results: Results
    ) -> list[str]:
        subnets = list(change.after.SubnetIds)
        groups = list(change.after.SecurityGroupIds)
        problems = []
        if not subnets:
            problems.append("the new VpcConfig has no subnet")
        if len(subnets) > MAX_SUBNETS:
            problems.append(f"{len(subnets)} subnets (Lambda allows {MAX_SUBNETS})")
        if len(groups) > MAX_GROUPS:
            problems.append(f"{len(groups)} security groups (Lambda allows {MAX_GROUPS})")
        found = subnets_of(aws, change.region, subnets)
        by_id = {s["SubnetId"]: s for s in found}
        missing = sorted(set(subnets) - set(by_id))
        if missing:
            problems.append(f"subnets not found: {', '.join(missing)}")
        vpcs = {s["VpcId"] for s in found}
        current = list(change.before.SubnetIds)
        if current:
            old_vpcs = {s["VpcId"] for s in subnets_of(aws, change.region, current)}
            if old_vpcs and vpcs and old_vpcs != vpcs:
                problems.append(
                    f"new subnets are in {', '.join(sorted(vpcs))}, the function is in {', '.join(sorted(old_vpcs))}"
                )
        if len(vpcs) > 1:
            problems.append(f"subnets span several VPCs: {', '.join(sorted(vpcs))}")
        for sid in sorted(set(subnets) - set(current)):
            if sid in by_id and int(by_id[sid].get("AvailableIpAddressCount", 0)) < 1:
                problems.append(f"{sid} has no free IP address")
        return problems

    def apply(
        self, aws: Door, change: UpdateVpcConfigChange, live: Live, results: Results
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "FunctionName": change.target,
            "VpcConfig": request_config(change.after),
        }
        if live.revision_id:
            params["RevisionId"] = live.revision_id
        out = aws.call("lambda", change.region, "update_function_configuration", **params)
        return {"RevisionId": out.get("RevisionId")}

    def settle(self, aws: Door, change: UpdateVpcConfigChange, result: dict[str, Any]) -> None:
        def checked() -> str | None:
            cfg = aws.call(
                "lambda", change.region, "get_function_configuration", FunctionName=change.target
            )
            status = str(cfg.get("LastUpdateStatus") or "Successful")
            if status == "Failed":
                reason = f"{cfg.get('LastUpdateStatusReasonCode', '')}: {cfg.get('LastUpdateStatusReason', '')}"
                raise ChangeFailed(f"{change.target} update failed: Failed ({reason}).")
            return status

        if checked() != "Successful":
            poll(aws, f"update of {change.target}", checked, ready=["Successful"], failed=[])

    def undo(self, aws: Door, change: UpdateVpcConfigChange, result: dict[str, Any]) -> None:
        aws.call(
            "lambda",
            change.region,
            "update_function_configuration",
            FunctionName=change.target,
            VpcConfig=request_config(change.before),
        )
        self.settle(aws, change, result)


KIND = Kind(
    name=NAME,
    phase=4,
    summary="Set a function's subnets (and keep its security groups).",
    reversible=True,
    permissions=(
        "lambda:UpdateFunctionConfiguration",
        "lambda:GetFunctionConfiguration",
        "ec2:DescribeSubnets",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeVpcs",
    ),
    change=UpdateVpcConfigChange,
    before=UpdateVpcConfigBefore,
    after=UpdateVpcConfigAfter,
    handler=UpdateVpcConfig(),
    restore=restore,
)
