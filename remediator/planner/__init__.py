"""The planner: ``build_plan(inventory, policy, now)`` -> ``Plan``. Pure.

For every open finding the planner tries the function's strategies in the
policy's order and keeps the first that fixes it (``strategies/``: one
module per strategy, each declaring the finding codes it fixes and
proposing changes or a blocked reason). Aliases on a broken version are
then moved to a new version published from the fixed ``$LATEST`` when the
code is identical. Whatever cannot be fixed safely is ``blocked`` with the
manual step. Changes shared by several functions (a route table, a VPC's
endpoint) are planned once (``builder``). ``build`` is the loop, ``order``
the apply order, ``cap`` the per-plan change cap.
"""

from __future__ import annotations

from remediator.planner.build import build_plan
from remediator.planner.strategies.keep_private import MAX_SUBNETS

__all__ = ["MAX_SUBNETS", "build_plan"]
