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

Every statement is scoped as narrowly as AWS and the options allow (the
Service Authorization Reference lists, per action, the resource types and
condition keys IAM evaluates; ``SCOPES`` encodes what remediator uses):

* the topic ARN, the table, the role patterns;
* every Lambda write and per-function read on the ARN shape of functions
  (``arn:<partition>:lambda:*:*:function:*``); ``lambda:DeleteFunction``
  only on *qualified* ARNs (``function:*:*``): remediator deletes only a
  version it published, never a function;
* EC2 writes on the ARN shape of their resource type (route tables, VPCs,
  security groups, VPC endpoints);
* what remediator creates is tagged on create (``TagSpecifications`` with
  ``remediator:change-id``, ``change_tags``): the create is allowed only with
  that tag in the request (``aws:RequestTag``), ``ec2:CreateTags`` only as
  part of those creates (``ec2:CreateAction``), and the deletes only on
  resources carrying the tag (``aws:ResourceTag``); endpoints only for a
  ``*.lambda`` service (``ec2:VpceServiceName``).

Describe and list calls stay on ``*``: they support no resource-level
permissions, and the functions to fix are not known before discovery.
Region and account stay wildcards (one policy serves every region and, for
member roles, every account); ``--partition`` names the partition.

tests/unit/test_iam.py records every operation a full plan, dry run, apply,
rollback and unattended run sends on moto and fails when one is not covered
by the policy of its mode, or when a resource a call names (with its tags at
the time) is outside the scoped statements; tests/unit/test_iam_scope.py
fails when a declared action is called by no code.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from remediator.aws import artifact_store, cloudformation
from remediator.aws.discover import READ_PERMISSIONS
from remediator.aws.errors import IAM_PREFIX
from remediator.aws.kms import SIGN_ACTIONS, VERIFY_ACTIONS
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
    # Reachability Analyzer queries its backend (AWS Tiros) with the caller's
    # permissions (VPC Reachability Analyzer guide, "Required API permissions":
    # Tiros API calls); permission-only actions, no resource-level support.
    "ec2:StartNetworkInsightsAnalysis": (
        "tiros:CreateQuery",
        "tiros:GetQueryAnswer",
        "tiros:GetQueryExplanation",
    ),
}
"""Actions IAM evaluates on top of the API operation itself."""

OWN_TAG = "remediator:change-id"
"""The tag every resource remediator creates carries from its creation on
(``changes.base.change_tags``); deletes are allowed only where it is."""

LAMBDA_ENDPOINT_SERVICE = "*.lambda"
"""``ec2:VpceServiceName`` of the endpoints remediator creates and deletes
(``com.amazonaws.<region>.lambda``)."""


@dataclass(frozen=True, eq=False)
class Scope:
    """Where an action is allowed: ARN shapes (``{p}`` = partition) and an
    optional condition. Actions sharing a scope share one statement."""

    sid: str
    resources: tuple[str, ...]
    condition: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


_FUNCTIONS = Scope("LambdaFunctions", ("arn:{p}:lambda:*:*:function:*",))
_VERSIONS = Scope("LambdaPublishedVersionsOnly", ("arn:{p}:lambda:*:*:function:*:*",))
_ROUTE_TABLES = Scope("RouteTables", ("arn:{p}:ec2:*:*:route-table/*",))
_VPCS = Scope("Vpcs", ("arn:{p}:ec2:*:*:vpc/*",))
_GROUPS = Scope(
    "SecurityGroups", ("arn:{p}:ec2:*:*:security-group/*", "arn:{p}:ec2:*:*:security-group-rule/*")
)
_ENDPOINTS = Scope("VpcEndpoints", ("arn:{p}:ec2:*:*:vpc-endpoint/*",))
_ENDPOINT_PLACES = Scope(
    "EndpointPlacement",
    (
        "arn:{p}:ec2:*:*:vpc/*",
        "arn:{p}:ec2:*:*:subnet/*",
        "arn:{p}:ec2:*:*:security-group/*",
        "arn:{p}:ec2:*:*:route-table/*",
    ),
)
_TAGGED_REQUEST = {"Null": {f"aws:RequestTag/{OWN_TAG}": "false"}}
_NEW_GROUP = Scope(
    "CreateTaggedSecurityGroups", ("arn:{p}:ec2:*:*:security-group/*",), _TAGGED_REQUEST
)
_OWN_GROUP = Scope(
    "DeleteOwnSecurityGroups",
    ("arn:{p}:ec2:*:*:security-group/*",),
    {"Null": {f"aws:ResourceTag/{OWN_TAG}": "false"}},
)
_NEW_ENDPOINT = Scope(
    "CreateTaggedLambdaEndpoints",
    ("arn:{p}:ec2:*:*:vpc-endpoint/*",),
    {**_TAGGED_REQUEST, "StringLike": {"ec2:VpceServiceName": LAMBDA_ENDPOINT_SERVICE}},
)
_OWN_ENDPOINT = Scope(
    "DeleteOwnLambdaEndpoints",
    ("arn:{p}:ec2:*:*:vpc-endpoint/*",),
    {
        "Null": {f"aws:ResourceTag/{OWN_TAG}": "false"},
        "StringLike": {"ec2:VpceServiceName": LAMBDA_ENDPOINT_SERVICE},
    },
)
_TAG_ON_CREATE = Scope(
    "TagOnCreateOnly",
    ("arn:{p}:ec2:*:*:security-group/*", "arn:{p}:ec2:*:*:vpc-endpoint/*"),
    {"StringEquals": {"ec2:CreateAction": ["CreateSecurityGroup", "CreateVpcEndpoint"]}},
)
_INSIGHTS = Scope(
    "Reachability",
    (
        "arn:{p}:ec2:*:*:network-insights-path/*",
        "arn:{p}:ec2:*:*:network-insights-analysis/*",
        "arn:{p}:ec2:*:*:network-interface/*",
        "arn:{p}:ec2:*:*:internet-gateway/*",
    ),
)

SCOPES: dict[str, tuple[Scope, ...]] = {
    # Lambda: every function action takes a function, version or alias ARN
    "lambda:UpdateFunctionConfiguration": (_FUNCTIONS,),
    "lambda:PublishVersion": (_FUNCTIONS,),
    "lambda:UpdateAlias": (_FUNCTIONS,),
    "lambda:GetAlias": (_FUNCTIONS,),
    "lambda:GetFunctionConfiguration": (_FUNCTIONS,),
    "lambda:ListVersionsByFunction": (_FUNCTIONS,),
    "lambda:DeleteFunction": (_VERSIONS,),
    # EC2 writes, on their resource types
    "ec2:CreateRoute": (_ROUTE_TABLES,),
    "ec2:ReplaceRoute": (_ROUTE_TABLES,),
    "ec2:DeleteRoute": (_ROUTE_TABLES,),
    "ec2:ModifyVpcAttribute": (_VPCS,),
    "ec2:ModifyVpcEndpoint": (_ENDPOINTS,),
    "ec2:AuthorizeSecurityGroupIngress": (_GROUPS,),
    "ec2:RevokeSecurityGroupIngress": (_GROUPS,),
    "ec2:CreateSecurityGroup": (_VPCS, _NEW_GROUP),
    "ec2:DeleteSecurityGroup": (_OWN_GROUP,),
    "ec2:CreateVpcEndpoint": (_ENDPOINT_PLACES, _NEW_ENDPOINT),
    "ec2:DeleteVpcEndpoints": (_OWN_ENDPOINT,),
    "ec2:CreateTags": (_TAG_ON_CREATE,),
    # --verify reachability: what it creates and deletes
    "ec2:CreateNetworkInsightsPath": (_INSIGHTS,),
    "ec2:StartNetworkInsightsAnalysis": (_INSIGHTS,),
    "ec2:DeleteNetworkInsightsAnalysis": (_INSIGHTS,),
    "ec2:DeleteNetworkInsightsPath": (_INSIGHTS,),
}
"""Where each scoped action is allowed; every other action is on ``*``."""

PARTITION = re.compile(r"aws(-[a-z]+)*")

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
    partition: str = "aws"
    # the KMS key (``kms:ARN`` or the ARN) plans and approvals are signed with
    signing_key: str | None = None
    # ``--out-dir s3://bucket/prefix`` of auto and event: the artifacts' prefix
    artifacts: str | None = None
    # the Regions and the account the writes (and the lock table) are scoped
    # to; empty / None: any (``*``), the policy of a role deployed everywhere
    regions: tuple[str, ...] = ()
    account_id: str | None = None


REGION_NAME = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
ACCOUNT_ID = re.compile(r"\d{12}")


def placed(arn: str, regions: Sequence[str], account_id: str | None) -> list[str]:
    """``arn`` once per Region of ``regions`` with ``account_id`` in place of
    its wildcard Region and account fields (``arn:p:svc:*:*:…``); ``arn``
    itself when neither is given or the ARN names its own."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or (parts[3], parts[4]) != ("*", "*"):
        return [arn]
    account = account_id or "*"
    return [":".join([*parts[:3], region, account, parts[5]]) for region in regions or ("*",)]


def _check_placement(opts: PolicyOptions) -> None:
    for region in opts.regions:
        if not REGION_NAME.fullmatch(region):
            raise BadInput(
                f"--region {region!r} is not an AWS Region name.",
                hint="Pass a Region such as eu-west-1 (repeat --region for several).",
            )
    if opts.account_id is not None and not ACCOUNT_ID.fullmatch(opts.account_id):
        raise BadInput(
            f"--account-id {opts.account_id!r} is not a 12-digit AWS account id.",
            hint="Pass the id of the account the role is in, e.g. 111122223333.",
        )
    if opts.account_id is not None and opts.role_arn:
        raise BadInput(
            "--account-id scopes the writes of one account; with --role-arn the runner writes "
            "nothing itself.",
            hint="Give --account-id to each member role's policy (--mode apply) instead.",
        )


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
    # GetTemplate: iac-patch (and auto's patches) read owned functions' stacks
    return set(READ_PERMISSIONS) | set(cloudformation.PERMISSIONS)


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
        or opts.signing_key
        or opts.artifacts
    ):
        raise BadInput(
            "--mode network-owner takes no other option: it is the role in a shared VPC's owner account.",
            hint="Print the participant's side with --mode plan/apply/auto --network-role-arn.",
        )
    return {
        "Version": POLICY_VERSION,
        "Statement": [_statement("ReadSharedVpcs", OWNER_READS)],
    }


def _table_arn(table: str, partition: str) -> str:
    return table if table.startswith("arn:") else f"arn:{partition}:dynamodb:*:*:table/{table}"


def _statement(
    sid: str,
    actions: Iterable[str],
    resources: Iterable[str] = ("*",),
    condition: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    listed = sorted(set(actions))
    res = sorted(set(resources))
    out: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Action": listed,
        "Resource": res[0] if len(res) == 1 else res,
    }
    if condition:
        out["Condition"] = {
            op: dict(sorted(keys.items())) for op, keys in sorted(condition.items())
        }
    return out


def _scoped(
    prefix: str,
    actions: set[str],
    partition: str,
    regions: Sequence[str] = (),
    account_id: str | None = None,
) -> list[dict[str, Any]]:
    """``actions`` as statements: each scoped action (``SCOPES``) in the
    statement of each of its scopes (in ``regions`` of ``account_id`` when
    given), the others by service on ``*``."""
    by_scope: dict[Scope, set[str]] = {}
    for action in actions:
        for scope in SCOPES.get(action, ()):
            by_scope.setdefault(scope, set()).add(action)
    scoped = [
        _statement(
            f"{prefix}{scope.sid}",
            by_scope[scope],
            [
                arn
                for r in scope.resources
                for arn in placed(r.format(p=partition), regions, account_id)
            ],
            scope.condition,
        )
        for scope in sorted(by_scope, key=lambda s: s.sid)
    ]
    rest = {a for a in actions if a not in SCOPES}
    return _split_by_service(prefix, rest) + scoped


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
    if not PARTITION.fullmatch(opts.partition):
        raise BadInput(
            f"--partition {opts.partition!r} is not an AWS partition.",
            hint="Pass aws, aws-cn, aws-us-gov or another aws-* partition.",
        )
    _check_placement(opts)
    statements: list[dict[str, Any]] = []
    if opts.mode == "plan":
        statements += _split_by_service("Discover", plan_actions())
    elif opts.mode == "apply" or not opts.role_arn:
        reads = plan_actions() | set(IDENTITY_ACTIONS)
        writes = apply_actions() - reads
        statements += _split_by_service("Discover", reads)
        statements += _scoped("Apply", writes, opts.partition, opts.regions, opts.account_id)
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
        statements += _scoped(
            "Verify",
            with_implied(REACHABILITY_ACTIONS),
            opts.partition,
            opts.regions,
            opts.account_id,
        )
    if opts.network_role_arn:
        statements.append(
            _statement(
                "AssumeNetworkOwnerRoles",
                ASSUME_ACTIONS,
                [_network_role_pattern(opts.network_role_arn)],
            )
        )
    if opts.lock_table:
        statements.append(
            _statement(
                "ApplyLock",
                LOCK_ACTIONS,
                placed(_table_arn(opts.lock_table, opts.partition), opts.regions, opts.account_id),
            )
        )
    if opts.artifacts:
        statements.append(
            _statement("Artifacts", artifact_store.PERMISSIONS, [_artifacts_arn(opts)])
        )
    if opts.signing_key:
        statements.append(
            _statement("SigningKey", _signing_actions(opts.mode), [_kms_key_arn(opts)])
        )
    return {"Version": POLICY_VERSION, "Statement": statements}


_KMS_KEY_ARN = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+")


def _kms_key_arn(opts: PolicyOptions) -> str:
    """The key's ARN: IAM grants a key's use on the key ARN only (an alias
    ARN authorizes nothing), so an id or an alias is refused."""
    arn = (opts.signing_key or "").removeprefix("kms:")
    if not _KMS_KEY_ARN.fullmatch(arn) or arn.split(":")[1] != opts.partition:
        raise BadInput(
            f"--signing-key {opts.signing_key!r} is not a KMS key ARN in partition {opts.partition}.",
            hint="Pass kms:arn:aws:kms:REGION:ACCOUNT:key/KEY_ID (the key's ARN, not an alias); "
            "an HMAC secret in a file needs no IAM permission.",
        )
    return arn


def _artifacts_arn(opts: PolicyOptions) -> str:
    """The objects under ``s3://bucket/prefix`` (what ``--out-dir`` names)."""
    if opts.mode != "auto":
        raise BadInput("--artifacts belongs to --mode auto (the runner of auto and event).")
    try:
        bucket, prefix = artifact_store.parse_url(opts.artifacts or "")
    except BadInput:
        raise BadInput(
            f"--artifacts {opts.artifacts!r} is not an s3://bucket/prefix URL.",
            hint="Pass the --out-dir the runs write to, e.g. s3://ops-artifacts/remediator.",
        ) from None
    if any(c in prefix for c in "*?$"):
        raise BadInput(
            f"--artifacts {opts.artifacts!r}: a prefix with * ? or $ would widen the grant.",
            hint="Name the prefix the runs write to, without wildcards.",
        )
    path = f"{prefix}/*" if prefix else "*"
    return f"arn:{opts.partition}:s3:::{bucket}/{path}"


def _signing_actions(mode: str) -> set[str]:
    """plan signs, apply verifies, auto does both; both key types' actions,
    since the policy cannot see which kind of key it is."""
    sign = {a for actions in SIGN_ACTIONS.values() for a in actions}
    verify = {a for actions in VERIFY_ACTIONS.values() for a in actions}
    return {"plan": sign, "apply": verify}.get(mode, sign | verify)


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
