"""The one place the planner makes a ``Change``: ``_Builder.add``, which also
merges a change proposed twice (by two functions, or two strategies of one)
into one, with the union of its ``fixes`` and ``depends_on``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from remediator.changes import registry as kinds
from remediator.changes.registry import Change
from remediator.diagnose import RegionIndex, stable_id
from remediator.domain.plan import BlastRadius, Fingerprint, Risk


def change_id(kind: str, region: str, target: str) -> str:
    """A change's id: stable, one per (kind, region, target)."""
    return stable_id("c-", kind, region, target)


@dataclass
class _Builder:
    """Collects changes for one region, deduplicated by (kind, target)."""

    region: str
    index: RegionIndex
    changes: dict[str, Change] = field(default_factory=dict)

    def add(
        self,
        kind: str,
        target: str,
        *,
        before: dict[str, Any] | None,
        after: dict[str, Any],
        risk: Risk,
        reason: str,
        fp: Fingerprint,
        blast: BlastRadius | None = None,
        depends_on: Iterable[str] = (),
        fixes: Iterable[str] = (),
    ) -> str:
        cid = change_id(kind, self.region, target)
        spec = kinds.spec(kind)
        existing = self.changes.get(cid)
        if existing is not None:
            self.changes[cid] = existing.model_copy(
                update={
                    "fixes": tuple(sorted(set(existing.fixes) | set(fixes))),
                    "depends_on": tuple(sorted(set(existing.depends_on) | set(depends_on))),
                }
            )
            return cid
        self.changes[cid] = kinds.build(
            {
                "id": cid,
                "kind": kind,
                "region": self.region,
                "target": target,
                "before": before,
                "after": after,
                "depends_on": tuple(sorted(set(depends_on))),
                "risk": risk,
                "reversible": spec.reversible,
                "permissions": spec.permissions,
                "reason": reason,
                "blast_radius": blast or BlastRadius(),
                "fingerprint": fp,
                "fixes": tuple(sorted(set(fixes))),
            }
        )
        return cid
