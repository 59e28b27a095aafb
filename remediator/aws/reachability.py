"""VPC Reachability Analyzer: an independent check that a function's network
interfaces reach the internet (``remediate apply --verify reachability``).

For each Hyperplane network interface of a function (Lambda's ENIs, found
by their description ``AWS Lambda VPC ENI-<function>…`` in the function's
subnets; Lambda shares one ENI between the functions with the same subnet
and security groups, so an ENI another function created is found by its
``lambda`` type, subnet and security group), one path is created (source:
the ENI; destination: the VPC's internet gateway, or a public IP when the
VPC has none; TCP 443), one analysis started and polled until it
``succeeded`` or ``failed``. Everything created is deleted again, whatever
happened. AWS bills every analysis.

Every call goes through the door (``Aws.call``); the poll uses the door's
injectable clock and sleep (``Settings.poll_interval``,
``Settings.settle_timeout``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from remediator.aws.door import Aws
from remediator.domain.errors import RemediatorError

log = structlog.get_logger(__name__)

PERMISSIONS: tuple[str, ...] = (
    "ec2:CreateNetworkInsightsPath",
    "ec2:DeleteNetworkInsightsAnalysis",
    "ec2:DeleteNetworkInsightsPath",
    "ec2:DescribeNetworkInsightsAnalyses",
    "ec2:DescribeNetworkInterfaces",
    "ec2:StartNetworkInsightsAnalysis",
)
"""The calls ``--verify reachability`` makes on top of the apply policy (what
IAM evaluates on top of them, the ``tiros:`` queries, is in
``render.iam.IMPLIED``)."""

PUBLIC_IP = "1.1.1.1"
"""The destination when the VPC has no internet gateway (any public address)."""
PORT = 443
DONE = ("succeeded", "failed")


@dataclass(frozen=True)
class Target:
    """One function to check: where its ENIs are and where the internet is."""

    function: str
    region: str
    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...] = ()
    internet_gateway_id: str = ""


@dataclass(frozen=True)
class PathResult:
    """The verdict for one ENI: ``found`` None when the analysis did not finish."""

    eni_id: str
    found: bool | None
    explanation: str = ""
    error: str = ""


def _enis(aws: Aws, target: Target) -> list[str]:
    """The function's Hyperplane ENIs in its subnets (sorted ids)."""
    subnets = {"Name": "subnet-id", "Values": list(target.subnet_ids)}
    own = [
        {"Name": "description", "Values": [f"AWS Lambda VPC ENI-{target.function}*"]},
        subnets,
    ]
    found = aws.call("ec2", target.region, "describe_network_interfaces", Filters=own)
    ids = {n["NetworkInterfaceId"] for n in found.get("NetworkInterfaces", [])}
    if not ids and target.security_group_ids:
        shared = [
            {"Name": "interface-type", "Values": ["lambda"]},
            {"Name": "group-id", "Values": list(target.security_group_ids)},
            subnets,
        ]
        found = aws.call("ec2", target.region, "describe_network_interfaces", Filters=shared)
        ids = {n["NetworkInterfaceId"] for n in found.get("NetworkInterfaces", [])}
    return sorted(ids)


def _explanation(analysis: dict[str, Any]) -> str:
    """The first explanation's code and the component it names."""
    for item in analysis.get("Explanations", []):
        code = str(item.get("ExplanationCode", ""))
        component = item.get("Component") or {}
        where = component.get("Id", "")
        return f"{code} at {where}" if where else code
    return str(analysis.get("StatusMessage", "")) or "no explanation given"


def _wait(aws: Aws, region: str, analysis_id: str) -> dict[str, Any] | None:
    """The finished analysis, or None when it is still running at the timeout."""
    s = aws.settings
    deadline = s.clock() + s.settle_timeout
    while True:
        answer = aws.call(
            "ec2",
            region,
            "describe_network_insights_analyses",
            NetworkInsightsAnalysisIds=[analysis_id],
        )
        analyses = answer.get("NetworkInsightsAnalyses", [])
        if analyses and analyses[0].get("Status") in DONE:
            return dict(analyses[0])
        if s.clock() >= deadline:
            return None
        s.sleep(s.poll_interval)


def _analyse(aws: Aws, target: Target, eni_id: str, created: list[tuple[str, str]]) -> PathResult:
    destination: dict[str, Any] = (
        {"Destination": target.internet_gateway_id}
        if target.internet_gateway_id
        else {"DestinationIp": PUBLIC_IP}
    )
    path = aws.call(
        "ec2",
        target.region,
        "create_network_insights_path",
        Source=eni_id,
        Protocol="tcp",
        DestinationPort=PORT,
        # one token for every retry of the door: a retried create returns the
        # path its first attempt made (the one cleaned up), never a second one
        ClientToken=str(uuid.uuid4()),
        **destination,
    )["NetworkInsightsPath"]
    created.append(("path", path["NetworkInsightsPathId"]))
    started = aws.call(
        "ec2",
        target.region,
        "start_network_insights_analysis",
        NetworkInsightsPathId=path["NetworkInsightsPathId"],
        ClientToken=str(uuid.uuid4()),
    )["NetworkInsightsAnalysis"]
    created.append(("analysis", started["NetworkInsightsAnalysisId"]))
    done = _wait(aws, target.region, started["NetworkInsightsAnalysisId"])
    if done is None:
        return PathResult(eni_id, None, error="the analysis did not finish in time")
    if done.get("Status") == "failed":
        return PathResult(eni_id, None, error=str(done.get("StatusMessage", "analysis failed")))
    if done.get("NetworkPathFound"):
        return PathResult(eni_id, True)
    return PathResult(eni_id, False, explanation=_explanation(done))


def _clean_up(aws: Aws, region: str, created: list[tuple[str, str]]) -> list[str]:
    """Delete the analyses, then the paths; the ids that could not be deleted."""
    left: list[str] = []
    for kind, rid in sorted(created, key=lambda c: c[0] != "analysis"):
        try:
            if kind == "analysis":
                aws.call(
                    "ec2", region, "delete_network_insights_analysis", NetworkInsightsAnalysisId=rid
                )
            else:
                aws.call("ec2", region, "delete_network_insights_path", NetworkInsightsPathId=rid)
        except RemediatorError as exc:
            log.warning("reachability_cleanup_failed", resource=rid, error=str(exc))
            left.append(rid)
    return left


def check(aws: Aws, target: Target) -> list[str]:
    """The problems of ``target``'s paths to the internet, one line each;
    empty when every ENI reaches it."""
    problems: list[str] = []
    try:
        enis = _enis(aws, target)
    except RemediatorError as exc:
        return [f"{target.function}: reachability check could not finish: {exc}"]
    if not enis:
        return [f"{target.function}: reachability check found no Lambda network interface"]
    for eni in enis:
        created: list[tuple[str, str]] = []
        try:
            result = _analyse(aws, target, eni, created)
        except RemediatorError as exc:
            result = PathResult(eni, None, error=str(exc))
        finally:
            left = _clean_up(aws, target.region, created)
        problems += _lines(target.function, result)
        if left:
            problems.append(
                f"{target.function}: could not delete Reachability Analyzer "
                f"resources {', '.join(left)}"
            )
    return problems


def _lines(function: str, result: PathResult) -> list[str]:
    if result.found:
        return []
    if result.found is None:
        return [
            f"{function}: reachability check of {result.eni_id} could not finish: {result.error}"
        ]
    return [f"{function}: no path from {result.eni_id} to the internet: {result.explanation}"]


def check_all(aws: Aws, targets: Sequence[Target]) -> list[str]:
    """``check`` each target in turn."""
    return [p for t in targets for p in check(aws, t)]
