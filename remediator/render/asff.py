"""Findings for AWS Security Hub, in the AWS Security Finding Format (ASFF).

One finding per affected function (healthy, exempt and non-VPC functions
give none), built from the plan alone: no clock, no AWS call, so the same
plan always gives the same bytes. ``CreatedAt``/``UpdatedAt`` are the plan's
``created_at``; the ``Id`` is stable per function (account, region, name), so
importing the findings of a later plan updates the same Security Hub finding
instead of adding one.

Given the plan before this one (``previous``), a function that had a
finding then and has none now gets its finding again, closed: same ``Id``,
``RecordState: ARCHIVED``, ``Workflow.Status: RESOLVED``,
``Compliance.Status: PASSED``, so Security Hub shows it fixed.

``BatchImportFindings`` takes at most 100 findings a call: ``batches`` cuts
the findings into files of at most ``BATCH_SIZE`` (``asff-0001.json``, …),
each a JSON array ready for
``aws securityhub batch-import-findings --findings file://asff-0001.json``.

Every value is valid by the Security Hub model: strings from AWS or the plan
file go through ``common.plain`` (one line, no control characters), required
strings are never blank (``NonEmptyString`` is ``.*\\S.*``), lengths are
within the documented limits and empty optional fields are left out.
"""

from __future__ import annotations

import json
from typing import Any

from remediator.domain.findings import PROBLEM_STATUSES, SEVERITY_ORDER
from remediator.domain.plan import Finding, FunctionSummary
from remediator.planfile.model import Plan
from remediator.render.common import plain

SCHEMA_VERSION = "2018-10-08"
FINDING_TYPE = "Software and Configuration Checks/AWS Security Best Practices"
SEVERITY_LABEL: dict[str, str] = {
    "critical": "CRITICAL",
    "high": "HIGH",
    "medium": "MEDIUM",
    "low": "LOW",
    "info": "INFORMATIONAL",
}
PARTITIONS = ("aws", "aws-cn", "aws-us-gov")
BATCH_SIZE = 100  # BatchImportFindings: at most 100 findings a request
# ASFF field limits (Security Hub user guide, "ASFF required/optional attributes").
ID_MAX = 512
TITLE_MAX = 256
DESCRIPTION_MAX = 1024
RECOMMENDATION_MAX = 512
PRODUCT_FIELD_MAX = 2048
NAME_MAX = 128
RESOURCE_ID_MAX = 512


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text(value: object, limit: int, default: str = "unknown") -> str:
    """One inert line within ``limit``, never blank."""
    text = _clip(plain(value).strip(), limit)
    return text if text.strip() else default


def finding_id(plan: Plan, function: FunctionSummary) -> str:
    return _text(
        f"remediator/{plan.account_id}/{function.region}/{function.name}/vpc-egress", ID_MAX
    )


def product_arn(plan: Plan, region: str) -> str:
    return _text(
        f"arn:{plan.partition}:securityhub:{region}:{plan.account_id}"
        f":product/{plan.account_id}/default",
        2048,
    )


def _problems(plan: Plan, function: FunctionSummary) -> list[Finding]:
    found = [
        f
        for f in plan.findings
        if f.region == function.region
        and f.function == function.name
        and f.status in PROBLEM_STATUSES
    ]
    return sorted(
        found, key=lambda f: (SEVERITY_ORDER.get(f.severity, 9), f.code, f.qualifier, f.id)
    )


def _recommendation(plan: Plan, problems: list[Finding]) -> str:
    reasons = {c.id: c.reason for c in plan.changes}
    parts: list[str] = []
    for f in problems:
        if f.status == "planned":
            parts += [reasons[c] for c in f.fixed_by if c in reasons]
        elif f.manual_step:
            parts.append(f.manual_step)
    parts = [p for p in dict.fromkeys(plain(p).strip() for p in parts) if p]
    if not parts:
        return "List only subnets whose route table sends 0.0.0.0/0 to a working NAT gateway."
    planned = [f for f in problems if f.status == "planned"]
    prefix = f"Planned in remediator plan {plain(plan.plan_id)}: " if planned else ""
    return _text(prefix + " ".join(parts), RECOMMENDATION_MAX)


def _product_fields(plan: Plan, problems: list[Finding]) -> dict[str, str]:
    """Only non-blank values: Security Hub refuses an empty one."""
    changes = sorted({c for f in problems for c in f.fixed_by})
    fields = {
        "remediator/plan_id": plan.plan_id,
        "remediator/codes": ",".join(dict.fromkeys(f.code for f in problems)),
        "remediator/finding_ids": ",".join(f.id for f in problems),
        "remediator/statuses": ",".join(sorted({f.status for f in problems})),
        "remediator/changes": ",".join(changes),
    }
    out = {}
    for key, value in fields.items():
        text = _clip(plain(value).strip(), PRODUCT_FIELD_MAX)
        if text:
            out[key] = text
    return out


def _finding(plan: Plan, function: FunctionSummary, problems: list[Finding]) -> dict[str, Any]:
    worst = problems[0]
    description = " ".join(
        f"[{f.severity}] {f.code} ({f.qualifier}, {f.status}): {f.detail}" for f in problems
    )
    details: dict[str, Any] = {"FunctionName": _text(function.name, NAME_MAX)}
    subnet_ids = [s for s in (plain(e.subnet_id).strip() for e in function.subnets) if s]
    if subnet_ids or function.vpc_id:
        vpc: dict[str, Any] = {"SubnetIds": subnet_ids}
        if function.vpc_id and plain(function.vpc_id).strip():
            vpc["VpcId"] = _text(function.vpc_id, NAME_MAX)
        details["VpcConfig"] = vpc
    label = SEVERITY_LABEL.get(worst.severity, "INFORMATIONAL")
    severity = {"Label": label, "Original": _text(worst.severity, NAME_MAX)}
    region = _text(function.region, NAME_MAX)
    resource: dict[str, Any] = {
        "Type": "AwsLambdaFunction",
        "Id": _text(function.arn, RESOURCE_ID_MAX),
        "Region": region,
        "Details": {"AwsLambdaFunction": details},
    }
    if plan.partition in PARTITIONS:  # an enum: left out rather than refused
        resource["Partition"] = plan.partition
    return {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": finding_id(plan, function),
        "ProductArn": product_arn(plan, region),
        "ProductName": "remediator",
        "CompanyName": "remediator",
        "GeneratorId": _text(f"remediator/{worst.code}", 512),
        "AwsAccountId": _text(plan.account_id, 12),
        "Region": region,
        "Types": [FINDING_TYPE],
        "CreatedAt": plan.created_at,
        "UpdatedAt": plan.created_at,
        "Severity": severity,
        "FindingProviderFields": {"Severity": dict(severity), "Types": [FINDING_TYPE]},
        "Title": _text(f"{function.name}: {worst.title}", TITLE_MAX),
        "Description": _text(description, DESCRIPTION_MAX),
        "Remediation": {"Recommendation": {"Text": _recommendation(plan, problems)}},
        "Resources": [resource],
        "Compliance": {"Status": "FAILED"},
        "RecordState": "ACTIVE",
        "ProductFields": _product_fields(plan, problems),
    }


def _active(plan: Plan) -> list[dict[str, Any]]:
    out = []
    for function in sorted(plan.functions, key=lambda f: (f.region, f.name)):
        if function.status != "affected":
            continue
        problems = _problems(plan, function)
        if problems:
            out.append(_finding(plan, function, problems))
    return out


def _resolved(old: dict[str, Any], plan: Plan) -> dict[str, Any]:
    """A finding of the previous plan, closed by this one."""
    closed = dict(old)
    closed["UpdatedAt"] = plan.created_at
    closed["RecordState"] = "ARCHIVED"
    closed["Workflow"] = {"Status": "RESOLVED"}
    closed["Compliance"] = {"Status": "PASSED"}
    fields = dict(old.get("ProductFields", {}))
    fields["remediator/plan_id"] = _text(plan.plan_id, PRODUCT_FIELD_MAX)
    fields["remediator/resolved_by"] = _text(plan.plan_id, PRODUCT_FIELD_MAX)
    closed["ProductFields"] = fields
    return closed


def findings(plan: Plan, previous: Plan | None = None) -> list[dict[str, Any]]:
    """One active ASFF finding per affected function, then (with
    ``previous``) one closed finding per function that had one in
    ``previous`` and has none now; each part sorted by region and name."""
    active = _active(plan)
    if previous is None or previous.account_id != plan.account_id:
        return active
    ids = {f["Id"] for f in active}
    return active + [_resolved(f, plan) for f in _active(previous) if f["Id"] not in ids]


def _dump(items: list[dict[str, Any]]) -> str:
    return json.dumps(items, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render(plan: Plan, previous: Plan | None = None) -> str:
    """All the findings as one JSON array (two-space indent, sorted keys,
    trailing newline): one ``BatchImportFindings`` call only when it holds
    at most ``BATCH_SIZE``; see ``batches``."""
    return _dump(findings(plan, previous))


def batch_name(index: int) -> str:
    """``asff-0001.json`` for the first batch."""
    return f"asff-{index:04d}.json"


def batches(plan: Plan, previous: Plan | None = None) -> list[tuple[str, str]]:
    """(file name, JSON array text) for each batch of at most ``BATCH_SIZE``
    findings, in order; one empty batch when there is no finding, so the
    folder always says what the run found."""
    items = findings(plan, previous)
    chunks = [items[i : i + BATCH_SIZE] for i in range(0, len(items), BATCH_SIZE)] or [[]]
    return [(batch_name(i), _dump(chunk)) for i, chunk in enumerate(chunks, start=1)]
