"""The planner's strategies, by the name the policy uses for them.

``SUBNET_STRATEGIES`` are the ones a policy lists (``Settings.strategies``)
and the planner tries in that order for a function's subnet findings;
``lambda-endpoint`` also runs alone for endpoint findings left open, and
``MOVE_ALIAS`` for each broken alias once ``$LATEST`` is settled.
"""

from __future__ import annotations

from remediator.domain.policy import Strategy as StrategyName
from remediator.planner.strategies import add_nat_route, keep_private, lambda_endpoint, move_alias
from remediator.planner.strategies.base import (
    Blocked,
    Context,
    Proposal,
    ProposedChange,
    Strategy,
)

SUBNET_STRATEGIES: dict[StrategyName, Strategy] = {
    "keep-private-subnets": keep_private.STRATEGY,
    "add-nat-route": add_nat_route.STRATEGY,
    "lambda-endpoint": lambda_endpoint.STRATEGY,
}
LAMBDA_ENDPOINT = lambda_endpoint.STRATEGY
MOVE_ALIAS = move_alias.STRATEGY

__all__ = [
    "LAMBDA_ENDPOINT",
    "MOVE_ALIAS",
    "SUBNET_STRATEGIES",
    "Blocked",
    "Context",
    "Proposal",
    "ProposedChange",
    "Strategy",
]
