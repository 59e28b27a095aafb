"""Findings for AWS Security Hub, in the AWS Security Finding Format (ASFF).

One finding per affected function (healthy, exempt and non-VPC functions
give none), built from the plan alone: no clock, no AWS call, so the same
plan always gives the same bytes. ``CreatedAt``/``UpdatedAt`` are the plan's
``created_at``; the ``Id`` is stable per function (account, region, name), so
importing the findings of a later plan updates the same Security Hub finding
instead of adding one.

The output is a JSON array, ready for
``aws securityhub batch-import-findings --findings file://findings.json``
(at most 100 findings per call: split larger arrays).
"""

from __future__ import annotations

import json
from typing import Any

from remediator.domain.findings import PROBLEM_STATUSES, SEVERITY_ORDER
from remediator.domain.plan import Finding, FunctionSummary
from remediator.planfile.model import Plan

SCHEMA_VERSION = "2018-10-08"
FINDING_TYPE = "Software and Configuration Checks/AWS Security Best Practices"
SEVERITY_LABEL: dict[str, str] = {
    "critical": "CRITICAL",
    "high": "HIGH",
    "medium": "MEDIUM",
    "low": "LOW",
    "info": "INFORMATIONAL",
}
# ASFF field limits.
TITLE_MAX = 256
DESCRIPTION_MAX = 1024
RECOMMENDATION_MAX = 512


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def finding_id(plan: Plan, function: FunctionSummary) -> str:
    return f"remediator/{plan.account_id}/{function.region}/{function.name}/vpc-egress"


def product_arn(plan: Plan, region: str) -> str:
    return f"arn:{plan.partition}:securityhub:{region}:{plan.account_id}:product/{plan.account_id}/default"


def _problems(plan: Plan, function: FunctionSummary) -> list[Finding]:
    found = [
        f
        for f in plan.findings
        if f.region == function.region
        and f.function == function.name
        and f.status in PROBLEM_STATUSES
    ]
    return sorted(found, key=lambda f: (SEVERITY_ORDER[f.severity], f.code, f.qualifier, f.id))


def _recommendation(plan: Plan, problems: list[Finding]) -> str:
    reasons = {c.id: c.reason for c in plan.changes}
    parts: list[str] = []
    for f in problems:
        if f.status == "planned":
            parts += [reasons[c] for c in f.fixed_by if c in reasons]
        elif f.manual_step:
            parts.append(f.manual_step)
    parts = list(dict.fromkeys(parts))
    if not parts:
        return "List only subnets whose route table sends 0.0.0.0/0 to a working NAT gateway."
    planned = [f for f in problems if f.status == "planned"]
    prefix = f"Planned in remediator plan {plan.plan_id}: " if planned else ""
    return _clip(prefix + " ".join(parts), RECOMMENDATION_MAX)


def _finding(plan: Plan, function: FunctionSummary, problems: list[Finding]) -> dict[str, Any]:
    worst = problems[0]
    description = " ".join(
        f"[{f.severity}] {f.code} ({f.qualifier}, {f.status}): {f.detail}" for f in problems
    )
    changes = sorted({c for f in problems for c in f.fixed_by})
    details: dict[str, Any] = {"FunctionName": function.name}
    subnet_ids = [s.subnet_id for s in function.subnets]
    if subnet_ids or function.vpc_id:
        vpc: dict[str, Any] = {"SubnetIds": subnet_ids}
        if function.vpc_id:
            vpc["VpcId"] = function.vpc_id
        details["VpcConfig"] = vpc
    return {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": finding_id(plan, function),
        "ProductArn": product_arn(plan, function.region),
        "ProductName": "remediator",
        "CompanyName": "remediator",
        "GeneratorId": f"remediator/{worst.code}",
        "AwsAccountId": plan.account_id,
        "Region": function.region,
        "Types": [FINDING_TYPE],
        "CreatedAt": plan.created_at,
        "UpdatedAt": plan.created_at,
        "Severity": {"Label": SEVERITY_LABEL[worst.severity], "Original": worst.severity},
        "Title": _clip(f"{function.name}: {worst.title}", TITLE_MAX),
        "Description": _clip(description, DESCRIPTION_MAX),
        "Remediation": {"Recommendation": {"Text": _recommendation(plan, problems)}},
        "Resources": [
            {
                "Type": "AwsLambdaFunction",
                "Id": function.arn,
                "Partition": plan.partition,
                "Region": function.region,
                "Details": {"AwsLambdaFunction": details},
            }
        ],
        "Compliance": {"Status": "FAILED"},
        "RecordState": "ACTIVE",
        "ProductFields": {
            "remediator/plan_id": plan.plan_id,
            "remediator/codes": ",".join(dict.fromkeys(f.code for f in problems)),
            "remediator/finding_ids": ",".join(f.id for f in problems),
            "remediator/statuses": ",".join(sorted({f.status for f in problems})),
            "remediator/changes": ",".join(changes),
        },
    }


def findings(plan: Plan) -> list[dict[str, Any]]:
    """One ASFF finding per affected function, sorted by region and name."""
    out = []
    for function in sorted(plan.functions, key=lambda f: (f.region, f.name)):
        if function.status != "affected":
            continue
        problems = _problems(plan, function)
        if problems:
            out.append(_finding(plan, function, problems))
    return out


def render(plan: Plan) -> str:
    """The findings as a JSON array (two-space indent, sorted keys, trailing newline)."""
    return json.dumps(findings(plan), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
