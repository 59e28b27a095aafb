"""Apply order: by phase (what adds a path before what removes one), then
target, then id; a change never precedes one it depends on."""

from __future__ import annotations

from collections.abc import Mapping
from graphlib import TopologicalSorter

from remediator.changes import registry as kinds
from remediator.changes.registry import Change


def order(changes: Mapping[str, Change]) -> list[Change]:
    """Sweeps over the changes in (phase, target, id) order; each sweep
    places every change whose dependencies are placed, including those
    placed earlier in the same sweep. Dependencies outside ``changes`` are
    ignored. Raises ``graphlib.CycleError`` on a cycle (the planner never
    builds one)."""
    pending = sorted(changes.values(), key=lambda c: (kinds.spec(c.kind).phase, c.target, c.id))
    deps = {c.id: [d for d in c.depends_on if d in changes] for c in pending}
    # Only changes with a dependency or a dependent enter the graph (most have
    # neither, and the sorter's bookkeeping would cost more than the sweep).
    graph = TopologicalSorter({cid: ds for cid, ds in deps.items() if ds})
    graph.prepare()
    awaited = {d for ds in deps.values() for d in ds}
    ready = {cid for cid, ds in deps.items() if not ds and cid not in awaited}
    ready.update(graph.get_ready())
    result: list[Change] = []
    while pending:
        rest: list[Change] = []
        for c in pending:
            if c.id in ready:
                result.append(c)
                if c.id in awaited:
                    graph.done(c.id)
                    ready.update(graph.get_ready())
            else:
                rest.append(c)
        pending = rest
    return result
