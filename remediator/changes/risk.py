"""A change's risk, from its kind and the state of its target: the one rule.

(Not a kind module: it declares no ``KIND``, and reads the kinds' names from
their modules, since ``registry`` imports every module of this package.)

The planner's strategies give each change ``change_risk(kind, ...)``; apply
re-derives it (``derived_risk``) from the change's kind, what it writes and
the target's state (the fingerprint's, which the stale check holds the live
target to, and for a route table its live associations), and treats the
higher of that and the file's ``risk`` as the change's risk. So a risk
lowered in a plan file never lowers what ``--max-risk`` and approvals are
checked against, and the planner and apply cannot disagree.

* ``lambda.update-vpc-config``: medium when it adds a subnet the function
  is not in (new ENIs, a new AZ), low when it only drops subnets;
* ``ec2.put-nat-route``: high on a shared table (the main table, or one
  that serves more than one subnet), else medium;
* the alias move, the endpoint and its private DNS: high (they ship a
  version or redirect a whole VPC's Lambda API traffic); the VPC's DNS
  attributes: medium; a new endpoint group and its ingress rule: low.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remediator.changes import (
    ec2_endpoint_ingress,
    ec2_endpoint_private_dns,
    ec2_endpoint_sg,
    ec2_lambda_endpoint,
    ec2_nat_route,
    ec2_vpc_dns,
    lambda_alias,
    lambda_vpc_config,
)
from remediator.domain.plan import RISK_ORDER, ChangeBase, Risk

_FIXED: Mapping[str, Risk] = {
    lambda_alias.NAME: "high",
    ec2_lambda_endpoint.NAME: "high",
    ec2_endpoint_private_dns.NAME: "high",
    ec2_vpc_dns.NAME: "medium",
    ec2_endpoint_sg.NAME: "low",
    ec2_endpoint_ingress.NAME: "low",
}


def change_risk(kind: str, *, adds_subnets: bool = False, shared_table: bool = False) -> Risk:
    """The risk of a change of ``kind``. ``adds_subnets``: an update of a
    function's VpcConfig lists a subnet it is not in today; ``shared_table``:
    a route change's table is the main one or serves more than one subnet.
    An unknown kind is high."""
    if kind == lambda_vpc_config.NAME:
        return "medium" if adds_subnets else "low"
    if kind == ec2_nat_route.NAME:
        return "high" if shared_table else "medium"
    return _FIXED.get(kind, "high")


def adds_subnets(after: Mapping[str, Any], state: Mapping[str, Any]) -> bool:
    """Whether a VpcConfig ``after`` lists a subnet that ``state`` (the
    function's VpcConfig as its fingerprint holds it) does not."""
    now = state.get("SubnetIds")
    listed = set(now) if isinstance(now, list) else set()
    return bool(set(after.get("SubnetIds") or ()) - listed)


def derived_risk(change: ChangeBase, *, shared_table: bool | None = None) -> Risk:
    """The risk ``change_risk`` gives ``change`` on the state its fingerprint
    recorded. ``shared_table`` (route changes) comes from the live table;
    ``None`` (not read) takes the file's word as a floor only, through
    ``effective_risk``."""
    after = change.model_dump(mode="json")["after"] or {}
    return change_risk(
        change.kind,
        adds_subnets=adds_subnets(after, change.fingerprint.state),
        shared_table=bool(shared_table),
    )


def effective_risk(change: ChangeBase, *, shared_table: bool | None = None) -> Risk:
    """The higher of the file's ``risk`` and the derived one: what apply
    holds ``--max-risk`` and approvals to."""
    derived = derived_risk(change, shared_table=shared_table)
    return derived if RISK_ORDER[derived] > RISK_ORDER[change.risk] else change.risk
