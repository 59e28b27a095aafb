"""What apply re-derives from a plan agrees with what the planner wrote, over
random worlds: every change is justified by the plan's findings
(``planner.justify``), and its risk is the one ``changes.risk`` derives from
its kind and the state of its target (so apply, which takes the higher of the
two, never raises the risk of an honest plan)."""

from __future__ import annotations

from hypothesis import given

from remediator.changes import registry
from remediator.changes.risk import derived_risk, effective_risk
from remediator.domain.inventory import Inventory
from remediator.domain.policy import Policy
from remediator.planner import build_plan
from remediator.planner.justify import justify
from tests.property.test_planner_props import PROPS, scenarios


def _shared(inv: Inventory, region: str, table_id: str) -> bool:
    """A route table is shared the way apply reads it live: the main table,
    or one explicitly associated with more than one subnet."""
    for r in inv.regions:
        if r.region != region:
            continue
        for rt in r.route_tables:
            if rt.route_table_id == table_id:
                return rt.main or len(set(rt.subnet_ids)) > 1
    raise AssertionError(f"{table_id} not in the inventory")


@PROPS
@given(scenarios())
def test_every_planned_change_is_justified_and_its_risk_is_derived(
    scenario: tuple[Inventory, Policy],
) -> None:
    inv, policy = scenario
    plan = build_plan(inv, policy, "2026-01-01T00:00:00Z")
    verdict = justify(plan)
    assert verdict.refused == []
    for change in plan.changes:
        shared = (
            _shared(inv, change.region, change.target)
            if change.kind == registry.PUT_NAT_ROUTE
            else None
        )
        assert derived_risk(change, shared_table=shared) == change.risk, change.id
        assert effective_risk(change, shared_table=shared) == change.risk
