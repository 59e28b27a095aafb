"""``alias_reads_needed``: a function it skips can never get an alias finding.

Property over generated functions (``$LATEST`` and two published versions on
public, NAT-routed or isolated subnets or outside a VPC, aliases on any of
them): when the rule says the aliases are not needed, diagnosing the function
with all its aliases gives no ``alias-config-broken`` and no
``latest-broken-alias-ok``. And the rule is not trivially "yes": it skips the
healthy shapes (table below).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from remediator.diagnose import diagnose
from remediator.diagnose.alias_reads import alias_reads_needed
from remediator.domain.findings import ALIAS_BROKEN, LATEST_BROKEN_ALIAS_OK
from remediator.domain.inventory import Function
from tests import factories as f

WORLD = f.vpc_world("a", "ab", isolated_tables="main")
PLACES: dict[str, list[str] | None] = {
    "public": [f.pub("a", "a"), f.pub("a", "b")],
    "nat": [f.natsub("a", "a"), f.natsub("a", "b")],
    "isolated": [f.iso("a", "a")],
    "mixed": [f.pub("a", "a"), f.natsub("a", "b")],
    "none": None,
}
ALIAS_CODES = {ALIAS_BROKEN, LATEST_BROKEN_ALIAS_OK}


def _fn(latest: str, v1: str, v2: str, aliases: list[tuple[str, tuple[str, ...]]]) -> Function:
    return f.function(
        "fn",
        PLACES[latest],
        versions=[f.version("1", PLACES[v1], (f.fn_sg("a"),)), f.version("2", PLACES[v2])],
        aliases=[f.alias(f"a{i}", target, *extra) for i, (target, extra) in enumerate(aliases)],
    )


def _alias_codes(fn: Function) -> set[str]:
    world = WORLD.model_copy(update={"functions": (fn,)})
    found = diagnose(f.inventory(world), f.policy()).findings
    return {x.code for x in found} & ALIAS_CODES


places = st.sampled_from(sorted(PLACES))
targets = st.sampled_from(["1", "2", "$LATEST"])


@settings(max_examples=150, deadline=None)
@given(
    latest=places,
    v1=places,
    v2=places,
    aliases=st.lists(
        st.tuples(targets, st.lists(targets, max_size=1).map(tuple)), min_size=1, max_size=2
    ),
)
def test_a_skipped_function_has_no_alias_finding(
    latest: str, v1: str, v2: str, aliases: list[tuple[str, tuple[str, ...]]]
) -> None:
    fn = _fn(latest, v1, v2, aliases)
    if not alias_reads_needed(f.ACCOUNT, WORLD)(fn):
        assert _alias_codes(fn) == set()


def test_the_rule_skips_healthy_shapes_and_reads_broken_ones() -> None:
    needed = alias_reads_needed(f.ACCOUNT, WORLD)
    table = {
        ("nat", "nat", "nat"): False,
        ("nat", "nat", "none"): False,
        ("none", "public", "public"): False,  # $LATEST outside a VPC: never diagnosed
        ("nat", "public", "nat"): True,
        ("public", "nat", "nat"): True,
        ("mixed", "nat", "nat"): True,
        ("nat", "nat", "isolated"): True,  # no Lambda endpoint in the world
    }
    got = {shape: needed(_fn(*shape, [("1", ())])) for shape in table}
    assert got == table
