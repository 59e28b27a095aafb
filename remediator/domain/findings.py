"""The finding vocabulary shared by diagnosis, the planner, the renderers and
the docs: finding codes (stable, documented in docs/findings.md) with their
severity and title, the egress classes that mean "no way out", the endpoint
states that mean "gone", and the finding statuses grouped by what they mean.

Every such constant is defined here once; nothing else re-declares them.
"""

from __future__ import annotations

from typing import Final

from remediator.domain.plan import Egress, FindingStatus, Severity

# Finding codes.
PUBLIC_MIXED: Final = "public-subnets-mixed"
PUBLIC_ALL: Final = "public-subnets-all"
NAT_BROKEN: Final = "nat-route-broken"
ISOLATED_NO_ENDPOINT: Final = "isolated-no-endpoint"
ISOLATED_MIXED: Final = "isolated-subnets-mixed"
AZ_BELOW_MIN: Final = "az-count-below-minimum"
EGRESS_UNKNOWN: Final = "egress-unknown"
SUBNET_MISSING: Final = "subnet-not-found"
ENDPOINT_PRIVATE_DNS_OFF: Final = "lambda-endpoint-private-dns-off"
ENDPOINT_VPC_DNS_OFF: Final = "lambda-endpoint-vpc-dns-off"
ENDPOINT_SG_BLOCKS: Final = "lambda-endpoint-sg-blocks"
ENDPOINT_NOT_AVAILABLE: Final = "lambda-endpoint-not-available"
ALIAS_BROKEN: Final = "alias-config-broken"
LATEST_BROKEN_ALIAS_OK: Final = "latest-broken-alias-ok"
SG_EGRESS_BLOCKS: Final = "security-group-egress-blocks"
SG_EGRESS_VPC_ONLY: Final = "security-group-egress-vpc-only"
NACL_BLOCKS_EGRESS: Final = "nacl-blocks-egress"
NACL_BLOCKS_RETURN: Final = "nacl-blocks-return-traffic"
NAT_INSTANCE_SG_BLOCKS: Final = "nat-instance-sg-blocks"
IPV6_DUAL_STACK: Final = "ipv6-dual-stack-egress"

CODES: Final[dict[str, tuple[Severity, str]]] = {
    PUBLIC_MIXED: ("high", "Some subnets are public: calls leaving the VPC hang intermittently"),
    PUBLIC_ALL: ("critical", "All subnets are public: every call leaving the VPC hangs"),
    NAT_BROKEN: ("high", "The NAT path of some subnets is broken"),
    ISOLATED_NO_ENDPOINT: ("high", "Isolated subnets and no usable Lambda endpoint"),
    ISOLATED_MIXED: ("medium", "Some subnets have no default route while others do"),
    AZ_BELOW_MIN: ("low", "Fewer Availability Zones than the policy minimum"),
    EGRESS_UNKNOWN: ("info", "Egress goes through a target remediator does not judge"),
    SUBNET_MISSING: ("high", "A subnet in the VpcConfig does not exist"),
    ENDPOINT_PRIVATE_DNS_OFF: ("high", "The Lambda endpoint has private DNS off"),
    ENDPOINT_VPC_DNS_OFF: ("high", "The VPC's DNS attributes stop the endpoint's private DNS"),
    ENDPOINT_SG_BLOCKS: (
        "high",
        "The Lambda endpoint's security group blocks 443 from the function",
    ),
    ENDPOINT_NOT_AVAILABLE: ("high", "The Lambda endpoint is not available"),
    ALIAS_BROKEN: ("high", "An alias runs a version whose subnets have no egress"),
    LATEST_BROKEN_ALIAS_OK: ("medium", "$LATEST has no egress while an alias's version is fine"),
    SG_EGRESS_BLOCKS: ("high", "The function's security groups block egress TCP 443"),
    SG_EGRESS_VPC_ONLY: (
        "info",
        "Egress is limited to the VPC: only the Lambda endpoint is reachable",
    ),
    NACL_BLOCKS_EGRESS: ("high", "A network ACL on the path blocks outbound TCP 443"),
    NACL_BLOCKS_RETURN: ("high", "A network ACL on the path blocks the return traffic"),
    NAT_INSTANCE_SG_BLOCKS: (
        "high",
        "The NAT instance's security groups block the function's TCP 443",
    ),
    IPV6_DUAL_STACK: (
        "info",
        "IPv6 egress reaches IPv6 destinations only: the Lambda API still needs the IPv4 path",
    ),
}

# Codes about the subnets a function's $LATEST lists (fixed by moving the
# function or by routing its subnets), and about the VPC's Lambda endpoint.
SUBNET_CODES: Final = frozenset(
    {PUBLIC_MIXED, PUBLIC_ALL, NAT_BROKEN, ISOLATED_NO_ENDPOINT, ISOLATED_MIXED}
)
ENDPOINT_CODES: Final = frozenset(
    {ENDPOINT_NOT_AVAILABLE, ENDPOINT_PRIVATE_DNS_OFF, ENDPOINT_SG_BLOCKS, ENDPOINT_VPC_DNS_OFF}
)

# Codes about the filters on the path (security-group egress, network ACLs):
# the planner blocks them with the exact rule to add (remediator never edits a
# customer's security groups or NACLs), except egress deliberately limited to
# the VPC, which the Lambda endpoint path serves (``lambda-endpoint``).
# The notes (info: ``security-group-egress-vpc-only``, the IPv6 note) leave
# the function healthy.
FILTER_CODES: Final = frozenset(
    {SG_EGRESS_BLOCKS, NACL_BLOCKS_EGRESS, NACL_BLOCKS_RETURN, NAT_INSTANCE_SG_BLOCKS}
)
NOTE_CODES: Final = frozenset({SG_EGRESS_VPC_ONLY, IPV6_DUAL_STACK})

# Severities, most severe first (for sorting findings).
SEVERITY_ORDER: Final[dict[str, int]] = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}

# Egress classes from which an execution environment cannot leave the VPC.
NO_EGRESS: Final[frozenset[Egress]] = frozenset({"public", "nat-broken", "isolated"})

# VPC endpoint states (lower case) of an endpoint that is gone or going:
# such an endpoint neither serves nor counts as the VPC's endpoint.
DEAD_ENDPOINT_STATES: Final = frozenset({"deleted", "deleting", "failed", "rejected"})

# Finding statuses of a real problem in the world, whatever the plan does
# about it (everything but ``info``): what reports and ASFF count.
PROBLEM_STATUSES: Final[frozenset[FindingStatus]] = frozenset(
    {"open", "planned", "blocked", "deferred"}
)
# Problem statuses this plan does not resolve: they still need a person or
# another run (a ``planned`` finding is handled by the plan's changes).
UNRESOLVED_STATUSES: Final[frozenset[FindingStatus]] = PROBLEM_STATUSES - {"planned"}
