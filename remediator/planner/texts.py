"""The canonical JSON texts of a plan's findings and function summaries, for
its id and digest (``canonical(x.model_dump(mode="json"))`` of each), with
what they share encoded once: thousands of summaries and findings hold the
same tuples of ``SubnetEgress`` (a verdict's subnets, a finding's evidence).

Pure; the memo is local to one call (keyed by object identity while the
objects are held by the caller's plan)."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from remediator.domain.canonical import canonical, canonical_with
from remediator.domain.plan import Finding, FunctionSummary, SubnetEgress


class _Texts:
    """Canonical texts of shared tuples of subnets, by identity."""

    def __init__(self) -> None:
        self._subnets: dict[int, tuple[SubnetEgress, str]] = {}
        self._tuples: dict[int, tuple[tuple[SubnetEgress, ...], str]] = {}

    def subnet(self, s: SubnetEgress) -> str:
        found = self._subnets.get(id(s))
        if found is None or found[0] is not s:
            found = self._subnets[id(s)] = (s, canonical(s.model_dump(mode="json")))
        return found[1]

    def subnets(self, items: tuple[SubnetEgress, ...]) -> str:
        found = self._tuples.get(id(items))
        if found is None or found[0] is not items:
            text = "[" + ",".join(self.subnet(s) for s in items) + "]"
            found = self._tuples[id(items)] = (items, text)
        return found[1]

    def of(self, model: BaseModel, key: str, items: tuple[SubnetEgress, ...]) -> str:
        """``canonical(model.model_dump(mode="json"))``, with ``key`` (a
        field holding ``items``, never left out of the dump) spliced in."""
        values = model.model_dump(mode="json", exclude={key})
        return canonical_with(values, key, self.subnets(items))


def finding_and_summary_texts(
    findings: Sequence[Finding], summaries: Sequence[FunctionSummary]
) -> tuple[list[str], list[str]]:
    """The canonical texts of ``findings`` and of ``summaries``, in order."""
    texts = _Texts()
    return (
        [texts.of(f, "evidence", f.evidence) for f in findings],
        [texts.of(s, "subnets", s.subnets) for s in summaries],
    )
