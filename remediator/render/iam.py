"""The least-privilege IAM policy for each way of running remediator.

Derived from the code, so it cannot drift from it:

* ``plan``: what discovery declares (``discover.READ_PERMISSIONS``).
* ``apply``: ``plan`` (apply verifies by discovering again) plus the union of
  the permissions every change kind declares (``registry.kinds()``), plus the
  actions IAM evaluates on top of some calls (``IMPLIED``), plus the lock
  table's item operations with ``--lock-table``.
* ``auto``: the runner of ``remediate auto``. With one account (no
  ``--role-arn``) it is ``apply`` plus ``ec2:DescribeRegions`` and whatever
  the options use (SNS topic, lock table). With ``--role-arn`` the runner
  only assumes roles: ``sts:AssumeRole`` on the role pattern,
  ``organizations:ListAccounts`` with ``--organization``, the topic, the lock
  table, ``ec2:DescribeRegions``; each member role gets the ``apply`` policy.
* ``--reachability`` (apply, and auto without ``--role-arn``): what
  ``--verify reachability`` calls (``aws.reachability.PERMISSIONS``).
* ``--network-role-arn`` (plan, apply, auto): ``sts:AssumeRole`` on the
  shared VPCs' owner role pattern, for whoever assumes it (the planned
  account with plan and apply, the runner with auto).
* ``network-owner``: the role in a shared VPC's owner account that the
  template names: only the EC2 describes the owner's view calls
  (``aws.owner_view.OWNER_READS``).

Every statement is scoped as narrowly as the options allow (the topic ARN,
the table, the role pattern); Lambda and EC2 reads and writes stay on
``*`` because their describe calls do not support resource-level permissions
and the functions to fix are not known before discovery.

tests/unit/test_iam.py records every operation a full plan, dry run, apply,
rollback and unattended run sends on moto and fails when one is not covered
by the policy of its mode.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from remediator.aws.discover import READ_PERMISSIONS
from remediator.aws.errors import IAM_PREFIX
from remediator.aws.owner_view import OWNER_READS
from remediator.aws.reachability import PERMISSIONS as REACHABILITY_ACTIONS
from remediator.changes import registry
from remediator.domain.errors import BadInput
from remediator.domain.policy import OWNER_FIELDS, check_network_role

MODES: tuple[str, ...] = ("plan", "apply", "auto", "network-owner")

POLICY_VERSION = "2012-10-17"

IMPLIED: dict[str, tuple[str, ...]] = {
    # Lambda checks the caller's view of the network it is given (Lambda
    # Developer Guide, "Configuring VPC access": user permissions).
    "lambda:UpdateFunctionConfiguration": (
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSubnets",
        "ec2:DescribeVpcs",
    ),
    # Tags on create (TagSpecifications) are authorized as ec2:CreateTags.
    "ec2:CreateSecurityGroup": ("ec2:CreateTags",),
    # Private DNS for an interface endpoint associates the VPC with a hosted
    # zone AWS manages; the Service Authorization Reference lists it as a
    # dependent action. Granted defensively (unconfirmed for AWS services).
    "ec2:CreateVpcEndpoint": ("ec2:CreateTags", "route53:AssociateVPCWithHostedZone"),
    "ec2:ModifyVpcEndpoint": ("route53:AssociateVPCWithHostedZone",),
}
"""Actions IAM evaluates on top of the API operation itself."""

REGION_READS: tuple[str, ...] = ("ec2:DescribeRegions",)
ORGANIZATION_READS: tuple[str, ...] = ("organizations:ListAccounts",)
LOCK_ACTIONS: tuple[str, ...] = (
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",  # the lease's heartbeat
)
NOTIFY_ACTIONS: tuple[str, ...] = ("sns:Publish",)
ASSUME_ACTIONS: tuple[str, ...] = ("sts:AssumeRole",)
IDENTITY_ACTIONS: tuple[str, ...] = ("sts:GetCallerIdentity",)


@dataclass(frozen=True)
class PolicyOptions:
    """What the policy is for: the mode, and the options of the run it covers."""

    mode: str = "plan"
    role_arn: str | None = None
    organization: bool = False
    notify_sns: str | None = None
    lock_table: str | None = None
    reachability: bool = False
    network_role_arn: str | None = None


def iam_action(service: str, operation: str) -> str:
    """``("lambda", "ListFunctions")`` -> ``"lambda:ListFunctions"``."""
    return f"{IAM_PREFIX.get(service, service)}:{operation}"


def with_implied(actions: Iterable[str]) -> set[str]:
    """``actions`` plus what IAM evaluates on top of them (``IMPLIED``)."""
    out = set(actions)
    for action in list(out):
        out.update(IMPLIED.get(action, ()))
    return out


def plan_actions() -> set[str]:
    return set(READ_PERMISSIONS)


def apply_actions() -> set[str]:
    declared = {p for kind in registry.kinds() for p in kind.permissions}
    return with_implied(plan_actions() | declared | set(IDENTITY_ACTIONS))


def _role_pattern(template: str) -> str:
    return template.replace("{account_id}", "*")


def _network_role_pattern(template: str) -> str:
    out = template
    for name in OWNER_FIELDS:
        out = out.replace(name, "*")
    return out


def _owner_document(opts: PolicyOptions) -> dict[str, Any]:
    """The shared VPC owner's role: read-only, only what the owner's view calls."""
    if (
        opts.role_arn
        or opts.organization
        or opts.notify_sns
        or opts.lock_table
        or opts.reachability
        or opts.network_role_arn
    ):
        raise BadInput(
            "--mode network-owner takes no other option: it is the role in a shared VPC's owner account.",
            hint="Print the participant's side with --mode plan/apply/auto --network-role-arn.",
        )
    return {
        "Version": POLICY_VERSION,
        "Statement": [_statement("ReadSharedVpcs", OWNER_READS)],
    }


def _table_arn(table: str) -> str:
    return table if table.startswith("arn:") else f"arn:aws:dynamodb:*:*:table/{table}"


def _statement(
    sid: str, actions: Iterable[str], resources: Iterable[str] = ("*",)
) -> dict[str, Any]:
    listed = sorted(set(actions))
    res = sorted(set(resources))
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": listed,
        "Resource": res[0] if len(res) == 1 else res,
    }


def _split_by_service(sid: str, actions: set[str]) -> list[dict[str, Any]]:
    by_service: dict[str, set[str]] = {}
    for action in actions:
        by_service.setdefault(action.split(":", 1)[0], set()).add(action)
    return [
        _statement(f"{sid}{service.capitalize()}", by_service[service])
        for service in sorted(by_service)
    ]


def policy_document(opts: PolicyOptions) -> dict[str, Any]:
    """The IAM policy document (deterministic: statements and actions sorted)."""
    if opts.mode not in MODES:
        raise BadInput(f"--mode {opts.mode!r} is not one of {', '.join(MODES)}.")
    if opts.mode == "network-owner":
        return _owner_document(opts)
    check_network_role(opts.network_role_arn)
    if opts.mode != "auto" and (opts.role_arn or opts.organization or opts.notify_sns):
        raise BadInput(
            "--role-arn, --organization and --notify-sns belong to --mode auto.",
            hint="Use --mode auto for the runner of `remediate auto`; member roles get --mode apply.",
        )
    if opts.organization and not opts.role_arn:
        raise BadInput(
            "--organization needs --role-arn: accounts are reached by assuming a role in each."
        )
    if opts.reachability and opts.mode == "plan":
        raise BadInput("--reachability belongs to --mode apply or --mode auto.")
    statements: list[dict[str, Any]] = []
    if opts.mode == "plan":
        statements += _split_by_service("Discover", plan_actions())
    elif opts.mode == "apply" or not opts.role_arn:
        reads = plan_actions() | set(IDENTITY_ACTIONS)
        writes = apply_actions() - reads
        statements += _split_by_service("Discover", reads)
        statements += _split_by_service("Apply", writes)
    if opts.mode == "auto":
        if opts.role_arn:
            statements.append(_statement("Identity", IDENTITY_ACTIONS))
            statements.append(
                _statement("AssumeMemberRoles", ASSUME_ACTIONS, [_role_pattern(opts.role_arn)])
            )
        statements.append(_statement("Regions", REGION_READS))
        if opts.organization:
            statements.append(_statement("OrganizationAccounts", ORGANIZATION_READS))
        if opts.notify_sns:
            statements.append(_statement("NotifySummary", NOTIFY_ACTIONS, [opts.notify_sns]))
    if opts.reachability and (opts.mode == "apply" or not opts.role_arn):
        # --verify reachability: billed Reachability Analyzer paths and analyses
        statements.append(_statement("VerifyReachability", REACHABILITY_ACTIONS))
    if opts.network_role_arn:
        statements.append(
            _statement(
                "AssumeNetworkOwnerRoles",
                ASSUME_ACTIONS,
                [_network_role_pattern(opts.network_role_arn)],
            )
        )
    if opts.lock_table:
        statements.append(_statement("ApplyLock", LOCK_ACTIONS, [_table_arn(opts.lock_table)]))
    return {"Version": POLICY_VERSION, "Statement": statements}


def render(opts: PolicyOptions) -> str:
    return json.dumps(policy_document(opts), indent=2) + "\n"


def allowed_actions(document: dict[str, Any]) -> list[str]:
    """Every action pattern an ``Allow`` statement of ``document`` grants."""
    out: list[str] = []
    for statement in document.get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        actions = statement.get("Action", [])
        out.extend([actions] if isinstance(actions, str) else actions)
    return out


def is_covered(action: str, document: dict[str, Any]) -> bool:
    """True when ``action`` matches an allowed action (IAM wildcards, case-insensitive)."""
    wanted = action.lower()
    return any(
        fnmatch.fnmatchcase(wanted, pattern.lower()) for pattern in allowed_actions(document)
    )


def uncovered(actions: Iterable[str], document: dict[str, Any]) -> list[str]:
    """The actions (with what they imply) that ``document`` does not allow, sorted."""
    return sorted(a for a in with_implied(actions) if not is_covered(a, document))
