"""discover -> Inventory -> diagnose/plan -> Plan: the read-only half of the flow.

Shared by ``remediate plan`` and ``remediate demo``. Reads AWS through
``remediator.aws.discover`` only; changes nothing. The account guard
(``allowed_account_ids``) runs inside discovery, before anything but the
caller identity is read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from remediator import planner
from remediator.aws import discover
from remediator.aws.owner_view import AssumedRoles, OwnerViews
from remediator.diagnose.alias_reads import alias_reads_needed
from remediator.domain.errors import BadInput
from remediator.domain.policy import Policy, check_network_role
from remediator.planfile.model import Plan


def run_plan(
    *,
    regions: Sequence[str],
    profile: str | None,
    endpoint_url: str | None,
    policy: Policy,
    functions: Sequence[str],
    now: Callable[[], str],
    progress: Callable[[str], None] | None = None,
    network_role_arn: str | None = None,
) -> Plan:
    """Discover ``regions`` (default: the profile's region), then diagnose and plan.

    ``now`` is read once, after discovery: the plan's ``created_at`` is when
    the account was last read. ``progress`` hears each discovery step.
    ``network_role_arn`` (else the policy's ``network_role_arn``): the role
    template (``{account}``) to read shared VPCs from their owners' accounts.
    """
    template = check_network_role(network_role_arn) or policy.network_role_arn
    session = discover.make_session(profile)
    wanted = list(regions)
    if not wanted:
        if not session.region_name:
            raise BadInput(
                "No region given.",
                hint="Pass --region, or set AWS_REGION or a region in your profile.",
            )
        wanted = [session.region_name]
    inventory = discover.discover(
        session,
        wanted,
        endpoint_url=endpoint_url,
        function_patterns=functions,
        need_tags=policy.reads_tags,
        tags_from=policy.tags_from,
        tag_keys=policy.read_tag_keys,
        versions_read=policy.versions_read,
        dns_for_all_vpcs=policy.may_create_endpoints,
        progress=progress,
        allowed_account_ids=policy.allowed_account_ids,
        owner_views=OwnerViews(AssumedRoles(), template=template) if template else None,
        needs_details=alias_reads_needed,
    )
    return planner.build_plan(inventory, policy, now())
