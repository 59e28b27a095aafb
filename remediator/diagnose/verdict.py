"""The verdict on one VpcConfig: its subnets' classes and the VPC's Lambda
endpoint, computed once per distinct config and region index. Pure."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from remediator.diagnose.egress import RegionIndex
from remediator.diagnose.endpoint import EndpointVerdict, endpoint_verdict
from remediator.diagnose.filters import FilterProblem, judge_filters
from remediator.diagnose.ipv6 import ipv6_note
from remediator.domain.findings import NOTE_CODES
from remediator.domain.inventory import VpcConfig
from remediator.domain.plan import SubnetEgress


@dataclass(frozen=True)
class ConfigVerdict:
    """The classification of one VpcConfig (``$LATEST`` or a version)."""

    subnets: tuple[SubnetEgress, ...]
    endpoint: EndpointVerdict
    vpc_id: str | None
    filters: tuple[FilterProblem, ...] = field(default=())
    """Security-group egress and network ACLs that block a path (``filters``)."""
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)
    """What diagnosis and the planner derive from this verdict alone (the
    text of its findings, the subnets a strategy keeps), by a key naming
    what it holds; kept as long as the verdict (one region index)."""

    def of(self, *classes: str) -> tuple[SubnetEgress, ...]:
        if len(classes) == 1:
            return self._by_class.get(classes[0], ())
        return tuple(s for s in self.subnets if s.egress in classes)

    @cached_property
    def _by_class(self) -> dict[str, tuple[SubnetEgress, ...]]:
        out: dict[str, list[SubnetEgress]] = {}
        for s in self.subnets:
            out.setdefault(s.egress, []).append(s)
        return {k: tuple(v) for k, v in out.items()}

    @cached_property
    def azs(self) -> tuple[str, ...]:
        return tuple(sorted({s.availability_zone for s in self.subnets if s.availability_zone}))

    @cached_property
    def broken(self) -> bool:
        """Some instance of this config cannot reach outside the VPC."""
        if self.of("public", "nat-broken"):
            return True
        if self.of("isolated") and (not self.endpoint.usable or self.of("nat")):
            return True
        if self.endpoint.dns_active and self.endpoint.problems:
            return True
        return any(p.code not in NOTE_CODES for p in self.filters)

    def filter_problem(self, code: str) -> FilterProblem | None:
        return next((p for p in self.filters if p.code == code), None)


def judge_config(index: RegionIndex, config: VpcConfig) -> ConfigVerdict:
    """The verdict on ``config``; computed once per distinct config and index
    (diagnosis and the planner ask for the same configs again)."""
    key = _fields_of(config.__dict__)  # equal configs: equal fields (a cheaper hash)
    verdict: ConfigVerdict | None = index.verdicts.get(key)
    if verdict is None:
        # The verdict reads the subnets in sorted order only, so configs that
        # list the same subnets in another order share it.
        same = (
            "sorted",
            *_fields_of({**config.__dict__, "subnet_ids": tuple(sorted(config.subnet_ids))}),
        )
        verdict = index.verdicts.get(same)
        if verdict is None:
            verdict = index.verdicts[same] = _judge_config(index, config)
        index.verdicts[key] = verdict
    return verdict


_fields_of = operator.itemgetter(*VpcConfig.model_fields)


def _judge_config(index: RegionIndex, config: VpcConfig) -> ConfigVerdict:
    subnets = tuple(index.classify(s) for s in sorted(config.subnet_ids))
    vpcs = sorted({s.vpc_id for s in subnets if s.vpc_id})
    vpc_id = vpcs[0] if vpcs else None
    endpoint = (
        endpoint_verdict(index, vpc_id, config) if vpc_id else EndpointVerdict(None, False, ())
    )
    filters = judge_filters(index, config, subnets, endpoint, vpc_id)
    note = ipv6_note(index, config, subnets)
    if note is not None:
        filters = tuple(sorted((*filters, note), key=lambda p: p.code))
    return ConfigVerdict(subnets, endpoint, vpc_id, filters)
