"""Which functions' aliases a diagnosis needs: the rule discovery asks before
it sends a per-function ``lambda:ListAliases``. Pure.

Alias findings (``findings._alias_findings``) exist only for a function in a
VPC when a published version's VpcConfig has no egress
(``alias-config-broken``) or when ``$LATEST``'s has none while an alias runs
another version (``latest-broken-alias-ok``). So a function whose ``$LATEST``
and every published VpcConfig are judged healthy (``ConfigVerdict.broken``
false, by the same ``judge_config`` the diagnosis uses) cannot get one, and
its aliases are not worth a call. Verdicts depend on the network only (never
on the other functions), so the rule can be asked as soon as the network has
been read, before any alias is.
"""

from __future__ import annotations

from collections.abc import Callable

from remediator.diagnose.egress import RegionIndex
from remediator.diagnose.verdict import judge_config
from remediator.domain.inventory import Function, RegionInventory


def alias_reads_needed(account_id: str, network: RegionInventory) -> Callable[[Function], bool]:
    """The test for one region: ``test(fn)`` is true when ``fn`` (with its
    published ``versions``, no aliases yet) could get an alias finding.

    ``network`` is the region as discovery read it (its functions are not
    looked at); ``account_id`` the account it was read from (a VPC another
    account owns hides its NAT gateways). One index per region: every config
    is judged once, however many functions share it."""
    index = RegionIndex(network, account_id)

    def needed(fn: Function) -> bool:
        if fn.vpc_config is None:
            return False  # not in a VPC: diagnosed "not-in-vpc", no alias finding
        configs = [fn.vpc_config, *(v.vpc_config for v in fn.versions)]
        return any(judge_config(index, c).broken for c in configs if c is not None)

    return needed
