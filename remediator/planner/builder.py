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
from remediator.domain.owner import Owner
from remediator.domain.plan import BlastRadius, Fingerprint, Risk

# the kinds whose target is a function (or its alias): they carry its owner
_FUNCTION_KINDS = frozenset({kinds.UPDATE_VPC_CONFIG, kinds.MOVE_ALIAS})


def change_id(kind: str, region: str, target: str, key: str = "") -> str:
    """A change's id: stable, one per (kind, region, target), or per (kind,
    region, target, key) for a kind that makes several changes to one target
    (a route table's routes: ``key`` is the destination; the default route's
    change keeps the id it always had, without one)."""
    return stable_id("c-", kind, region, target, *((key,) if key else ()))


@dataclass
class _Builder:
    """Collects changes for one region, deduplicated by (kind, target).

    A change proposed again only widens its ``fixes`` and ``depends_on``;
    each typed change is built once, when ``changes`` is read after planning
    (a route table or endpoint shared by thousands of functions is proposed
    thousands of times)."""

    region: str
    index: RegionIndex
    _fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    _fixes: dict[str, set[str]] = field(default_factory=dict)
    _depends: dict[str, set[str]] = field(default_factory=dict)
    # function ARN -> its owner (docs/iac.md), for the changes that target it
    owners: dict[str, Owner] = field(default_factory=dict)

    @property
    def changes(self) -> dict[str, Change]:
        return {
            cid: kinds.build(
                {
                    **fields,
                    "depends_on": tuple(sorted(self._depends[cid])),
                    "fixes": tuple(sorted(self._fixes[cid])),
                }
            )
            for cid, fields in self._fields.items()
        }

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
        key: str = "",
    ) -> str:
        cid = change_id(kind, self.region, target, key)
        if cid in self._fields:
            self._fixes[cid].update(fixes)
            self._depends[cid].update(depends_on)
            return cid
        spec = kinds.spec(kind)
        self._fields[cid] = {
            "id": cid,
            "kind": kind,
            "region": self.region,
            "target": target,
            "before": before,
            "after": after,
            "risk": risk,
            "reversible": spec.reversible,
            "permissions": spec.permissions,
            "reason": reason,
            "blast_radius": blast or BlastRadius(),
            "fingerprint": fp,
        }
        owner = self._owner(kind, target)
        if owner is not None:
            self._fields[cid]["owner"] = owner
        self._fixes[cid] = set(fixes)
        self._depends[cid] = set(depends_on)
        return cid

    def _owner(self, kind: str, target: str) -> Owner | None:
        if kind not in _FUNCTION_KINDS or not self.owners:
            return None
        return self.owners.get(target) or self.owners.get(target.rsplit(":", 1)[0])

    def placed(self, cid: str) -> tuple[str, str, dict[str, Any]]:
        """The kind, target and ``after`` of a change placed here."""
        fields = self._fields[cid]
        return fields["kind"], fields["target"], dict(fields["after"])
