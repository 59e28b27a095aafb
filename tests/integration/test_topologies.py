"""Topology worlds end to end on moto: discover -> plan -> apply -> re-plan.

Each row of ``tests.topology_worlds.WORLDS`` is built through the AWS API,
planned the way ``remediate plan`` does (``discover.discover`` +
``planner.build_plan``), written to a plan file, read back and applied by the
real executor (``run_apply`` with ``make_verifier``, as ``remediate apply``
runs it, in-process against moto); then planned again. The row's oracle is
checked at every step: statuses and codes before, which functions the plan
touches (healthy ones: no change and an identical VpcConfig after apply), the
change kinds (or the blocked reason), facts read back from moto after apply,
and the statuses after the re-plan.

One moto mock for the module (reset between worlds) and one botocore session
(its service models are loaded once) keep the file fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from moto import mock_aws

from remediator import planfile, planner
from remediator.aws import discover, door
from remediator.changes import registry
from remediator.domain.outcomes import EXIT_OK
from remediator.domain.policy import Policy, default_policy, parse_policy
from remediator.planfile.model import Plan
from remediator.run.apply import ApplyOptions, run_apply
from remediator.run.verify import make_verifier
from tests.topology_worlds import (
    REGION,
    WORLDS,
    Builder,
    Dispatch,
    DualStack,
    LambdaEndpoint,
    Route,
    Subnets,
    Views,
    World,
    docs_table,
)

NOW = "2026-01-01T00:00:00Z"


@dataclass
class Env:
    """The module's moto mock, botocore session and response rewrites."""

    mock: Any
    session: boto3.session.Session
    dispatch: Dispatch
    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def fresh(self) -> Builder:
        """An empty account: moto reset, no rewrites."""
        self.mock.reset()
        self.dispatch.views = Views()
        return Builder(
            ec2=self.session.client("ec2"),
            lam=self.session.client("lambda"),
            iam=self.session.client("iam"),
            views=self.dispatch.views,
        )

    def factory(self, service: str, region: str) -> Any:
        client = self.session.client(service, region_name=region, config=door.executor_config())
        client.meta.events.register(
            "before-parameter-build.ec2.DescribeVpcEndpoints", _moto_endpoint_id_filter
        )
        return client

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def door(self) -> door.Aws:
        settings = door.Settings(
            clock=lambda: self.now, sleep=self.sleep, settle_timeout=60, poll_interval=1
        )
        return door.Aws(self.factory, settings=settings)

    def plan(self, policy: Policy, tmp: Path, name: str) -> tuple[Plan, Path]:
        inventory = discover.discover(
            self.session,
            [REGION],
            need_tags=policy.uses_tags,
            dns_for_all_vpcs=policy.may_create_endpoints,
        )
        path = tmp / name
        planfile.write_plan(planner.build_plan(inventory, policy, NOW), path)
        return planfile.read_plan(path), path


def _moto_endpoint_id_filter(params: dict[str, Any], **_: Any) -> None:
    """moto lacks DescribeVpcEndpoints' ``vpc-endpoint-id`` filter: use the ids parameter."""
    filters = params.get("Filters") or []
    ids = [v for f in filters if f.get("Name") == "vpc-endpoint-id" for v in f.get("Values", [])]
    if ids:
        params["Filters"] = [f for f in filters if f.get("Name") != "vpc-endpoint-id"]
        params["VpcEndpointIds"] = ids


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    core = botocore.session.get_session()
    dispatch = Dispatch()
    core.register("after-call.ec2", dispatch)
    core.register("after-call.lambda", dispatch)
    core.register(
        "provide-client-params.lambda.UpdateFunctionConfiguration", dispatch.before_update
    )
    mock = mock_aws()
    mock.start()
    try:
        yield Env(
            mock=mock,
            session=boto3.Session(botocore_session=core, region_name=REGION),
            dispatch=dispatch,
        )
    finally:
        mock.stop()


def _params() -> list[Any]:
    return [
        pytest.param(
            w,
            id=w.id,
            marks=[pytest.mark.xfail(strict=True, reason=w.xfail)] if w.xfail else [],
        )
        for w in WORLDS
    ]


def _statuses(plan: Plan) -> dict[str, str]:
    return {s.name: s.status for s in plan.functions}


def _codes(plan: Plan, function: str) -> set[str]:
    return {f.code for f in plan.findings if f.function == function}


def _vpc_config(b: Builder, function: str) -> dict[str, Any]:
    return dict(b.lam.get_function_configuration(FunctionName=function)["VpcConfig"])


def _paths(b: Builder, functions: list[str]) -> dict[str, Any]:
    """The routes of the tables the functions' subnets use (explicit, else
    their VPC's main table): what a healthy function's egress depends on."""
    subnets = {s for name in functions for s in _vpc_config(b, name)["SubnetIds"]}
    if not subnets:
        return {}
    tables = b.ec2.describe_route_tables()["RouteTables"]
    vpc_of = {s["SubnetId"]: s["VpcId"] for s in b.ec2.describe_subnets()["Subnets"]}
    used: dict[str, Any] = {}
    for subnet in sorted(subnets):
        explicit = [t for t in tables for a in t["Associations"] if a.get("SubnetId") == subnet]
        main = [
            t
            for t in tables
            if t["VpcId"] == vpc_of[subnet] and any(a.get("Main") for a in t["Associations"])
        ]
        table = (explicit or main)[0]
        used[table["RouteTableId"]] = sorted(map(str, table["Routes"]))
    return used


def _resolve(b: Builder, text: str) -> str:
    """``<name>`` in a row's text -> the id the builder gave that name."""
    for name in sorted(b.ids, key=len, reverse=True):
        text = text.replace(f"<{name}>", b.id(name))
    assert "<" not in text, text
    return text


def _check_fact(b: Builder, fact: Any) -> None:
    if isinstance(fact, Subnets):
        listed = set(_vpc_config(b, fact.function)["SubnetIds"])
        assert listed == {b.id(s) for s in fact.subnets}, fact
    elif isinstance(fact, Route):
        (table,) = b.ec2.describe_route_tables(RouteTableIds=[b.id(fact.table)])["RouteTables"]
        key = (
            "DestinationPrefixListId"
            if fact.destination.startswith("pl:")
            else "DestinationCidrBlock"
        )
        routes = [r for r in table["Routes"] if r.get(key) == fact.destination]
        targets = {
            r.get(k) for r in routes for k in ("GatewayId", "NatGatewayId", "NetworkInterfaceId")
        } - {None}
        expected = set() if fact.target is None else {b.id(fact.target)}
        assert targets == expected, (fact, routes)
        assert all(r["State"] == "active" for r in routes), routes
    elif isinstance(fact, LambdaEndpoint):
        endpoints = b.ec2.describe_vpc_endpoints(
            Filters=[{"Name": "vpc-id", "Values": [b.id(fact.vpc)]}]
        )["VpcEndpoints"]
        assert [
            e
            for e in endpoints
            if e["ServiceName"].endswith(".lambda") and e.get("PrivateDnsEnabled")
        ], endpoints
    elif isinstance(fact, DualStack):
        assert _vpc_config(b, fact.function).get("Ipv6AllowedForDualStack") is True
        sent = [
            u["VpcConfig"]
            for u in b.views.updates
            if str(u["FunctionName"]).endswith(fact.function) and "VpcConfig" in u
        ]
        assert all(v.get("Ipv6AllowedForDualStack", True) for v in sent), sent
    else:  # pragma: no cover
        raise AssertionError(fact)


@pytest.mark.parametrize("world", _params())
def test_topology(world: World, env: Env, tmp_path: Path) -> None:
    b = env.fresh()
    world.build(b)
    policy = parse_policy(world.policy) if world.policy else default_policy()

    # Before: statuses and codes, by the row's hand-written oracle.
    plan, path = env.plan(policy, tmp_path, "plan.json")
    statuses = _statuses(plan)
    for name, fn in world.functions.items():
        assert statuses[name] == fn.before, (name, statuses, [f.code for f in plan.findings])
        assert _codes(plan, name) == set(fn.codes), name
    high = [f for f in plan.findings if f.code == "egress-unknown" and f.severity != "info"]
    assert not high

    # The plan: change kinds (exactly), or the blocked reason; healthy and
    # untouched functions are not targeted.
    assert {c.kind for c in plan.changes} == set(world.kinds), [
        (c.kind, c.target) for c in plan.changes
    ]
    if not world.kinds:
        blocked = [f for f in plan.findings if f.status == "blocked"]
        if world.blocked or any(fn.before == "affected" for fn in world.functions.values()):
            assert blocked, [(f.code, f.status) for f in plan.findings]
            fragment = _resolve(b, world.blocked)
            assert any(fragment in (f.manual_step or "") for f in blocked), [
                f.manual_step for f in blocked
            ]
    targets = {c.target for c in plan.changes}
    for name, fn in world.functions.items():
        if not fn.touch:
            assert b.id(name) not in targets, name
    touched = {c.target for c in plan.changes if c.kind == registry.UPDATE_VPC_CONFIG}
    assert touched <= {b.id(n) for n, fn in world.functions.items() if fn.touch}
    untouched = {n: _vpc_config(b, n) for n, fn in world.functions.items() if not fn.touch}
    working = [n for n, fn in world.functions.items() if fn.before != "affected"]
    paths_before = _paths(b, working)

    # Apply with the real executor, verified the way `remediate apply` verifies.
    if plan.changes:
        outcome = run_apply(
            plan,
            path,
            env.door(),
            ApplyOptions(max_risk="high", now=lambda: NOW),
            make_verifier(env.session, None, policy),
        )
        assert outcome.exit_code == EXIT_OK, "\n".join(outcome.lines)
        assert "verification passed" in "\n".join(outcome.lines)

    # After: moto's state, untouched configs, statuses on a re-plan.
    assert {n: _vpc_config(b, n) for n in untouched} == untouched
    assert _paths(b, working) == paths_before
    for fact in world.post:
        _check_fact(b, fact)
    again, _ = env.plan(policy, tmp_path, "again.json")
    after = _statuses(again)
    for name, fn in world.functions.items():
        assert after[name] == (fn.after or fn.before), (name, [f.code for f in again.findings])
    if all((fn.after or fn.before) != "affected" for fn in world.functions.values()):
        assert again.changes == (), [(c.kind, c.target) for c in again.changes]


def test_docs_list_every_topology() -> None:
    """docs/findings.md's "Topologies tested" table is the rows' own table."""
    docs = (Path(__file__).parents[2] / "docs" / "findings.md").read_text()
    assert "## Topologies tested" in docs
    assert docs_table() in docs, (
        "regenerate the table: python -c 'from tests.topology_worlds import docs_table; print(docs_table())'"
    )
