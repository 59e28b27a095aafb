"""Diagnosis: what is wrong with each function's egress, and why. Pure.

``diagnose(inventory, policy)`` classifies every subnet a function uses from
its effective route table (``egress``), judges the VPC's Lambda endpoint
(``endpoint``), judges the security-group egress and network ACLs on each
path (``filters``), combines them per VpcConfig (``verdict``), then turns the
verdicts into findings with stable codes and evidence chains (``findings``).
No clock, no network; all output sorted. The finding codes and their
severities live in ``remediator.domain.findings``; they are re-exported here.
"""

from __future__ import annotations

from remediator.diagnose.egress import IPV4_DEFAULT, IPV6_DEFAULT, RegionIndex
from remediator.diagnose.endpoint import EndpointVerdict, endpoint_allows, endpoint_verdict
from remediator.diagnose.findings import Diagnosis, diagnose, stable_id
from remediator.diagnose.verdict import ConfigVerdict, judge_config
from remediator.domain.findings import (
    ALIAS_BROKEN,
    AZ_BELOW_MIN,
    CODES,
    EGRESS_UNKNOWN,
    ENDPOINT_NOT_AVAILABLE,
    ENDPOINT_PRIVATE_DNS_OFF,
    ENDPOINT_SG_BLOCKS,
    ENDPOINT_VPC_DNS_OFF,
    ISOLATED_MIXED,
    ISOLATED_NO_ENDPOINT,
    LATEST_BROKEN_ALIAS_OK,
    NACL_BLOCKS_EGRESS,
    NACL_BLOCKS_RETURN,
    NAT_BROKEN,
    PUBLIC_ALL,
    PUBLIC_MIXED,
    SG_EGRESS_BLOCKS,
    SG_EGRESS_VPC_ONLY,
    SUBNET_MISSING,
)

__all__ = [
    "ALIAS_BROKEN",
    "AZ_BELOW_MIN",
    "CODES",
    "EGRESS_UNKNOWN",
    "ENDPOINT_NOT_AVAILABLE",
    "ENDPOINT_PRIVATE_DNS_OFF",
    "ENDPOINT_SG_BLOCKS",
    "ENDPOINT_VPC_DNS_OFF",
    "IPV4_DEFAULT",
    "IPV6_DEFAULT",
    "ISOLATED_MIXED",
    "ISOLATED_NO_ENDPOINT",
    "LATEST_BROKEN_ALIAS_OK",
    "NACL_BLOCKS_EGRESS",
    "NACL_BLOCKS_RETURN",
    "NAT_BROKEN",
    "PUBLIC_ALL",
    "PUBLIC_MIXED",
    "SG_EGRESS_BLOCKS",
    "SG_EGRESS_VPC_ONLY",
    "SUBNET_MISSING",
    "ConfigVerdict",
    "Diagnosis",
    "EndpointVerdict",
    "RegionIndex",
    "diagnose",
    "endpoint_allows",
    "endpoint_verdict",
    "judge_config",
    "stable_id",
]
